"""This replica's breaker states, written into the status of each ExternalModelEndpoint it routes to
(`status.gateways.<replica>`; the contract is in routing/report.py).

Writes are few: an endpoint's entry is written when a breaker of it changes state or trips (checked every
`interval_s`; failure counts and the last error ride along, but do not cause a write on their own, so
an error streak is not a write every tick), and again every REPORT_HEARTBEAT_SECONDS so the operator
can tell a live replica from a gone one. A failed write (the apiserver away, no RBAC for the status) is
retried after a back-off, never in a tight loop, and never fails a request: reporting is a side channel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vectorops.gateway.dispatch import Breakers
from vectorops.routing.report import GATEWAYS_FIELD, REPORT_HEARTBEAT_SECONDS
from vectorops.routing.table import RouteTable

log = logging.getLogger("vectorops.gateway")
ENDPOINT_KIND = "ExternalModelEndpoint"
MAX_ERROR_CHARS = 512  # the CRD's limit on lastError
RETRY_SECONDS = 30.0

View = list[dict[str, Any]]
Patch = Callable[[str, dict[str, Any]], Awaitable[None]]


def endpoint_views(table: RouteTable, breakers: Breakers) -> dict[str, View]:
    """Per ExternalModelEndpoint (by name): each of its routed models and the breaker this replica keeps
    for it. In-cluster models (EmbeddingModels) are not reported: their status is the rollout's."""
    views: dict[str, View] = {}
    for route in table.routes:
        for backend in route.backends:
            kind, _, name = backend.source.partition("/")
            if kind != ENDPOINT_KIND:
                continue
            b = breakers.of(backend).snapshot()
            entry: dict[str, Any] = {
                "model": route.model,
                "breaker": b.state.value,
                "consecutiveFailures": b.consecutive_failures,
                "trips": b.trips,
            }
            if b.last_error:
                entry["lastError"] = b.last_error[:MAX_ERROR_CHARS]
            views.setdefault(name, []).append(entry)
    return {name: sorted(view, key=lambda e: str(e["model"])) for name, view in views.items()}


@dataclass
class StatusReporter:
    """`views` gives what to report (None: no route table yet); `patch` merge-patches one endpoint's
    status with the fragment given (`{"gateways": {replica: ...}}`) and raises on failure."""

    replica: str
    views: Callable[[], dict[str, View] | None]
    patch: Patch
    interval_s: float = 2.0
    heartbeat_s: float = REPORT_HEARTBEAT_SECONDS
    clock: Callable[[], float] = time.monotonic
    _written: dict[str, tuple[View, float]] = field(default_factory=dict)  # name -> (view, when)
    _retry_at: dict[str, float] = field(default_factory=dict)

    def _body(self, view: View | None) -> dict[str, Any]:
        entry = None if view is None else {"observedAt": _now(), "backends": view}
        return {GATEWAYS_FIELD: {self.replica: entry}}

    async def _write(self, name: str, view: View | None) -> bool:
        now = self.clock()
        if self._retry_at.get(name, 0.0) > now:
            return False
        try:
            await self.patch(name, self._body(view))
        except Exception as e:
            if getattr(e, "status", None) == 404:  # the endpoint is gone: nothing left to write into
                self._retry_at.pop(name, None)
                return True
            if name not in self._retry_at:  # once per failure streak, not every tick
                log.warning(
                    "cannot write the breaker state into ExternalModelEndpoint %s (%s); retrying every "
                    "%.0f s",
                    name,
                    _describe(e),
                    RETRY_SECONDS,
                )
            self._retry_at[name] = now + RETRY_SECONDS
            return False
        self._retry_at.pop(name, None)
        log.debug("wrote the breaker state into ExternalModelEndpoint %s", name)
        return True

    async def report_once(self) -> int:
        """Write what changed (or is due for its heartbeat); withdraw from endpoints no longer routed.
        Returns the number of writes made."""
        views = self.views()
        if views is None:
            return 0
        writes, now = 0, self.clock()
        for name, view in sorted(views.items()):
            last = self._written.get(name)
            if last is not None and _states(last[0]) == _states(view) and now - last[1] < self.heartbeat_s:
                continue
            if await self._write(name, view):
                self._written[name] = (view, now)
                writes += 1
        for name in sorted(set(self._written) - set(views)):
            if await self._write(name, None):
                del self._written[name]
                writes += 1
        return writes

    async def run(self) -> None:
        while True:
            try:
                await self.report_once()
            except Exception:  # a bug here must not end reporting, nor the gateway
                log.exception("reporting breaker states failed")
            await asyncio.sleep(self.interval_s)

    async def withdraw(self) -> None:
        """On shutdown: remove this replica's entries (best effort; the operator drops stale ones)."""
        for name in sorted(self._written):
            self._retry_at.pop(name, None)
            await self._write(name, None)
        self._written.clear()


def _states(view: View) -> list[tuple[Any, ...]]:
    """What makes a write due: each model's breaker state and trip count."""
    return [(e["model"], e["breaker"], e["trips"]) for e in view]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _describe(e: Exception) -> str:
    status = getattr(e, "status", None)
    if status == 403:
        return "403 Forbidden: the gateway's ServiceAccount needs patch on externalmodelendpoints/status"
    if status == 404:
        return "404: the endpoint is gone"
    return f"{type(e).__name__} {status}" if status else type(e).__name__
