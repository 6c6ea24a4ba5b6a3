"""pod_problem: the stuck container of an embedder's pods, in words a person can act on."""

from __future__ import annotations

from typing import Any

from vectorops.operator.status.pods import MESSAGE_CHARS, pod_problem


def pod(name: str, waiting: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    state = {"waiting": waiting} if waiting else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    container = {"name": "embedder", "state": state, **extra}
    return {"metadata": {"name": name}, "status": {"containerStatuses": [container]}}


def test_running_and_starting_pods_are_no_problem() -> None:
    assert pod_problem([]) is None
    assert pod_problem([pod("a"), pod("b", {"reason": "ContainerCreating"})]) is None


def test_an_image_that_cannot_be_pulled_names_the_image_in_one_wording_while_the_kubelet_retries() -> None:
    def pulling(reason: str, message: str) -> dict[str, Any]:
        return pod("m-1", {"reason": reason, "message": message}, image="ghcr.io/acme/vectorops:typo")

    backoff = pod_problem(
        [pulling("ImagePullBackOff", 'Back-off pulling image "ghcr.io/acme/vectorops:typo"')]
    )
    failed = pod_problem([pulling("ErrImagePull", "rpc error: code = NotFound desc = failed to pull")])
    assert backoff is not None and backoff.reason == "EmbedderFailing" and backoff == failed
    assert backoff.message.startswith(
        "pod m-1: container embedder cannot pull its image ghcr.io/acme/vectorops:typo; "
    )
    assert "kubectl describe pod m-1" in backoff.message


def test_a_missing_secret_key_at_container_creation_is_named() -> None:
    waiting = {"reason": "CreateContainerConfigError", "message": 'secret "cache" not found'}
    problem = pod_problem([pod("m-1", waiting)])
    assert problem is not None and 'secret "cache" not found' in problem.message


def test_the_termination_message_is_cut_to_its_last_lines() -> None:
    log = "\n".join(f"line {i}" for i in range(50)) + "\n" + "x" * 2000 + "\n"
    terminated = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "message": log}}
    problem = pod_problem([pod("m-1", {"reason": "CrashLoopBackOff"}, lastState=terminated)])
    assert problem is not None
    assert "exited with code 137 (OOMKilled)" in problem.message and "line 10" not in problem.message
    assert len(problem.message) < MESSAGE_CHARS + 200


def test_a_terminating_pod_is_passed_over_and_the_first_stuck_pod_by_name_is_told() -> None:
    old = pod("m-0", {"reason": "CrashLoopBackOff"})
    old["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    stuck = [pod("m-2", {"reason": "ErrImagePull"}), pod("m-1", {"reason": "CrashLoopBackOff"})]
    problem = pod_problem([old, *stuck])
    assert problem is not None and problem.message.startswith("pod m-1:")


def test_a_crash_loop_reads_the_same_waiting_just_failed_or_trying_again() -> None:
    end = {"exitCode": 1, "message": "the model directory /m does not exist"}
    last = {"terminated": end}
    waiting = pod("m-1", {"reason": "CrashLoopBackOff"}, lastState=last, restartCount=3, ready=False)
    trying = pod("m-1", lastState=last, restartCount=4, ready=False)
    failed = pod("m-1", lastState=last, restartCount=4, ready=False)
    failed["status"]["containerStatuses"][0]["state"] = {"terminated": end}
    first = pod_problem([waiting])
    assert first is not None and "crash-looping" in first.message
    assert first == pod_problem([trying]) == pod_problem([failed])
    # Running and ready after an old failure is no problem (the Deployment decides then), and neither is
    # running unready after one old failure (e.g. an OOM kill long ago): one failure is no loop.
    assert pod_problem([pod("m-1", lastState=last, restartCount=4, ready=True)]) is None
    assert pod_problem([pod("m-1", lastState=last, restartCount=1, ready=False)]) is None
