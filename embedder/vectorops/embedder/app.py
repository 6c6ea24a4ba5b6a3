"""The embedder's aiohttp application, built by a factory from settings and a backend."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from vectorops.embedder.backends.base import Backend
from vectorops.embedder.batching import BatchLimits, DynamicBatcher
from vectorops.embedder.cache import EmbeddingCache, cache_namespace
from vectorops.embedder.metrics import Metrics
from vectorops.embedder.routes import embeddings, ops
from vectorops.embedder.routes.keys import RUNTIME, SETTINGS, Runtime
from vectorops.embedder.service import EmbeddingService
from vectorops.embedder.settings import EmbedderSettings

log = logging.getLogger("vectorops.embedder")
BackendFactory = Callable[[EmbedderSettings], Backend]


def _load_backend(settings: EmbedderSettings) -> Backend:
    from vectorops.embedder.backends.sentence_transformers import SentenceTransformerBackend

    return SentenceTransformerBackend(settings)


def create_app(
    settings: EmbedderSettings, backend_factory: BackendFactory = _load_backend
) -> web.Application:
    """The app serves health at once; embeddings once the model is loaded and warmed (readyz)."""
    app = web.Application(client_max_size=32 * 1024 * 1024)
    runtime = Runtime(metrics=Metrics())
    app[SETTINGS] = settings
    app[RUNTIME] = runtime
    app.router.add_post("/v1/embeddings", embeddings.embeddings)
    app.router.add_get("/v1/models", embeddings.models)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    app.router.add_get("/cache/stats", ops.cache_stats)

    metrics = runtime.metrics

    async def load(app: web.Application) -> None:
        backend = await asyncio.get_running_loop().run_in_executor(None, backend_factory, settings)
        limits = BatchLimits(
            settings.max_batch_size,
            settings.max_batch_tokens,
            settings.max_wait_ms / 1000,
            settings.max_queue_size,
        )
        batcher = DynamicBatcher(backend, limits, metrics)
        await batcher.start()
        assert runtime.cache is not None
        # The first forward pass is the slow one: do it before saying ready.
        await batcher.embed(["warm-up"])
        runtime.service = EmbeddingService(settings, backend, batcher, runtime.cache, metrics)
        runtime.ready.set()
        log.info("model %s ready: dimension %d on %s", settings.name, backend.dimension, settings.device)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        runtime.cache = EmbeddingCache(
            cache_namespace(settings.model, settings.revision, settings.normalize, settings.dimensions),
            metrics,
            settings.redis_url,
            settings.cache_ttl_seconds,
            settings.cache_max_entry_bytes,
            settings.cache_timeout_ms / 1000,
            settings.cache_retry_seconds,
            settings.lru_entries,
        )
        # Health answers while the model loads; readyz and embeddings wait for it.
        loading = asyncio.create_task(load(app), name="load-model")
        yield
        loading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loading
        if runtime.service is not None:
            await runtime.service.batcher.stop()
        await runtime.cache.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def serve(settings: EmbedderSettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None)
