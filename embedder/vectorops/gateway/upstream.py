"""One call to one backend, in its API style. Failures become UpstreamError with a message safe to show
(the provider's key is scrubbed from anything it echoes back); the client's own headers never travel
upstream: each call is built from the backend's credential alone."""

from __future__ import annotations

import base64
import functools
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from vectorops.routing.table import ApiStyle, Backend, Policy
from vectorops.serving.vector_cache import floats_to_bytes

log = logging.getLogger("vectorops.gateway")


class UpstreamError(Exception):
    """status None: no answer (connection refused, timeout, a cut stream)."""

    def __init__(
        self,
        status: int | None,
        message: str,
        retry_after: str | None = None,
        body: bytes | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        if status is None and cause is None:
            cause = ConnectionError(message)  # no answer is an outage, whatever the reason
        self.status, self.message, self.retry_after, self.body, self.cause = (
            status,
            message,
            retry_after,
            body,
            cause,
        )


@dataclass(frozen=True)
class Embedded:
    """One backend's answer: an embedding per input (a float list, or base64 when asked), and tokens."""

    embeddings: list[Any]
    prompt_tokens: int


def _scrub(text: str, secrets: dict[str, str]) -> str:
    """At most 500 characters of `text` with every key replaced: replaced first, then cut, so a key that
    straddles the cut cannot leave its first part behind."""
    for value in secrets.values():
        token = value.removeprefix("Bearer ")
        if token:
            text = text.replace(token, "***")
    return text[:500]


def _embedding_call(
    backend: Backend, inputs: list[Any], options: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    if backend.api_style is ApiStyle.TEI:
        return "/embed", {"inputs": inputs}
    if backend.api_style is ApiStyle.OLLAMA:
        return "/api/embed", {"model": backend.upstream_model, "input": inputs}
    return "/embeddings", {"model": backend.upstream_model, "input": inputs, **options}


def _embeddings_of(backend: Backend, body: Any, n: int, base64_wanted: bool) -> Embedded:
    if backend.api_style is ApiStyle.OPENAI:
        data = sorted(body["data"], key=lambda d: d["index"])
        vectors = [d["embedding"] for d in data]
        tokens = int((body.get("usage") or {}).get("prompt_tokens") or 0)
    elif backend.api_style is ApiStyle.TEI:
        vectors, tokens = list(body), 0  # TEI does not report usage
    else:
        vectors, tokens = list(body["embeddings"]), int(body.get("prompt_eval_count") or 0)
    if len(vectors) != n:
        raise ValueError(f"{len(vectors)} embeddings for {n} inputs")
    if base64_wanted and backend.api_style is not ApiStyle.OPENAI:
        vectors = [base64.b64encode(floats_to_bytes(v)).decode() for v in vectors]
    return Embedded(vectors, tokens)


def parse_hosts(text: str) -> dict[str, list[str]]:
    """A hosts file (the /etc/hosts format: an address, then its names; `#` starts a comment) as
    lower-case name -> addresses in file order. Lines whose address is not an IP address are skipped."""
    hosts: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            address = str(ipaddress.ip_address(fields[0]))
        except ValueError:
            continue
        for name in fields[1:]:
            hosts.setdefault(name.lower().rstrip("."), []).append(address)
    return hosts


class HostsFileResolver(AbstractResolver):
    """Names in `path` (a hosts file) first, then the default resolver (DNS). The file is read again
    when it changes (mtime, size or inode), so names added later resolve without a restart; a file that
    is missing or unreadable resolves nothing (the last good content is kept while it is unreadable).
    For environments without cluster DNS, such as vectorops-dev, where Service names are written here.
    (aiohttp's connector caches each answer 10 s: a name that moves is followed within that time.)"""

    _FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV

    def __init__(self, path: Path, fallback: AbstractResolver | None = None) -> None:
        self.path = path
        self._fallback = fallback
        self._seen: tuple[int, int, int] | None = None
        self._hosts: dict[str, list[str]] = {}

    def _current(self) -> dict[str, list[str]]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._hosts = None, {}
            return self._hosts
        except OSError:
            return self._hosts
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen != self._seen:
            try:
                self._hosts = parse_hosts(self.path.read_text(errors="replace"))
                self._seen = seen
            except OSError as e:
                log.warning("hosts file %s is unreadable (%s): keeping what it said before", self.path, e)
        return self._hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = []
        for address in self._current().get(host.lower().rstrip("."), []):
            af = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, af):
                found.append(
                    ResolveResult(
                        hostname=host, host=address, port=port, family=af, proto=0, flags=self._FLAGS
                    )
                )
        if found:
            return found
        if self._fallback is None:
            self._fallback = DefaultResolver()  # made here: it needs the running event loop
        return await self._fallback.resolve(host, port, family)

    async def close(self) -> None:
        if self._fallback is not None:
            await self._fallback.close()


class Upstream:
    """All upstream HTTP of the gateway, over one connection pool."""

    def __init__(self, max_connections: int = 256, hosts_file: Path | None = None) -> None:
        self._max_connections = max_connections
        self._hosts_file = hosts_file
        self._resolver: HostsFileResolver | None = None
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if self._hosts_file is not None and self._resolver is None:
                self._resolver = HostsFileResolver(self._hosts_file)
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, enable_cleanup_closed=True, resolver=self._resolver
            )
            # No cookie jar: a provider's cookies must never ride on another client's request (and
            # parsing Set-Cookie on every answer costs time for nothing).
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._resolver is not None:  # given to the connector, so ours to close
            await self._resolver.close()

    @staticmethod
    @functools.lru_cache(maxsize=1024)  # policies are frozen and hashable: one object per policy
    def _timeout_of(policy: Policy, streaming: bool) -> aiohttp.ClientTimeout:
        if streaming:  # a stream may last long: the limit is on silence between chunks
            return aiohttp.ClientTimeout(
                sock_connect=policy.connect_timeout_s, sock_read=policy.request_timeout_s
            )
        return aiohttp.ClientTimeout(total=policy.request_timeout_s, sock_connect=policy.connect_timeout_s)

    def _timeout(self, backend: Backend, streaming: bool = False) -> aiohttp.ClientTimeout:
        return self._timeout_of(backend.policy, streaming)

    async def _post(self, backend: Backend, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        url = f"{backend.url}{path}"
        try:
            sent = {**headers, "Content-Type": "application/json"}
            async with self._client().post(
                url, data=orjson.dumps(body), headers=sent, timeout=self._timeout(backend)
            ) as r:
                raw = await r.read()
                if r.status != 200:
                    text = _scrub(raw.decode(errors="replace"), headers)
                    message = f"{backend.source} answered {r.status}: {text}"
                    raise UpstreamError(r.status, message, r.headers.get("Retry-After"), raw)
                return orjson.loads(raw)
        except (aiohttp.ClientError, TimeoutError) as e:
            what = "timed out" if isinstance(e, TimeoutError) else f"is unreachable ({type(e).__name__})"
            raise UpstreamError(None, f"{backend.source} {what}", cause=e) from e
        except orjson.JSONDecodeError as e:
            raise UpstreamError(502, f"{backend.source} did not answer JSON", cause=e) from e

    async def embed(
        self, backend: Backend, headers: dict[str, str], inputs: list[Any], options: dict[str, Any]
    ) -> Embedded:
        path, body = _embedding_call(backend, inputs, options)
        answer = await self._post(backend, path, body, headers)
        try:
            return _embeddings_of(backend, answer, len(inputs), options.get("encoding_format") == "base64")
        except (KeyError, TypeError, ValueError) as e:
            raise UpstreamError(502, f"{backend.source} answered an unexpected shape: {e}", cause=e) from e

    async def chat(self, backend: Backend, headers: dict[str, str], body: dict[str, Any]) -> Any:
        return await self._post(
            backend, "/chat/completions", {**body, "model": backend.upstream_model}, headers
        )

    async def open_stream(
        self, backend: Backend, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """Start a streamed chat completion and read its first event: a failure until then can still be
        failed over (nothing has reached the client yet)."""
        url = f"{backend.url}/chat/completions"
        payload = {**body, "model": backend.upstream_model, "stream": True}
        try:
            response = await self._client().post(
                url, json=payload, headers=headers, timeout=self._timeout(backend, streaming=True)
            )
        except (aiohttp.ClientError, TimeoutError) as e:
            what = "timed out" if isinstance(e, TimeoutError) else f"is unreachable ({type(e).__name__})"
            raise UpstreamError(None, f"{backend.source} {what}", cause=e) from e
        if response.status != 200:
            raw = await response.read()
            response.release()
            text = _scrub(raw.decode(errors="replace"), headers)
            raise UpstreamError(
                response.status,
                f"{backend.source} answered {response.status}: {text}",
                response.headers.get("Retry-After"),
                raw,
            )
        try:
            first = await read_event(response)
        except (aiohttp.ClientError, TimeoutError) as e:
            response.release()
            raise UpstreamError(None, f"{backend.source} broke off before its first event", cause=e) from e
        if not first:
            response.release()
            raise UpstreamError(None, f"{backend.source} ended the stream before its first event")
        return response, first


async def read_event(response: aiohttp.ClientResponse) -> bytes:
    """One server-sent event (its lines up to the blank line that ends it); b"" at the end of the stream."""
    lines: list[bytes] = []
    while True:
        line = await response.content.readline()
        if not line:
            return b"".join(lines)  # end of stream (an unterminated last event is passed on as it is)
        lines.append(line)
        if line in (b"\n", b"\r\n"):
            return b"".join(lines)
