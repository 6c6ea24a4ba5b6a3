"""The EmbeddingModel reconciler with an in-memory apiserver: Events that tell the truth, apply errors as
conditions, and the declared dimension checked against the served one."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tests.unit.test_embedder_children import SOURCE, FakeProbe, NoKube, cond
from vectorops.operator.adapters.kube import KubeFailure
from vectorops.operator.reconcilers.alerts import RuleSync
from vectorops.operator.reconcilers.embeddingmodel import EmbedderReconciler
from vectorops.operator.reconcilers.outcome import Context, Outcome


class Apiserver:
    """Stores applied objects; a change of spec bumps the generation, as the apiserver does, and every
    Deployment is rolled out at once (the controllers' part)."""

    def __init__(self, fail_with: KubeFailure | None = None, controllers: bool = True) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail_with = fail_with
        self.controllers = controllers  # False: Deployments never roll out (their pods are in `pods`)
        self.pods: list[dict[str, Any]] = []
        self.pod_selectors: list[str] = []
        self.writes = 0

    async def apply(self, manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        key = (manifest["kind"], manifest["metadata"]["name"])
        old = self.objects.get(key)
        generation = 1 if old is None else old["metadata"]["generation"]
        body = {k: v for k, v in manifest.items() if k not in ("metadata", "status")}
        changed = old is None or body != {k: v for k, v in old.items() if k not in ("metadata", "status")}
        if old is not None and changed:
            generation += 1
        self.writes += int(changed)
        stored = copy.deepcopy(manifest)
        stored["metadata"]["generation"] = generation
        # As the apiserver: an apply that changes nothing keeps the resourceVersion.
        stored["metadata"]["resourceVersion"] = (
            str(self.writes) if changed else old["metadata"]["resourceVersion"]
        )  # type: ignore[index]
        if manifest["kind"] == "Deployment" and self.controllers:
            n = manifest["spec"].get("replicas", 1)
            stored["status"] = {
                "observedGeneration": generation,
                "updatedReplicas": n,
                "availableReplicas": n,
            }
        self.objects[key] = stored
        return copy.deepcopy(stored)

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, name))
        return copy.deepcopy(found) if found else None

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        return self.objects.pop((kind, name), None) is not None

    async def served(self, api_version: str, kind: str) -> bool:
        return True

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        self.pod_selectors.append(selector)
        return copy.deepcopy(self.pods)


def context(spec: dict[str, Any], status: dict[str, Any], generation: int = 1) -> Context:
    return Context("minilm", "ml", "uid-1", generation, SOURCE | spec, status, NoKube(), datetime.now(UTC))  # type: ignore[arg-type]


def carried(status: dict[str, Any], result: Outcome) -> dict[str, Any]:
    """The status after the pass, as the apiserver would keep it (a merge)."""
    return {**status, **result.desired_status()}


async def test_a_first_pass_that_failed_is_followed_by_created_not_drift() -> None:
    api = Apiserver()
    reconciler = EmbedderReconciler(api, FakeProbe(384), "img", None)
    after_failure = {"observedGeneration": 1, "conditions": []}  # e.g. a Secret was missing
    result = await reconciler.reconcile(context({"replicas": 1}, after_failure))
    created = [(e.type, e.reason, e.message.split()[1]) for e in result.events]
    assert created == [("Normal", "Created", k) for k in ("Deployment", "Service", "PodMonitor")]


async def test_a_deleted_or_edited_child_is_restored_with_a_warning() -> None:
    api = Apiserver()
    reconciler = EmbedderReconciler(api, FakeProbe(384), "img", None)
    status = carried({}, await reconciler.reconcile(context({"replicas": 1}, {})))
    quiet = await reconciler.reconcile(context({"replicas": 1}, status))
    assert quiet.events == []  # nothing changed, nothing said

    del api.objects[("Deployment", "minilm-embedder")]
    result = await reconciler.reconcile(context({"replicas": 1}, status))
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "DriftRepaired")]
    assert "Deployment minilm-embedder was missing" in result.events[0].message

    api.objects[("Deployment", "minilm-embedder")]["spec"]["replicas"] = 5  # kubectl edit
    result = await reconciler.reconcile(context({"replicas": 1}, status))
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "DriftRepaired")]
    assert "changed outside the operator" in result.events[0].message
    assert api.objects[("Deployment", "minilm-embedder")]["spec"]["replicas"] == 1

    # A change of the EmbeddingModel's own spec is an update, not drift.
    result = await reconciler.reconcile(context({"replicas": 2}, status, generation=2))
    assert [(e.type, e.reason) for e in result.events] == [("Normal", "Updated")]


