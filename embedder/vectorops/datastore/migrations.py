"""A collection schema's versioned migrations, applied by the operator, and the layout they create.

Each migration runs in its own transaction holding a transaction-scoped advisory lock for its schema,
and re-reads what is applied after taking the lock: two operator replicas, or a restart half-way, never
apply one twice, and a crash leaves every migration either done and recorded or not done at all. Every
statement is also idempotent (IF NOT EXISTS / OR REPLACE), so a migrations table emptied by hand is
restored by running them again, without touching data.

A schema is owned: the operator creates it with a comment naming its VectorCollection, and never alters
or drops a schema whose comment names anything else (or nothing). Identifiers go through
psycopg's sql.Identifier only; no user input is ever formatted into SQL text.

The tables (for the gateway's writers and readers, see documents.py):
  documents       one row per document id: its text and hash, source, payload copy, the model identity it
                  was embedded with, the Qdrant point id, and the write state (pending -> committed,
                  deleting) that makes a half-written batch visible and repairable.
  operation_log   append-only (an update raises): what was written or deleted, how many points, by which
                  client key (by its Secret's name), latency and outcome. Old rows are removed by
                  retention only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from psycopg import AsyncConnection, sql

from vectorops.datastore.naming import advisory_key

MIGRATIONS_TABLE = "schema_migrations"
OWNER_PREFIX = "vectorops.io/owner="


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]  # SQL templates; {schema} is replaced by the quoted schema identifier

    @property
    def checksum(self) -> str:
        return hashlib.sha256("\n;\n".join(self.statements).encode()).hexdigest()[:16]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "documents and operation log",
        (
            """CREATE TABLE IF NOT EXISTS {schema}.documents (
                document_id text PRIMARY KEY CHECK (length(document_id) BETWEEN 1 AND 512),
                point_id uuid NOT NULL UNIQUE,
                text text NOT NULL,
                text_sha256 text NOT NULL,
                source text,
                payload jsonb NOT NULL DEFAULT '{{}}'::jsonb,
                model text NOT NULL,
                model_revision text,
                dimension integer NOT NULL CHECK (dimension > 0),
                state text NOT NULL CHECK (state IN ('pending', 'committed', 'deleting')),
                batch_id uuid NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                committed_at timestamptz
            )""",
            "CREATE INDEX IF NOT EXISTS documents_unfinished ON {schema}.documents (updated_at)"
            " WHERE state <> 'committed'",
            "CREATE INDEX IF NOT EXISTS documents_batch ON {schema}.documents (batch_id)",
            """CREATE TABLE IF NOT EXISTS {schema}.operation_log (
                id bigserial PRIMARY KEY,
                at timestamptz NOT NULL DEFAULT now(),
                operation text NOT NULL CHECK (operation IN ('upsert', 'delete', 'repair')),
                batch_id uuid,
                points integer NOT NULL CHECK (points >= 0),
                client text,
                latency_ms double precision,
                outcome text NOT NULL CHECK (outcome IN ('ok', 'failed')),
                detail text
            )""",
            "CREATE INDEX IF NOT EXISTS operation_log_at ON {schema}.operation_log (at)",
            """CREATE OR REPLACE FUNCTION {schema}.operation_log_append_only() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'operation_log is append-only'; END $$""",
            """CREATE OR REPLACE TRIGGER operation_log_append_only BEFORE UPDATE ON {schema}.operation_log
                FOR EACH ROW EXECUTE FUNCTION {schema}.operation_log_append_only()""",
        ),
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version


def owner_comment(namespace: str, name: str) -> str:
    return f"{OWNER_PREFIX}{namespace}/{name}"


class SchemaError(Exception):
    """The schema cannot be brought to the latest version without losing or taking what is not ours."""

    reason = "SchemaError"


class SchemaNotOwned(SchemaError):
    reason = "SchemaNotOwned"


class MigrationTampered(SchemaError):
    reason = "MigrationTampered"


class SchemaNewer(SchemaError):
    reason = "SchemaNewer"


@dataclass(frozen=True)
class SchemaState:
    exists: bool
    comment: str | None = None
    applied: dict[int, str] = field(default_factory=dict)  # version -> checksum recorded
    has_documents: bool = False

    @property
    def version(self) -> int:
        return max(self.applied, default=0)


@dataclass
class MigrationReport:
    created_schema: bool = False
    applied: list[int] = field(default_factory=list)
    version: int = 0


def _q(template: str, schema: str) -> sql.Composed:
    return sql.SQL(template).format(schema=sql.Identifier(schema))


async def inspect(conn: AsyncConnection, schema: str) -> SchemaState:
    cur = await conn.execute(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", (schema,)
    )
    row = await cur.fetchone()
    if row is None:
        return SchemaState(exists=False)
    cur = await conn.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND relname IN (%s, 'documents')",
        (schema, MIGRATIONS_TABLE),
    )
    tables = {r[0] for r in await cur.fetchall()}
    applied: dict[int, str] = {}
    if MIGRATIONS_TABLE in tables:
        cur = await conn.execute(
            sql.SQL("SELECT version, checksum FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(MIGRATIONS_TABLE)
            )
        )
        applied = {int(v): str(c) for v, c in await cur.fetchall()}
    return SchemaState(True, row[0], applied, "documents" in tables)


def check(state: SchemaState, owner: str) -> None:
    """Raise what forbids migrating this schema (pure)."""
    if state.exists and state.comment != owner:
        whose = f"is marked {state.comment!r}" if state.comment else "has no vectorops ownership comment"
        raise SchemaNotOwned(f"schema exists and {whose}: it is not altered or dropped by this collection")
    known = {m.version: m for m in MIGRATIONS}
    for version, checksum in sorted(state.applied.items()):
        migration = known.get(version)
        if migration is None:
            raise SchemaNewer(
                f"schema is at migration {version}, newer than this operator knows ({LATEST_VERSION}): "
                "upgrade the operator; nothing was changed"
            )
        if checksum != migration.checksum:
            raise MigrationTampered(
                f"migration {version} ({migration.name}) is recorded with checksum {checksum}, expected "
                f"{migration.checksum}: the migrations table was edited; fix or delete that row "
                f"(statements are idempotent) and the operator re-applies it"
            )


async def _step(conn: AsyncConnection, schema: str, owner: str, report: MigrationReport) -> bool:
    """One transaction: take the schema's lock, re-check, apply the next missing migration. False when
    there is nothing left to apply."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(schema),))
        state = await inspect(conn, schema)
        check(state, owner)
        if not state.exists:
            await conn.execute(_q("CREATE SCHEMA {schema}", schema))
            await conn.execute(_q("COMMENT ON SCHEMA {schema} IS ", schema) + sql.Literal(owner))
            report.created_schema = True
        await conn.execute(
            _q(
                "CREATE TABLE IF NOT EXISTS {schema}."
                + MIGRATIONS_TABLE
                + " (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                schema,
            )
        )
        pending = [m for m in MIGRATIONS if m.version not in state.applied]
        report.version = state.version
        if not pending:
            return False
        migration = pending[0]
        for statement in migration.statements:
            await conn.execute(_q(statement, schema))
        await conn.execute(
            _q("INSERT INTO {schema}." + MIGRATIONS_TABLE + " (version, name, checksum) VALUES ", schema)
            + sql.SQL("({}, {}, {})").format(
                sql.Literal(migration.version), sql.Literal(migration.name), sql.Literal(migration.checksum)
            )
        )
        report.applied.append(migration.version)
        report.version = max(report.version, migration.version)
        return len(pending) > 1


async def migrate(conn: AsyncConnection, schema: str, owner: str) -> MigrationReport:
    """Bring the schema to the latest version (creating it, owned, if absent). Raises SchemaError when
    that would alter what is not ours or what was tampered with; psycopg errors when Postgres fails."""
    report = MigrationReport()
    while await _step(conn, schema, owner, report):
        pass
    report.version = max(report.version, *report.applied, 0)
    return report


async def drop(conn: AsyncConnection, schema: str, owner: str) -> bool:
    """Drop the schema if it exists and is ours; False when it was already gone. Raises SchemaNotOwned."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(schema),))
        state = await inspect(conn, schema)
        if not state.exists:
            return False
        if state.comment != owner:
            check(SchemaState(True, state.comment), owner)
        await conn.execute(_q("DROP SCHEMA {schema} CASCADE", schema))
        return True


async def prune_operation_log(conn: AsyncConnection, schema: str, retention_days: int) -> int:
    """Remove operation log rows older than the retention; the number removed."""
    async with conn.transaction():
        cur = await conn.execute(
            _q("DELETE FROM {schema}.operation_log WHERE at < now() - make_interval(days => ", schema)
            + sql.SQL("{})").format(sql.Literal(int(retention_days)))
        )
        return cur.rowcount
