"""The gateway's HTTP API: POST /v1/embeddings, POST /v1/chat/completions (streamed as server-sent
events when asked), GET /v1/models, GET /external/status, /healthz, /readyz, /metrics.

Every answer to a bad request names what was wrong: 400 (the field), 401 (no valid key), 403 (the
model or endpoint this key may not use), 404 (no such model), 413 (the limit), 429 (the key's rate
limit, with Retry-After). No key (the client's or a provider's) ever reaches a log line, a metric label
or an error body: keys are known by their Secret's name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from vectorops.gateway.dispatch import Dispatcher, NoBackendLeft, backend_key
from vectorops.gateway.embedding_cache import EmbeddingResultCache, cache_keys, expected_vector_bytes
from vectorops.gateway.limits import KeyLimiter
from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.snapshot import Grant, Role, Snapshot
from vectorops.gateway.source import SnapshotSource
from vectorops.gateway.upstream import Embedded, Upstream, UpstreamError, read_event
from vectorops.routing.table import Capability, Route
from vectorops.serving.errors import error
from vectorops.serving.responses import json_response, metrics_response

log = logging.getLogger("vectorops.gateway")
ANONYMOUS = Grant("anonymous", Role.ADMIN, None)


@dataclass
class Runtime:
    settings: GatewaySettings
    source: SnapshotSource
    dispatcher: Dispatcher
    upstream: Upstream
    metrics: GatewayMetrics
    limiter: KeyLimiter
    cache: EmbeddingResultCache | None = None  # of embedding results; None: off


RUNTIME = web.AppKey("gateway", Runtime)


class Refused(Exception):
    """A request answered with an error before any backend is called."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _grant(request: web.Request, rt: Runtime, snapshot: Snapshot) -> Grant:
    if rt.settings.auth == "none":
        return ANONYMOUS
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else ""
    grant = snapshot.keys.get(key) if key else None
    if grant is None:
        message = "a valid API key is required (Authorization: Bearer <key>)" if key else "no API key given"
        raise Refused(error(401, message, code="invalid_api_key"))
    return grant


def _admit(rt: Runtime, grant: Grant) -> None:
    wait = rt.limiter.admit(grant)
    if wait is not None:
        limits = []
        if grant.requests_per_minute:
            limits.append(f"requestsPerMinute={grant.requests_per_minute}")
        if grant.tokens_per_minute:
            limits.append(f"tokensPerMinute={grant.tokens_per_minute}")
        raise Refused(
            error(
                429,
                f"rate limit of API key {grant.name} reached ({', '.join(limits)}); retry after {wait} s",
                type_="rate_limit_error",
                headers={"Retry-After": str(wait)},
            )
        )


async def _body(request: web.Request, rt: Runtime) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as e:
        limit = rt.settings.max_body_bytes
        raise Refused(
            error(413, f"the request body is over max_body_bytes={limit}", code="request_too_large")
        ) from e
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise Refused(error(400, "the request body is not valid JSON")) from e
    if not isinstance(body, dict):
        raise Refused(error(400, "the request body must be a JSON object"))
    return body


def _route(snapshot: Snapshot, grant: Grant, body: dict[str, Any], capability: Capability) -> Route:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise Refused(error(400, "model is required", param="model"))
    route = snapshot.table.route(model)
    if route is None:
        raise Refused(
            error(
                404,
                f"The model `{model}` is not served by this gateway",
                param="model",
                code="model_not_found",
            )
        )
    if not grant.may_call(model):
        raise Refused(
            error(
                403,
                f"API key {grant.name} may not use model `{model}`",
                param="model",
                code="model_not_allowed",
            )
        )
    if route.capability is not capability:
        raise Refused(error(400, f"`{model}` is a {route.capability.value} model", param="model"))
    return route


