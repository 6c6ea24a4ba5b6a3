"""What the collections handlers share: the store clients, the search cache, the model that embeds a
collection's texts (through the gateway's own embeddings path and its result cache), and the background
repair loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from vectorops.gateway.api import Runtime
from vectorops.gateway.collections.errors import DataPathError, EmbeddingFailed
from vectorops.gateway.collections.repair import RepairReport, repair
from vectorops.gateway.collections.search_cache import SearchCache
from vectorops.gateway.collections.stores import Store, Stores
from vectorops.gateway.collections.writes import Embed, ModelInfo
from vectorops.gateway.dispatch import NoBackendLeft
from vectorops.gateway.snapshot import Snapshot
from vectorops.gateway.upstream import UpstreamError
from vectorops.routing.collections import CollectionBinding
from vectorops.routing.table import Capability, Route

log = logging.getLogger("vectorops.gateway")
EmbedInputs = Callable[[Snapshot, Route, list[Any], dict[str, Any]], Awaitable[tuple[list[Any], int, float]]]


def model_of(snapshot: Snapshot, binding: CollectionBinding) -> tuple[Route, ModelInfo]:
    """The route that embeds the collection's texts, checked against what the collection holds (a
    mismatch is refused here, before anything reaches Qdrant)."""
    name, model, dimension = binding.name, binding.model, binding.qdrant.dimension
    if model is None:
        raise DataPathError(
            f"collection {name} has no model (no embeddingModelRef): texts cannot be embedded; search it "
            "with a vector",
            409,
        )
    route = snapshot.table.route(model)
    if route is None:
        raise DataPathError(f"the model `{model}` of collection {name} is not served by this gateway", 503)
    if route.capability is not Capability.EMBEDDINGS:
        raise DataPathError(f"the model `{model}` of collection {name} is not an embeddings model", 409)
    identity = next((b.identity for b in route.backends if b.identity is not None), None)
    if identity is not None and identity.dimension != dimension:
        raise DataPathError(
            f"the model `{model}` makes vectors of {identity.dimension} dimensions; collection {name} holds "
            f"vectors of {dimension}: refused, nothing was written",
            409,
        )
    if identity is not None and binding.identity is not None and identity.model != binding.identity.model:
        raise DataPathError(
            f"the model `{model}` now serves {identity.model}; collection {name} holds vectors of "
            f"{binding.identity.model}: refused, nothing was written",
            409,
        )
    revision = next((b.identity.revision for b in route.backends if b.identity and b.identity.revision), None)
    return route, ModelInfo(identity.model if identity else model, revision, dimension)


class CollectionsService:
    def __init__(self, rt: Runtime, embed_inputs: EmbedInputs) -> None:
        self.rt, self.settings, self.metrics = rt, rt.settings, rt.metrics
        self.embed_inputs = embed_inputs
        self.stores = Stores()
        self.cache = SearchCache(rt.settings, rt.metrics)
        self._repairing: asyncio.Task[None] | None = None

    def store(self, snapshot: Snapshot, binding: CollectionBinding) -> Store:
        return self.stores.store(snapshot, binding)

    def embedder(
        self, snapshot: Snapshot, route: Route, charge: Callable[[int], None] | None = None
    ) -> Embed:
        async def embed(texts: list[str]) -> list[list[float]]:
            try:
                vectors, tokens, _ = await self.embed_inputs(snapshot, route, list(texts), {})
            except UpstreamError as e:
                raise EmbeddingFailed(f"the model `{route.model}` refused the texts: {e.message}") from e
            except NoBackendLeft as e:
                why = e.last.message if e.last is not None else "no backend could be tried"
                raise EmbeddingFailed(
                    f"every backend of `{route.model}` failed ({e.tried} tried); the last: {why}"
                ) from e
            if charge is not None:
                charge(tokens)
            return vectors

        return embed

    async def bump(self, binding: CollectionBinding) -> int | None:
        return await self.cache.bump(binding.namespace, binding.name)

    async def repair(self, snapshot: Snapshot, binding: CollectionBinding) -> RepairReport:
        """One repair pass of `binding` now (DataPathError when a store fails)."""
        store = self.store(snapshot, binding)
        try:
            route, _ = model_of(snapshot, binding)
            embed: Embed | None = self.embedder(snapshot, route)
        except DataPathError:
            embed = None  # rows that only need committing or deleting are still finished
        m = self.metrics
        try:
            report = await repair(store, self.settings.repair_grace, embed, self.settings.ingest_embed_batch)
        except Exception:  # a store's failure or a bug: either way the pass failed (the alert reads it)
            m.child(m.repair_runs, binding.name, "failed").inc()
            raise
        m.child(m.repair_runs, binding.name, "ok" if report.locked else "skipped").inc()
        for action in ("committed", "reembedded", "deleted"):
            if getattr(report, action):
                m.child(m.repairs, binding.name, action).inc(getattr(report, action))
        if report.changed:
            await self.bump(binding)
            log.info("collection %s repaired: %s", binding.name, report.as_dict())
        return report

    async def _repair_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.repair_interval_seconds)
            snapshot = self.rt.source.current()
            if snapshot is None:
                continue
            for binding in list(snapshot.collections.values()):
                if binding.postgres is None or binding.unavailable:
                    continue
                try:
                    await self.repair(snapshot, binding)
                except DataPathError as e:
                    log.warning("collection %s: repair failed: %s", binding.name, e.message)
                except Exception:  # one collection's surprise must not end every collection's repairs
                    log.exception("collection %s: repair failed", binding.name)

    def start(self) -> None:
        if self.settings.repair_interval_seconds > 0:
            self._repairing = asyncio.create_task(self._repair_loop(), name="repair-collections")

    async def close(self) -> None:
        if self._repairing is not None:
            self._repairing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._repairing
        await self.stores.close()
        await self.cache.close()
