"""The gateway's reads and writes of a collection schema (the layout is migrations.py's).

PostgreSQL is the source of truth for what was acknowledged: a document is `committed` only after its
point is in Qdrant. A batch is first written as `pending` under a new batch_id (one transaction), then
committed; a delete marks rows `deleting` first and removes them after Qdrant did. Rows left pending or
deleting (a failure, a killed replica) are what the repair pass completes (see gateway/collections).

Every function takes an open connection in autocommit mode and the schema name (always passed through
sql.Identifier); values go as parameters, never into SQL text.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

PAGE = 1000  # rows per round trip when a whole table is read (the consistency check)


@dataclass(frozen=True)
class NewDocument:
    document_id: str
    point_id: uuid.UUID
    text: str
    text_sha256: str
    source: str | None
    payload: dict[str, Any]
    model: str
    model_revision: str | None
    dimension: int

    @property
    def content_hash(self) -> str:
        return content_hash(self.text_sha256, self.payload, self.source, self.model, self.model_revision)


@dataclass(frozen=True)
class DocumentRow(NewDocument):
    """A document as stored: what was written, and where its write stands."""

    state: str
    batch_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Counts:
    committed: int = 0
    pending: int = 0
    deleting: int = 0


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def content_hash(
    text_hash: str, payload: dict[str, Any], source: str | None, model: str, revision: str | None
) -> str:
    """What a Qdrant point must carry to be the point of this row: everything that changes the point
    (its vector: text and model; its payload: payload and source), canonical (sorted keys)."""
    canonical = orjson.dumps([text_hash, payload, source, model, revision], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _t(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


_COLUMNS = (
    "document_id, point_id, text, text_sha256, source, payload, model, model_revision, dimension,"
    " state, batch_id, created_at, updated_at"
)


def _row(r: dict[str, Any]) -> DocumentRow:
    return DocumentRow(**r)


async def committed_unchanged(conn: AsyncConnection, schema: str, docs: Sequence[NewDocument]) -> set[str]:
    """The ids among `docs` whose committed row already holds the same content (nothing to embed or
    write again). A read only: it is used before anything is embedded."""
    if not docs:
        return set()
    wanted = {d.document_id: d.content_hash for d in docs}
    query = sql.SQL(
        "SELECT document_id, text_sha256, payload, source, model, model_revision FROM {}"
        " WHERE document_id = ANY(%s) AND state = 'committed'"
    ).format(_t(schema, "documents"))
    cur = await conn.execute(query, (list(wanted),))
    same = set()
    for doc_id, text_hash, payload, source, model, revision in await cur.fetchall():
        if wanted.get(doc_id) == content_hash(text_hash, payload, source, model, revision):
            same.add(doc_id)
    return same


async def begin_batch(
    conn: AsyncConnection,
    schema: str,
    batch_id: uuid.UUID,
    docs: Sequence[NewDocument],
    rewrite: Sequence[str] = (),
) -> list[str]:
    """Write `docs` as pending under `batch_id`, in one transaction. A document whose committed row has
    the same content is left as it is (so re-sending a batch duplicates nothing), unless its id is in
    `rewrite` (its point is missing from Qdrant: the committed row alone cannot restore it). Returns the
    ids now pending under this batch."""
    if not docs:
        return []
    query = sql.SQL(
        "INSERT INTO {t} AS d (document_id, point_id, text, text_sha256, source, payload, model,"
        " model_revision, dimension, state, batch_id)"
        " SELECT u.*, 'pending', %s FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::text[], %s::text[],"
        " %s::jsonb[], %s::text[], %s::text[], %s::int[]) AS u"
        " ON CONFLICT (document_id) DO UPDATE SET point_id = EXCLUDED.point_id, text = EXCLUDED.text,"
        " text_sha256 = EXCLUDED.text_sha256, source = EXCLUDED.source, payload = EXCLUDED.payload,"
        " model = EXCLUDED.model, model_revision = EXCLUDED.model_revision,"
        " dimension = EXCLUDED.dimension, state = 'pending', batch_id = EXCLUDED.batch_id,"
        " updated_at = now()"
        " WHERE d.document_id = ANY(%s)"
        " OR NOT (d.state = 'committed' AND d.text_sha256 = EXCLUDED.text_sha256"
        " AND d.payload = EXCLUDED.payload AND d.source IS NOT DISTINCT FROM EXCLUDED.source"
        " AND d.model = EXCLUDED.model AND d.model_revision IS NOT DISTINCT FROM EXCLUDED.model_revision)"
        " RETURNING document_id"
    ).format(t=_t(schema, "documents"))
    params = (
        batch_id,
        [d.document_id for d in docs],
        [d.point_id for d in docs],
        [d.text for d in docs],
        [d.text_sha256 for d in docs],
        [d.source for d in docs],
        [Jsonb(d.payload) for d in docs],
        [d.model for d in docs],
        [d.model_revision for d in docs],
        [d.dimension for d in docs],
        list(rewrite),
    )
    async with conn.transaction():
        cur = await conn.execute(query, params)
        return [r[0] for r in await cur.fetchall()]


async def commit_batch(conn: AsyncConnection, schema: str, batch_id: uuid.UUID) -> int:
    """pending -> committed for the rows still under `batch_id` (a later batch may have taken some)."""
    cur = await conn.execute(
        sql.SQL(
            "UPDATE {} SET state = 'committed', committed_at = now(), updated_at = now()"
            " WHERE batch_id = %s AND state = 'pending'"
        ).format(_t(schema, "documents")),
        (batch_id,),
    )
    return cur.rowcount


Unfinished = Sequence[tuple[uuid.UUID, uuid.UUID]]  # (point id, batch id) of rows the repair pass read


def _pairs(rows: Unfinished) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    return [p for p, _ in rows], [b for _, b in rows]


_ROWS = "unnest(%s::uuid[], %s::uuid[]) AS u(point_id, batch_id)"
_SAME_ROW = "d.point_id = u.point_id AND d.batch_id = u.batch_id"


async def commit_points(conn: AsyncConnection, schema: str, rows: Unfinished) -> int:
    """pending -> committed for these rows (the repair pass, which put their points in Qdrant); a row a
    later batch has taken since is that batch's to commit, not the repair's."""
    cur = await conn.execute(
        sql.SQL(
            "UPDATE {} AS d SET state = 'committed', committed_at = now(), updated_at = now()"
            f" FROM {_ROWS} WHERE {_SAME_ROW} AND d.state = 'pending'"
        ).format(_t(schema, "documents")),
        _pairs(rows),
    )
    return cur.rowcount


async def still_deleting(conn: AsyncConnection, schema: str, rows: Unfinished) -> list[uuid.UUID]:
    """The points of these rows still marked deleting by the same batch (a re-ingest since then has
    taken the others: their new points must not be deleted)."""
    cur = await conn.execute(
        sql.SQL(
            f"SELECT d.point_id FROM {{}} AS d, {_ROWS} WHERE {_SAME_ROW} AND d.state = 'deleting'"
        ).format(_t(schema, "documents")),
        _pairs(rows),
    )
    return [r[0] for r in await cur.fetchall()]


async def mark_deleting(
    conn: AsyncConnection, schema: str, batch_id: uuid.UUID, point_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Rows of these points -> deleting under `batch_id` (before Qdrant is asked to delete them); the
    points that had a row."""
    cur = await conn.execute(
        sql.SQL(
            "UPDATE {} SET state = 'deleting', batch_id = %s, updated_at = now() WHERE point_id = ANY(%s)"
            " RETURNING point_id"
        ).format(_t(schema, "documents")),
        (batch_id, list(point_ids)),
    )
    return {r[0] for r in await cur.fetchall()}


