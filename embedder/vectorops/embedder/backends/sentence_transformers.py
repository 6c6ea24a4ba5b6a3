"""The real backend: sentence-transformers on CPU or CUDA."""

from __future__ import annotations

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import batch_to_device

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
        probe = self.model.encode(["dimension probe"], convert_to_numpy=True)  # whatever the version calls it
        self.dimension = int(probe.shape[1])

    def estimate_tokens(self, text: str) -> int:
        # WordPiece/BPE average about 4 characters a token on English; +2 for the special tokens.
        return min(self.max_seq_length, len(text) // 4 + 2)

    def encode(self, texts: list[str]) -> tuple[Vectors, list[int]]:
        # What SentenceTransformer.encode does for one batch, without tokenizing twice: the attention
        # mask gives the exact token counts that the usage figures report.
        features = self.model.tokenize(texts)
        counts = [int(n) for n in features["attention_mask"].sum(dim=1).tolist()]
        features = batch_to_device(features, self.model.device)
        with torch.inference_mode():
            embeddings = self.model.forward(features)["sentence_embedding"]
            embeddings = embeddings[:, : self.dimension]
            if self.normalize:
                embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
            out = embeddings.float().cpu().numpy()
        return np.asarray(out, dtype=np.float32), counts

    def device_memory_bytes(self) -> int | None:
        if self.device == "cuda":
            return int(torch.cuda.memory_allocated())
        return None
