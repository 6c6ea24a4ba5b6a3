"""helm lint --strict and helm template with several value sets; every rendered document accepted by the
real apiserver (server-side dry run); the schema rejects unknown keys; every pod meets the restricted
Pod Security profile, checked field by field and by the apiserver's PodSecurity admission."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import CHART, RELEASE_NS, REPO, VALUE_SETS, WATCHED, render, run_helm, values_file
from vectorops.devtools.controlplane import ControlPlane

WORKLOADS = ("Deployment", "StatefulSet")


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """Our CRDs and the third-party ones installed, the namespaces the value sets name, and the release
    namespace enforcing the restricted Pod Security profile."""
    cp = ControlPlane.start()
    try:
        cp.install_crds(sorted((REPO / "crds").glob("*.yaml")))
        cp.install_third_party_crds()
        for ns in (*WATCHED, "gateways"):
            cp.kubectl("create", "namespace", ns)
        cp.kubectl("create", "namespace", RELEASE_NS)
        cp.kubectl(
            "label",
            "namespace",
            RELEASE_NS,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
        )
        yield cp
    finally:
        cp.stop()


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_strict(helm: str, tmp_path: Path, name: str) -> None:
    proc = run_helm(helm, "lint", "--strict", str(CHART), "-f", str(values_file(tmp_path, VALUE_SETS[name])))
    assert "0 chart(s) failed" in proc.stdout


def pod_templates(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"])
        for d in docs
        if d["kind"] in WORKLOADS
    ]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_documents_pass_a_server_side_dry_run(
    helm: str, plane: ControlPlane, tmp_path: Path, name: str
) -> None:
    docs = render(helm, tmp_path, VALUE_SETS[name])
    assert docs
    proc = plane.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=chart-test",
        "-f",
        "-",
        input=yaml.safe_dump_all(docs),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # warn=restricted on the namespace: the apiserver would say if a workload's pods broke the profile.
    assert "PodSecurity" not in proc.stderr, proc.stderr
    applied = proc.stdout.count("serverside-applied")
    assert applied == len(docs), proc.stdout


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_pod_is_admitted_under_restricted_pod_security(
    helm: str, plane: ControlPlane, tmp_path: Path, name: str
) -> None:
    """enforce=restricted applies to Pods (not to workloads): create each template's Pod, dry run."""
    for what, template in pod_templates(render(helm, tmp_path, VALUE_SETS[name])):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe-" + what.split("/")[1], "labels": template["metadata"]["labels"]},
            "spec": template["spec"],
        }
        proc = plane.kubectl(
            "create", "--dry-run=server", "-n", RELEASE_NS, "-f", "-", input=json.dumps(pod), check=False
        )
        assert proc.returncode == 0, f"{what}: {proc.stderr}"


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_pod_template_sets_the_restricted_fields(helm: str, tmp_path: Path, name: str) -> None:
    templates = pod_templates(render(helm, tmp_path, VALUE_SETS[name]))
    assert templates
    for what, template in templates:
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, what
        assert spec["securityContext"]["runAsUser"] == 65532, what
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, what
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, what
            assert sc["readOnlyRootFilesystem"] is True, what
            assert sc["capabilities"] == {"drop": ["ALL"]}, what
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532, what
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, what
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, f"{what}: no emptyDir at /tmp"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"operator": {"replica": 2}}, "replica"),
        ({"gatway": {"enabled": False}}, "gatway"),
        ({"rbac": {"scope": "cluster", "namespace": ["a"]}}, "namespace"),
        ({"serviceMonitor": {"enabled": True, "intervall": "10s"}}, "intervall"),
    ],
)
def test_a_typo_in_values_is_rejected_naming_the_key(
    helm: str, tmp_path: Path, values: dict[str, Any], key: str
) -> None:
    proc = refused(helm, tmp_path, values)
    assert proc.returncode != 0
    assert f"additional properties '{key}' not allowed" in proc.stderr, proc.stderr


