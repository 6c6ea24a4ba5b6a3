"""A fault-injecting stand-in for a hosted OpenAI-compatible model API, for gateway tests.

Speaks POST /v1/embeddings, POST /v1/chat/completions (plain and `stream: true`), GET /v1/models and
GET /health, in OpenAI's shapes, answering deterministically: an embedding is drawn from a hash of
model and text; a chat reply echoes the last user message, one chunk per word when streamed.

Serves from a thread of its own (start()/stop(), `with`, or `async with` from an async test), so the
faults below can be set from the test's thread at any time:
  fail_next(n, status, body)     the next n model calls answer status (OpenAI's error body by default)
  rate_limit_next(n, retry_after) the next n model calls answer 429 with Retry-After
  delay(seconds)                 every model call waits first; a body field `slow` (seconds, our own
                                 extension: OpenAI would refuse it) slows one request
  stall(times) / unstall()       model calls are accepted and never answered (until unstall())
  break_stream_after(chunks)     the next stream closes its connection after `chunks` events, no [DONE]
  down() / up()                  stop listening (open connections are dropped) / listen on the same port
  max_batch                      embeddings with more inputs answer 400 invalid_request_error, as
                                 OpenAI does past 2048 inputs ("'$.input' is invalid ... array length
                                 must be 2048 or less", per reports) and Azure OpenAI past its limit;
                                 the text is Azure's, which names the limit: "Too many inputs. The
                                 max number of inputs is N." (neither checked against the live APIs)
Faults touch only the model calls (POST /v1/embeddings, /v1/chat/completions), after the auth check;
/v1/models and /health never fail but by down(). Canned answers queue in order of the calls that set them.

`requests` lists what arrived: method, path, model, inputs (embeddings) or messages (chat), stream,
answer status, and the auth header's value as received (kept out of repr: it is a key).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import json
import math
import random
import struct
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MODEL_CALLS = ("/v1/embeddings", "/v1/chat/completions")
DEFAULT_MODELS = ("fake-embedding", "fake-chat")
BODY: web.RequestKey[Any] = web.RequestKey("body")  # the parsed JSON body, None if not JSON


@dataclass
class RequestRecord:
    method: str
    path: str
    model: str | None = None
    inputs: int | None = None  # embeddings: inputs; chat: messages
    stream: bool = False
    status: int | None = None  # None while in flight, or when never answered (stalled, dropped)
    auth: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Canned:
    status: int
    body: Any
    headers: dict[str, str]


def _error(
    status: int, message: str, type_: str, code: str | None = None, param: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(body, status=status)


def _invalid(message: str, param: str | None = None) -> web.Response:
    return _error(400, message, "invalid_request_error", param=param)


def _inputs(raw: Any) -> list[str] | None:
    """OpenAI's input forms: a string, strings, a token array, token arrays. Tokens hash as text."""
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not raw:
        return None
    if all(isinstance(t, str) for t in raw) or all(isinstance(t, list) and t for t in raw):
        return [t if isinstance(t, str) else json.dumps(t) for t in raw]
    if all(isinstance(t, int) and not isinstance(t, bool) for t in raw):
        return [json.dumps(raw)]
    return None


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: the text ones
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _words(text: str) -> int:
    return len(text.split())


