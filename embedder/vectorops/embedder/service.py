"""The embedding service: cache lookup, batching for the misses, cache fill. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vectorops.embedder.backends.base import Backend
from vectorops.embedder.batching import DynamicBatcher
from vectorops.embedder.cache import EmbeddingCache
from vectorops.embedder.metrics import Metrics
from vectorops.embedder.settings import EmbedderSettings


class InputTooLarge(ValueError):
    """An input over a configured limit (HTTP 413); the message names the limit."""


@dataclass
class EmbedResult:
    vectors: np.ndarray
    prompt_tokens: int


class EmbeddingService:
    def __init__(
        self,
        settings: EmbedderSettings,
        backend: Backend,
        batcher: DynamicBatcher,
        cache: EmbeddingCache,
        metrics: Metrics,
    ) -> None:
        self.settings, self.backend, self.batcher, self.cache, self.metrics = (
            settings,
            backend,
            batcher,
            cache,
            metrics,
        )

    def check_limits(self, texts: list[str]) -> None:
        s = self.settings
        if len(texts) > s.max_request_texts:
            raise InputTooLarge(
                f"input has {len(texts)} items; the limit is max_request_texts={s.max_request_texts}"
            )
        if len(texts) > s.max_queue_size:  # it could never be queued: retrying would not help
            raise InputTooLarge(
                f"input has {len(texts)} items; the queue holds at most max_queue_size={s.max_queue_size}"
            )
        for i, text in enumerate(texts):
            if len(text) > s.max_input_chars:
                raise InputTooLarge(
                    f"input[{i}] has {len(text)} characters; the limit is max_input_chars={s.max_input_chars}"
                )

    def with_prefix(self, texts: list[str], input_type: str | None) -> list[str]:
        prefix = {"query": self.settings.query_prefix, "passage": self.settings.passage_prefix}.get(
            input_type or "", ""
        )
        return [prefix + t for t in texts] if prefix else texts

    async def embed(self, texts: list[str]) -> EmbedResult:
        """Vectors for the (already prefixed) texts: cached ones from the cache, the rest batched."""
        self.check_limits(texts)
        cached = await self.cache.get_many(texts)
        misses = [i for i, entry in enumerate(cached) if entry is None]
        dim = self.backend.dimension
        vectors = np.empty((len(texts), dim), dtype=np.float32)
        tokens = [0] * len(texts)
        for i, entry in enumerate(cached):
            if entry is not None:
                tokens[i], vectors[i] = entry
        if misses:
            miss_texts = [texts[i] for i in misses]
            computed, counts = await self.batcher.embed(miss_texts)
            for j, i in enumerate(misses):
                vectors[i], tokens[i] = computed[j], counts[j]
            await self.cache.put_many(miss_texts, counts, computed)
        total = sum(tokens)
        self.metrics.texts.inc(len(texts))
        self.metrics.tokens.inc(total)
        return EmbedResult(vectors, total)