def _upstream_failure(e: UpstreamError | NoBackendLeft, model: str) -> web.Response:
    if isinstance(e, UpstreamError):  # a request error every backend would give: passed on
        return error(e.status or 502, e.message)
    last = e.last
    if last is not None and last.status == 429:
        headers = {"Retry-After": last.retry_after} if last.retry_after else None
        return error(
            429,
            f"every backend of `{model}` is rate limited: {last.message}",
            type_="rate_limit_error",
            headers=headers,
        )
    why = last.message if last is not None else "no backend could be tried"
    return error(
        502, f"every backend of `{model}` failed ({e.tried} tried); the last: {why}", type_="server_error"
    )


def _inputs(body: dict[str, Any], rt: Runtime) -> list[Any]:
    raw = body.get("input")
    if isinstance(raw, str) and raw:
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [raw]  # one token array
    if (
        isinstance(raw, list)
        and raw
        and all((isinstance(t, str) and t) or (isinstance(t, list) and t) for t in raw)
    ):
        if len(raw) > rt.settings.max_inputs:
            message = f"input has {len(raw)} items; the limit is max_inputs={rt.settings.max_inputs}"
            raise Refused(error(413, message, param="input", code="request_too_large"))
        return raw
    raise Refused(
        error(
            400,
            "input must be a non-empty string, or a non-empty list of non-empty strings or token arrays",
            param="input",
        )
    )


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options = {k: body[k] for k in ("encoding_format", "dimensions", "user") if body.get(k) is not None}
    if options.get("encoding_format", "float") not in ("float", "base64"):
        raise Refused(error(400, "encoding_format must be float or base64", param="encoding_format"))
    dims = options.get("dimensions")
    if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool) or dims < 1):
        raise Refused(error(400, "dimensions must be a positive integer", param="dimensions"))
    return options


def _pieces(route: Route, inputs: list[Any]) -> list[list[Any]]:
    """Batches every backend of the route accepts: a request over a backend's limit is split."""
    limits = [b.max_batch for b in route.backends if b.max_batch]
    size = min(limits) if limits else len(inputs)
    return [inputs[i : i + size] for i in range(0, len(inputs), size)]


