"""The operator process against the real apiserver: conditions, Events, resync, no GitOps drift."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.integration.conftest import Cluster, OperatorProcess, RealQdrant, condition, ready_is, secret
from vectorops.devtools.controlplane import free_port
from vectorops.devtools.qdrant_standin import StandInQdrant

API = "vectorops.io/v1alpha1"


def store(name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VectorStore",
        "metadata": {"name": name},
        "spec": {"qdrant": {"url": url}, **spec},
    }


def test_local_store_becomes_ready_in_its_namespace_folder(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(namespace, store("local", "local:qdrant"))
    obj = cluster.wait_for(namespace, "vectorstore", "local", ready_is("True", "Connected"))
    assert (operator.local_root / namespace / "qdrant").is_dir()
    assert condition(obj, "ReferencesResolved")["status"] == "True"
    # kubectl wait reads the same truth that Flux's kstatus and Argo CD's health checks read.
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "vectorstore/local", "--timeout=10s")


def test_unreachable_qdrant_is_reported(cluster: Cluster, namespace: str, operator: OperatorProcess) -> None:
    cluster.apply(namespace, store("down", f"http://127.0.0.1:{free_port()}"))
    obj = cluster.wait_for(namespace, "vectorstore", "down", ready_is("False", "BackendUnreachable"))
    assert "unreachable" in condition(obj)["message"]
    assert cluster.wait_event(namespace, "down", "BackendUnreachable")["type"] == "Warning"


def test_missing_secret_then_created_converges(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    manifest = store("pg", "local:q", postgres={"dsnSecretRef": {"name": "pg-dsn", "key": "dsn"}})
    cluster.apply(namespace, manifest)
    obj = cluster.wait_for(namespace, "vectorstore", "pg", ready_is("False", "SecretNotFound"))
    assert f"Secret {namespace}/pg-dsn (spec.postgres.dsnSecretRef) not found" in condition(obj)["message"]
    cluster.apply(namespace, secret("pg-dsn", other="not-the-dsn-7d1e"))
    cluster.wait_for(namespace, "vectorstore", "pg", ready_is("False", "SecretKeyNotFound"))
    # The resync timer notices the fixed Secret: nothing about the VectorStore itself changed.
    cluster.apply(namespace, secret("pg-dsn", dsn=f"postgresql://u:pw-5c0ffee@127.0.0.1:{free_port()}/db"))
    # The Secrets are there now; the PostgreSQL they name is not: the store is not Ready, and says why
    # (without the password: the module's leak check reads every status, Event and log line).
    obj = cluster.wait_for(namespace, "vectorstore", "pg", ready_is("False", "PostgresUnreachable"))
    assert "the declared PostgreSQL (spec.postgres) is not usable" in condition(obj)["message"]
    assert condition(obj, "Postgres")["status"] == "False"
    assert obj["status"]["postgres"]["reachable"] is False


def test_collection_reports_missing_store_then_syncs(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    collection = {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": "docs"},
        "spec": {"vectors": {"size": 8}},
    }
    cluster.apply(namespace, collection)
    obj = cluster.wait_for(namespace, "vectorcollection", "docs", ready_is("False", "StoreNotFound"))
    assert f"VectorStore {namespace}/default" in condition(obj)["message"]
    cluster.apply(namespace, store("default", "local:q"))
    obj = cluster.wait_for(namespace, "vectorcollection", "docs", ready_is("True", "Synced"))
    assert obj["status"]["collectionName"] == "docs"
    table = cluster.kubectl("get", "vectorops", "-n", namespace).stdout
    assert "READY" in table and "REASON" in table and "Synced" in table


def test_examples_get_a_ready_condition(
    cluster: Cluster, namespace: str, operator: OperatorProcess, qdrant: StandInQdrant | RealQdrant
) -> None:
    root = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
    cluster.kubectl("apply", "-n", namespace, "-f", str(root))
    # The quickstart's store points where `make dev` serves Qdrant (127.0.0.1:6333): here, at the
    # suite's Qdrant.
    patch = json.dumps({"spec": {"qdrant": {"url": qdrant.url}}})
    cluster.kubectl("patch", "-n", namespace, "vectorstore", "default", "--type=merge", "-p", patch)
    for kind, name in [
        ("vectorstore", "default"),
        ("embeddingmodel", "minilm"),
        ("vectorcollection", "articles"),
    ]:
        cluster.wait_for(namespace, kind, name, lambda o: condition(o) is not None)
    # The dev Postgres Secret only exists under `make dev`: reported, not crashed on.
    assert condition(cluster.get(namespace, "vectorstore", "default"))["reason"] == "SecretNotFound"
    # The model declares its dimension, so the collection exists before the embedder rolls out; its
    # schema cannot be made without the Secret, so it is not Ready, and says the Qdrant part is usable.
    # Its alert rules are applied: a PrometheusRule, owned by the collection.
    obj = cluster.wait_for(namespace, "vectorcollection", "articles", ready_is("False", "SecretNotFound"))
    message = condition(obj)["message"]
    assert "Qdrant collection is usable" in message and "spec.postgresSchema" in message
    assert (condition(obj, "Schema")["status"], condition(obj, "Collection")["status"]) == ("False", "True")
    alerts = condition(obj, "Alerts")
    assert (alerts["status"], alerts["reason"]) == ("True", "Synced"), alerts
    rule = json.loads(
        cluster.kubectl(
            "get", "prometheusrule", "-n", namespace, "vectorops-collection-articles", "-o", "json"
        ).stdout
    )
    assert rule["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    alert_names = [r.get("alert") for r in rule["spec"]["groups"][0]["rules"]]
    assert "VectorOpsCollectionNotGreen" in alert_names
    assert obj["status"]["dimension"] == 384


def test_no_gitops_drift_and_idle_resync_writes_nothing(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    manifest = store("quiet", "local:q")
    cluster.apply(namespace, manifest)
    obj = cluster.wait_for(namespace, "vectorstore", "quiet", ready_is("True"))
    # The operator adds no annotations at all: kopf's progress and diff-base live in status.kopf.
    annotations = obj["metadata"].get("annotations") or {}
    assert set(annotations) <= {"kubectl.kubernetes.io/last-applied-configuration"}, annotations
    assert "lastHandledConfiguration" in obj["status"]["kopf"]
    # What Git holds is what the cluster holds: kubectl diff (server-side dry run) sees nothing.
    import yaml

    diff = cluster.kubectl("diff", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest), check=False)
    assert diff.returncode == 0, diff.stdout
    version = obj["metadata"]["resourceVersion"]
    time.sleep(5)  # more than two resync intervals (2 s)
    assert cluster.get(namespace, "vectorstore", "quiet")["metadata"]["resourceVersion"] == version


def test_spec_change_updates_observed_generation(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    cluster.apply(namespace, store("gen", "local:a"))
    cluster.wait_for(namespace, "vectorstore", "gen", ready_is("True"))
    cluster.apply(namespace, store("gen", f"http://127.0.0.1:{free_port()}"))
    obj = cluster.wait_for(namespace, "vectorstore", "gen", ready_is("False", "BackendUnreachable"))
    assert obj["metadata"]["generation"] == 2
    assert all(c["observedGeneration"] == 2 for c in obj["status"]["conditions"])
