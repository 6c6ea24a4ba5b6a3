"""The Argo CD health check of every vectorops kind, run by Debian's Lua 5.1 on sample objects (the shapes
the operator writes; test_install.py also runs it on live objects the real operator reconciled)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.chart.argocd_health import HEALTH_LUA, health
from tests.chart.conftest import CHART

KINDS = ("VectorStore", "VectorCollection", "EmbeddingModel", "ExternalModelEndpoint")


def obj(
    kind: str, generation: int = 2, observed: int | None = 2, **conditions: tuple[str, str]
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if observed is not None:
        status["observedGeneration"] = observed
    if conditions:
        status["conditions"] = [
            {"type": t, "status": s, "reason": r, "message": f"{t} says {r}", "observedGeneration": observed}
            for t, (s, r) in conditions.items()
        ]
    return {
        "apiVersion": "vectorops.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "generation": generation},
        "spec": {},
        **({"status": status} if status or observed is not None else {}),
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (lambda k: obj(k, observed=None), "Progressing"),  # no status at all yet
        (lambda k: obj(k, observed=1, Ready=("True", "Synced")), "Progressing"),  # an older generation
        (lambda k: obj(k, Ready=("Unknown", "Reconciling")), "Progressing"),
        (lambda k: obj(k, Ready=("True", "Synced")), "Healthy"),
        (lambda k: obj(k, Ready=("True", "Incomplete")), "Healthy"),
        (lambda k: obj(k, Ready=("False", "SecretNotFound")), "Degraded"),
        (lambda k: obj(k, Ready=("False", "BackendUnreachable")), "Degraded"),
        (lambda k: obj(k, Ready=("False", "DeletionBlocked")), "Degraded"),
        (lambda k: obj(k, Ready=("False", "SomeReasonAddedLater")), "Degraded"),
        (lambda k: obj(k, Ready=("False", "DimensionUnknown")), "Progressing"),
    ],
)
def test_conditions_map_to_health(kind: str, sample: Any, expected: str) -> None:
    status, message = health(sample(kind))
    assert status == expected, message


def test_rolling_out_is_progressing_and_scaled_to_zero_suspended() -> None:
    assert health(obj("EmbeddingModel", Ready=("False", "RollingOut")))[0] == "Progressing"
    assert health(obj("EmbeddingModel", Ready=("True", "Available")))[0] == "Healthy"
    assert health(obj("EmbeddingModel", Ready=("True", "ScaledToZero")))[0] == "Suspended"


def test_a_degraded_endpoint_is_degraded_while_still_routed() -> None:
    routed = obj("ExternalModelEndpoint", Ready=("True", "Routed"), Degraded=("True", "BreakerOpen"))
    status, message = health(routed)
    assert status == "Degraded" and message.startswith("BreakerOpen: ")
    fine = obj("ExternalModelEndpoint", Ready=("True", "Routed"), Degraded=("False", "Healthy"))
    assert health(fine) == ("Healthy", "Routed: Ready says Routed")


def test_the_message_is_the_conditions() -> None:
    assert health(obj("VectorCollection", Ready=("False", "RequiresRebuild"))) == (
        "Degraded",
        "RequiresRebuild: Ready says RequiresRebuild",
    )


def test_the_argocd_cm_snippet_carries_the_script_for_every_kind() -> None:
    cm = yaml.safe_load((CHART / "argocd" / "argocd-cm.yaml").read_text())
    script = HEALTH_LUA.read_text()
    for kind in KINDS:
        assert cm["data"][f"resource.customizations.health.vectorops.io_{kind}"] == script, kind
