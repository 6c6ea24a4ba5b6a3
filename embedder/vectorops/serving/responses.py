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
    # orjson's bytes go out as they are (web.json_response would take a str and encode it again).
    raw = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return web.Response(body=raw, status=status, headers=headers, content_type="application/json")


def metrics_response(registry: CollectorRegistry) -> web.Response:
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