def refused(helm: str, tmp_path: Path, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """`helm template` with `values`, expected to fail: its answer, for the assertion on the message."""
    return run_helm(helm, "template", "vo", str(CHART), "-f", str(values_file(tmp_path, values)), check=False)


def test_a_wrong_value_is_rejected(helm: str, tmp_path: Path) -> None:
    proc = refused(helm, tmp_path, {"rbac": {"scope": "global"}})
    assert proc.returncode != 0 and "scope" in proc.stderr, proc.stderr


def test_namespaced_scope_needs_namespaces(helm: str, tmp_path: Path) -> None:
    proc = refused(helm, tmp_path, {"rbac": {"scope": "namespaced"}})
    assert proc.returncode != 0 and "rbac.namespaces" in proc.stderr, proc.stderr


def test_replicas_peer_with_distinct_priorities(helm: str, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, VALUE_SETS["replicas-2"])
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    assert sts["spec"]["replicas"] == 2
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VECTOROPS_PEERING"]["value"] == "vo-vectorops"
    assert env["VECTOROPS_PRIORITY"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['apps.kubernetes.io/pod-index']"
    )
    # The init container applies the peering object before the operator starts.
    init = sts["spec"]["template"]["spec"]["initContainers"][0]
    assert init["command"] == ["python3", "/scripts/ensure_objects.py", "/scripts/objects.json"]
    objects = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-objects"))
    (peering,) = json.loads(objects["data"]["objects.json"])
    assert peering["manifest"]["kind"] == "ClusterKopfPeering"
    assert peering["manifest"]["metadata"]["name"] == "vo-vectorops"


def test_gateway_replica_name_comes_from_the_pod(helm: str, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {})
    gateway = next(d for d in docs if d["kind"] == "Deployment")
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VECTOROPS_GATEWAY_REPLICA"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["VECTOROPS_GATEWAY_NAMESPACE"]["value"] == RELEASE_NS


def test_crds_are_kept_on_uninstall_and_can_be_left_out(helm: str, tmp_path: Path) -> None:
    crds = [d for d in render(helm, tmp_path, {}) if d["kind"] == "CustomResourceDefinition"]
    assert {c["metadata"]["name"] for c in crds} == {
        "vectorstores.vectorops.io",
        "vectorcollections.vectorops.io",
        "embeddingmodels.vectorops.io",
        "externalmodelendpoints.vectorops.io",
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    }
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not [
        d for d in render(helm, tmp_path, VALUE_SETS["no-crds"]) if d["kind"] == "CustomResourceDefinition"
    ]


def test_network_policy_lets_only_the_gateway_and_operator_reach_embedders(helm: str, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, VALUE_SETS["everything"])
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert sorted(p["metadata"]["namespace"] for p in policies) == sorted(WATCHED)
    # The labels the operator gives embedder pods (builders/embedder_workload.py).
    from vectorops.operator.builders.embedder_workload import labels

    embedder = labels("m")
    for policy in policies:
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert all(embedder[k] == v for k, v in selector.items())
        peers = policy["spec"]["ingress"][0]["from"]
        components = {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in peers}
        assert components == {"gateway", "operator"}


def test_the_apiserver_enforces_restricted_pod_security(plane: ControlPlane) -> None:
    """The admission the tests above rely on is really on: a pod that may escalate is refused."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "loose"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "securityContext": {"allowPrivilegeEscalation": True}}
            ]
        },
    }
    proc = plane.kubectl(
        "create", "--dry-run=server", "-n", RELEASE_NS, "-f", "-", input=json.dumps(pod), check=False
    )
    assert proc.returncode != 0 and "violates PodSecurity" in proc.stderr, proc.stderr


def test_the_init_container_waits_for_a_crd_installed_after_it_starts(
    plane: ControlPlane, tmp_path: Path
) -> None:
    """files/scripts/ensure_objects.py: a 404 (the CRD is not served yet) is waited out, then applied."""
    group = "chart-test.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    objects = [
        {
            "path": f"/apis/{group}/v1/gadgets/one",
            "manifest": {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "one"}},
        }
    ]
    (tmp_path / "objects.json").write_text(json.dumps(objects))
    (tmp_path / "token").write_text(plane.token)
    env = {
        **os.environ,
        "KUBE_API": plane.url,
        "KUBE_TOKEN_FILE": str(tmp_path / "token"),
        "KUBE_CA_FILE": str(plane.ca_file),
        "TIMEOUT_SECONDS": "60",
    }
    script = CHART / "files" / "scripts" / "ensure_objects.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "objects.json")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        assert proc.poll() is None, proc.communicate()
        plane.install_crds([_write(tmp_path / "crd.yaml", crd)])
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"applied /apis/{group}/v1/gadgets/one" in out
    plane.kubectl("get", f"gadgets.{group}", "one")


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_operators_rules_follow_the_prometheus_operator(helm: str, tmp_path: Path) -> None:
    """ "auto": a PrometheusRule where the cluster serves the kind, none where it does not; its groups are
    the operator's own (the builder's, promtool-checked in tests/unit/test_alert_rules.py)."""

    def rules(*extra: str) -> list[dict[str, Any]]:
        out = run_helm(helm, "template", "vo", str(CHART), "--namespace", RELEASE_NS, *extra).stdout
        return [d for d in yaml.safe_load_all(out) if d and d["kind"] == "PrometheusRule"]

    assert rules() == []
    (rule,) = rules("--api-versions", "monitoring.coreos.com/v1/PrometheusRule")
    alerts = {r.get("alert") for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"VectorOpsOperatorDown", "VectorOpsObjectsNotReady"} <= alerts, alerts
    assert (
        rules(
            "--api-versions",
            "monitoring.coreos.com/v1/PrometheusRule",
            "--set",
            "prometheusRule.enabled=false",
        )
        == []
    )


def test_the_gateways_series_carry_the_namespace_it_serves(helm: str, tmp_path: Path) -> None:
    """The gateway pod runs in the release's namespace and serves `gateway.namespace`: its ServiceMonitor
    relabels `namespace` to the served one, which the collection and endpoint rules and the dashboards
    select on (its gauges describe that namespace's collections, routes and endpoints)."""

    def monitors(*extra: str) -> dict[str, dict[str, Any]]:
        out = run_helm(
            helm, "template", "vo", str(CHART), "--namespace", RELEASE_NS,
            "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", *extra,
        ).stdout  # fmt: skip
        docs = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "ServiceMonitor"]
        return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs}

    for extra, served in (((), RELEASE_NS), (("--set", "gateway.namespace=ml-apps"), "ml-apps")):
        found = monitors(*extra)
        (endpoint,) = found["gateway"]["spec"]["endpoints"]
        assert endpoint["relabelings"] == [
            {"targetLabel": "namespace", "replacement": served, "action": "replace"}
        ]
        (operator,) = found["operator"]["spec"]["endpoints"]
        assert operator["honorLabels"] is True and "relabelings" not in operator
