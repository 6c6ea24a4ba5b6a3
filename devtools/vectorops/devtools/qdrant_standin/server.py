"""The aiohttp server: Qdrant's REST endpoints over QdrantState, in a thread of its own."""

from __future__ import annotations

import asyncio
import contextvars
import importlib.metadata
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from qdrant_client.http import models as m

from vectorops.devtools.qdrant_standin.collection import Collection, QdrantState
from vectorops.devtools.qdrant_standin.validation import (
    CREATE,
    UPDATE,
    Json,
    QdrantError,
    check_point_ids,
    collection_body,
    deserialize,
    load_json,
)

# The API level we emulate is the one of the qdrant-client we parse with.
VERSION = importlib.metadata.version("qdrant-client")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STARTED: contextvars.ContextVar[float] = contextvars.ContextVar("started", default=0.0)


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _ok(result: Any) -> web.Response:
    body = {"result": _dump(result), "status": "ok", "time": time.monotonic() - _STARTED.get()}
    return web.json_response(body)


def _error(status: int, message: str, elapsed: float = 0.0) -> web.Response:
    # The body of an error carries no `result` (Qdrant skips it when None).
    return web.json_response({"status": {"error": message}, "time": elapsed}, status=status)


async def _point_body(request: web.Request, model: type[BaseModel]) -> Any:
    parsed, _ = deserialize("points", load_json(await request.read()), model)
    return parsed


# What the local engine raises for a request it refuses.
ENGINE_ERRORS = (ValueError, AssertionError, LookupError, TypeError)


def _engine_errors(e: Exception) -> QdrantError:
    """The local engine's refusals are Qdrant's 400 `Wrong input: ...` (CollectionError::BadInput)."""
    text = str(e) or type(e).__name__
    return QdrantError(400, text if text.startswith("Wrong input:") else f"Wrong input: {text}")


