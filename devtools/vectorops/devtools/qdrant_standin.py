"""A stand-in Qdrant server for tests and benchmarks, where no Qdrant binary can run.

It speaks Qdrant's REST API for everything vectorops uses. Requests are parsed and responses
rendered with qdrant-client's own REST models; points and search are delegated to qdrant-client's
local engine; the collection *configuration* is kept here exactly as Qdrant reports it (its
defaults, PATCH merges, payload schema, aliases), because the local engine ignores most of it.

Behaviour follows Qdrant's documentation. Where that was silent, choices are marked UNSURE below;
the e2e suite runs the same operator tests against a real Qdrant to keep them honest.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import threading
from collections.abc import Awaitable, Callable
from copy import deepcopy
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from qdrant_client import QdrantClient
from qdrant_client.http import models as m

# The API level we emulate is the one of the qdrant-client we parse with.
VERSION = importlib.metadata.version("qdrant-client")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_HNSW = m.HnswConfig(
    m=16, ef_construct=100, full_scan_threshold=10000, max_indexing_threads=0, on_disk=False
)
# UNSURE: Qdrant's server default indexing_threshold has been 10000 and 20000 across releases;
# qdrant-client's local engine reports 20000, so do we.
DEFAULT_OPTIMIZERS = m.OptimizersConfig(
    deleted_threshold=0.2,
    vacuum_min_vector_number=1000,
    default_segment_number=0,
    indexing_threshold=20000,
    flush_interval_sec=5,
)
DEFAULT_WAL = m.WalConfig(wal_capacity_mb=32, wal_segments_ahead=0)


class QdrantError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _merge(base: BaseModel | None, diff: BaseModel | None, into: type[BaseModel]) -> Any:
    """Apply a *Diff model: fields set in the diff replace those of the base."""
    if diff is None:
        return base
    current = base.model_dump(exclude_none=True) if base is not None else {}
    return into.model_validate({**current, **diff.model_dump(exclude_none=True)})


def _quantization(diff: Any) -> Any:
    return None if isinstance(diff, m.Disabled) else diff


class Collection:
    """One collection's configuration, payload schema and (via the local engine) points."""

    def __init__(self, name: str, req: m.CreateCollection, engine: QdrantClient) -> None:
        self.name = name
        self.engine = engine
        vectors = req.vectors if req.vectors is not None else {}
        self.config = m.CollectionConfig(
            params=m.CollectionParams(
                vectors=deepcopy(vectors),
                shard_number=req.shard_number or 1,
                sharding_method=req.sharding_method,
                replication_factor=req.replication_factor or 1,
                write_consistency_factor=req.write_consistency_factor or 1,
                on_disk_payload=True if req.on_disk_payload is None else req.on_disk_payload,
                sparse_vectors=deepcopy(req.sparse_vectors),
            ),
            hnsw_config=_merge(DEFAULT_HNSW, req.hnsw_config, m.HnswConfig),
            optimizer_config=_merge(DEFAULT_OPTIMIZERS, req.optimizers_config, m.OptimizersConfig),
            wal_config=_merge(DEFAULT_WAL, req.wal_config, m.WalConfig),
            quantization_config=req.quantization_config,
            metadata=req.metadata,
        )
        self.payload_schema: dict[str, m.PayloadIndexInfo] = {}
        engine.create_collection(name, vectors_config=vectors, sparse_vectors_config=req.sparse_vectors)

    def update(self, req: m.UpdateCollection) -> None:
        cfg = self.config
        if req.params is not None:
            cfg.params = _merge(cfg.params, req.params, m.CollectionParams)
        cfg.hnsw_config = _merge(cfg.hnsw_config, req.hnsw_config, m.HnswConfig)
        cfg.optimizer_config = _merge(cfg.optimizer_config, req.optimizers_config, m.OptimizersConfig)
        if req.quantization_config is not None:
            cfg.quantization_config = _quantization(req.quantization_config)
        for name, diff in (req.vectors or {}).items():
            self._update_vector(name, diff)
        for name, sparse in (req.sparse_vectors or {}).items():
            known = cfg.params.sparse_vectors or {}
            if name not in known:
                raise QdrantError(400, f"Wrong input: Sparse vector {name} does not exist")
            known[name] = _merge(known[name], sparse, m.SparseVectorParams)
        if req.metadata is not None:
            cfg.metadata = {**(cfg.metadata or {}), **req.metadata}

    def _update_vector(self, name: str, diff: m.VectorParamsDiff) -> None:
        vectors = self.config.params.vectors
        if isinstance(vectors, m.VectorParams):
            if name != "":
                raise QdrantError(400, f"Wrong input: Vector with name {name} does not exist")
            target = vectors
        elif isinstance(vectors, dict) and name in vectors:
            target = vectors[name]
        else:
            raise QdrantError(400, f"Wrong input: Vector with name {name} does not exist")
        target.hnsw_config = _merge(target.hnsw_config, diff.hnsw_config, m.HnswConfigDiff)
        if diff.quantization_config is not None:
            target.quantization_config = _quantization(diff.quantization_config)
        if diff.on_disk is not None:
            target.on_disk = diff.on_disk

    def info(self) -> m.CollectionInfo:
        points = self.engine.count(self.name, exact=True).count
        for index in self.payload_schema.values():
            index.points = points
        segments = self.config.optimizer_config.default_segment_number or 2
        return m.CollectionInfo(
            status=m.CollectionStatus.GREEN,
            optimizer_status=m.OptimizersStatusOneOf.OK,
            # Qdrant indexes segments only above indexing_threshold KB; small test collections stay unindexed.
            indexed_vectors_count=0,
            points_count=points,
            segments_count=segments,
            config=self.config,
            payload_schema=self.payload_schema,
        )


