"""An object's alert rules, delivered to Prometheus: a PrometheusRule where the Prometheus operator's
CRDs are served, else a rules ConfigMap (builders/rule_delivery.py); pruned when the spec turns the
rules off, and the kind of delivery said in the `Alerts` condition."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from vectorops.operator.adapters.kube import KubeFailure, KubeWriter
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.builders.embedder_monitoring import MONITORING_API
from vectorops.operator.builders.rule_delivery import (
    RULES_LABEL,
    prometheus_rule,
    rules_configmap,
    rules_file,
    rules_name,
)
from vectorops.operator.builders.rule_files import Manifest
from vectorops.operator.reconcilers.children import AppliedMemo, apply_or_prune
from vectorops.operator.reconcilers.outcome import Context, EventNote
from vectorops.operator.status.conditions import ConditionUpdate

PROMETHEUS_RULE = (MONITORING_API, "PrometheusRule")
CONFIGMAP = ("v1", "ConfigMap")
RULES_IN_CONFIGMAP = "RulesInConfigMap"
DEFAULT_LABELS = {"app.kubernetes.io/managed-by": "vectorops", "app.kubernetes.io/component": "alerts"}


@dataclass
class RuleSync:
    """`refresh_seconds`: an unchanged group is applied again only this often (a rule object deleted or
    edited by hand comes back within it, and take_events() then has a DriftRepaired Event saying so),
    so frequent passes (endpoints tick every few seconds) cost no API calls."""

    writer: KubeWriter
    refresh_seconds: float = 60.0
    _memo: AppliedMemo = field(init=False)

    def __post_init__(self) -> None:
        self._memo = AppliedMemo(self.refresh_seconds)

    def take_events(self, uid: str) -> list[EventNote]:
        """A DriftRepaired Event when the object's last sync put back a rule object changed or deleted
        by someone else (given out once)."""
        return self._memo.take_events(uid)

    async def sync(
        self,
        ctx: Context,
        owner_kind: str,
        prefix: str,
        group: Manifest | None,
        name: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> ConditionUpdate | None:
        """Apply (or prune) the object's rules, named `name` (default `vectorops-<prefix>-<object>`); the
        Alerts condition, or None when no rules are asked for (the condition is then removed)."""
        name = name or rules_name(prefix, ctx.name)
        labels = labels or {
            "app.kubernetes.io/managed-by": "vectorops",
            "app.kubernetes.io/component": "alerts",
        }
        kind = ConditionType.ALERTS.value
        try:
            served = await self.writer.served(*PROMETHEUS_RULE)
            content = json.dumps([name, group, served], sort_keys=True)
            if self._memo.due(ctx.uid, content):
                rule = prometheus_rule(name, labels, group) if group is not None and served else None
                configmap = rules_configmap(name, labels, group) if group is not None and not served else None
                stored = None
                if served:  # (an unserved kind has nothing to prune)
                    stored = await apply_or_prune(self.writer, ctx, owner_kind, PROMETHEUS_RULE, name, rule)
                stored = (
                    await apply_or_prune(
                        self.writer, ctx, owner_kind, CONFIGMAP, name, configmap, RULES_LABEL
                    )
                    or stored
                )
                what = f"{'PrometheusRule' if served else 'ConfigMap'} {name} (alert rules)"
                self._memo.record(ctx.uid, content, stored, what)
        except KubeFailure as e:
            self._memo.forget(ctx.uid)
            if group is None:
                return None  # nothing asked for; a stale child is pruned on a later pass
            return ConditionUpdate(
                kind, ConditionStatus.FALSE, Reason.APPLY_FAILED.value, f"rules not applied: {e.message}"
            )
        if group is None:
            return None
        alerts = sum(1 for r in group["rules"] if "alert" in r)
        if served:
            message = f"PrometheusRule {name} applied ({alerts} alerts)"
            return ConditionUpdate(kind, ConditionStatus.TRUE, Reason.SYNCED.value, message)
        message = (
            f"the Prometheus operator's CRDs (monitoring.coreos.com) are not served: {alerts} alerts are in "
            f"ConfigMap {name}, key {rules_file(name)}, labelled {RULES_LABEL}=true, for a Prometheus "
            "that loads rule files from such ConfigMaps"
        )
        return ConditionUpdate(kind, ConditionStatus.TRUE, RULES_IN_CONFIGMAP, message)
