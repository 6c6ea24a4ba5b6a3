"""The gateway's aiohttp application, built by a factory from settings and a snapshot source."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator

from aiohttp import web

from vectorops.gateway.api import RUNTIME, Handlers, Runtime
from vectorops.gateway.dispatch import Breakers, Dispatcher
from vectorops.gateway.limits import KeyLimiter
from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.source import KubeSource, SnapshotSource
from vectorops.gateway.upstream import Upstream

log = logging.getLogger("vectorops.gateway")


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
        upstream=Upstream(settings.max_connections),
        metrics=metrics,
        limiter=KeyLimiter(),
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

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.source.start()
        log.info("gateway for namespace %s started (auth: %s)", settings.namespace, settings.auth)
        yield
        await runtime.source.stop()
        await runtime.upstream.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def serve(settings: GatewaySettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None)
