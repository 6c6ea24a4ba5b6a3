"""Probing an external model API the way its users use it: a canary embedding per embedding model
(checked by status/endpoint.py), or one cheap GET for chat models or a configured path.

The answers are only fetched here; what they mean is decided by pure functions. The provider's key is
sent, never logged, and scrubbed from any error text a provider echoes back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec
from vectorops.routing.table import ApiStyle, Capability

CANARY = "vectorops canary: the quick brown fox jumps over the lazy dog"


@dataclass(frozen=True)
class ProbeAnswer:
    """What one probe returned: per embedding model its canary vector, or the reason it failed."""

    latency_ms: float
    vectors: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None


def _scrub(text: str, secret: str | None) -> str:
    text = text[:300]
    return text.replace(secret, "***") if secret else text


def _headers(spec: ExternalModelEndpointSpec, key: str | None) -> dict[str, str]:
    auth = spec.auth
    if auth is None or key is None or auth.type.value == "none":
        return {}
    if auth.type.value == "bearer":
        return {"Authorization": f"Bearer {key}"}
    return {auth.header_name: key}


def _embedding_request(style: ApiStyle, upstream: str) -> tuple[str, dict[str, Any]]:
    if style is ApiStyle.TEI:
        return "/embed", {"inputs": [CANARY]}
    if style is ApiStyle.OLLAMA:
        return "/api/embed", {"model": upstream, "input": [CANARY]}
    return "/embeddings", {"model": upstream, "input": [CANARY]}


def _first_vector(style: ApiStyle, body: Any) -> list[float]:
    if style is ApiStyle.TEI:
        vector = body[0]
    elif style is ApiStyle.OLLAMA:
        vector = body["embeddings"][0]
    else:
        vector = body["data"][0]["embedding"]
    if not isinstance(vector, list) or not all(isinstance(v, (int, float)) for v in vector):
        raise ValueError("the embedding is not a list of numbers")
    return [float(v) for v in vector]


def _cheap_get(spec: ExternalModelEndpointSpec) -> str:
    if spec.health_probe is not None and spec.health_probe.path:
        return spec.health_probe.path
    return {ApiStyle.TEI: "/health", ApiStyle.OLLAMA: "/api/tags"}.get(spec.api_style, "/models")


class EndpointProber:
    """One HTTP session for all probes (connections to a provider are reused between probes)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def probe(self, spec: ExternalModelEndpointSpec, key: str | None) -> ProbeAnswer:
        probe = spec.health_probe
        headers, base = _headers(spec, key), spec.url.rstrip("/")
        # A configured path replaces the canaries (nothing is checked then); chat-only endpoints get one
        # cheap GET: a probe never spends tokens on chat.
        canaries = (
            [] if probe and probe.path else [m for m in spec.models if m.capability is Capability.EMBEDDINGS]
        )
        started = time.perf_counter()
        vectors: dict[str, list[float]] = {}
        try:
            async with asyncio.timeout(probe.timeout_seconds if probe else 5):
                if not canaries:
                    await self._get(f"{base}{_cheap_get(spec)}", headers, key)
                for mapping in canaries:
                    path, body = _embedding_request(spec.api_style, mapping.upstream_model or mapping.name)
                    answer = await self._post(f"{base}{path}", body, headers, key)
                    try:
                        vectors[mapping.name] = _first_vector(spec.api_style, answer)
                    except (KeyError, IndexError, TypeError, ValueError) as e:
                        raise ProbeError(f"{mapping.name}: the answer holds no embedding ({e})") from e
        except ProbeError as e:
            return ProbeAnswer(_ms(started), error=str(e))
        except (aiohttp.ClientError, TimeoutError) as e:
            kind = "timed out" if isinstance(e, TimeoutError) else f"is unreachable ({type(e).__name__})"
            return ProbeAnswer(_ms(started), error=f"{spec.url} {kind}")
        return ProbeAnswer(_ms(started), vectors)

    async def _get(self, url: str, headers: dict[str, str], key: str | None) -> None:
        async with self._client().get(url, headers=headers) as response:
            if response.status != 200:
                raise ProbeError(
                    f"GET {url} answered {response.status}: {_scrub(await response.text(), key)}"
                )

    async def _post(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        key: str | None,
    ) -> Any:
        async with self._client().post(url, json=body, headers=headers) as response:
            if response.status != 200:
                raise ProbeError(
                    f"POST {url} answered {response.status}: {_scrub(await response.text(), key)}"
                )
            try:
                return await response.json(content_type=None)
            except ValueError as e:
                raise ProbeError(f"POST {url} did not answer JSON") from e


class ProbeError(Exception):
    """The provider answered, but not with what a working endpoint answers."""


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
