"""Health, readiness, metrics and cache statistics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vectorops.embedder.routes.keys import RUNTIME


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
    body = generate_latest(request.app[RUNTIME].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def cache_stats(request: web.Request) -> web.Response:
    cache = request.app[RUNTIME].cache
    return web.json_response(cache.as_dict() if cache is not None else {})
