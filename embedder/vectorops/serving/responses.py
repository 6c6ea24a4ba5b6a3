"""JSON responses rendered with orjson: the event loop serialises every response, so this is throughput
at high concurrency (numpy arrays are written natively, without tolist())."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def dumps(body: Any) -> str:
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=dumps)


def metrics_response(registry: CollectorRegistry) -> web.Response:
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
