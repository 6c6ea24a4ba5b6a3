"""What a probe's answer means: the canary must have the declared dimension, finite values, a unit norm
when declared normalised, and point where the pinned reference points."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec
from vectorops.operator.status.endpoint import decode_reference, encode_reference, evaluate, probe_due

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def spec(**mapping: Any) -> ExternalModelEndpointSpec:
    return ExternalModelEndpointSpec.model_validate(
        {"url": "https://p.example/v1", "models": [{"name": "e5", "dimensions": 4, **mapping}]}
    )


def unit(*values: float) -> list[float]:
    n = math.sqrt(sum(v * v for v in values))
    return [v / n for v in values]


def test_a_good_canary_is_healthy_and_pins_a_reference() -> None:
    health, verdict = evaluate(spec(), {}, 12.5, {"e5": unit(1, 2, 3, 4)}, None, NOW)
    assert verdict.healthy and "4 dimensions" in verdict.message
    assert health["consecutiveFailures"] == 0 and health["latencyMs"] == 12.5
    (model,) = health["models"]
    assert model["dimension"] == 4 and model["norm"] == 1.0
    assert decode_reference(model["reference"]) == pytest.approx(unit(1, 2, 3, 4), abs=1e-3)


@pytest.mark.parametrize(
    ("vector", "reason", "fragment"),
    [
        (unit(1, 2, 3), "DimensionMismatch", "has 3 dimensions, the spec declares 4"),
        ([1.0, 2.0, 3.0, 4.0], "NormMismatch", "norm is 5.4772"),
        ([float("nan"), 0.0, 0.0, 1.0], "NotFinite", "NaN or infinite"),
    ],
)
def test_wrong_answers_are_named_and_unhealthy_at_once(
    vector: list[float], reason: str, fragment: str
) -> None:
    _, verdict = evaluate(spec(), {}, 5.0, {"e5": vector}, None, NOW)
    assert (verdict.healthy, verdict.reason, verdict.wrong_answer) == (False, reason, True)
    assert fragment in verdict.message


def test_a_swapped_model_is_caught_by_the_pinned_reference() -> None:
    first, _ = evaluate(spec(), {}, 5.0, {"e5": unit(1, 2, 3, 4)}, None, NOW)
    same, verdict = evaluate(spec(), first, 5.0, {"e5": unit(1, 2, 3, 4.1)}, None, NOW)
    assert verdict.healthy and same["models"][0]["reference"] == first["models"][0]["reference"]
    _, verdict = evaluate(spec(), first, 5.0, {"e5": unit(4, -3, 2, -1)}, None, NOW)
    assert (verdict.healthy, verdict.reason) == (False, "VectorsChanged")
    assert "cosine" in verdict.message and "pin a new reference" in verdict.message
    # A new identity is a new mapping: the reference is pinned again.
    renamed = spec(identity="intfloat/e5-large-v2")
    again, verdict = evaluate(renamed, first, 5.0, {"e5": unit(4, -3, 2, -1)}, None, NOW)
    assert verdict.healthy and again["models"][0]["reference"] != first["models"][0]["reference"]


def test_failures_to_answer_count_up_and_keep_what_was_known() -> None:
    good, _ = evaluate(spec(), {}, 5.0, {"e5": unit(1, 1, 1, 1)}, None, NOW)
    once, verdict = evaluate(spec(), good, 0.0, {}, "https://p.example/v1 timed out", NOW)
    twice, _ = evaluate(spec(), once, 0.0, {}, "https://p.example/v1 timed out", NOW)
    assert (verdict.healthy, verdict.reason, verdict.wrong_answer) == (False, "ProbeFailed", False)
    assert (once["consecutiveFailures"], twice["consecutiveFailures"]) == (1, 2)
    assert twice["models"] == good["models"] and twice["lastError"].endswith("timed out")


def test_probes_are_rate_limited_by_the_spec() -> None:
    s = ExternalModelEndpointSpec.model_validate(
        {"url": "https://p.example/v1", "models": [{"name": "e5"}], "healthProbe": {"intervalSeconds": 60}}
    )
    last = {"lastProbeTime": "2026-11-23T12:00:00Z"}
    assert not probe_due(s, last, spec_changed=False, now=NOW + timedelta(seconds=59))
    assert probe_due(s, last, spec_changed=False, now=NOW + timedelta(seconds=60))
    assert probe_due(s, last, spec_changed=True, now=NOW + timedelta(seconds=1))
    assert probe_due(s, {}, spec_changed=False, now=NOW)
    off = s.model_copy(update={"health_probe": s.health_probe.model_copy(update={"enabled": False})})  # type: ignore[union-attr]
    assert not probe_due(off, {}, spec_changed=True, now=NOW)


def test_references_survive_float16_encoding() -> None:
    vector = unit(*[float(i % 7 - 3) for i in range(384)])
    assert decode_reference(encode_reference(vector)) == pytest.approx(vector, abs=2e-3)
