"""What the batcher and the API need from a model."""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Encoded(NamedTuple):
    vectors: Vectors
    """One row per text, in the order of the texts."""
    tokens: list[int]
    """Tokens each text used (its attention mask)."""
    passes: list[tuple[int, int]]
    """(texts, padded tokens) of each forward pass the batch took."""
    tokenize_seconds: float = 0.0


class Backend(Protocol):
    dimension: int
    """Dimension of the vectors encode() returns (after any configured truncation)."""
    max_seq_length: int
    """Inputs are truncated to this many tokens."""
    identity: str
    """A digest of the model files loaded (see identity.py): part of every cache key."""

    def estimate_tokens(self, text: str) -> int:
        """A cheap token estimate (no tokenizer) for packing batches; exact counts come from encode()."""
        ...

    def encode(self, texts: list[str]) -> Encoded:
        """One row per text (float32, normalised if configured) and the tokens each text used.
        Blocking: called off the event loop. Texts are tokenized exactly once, here."""
        ...

    def device_memory_bytes(self) -> int | None:
        """Accelerator memory in use, where there is an accelerator."""
        ...

    def device_memory_total_bytes(self) -> int | None:
        """The accelerator's memory in all, where there is an accelerator."""
        ...
