"""The real backend: sentence-transformers on CPU or CUDA."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import batch_to_device

from vectorops.embedder.backends.base import Encoded
from vectorops.embedder.packing import plan_forwards
from vectorops.embedder.settings import EmbedderSettings

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Fixed cost of one forward pass, in padded-token equivalents (see packing.py). CPU: from a sweep with
# MiniLM on random 64-text batches (16-128 all within noise, 64 best). CUDA: not measured yet; set high so
# a batch stays whole, since on a GPU a pass of a few hundred rows costs little more than one of ten.
_PASS_OVERHEAD_TOKENS = {"cpu": 64, "cuda": 8192}


def _pooling_class() -> type[torch.nn.Module]:
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:
        from sentence_transformers.models import Pooling
    return Pooling  # type: ignore[no-any-return]


def override_pooling(model: SentenceTransformer, mode: str) -> None:
    """Replace the model's pooling module with one of the given mode (mean, cls, max, lasttoken)."""
    pooling = _pooling_class()
    for key, module in model._modules.items():
        if isinstance(module, pooling):
            dimension = getattr(module, "embedding_dimension", None) or module.word_embedding_dimension
            model._modules[key] = pooling(dimension, pooling_mode=mode)
            return
    raise RuntimeError(f"the model has no pooling module to set to {mode!r}")


class SentenceTransformerBackend:
    def __init__(self, settings: EmbedderSettings) -> None:
        if settings.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but torch sees no CUDA device")
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
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
        if settings.pooling:
            override_pooling(self.model, settings.pooling)
        if settings.max_seq_length is not None:
            self.model.max_seq_length = settings.max_seq_length
        self.max_seq_length = int(self.model.max_seq_length or 512)
        self.normalize = settings.normalize
        self.overhead_tokens = settings.pass_overhead_tokens or _PASS_OVERHEAD_TOKENS[settings.device]
        self._left_padded = getattr(self.model.tokenizer, "padding_side", "right") == "left"
        probe = self.model.encode(["dimension probe"], convert_to_numpy=True)  # whatever the version calls it
        self.dimension = int(probe.shape[1])

    def estimate_tokens(self, text: str) -> int:
        # WordPiece/BPE average about 4 characters a token on English; +2 for the special tokens.
        return min(self.max_seq_length, len(text) // 4 + 2)

    def _tokenize(self, texts: list[str]) -> dict[str, Any]:
        preprocess = getattr(self.model, "preprocess", None)  # sentence-transformers >= 6
        features = preprocess(texts) if preprocess is not None else self.model.tokenize(texts)
        return dict(features)

    def _slice(self, features: dict[str, Any], rows: list[int], width: int) -> dict[str, Any]:
        """The rows of one pass, cut to its own longest text (padding sits on one side)."""
        index = torch.tensor(rows)
        cols = slice(-width, None) if self._left_padded else slice(0, width)
        part = {}
        for key, value in features.items():
            if isinstance(value, torch.Tensor) and value.dim() == 2:
                part[key] = value[index][:, cols]
            elif isinstance(value, torch.Tensor):
                part[key] = value[index]
            else:
                part[key] = value
        return part

    def encode(self, texts: list[str]) -> Encoded:
        # What SentenceTransformer.encode does, without tokenizing twice: the attention mask gives the
        # exact token counts for usage, and the batch is split into passes of similar lengths.
        started = time.perf_counter()
        features = self._tokenize(texts)
        counts = [int(n) for n in features["attention_mask"].sum(dim=1).tolist()]
        tokenize_seconds = time.perf_counter() - started
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        passes = []
        for rows in plan_forwards(counts, self.overhead_tokens):
            width = max(counts[r] for r in rows)
            part = batch_to_device(self._slice(features, rows, width), self.model.device)
            with torch.inference_mode():
                embeddings = self.model.forward(part)["sentence_embedding"]
                embeddings = embeddings[:, : self.dimension]
                if self.normalize:
                    embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
                out[rows] = embeddings.float().cpu().numpy()
            passes.append((len(rows), len(rows) * width))
        return Encoded(out, counts, passes, tokenize_seconds)

    def device_memory_bytes(self) -> int | None:
        if self.device == "cuda":
            return int(torch.cuda.memory_allocated())
        return None
