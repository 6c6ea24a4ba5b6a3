"""The write protocol (docs/datapath.md): PostgreSQL holds what was acknowledged, Qdrant what is served.

Ingest: (1) embed every changed document, writing nothing; (2) one PostgreSQL transaction writes them
pending under a new batch id (a document equal to its committed row is skipped as unchanged); (3) Qdrant
upsert with wait=true; (4) one transaction: pending -> committed and an operation_log row; (5) the
collection's write generation is bumped (the search cache). A failure at any step is a 503 and leaves
rows pending (or nothing, before (2)); the client's retry, or the repair pass, completes them. Delete is
the same with `deleting` rows, removed after Qdrant deleted the points.

A collection without PostgreSQL writes Qdrant only: no operation log, no repair.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from vectorops.datastore import documents as db
from vectorops.gateway.collections.errors import DataPathError, EmbeddingFailed
from vectorops.gateway.collections.points import point_id, point_payload
from vectorops.gateway.collections.requests import DocumentIn
from vectorops.gateway.collections.stores import Store

log = logging.getLogger("vectorops.gateway")
Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
EMBED_CONCURRENCY = 4


@dataclass(frozen=True)
class ModelInfo:
    """The vectors a collection's model makes (the rows record it)."""

    model: str
    revision: str | None
    dimension: int


@dataclass(frozen=True)
class WriteContext:
    namespace: str
    store: Store
    client: str  # the API key's Secret name (never the key)
    bump: Callable[[], Awaitable[int | None]]  # the collection's next write generation
    pause_after_qdrant_s: float = 0.0  # tests only


async def embed_all(embed: Embed, texts: list[str], batch: int, dimension: int) -> list[list[float]]:
    """Vectors of `texts` in batches (a few at a time), each checked against the collection's
    dimension before anything is written."""
    pieces = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    gate = asyncio.Semaphore(EMBED_CONCURRENCY)

    async def one(piece: list[str]) -> list[list[float]]:
        async with gate:
            return await embed(piece)

    answers = await asyncio.gather(*(one(p) for p in pieces))
    vectors = [v for answer in answers for v in answer]
    if len(vectors) != len(texts):
        raise EmbeddingFailed(f"the model answered {len(vectors)} vectors for {len(texts)} texts")
    for v in vectors:
        if not isinstance(v, list) or len(v) != dimension:
            size = len(v) if isinstance(v, list) else type(v).__name__
            raise EmbeddingFailed(
                f"the model answered a vector of {size} dimensions; the collection's vectors have {dimension}"
            )
    return vectors


def _documents(ctx: WriteContext, docs: Sequence[DocumentIn], info: ModelInfo) -> list[db.NewDocument]:
    b = ctx.store.binding
    return [
        db.NewDocument(
            document_id=d.id,
            point_id=point_id(b.namespace, b.name, d.id),
            text=d.text,
            text_sha256=db.text_sha256(d.text),
            source=d.source,
            payload=d.payload,
            model=info.model,
            model_revision=info.revision,
            dimension=info.dimension,
        )
        for d in docs
    ]


async def _unchanged(ctx: WriteContext, docs: list[db.NewDocument]) -> tuple[set[str], set[str]]:
    """Documents whose acknowledged version is already this one, in PostgreSQL (where there is one)
    and in Qdrant; and those committed unchanged in PostgreSQL whose point Qdrant lacks or holds in
    another version (a Qdrant collection emptied or restored: re-sending them restores them). Read-only."""
    pg = ctx.store.pg
    committed = {d.document_id for d in docs}
    if pg is not None:
        async with pg.connection("reading documents") as conn:
            committed = await db.committed_unchanged(conn, pg.schema, docs)
        if not committed:
            return set(), set()
    candidates = [d for d in docs if d.document_id in committed]
    found = await ctx.store.points.hashes([d.point_id for d in candidates])
    same = {d.document_id for d in candidates if found.get(d.point_id) == d.content_hash}
    return same, committed - same if pg is not None else set()


