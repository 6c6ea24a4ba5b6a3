"""Search results cached in Redis, invalidated by a per-collection write generation.

Key: `vectorops:gw:search:v1:` + sha256 of the JSON of (namespace, collection, generation, the normalised
query and every parameter that changes the answer). The generation is a Redis counter per collection,
incremented after every acknowledged write and every repair (by whichever replica did it), so an entry
written before a change is never read after it: readers look the generation up first. Entries also
expire after the TTL.

Redis is an accelerator only: a failing or slow Redis (bounded by a timeout) is bypassed for a while and
never fails a search or a write. A generation bump that failed is retried by this replica before its next
cache use; until then, entries of the old generation can be served for at most the TTL (docs/datapath.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.settings import GatewaySettings
from vectorops.serving.vector_cache import redis_location

log = logging.getLogger("vectorops.gateway")
PREFIX = "vectorops:gw:search:v1:"
GENERATION_PREFIX = "vectorops:gw:generation:v1:"
_FAILURES = (RedisError, OSError, TimeoutError)


def generation_key(namespace: str, collection: str) -> str:
    return GENERATION_PREFIX + hashlib.sha256(f"{namespace}/{collection}".encode()).hexdigest()


class SearchCache:
    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        url = settings.redis_url.get_secret_value() if settings.redis_url is not None else ""
        self.metrics, self.ttl = metrics, settings.search_cache_ttl_seconds
        self.timeout_s, self.retry_s = settings.cache_timeout_ms / 1000, settings.cache_retry_seconds
        self.location = redis_location(url) if url else None
        self._redis = (
            aioredis.Redis.from_url(
                url, socket_timeout=self.timeout_s * 4, socket_connect_timeout=self.timeout_s * 4
            )
            if url
            else None
        )
        self.enabled = self._redis is not None and self.ttl > 0
        self._bypass_until = 0.0
        self._unbumped: set[str] = set()  # generation keys whose increment failed
        self.hits = self.misses = self.errors = self.bypassed = 0

    @property
    def available(self) -> bool:
        return self.enabled and time.monotonic() >= self._bypass_until

    def _failed(self, what: str, e: BaseException) -> None:
        self.errors += 1
        self.metrics.search_cache_errors.inc()
        self._bypass_until = time.monotonic() + self.retry_s
        log.warning(
            "search cache: Redis %s failed (%s): bypassed for %.0f s", what, type(e).__name__, self.retry_s
        )

    def _count(self, outcome: str) -> None:
        self.metrics.child(self.metrics.search_cache_lookups, outcome).inc()

    async def _flush_bumps(self) -> None:
        assert self._redis is not None
        if self._unbumped:
            keys = list(self._unbumped)
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.incr(key)
                await asyncio.wait_for(pipe.execute(), self.timeout_s)
            self._unbumped.difference_update(keys)

    async def lookup(self, namespace: str, collection: str, query: Any) -> tuple[Any | None, str | None]:
        """(the cached answer or None, the key to store a fresh answer under, None: do not store)."""
        if not self.available:
            if self.enabled:
                self.bypassed += 1
                self._count("bypass")
            return None, None
        assert self._redis is not None
        try:
            await self._flush_bumps()
            generation = await asyncio.wait_for(
                self._redis.get(generation_key(namespace, collection)), self.timeout_s
            )
            head = orjson.dumps([namespace, collection, int(generation or 0)])
            key = PREFIX + hashlib.sha256(head + orjson.dumps(query, option=orjson.OPT_SORT_KEYS)).hexdigest()
            raw = await asyncio.wait_for(self._redis.get(key), self.timeout_s)
        except _FAILURES as e:
            self._failed("lookup", e)
            self._count("bypass")
            return None, None
        if raw is None:
            self.misses += 1
            self._count("miss")
            return None, key
        try:
            found = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.misses += 1
            self._count("miss")
            return None, key  # a foreign or corrupt value: answered afresh and overwritten
        self.hits += 1
        self._count("hit")
        return found, None

    async def store(self, key: str, answer: Any) -> None:
        if not self.available:
            return
        assert self._redis is not None
        try:
            await asyncio.wait_for(self._redis.set(key, orjson.dumps(answer), ex=self.ttl), self.timeout_s)
        except _FAILURES as e:
            self._failed("store", e)

    async def bump(self, namespace: str, collection: str) -> int | None:
        """A new generation for the collection (after a write or repair); None when Redis failed (the
        increment is retried before this replica's next cache use)."""
        if not self.enabled:
            return None
        assert self._redis is not None
        key = generation_key(namespace, collection)
        try:
            self._unbumped.discard(key)
            return int(await asyncio.wait_for(self._redis.incr(key), self.timeout_s))
        except _FAILURES as e:
            self._unbumped.add(key)
            self._failed("generation increment", e)
            return None

    async def ping(self) -> None:
        """Raises when Redis does not answer (the health check)."""
        if self._redis is None:
            return
        await asyncio.wait_for(self._redis.ping(), self.timeout_s * 20)

    def as_dict(self) -> dict[str, object]:
        total = self.hits + self.misses
        return {
            "enabled": self.enabled,
            "redis": self.location,
            "ttl_seconds": self.ttl,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / total, 4) if total else 0.0,
            "bypassed": self.bypassed,
            "errors": self.errors,
            "redis_available": self.available,
        }

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
