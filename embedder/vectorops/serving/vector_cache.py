"""The vector cache both the embedder and the gateway use: an in-process LRU in front of Redis.

Entries: the token count (uint32, little-endian) then the vector as float32 little-endian bytes, so a
hit needs no tokenisation for the usage figures and a base64 answer is the stored bytes as they are.
Keys are the caller's (each component hashes what changes its vectors, under a prefix of its own).
Redis calls are batched per request (one MGET, one pipeline of SET EX) and bounded by a timeout; on any
failure the cache is bypassed for `retry_s` (requests are still served, the observer is told) and then
tried again: redis-py reconnects itself. Metrics stay each component's own: the cache reports errors and
Redis time to an observer, and its callers count hits and misses with their own labels.

No numpy here (the gateway has none): vectors are converted with `struct`.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

_TOKENS = struct.Struct("<I")


def redis_location(url: str) -> str:
    """Where the URL points, for logs: no user, password or query (a password may sit in either)."""
    parts = urlsplit(url)
    hostname = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    host = f"{hostname}:{parts.port or 6379}" if hostname else ""
    return f"{parts.scheme}://{host}{parts.path}"


def pack_entry(tokens: int, vector: bytes) -> bytes:
    """An entry from a token count and float32 little-endian vector bytes."""
    return _TOKENS.pack(tokens) + vector


def unpack_entry(raw: bytes) -> tuple[int, memoryview]:
    """(tokens, the float32 little-endian vector bytes: a view, not a copy)."""
    return _TOKENS.unpack_from(raw)[0], memoryview(raw)[_TOKENS.size :]


def floats_to_bytes(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def bytes_to_floats(raw: bytes | memoryview) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


class CacheObserver(Protocol):
    """A component's own metrics of its cache."""

    def error(self) -> None:
        """A Redis call failed or timed out: the cache is bypassed for a while."""

    def redis_seconds(self, seconds: float) -> None:
        """How long one Redis call (an MGET or a pipeline of SETs) took."""


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    bytes_written: int = 0

    def as_dict(self, lru_entries: int, redis_available: bool) -> dict[str, object]:
        total = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / total, 4) if total else 0.0,
            "bytes": self.bytes_written,
            "errors": self.errors,
            "lru_entries": lru_entries,
            "redis_available": redis_available,
        }


class VectorCache:
    """Raw entries by key: `get_many` and `put_many` each make at most one Redis round trip."""

    def __init__(
        self,
        observer: CacheObserver,
        redis_url: str | None = None,
        ttl_seconds: int = 86400,
        timeout_s: float = 0.05,
        retry_s: float = 5.0,
        lru_entries: int = 10_000,
        max_entry_bytes: int | None = None,
    ) -> None:
        self.observer = observer
        self.ttl, self.max_entry_bytes = ttl_seconds, max_entry_bytes
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self.lru_size = lru_entries
        self._lru: OrderedDict[str, bytes] = OrderedDict()
        self._redis = (
            aioredis.Redis.from_url(
                redis_url, socket_timeout=timeout_s * 4, socket_connect_timeout=timeout_s * 4
            )
            if redis_url
            else None
        )
        self._bypass_until = 0.0
        self.stats = CacheStats()

    @property
    def redis_available(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._bypass_until

    def _failed(self) -> None:
        self.stats.errors += 1
        self.observer.error()
        self._bypass_until = time.monotonic() + self.retry_s

    def _lru_put(self, key: str, raw: bytes) -> None:
        if self.lru_size <= 0:
            return
        self._lru[key] = raw
        self._lru.move_to_end(key)
        while len(self._lru) > self.lru_size:
            self._lru.popitem(last=False)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The entry of each key, None for a miss (Redis failing counts as misses)."""
        found: list[bytes | None] = [self._lru.get(k) for k in keys]
        for k, raw in zip(keys, found, strict=True):
            if raw is not None:
                self._lru.move_to_end(k)
        missing = [i for i, raw in enumerate(found) if raw is None]
        if missing and self.redis_available:
            assert self._redis is not None
            started = time.monotonic()
            try:
                values = await asyncio.wait_for(self._redis.mget([keys[i] for i in missing]), self.timeout_s)
            except (RedisError, OSError, TimeoutError):
                self._failed()
            else:
                for i, value in zip(missing, values, strict=True):
                    if isinstance(value, bytes):
                        found[i] = value
                        self._lru_put(keys[i], value)
            self.observer.redis_seconds(time.monotonic() - started)
        hits = sum(1 for raw in found if raw is not None)
        self.stats.hits += hits
        self.stats.misses += len(keys) - hits
        return found

    async def put_many(self, entries: Sequence[tuple[str, bytes]]) -> None:
        """Store (key, entry) pairs: in the LRU, and in Redis with the TTL. Entries over max_entry_bytes
        are not stored."""
        limit = self.max_entry_bytes
        if limit is not None:
            entries = [(key, raw) for key, raw in entries if len(raw) <= limit]
        for key, raw in entries:
            self._lru_put(key, raw)
        if not entries or not self.redis_available:
            return
        assert self._redis is not None
        started = time.monotonic()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, raw in entries:
                    pipe.set(key, raw, ex=self.ttl)
                await asyncio.wait_for(pipe.execute(), self.timeout_s)
        except (RedisError, OSError, TimeoutError):
            self._failed()
        else:
            self.stats.bytes_written += sum(len(raw) for _, raw in entries)
        self.observer.redis_seconds(time.monotonic() - started)

    def as_dict(self) -> dict[str, object]:
        return self.stats.as_dict(len(self._lru), self.redis_available)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
