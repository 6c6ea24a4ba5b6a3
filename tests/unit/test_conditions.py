"""Condition bookkeeping: transition times, ordering, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vectorops.operator.api.conditions import ConditionStatus
from vectorops.operator.status.conditions import (
    ConditionUpdate,
    format_time,
    merge_conditions,
    ready_transition,
)
from vectorops.operator.status.patch import status_patch

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def ready(status: ConditionStatus, reason: str = "Because") -> ConditionUpdate:
    return ConditionUpdate("Ready", status, reason, "message")


def test_time_format_is_rfc3339_seconds() -> None:
    assert format_time(T0) == "2026-01-01T12:00:00Z"


def test_transition_time_kept_while_status_unchanged() -> None:
    first = merge_conditions([], [ready(ConditionStatus.FALSE, "A")], 1, T0)
    second = merge_conditions(first, [ready(ConditionStatus.FALSE, "B")], 2, T1)
    assert second[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert second[0]["reason"] == "B" and second[0]["observedGeneration"] == 2
    third = merge_conditions(second, [ready(ConditionStatus.TRUE)], 2, T1)
    assert third[0]["lastTransitionTime"] == format_time(T1)


def test_ready_first_and_other_conditions_kept() -> None:
    merged = merge_conditions(
        [{"type": "Alerts", "status": "True", "reason": "X", "message": "", "lastTransitionTime": "t"}],
        [ConditionUpdate("Collection", ConditionStatus.TRUE, "Ok", ""), ready(ConditionStatus.TRUE)],
        3,
        T0,
    )
    assert [c["type"] for c in merged] == ["Ready", "Alerts", "Collection"]


def test_ready_transition_detects_status_or_reason_changes_only() -> None:
    a = merge_conditions([], [ready(ConditionStatus.FALSE, "A")], 1, T0)
    assert ready_transition([], a) is not None
    assert ready_transition(a, merge_conditions(a, [ready(ConditionStatus.FALSE, "A")], 1, T1)) is None
    assert ready_transition(a, merge_conditions(a, [ready(ConditionStatus.FALSE, "B")], 1, T1)) is not None


statuses = st.sampled_from(list(ConditionStatus))
updates = st.lists(
    st.builds(
        ConditionUpdate,
        st.sampled_from(["Ready", "Collection", "Schema"]),
        statuses,
        st.sampled_from(["A", "B"]),
        st.text(max_size=5),
    ),
    max_size=3,
    unique_by=lambda u: u.type,  # a reconcile pass states each condition once
)


@given(updates, updates)
def test_merge_is_idempotent(first, second) -> None:
    base = merge_conditions([], first, 1, T0)
    once = merge_conditions(base, second, 2, T1)
    twice = merge_conditions(once, second, 2, T1 + timedelta(hours=1))
    # Re-applying the same updates later changes nothing: no status write on an idle resync.
    assert status_patch({"conditions": once}, {"conditions": twice}) == {}


def test_status_patch_only_changed_keys() -> None:
    assert status_patch({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": None}) == {"b": 3}
    assert status_patch({"a": 1}, {"a": None}) == {"a": None}
