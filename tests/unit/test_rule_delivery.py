"""An object's alert rules delivered: a PrometheusRule where the Prometheus operator's CRDs are served,
else a rules ConfigMap; pruned when turned off (never someone else's object); the Alerts condition says
which, and a refused apply is reported, not raised."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import yaml

from vectorops.operator.adapters.kube import KubeFailure
from vectorops.operator.builders.alert_rules import endpoint_rules
from vectorops.operator.builders.rule_delivery import RULES_LABEL, rules_name
from vectorops.operator.reconcilers.alerts import RuleSync
from vectorops.operator.reconcilers.outcome import Context


class Writer:
    """Objects by (kind, name); `served` says whether PrometheusRule exists; `refuse` fails applies."""

    def __init__(self, served: bool) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.is_served, self.refuse = served, False

    async def apply(self, manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
        if self.refuse:
            raise KubeFailure(403, "Forbidden", "prometheusrules is forbidden for the operator")
        self.objects[(manifest["kind"], manifest["metadata"]["name"])] = manifest
        return manifest

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        return self.objects.pop((kind, name), None) is not None

    async def served(self, api_version: str, kind: str) -> bool:
        return self.is_served


def ctx(name: str = "hosted", uid: str = "uid-1") -> Context:
    return Context(name, "ml", uid, 1, {}, {}, None, datetime(2026, 11, 23, tzinfo=UTC))  # type: ignore[arg-type]


async def test_a_prometheus_rule_where_the_crd_is_served_and_pruned_when_turned_off() -> None:
    writer = Writer(served=True)
    sync = RuleSync(writer)
    condition = await sync.sync(ctx(), "ExternalModelEndpoint", "endpoint", endpoint_rules("hosted", "ml"))
    assert condition is not None and (condition.status.value, condition.reason) == ("True", "Synced")
    rule = writer.objects[("PrometheusRule", "vectorops-endpoint-hosted")]
    assert rule["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert "VectorOpsEndpointBreakerOpen" in [r.get("alert") for r in rule["spec"]["groups"][0]["rules"]]
    assert await sync.sync(ctx(), "ExternalModelEndpoint", "endpoint", None) is None  # turned off
    assert writer.objects == {}


async def test_a_rules_configmap_where_the_crd_is_not_served() -> None:
    writer = Writer(served=False)
    condition = await RuleSync(writer).sync(
        ctx(), "ExternalModelEndpoint", "endpoint", endpoint_rules("hosted", "ml")
    )
    assert condition is not None and (condition.status.value, condition.reason) == (
        "True",
        "RulesInConfigMap",
    )
    configmap = writer.objects[("ConfigMap", "vectorops-endpoint-hosted")]
    assert configmap["metadata"]["labels"][RULES_LABEL] == "true"
    assert "vectorops-endpoint-hosted.rules.yaml" in condition.message
    (text,) = configmap["data"].values()
    assert yaml.safe_load(text)["groups"][0]["name"] == "vectorops-endpoint-ml-hosted"


async def test_someone_elses_object_of_that_name_is_never_pruned_and_failures_are_reported() -> None:
    writer = Writer(served=True)
    theirs = {
        "kind": "PrometheusRule",
        "metadata": {"name": "vectorops-endpoint-hosted", "ownerReferences": []},
    }
    writer.objects[("PrometheusRule", "vectorops-endpoint-hosted")] = theirs
    assert await RuleSync(writer).sync(ctx(), "ExternalModelEndpoint", "endpoint", None) is None
    assert ("PrometheusRule", "vectorops-endpoint-hosted") in writer.objects
    writer.refuse = True
    condition = await RuleSync(writer).sync(
        ctx(), "ExternalModelEndpoint", "endpoint", endpoint_rules("hosted", "ml")
    )
    assert condition is not None and (condition.status.value, condition.reason) == ("False", "ApplyFailed")
    assert "forbidden" in condition.message


def test_rule_object_names_fit_the_limit() -> None:
    long = "x" * 253
    name = rules_name("collection", long)
    assert len(name) <= 253 and name != rules_name("collection", long[:-1])
    assert rules_name("endpoint", "hosted") == "vectorops-endpoint-hosted"


def test_an_endpoint_can_turn_its_rules_off_and_set_their_threshold_and_severity() -> None:
    from vectorops.operator.api.externalendpoint import EndpointAlertsSpec

    assert endpoint_rules("hosted", "ml", EndpointAlertsSpec(enabled=False)) is None
    group = endpoint_rules("hosted", "ml", EndpointAlertsSpec(error_ratio=0.2, severity="critical"))
    assert group is not None
    errors = next(r for r in group["rules"] if r.get("alert") == "VectorOpsEndpointErrors")
    assert errors["expr"].endswith("> 0.2") and errors["labels"]["severity"] == "critical"


async def test_an_unchanged_group_is_not_applied_again_until_the_refresh() -> None:
    writer = Writer(served=True)
    sync = RuleSync(writer, refresh_seconds=0.2)
    group = endpoint_rules("hosted", "ml")
    await sync.sync(ctx(), "ExternalModelEndpoint", "endpoint", group)
    writer.objects.clear()  # deleted by hand
    await sync.sync(ctx(), "ExternalModelEndpoint", "endpoint", group)
    assert writer.objects == {}  # within the refresh: no API call at all
    await asyncio.sleep(0.25)
    await sync.sync(ctx(), "ExternalModelEndpoint", "endpoint", group)
    assert ("PrometheusRule", "vectorops-endpoint-hosted") in writer.objects  # back after the refresh
