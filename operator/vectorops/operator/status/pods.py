"""Why an embedder's pods do not become ready, read from what the kubelet wrote into their status (pure).

A Deployment only says "0/1 available"; the pod says why: the container exits at start (a model path
that does not exist, weights that do not load, out of memory) or never starts (an image that cannot be
pulled, a Secret that is missing). The kubelet keeps the last exit's code and termination message, which
our embedder Deployments fill from the log's last lines (terminationMessagePolicy FallbackToLogsOnError),
so the reason the embedder printed as it exited reaches the EmbeddingModel's Ready condition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vectorops.operator.api.conditions import Reason
from vectorops.operator.status.readiness import Problem

# Waiting reasons that do not end by waiting longer: something must change.
STUCK = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
# The kubelet alternates these two while it retries a pull, each with its own message: told as one.
PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff"})
MESSAGE_LINES, MESSAGE_CHARS = 3, 600


def _tail(text: str) -> str:
    """The last few non-empty lines of a termination message, on one line, bounded."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    tail = " | ".join(lines[-MESSAGE_LINES:])
    return tail if len(tail) <= MESSAGE_CHARS else "..." + tail[-MESSAGE_CHARS:]


def _crash_looping(container: dict[str, Any]) -> bool:
    """Waiting to restart after failing, just failed, or running again after failing more than once and
    not ready yet: a kubelet cycles through these, and all are the same crash loop (one wording, so no
    status write per restart). A single old failure of a container that now runs is no loop."""
    state = container.get("state") or {}
    if ((state.get("waiting") or {}).get("reason")) == "CrashLoopBackOff":
        return True
    if int((state.get("terminated") or {}).get("exitCode") or 0) != 0:
        return True
    last = (container.get("lastState") or {}).get("terminated") or {}
    return (
        "running" in state
        and not container.get("ready")
        and int(last.get("exitCode") or 0) != 0
        and int(container.get("restartCount") or 0) >= 2
    )


def _last_exit(container: dict[str, Any]) -> str | None:
    """How the container last ended: its code, the kubelet's reason where it says more than "Error"
    (OOMKilled), and the termination message's last lines."""
    state = container.get("state") or {}
    last = state.get("terminated") or (container.get("lastState") or {}).get("terminated") or {}
    if not last:
        return None
    said = f"it last exited with code {last.get('exitCode', '?')}"
    if last.get("reason") not in (None, "", "Error", "Completed"):
        said += f" ({last['reason']})"
    message = _tail(str(last.get("message") or ""))
    return f"{said}: {message}" if message else said


def pod_problem(pods: Iterable[dict[str, Any]]) -> Problem | None:
    """The first stuck container of `pods` (by pod name), as a Problem; None when none is stuck.

    The message leaves out what changes from one attempt to the next (the restart count, the back-off
    delay, whether the container is waiting or trying again, ErrImagePull or ImagePullBackOff), so a
    failing container does not rewrite the status each time the kubelet tries again."""
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", ""))):
        name = (pod.get("metadata") or {}).get("name", "?")
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue  # an old pod on its way out: not what the model runs on
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            where = f"pod {name}: container {container.get('name', '?')}"
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if _crash_looping(container):
                parts = [f"{where} is crash-looping"]
            elif reason in PULL_FAILURES:
                parts = [f"{where} cannot pull its image {container.get('image', '')}".rstrip()]
            elif reason in STUCK:
                parts = [f"{where} is in {reason}"]
                if waiting.get("message"):
                    parts.append(_tail(str(waiting["message"])))
            else:
                continue
            exited = _last_exit(container)
            if exited is not None:
                parts.append(exited)
            parts.append(f"see kubectl describe pod {name} and kubectl logs {name} --previous")
            return Problem(Reason.EMBEDDER_FAILING.value, "; ".join(parts))
    return None