class QdrantState:
    """Everything the server knows; survives stop()/start() like a real Qdrant's storage."""

    def __init__(self) -> None:
        self.engine = QdrantClient(location=":memory:")
        self.collections: dict[str, Collection] = {}
        self.aliases: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests

    def get(self, name: str) -> Collection:
        name = self.aliases.get(name, name)
        if name not in self.collections:
            raise QdrantError(404, f"Not found: Collection `{name}` doesn't exist!")
        return self.collections[name]


def _ok(result: Any, status: int = 200) -> web.Response:
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json", exclude_none=True)
    elif isinstance(result, list):
        result = [
            r.model_dump(mode="json", exclude_none=True) if isinstance(r, BaseModel) else r for r in result
        ]
    return web.json_response({"result": result, "status": "ok", "time": 0.0001}, status=status)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"status": {"error": message}, "time": 0.0001}, status=status)


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(await request.json())
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise QdrantError(422, f"Json deserialize error: {where}: {first['msg']}") from e
    except ValueError as e:
        raise QdrantError(400, f"Json deserialize error: {e}") from e


class StandInQdrant:
    """Run with start()/stop(); `url` stays the same across restarts, state is kept."""

    def __init__(self, port: int = 0, api_key: str | None = None, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.api_key = host, port, api_key
        self.state = QdrantState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------------
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

    # -- the API --------------------------------------------------------------------------------
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
        try:
            # One event loop serves every request, so handlers never interleave mid-mutation:
            # each reads its body first and then changes state without awaiting.
            return await handler(request)
        except QdrantError as e:
            return _error(e.status, str(e))

    async def root(self, request: web.Request) -> web.Response:
        return web.json_response({"title": "qdrant - vector search engine", "version": VERSION})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="healthz check passed")

    async def cluster(self, request: web.Request) -> web.Response:
        return _ok({"status": "disabled"})

    async def list_collections(self, request: web.Request) -> web.Response:
        names = sorted(self.state.collections)
        return _ok(m.CollectionsResponse(collections=[m.CollectionDescription(name=n) for n in names]))

    async def exists(self, request: web.Request) -> web.Response:
        return _ok(m.CollectionExistence(exists=request.match_info["name"] in self.state.collections))

    async def get_collection(self, request: web.Request) -> web.Response:
        return _ok(self.state.get(request.match_info["name"]).info())

    async def create_collection(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        req = await _body(request, m.CreateCollection)
        if name in self.state.aliases:
            raise QdrantError(409, f"Wrong input: Alias with the same name `{name}` already exists!")
        if name in self.state.collections:
            # UNSURE: recent Qdrant answers 409 Conflict; older releases answered 400.
            raise QdrantError(409, f"Wrong input: Collection `{name}` already exists!")
        for params in _dense_params(req.vectors):
            if params.size < 1:
                raise QdrantError(
                    422, "Validation error in JSON body: [vectors.size: value 0 invalid, must be 1 or larger]"
                )
        self.state.collections[name] = Collection(name, req, self.state.engine)
        return _ok(True)

    async def update_collection(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        collection.update(await _body(request, m.UpdateCollection))
        return _ok(True)

    async def delete_collection(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.state.collections:
            return _ok(False)  # UNSURE: Qdrant answers 200 with result false for an unknown collection
        del self.state.collections[name]
        self.state.engine.delete_collection(name)
        self.state.aliases = {a: c for a, c in self.state.aliases.items() if c != name}
        return _ok(True)

    async def list_aliases(self, request: web.Request) -> web.Response:
        return _ok(m.CollectionsAliasesResponse(aliases=self._aliases(None)))

    async def collection_aliases(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.state.get(name)
        return _ok(m.CollectionsAliasesResponse(aliases=self._aliases(name)))

    def _aliases(self, collection: str | None) -> list[m.AliasDescription]:
        return [
            m.AliasDescription(alias_name=a, collection_name=c)
            for a, c in sorted(self.state.aliases.items())
            if collection is None or c == collection
        ]

    async def change_aliases(self, request: web.Request) -> web.Response:
        req = await _body(request, m.ChangeAliasesOperation)
        aliases = dict(self.state.aliases)  # all actions apply atomically, or none
        for action in req.actions:
            if isinstance(action, m.CreateAliasOperation):
                target = action.create_alias.collection_name
                if target not in self.state.collections:
                    raise QdrantError(404, f"Not found: Collection `{target}` doesn't exist!")
                if action.create_alias.alias_name in self.state.collections:
                    raise QdrantError(
                        400, f"Wrong input: Collection `{action.create_alias.alias_name}` exists"
                    )
                # UNSURE: Qdrant replaces an existing alias of the same name; we do the same.
                aliases[action.create_alias.alias_name] = target
            elif isinstance(action, m.DeleteAliasOperation):
                if aliases.pop(action.delete_alias.alias_name, None) is None:
                    raise QdrantError(
                        404, f"Not found: Alias {action.delete_alias.alias_name} does not exists!"
                    )
            elif isinstance(action, m.RenameAliasOperation):
                old, new = action.rename_alias.old_alias_name, action.rename_alias.new_alias_name
                if old not in aliases:
                    raise QdrantError(404, f"Not found: Alias {old} does not exists!")
                aliases[new] = aliases.pop(old)
        self.state.aliases = aliases
        return _ok(True)

    async def create_index(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _body(request, m.CreateFieldIndex)
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

    # -- points: delegated to the local engine ---------------------------------------------------
    async def upsert(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        body = await request.json()
        if "batch" in body:
            batch = m.PointsBatch.model_validate(body).batch
            self.state.engine.upsert(collection.name, points=batch)
        else:
            points = m.PointsList.model_validate(body).points
            self.state.engine.upsert(collection.name, points=points)
        return _ok(m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED))

    async def delete_points(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        body = await request.json()
        selector = (
            m.PointIdsList.model_validate(body) if "points" in body else m.FilterSelector.model_validate(body)
        )
        self.state.engine.delete(collection.name, points_selector=selector)
        return _ok(m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED))

    async def query(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _body(request, m.QueryRequest)
        result = self.state.engine.query_points(
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
        )
        return _ok(result)

    async def count(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _body(request, m.CountRequest)
        return _ok(self.state.engine.count(collection.name, count_filter=req.filter, exact=True))

    async def scroll(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _body(request, m.ScrollRequest)
        points, offset = self.state.engine.scroll(
            collection.name,
            scroll_filter=req.filter,
            limit=req.limit or 10,
            offset=req.offset,
            with_payload=req.with_payload if req.with_payload is not None else True,
            with_vectors=req.with_vector or False,
        )
        return _ok({"points": [p.model_dump(mode="json") for p in points], "next_page_offset": offset})

    async def retrieve(self, request: web.Request) -> web.Response:
        collection = self.state.get(request.match_info["name"])
        req = await _body(request, m.PointRequest)
        points = self.state.engine.retrieve(
            collection.name,
            ids=req.ids,
            with_payload=req.with_payload if req.with_payload is not None else True,
            with_vectors=req.with_vector or False,
        )
        return _ok(points)


def _dense_params(vectors: Any) -> list[m.VectorParams]:
    if isinstance(vectors, m.VectorParams):
        return [vectors]
    if isinstance(vectors, dict):
        return list(vectors.values())
    return []
