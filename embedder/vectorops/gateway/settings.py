"""Gateway settings (VECTOROPS_GATEWAY_*)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VECTOROPS_GATEWAY_", frozen=True)

    namespace: str = "default"
    """The namespace whose route table, provider Secrets and API keys this gateway serves."""
    auth: Literal["keys", "none"] = "keys"
    """keys: every request needs an API key from a Secret labelled vectorops.io/gateway-key=true (401
    without one). none: no keys at all (development only)."""
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Larger request bodies get 413, naming this limit."""
    max_inputs: int = Field(default=2048, ge=1)
    """Inputs per embeddings request (OpenAI's limit); more get 413. Larger batches than a backend
    accepts are split, sent in parallel and reassembled."""
    max_connections: int = Field(default=256, ge=1)
    """Upstream connections kept open, over all backends."""
    seed: int | None = None
    """Seed of the balancer's random choices (tests); None: random."""
