"""Completing unfinished writes, and checking that PostgreSQL and Qdrant agree.

The repair pass takes rows pending or deleting for longer than the grace period (so a batch another
replica is still writing is left alone) and finishes them forward: a pending row whose point Qdrant holds
with the same content hash is committed; one whose point is missing or older is embedded again from the
stored text, upserted and committed; a deleting row's point is deleted and the row removed. It runs under
a session advisory lock of its own per schema (never the operator's migration lock), so one replica
repairs a collection at a time; the others skip it.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from vectorops.datastore import documents as db
from vectorops.gateway.collections.errors import DataPathError
from vectorops.gateway.collections.points import point_payload
from vectorops.gateway.collections.stores import Store
from vectorops.gateway.collections.writes import Embed, embed_all

SAMPLE = 20  # document ids shown per kind of difference


class _Quiet(contextlib.AbstractAsyncContextManager[None]):
    """Suppresses a store's failure (in cleanup, where the first error is the one to report)."""

    async def __aexit__(self, kind: object, value: object, tb: object) -> bool:
        return isinstance(value, DataPathError | psycopg.Error | OSError)


def _quiet() -> _Quiet:
    return _Quiet()


def repair_lock_key(schema: str) -> int:
    """A signed 64-bit advisory key for the repair of `schema`: derived apart from naming.advisory_key
    (the operator's migrations), so the two never block each other."""
    digest = hashlib.sha256(f"vectorops:repair:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class RepairReport:
    locked: bool = True  # False: another replica held the lock; nothing was done
    committed: int = 0  # pending rows whose point was already in Qdrant
    reembedded: int = 0  # pending rows embedded again and upserted
    deleted: int = 0  # deleting rows finished
    failed: str | None = None

    @property
    def changed(self) -> int:
        return self.committed + self.reembedded + self.deleted

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def repair(store: Store, grace_s: float, embed: Embed | None, embed_batch: int) -> RepairReport:
    """One pass over the collection (DataPathError when a store fails; what was done stays done)."""
    pg = store.pg
    assert pg is not None, "repair needs PostgreSQL"
    report, started = RepairReport(), time.perf_counter()
    async with pg.connection("the repair lock") as lock:
        cur = await lock.execute("SELECT pg_try_advisory_lock(%s)", (repair_lock_key(pg.schema),))
        row = await cur.fetchone()
        if not row or not row[0]:
            return RepairReport(locked=False)
        try:
            await _pass(store, grace_s, embed, embed_batch, report)
        except DataPathError as e:
            report.failed = e.message
            raise
        finally:
            if report.changed or report.failed:
                # PostgreSQL may be what failed: the pass's error is the one to raise.
                async with _quiet(), pg.connection("logging the repair") as conn:
                    await db.log_operation(
                        conn,
                        pg.schema,
                        "repair",
                        None,
                        report.changed,
                        "repair",
                        round((time.perf_counter() - started) * 1000, 3),
                        "failed" if report.failed else "ok",
                        f"committed={report.committed} reembedded={report.reembedded} "
                        f"deleted={report.deleted}"
                        + (f" failed: {report.failed}"[:400] if report.failed else ""),
                    )
            released = False
            async with _quiet():  # a broken connection's session locks are gone with it
                cur = await lock.execute("SELECT pg_advisory_unlock(%s)", (repair_lock_key(pg.schema),))
                released = bool((await cur.fetchone() or [False])[0])
            if not released:  # never hand the pool a connection that may still hold the lock
                async with _quiet():
                    await lock.close()
    return report


async def _pass(
    store: Store, grace_s: float, embed: Embed | None, embed_batch: int, report: RepairReport
) -> None:
    pg = store.pg
    assert pg is not None
    while True:
        async with pg.connection("reading unfinished rows") as conn:
            rows = await db.unfinished(conn, pg.schema, grace_s)
        if not rows:
            return
        pending = [r for r in rows if r.state == "pending"]
        deleting = [r for r in rows if r.state == "deleting"]
        if pending:
            held = await store.points.hashes([r.point_id for r in pending])
            ready = [r for r in pending if held.get(r.point_id) == r.content_hash]
            stale = [r for r in pending if held.get(r.point_id) != r.content_hash]
            if stale:
                if embed is None:
                    raise DataPathError("rows need embedding again but the collection's model is not served")
                vectors = await embed_all(embed, [r.text for r in stale], embed_batch, stale[0].dimension)
                await store.points.upsert(
                    [
                        (
                            r.point_id,
                            v,
                            point_payload(r.document_id, r.content_hash, r.payload, r.source, None),
                        )
                        for r, v in zip(stale, vectors, strict=True)
                    ]
                )
            async with pg.connection("committing repaired rows") as conn:
                await db.commit_points(conn, pg.schema, [(r.point_id, r.batch_id) for r in pending])
            report.committed += len(ready)
            report.reembedded += len(stale)
        if deleting:
            marked = [(r.point_id, r.batch_id) for r in deleting]
            async with pg.connection("re-reading deleting rows") as conn:
                gone = await db.still_deleting(conn, pg.schema, marked)  # not re-ingested meanwhile
            if gone:
                await store.points.delete(gone)
            async with pg.connection("removing deleted rows") as conn:
                report.deleted += await db.delete_points(conn, pg.schema, marked)
        if len(rows) < 500:
            return


async def consistency(store: Store) -> dict[str, Any]:
    """What differs between the two stores: committed rows without their point, points without a row,
    points carrying another version than their row, and rows still unfinished."""
    pg = store.pg
    assert pg is not None
    rows: dict[uuid.UUID, str] = {}
    async with pg.connection("reading documents") as conn:
        async for page in db.committed_hashes(conn, pg.schema):
            rows.update(page)
        counts = await db.counts(conn, pg.schema)
    points: dict[uuid.UUID, tuple[str | None, str | None]] = {}
    async for qpage in store.points.scroll():
        points.update({p: (doc, h) for p, doc, h in qpage})
    orphans = [p for p in points if p not in rows]
    if orphans:
        async with pg.connection("reading documents") as conn:
            known = await db.known_points(conn, pg.schema, orphans)
        orphans = [p for p in orphans if p not in known]  # a pending or deleting row is "unfinished"
    missing = [p for p in rows if p not in points]
    mismatched = [p for p, h in rows.items() if p in points and points[p][1] != h]
    return {
        "collection": store.binding.name,
        "postgres": {"committed": counts.committed, "pending": counts.pending, "deleting": counts.deleting},
        "qdrant": {"points": len(points)},
        "missing_in_qdrant": len(missing),
        "missing_in_postgres": len(orphans),
        "hash_mismatches": len(mismatched),
        "unfinished": counts.pending + counts.deleting,
        "consistent": not (missing or orphans or mismatched or counts.pending or counts.deleting),
        "examples": {
            "missing_in_qdrant": [str(p) for p in missing[:SAMPLE]],
            "missing_in_postgres": [points[p][0] or str(p) for p in orphans[:SAMPLE]],
            "hash_mismatches": [str(p) for p in mismatched[:SAMPLE]],
        },
    }
