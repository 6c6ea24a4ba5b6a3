"""The namespace's route table, kept current by every EmbeddingModel and ExternalModelEndpoint pass.

A pass compiles the table from kopf's in-memory index of the namespace's models and endpoints (their
spec and status as last written), with its own object's fresh contribution in place of its indexed one,
writes the ConfigMap when the content changed, and learns its own verdict at once. The index is filled
before any handler runs, so a table is never compiled from half the namespace after a restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vectorops.operator.adapters.kube import KubeWriter
from vectorops.operator.api.conditions import ConditionStatus, ConditionType
from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec
from vectorops.operator.api.kinds import API_VERSION, EMBEDDING_MODEL
from vectorops.operator.builders.routes import (
    Contribution,
    Verdict,
    compile_routes,
    embeddingmodel_offer,
    endpoint_offer,
    source_of,
)
from vectorops.operator.reconcilers.children import AppliedMemo
from vectorops.operator.reconcilers.outcome import EventNote
from vectorops.operator.status.conditions import ConditionUpdate, find_condition
from vectorops.routing.table import ROUTES_CONFIGMAP, ROUTES_KEY, RouteTable

ROUTE_SOURCES_INDEX = "vectorops_route_sources"
VERSION_ANNOTATION = "vectorops.io/routes-version"


@dataclass(frozen=True)
class RouteSource:
    """What the index keeps of one EmbeddingModel or ExternalModelEndpoint."""

    kind: str
    name: str
    uid: str
    spec: Mapping[str, Any]
    status: Mapping[str, Any]

    @property
    def source(self) -> str:
        return source_of(self.kind, self.name)


def _condition_is(status: Mapping[str, Any], type_: str, value: str) -> bool:
    found = find_condition(status.get("conditions") or [], type_)
    return found is not None and found.get("status") == value


def endpoint_routable(status: Mapping[str, Any]) -> bool:
    """An endpoint may take traffic: its references resolve and its probes do not say it must not."""
    return _condition_is(status, ConditionType.REFERENCES.value, "True") and not _condition_is(
        status, ConditionType.HEALTHY.value, "False"
    )


def contribution_of(source: RouteSource, namespace: str) -> Contribution:
    """An object's offer as its last written status shows it."""
    status = source.status
    if source.kind == EMBEDDING_MODEL.kind:
        if not _condition_is(status, ConditionType.READY.value, "True"):
            return Contribution(source.source, ())
        spec = EmbeddingModelSpec.model_validate(source.spec)
        return embeddingmodel_offer(source.name, namespace, spec, status.get("dimension"))
    if not endpoint_routable(status):
        return Contribution(source.source, ())
    probed = {m["name"]: m["dimension"] for m in (status.get("health") or {}).get("models") or []}
    return endpoint_offer(source.name, ExternalModelEndpointSpec.model_validate(source.spec), probed)


def routed_condition(verdict: Verdict, offered: bool, version: str | None, why_not: str) -> ConditionUpdate:
    """The Routed condition: which models are in the table, or why this object's are not."""
    kind = ConditionType.ROUTED.value
    if not offered:
        return ConditionUpdate(
            kind, ConditionStatus.FALSE, "NotRoutable", f"not in the route table: {why_not}"
        )
    if not verdict.ok:
        reasons = "; ".join(message for _, message in verdict.refused)
        return ConditionUpdate(kind, ConditionStatus.FALSE, verdict.refused[0][0], reasons)
    where = f"ConfigMap {ROUTES_CONFIGMAP}" + (f" (version {version})" if version else "")
    return ConditionUpdate(kind, ConditionStatus.TRUE, "Routed", f"{', '.join(verdict.routed)} in {where}")


def build_configmap(table: RouteTable, sources: Iterable[RouteSource]) -> dict[str, Any]:
    # Every model and endpoint of the namespace owns the table (none controls it): it is garbage
    # collected with the last of them, and never outlives them.
    owners = [
        {"apiVersion": API_VERSION, "kind": s.kind, "name": s.name, "uid": s.uid, "blockOwnerDeletion": False}
        for s in sorted(sources, key=lambda s: s.source)
        if s.uid
    ]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ROUTES_CONFIGMAP,
            "namespace": table.namespace,
            "labels": {"app.kubernetes.io/managed-by": "vectorops", "vectorops.io/routes": "true"},
            "annotations": {VERSION_ANNOTATION: table.version()},
            "ownerReferences": owners,
        },
        "data": {ROUTES_KEY: table.to_json()},
    }


def sources_in(indexes: Mapping[str, Any], namespace: str) -> list[RouteSource]:
    """The namespace's models and endpoints from the route-source indexes (one per kind)."""
    found: list[RouteSource] = []
    for name, index in indexes.items():
        if name.startswith(ROUTE_SOURCES_INDEX) and namespace in index:
            found += [s for s in index[namespace] if isinstance(s, RouteSource)]
    return found


@dataclass
class RouteSync:
    writer: KubeWriter
    refresh_seconds: float = 60.0
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _memo: AppliedMemo = field(init=False)  # per namespace: the table as last written

    def __post_init__(self) -> None:
        self._memo = AppliedMemo(self.refresh_seconds)

    def take_events(self, namespace: str) -> list[EventNote]:
        """The DriftRepaired Event for the pass that put back a table changed or deleted by hand (given
        to one pass only: the table is the namespace's, not one object's)."""
        return self._memo.take_events(namespace)

    async def sync(
        self,
        namespace: str,
        indexes: Mapping[str, Any],
        own: Contribution | None = None,
        gone: str | None = None,
    ) -> tuple[Verdict, RouteTable | None]:
        """Compile with `own` in place of its indexed offer (and without `gone`, being deleted); write
        the ConfigMap if its content changed. Returns `own`'s verdict and the table."""
        sources = [s for s in sources_in(indexes, namespace) if s.source != gone]
        replaced = own.source if own is not None else None
        contributions = [contribution_of(s, namespace) for s in sources if s.source != replaced]
        if own is not None:
            contributions.append(own)
        table, verdicts = compile_routes(namespace, contributions)
        verdict = verdicts.get(replaced or "", Verdict())
        if table is None:
            return verdict, None  # too large: the last table written keeps serving
        manifest = build_configmap(table, sources)
        content = json.dumps(manifest, sort_keys=True)
        async with self._locks.setdefault(namespace, asyncio.Lock()):
            # Written again at least once per resync even when unchanged: a table deleted or edited by
            # hand comes back, and is told (an unchanged server-side apply writes nothing).
            if self._memo.due(namespace, content):
                stored = await self.writer.apply(manifest, namespace)
                self._memo.record(namespace, content, stored, f"route table ConfigMap {ROUTES_CONFIGMAP}")
        return verdict, table
