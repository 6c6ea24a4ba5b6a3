"""The gateway's aiohttp application, built by a factory from settings and a snapshot source."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator

from aiohttp import web

from vectorops.gateway.api import RUNTIME, Handlers, Runtime
from vectorops.gateway.collections.handlers import CollectionHandlers
from vectorops.gateway.collections.service import CollectionsService
from vectorops.gateway.dispatch import Breakers, Dispatcher
from vectorops.gateway.embedding_cache import EmbeddingResultCache
from vectorops.gateway.limits import KeyLimiter
from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.reporter import StatusReporter, endpoint_views
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.source import KubeSource, SnapshotSource
from vectorops.gateway.upstream import Upstream

log = logging.getLogger("vectorops.gateway")
COLLECTIONS = web.AppKey("collections", CollectionsService)


def create_app(
    settings: GatewaySettings, source: SnapshotSource | None = None, metrics: GatewayMetrics | None = None
) -> web.Application:
    """Serves what `source` holds (default: the namespace's route table and Secrets, watched)."""
    metrics = metrics or GatewayMetrics()
    source = source or KubeSource(settings.namespace, metrics)
    breakers = Breakers()
    metrics.watch_breakers(lambda: [(key, b.state.value) for key, b in breakers.items()])
    runtime = Runtime(
        settings=settings,
        source=source,
        dispatcher=Dispatcher(breakers, metrics, random.Random(settings.seed)),
        upstream=Upstream(settings.max_connections, settings.hosts_file),
        metrics=metrics,
        limiter=KeyLimiter(),
        cache=EmbeddingResultCache.of(settings, metrics),
    )
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[RUNTIME] = runtime
    h = Handlers(runtime)
    app.router.add_post("/v1/embeddings", h.embeddings)
    app.router.add_post("/v1/chat/completions", h.chat)
    app.router.add_get("/v1/models", h.models)
    app.router.add_get("/external/status", h.status)
    app.router.add_get("/healthz", h.healthz)
    app.router.add_get("/readyz", h.readyz)
    app.router.add_get("/metrics", h.metrics)
    collections = CollectionsService(runtime, h.embed_inputs)
    app[COLLECTIONS] = collections
    CollectionHandlers(h, collections).register(app.router)

    reporter = _reporter(settings, source, breakers)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.source.start()
        collections.start()
        reporting = asyncio.create_task(reporter.run(), name="report-status") if reporter else None
        log.info("gateway for namespace %s started (auth: %s)", settings.namespace, settings.auth)
        yield
        if reporting is not None and reporter is not None:
            reporting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporting
            with contextlib.suppress(TimeoutError):  # the apiserver away: the operator drops it later
                await asyncio.wait_for(reporter.withdraw(), 10.0)
        await runtime.source.stop()
        await collections.close()
        await runtime.upstream.close()
        if runtime.cache is not None:
            await runtime.cache.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def _reporter(settings: GatewaySettings, source: SnapshotSource, breakers: Breakers) -> StatusReporter | None:
    """Breaker states written back into ExternalModelEndpoints: only where there are such objects (a
    source that watches the apiserver) and the settings ask for it."""
    if not settings.report_status or not isinstance(source, KubeSource):
        return None

    def views() -> dict[str, list[dict[str, object]]] | None:
        snapshot = source.current()
        return None if snapshot is None else endpoint_views(snapshot.table, breakers)

    return StatusReporter(
        settings.replica, views, source.patch_endpoint_status, settings.report_interval_seconds
    )


def run(app: web.Application, host: str, port: int) -> None:
    """Serve `app` as `vectorops gateway` does. uvloop: a fifth less CPU per request than asyncio's own
    loop (benchmarks/gateway.py), and the gateway is all event loop; without the [gateway] extra,
    asyncio's loop serves as well."""
    try:
        import uvloop
    except ImportError:
        loop = None
    else:
        loop = uvloop.new_event_loop()
    web.run_app(app, host=host, port=port, access_log=None, print=None, loop=loop)


def serve(settings: GatewaySettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("serving on %s:%d", settings.host, settings.port)
    run(create_app(settings), settings.host, settings.port)
