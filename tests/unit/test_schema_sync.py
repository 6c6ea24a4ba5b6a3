"""What a collection's schema pass tells (Events) and which schema a deletion may drop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vectorops.datastore.migrations import MigrationReport
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.reconcilers.outcome import Context
from vectorops.operator.reconcilers.schema import _dropped_name, _events

STORE = VectorStoreSpec.model_validate(
    {"qdrant": {"url": "http://q:6333"}, "postgres": {"dsnSecretRef": {"name": "pg", "key": "dsn"}}}
)


def ctx(status: dict[str, Any]) -> Context:
    return Context("c", "ns", "uid", 1, {}, status, None, datetime.now(UTC))  # type: ignore[arg-type]


def test_events_say_what_a_pass_did_and_nothing_when_nothing_changed() -> None:
    def reasons(report: MigrationReport, recorded: Any) -> list[tuple[str, str]]:
        return [(e.type, e.reason) for e in _events("s", report, recorded)]

    assert reasons(MigrationReport(True, [1], 1), None) == [("Normal", "Created")]
    assert reasons(MigrationReport(True, [1], 1), 1) == [("Warning", "DriftRepaired")]
    assert "recreated empty" in _events("s", MigrationReport(True, [1], 1), 1)[0].message
    assert reasons(MigrationReport(False, [1], 1), 1) == [("Warning", "DriftRepaired")]
    assert "migration record of s was missing" in _events("s", MigrationReport(False, [1], 1), 1)[0].message
    assert reasons(MigrationReport(False, [2], 2), 1) == [("Normal", "Migrated")]
    assert reasons(MigrationReport(False, [], 1), 1) == []


def test_only_a_schema_we_made_or_still_want_is_dropped() -> None:
    wanted = VectorCollectionSpec.model_validate({"vectors": {"size": 4}, "postgresSchema": {}})
    off = VectorCollectionSpec.model_validate({"vectors": {"size": 4}, "postgresSchema": {"enabled": False}})
    assert _dropped_name(ctx({"schemaName": "made"}), off, None) == "made"
    computed = _dropped_name(ctx({}), wanted, STORE)
    assert computed is not None and computed.startswith("vectorops_ns_c_")
    assert _dropped_name(ctx({}), off, STORE) is None
    assert _dropped_name(ctx({}), wanted, None) is None
