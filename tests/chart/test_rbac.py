"""RBAC minimal: every (apiGroup, resource, verb) the chart grants is one the code uses (named in
rbac_expectations.py), and every one listed there is granted. (test_install.py proves it sufficient: the
operator and the gateway run with exactly these permissions.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart import rbac_expectations as expected
from tests.chart.conftest import RELEASE_NS, VALUE_SETS, WATCHED, render
from tests.chart.rbac_expectations import Grant


def grants(role: dict[str, Any]) -> set[Grant]:
    out = set()
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], (
            f"wildcard in {role['metadata']['name']}"
        )
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add(Grant(group, resource, verb))
    return out


def bound_roles(docs: list[dict[str, Any]], service_account: str) -> list[dict[str, Any]]:
    """The Roles and ClusterRoles bound to the ServiceAccount, each with the namespace of its binding."""
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
    }
    out = []
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(
            s["name"] == service_account and s["namespace"] == RELEASE_NS for s in binding["subjects"]
        ):
            continue
        ref = binding["roleRef"]
        ns = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        out.append(roles[(ref["kind"], ns, ref["name"])])
    return out


def diff(granted: set[Grant], wanted: dict[Grant, str]) -> str:
    extra = sorted(granted - wanted.keys(), key=str)
    missing = sorted(wanted.keys() - granted, key=str)
    return f"granted but no code uses it: {extra}\nused by the code but not granted: {missing}"


def test_cluster_mode_grants_exactly_what_the_code_uses(helm: str, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, VALUE_SETS["default"])
    (role,) = bound_roles(docs, "vo-vectorops-operator")
    assert role["kind"] == "ClusterRole"
    want = expected.operator_cluster_mode()
    assert grants(role) == want.keys(), diff(grants(role), want)
    (gateway,) = bound_roles(docs, "vo-vectorops-gateway")
    assert gateway["kind"] == "Role" and gateway["metadata"]["namespace"] == RELEASE_NS
    assert grants(gateway) == expected.gateway().keys(), diff(grants(gateway), expected.gateway())


def test_namespaced_mode_grants_exactly_what_the_code_uses(helm: str, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, VALUE_SETS["namespaced"])
    roles = bound_roles(docs, "vo-vectorops-operator")
    namespaced = [r for r in roles if r["kind"] == "Role"]
    assert sorted(r["metadata"]["namespace"] for r in namespaced) == sorted(WATCHED)
    want_role, want_cluster = expected.operator_namespaced_mode()
    for role in namespaced:
        assert grants(role) == want_role.keys(), diff(grants(role), want_role)
    (cluster_role,) = [r for r in roles if r["kind"] == "ClusterRole"]
    assert grants(cluster_role) == want_cluster.keys(), diff(grants(cluster_role), want_cluster)
    # Nothing namespaced is granted cluster-wide in this mode.
    assert {g.resource for g in grants(cluster_role)} == {"customresourcedefinitions", "namespaces"}


def test_creating_the_default_store_adds_exactly_create_on_vectorstores(helm: str, tmp_path: Path) -> None:
    store = {
        "defaultStore": {"name": "default", "create": True, "spec": {"qdrant": {"url": "http://q:6333"}}}
    }
    (role,) = bound_roles(render(helm, tmp_path, store), "vo-vectorops-operator")
    want = expected.operator_cluster_mode() | expected.DEFAULT_STORE
    assert grants(role) == want.keys(), diff(grants(role), want)
    namespaced = {**store, "rbac": {"scope": "namespaced", "namespaces": list(WATCHED)}}
    namespaced["defaultStore"] = {**store["defaultStore"], "namespace": WATCHED[1]}
    roles = bound_roles(render(helm, tmp_path, namespaced), "vo-vectorops-operator")
    want_role, _ = expected.operator_namespaced_mode()
    for role in (r for r in roles if r["kind"] == "Role"):
        want = want_role | (expected.DEFAULT_STORE if role["metadata"]["namespace"] == WATCHED[1] else {})
        assert grants(role) == want.keys(), diff(grants(role), want)


def test_gateway_without_status_reports_cannot_patch_status(helm: str, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {"gateway": {"reportStatus": False}})
    (gateway,) = bound_roles(docs, "vo-vectorops-gateway")
    assert not [g for g in grants(gateway) if g.group == "vectorops.io"]


@pytest.mark.parametrize("who", ["operator", "gateway"])
def test_every_rule_is_commented(who: str) -> None:
    """Each rule in the RBAC templates says why, in a comment right above it."""
    from tests.chart.conftest import CHART

    lines = (CHART / "templates" / who / "rbac.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            above = lines[i - 1].strip()
            assert above.startswith("#") or above.startswith("{{- if"), (
                f"{who}/rbac.yaml:{i + 1}: rule without a why"
            )
