"""The real backend: sentence-transformers on CPU or CUDA."""

from __future__ import annotations

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from vectorops.embedder.backends.base import Vectors
from vectorops.embedder.settings import EmbedderSettings

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class SentenceTransformerBackend:
    def __init__(self, settings: EmbedderSettings) -> None:
        if settings.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but torch sees no CUDA device")
        self.device = settings.device
        self.model = SentenceTransformer(
            settings.model,
            revision=settings.revision
            if "/" in settings.model and not settings.model.startswith("/")
            else None,
            device=settings.device,
            truncate_dim=settings.dimensions,
            model_kwargs={"torch_dtype": _DTYPES[settings.precision]},
        )
        if settings.max_seq_length is not None:
            self.model.max_seq_length = settings.max_seq_length
        self.max_seq_length = int(self.model.max_seq_length or 512)
        self.normalize = settings.normalize
        self.tokenizer = self.model.tokenizer
        probe = self.model.encode(["dimension probe"], convert_to_numpy=True)  # whatever the version calls it
        self.dimension = int(probe.shape[1])

    def token_counts(self, texts: list[str]) -> list[int]:
        encoded = self.tokenizer(
            texts, add_special_tokens=True, truncation=True, max_length=self.max_seq_length
        )
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: list[str]) -> Vectors:
        with torch.inference_mode():
            out = self.model.encode(
                texts,
                batch_size=len(texts),  # the batcher already formed the batch
                convert_to_numpy=True,
                normalize_embeddings=self.normalize,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)

    def device_memory_bytes(self) -> int | None:
        if self.device == "cuda":
            return int(torch.cuda.memory_allocated())
        return None
