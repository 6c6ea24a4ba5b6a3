"""What one probe of a backing service (a store's PostgreSQL or Redis) found."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendProbe:
    reachable: bool
    reason: str  # "Connected", or why not, as a condition reason
    message: str  # for a person: where, and what to fix; never a password
    server_version: str | None = None
    latency_ms: float | None = None
