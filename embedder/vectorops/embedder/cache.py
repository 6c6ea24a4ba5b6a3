"""The embedder's cache: the shared vector cache (serving/vector_cache.py: an in-process LRU in front of
Redis, one MGET and one pipeline of SET EX per request, bounded by a timeout, bypassed for a while after
a Redis failure) under keys of its own.

Keys: the namespace (a digest of the model files loaded and every setting that changes a vector) and
the prefix-applied text, hashed, so that vectors of different models or settings never mix. Values: the
token count then float32 vector bytes, so a hit needs no tokenisation for the usage figures.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from vectorops.embedder.metrics import Metrics
from vectorops.embedder.settings import EmbedderSettings
from vectorops.serving.vector_cache import VectorCache, pack_entry, unpack_entry

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


def encode_entry(tokens: int, vector: np.ndarray) -> bytes:
    return pack_entry(tokens, np.asarray(vector, dtype="<f4").tobytes())


def decode_entry(raw: bytes) -> Entry:
    tokens, vector = unpack_entry(raw)
    return tokens, np.frombuffer(vector, dtype="<f4").astype(np.float32)


class _Observer:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def error(self) -> None:
        self.metrics.cache_errors.inc()

    def redis_seconds(self, seconds: float) -> None:
        self.metrics.stage_seconds.labels("cache").observe(seconds)


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
        self.store = VectorCache(
            _Observer(metrics), redis_url, ttl_seconds, timeout_s, retry_s, lru_entries, max_entry_bytes
        )

    @property
    def redis_available(self) -> bool:
        return self.store.redis_available

    def key(self, text: str) -> str:
        return "vectorops:emb:" + hashlib.sha256(f"{self.namespace}\0{text}".encode()).hexdigest()

    async def get_many(self, texts: list[str]) -> list[Entry | None]:
        found = await self.store.get_many([self.key(t) for t in texts])
        hits = sum(1 for raw in found if raw is not None)
        self.metrics.cache_lookups.labels("hit").inc(hits)
        self.metrics.cache_lookups.labels("miss").inc(len(texts) - hits)
        return [decode_entry(raw) if raw is not None else None for raw in found]

    async def put_many(self, texts: list[str], tokens: list[int], vectors: np.ndarray) -> None:
        await self.store.put_many(
            [(self.key(t), encode_entry(n, v)) for t, n, v in zip(texts, tokens, vectors, strict=True)]
        )

    def as_dict(self) -> dict[str, object]:
        return self.store.as_dict()

    async def close(self) -> None:
        await self.store.close()
