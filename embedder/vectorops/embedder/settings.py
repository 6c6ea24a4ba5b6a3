"""Embedder settings (VECTOROPS_EMBEDDER_*), set by the operator from the EmbeddingModel spec."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmbedderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VECTOROPS_EMBEDDER_", frozen=True)

    model: str
    """A local directory, or a Hugging Face repo id (loaded from the local cache when offline)."""
    revision: str = "main"
    """Repo revision (`local` for a directory). Cache keys use a digest of the files loaded instead."""
    served_name: str | None = None
    """The name clients put in `model` (default: the model argument)."""
    device: Literal["cpu", "cuda"] = "cpu"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    max_seq_length: int | None = Field(default=None, ge=8)
    normalize: bool = True
    pooling: Literal["mean", "cls", "max", "lasttoken"] | None = None
    """Override the model's configured pooling (default: keep it)."""
    dimensions: int | None = Field(default=None, ge=8)
    """Matryoshka truncation applied to every vector (a request may ask for fewer)."""
    query_prefix: str = ""
    passage_prefix: str = ""

    max_batch_size: int = Field(default=64, ge=1)
    max_batch_tokens: int = Field(default=16384, ge=16)
    max_wait_ms: float = Field(default=5.0, ge=0)
    pass_overhead_tokens: int | None = Field(default=None, ge=0)
    """Fixed cost of a forward pass in padded tokens, for splitting batches (default: by device)."""
    torch_threads: int | None = Field(default=None, ge=1)
    """Intra-op threads for torch on CPU (default: torch's choice, one per core)."""
    max_queue_size: int = Field(default=4096, ge=1)
    """Texts waiting for the model; beyond it requests get 429 with Retry-After."""
    max_request_texts: int = Field(default=2048, ge=1)
    """Inputs per request (OpenAI's limit); beyond it 413."""
    max_input_chars: int = Field(default=100_000, ge=1)
    """Characters per input; beyond it 413."""

    redis_url: SecretStr | None = None
    """May hold a password: a secret, so that it stays out of reprs and logs."""
    cache_ttl_seconds: int = Field(default=86400, ge=1)
    cache_max_entry_bytes: int = Field(default=65536, ge=64)
    cache_timeout_ms: float = Field(default=50.0, gt=0)
    """A Redis call slower than this is abandoned; the request is served without the cache."""
    cache_retry_seconds: float = Field(default=5.0, gt=0)
    """After a Redis failure, the cache is bypassed this long before it is tried again."""
    lru_entries: int = Field(default=10_000, ge=0)
    """In-process LRU in front of Redis (0 disables it)."""

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)

    @property
    def name(self) -> str:
        return self.served_name or self.model