async def finish_delete(conn: AsyncConnection, schema: str, batch_id: uuid.UUID) -> int:
    """Remove the rows `batch_id` marked deleting (Qdrant has deleted their points)."""
    cur = await conn.execute(
        sql.SQL("DELETE FROM {} WHERE batch_id = %s AND state = 'deleting'").format(_t(schema, "documents")),
        (batch_id,),
    )
    return cur.rowcount


async def delete_points(conn: AsyncConnection, schema: str, rows: Unfinished) -> int:
    """Remove these deleting rows (the repair pass), unless a later batch has taken them since."""
    cur = await conn.execute(
        sql.SQL(f"DELETE FROM {{}} AS d USING {_ROWS} WHERE {_SAME_ROW} AND d.state = 'deleting'").format(
            _t(schema, "documents")
        ),
        _pairs(rows),
    )
    return cur.rowcount


async def fetch_by_points(
    conn: AsyncConnection, schema: str, point_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, DocumentRow]:
    """Committed rows by point id (the search join): a pending or deleting row is not served."""
    if not point_ids:
        return {}
    query = sql.SQL("SELECT {} FROM {} WHERE point_id = ANY(%s) AND state = 'committed'").format(
        sql.SQL(_COLUMNS), _t(schema, "documents")
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (list(point_ids),))
        return {r["point_id"]: _row(r) for r in await cur.fetchall()}


