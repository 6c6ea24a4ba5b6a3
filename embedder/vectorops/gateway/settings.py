"""Gateway settings (VECTOROPS_GATEWAY_*)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    hosts_file: Path | None = None
    """A hosts file (the /etc/hosts format) consulted before DNS, for environments without cluster DNS
    (vectorops-dev); read again whenever it changes, so names added later resolve without a restart."""
    report_status: bool = True
    """Write the breaker state this replica sees into each ExternalModelEndpoint's status
    (status.gateways.<replica>); needs patch on externalmodelendpoints/status."""
    replica: str = Field(default_factory=socket.gethostname, min_length=1, max_length=253)
    """This replica's name in those reports (in a pod: its name, which is the hostname)."""
    report_interval_seconds: float = Field(default=2.0, gt=0)
    """How often breaker states are compared with what was last written (only changes are written)."""
    seed: int | None = None
    """Seed of the balancer's random choices (tests); None: random."""
    redis_url: SecretStr | None = None
    """Redis for the cache of embedding results (it may hold a password: never logged). None or empty:
    the in-process LRU alone."""
    cache_ttl_seconds: int = Field(default=86400, ge=1)
    """How long a cached embedding stays in Redis."""
    cache_lru_entries: int = Field(default=10_000, ge=0)
    """Embeddings kept in process, in front of Redis; 0 with no redis_url turns the cache off."""
    cache_timeout_ms: float = Field(default=50.0, gt=0)
    """A Redis call slower than this is abandoned; the request is served without the cache."""
    cache_retry_seconds: float = Field(default=5.0, gt=0)
    """After a Redis failure, the cache is bypassed this long before it is tried again."""
