"""Operator settings from the environment (VECTOROPS_*), validated by pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """What an operator deployment tunes; the chart sets these as env vars."""

    model_config = SettingsConfigDict(env_prefix="VECTOROPS_", frozen=True)

    namespaces: list[str] = Field(default_factory=list)
    """Namespaces to watch (glob patterns allowed); empty means cluster-wide."""
    resync_seconds: float = Field(default=60.0, gt=0)
    """How often every resource is compared with reality and repaired (drift detection)."""
    default_store: str | None = None
    """VectorStore used by resources that name none (looked up in the resource's namespace)."""
    max_concurrent_reconciles: int = Field(default=16, ge=1)
    """Reconcile passes (change handlers, resync timers and deletions together) running at once; bounds
    API, Qdrant and memory load with many resources. One object never has two passes at once."""
    liveness_endpoint: str | None = "http://0.0.0.0:8080/healthz"
    """Where kopf serves its liveness probe (None disables it)."""
    peering: str | None = None
    """Peering object name for HA (several replicas, one active); None runs standalone."""
    priority: int = 0
    """Peering priority of this replica (distinct per replica)."""
    peering_lifetime_seconds: int = Field(default=60, ge=5, le=3600)
    """How long a replica's keep-alive counts: a replica that stops answering (killed, partitioned) is
    taken for dead after this, and the next one by priority takes over. Shorter hands over faster and
    costs one peering write per replica every lifetime minus a few seconds."""
    field_manager: str = "vectorops"
    """Field manager name for server-side apply and status patches."""
    watch_server_timeout: int = Field(default=300, gt=0)
    """Seconds the apiserver keeps a watch open before the operator re-establishes it."""
    local_store_root: Path | None = None
    """Directory under which `local:` VectorStores (qdrant-client's embedded engine) keep their data,
    one folder per namespace. Unset (the default, and what production wants), `local:` stores are
    refused: they are for development (`make dev` sets it)."""
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    """Port of the operator's Prometheus metrics (GET /metrics); 0 turns them off."""
    metrics_host: str = "0.0.0.0"
    """Address the metrics port is bound on."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of the operator (Secret values never appear at any level)."""

    @field_validator("liveness_endpoint", "default_store", "peering", "local_store_root", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value  # VECTOROPS_X="" switches the feature off

    embedder_image: str = "ghcr.io/vectorops/vectorops:0.1.0"
    """Image of the embedder Deployments."""
    embedder_probe: Literal["auto", "direct", "apiserver"] = "auto"
    """How the operator asks a ready embedder its dimension: `direct` to the Service's DNS name
    (inside the cluster), `apiserver` through the apiserver's service proxy (from outside), `auto`
    picks direct when it runs in a pod."""