async def test_every_child_kind_deleted_by_hand_is_restored_with_one_event_naming_it() -> None:
    api = Apiserver()
    rules = RuleSync(api, refresh_seconds=0)  # every pass re-applies the rules: a resync each time
    reconciler = EmbedderReconciler(api, FakeProbe(384), "img", None, rules=rules)
    spec = {"replicas": 1, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}
    status = carried({}, await reconciler.reconcile(context(spec, {})))
    assert (await reconciler.reconcile(context(spec, status))).events == []
    for kind in ("HorizontalPodAutoscaler", "PodMonitor", "PrometheusRule", "Service"):
        assert (kind, "minilm-embedder") in api.objects, sorted(api.objects)
        del api.objects[(kind, "minilm-embedder")]
        result = await reconciler.reconcile(context(spec, status))
        assert [(e.type, e.reason) for e in result.events] == [("Warning", "DriftRepaired")], kind
        assert kind in result.events[0].message, result.events[0].message
        assert (kind, "minilm-embedder") in api.objects
        assert (await reconciler.reconcile(context(spec, status))).events == [], kind


async def test_apply_errors_become_conditions() -> None:
    refused = KubeFailure(403, "Forbidden", "the apiserver refused PATCH ... (403): no RBAC")
    result = await EmbedderReconciler(Apiserver(refused), FakeProbe(384), "img", None).reconcile(
        context({"replicas": 1}, {})
    )
    ready = cond(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Forbidden")
    assert "no RBAC" in ready["message"]


async def test_a_declared_dimension_that_the_embedder_contradicts_is_reported() -> None:
    result = await EmbedderReconciler(Apiserver(), FakeProbe(384), "img", None).reconcile(
        context({"replicas": 1, "dimension": 768}, {})
    )
    ready = cond(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "DimensionMismatch")
    assert "serves 384-dimensional vectors but spec.dimension declares 768" in ready["message"]
    assert result.extra_status["dimension"] == 384  # collections take what is served


def crash_looping_pod(restarts: int) -> dict[str, Any]:
    """What a kubelet writes for an embedder that exits at start (FallbackToLogsOnError: its last lines)."""
    return {
        "metadata": {
            "name": "minilm-embedder-5d9f-x2x7q",
            "labels": {"vectorops.io/embeddingmodel": "minilm"},
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "embedder",
                    "ready": False,
                    "restartCount": restarts,
                    "state": {
                        "waiting": {"reason": "CrashLoopBackOff", "message": f"back-off {10 * restarts}s"}
                    },
                    "lastState": {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "message": "INFO loading model /models/nope on cpu\n"
                            "vectorops embedder: the model /models/nope could not be loaded: FileNotFoundError: "
                            "the model directory /models/nope does not exist in the container\n",
                        }
                    },
                }
            ],
        },
    }


async def test_a_crash_looping_embedder_says_why_in_ready_and_the_message_holds_across_restarts() -> None:
    api = Apiserver(controllers=False)
    reconciler = EmbedderReconciler(api, FakeProbe(384), "img", None)
    waiting = cond(await reconciler.reconcile(context({"replicas": 1}, {})), "Ready")
    assert (waiting["status"], waiting["reason"]) == ("False", "RollingOut")  # no pod stuck yet
    assert api.pod_selectors == ["vectorops.io/embeddingmodel=minilm"]

    api.pods = [crash_looping_pod(restarts=1)]
    ready = cond(await reconciler.reconcile(context({"replicas": 1}, {})), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "EmbedderFailing")
    message = ready["message"]
    assert "pod minilm-embedder-5d9f-x2x7q: container embedder is crash-looping" in message
    assert "exited with code 1" in message and "/models/nope does not exist in the container" in message
    assert "0/1 embedder replicas ready" in message  # the Deployment's view stays in the message
    api.pods = [crash_looping_pod(restarts=4)]  # a later restart, a longer back-off: the same words
    assert cond(await reconciler.reconcile(context({"replicas": 1}, {})), "Ready")["message"] == message


async def test_pods_are_not_listed_for_a_model_that_rolled_out() -> None:
    api = Apiserver()
    api.pods = [crash_looping_pod(restarts=1)]  # e.g. an old pod: Ready comes from the Deployment
    ready = cond(
        await EmbedderReconciler(api, FakeProbe(384), "img", None).reconcile(context({}, {})), "Ready"
    )
    assert (ready["status"], ready["reason"]) == ("True", "Available") and api.pod_selectors == []
