"""The gateway's cache of embedding results (from in-cluster embedders and external providers alike):
the shared vector cache (serving/vector_cache.py: an in-process LRU in front of Redis, one MGET and one
pipeline of SET EX per request, bounded by a timeout, bypassed for a while after a Redis failure; a
failing Redis never fails a request) under keys of the gateway's own.

Key: `vectorops:gw:v1:` + sha256 of the JSON of (namespace, route model name, the route's vector
identity: model, revision (the one any backend declares), dimension, normalised; the sorted vector
digests of its backends (builders/routes.py: everything that decides a backend's vectors, such as an
EmbeddingModel's pooling, prefixes, precision and revision label, or a provider's URL and model), the
request's `dimensions` option or null), then the JSON of the input (a text, or a token array: JSON tells
the two apart). Namespace and route name scope the entries: another route, or another namespace sharing
the Redis, never reads them, whatever identity it declares. A route whose backends carry no identity is
not cached (nothing says what its vectors are). Two requests differing in anything else
(`encoding_format`, `user`) share entries.

Value: the input's token count, then its vector as float32. An upstream answer reports one token total
for a piece of several inputs; it is apportioned to them by length (characters of a text, items of a
token array; largest remainders first, ties to the earlier input), so the stored counts sum to the
total. A hit reports its stored count, so a request's usage is the same whether cached or not (up to
that apportioning).

Answers on a cached route are rendered from the float32 bytes, hit or fresh: base64 is those bytes,
floats are their values. So an answer never depends on whether it came from the cache (a provider's
float64 digits are rounded to float32 on these routes). A base64 answer from upstream is decoded to
those bytes before it is stored.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import struct
from collections.abc import Sequence
from typing import Any

import orjson

from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.upstream import Embedded
from vectorops.routing.table import Route
from vectorops.serving.vector_cache import (
    VectorCache,
    bytes_to_floats,
    floats_to_bytes,
    pack_entry,
    redis_location,
    unpack_entry,
)

log = logging.getLogger("vectorops.gateway")
PREFIX = "vectorops:gw:v1:"  # v1: the entry format below; a new format gets a new prefix
MAX_TOKENS = 0xFFFFFFFF  # an entry's count is a uint32


def cache_keys(
    namespace: str, route: Route, dimensions: int | None, inputs: Sequence[Any]
) -> list[str] | None:
    """A key per input (None: the route is not cached, or an input cannot be serialised)."""
    identity = route.backends[0].identity if route.backends else None
    if identity is None:
        return None
    revision = next((b.identity.revision for b in route.backends if b.identity and b.identity.revision), None)
    digests = sorted({b.vector_digest or "" for b in route.backends})
    head = orjson.dumps(
        [
            namespace,
            route.model,
            identity.model,
            revision,
            identity.dimension,
            identity.normalized,
            digests,
            dimensions,
        ]
    )
    try:
        return [PREFIX + hashlib.sha256(head + orjson.dumps(item)).hexdigest() for item in inputs]
    except (orjson.JSONEncodeError, TypeError):
        return None


def expected_vector_bytes(route: Route, dimensions: int | None) -> int:
    """The float32 size of the route's vectors: the `dimensions` asked, else the identity's."""
    identity = route.backends[0].identity if route.backends else None
    return 4 * (dimensions or (identity.dimension if identity else 0))


def apportion(total: int, inputs: Sequence[Any]) -> list[int]:
    """`total` tokens shared by the inputs' lengths, summing to `total` exactly."""
    total = min(max(0, total), MAX_TOKENS)
    if len(inputs) == 1:
        return [total]
    weights = [max(1, len(item)) for item in inputs]
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    left = total - sum(shares)  # fewer than len(inputs)
    by_remainder = sorted(range(len(inputs)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


def as_float32(vector: Any) -> bytes | None:
    """An upstream vector (floats, or base64 of float32) as float32 bytes; None if it is neither."""
    try:
        if isinstance(vector, str):
            raw = base64.b64decode(vector, validate=True)
            return raw if raw and len(raw) % 4 == 0 else None
        if isinstance(vector, list) and vector:
            return floats_to_bytes(vector)
    except (ValueError, TypeError, OverflowError, struct.error):
        pass
    return None


def render(raw: bytes | memoryview, base64_wanted: bool) -> str | list[float]:
    return base64.b64encode(raw).decode() if base64_wanted else bytes_to_floats(raw)


class _Observer:
    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def error(self) -> None:
        self.metrics.cache_errors.inc()

    def redis_seconds(self, seconds: float) -> None:
        pass  # the gateway's overhead histogram includes it


class EmbeddingResultCache:
    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        url = settings.redis_url.get_secret_value() if settings.redis_url is not None else ""
        self.metrics = metrics
        self.store = VectorCache(
            _Observer(metrics),
            url or None,  # an empty value (no Secret key set): no Redis
            ttl_seconds=settings.cache_ttl_seconds,
            timeout_s=settings.cache_timeout_ms / 1000,
            retry_s=settings.cache_retry_seconds,
            lru_entries=settings.cache_lru_entries,
        )
        redis = f"Redis at {redis_location(url)}" if url else "no Redis"
        self.description = f"in-process LRU of {settings.cache_lru_entries} entries, {redis}"

    @classmethod
    def of(cls, settings: GatewaySettings, metrics: GatewayMetrics) -> EmbeddingResultCache | None:
        """The cache the settings ask for; None when they turn it off (no Redis and no LRU)."""
        no_redis = settings.redis_url is None or not settings.redis_url.get_secret_value()
        if no_redis and settings.cache_lru_entries <= 0:
            log.info("embedding cache: off")
            return None
        cache = cls(settings, metrics)
        log.info("embedding cache: %s", cache.description)
        return cache

    async def get_many(self, route: str, keys: Sequence[str], vector_bytes: int) -> list[bytes | None]:
        """Entries of `keys`; one that is not a token count and a vector of `vector_bytes` (a corrupt or
        foreign value) is a miss, answered afresh and overwritten."""
        found = [
            raw if raw is not None and len(raw) == 4 + vector_bytes else None
            for raw in await self.store.get_many(keys)
        ]
        hits = sum(1 for raw in found if raw is not None)
        m = self.metrics
        if hits:
            m.child(m.cache_lookups, route, "hit").inc(hits)
        if hits < len(keys):
            m.child(m.cache_lookups, route, "miss").inc(len(keys) - hits)
        return found

    async def complete(
        self,
        keys: Sequence[str],
        found: Sequence[bytes | None],
        pieces: Sequence[Sequence[Any]],
        answers: Sequence[Embedded],
        base64_wanted: bool,
        vector_bytes: int,
    ) -> tuple[list[Any], int]:
        """Every input's vector in input order, and the request's tokens: hits from `found`, the others
        from `answers` (one per piece of the inputs that missed, in order), which are stored when they
        have the expected size (`vector_bytes`)."""
        missed = [key for key, raw in zip(keys, found, strict=True) if raw is None]
        fresh: list[Any] = []
        stored: list[tuple[str, bytes]] = []
        tokens = 0
        for piece, answer in zip(pieces, answers, strict=True):
            tokens += answer.prompt_tokens
            counts = apportion(answer.prompt_tokens, piece)
            for count, vector in zip(counts, answer.embeddings, strict=True):
                raw = as_float32(vector)
                if raw is None or len(raw) != vector_bytes:
                    fresh.append(vector)  # not understood, or not the size asked: passed on, not stored
                else:
                    stored.append((missed[len(fresh)], pack_entry(count, raw)))
                    fresh.append(render(raw, base64_wanted))
        if stored:
            await self.store.put_many(stored)
        vectors, next_fresh = [], iter(fresh)
        for raw in found:
            if raw is None:
                vectors.append(next(next_fresh))
            else:
                count, vector = unpack_entry(raw)
                tokens += count
                vectors.append(render(vector, base64_wanted))
        return vectors, tokens

    def as_dict(self) -> dict[str, object]:
        return self.store.as_dict()

    async def close(self) -> None:
        await self.store.close()
