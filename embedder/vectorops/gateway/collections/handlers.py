"""The collections HTTP API (docs/datapath.md):

  POST   /v1/collections/{name}/points       ingest documents (embedded with the collection's model)
  DELETE /v1/collections/{name}/points       delete by document ids or by a Qdrant filter
  POST   /v1/collections/{name}/search       nearest documents to a text or a vector
  GET    /v1/collections                     the collections this key may use
  GET    /v1/collections/{name}/consistency  PostgreSQL and Qdrant compared (admin)
  POST   /v1/collections/{name}/repair       the repair pass, now (admin)
  GET    /health/database                    every store's reachability (admin, readonly)
  GET    /cache/stats                        the embedding and search caches (admin, readonly)

Checks come first, in the same order as the model APIs: a table, the key (401), the collection (404),
the key's right to it (403), the body (400/413), the collection's state (503), then the rate limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from vectorops.gateway.api import Handlers, Refused, _admit, _body, _grant
from vectorops.gateway.collections import requests as rq
from vectorops.gateway.collections import writes
from vectorops.gateway.collections.errors import DataPathError
from vectorops.gateway.collections.health import database_health
from vectorops.gateway.collections.repair import consistency
from vectorops.gateway.collections.search import search
from vectorops.gateway.collections.service import CollectionsService, model_of
from vectorops.gateway.snapshot import Grant, Role, Snapshot
from vectorops.routing.collections import CollectionBinding
from vectorops.serving.errors import error
from vectorops.serving.responses import json_response


def _failure(e: DataPathError) -> web.Response:
    server = e.status >= 500
    return error(
        e.status,
        e.message,
        type_="server_error" if server else "invalid_request_error",
        headers={"Retry-After": "1"} if e.status == 503 else None,
    )


class CollectionHandlers:
    def __init__(self, api: Handlers, service: CollectionsService) -> None:
        self.api, self.service, self.rt = api, service, api.rt

    async def _accept(
        self, request: web.Request, write: bool = False, admin: bool = False, body: bool = True
    ) -> tuple[Snapshot, Grant, CollectionBinding, dict[str, Any]]:
        snapshot = self.api._snapshot()
        grant = _grant(request, self.rt, snapshot)
        name = request.match_info["name"]
        binding = snapshot.collections.get(name)
        if binding is None:
            raise Refused(
                error(
                    404,
                    f"no collection `{name}` in namespace {snapshot.table.namespace}",
                    param="name",
                    code="collection_not_found",
                )
            )
        if not grant.may_use_collection(binding.model):
            models = ", ".join(sorted(grant.models or ()))
            raise Refused(
                error(
                    403,
                    f"API key {grant.name} may use the models {models} only; collection {name} uses "
                    f"{binding.model or 'no model'}",
                    code="collection_not_allowed",
                )
            )
        if admin and grant.role is not Role.ADMIN:
            raise Refused(error(403, f"API key {grant.name} (role {grant.role.value}) is not an admin key"))
        if write and grant.role is Role.READONLY:
            raise Refused(error(403, f"API key {grant.name} (role readonly) may not write collections"))
        parsed = await _body(request, self.rt) if body else {}
        if binding.unavailable:
            raise Refused(_failure(DataPathError(f"collection {name} is unavailable: {binding.unavailable}")))
        if binding.postgres_required and binding.postgres is None:
            raise Refused(
                _failure(
                    DataPathError(
                        f"collection {name} requires its PostgreSQL schema, which is not ready yet: "
                        "no write or search until it is"
                    )
                )
            )
        return snapshot, grant, binding, parsed

    async def _write(
        self,
        binding: CollectionBinding,
        operation: str,
        what: str,
        write: Callable[[], Awaitable[dict[str, Any]]],
        documents: int,
        counted: tuple[str, ...],
    ) -> web.Response:
        """Run an ingest or delete within collection_request_timeout_seconds (`write()` looks the stores
        up too, so their failure is counted), count its outcome and its documents: `documents` failed when
        it fails, the answer's `counted` fields when it succeeds."""
        limit = self.rt.settings.collection_request_timeout_seconds
        try:
            async with asyncio.timeout(limit):
                answer = await write()
        except DataPathError as e:
            self._count(binding, operation, type(e).__name__, {"failed": documents})
            return _failure(e)
        except TimeoutError:
            self._count(binding, operation, "timeout", {"failed": documents})
            return _failure(
                DataPathError(f"the {what} took over collection_request_timeout_seconds={limit:g}")
            )
        self._count(binding, operation, "ok", {field: answer[field] for field in counted})
        return json_response(answer)

    def _count(self, binding: CollectionBinding, operation: str, outcome: str, docs: dict[str, int]) -> None:
        m = self.rt.metrics
        m.child(m.ingest_batches, binding.name, operation, outcome).inc()
        for what, n in docs.items():
            if n:
                m.child(m.ingest_documents, binding.name, operation, what).inc(n)

    def _context(self, snapshot: Snapshot, grant: Grant, binding: CollectionBinding) -> writes.WriteContext:
        return writes.WriteContext(
            namespace=binding.namespace,
            store=self.service.store(snapshot, binding),
            client=grant.name,
            bump=lambda: self.service.bump(binding),
            pause_after_qdrant_s=self.rt.settings.test_pause_after_qdrant_seconds,
        )

    async def ingest(self, request: web.Request) -> web.Response:
        try:
            snapshot, grant, binding, body = await self._accept(request, write=True)
            req = rq.ingest_request(body, self.rt.settings)
            if req.model is not None and req.model != binding.model:
                raise rq.BadRequest(
                    f"model `{req.model}` is not collection {binding.name}'s model "
                    f"(`{binding.model or 'none'}`): its vectors would not be comparable",
                    "model",
                    409,
                )
            route, info = model_of(snapshot, binding)
            _admit(self.rt, grant)
        except Refused as r:
            return r.response
        except rq.BadRequest as e:
            return error(e.status, e.message, param=e.param)
        except DataPathError as e:
            return _failure(e)
        embed = self.service.embedder(snapshot, route, lambda tokens: self.rt.limiter.charge(grant, tokens))

        def write() -> Awaitable[dict[str, Any]]:
            context = self._context(snapshot, grant, binding)
            return writes.ingest(context, req.documents, info, embed, self.rt.settings.ingest_embed_batch)

        return await self._write(
            binding, "upsert", "ingest", write, len(req.documents), ("upserted", "unchanged")
        )

    async def delete(self, request: web.Request) -> web.Response:
        try:
            snapshot, grant, binding, body = await self._accept(request, write=True)
            req = rq.delete_request(body, self.rt.settings)
            _admit(self.rt, grant)
        except Refused as r:
            return r.response
        except rq.BadRequest as e:
            return error(e.status, e.message, param=e.param)

        def write() -> Awaitable[dict[str, Any]]:
            return writes.delete(self._context(snapshot, grant, binding), req.ids, req.filter)

        return await self._write(binding, "delete", "delete", write, len(req.ids or ()), ("deleted",))

    async def search(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            snapshot, grant, binding, body = await self._accept(request)
            req = rq.search_request(body, binding.qdrant.dimension)
            route = model_of(snapshot, binding)[0] if req.text is not None else None
            _admit(self.rt, grant)
        except Refused as r:
            return r.response
        except rq.BadRequest as e:
            return error(e.status, e.message, param=e.param)
        except DataPathError as e:
            return _failure(e)
        cache = self.service.cache
        # What the collection is made of is in the key too: a binding moved to another Qdrant collection
        # or model never reads the old entries, whatever the generation says.
        query = {**req.cache_query(), "qdrant": binding.qdrant.collection, "model": binding.model}
        query["identity"] = binding.identity.model_dump(mode="json") if binding.identity else None
        found, key = await cache.lookup(binding.namespace, binding.name, query)
        if found is not None:
            self._observe(binding, started, True)
            return json_response({"collection": binding.name, "results": found, "cached": True})
        try:
            async with asyncio.timeout(self.rt.settings.collection_request_timeout_seconds):
                vector = req.vector
                if vector is None:
                    assert route is not None
                    assert req.text is not None
                    embed = self.service.embedder(snapshot, route, lambda t: self.rt.limiter.charge(grant, t))
                    vector = (await writes.embed_all(embed, [req.text], 1, binding.qdrant.dimension))[0]
                results = await search(self.service.store(snapshot, binding), req, vector)
        except DataPathError as e:
            return _failure(e)
        except TimeoutError:
            return _failure(DataPathError("the search took over collection_request_timeout_seconds"))
        if key is not None:
            await cache.store(key, results)
        self._observe(binding, started, False)
        return json_response({"collection": binding.name, "results": results, "cached": False})

    def _observe(self, binding: CollectionBinding, started: float, cached: bool) -> None:
        m = self.rt.metrics
        m.child(m.search_seconds, binding.name, "true" if cached else "false").observe(
            time.perf_counter() - started
        )

    async def list(self, request: web.Request) -> web.Response:
        try:
            snapshot = self.api._snapshot()
            grant = _grant(request, self.rt, snapshot)
        except Refused as r:
            return r.response
        data = []
        for b in sorted(snapshot.collections.values(), key=lambda b: b.name):
            if not grant.may_use_collection(b.model):
                continue
            unavailable = b.unavailable or (
                "its PostgreSQL schema is not ready yet"
                if b.postgres_required and b.postgres is None
                else None
            )
            data.append(
                {
                    "name": b.name,
                    "namespace": b.namespace,
                    "model": b.model,
                    "dimension": b.qdrant.dimension,
                    "distance": b.qdrant.distance,
                    "available": unavailable is None,
                    "unavailable": unavailable,
                    "postgres": b.postgres is not None,
                    "postgres_required": b.postgres_required,
                }
            )
        return json_response({"object": "list", "data": data})

    async def consistency(self, request: web.Request) -> web.Response:
        try:
            snapshot, _, binding, _ = await self._accept(request, admin=True, body=False)
            store = self._with_postgres(snapshot, binding, "consistency check")
            return json_response(await consistency(store))
        except Refused as r:
            return r.response
        except DataPathError as e:
            return _failure(e)

    async def repair(self, request: web.Request) -> web.Response:
        try:
            snapshot, _, binding, _ = await self._accept(request, admin=True, body=False)
            self._with_postgres(snapshot, binding, "repair")
            report = await self.service.repair(snapshot, binding)
        except Refused as r:
            return r.response
        except DataPathError as e:
            return _failure(e)
        return json_response({"collection": binding.name, **report.as_dict()})

    def _with_postgres(self, snapshot: Snapshot, binding: CollectionBinding, what: str) -> Any:
        if binding.postgres is None:
            raise DataPathError(
                f"collection {binding.name} has no PostgreSQL: no operation log and no {what}; Qdrant is "
                "the only copy",
                409,
            )
        return self.service.store(snapshot, binding)

    async def health(self, request: web.Request) -> web.Response:
        try:
            snapshot = self.api._snapshot()
            self._reader(request, snapshot)
        except Refused as r:
            return r.response
        report = await database_health(self.service, snapshot)
        return json_response(report, status=200 if report["ok"] else 503)

    async def cache_stats(self, request: web.Request) -> web.Response:
        try:
            self._reader(request, self.api._snapshot())
        except Refused as r:
            return r.response
        embeddings = self.rt.cache.as_dict() if self.rt.cache is not None else None
        return json_response({"embeddings": embeddings, "search": self.service.cache.as_dict()})

    def _reader(self, request: web.Request, snapshot: Snapshot) -> None:
        grant = _grant(request, self.rt, snapshot)
        if grant.role not in (Role.ADMIN, Role.READONLY):
            raise Refused(
                error(403, f"API key {grant.name} (role {grant.role.value}) may not read the status API")
            )

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/collections", self.list)
        router.add_post("/v1/collections/{name}/points", self.ingest)
        router.add_delete("/v1/collections/{name}/points", self.delete)
        router.add_post("/v1/collections/{name}/search", self.search)
        router.add_get("/v1/collections/{name}/consistency", self.consistency)
        router.add_post("/v1/collections/{name}/repair", self.repair)
        router.add_get("/health/database", self.health)
        router.add_get("/cache/stats", self.cache_stats)