class StandInQdrant:
    """Run with start()/stop(); `url` stays the same across restarts, state is kept.

    unknown_fields: dotted paths (`*` for any map key; the unnamed vector is `vectors.""`, so
      `vectors.*.hnsw_config.m` covers every vector) of fields this server does not know, as an older
      Qdrant would not: they are dropped from create and update bodies and so never reported.
    optimize_seconds: how long a collection reports `yellow` after an update that re-optimises it.
    """

    def __init__(
        self,
        port: int = 0,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        unknown_fields: Iterable[str] = (),
        optimize_seconds: float = 0.0,
    ) -> None:
        self.host, self.port, self.api_key = host, port, api_key
        self.unknown_fields = tuple(unknown_fields)
        self.state = QdrantState(optimize_seconds=optimize_seconds)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> StandInQdrant:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as e:  # surfaced to start()
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="qdrant-standin", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        """Stop listening (connections are refused); the data is kept for the next start()."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> StandInQdrant:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API --------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/", self.root)
        for probe in ("/healthz", "/livez", "/readyz"):
            r.add_get(probe, self.health)
        r.add_get("/cluster", self.cluster)
        r.add_get("/collections", self.list_collections)
        r.add_get("/aliases", self.list_aliases)
        r.add_post("/collections/aliases", self.change_aliases)
        r.add_get("/collections/{name}", self.get_collection)
        r.add_get("/collections/{name}/exists", self.exists)
        r.add_put("/collections/{name}", self.create_collection)
        r.add_patch("/collections/{name}", self.update_collection)
        r.add_delete("/collections/{name}", self.delete_collection)
        r.add_get("/collections/{name}/aliases", self.collection_aliases)
        r.add_put("/collections/{name}/index", self.create_index)
        r.add_delete("/collections/{name}/index/{field}", self.delete_index)
        r.add_put("/collections/{name}/points", self.upsert)
        r.add_post("/collections/{name}/points/delete", self.delete_points)
        r.add_post("/collections/{name}/points/query", self.query)
        r.add_post("/collections/{name}/points/count", self.count)
        r.add_post("/collections/{name}/points/scroll", self.scroll)
        r.add_post("/collections/{name}/points", self.retrieve)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.state.requests.append((request.method, request.path))
        if self.api_key is not None and request.path not in ("/healthz", "/livez", "/readyz"):
            given = request.headers.get("api-key") or request.headers.get("Authorization", "").removeprefix(
                "Bearer "
            )
            if given != self.api_key:
                return _error(401, "Must provide an API key or an Authorization bearer token")
        started = time.monotonic()
        _STARTED.set(started)
        try:
            # One event loop serves every request, so handlers never interleave mid-mutation:
            # each reads its body first and then changes state without awaiting.
            return await handler(request)
        except QdrantError as e:
            # Body errors are answered before any work (time 0.0 in Qdrant); others after it.
            return _error(e.status, str(e), 0.0 if e.body else time.monotonic() - started)
        except web.HTTPException:
            raise
        except Exception as e:  # what Qdrant would call a service error
            return _error(500, f"Service internal error: {type(e).__name__}: {e}")

    async def root(self, request: web.Request) -> web.Response:
        return web.json_response({"title": "qdrant - vector search engine", "version": VERSION})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="healthz check passed")

    async def cluster(self, request: web.Request) -> web.Response:
        return _ok({"status": "disabled"})

    async def list_collections(self, request: web.Request) -> web.Response:
        names = sorted(self.state.collections)
        return _ok({"collections": [{"name": n} for n in names]})

    async def exists(self, request: web.Request) -> web.Response:
        # UNSURE: whether Qdrant answers true for an alias name here; the stand-in answers for collections.
        return _ok({"exists": request.match_info["name"] in self.state.collections})

    async def get_collection(self, request: web.Request) -> web.Response:
        return _ok(self.state.get(request.match_info["name"]).info())

    async def create_collection(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = collection_body(CREATE, await request.read(), m.CreateCollection, self.unknown_fields)
        # toc/create_collection.rs: first the collection, then an alias of that name
        if name in self.state.collections:
            raise QdrantError(409, f"Wrong input: Collection `{name}` already exists!")
        if name in self.state.aliases:
            raise QdrantError(
                400,
                f"Wrong input: Can't create collection with name {name}. "
                "Alias with the same name already exists",
            )
        self.state.collections[name] = Collection(name, body, self.state)
        return _ok(True)

    async def update_collection(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = collection_body(UPDATE, raw, m.UpdateCollection, self.unknown_fields)
        self.state.get(request.match_info["name"]).update(body)
        return _ok(True)

    async def delete_collection(self, request: web.Request) -> web.Response:
        # toc/collection_meta_ops.rs `delete_collection`: the name is not resolved as an alias; an unknown
        # collection answers 200 with result false; the collection's aliases go with it.
        name = request.match_info["name"]
        if name not in self.state.collections:
            return _ok(False)
        del self.state.collections[name]
        self.state.engine.delete_collection(name)
        self.state.aliases = {a: c for a, c in self.state.aliases.items() if c != name}
        return _ok(True)

    async def list_aliases(self, request: web.Request) -> web.Response:
        return _ok({"aliases": self._aliases(None)})

    async def collection_aliases(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.state.get(name)  # UNSURE: the 404 for an unknown collection (and an alias name's answer)
        return _ok({"aliases": self._aliases(name)})

    def _aliases(self, collection: str | None) -> list[Json]:
        return [
            {"alias_name": a, "collection_name": c}
            for a, c in sorted(self.state.aliases.items())
            if collection is None or c == collection
        ]

    async def change_aliases(self, request: web.Request) -> web.Response:
        _, body = deserialize("aliases", load_json(await request.read()), m.ChangeAliasesOperation)
        self.state.change_aliases(body["actions"])
        return _ok(True)

    async def create_index(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _point_body(request, m.CreateFieldIndex)
        schema = req.field_schema
        if schema is None:
            raise QdrantError(400, "Wrong input: field_schema is required")
        if isinstance(schema, m.PayloadSchemaType):
            info = m.PayloadIndexInfo(data_type=schema, points=0)
        else:
            info = m.PayloadIndexInfo(data_type=m.PayloadSchemaType(schema.type), params=schema, points=0)
        collection.payload_schema[req.field_name] = info
        return _ok(m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED))

    async def delete_index(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        collection.payload_schema.pop(request.match_info["field"], None)
        return _ok(m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED))

    # -- points: delegated to the local engine --------------------------------------------------------
    async def upsert(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        data = load_json(await request.read())
        if isinstance(data, dict) and "batch" in data:
            batch = deserialize("points", data, m.PointsBatch)[0].batch
            check_point_ids(batch.ids)
            vectors = batch.vectors
            columns = list(vectors.values()) if isinstance(vectors, dict) else [vectors]
            if any(len(column) != len(batch.ids) for column in columns):
                # UNSURE: Qdrant's text for a batch whose ids and vectors differ in number
                raise QdrantError(400, "Wrong input: number of ids and vectors must be equal")
            rows: list[Any] = (
                [{n: vs[i] for n, vs in vectors.items()} for i in range(len(batch.ids))]
                if isinstance(vectors, dict)
                else list(vectors)
            )
            for row in rows:
                _check_vector(collection, row)
            points: Any = batch
        else:
            points = deserialize("points", data, m.PointsList)[0].points
            check_point_ids(p.id for p in points)
            for point in points:
                _check_vector(collection, point.vector)
        try:
            self.state.engine.upsert(collection.name, points=points)
        except ENGINE_ERRORS as e:
            raise _engine_errors(e) from e
        return _ok(m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED))

    async def delete_points(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        data = load_json(await request.read())
        model = m.PointIdsList if isinstance(data, dict) and "points" in data else m.FilterSelector
        selector = deserialize("points", data, model)[0]
        if isinstance(selector, m.PointIdsList):
            check_point_ids(selector.points)
        self._engine(lambda: self.state.engine.delete(collection.name, points_selector=selector))
        return _ok(m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED))

    async def query(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _point_body(request, m.QueryRequest)
        _check_query(collection, req.query, req.using)
        return self._engine(
            lambda: self.state.engine.query_points(
                collection.name,
                query=req.query,
                using=req.using,
                prefetch=req.prefetch,
                query_filter=req.filter,
                search_params=req.params,
                limit=req.limit or 10,
                offset=req.offset,
                with_payload=req.with_payload if req.with_payload is not None else False,
                with_vectors=req.with_vector or False,
                score_threshold=req.score_threshold,
            ),
        )

    async def count(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _point_body(request, m.CountRequest)
        return self._engine(
            lambda: self.state.engine.count(collection.name, count_filter=req.filter, exact=True)
        )

    async def scroll(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _point_body(request, m.ScrollRequest)
        if req.offset is not None:
            check_point_ids([req.offset])

        def scroll() -> Json:
            points, offset = self.state.engine.scroll(
                collection.name,
                scroll_filter=req.filter,
                limit=req.limit or 10,
                offset=req.offset,
                with_payload=req.with_payload if req.with_payload is not None else True,
                with_vectors=req.with_vector or False,
            )
            return {"points": [p.model_dump(mode="json") for p in points], "next_page_offset": offset}

        return self._engine(scroll)

    async def retrieve(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _point_body(request, m.PointRequest)
        check_point_ids(str(i) if not isinstance(i, int) else i for i in req.ids)
        return self._engine(
            lambda: self.state.engine.retrieve(
                collection.name,
                ids=req.ids,
                with_payload=req.with_payload if req.with_payload is not None else True,
                with_vectors=req.with_vector or False,
            ),
        )

    def _engine(self, call: Callable[[], Any]) -> web.Response:
        try:
            return _ok(call())
        except ENGINE_ERRORS as e:
            raise _engine_errors(e) from e


def _dimension(collection: Collection, name: str, vector: Any) -> None:
    size = collection.vectors[name].get("size")
    if collection.vectors[name].get("multivector_config") is not None:
        rows = vector if isinstance(vector, list) else []
        got = {len(r) for r in rows if isinstance(r, list)}
        wrong = next((g for g in sorted(got) if g != size), None)
    else:
        wrong = len(vector) if isinstance(vector, list) and len(vector) != size else None
    if wrong is not None:
        raise QdrantError(400, f"Wrong input: Vector dimension error: expected dim: {size}, got {wrong}")


def _check_vector(collection: Collection, vector: Any) -> None:
    """A point's vectors against the collection: Qdrant's OperationError texts (VectorNameNotExists,
    WrongVectorDimension). The unnamed vector is the one named ""."""
    named = vector if isinstance(vector, dict) else {"": vector}
    sparse = collection.sparse or {}
    for name, value in named.items():
        if name in sparse:
            continue
        if name not in collection.vectors:
            raise QdrantError(400, f"Wrong input: Not existing vector name error: {name}")
        if isinstance(value, list):
            _dimension(collection, name, value)


def _check_query(collection: Collection, query: Any, using: str | None) -> None:
    """A nearest query by a raw dense vector: the vector name and its dimension
    (config.rs `missing_vector_error` texts)."""
    if isinstance(query, m.NearestQuery):
        query = query.nearest
    if not (isinstance(query, list) and query and all(isinstance(x, float) for x in query)):
        return
    name = using or ""
    names = list(collection.vectors) + list(collection.sparse or {})
    if name not in collection.vectors and name not in (collection.sparse or {}):
        if not names:
            raise QdrantError(400, "Wrong input: Vectors are not configured in this collection")
        if names == [""]:
            raise QdrantError(
                400, f"Wrong input: Vector with name {name} is not configured in this collection"
            )
        available = ", ".join(names)
        if name == "":
            raise QdrantError(
                400,
                "Wrong input: Collection requires specified vector name in the request, "
                f"available names: {available}",
            )
        raise QdrantError(
            400,
            f"Wrong input: Vector with name `{name}` is not configured in this collection, "
            f"available names: {available}",
        )
    if name in collection.vectors:
        _dimension(collection, name, query)
