"""A deterministic stand-in model for unit tests of batching, caching and the API. Not for serving."""

from __future__ import annotations

import hashlib
import threading
import time

import numpy as np

from vectorops.embedder.backends.base import Encoded


class FakeBackend:
    """Vectors derived from a hash of the text; one token per whitespace-separated word (+2 specials)."""

    def __init__(
        self,
        dimension: int = 8,
        max_seq_length: int = 128,
        seconds_per_batch: float = 0.0,
        identity: str = "sha256:fake",
    ) -> None:
        self.dimension = dimension
        self.max_seq_length = max_seq_length
        self.identity = identity
        self.seconds_per_batch = seconds_per_batch
        self.batches: list[list[str]] = []
        self._lock = threading.Lock()

    def estimate_tokens(self, text: str) -> int:
        return min(len(text.split()) + 2, self.max_seq_length)

    def encode(self, texts: list[str]) -> Encoded:
        with self._lock:
            self.batches.append(list(texts))
        if self.seconds_per_batch:
            time.sleep(self.seconds_per_batch)
        rows = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest()
            row = np.frombuffer(digest * (1 + self.dimension * 4 // len(digest)), dtype=np.uint8)[
                : self.dimension
            ]
            vec = row.astype(np.float32) - 127.5
            rows.append(vec / np.linalg.norm(vec))
        tokens = [self.estimate_tokens(t) for t in texts]
        return Encoded(np.stack(rows).astype(np.float32), tokens, [(len(texts), len(texts) * max(tokens))])

    def device_memory_bytes(self) -> int | None:
        return None

    def device_memory_total_bytes(self) -> int | None:
        return None
