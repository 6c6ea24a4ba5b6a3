"""An ExternalModelEndpoint's probe answer -> its health status and what it means (pure).

A canary embedding must have the declared dimension, finite values, a unit norm when the model is
declared normalised, and, once a reference is pinned, point the same way as the reference (cosine >=
0.99): a provider that silently swaps the model is caught. Wrong answers make the endpoint unready at
once; a failure to answer (timeouts, 5xx) only after `failureThreshold` probes in a row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec, ModelMapping
from vectorops.operator.status.conditions import format_time
from vectorops.routing.report import REPORT_STALE_SECONDS, BreakerState
from vectorops.routing.table import Capability

MIN_COSINE = 0.99
NORM_TOLERANCE = 0.01


@dataclass(frozen=True)
class ProbeVerdict:
    healthy: bool
    reason: str
    message: str
    wrong_answer: bool = False  # the provider answered wrongly: not Ready at once, whatever the threshold


def encode_reference(vector: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}e", *vector)).decode()


def decode_reference(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 2}e", raw))


def reference_key(spec: ExternalModelEndpointSpec, mapping: ModelMapping) -> str:
    """What a pinned reference is valid for: the URL and the model's mapping."""
    raw = json.dumps([spec.url, mapping.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    na, nb = _norm(a), _norm(b)
    if len(a) != len(b) or na == 0 or nb == 0:
        return 0.0
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)


def _check(
    mapping: ModelMapping, vector: Sequence[float], reference: Sequence[float] | None
) -> tuple[str, str] | None:
    """(reason, message) of what is wrong with a canary vector, or None."""
    name = mapping.name
    if not all(math.isfinite(v) for v in vector):
        return "NotFinite", f"{name}: the canary embedding holds NaN or infinite values"
    if mapping.dimensions is not None and len(vector) != mapping.dimensions:
        return (
            "DimensionMismatch",
            f"{name}: the canary embedding has {len(vector)} dimensions, the spec declares "
            f"{mapping.dimensions}",
        )
    norm = _norm(vector)
    if mapping.normalized and abs(norm - 1.0) > NORM_TOLERANCE:
        return (
            "NormMismatch",
            f"{name}: the canary embedding's norm is {norm:.4f}, but the model is declared normalized "
            "(set normalized: false if the provider does not normalise)",
        )
    if not mapping.normalized and norm == 0:
        return "NormMismatch", f"{name}: the canary embedding is all zeros"
    if reference is not None:
        cosine = _cosine(vector, reference)
        if cosine < MIN_COSINE:
            return (
                "VectorsChanged",
                f"{name}: the canary embedding differs from the pinned reference (cosine {cosine:.3f} < "
                f"{MIN_COSINE}): the provider may serve another model now. If the change is intended, "
                "change the model's identity in the spec to pin a new reference",
            )
    return None


def evaluate(
    spec: ExternalModelEndpointSpec,
    previous: Mapping[str, Any],
    latency_ms: float,
    vectors: Mapping[str, Sequence[float]],
    error: str | None,
    now: datetime,
) -> tuple[dict[str, Any], ProbeVerdict]:
    """The new status.health, and whether the endpoint is healthy, from one probe's answer."""
    pin = spec.health_probe is None or spec.health_probe.pin_reference
    known = {m["name"]: m for m in previous.get("models") or []}
    health: dict[str, Any] = {"lastProbeTime": format_time(now)}
    problem: tuple[str, str] | None = ("ProbeFailed", error) if error is not None else None
    models = []
    for mapping in spec.models:
        if mapping.capability is not Capability.EMBEDDINGS or mapping.name not in vectors:
            continue
        vector = vectors[mapping.name]
        key = reference_key(spec, mapping)
        old = known.get(mapping.name) or {}
        pinned = old.get("reference") if pin and old.get("referenceOf") == key else None
        problem = problem or _check(mapping, vector, decode_reference(pinned) if pinned else None)
        entry: dict[str, Any] = {
            "name": mapping.name,
            "dimension": len(vector),
            "norm": round(_norm(vector), 4),
        }
        if pin:
            entry |= {"reference": pinned or encode_reference(vector), "referenceOf": key}
        models.append(entry)
    if problem is None:
        dims = ", ".join(f"{m['name']}: {m['dimension']} dimensions, norm {m['norm']}" for m in models)
        checked = f"canary checked ({dims})" if models else "answered"
        health |= {"latencyMs": latency_ms, "consecutiveFailures": 0, "models": models}
        return health, ProbeVerdict(True, "Healthy", f"{checked} in {latency_ms:g} ms")
    reason, message = problem
    failures = int(previous.get("consecutiveFailures") or 0) + 1
    health |= {
        "consecutiveFailures": failures,
        "lastError": message,
        "latencyMs": previous.get("latencyMs"),
        "models": models or list(previous.get("models") or []),
    }
    return health, ProbeVerdict(False, reason, message, wrong_answer=reason != "ProbeFailed")


def probe_due(
    spec: ExternalModelEndpointSpec, health: Mapping[str, Any], spec_changed: bool, now: datetime
) -> bool:
    """Probing is rate-limited by intervalSeconds; a changed spec is probed at once."""
    probe = spec.health_probe
    if probe is not None and not probe.enabled:
        return False
    last = parse_time(health.get("lastProbeTime"))
    if spec_changed or last is None:
        return True
    interval = probe.interval_seconds if probe is not None else 30
    return (now - last).total_seconds() >= interval


@dataclass(frozen=True)
class GatewayReports:
    """What the gateway replicas wrote into status.gateways, split into live and gone."""

    open_breakers: list[str]  # "replica: model (trips, last error)" for every open breaker, live replicas
    stale: list[str]  # replicas whose report is older than REPORT_STALE_SECONDS: to be dropped

    def message(self) -> str:
        shown = "; ".join(self.open_breakers[:5])
        more = f"; and {len(self.open_breakers) - 5} more" if len(self.open_breakers) > 5 else ""
        return f"the gateway's circuit breaker is open: {shown}{more}"


def read_gateway_reports(gateways: Mapping[str, Any] | None, now: datetime) -> GatewayReports:
    """Open breakers as the live gateway replicas see them; replicas that stopped reporting."""
    open_breakers, stale = [], []
    for replica, view in sorted((gateways or {}).items()):
        if not isinstance(view, Mapping):
            continue
        observed = parse_time(view.get("observedAt"))
        if observed is None or (now - observed).total_seconds() > REPORT_STALE_SECONDS:
            stale.append(replica)
            continue
        for backend in view.get("backends") or []:
            if isinstance(backend, Mapping) and backend.get("breaker") == BreakerState.OPEN.value:
                error = backend.get("lastError")
                why = f", last error: {error}" if error else ""
                open_breakers.append(
                    f"{replica}: {backend.get('model')} (opened {backend.get('trips', 0)} times{why})"
                )
    return GatewayReports(open_breakers, stale)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from a status field; None when absent, unreadable or without a zone."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