class FakeProvider:
    """api_key: required when set, in auth_header; as `Bearer <key>` when bearer (default: only when
    the header is Authorization), else as the header's whole value."""

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        auth_header: str = "Authorization",
        bearer: bool | None = None,
        models: Iterable[str] = DEFAULT_MODELS,
        dimension: int = 8,
        normalize: bool = True,
        max_batch: int | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.api_key, self.auth_header = api_key, auth_header
        self.bearer = auth_header.lower() == "authorization" if bearer is None else bearer
        self.models = tuple(models)
        self.dimension, self.normalize = dimension, normalize
        self.max_batch = max_batch  # may be changed at any time
        self._lock = threading.Lock()  # the test's thread and the server's share what follows
        self._records: list[RequestRecord] = []
        self._canned: collections.deque[_Canned] = collections.deque()
        self._delay = 0.0
        self._stalls = 0.0  # requests left to stall: math.inf until unstall()
        self._breaks: collections.deque[int] = collections.deque()
        self._stalled: set[asyncio.Future[None]] = set()  # touched only in the server's loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as base_url."""
        return self.url + "/v1"

    # -- lifecycle (from the test's thread) -----------------------------------------------------------
    def start(self) -> FakeProvider:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-provider", daemon=True)
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._call(self._unlisten())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = None

    def down(self) -> None:
        """Stop listening and drop open connections; faults and records are kept."""
        self._call(self._unlisten())

    def up(self) -> None:
        self._call(self._listen())

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeProvider:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the fake provider is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/chat/completions", self._chat)
        # A short grace at shutdown: down() drops what is in flight, as a host that dies would.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.05)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _unlisten(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        # Handlers whose client went away keep running (aiohttp does not cancel them); the loop is
        # ours alone, so whatever else is left is one of them: a dead host answers nothing more.
        left = asyncio.all_tasks() - {asyncio.current_task()}
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    # -- faults and records (from any thread) ---------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, body: Any = None) -> None:
        """body: JSON to send (a str is sent as text); default OpenAI's error shape."""
        if body is None:
            body = {
                "error": {"message": "injected failure", "type": "server_error", "param": None, "code": None}
            }
        with self._lock:
            self._canned.extend(_Canned(status, body, {}) for _ in range(n))

    def rate_limit_next(self, n: int = 1, retry_after: str | None = "1") -> None:
        """429 as OpenAI answers it; retry_after None sends no Retry-After."""
        error = {"message": "Rate limit reached (injected)", "type": "requests", "param": None}
        body = {"error": error | {"code": "rate_limit_exceeded"}}
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        with self._lock:
            self._canned.extend(_Canned(429, body, headers) for _ in range(n))

    def delay(self, seconds: float) -> None:
        with self._lock:
            self._delay = seconds

    def stall(self, times: int | None = None) -> None:
        """Never answer the next `times` model calls (every one when None) until unstall()."""
        with self._lock:
            self._stalls = math.inf if times is None else times

    def unstall(self) -> None:
        """Stop stalling; the calls stalled so far are answered now."""
        with self._lock:
            self._stalls = 0
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake)

    def break_stream_after(self, chunks: int, times: int = 1) -> None:
        with self._lock:
            self._breaks.extend([chunks] * times)

    def reset(self) -> None:
        """Forget records and every pending fault."""
        with self._lock:
            self._records.clear()
            self._canned.clear()
            self._breaks.clear()
            self._delay, self._stalls = 0.0, 0
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    # -- serving (in the server's loop) ---------------------------------------------------------------
    def _wake(self) -> None:
        for waiter in self._stalled:
            if not waiter.done():
                waiter.set_result(None)
        self._stalled.clear()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        if request.method == "POST":
            try:
                body = json.loads(await request.read())
            except ValueError:
                body = None
        request[BODY] = body
        fields = body if isinstance(body, dict) else {}
        raw = fields.get("input") if request.path == "/v1/embeddings" else fields.get("messages")
        inputs = _inputs(raw) if request.path == "/v1/embeddings" else raw
        record = RequestRecord(
            method=request.method,
            path=request.path,
            model=fields.get("model") if isinstance(fields.get("model"), str) else None,
            inputs=len(inputs) if isinstance(inputs, list) else None,
            stream=fields.get("stream") is True,
            auth=request.headers.get(self.auth_header),
        )
        with self._lock:
            self._records.append(record)
        try:
            response = await self._answer(request, handler, record, fields)
        except web.HTTPException as e:  # aiohttp's own answers: an unknown path, a wrong method
            record.status = e.status
            raise
        record.status = response.status
        return response

    async def _answer(
        self, request: web.Request, handler: Handler, record: RequestRecord, fields: dict[str, Any]
    ) -> web.StreamResponse:
        if self.api_key is not None and request.path != "/health":
            expected = f"Bearer {self.api_key}" if self.bearer else self.api_key
            if record.auth is None:
                return _error(401, "You didn't provide an API key.", "invalid_request_error")
            if record.auth != expected:  # the key is never echoed back
                return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if request.path not in MODEL_CALLS:
            return await handler(request)
        slow = fields.get("slow")
        with self._lock:
            wait = self._delay + (slow if isinstance(slow, int | float) and slow > 0 else 0)
        if wait:
            await asyncio.sleep(wait)
        with self._lock:
            stall = self._stalls > 0
            self._stalls -= 1 if stall else 0
        if stall:
            waiter = asyncio.get_running_loop().create_future()
            self._stalled.add(waiter)
            await waiter
        with self._lock:
            canned = self._canned.popleft() if self._canned else None
        if canned is None:
            return await handler(request)
        if isinstance(canned.body, str):
            return web.Response(status=canned.status, text=canned.body, headers=canned.headers)
        return web.json_response(canned.body, status=canned.status, headers=canned.headers)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake-provider"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    def _model(self, body: Any) -> str | web.Response:
        if not isinstance(body, dict):
            return _invalid("We could not parse the JSON body of your request.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _invalid("you must provide a model parameter", "model")
        if model not in self.models:
            return _error(
                404, f"The model `{model}` does not exist", "invalid_request_error", "model_not_found"
            )
        return model

    def _vector(self, model: str, text: str, dims: int) -> list[float]:
        seed = hashlib.blake2b(f"{model}\n{text}".encode(), digest_size=16).digest()
        rng = random.Random(int.from_bytes(seed, "big"))
        vector = [rng.gauss(0.0, 1.0) for _ in range(self.dimension)][:dims]
        if self.normalize:  # after truncation, as OpenAI does for `dimensions`
            norm = math.sqrt(sum(x * x for x in vector)) or 1.0
            vector = [x / norm for x in vector]
        return vector

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = request[BODY]
        model = self._model(body)
        if isinstance(model, web.Response):
            return model
        texts = _inputs(body.get("input"))
        if texts is None:
            return _invalid("'input' must be a string, strings, or token arrays, not empty", "input")
        if self.max_batch is not None and len(texts) > self.max_batch:
            return _invalid(f"Too many inputs. The max number of inputs is {self.max_batch}.")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            return _invalid("encoding_format must be float or base64", "encoding_format")
        dims = body.get("dimensions")
        dims = self.dimension if dims is None else dims
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= self.dimension:
            return _invalid(f"dimensions must be an integer from 1 to {self.dimension}", "dimensions")
        data = []
        for i, text in enumerate(texts):
            vector = self._vector(model, text, dims)
            rendered: Any = vector
            if fmt == "base64":
                rendered = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": rendered})
        tokens = sum(max(1, _words(t)) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = request[BODY]
        model = self._model(body)
        if isinstance(model, web.Response):
            return model
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return _invalid("'messages' must be a non-empty array of messages", "messages")
        said = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
        words = (said[-1] if said else "").split() or ["ok"]  # one word, one token
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and 0 < limit < len(words):
            words, finish = words[:limit], "length"
        pieces = [w + " " for w in words[:-1]] + words[-1:]
        prompt = sum(_words(_text(m.get("content"))) for m in messages)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(pieces),
            "total_tokens": prompt + len(pieces),
        }
        head = {
            "id": f"chatcmpl-fake-{self.count()}",
            "created": 0,
            "model": model,
            "system_fingerprint": None,
        }
        if body.get("stream") is not True:
            message = {"role": "assistant", "content": "".join(pieces), "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            return web.json_response(
                head | {"object": "chat.completion", "choices": [choice], "usage": usage}
            )
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
        deltas += [({"content": p}, None) for p in pieces] + [({}, finish)]
        chunks = [
            head
            | {"object": "chat.completion.chunk"}
            | {"choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": f}]}
            | ({"usage": None} if with_usage else {})
            for d, f in deltas
        ]
        if with_usage:  # OpenAI's last chunk: no choices, the usage
            chunks.append(head | {"object": "chat.completion.chunk", "choices": [], "usage": usage})
        return await self._stream(request, chunks)

    async def _stream(self, request: web.Request, chunks: list[dict[str, Any]]) -> web.StreamResponse:
        with self._lock:
            cut = self._breaks.popleft() if self._breaks else None
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for i, chunk in enumerate(chunks):
            if i == cut:
                break
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        else:
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        # Cut mid-stream: what is written goes out, then the connection closes without the end of the
        # chunked body, so a client sees a broken stream rather than a short one. aiohttp's own
        # write_eof afterwards meets a closed transport and lets it be (a ConnectionError).
        if request.transport is not None:
            request.transport.close()
        return response
