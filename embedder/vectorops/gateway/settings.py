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
    ingest_max_documents: int = Field(default=512, ge=1)
    """Documents per ingest request (POST /v1/collections/{name}/points); more get 413."""
    ingest_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """UTF-8 bytes of the texts and payloads of one ingest request; more get 413."""
    ingest_embed_batch: int = Field(default=128, ge=1)
    """Texts per embedding call while ingesting (calls run concurrently, four at a time)."""
    collection_request_timeout_seconds: float = Field(default=60.0, gt=0)
    """The longest one ingest, delete or search may take before it is abandoned (503)."""
    search_cache_ttl_seconds: int = Field(default=300, ge=0)
    """How long a search result stays in Redis; 0 (or no redis_url) turns the search cache off."""
    repair_interval_seconds: float = Field(default=60.0, ge=0)
    """How often each collection with PostgreSQL is repaired (unfinished writes completed); 0: never
    in the background (POST /v1/collections/{name}/repair still does)."""
    repair_grace_seconds: float | None = Field(default=None, gt=0)
    """Rows pending or deleting for less than this are left alone (another replica may be writing
    them). None: twice collection_request_timeout_seconds."""
    health_timeout_seconds: float = Field(default=2.0, gt=0)
    """Each reachability check of GET /health/database gives up after this."""
    test_pause_after_qdrant_seconds: float = Field(default=0.0, ge=0)
    """Tests only: sleep this long between the Qdrant upsert and the commit in PostgreSQL, so a test
    can kill the process at that point."""

    @property
    def repair_grace(self) -> float:
        if self.repair_grace_seconds is not None:
            return self.repair_grace_seconds
        return 2 * self.collection_request_timeout_seconds
