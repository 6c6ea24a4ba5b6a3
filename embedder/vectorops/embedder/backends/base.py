"""What the batcher and the API need from a model."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Backend(Protocol):
    dimension: int
    """Dimension of the vectors encode() returns (after any configured truncation)."""
    max_seq_length: int
    """Inputs are truncated to this many tokens."""

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens per text after truncation (special tokens included), as the model will see them."""
        ...

    def encode(self, texts: list[str]) -> Vectors:
        """One row per text, float32, normalised if configured. Blocking: called off the event loop."""
        ...

    def device_memory_bytes(self) -> int | None:
        """Accelerator memory in use, where there is an accelerator."""
        ...
