"""The embedder's aiohttp application, built by a factory from settings and a backend."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
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
from vectorops.serving.vector_cache import redis_location

log = logging.getLogger("vectorops.embedder")
BackendFactory = Callable[[EmbedderSettings], Backend]


def _load_backend(settings: EmbedderSettings) -> Backend:
    from vectorops.embedder.backends.sentence_transformers import SentenceTransformerBackend

    return SentenceTransformerBackend(settings)


def _limits(settings: EmbedderSettings) -> BatchLimits:
    return BatchLimits(
        settings.max_batch_size,
        settings.max_batch_tokens,
        settings.max_wait_ms / 1000,
        settings.max_queue_size,
    )


def _redis_url(settings: EmbedderSettings) -> str | None:
    if settings.redis_url is None:
        return None
    return settings.redis_url.get_secret_value() or None  # an empty value (no Secret key set): no Redis


def _cache(settings: EmbedderSettings, backend: Backend, metrics: Metrics) -> EmbeddingCache:
    """The cache of this model: keyed by the digest of its files, so made once they are loaded."""
    return EmbeddingCache(
        cache_namespace(settings, backend.identity, backend.max_seq_length),
        metrics,
        _redis_url(settings),
        settings.cache_ttl_seconds,
        settings.cache_max_entry_bytes,
        settings.cache_timeout_ms / 1000,
        settings.cache_retry_seconds,
        settings.lru_entries,
    )


def _describe_cache(settings: EmbedderSettings) -> str:
    url = _redis_url(settings)
    redis = f"Redis at {redis_location(url)}" if url else "no Redis"
    return f"in-process LRU of {settings.lru_entries} entries, {redis}"


def _graceful_exit() -> None:
    raise web.GracefulExit  # what run_app's SIGTERM handler raises: the app shuts down cleanly


def create_app(
    settings: EmbedderSettings,
    backend_factory: BackendFactory = _load_backend,
    *,
    exit_on_load_failure: bool = False,
) -> web.Application:
    """The app serves health at once; embeddings once the model is loaded and warmed (readyz). If the
    model cannot be loaded, readyz and embeddings say why (503), and with exit_on_load_failure the app
    also shuts down (serve() then exits non-zero)."""
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
        try:
            backend = await asyncio.get_running_loop().run_in_executor(None, backend_factory, settings)
            runtime.cache = _cache(settings, backend, metrics)
            runtime.batcher = DynamicBatcher(backend, _limits(settings), metrics)
            await runtime.batcher.start()
            # The first forward pass is the slow one: do it before saying ready.
            await runtime.batcher.embed(["warm-up"])
        except Exception as e:
            runtime.failure = f"{type(e).__name__}: {e}"
            log.error("model %s could not be loaded: %s", settings.model, runtime.failure, exc_info=e)
            if exit_on_load_failure:
                asyncio.get_running_loop().call_soon(_graceful_exit)
            return
        runtime.service = EmbeddingService(settings, backend, runtime.batcher, runtime.cache, metrics)
        runtime.ready.set()
        log.info(
            "model %s ready: dimension %d on %s, files %s",
            settings.name,
            backend.dimension,
            settings.device,
            backend.identity,
        )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        log.info(
            "loading model %s on %s; cache: %s", settings.model, settings.device, _describe_cache(settings)
        )
        # Health answers while the model loads; readyz and embeddings wait for it.
        loading = asyncio.create_task(load(app), name="load-model")
        yield
        loading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loading
        if runtime.batcher is not None:
            await runtime.batcher.stop()
        if runtime.cache is not None:
            await runtime.cache.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def serve(settings: EmbedderSettings) -> None:
    """Serve until stopped. A model that cannot be loaded ends the process non-zero, with the reason:
    a pod that restarts and says why, rather than one that stays unready in silence."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, exit_on_load_failure=True)
    web.run_app(app, host=settings.host, port=settings.port, access_log=None)
    failure = app[RUNTIME].failure
    if failure is not None:
        sys.exit(f"vectorops embedder: the model {settings.model} could not be loaded: {failure}")
