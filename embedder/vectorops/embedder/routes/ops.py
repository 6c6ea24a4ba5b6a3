"""Health, readiness, metrics and cache statistics."""

from __future__ import annotations

from aiohttp import web

from vectorops.embedder.routes.keys import RUNTIME
from vectorops.serving.responses import metrics_response


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime.ready.is_set():
        return web.Response(text="ready")
    if runtime.failure is not None:
        return web.Response(status=503, text=f"the model could not be loaded: {runtime.failure}")
    return web.Response(status=503, text="loading model")


async def metrics(request: web.Request) -> web.Response:
    return metrics_response(request.app[RUNTIME].metrics.registry)


async def cache_stats(request: web.Request) -> web.Response:
    cache = request.app[RUNTIME].cache
    return web.json_response(cache.as_dict() if cache is not None else {})