async def unfinished(
    conn: AsyncConnection, schema: str, older_than_s: float, limit: int = 500
) -> list[DocumentRow]:
    """Rows pending or deleting untouched for `older_than_s` seconds, oldest first."""
    query = sql.SQL(
        "SELECT {} FROM {} WHERE state <> 'committed'"
        " AND updated_at < now() - make_interval(secs => %s) ORDER BY updated_at LIMIT %s"
    ).format(sql.SQL(_COLUMNS), _t(schema, "documents"))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (float(older_than_s), limit))
        return [_row(r) for r in await cur.fetchall()]


async def log_operation(
    conn: AsyncConnection,
    schema: str,
    operation: str,
    batch_id: uuid.UUID | None,
    points: int,
    client: str | None,
    latency_ms: float | None,
    outcome: str,
    detail: str | None = None,
) -> None:
    """Append one operation_log row. `client`: the API key's Secret name, never the key."""
    await conn.execute(
        sql.SQL(
            "INSERT INTO {} (operation, batch_id, points, client, latency_ms, outcome, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
        ).format(_t(schema, "operation_log")),
        (operation, batch_id, points, client, latency_ms, outcome, detail),
    )


async def counts(conn: AsyncConnection, schema: str) -> Counts:
    cur = await conn.execute(
        sql.SQL("SELECT state, count(*) FROM {} GROUP BY state").format(_t(schema, "documents"))
    )
    found = {state: int(n) for state, n in await cur.fetchall()}
    return Counts(found.get("committed", 0), found.get("pending", 0), found.get("deleting", 0))


async def committed_hashes(conn: AsyncConnection, schema: str) -> AsyncIterator[dict[uuid.UUID, str]]:
    """Every committed row's point id and content hash, a page at a time (keyset by point id)."""
    after = uuid.UUID(int=0)
    query = sql.SQL(
        "SELECT point_id, text_sha256, payload, source, model, model_revision FROM {}"
        " WHERE state = 'committed' AND point_id > %s ORDER BY point_id LIMIT %s"
    ).format(_t(schema, "documents"))
    while True:
        cur = await conn.execute(query, (after, PAGE))
        rows = await cur.fetchall()
        if not rows:
            return
        yield {r[0]: content_hash(r[1], r[2], r[3], r[4], r[5]) for r in rows}
        after = rows[-1][0]


async def known_points(conn: AsyncConnection, schema: str, point_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these points have a row, in any state."""
    cur = await conn.execute(
        sql.SQL("SELECT point_id FROM {} WHERE point_id = ANY(%s)").format(_t(schema, "documents")),
        (list(point_ids),),
    )
    return {r[0] for r in await cur.fetchall()}


async def operations(conn: AsyncConnection, schema: str, limit: int = 100) -> list[dict[str, Any]]:
    """The latest operation_log rows, newest first (tests and the consistency report)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL(
                "SELECT operation, batch_id, points, client, latency_ms, outcome, detail FROM {}"
                " ORDER BY id DESC LIMIT %s"
            ).format(_t(schema, "operation_log")),
            (limit,),
        )
        return list(await cur.fetchall())