async def _log_failure(
    ctx: WriteContext, operation: str, batch: uuid.UUID, points: int, started: float, why: str
) -> None:
    pg = ctx.store.pg
    if pg is None:
        return
    with contextlib.suppress(DataPathError):  # PostgreSQL may be what failed
        async with pg.connection("logging a failure") as conn:
            await db.log_operation(
                conn, pg.schema, operation, batch, points, ctx.client, _ms(started), "failed", why[:500]
            )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


async def ingest(
    ctx: WriteContext, docs: Sequence[DocumentIn], info: ModelInfo, embed: Embed, embed_batch: int
) -> dict[str, Any]:
    started, store, batch = time.perf_counter(), ctx.store, uuid.uuid4()
    pg = store.pg
    rows = _documents(ctx, docs, info)
    same, restore = await _unchanged(ctx, rows)
    changed = [r for r in rows if r.document_id not in same]
    answer: dict[str, Any] = {"collection": store.binding.name, "upserted": 0, "unchanged": len(same)}
    if not changed:
        return {**answer, "batch_id": None, "generation": None}
    vectors = await embed_all(embed, [r.text for r in changed], embed_batch, info.dimension)  # (1)
    if pg is not None:
        async with pg.connection("writing the batch") as conn:  # (2)
            pending = set(await db.begin_batch(conn, pg.schema, batch, changed, sorted(restore)))
        answer["unchanged"] += len(changed) - len(pending)
        kept = [(r, v) for r, v in zip(changed, vectors, strict=True) if r.document_id in pending]
    else:
        kept = list(zip(changed, vectors, strict=True))
    points = [
        (
            r.point_id,
            v,
            point_payload(r.document_id, r.content_hash, r.payload, r.source, None if pg else r.text),
        )
        for r, v in kept
    ]
    if points:
        try:
            await store.points.upsert(points)  # (3)
        except DataPathError as e:
            await _log_failure(ctx, "upsert", batch, len(points), started, e.message)
            raise
        if ctx.pause_after_qdrant_s:
            log.warning("test pause after the Qdrant upsert of batch %s", batch)
            await asyncio.sleep(ctx.pause_after_qdrant_s)
        if pg is not None:
            async with pg.connection("committing the batch") as conn, conn.transaction():  # (4)
                await db.commit_batch(conn, pg.schema, batch)
                await db.log_operation(
                    conn, pg.schema, "upsert", batch, len(points), ctx.client, _ms(started), "ok"
                )
    generation = await ctx.bump() if points else None  # (5)
    return {
        **answer,
        "upserted": len(points),
        "batch_id": str(batch) if points else None,
        "generation": generation,
    }


async def delete(
    ctx: WriteContext, ids: list[str] | None, query_filter: models.Filter | None
) -> dict[str, Any]:
    started, store, batch = time.perf_counter(), ctx.store, uuid.uuid4()
    pg, b = store.pg, store.binding
    if ids is not None:
        targets = [point_id(b.namespace, b.name, i) for i in ids]
        present = set(await store.points.hashes(targets))
    else:
        targets = [
            p for page in [page async for page in store.points.scroll(query_filter)] for p, _, _ in page
        ]
        present = set(targets)
    answer: dict[str, Any] = {"collection": b.name, "deleted": 0, "batch_id": None, "generation": None}
    if not targets:
        return answer
    marked: set[uuid.UUID] = set()
    if pg is not None:
        async with pg.connection("marking documents deleting") as conn:
            marked = await db.mark_deleting(conn, pg.schema, batch, targets)
    try:
        await store.points.delete(targets)
    except DataPathError as e:
        await _log_failure(ctx, "delete", batch, len(targets), started, e.message)
        raise
    deleted = len(present | marked)
    if pg is not None:
        async with pg.connection("finishing the delete") as conn, conn.transaction():
            await db.finish_delete(conn, pg.schema, batch)
            await db.log_operation(conn, pg.schema, "delete", batch, deleted, ctx.client, _ms(started), "ok")
    generation = await ctx.bump()
    return {**answer, "deleted": deleted, "batch_id": str(batch), "generation": generation}
