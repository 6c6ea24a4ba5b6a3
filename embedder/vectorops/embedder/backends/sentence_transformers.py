"""The real backend: sentence-transformers on CPU or CUDA."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import batch_to_device

from vectorops.embedder.backends.base import Encoded
from vectorops.embedder.backends.identity import directory_digest, hub_snapshot
from vectorops.embedder.packing import plan_forwards
from vectorops.embedder.settings import EmbedderSettings

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Fixed cost of one forward pass, in padded-token equivalents (see packing.py). CPU: from a sweep with
# MiniLM on random 64-text batches (16-128 all within noise, 64 best). CUDA: not measured yet; set high so
# a batch stays whole, since on a GPU a pass of a few hundred rows costs little more than one of ten.
_PASS_OVERHEAD_TOKENS = {"cpu": 64, "cuda": 8192}


def _module_class(name: str) -> type[torch.nn.Module]:
    """A sentence-transformers module class (Pooling, Normalize) wherever this version keeps it."""
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        from sentence_transformers import models as modules
    return getattr(modules, name)  # type: ignore[no-any-return]


def override_pooling(model: SentenceTransformer, mode: str) -> None:
    """Replace the model's pooling module with one of the given mode (mean, cls, max, lasttoken)."""
    pooling = _module_class("Pooling")
    for key, module in model._modules.items():
        if isinstance(module, pooling):
            dimension = getattr(module, "embedding_dimension", None) or module.word_embedding_dimension
            model._modules[key] = pooling(dimension, pooling_mode=mode)
            return
    raise RuntimeError(f"the model has no pooling module to set to {mode!r}")


def drop_normalize(model: SentenceTransformer) -> None:
    """Take Normalize modules out of the pipeline (many models end in one), so that normalize: false
    gives the pooled vectors as they are."""
    normalize = _module_class("Normalize")
    for key in [k for k, m in model._modules.items() if isinstance(m, normalize)]:
        del model._modules[key]


def _identity(model: str, revision: str | None) -> str:
    """The digest of the files loaded: the directory, or the cached snapshot a repo id resolved to."""
    if os.path.isdir(model):
        return directory_digest(model)
    # sentence-transformers reads a bare name as one of its organisation's repos
    repo = model if "/" in model else f"{SentenceTransformer.default_huggingface_organization}/{model}"
    return directory_digest(hub_snapshot(repo, revision))


class SentenceTransformerBackend:
    def __init__(self, settings: EmbedderSettings) -> None:
        if settings.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but torch sees no CUDA device")
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        self.device = settings.device
        if settings.revision == "local" and not os.path.isdir(settings.model):
            # A path (spec.source.path or volume): said plainly, not as the Hub's "not a valid repo id".
            raise FileNotFoundError(
                f"the model directory {settings.model} does not exist in the container "
                "(check spec.source.path, or spec.source.volume's claim and path)"
            )
        revision = None if os.path.isdir(settings.model) else settings.revision  # `local` for a directory
        self.model = SentenceTransformer(
            settings.model,
            revision=revision,
            device=settings.device,
            truncate_dim=settings.dimensions,
            model_kwargs={"torch_dtype": _DTYPES[settings.precision]},
        )
        # Hashing the files costs a read of the weights, once, here in the loading thread.
        self.identity = _identity(settings.model, revision)
        if settings.pooling:
            override_pooling(self.model, settings.pooling)
        if not settings.normalize:
            drop_normalize(self.model)
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

    def device_memory_total_bytes(self) -> int | None:
        if self.device == "cuda":
            return int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory)
        return None
