"""Embedding cache: an in-process LRU in front of Redis.

Keys: the namespace (a digest of the model files loaded and every setting that changes a vector) and
the prefix-applied text, hashed, so that vectors of different models or settings never mix. Values: the
token count (4 bytes) then float32 vector bytes, so a hit needs no tokenisation for the usage figures.
Redis calls are pipelined per request (one MGET, one pipeline of SET EX) and bounded by a timeout; on
any failure the cache is bypassed for a while (requests are still served, an error counter rises) and
then tried again: redis-py reconnects itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from vectorops.embedder.metrics import Metrics
from vectorops.embedder.settings import EmbedderSettings

Entry = tuple[int, np.ndarray]  # (tokens, vector)


def cache_namespace(settings: EmbedderSettings, identity: str, max_seq_length: int) -> str:
    """Everything that changes a vector: the weights (`identity`, a digest of the files loaded: the
    name and the revision label say nothing when a directory's contents are replaced), the effective
    max sequence length, and the settings below. Prefixes are already in the texts keyed; they are
    here too so that a change of prefix starts afresh rather than mixing old and new entries."""
    return json.dumps(
        {
            "model": identity,
            "pooling": settings.pooling,
            "max_seq_length": max_seq_length,
            "precision": settings.precision,
            "query_prefix": settings.query_prefix,
            "passage_prefix": settings.passage_prefix,
            "dimensions": settings.dimensions,
            "normalize": settings.normalize,
        },
        sort_keys=True,
    )


def redis_location(url: str) -> str:
    """Where the URL points, for logs: no user, password or query (a password may sit in either)."""
    parts = urlsplit(url)
    hostname = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    host = f"{hostname}:{parts.port or 6379}" if hostname else ""
    return f"{parts.scheme}://{host}{parts.path}"


def encode_entry(tokens: int, vector: np.ndarray) -> bytes:
    return struct.pack("<I", tokens) + np.asarray(vector, dtype="<f4").tobytes()


def decode_entry(raw: bytes) -> Entry:
    (tokens,) = struct.unpack_from("<I", raw)
    return tokens, np.frombuffer(raw, dtype="<f4", offset=4).astype(np.float32)


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


class EmbeddingCache:
    def __init__(
        self,
        namespace: str,
        metrics: Metrics,
        redis_url: str | None = None,
        ttl_seconds: int = 86400,
        max_entry_bytes: int = 65536,
        timeout_s: float = 0.05,
        retry_s: float = 5.0,
        lru_entries: int = 10_000,
    ) -> None:
        self.namespace = namespace
        self.metrics = metrics
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

    def key(self, text: str) -> str:
        return "vectorops:emb:" + hashlib.sha256(f"{self.namespace}\0{text}".encode()).hexdigest()

    def _failed(self) -> None:
        self.stats.errors += 1
        self.metrics.cache_errors.inc()
        self._bypass_until = time.monotonic() + self.retry_s

    def _lru_put(self, key: str, raw: bytes) -> None:
        if self.lru_size <= 0:
            return
        self._lru[key] = raw
        self._lru.move_to_end(key)
        while len(self._lru) > self.lru_size:
            self._lru.popitem(last=False)

    async def get_many(self, texts: list[str]) -> list[Entry | None]:
        keys = [self.key(t) for t in texts]
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
            self.metrics.stage_seconds.labels("cache").observe(time.monotonic() - started)
        hits = sum(1 for raw in found if raw is not None)
        self.stats.hits += hits
        self.stats.misses += len(texts) - hits
        self.metrics.cache_lookups.labels("hit").inc(hits)
        self.metrics.cache_lookups.labels("miss").inc(len(texts) - hits)
        return [decode_entry(raw) if raw is not None else None for raw in found]

    async def put_many(self, texts: list[str], tokens: list[int], vectors: np.ndarray) -> None:
        entries = []
        for text, n, vec in zip(texts, tokens, vectors, strict=True):
            raw = encode_entry(n, vec)
            if len(raw) > self.max_entry_bytes:
                continue
            key = self.key(text)
            self._lru_put(key, raw)
            entries.append((key, raw))
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
        self.metrics.stage_seconds.labels("cache").observe(time.monotonic() - started)

    def as_dict(self) -> dict[str, object]:
        return self.stats.as_dict(len(self._lru), self.redis_available)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
