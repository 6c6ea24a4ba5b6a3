"""POST /v1/embeddings (OpenAI-compatible) and GET /v1/models."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import numpy as np
from aiohttp import web

from vectorops.embedder.batching import BatcherFailed, QueueFull
from vectorops.embedder.routes.keys import RUNTIME, SETTINGS
from vectorops.embedder.service import InputTooLarge
from vectorops.serving.errors import error
from vectorops.serving.responses import json_response

log = logging.getLogger("vectorops.embedder")


def _parse(
    body: Any, served: str, full_dim: int
) -> tuple[list[str], str, int | None, str | None] | web.Response:
    if not isinstance(body, dict):
        return error(400, "the request body must be a JSON object")
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        texts = raw
    elif isinstance(raw, list) and raw and all(isinstance(t, (int, list)) for t in raw):
        return error(400, "token arrays are not supported: send strings", param="input")
    else:
        return error(400, "input must be a non-empty string or a non-empty list of strings", param="input")
    if any(t == "" for t in texts):
        return error(400, "input must not contain empty strings", param="input")
    model = body.get("model")
    if model != served:
        return error(
            404,
            f"The model `{model}` does not exist; this server serves `{served}`",
            param="model",
            code="model_not_found",
        )
    fmt = body.get("encoding_format", "float") or "float"
    if fmt not in ("float", "base64"):
        return error(400, "encoding_format must be float or base64", param="encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (
        not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= full_dim
    ):
        return error(400, f"dimensions must be an integer from 1 to {full_dim}", param="dimensions")
    input_type = body.get("input_type")
    if input_type not in (None, "query", "passage"):
        return error(400, "input_type must be query or passage", param="input_type")
    return texts, fmt, dims, input_type


def _render(vector: np.ndarray, fmt: str) -> Any:
    if fmt == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return np.ascontiguousarray(vector, dtype=np.float32)  # orjson writes float32 arrays natively


async def embeddings(request: web.Request) -> web.Response:
    started = time.monotonic()
    metrics = request.app[RUNTIME].metrics
    try:
        response = await _embeddings(request)
    except web.HTTPException as e:  # aiohttp's own, e.g. a body over client_max_size (413)
        response = error(e.status, e.text or e.reason)
    except Exception as e:
        # Answered in OpenAI's shape and counted like any other answer (the 5xx alert reads the count).
        log.exception("embeddings request failed")
        response = error(500, f"the embedder failed: {type(e).__name__}: {e}", type_="server_error")
    metrics.requests.labels(str(response.status)).inc()
    metrics.request_seconds.observe(time.monotonic() - started)
    return response


async def _embeddings(request: web.Request) -> web.Response:
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    service = runtime.service
    if service is None and runtime.failure is not None:  # retrying will not help: no Retry-After
        return error(503, f"the model could not be loaded: {runtime.failure}", type_="server_error")
    if service is None:
        return error(503, "the model is still loading", type_="server_error", headers={"Retry-After": "5"})
    try:
        body = await request.json()
    except ValueError:
        return error(400, "the request body is not valid JSON")
    parsed = _parse(body, settings.name, service.backend.dimension)
    if isinstance(parsed, web.Response):
        return parsed
    texts, fmt, dims, input_type = parsed
    try:
        result = await service.embed(service.with_prefix(texts, input_type))
    except InputTooLarge as e:
        return error(413, str(e), param="input")
    except QueueFull as e:
        return error(429, str(e), type_="rate_limit_error", headers={"Retry-After": str(e.retry_after)})
    except BatcherFailed as e:
        return error(503, str(e), type_="server_error", headers={"Retry-After": "1"})
    vectors = result.vectors
    if dims is not None and dims < vectors.shape[1]:
        vectors = vectors[:, :dims]
        if settings.normalize:
            vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    data = [{"object": "embedding", "index": i, "embedding": _render(v, fmt)} for i, v in enumerate(vectors)]
    usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
    body = {"object": "list", "data": data, "model": settings.name, "usage": usage}
    return json_response(body)


async def models(request: web.Request) -> web.Response:
    settings, service = request.app[SETTINGS], request.app[RUNTIME].service
    entry: dict[str, Any] = {"id": settings.name, "object": "model", "created": 0, "owned_by": "vectorops"}
    if service is not None:  # beyond OpenAI's fields: what the operator reports in status.dimension
        backend = service.backend
        entry |= {
            "dimension": backend.dimension,
            "max_seq_length": backend.max_seq_length,
            "revision_digest": backend.identity,  # the files loaded, as in the cache keys
        }
    return web.json_response({"object": "list", "data": [entry]})