class Handlers:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def _snapshot(self) -> Snapshot:
        snapshot = self.rt.source.current()
        if snapshot is None:
            raise Refused(
                error(
                    503,
                    "no route table has been read yet",
                    type_="server_error",
                    headers={"Retry-After": "1"},
                )
            )
        return snapshot

    def _count(self, api: str, route: str, status: int, started: float, upstream_s: float = 0.0) -> None:
        m, total = self.rt.metrics, time.perf_counter() - started
        m.child(m.requests, route, api, str(status)).inc()
        m.child(m.request_seconds, route, api).observe(total)
        if upstream_s:
            m.child(m.overhead_seconds, api).observe(max(0.0, total - upstream_s))

    async def _accept(
        self, request: web.Request, capability: Capability
    ) -> tuple[Snapshot, Grant, dict[str, Any], Route]:
        """What every model call checks first, in order: a table, the key, the body, the model (Refused
        with the status and reason of the first that fails)."""
        snapshot = self._snapshot()
        grant = _grant(request, self.rt, snapshot)
        body = await _body(request, self.rt)
        return snapshot, grant, body, _route(snapshot, grant, body, capability)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        started, rt, model = time.perf_counter(), self.rt, "unknown"
        try:
            snapshot, grant, body, route = await self._accept(request, Capability.EMBEDDINGS)
            model = route.model
            inputs, options = _inputs(body, rt), _options(body)
            _admit(rt, grant)
        except Refused as r:
            self._count("embeddings", model, r.response.status, started)
            return r.response
        embed_started = time.perf_counter()
        try:
            vectors, tokens, upstream_s = await self.embed_inputs(snapshot, route, inputs, options)
        except (UpstreamError, NoBackendLeft) as e:
            response = _upstream_failure(e, route.model)
            self._count("embeddings", model, response.status, started, time.perf_counter() - embed_started)
            return response
        rt.limiter.charge(grant, tokens)
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        response = json_response({"object": "list", "data": data, "model": route.model, "usage": usage})
        self._count("embeddings", model, 200, started, upstream_s)
        return response

    async def embed_inputs(
        self, snapshot: Snapshot, route: Route, inputs: list[Any], options: dict[str, Any]
    ) -> tuple[list[Any], int, float]:
        """Every input's vector (in order), the tokens and the seconds spent upstream: what the
        embeddings API answers, and what the collections API embeds with. Raises UpstreamError or
        NoBackendLeft when no backend could answer."""
        rt = self.rt
        # Cached routes: only the inputs that miss go upstream (a request whose every input hits calls
        # no backend); see embedding_cache.py.
        keys: list[str] | None = None
        found: list[bytes | None] | None = None
        size = expected_vector_bytes(route, options.get("dimensions"))
        if rt.cache is not None:
            keys = cache_keys(snapshot.table.namespace, route, options.get("dimensions"), inputs)
            if keys is not None:
                found = await rt.cache.get_many(route.model, keys, size)
        wanted = inputs if found is None else [x for x, raw in zip(inputs, found, strict=True) if raw is None]
        pieces = _pieces(route, wanted) if wanted else []
        answers: list[Embedded] = []
        upstream_s = 0.0
        if pieces:
            upstream_started = time.perf_counter()
            if len(pieces) == 1:  # the common case: no task of its own
                answers = [await self._embed(route, snapshot, pieces[0], options)]
            else:
                answers = list(
                    await asyncio.gather(*(self._embed(route, snapshot, p, options) for p in pieces))
                )
            upstream_s = time.perf_counter() - upstream_started
        if rt.cache is not None and keys is not None and found is not None:
            base64_wanted = options.get("encoding_format") == "base64"
            vectors, tokens = await rt.cache.complete(keys, found, pieces, answers, base64_wanted, size)
        else:
            vectors = [v for answer in answers for v in answer.embeddings]
            tokens = sum(a.prompt_tokens for a in answers)
        return vectors, tokens, upstream_s

    async def _embed(
        self, route: Route, snapshot: Snapshot, piece: list[Any], options: dict[str, Any]
    ) -> Embedded:
        # Each piece goes through the whole policy on its own: only a failed piece is retried or failed
        # over, and pieces may land on different backends (they serve the same vectors: the table
        # refuses backends that do not).
        async def attempt(backend: Any, headers: dict[str, str]) -> Embedded:
            return await self.rt.upstream.embed(backend, headers, piece, options)

        answer, _ = await self.rt.dispatcher.call(route, snapshot, attempt)
        return answer

    async def chat(self, request: web.Request) -> web.StreamResponse:
        started, rt, model = time.perf_counter(), self.rt, "unknown"
        try:
            snapshot, grant, body, route = await self._accept(request, Capability.CHAT)
            model = route.model
            if not isinstance(body.get("messages"), list) or not body["messages"]:
                raise Refused(error(400, "messages must be a non-empty list", param="messages"))
            _admit(rt, grant)
        except Refused as r:
            self._count("chat", model, r.response.status, started)
            return r.response
        if body.get("stream"):
            return await self._stream(request, route, snapshot, body, grant, started)
        upstream_started = time.perf_counter()
        try:
            answer, _ = await rt.dispatcher.call(route, snapshot, lambda b, h: rt.upstream.chat(b, h, body))
        except (UpstreamError, NoBackendLeft) as e:
            response = _upstream_failure(e, route.model)
            self._count("chat", model, response.status, started)
            return response
        upstream_s = time.perf_counter() - upstream_started
        if isinstance(answer, dict):
            answer["model"] = route.model
            rt.limiter.charge(grant, int((answer.get("usage") or {}).get("total_tokens") or 0))
        self._count("chat", model, 200, started, upstream_s)
        return json_response(answer)

    async def _stream(
        self,
        request: web.Request,
        route: Route,
        snapshot: Snapshot,
        body: dict[str, Any],
        grant: Grant,
        started: float,
    ) -> web.StreamResponse:
        rt = self.rt
        try:  # failover happens here only: until the first event, nothing has reached the client
            (upstream, first), backend = await rt.dispatcher.call(
                route, snapshot, lambda b, h: rt.upstream.open_stream(b, h, body)
            )
        except (UpstreamError, NoBackendLeft) as e:
            failed = _upstream_failure(e, route.model)
            self._count("chat", route.model, failed.status, started)
            return failed
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        finished, event = False, first
        try:
            while event:
                await response.write(event)
                if event.startswith(b"data: [DONE]"):
                    finished = True
                    break
                event = await read_event(upstream)
        except (aiohttp.ClientError, TimeoutError):
            pass  # the backend broke off: the client is told below, never left with a silent truncation
        finally:
            upstream.release()
        if not finished:
            message = (
                f"the stream from {backend.source} broke off before it finished; the answer is incomplete"
            )
            breaker = rt.dispatcher.breakers.of(backend)
            permit = breaker.acquire()
            if permit is not None:
                breaker.record_failure(permit, message)  # a cut stream is an outage of that backend
            log.warning("%s (model %s)", message, route.model)
            payload = orjson.dumps(
                {
                    "error": {
                        "message": message,
                        "type": "server_error",
                        "param": None,
                        "code": "stream_interrupted",
                    }
                }
            )
            await response.write(b"data: " + payload + b"\n\n")
        await response.write_eof()
        self._count("chat", route.model, 200 if finished else 502, started)
        return response

    async def models(self, request: web.Request) -> web.Response:
        try:
            snapshot = self._snapshot()
            grant = _grant(request, self.rt, snapshot)
        except Refused as r:
            return r.response
        data = []
        for route in snapshot.table.routes:
            if grant.role is Role.READONLY or grant.may_call(route.model):
                entry: dict[str, Any] = {
                    "id": route.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": "vectorops",
                }
                entry["capability"] = route.capability.value
                identity = route.backends[0].identity if route.backends else None
                if identity is not None:
                    entry["dimension"] = identity.dimension
                data.append(entry)
        return json_response({"object": "list", "data": data})

    async def status(self, request: web.Request) -> web.Response:
        try:
            snapshot = self._snapshot()
            grant = _grant(request, self.rt, snapshot)
            if grant.role not in (Role.ADMIN, Role.READONLY):
                raise Refused(
                    error(403, f"API key {grant.name} (role {grant.role.value}) may not read the status API")
                )
        except Refused as r:
            return r.response
        now, breakers, backends = time.monotonic(), self.rt.dispatcher.breakers, []
        for route in snapshot.table.routes:
            for backend in route.backends:
                b = breakers.of(backend).snapshot()
                backends.append(
                    {
                        "model": route.model,
                        "backend": backend_key(backend),
                        "url": backend.url,
                        "priority": backend.priority,
                        "weight": backend.weight,
                        "group": backend.group,
                        "credential": None
                        if backend.credential is None
                        else ("present" if snapshot.auth_headers(backend) else "missing"),
                        "breaker": {
                            "state": b.state.value,
                            "consecutiveFailures": b.consecutive_failures,
                            "trips": b.trips,
                            "openForSeconds": round(max(0.0, b.open_until - now), 1)
                            if b.open_until
                            else None,
                            "lastError": b.last_error,
                        },
                    }
                )
        return json_response(
            {
                "namespace": snapshot.table.namespace,
                "tableVersion": snapshot.table.version(),
                "backends": backends,
                "cache": self.rt.cache.as_dict() if self.rt.cache is not None else None,
            }
        )

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(self, request: web.Request) -> web.Response:
        if self.rt.source.current() is None:
            return web.Response(status=503, text="no route table has been read yet")
        return web.Response(text="ready")

    async def metrics(self, request: web.Request) -> web.Response:
        return metrics_response(self.rt.metrics.registry)
