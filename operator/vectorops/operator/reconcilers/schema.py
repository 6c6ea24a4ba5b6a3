"""A VectorCollection's PostgreSQL schema (spec.postgresSchema): created owned, migrated to the latest
version, drift repaired with an Event, the operation log pruned, dropped by deletionPolicy.

What a pass found is a SchemaResult: the `Schema` condition, status.schemaName/schemaVersion, Events, and
whether the schema is at the latest migration (the binding offers PostgreSQL to the gateway only then).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection

from vectorops.datastore import migrations
from vectorops.datastore.migrations import LATEST_VERSION, SchemaError, owner_comment
from vectorops.datastore.naming import InvalidSchemaPrefix, schema_name
from vectorops.operator.adapters.postgres import PostgresFailure, PostgresPools, classify
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.collection_binding import SchemaView
from vectorops.operator.builders.postgres_access import PostgresAccess
from vectorops.operator.reconcilers.outcome import Context, EventNote
from vectorops.operator.reconcilers.store import StoreProblem, postgres_target, store_key
from vectorops.operator.status.conditions import ConditionUpdate


def wants_schema(spec: VectorCollectionSpec) -> bool:
    return spec.postgres_schema is not None and spec.postgres_schema.enabled


@dataclass
class SchemaResult:
    condition: ConditionUpdate | None  # None: no schema asked for (the condition is removed)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventNote] = field(default_factory=list)
    name: str | None = None
    version: int = 0
    access: PostgresAccess | None = None

    @property
    def ready(self) -> bool:
        return self.condition is not None and self.condition.status is ConditionStatus.TRUE

    def view(self, spec: VectorCollectionSpec) -> SchemaView:
        """What the binding builder needs to know of it."""
        return SchemaView(
            required=wants_schema(spec),
            ready=self.ready,
            name=self.name,
            version=self.version,
            access=self.access,
            problem=self.condition.message if self.condition is not None else "",
        )


def _schema(status: ConditionStatus, reason: str, message: str) -> ConditionUpdate:
    return ConditionUpdate(ConditionType.SCHEMA.value, status, reason, message)


def _failed(reason: str, message: str) -> SchemaResult:
    """status.schemaName/schemaVersion stay what they were: what we last made."""
    return SchemaResult(_schema(ConditionStatus.FALSE, reason, message))


@dataclass
class SchemaSync:
    """`prune_seconds`: the operation log is pruned on a collection's first pass, then at most this
    often (a DELETE per resync of every collection would be wasted work)."""

    pools: PostgresPools
    prune_seconds: float = 3600.0
    _pruned: dict[str, float] = field(default_factory=dict)  # uid -> when

    async def sync(
        self, ctx: Context, spec: VectorCollectionSpec, store_name: str, store: VectorStoreSpec | None
    ) -> SchemaResult:
        """`store`: the loaded store spec, None when it could not be loaded (the caller reports why)."""
        if not wants_schema(spec):
            self._pruned.pop(ctx.uid, None)
            return SchemaResult(None, {"schemaName": None, "schemaVersion": None})
        if store is None:
            return _failed(
                Reason.STORE_NOT_FOUND.value, "the VectorStore could not be loaded (see Collection)"
            )
        if store.postgres is None:
            return _failed(
                Reason.POSTGRES_NOT_CONFIGURED.value,
                f"spec.postgresSchema asks for a PostgreSQL schema, but VectorStore {store_name} declares no "
                "spec.postgres: add it there, or set spec.postgresSchema.enabled: false",
            )
        try:
            name = schema_name(store.postgres.schema_prefix, ctx.namespace, ctx.name)
            access, target = await postgres_target(store.postgres, ctx.namespace, ctx.kube, self.pools)
        except InvalidSchemaPrefix as e:
            return _failed(Reason.INVALID_SPEC.value, str(e))
        except StoreProblem as e:
            return _failed(e.problem.reason, e.problem.message)
        recorded = ctx.status.get("schemaVersion") if ctx.status.get("schemaName") == name else None
        try:
            async with self.pools.connection(store_key(ctx.namespace, store_name), target, "migrate") as conn:
                report = await migrations.migrate(conn, name, owner_comment(ctx.namespace, ctx.name))
                pruned = await self._prune(ctx, conn, name, spec)
        except SchemaError as e:
            # Not ours, tampered with or newer: never repaired by force; status keeps what we last made.
            return _failed(e.reason, f"schema {name}: {e}")
        except PostgresFailure as e:
            return _failed(e.reason, f"schema {name} not checked: {e.message}")
        except Exception as e:
            failure = classify(e, target.where, target.conninfo)
            return _failed(failure.reason, f"schema {name} not checked: {failure.message}")
        events = _events(name, report, recorded)
        if pruned:
            events.append(
                EventNote("Normal", "OperationLogPruned", f"removed {pruned} operation log rows of {name}")
            )
        message = f"schema {name} at migration {report.version} of {LATEST_VERSION}"
        return SchemaResult(
            _schema(ConditionStatus.TRUE, Reason.SYNCED.value, message),
            {"schemaName": name, "schemaVersion": report.version},
            events,
            name,
            report.version,
            access,
        )

    async def _prune(self, ctx: Context, conn: AsyncConnection, name: str, spec: VectorCollectionSpec) -> int:
        assert spec.postgres_schema is not None
        last = self._pruned.get(ctx.uid)
        if last is not None and time.monotonic() - last < self.prune_seconds:
            return 0
        removed = await migrations.prune_operation_log(
            conn, name, spec.postgres_schema.operation_log_retention_days
        )
        self._pruned[ctx.uid] = time.monotonic()
        return removed

    async def drop(
        self, ctx: Context, spec: VectorCollectionSpec, store_name: str, store: VectorStoreSpec | None
    ) -> EventNote | None:
        """Honour deletionPolicy for the schema (None: no schema to speak of). Raises PostgresFailure
        or StoreProblem when PostgreSQL cannot be reached (the deletion is retried)."""
        name = _dropped_name(ctx, spec, store)
        if name is None:
            return None
        if spec.deletion_policy.value == "Retain":
            return EventNote("Normal", "Retained", f"deletionPolicy Retain: kept PostgreSQL schema {name}")
        key = store_key(ctx.namespace, store_name)
        owner = owner_comment(ctx.namespace, ctx.name)
        try:
            target = None
            if store is not None and store.postgres is not None:
                try:
                    _, target = await postgres_target(store.postgres, ctx.namespace, ctx.kube, self.pools)
                except StoreProblem:
                    if self.pools.cached(key) is None:  # nothing to fall back on: retried, and said
                        raise
            if target is not None:
                async with self.pools.connection(key, target, "drop_schema") as conn:
                    dropped = await migrations.drop(conn, name, owner)
            else:  # the store or its Secret went first (namespace deletion): the pool it left, if any
                async with self.pools.cached_connection(key) as cached:
                    if cached is None:
                        raise _store_gone(name)
                    dropped = await migrations.drop(cached, name, owner)
        except migrations.SchemaNotOwned as e:
            return EventNote("Warning", Reason.NOT_OWNED.value, f"kept PostgreSQL schema {name}: {e}")
        finally:
            self._pruned.pop(ctx.uid, None)
        if not dropped:
            return EventNote("Normal", "Deleted", f"PostgreSQL schema {name} was already gone")
        return EventNote("Normal", "Deleted", f"Dropped PostgreSQL schema {name} (deletionPolicy Delete)")


def _store_gone(name: str) -> PostgresFailure:
    return PostgresFailure(
        "PostgresNotConfigured",
        f"cannot drop PostgreSQL schema {name}: the VectorStore or its spec.postgres is gone",
    )


def _dropped_name(ctx: Context, spec: VectorCollectionSpec, store: VectorStoreSpec | None) -> str | None:
    """The schema to drop: the one the status recorded (what we made), else, while the spec asks for
    one, the one the store's prefix gives (made, but the status write was lost). None: no schema, e.g.
    spec.postgresSchema was turned off (that keeps the schema, unmanaged: no data dropped by surprise)."""
    recorded = ctx.status.get("schemaName")
    if recorded:
        return str(recorded)
    if wants_schema(spec) and store is not None and store.postgres is not None:
        try:
            return schema_name(store.postgres.schema_prefix, ctx.namespace, ctx.name)
        except InvalidSchemaPrefix:
            return None
    return None


def _events(name: str, report: migrations.MigrationReport, recorded: Any) -> list[EventNote]:
    """What a migrate() call did, told: created, migrated, or drift repaired."""
    made_before = isinstance(recorded, int) and recorded > 0
    if report.created_schema and made_before:
        return [
            EventNote(
                "Warning",
                Reason.DRIFT_REPAIRED.value,
                f"schema {name} was dropped outside the operator; recreated empty (its documents and "
                "operation log are lost)",
            )
        ]
    if report.created_schema:
        return [
            EventNote(
                "Normal",
                Reason.CREATED.value,
                f"Created PostgreSQL schema {name} at migration {report.version}",
            )
        ]
    if not report.applied:
        return []
    if made_before and max(report.applied) <= recorded:
        return [
            EventNote(
                "Warning",
                Reason.DRIFT_REPAIRED.value,
                f"migration record of {name} was missing; re-applied (idempotent) migrations "
                f"{', '.join(map(str, report.applied))}",
            )
        ]
    return [
        EventNote(
            "Normal",
            "Migrated",
            f"PostgreSQL schema {name} migrated to {report.version} "
            f"(applied {', '.join(map(str, report.applied))})",
        )
    ]
