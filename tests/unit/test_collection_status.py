"""A VectorCollection's conditions never claim a part that was not built or not applied."""

from __future__ import annotations

from vectorops.operator.api.conditions import ConditionStatus
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.status.collection import collection_synced, part_conditions, ready
from vectorops.operator.status.conditions import ConditionUpdate


def spec(**fields: object) -> VectorCollectionSpec:
    return VectorCollectionSpec.model_validate({"vectors": {"size": 4}, **fields})


def test_requested_parts_that_are_not_built_say_so_and_ready_names_them() -> None:
    # A reconciler without a rule writer does not deliver alerts: it says so. (The schema is built:
    # its condition is SchemaSync's, never NotImplemented.)
    asked = spec(postgresSchema={"enabled": True}, alerts={"enabled": True})
    assert part_conditions(asked).updates == []  # Alerts: the RuleSync's
    parts = part_conditions(asked, alerts_built=False)
    assert [(u.type, u.status, u.reason) for u in parts.updates] == [
        ("Alerts", ConditionStatus.UNKNOWN, "NotImplemented"),
    ]
    assert parts.remove == []
    synced, engine_gaps = collection_synced("docs", [])
    assert (synced.status, synced.reason, engine_gaps) == (ConditionStatus.TRUE, "Synced", [])
    summary = ready(synced, parts.gaps)
    assert (summary.status, summary.reason) == (ConditionStatus.TRUE, "Incomplete")
    assert "spec.alerts" in summary.message


def test_a_schema_asked_for_and_missing_makes_ready_false_with_its_reason() -> None:
    synced, _ = collection_synced("docs", [])
    down = ConditionUpdate("Schema", ConditionStatus.FALSE, "PostgresUnreachable", "schema s not checked")
    summary = ready(synced, [], down)
    assert (summary.status, summary.reason) == (ConditionStatus.FALSE, "PostgresUnreachable")
    assert "Qdrant collection is usable" in summary.message and "refuses writes" in summary.message
    made = ConditionUpdate("Schema", ConditionStatus.TRUE, "Synced", "schema s at migration 1 of 1")
    assert ready(synced, [], made).reason == "Synced"


def test_parts_not_asked_for_leave_no_condition() -> None:
    parts = part_conditions(spec(postgresSchema={"enabled": False}), alerts_built=False)
    assert parts.updates == [] and parts.gaps == []
    assert parts.remove == ["Alerts"]
    synced, _ = collection_synced("docs", [])
    assert ready(synced, parts.gaps).reason == "Synced"


def test_settings_an_embedded_engine_ignores_are_not_reported_synced() -> None:
    condition, gaps = collection_synced("docs", ["spec.hnsw", "spec.payloadIndexes"])
    assert (condition.status, condition.reason) == (ConditionStatus.TRUE, "SettingsIgnoredByEmbeddedEngine")
    assert "spec.hnsw, spec.payloadIndexes" in condition.message
    assert ready(condition, gaps).reason == "Incomplete"


def test_a_failed_collection_makes_ready_false_with_its_reason() -> None:
    failed = ConditionUpdate("Collection", ConditionStatus.FALSE, "OwnedElsewhere", "belongs to b/docs")
    summary = ready(failed, ["spec.alerts: not built"])
    assert (summary.status, summary.reason, summary.message) == (
        ConditionStatus.FALSE,
        "OwnedElsewhere",
        "belongs to b/docs",
    )
