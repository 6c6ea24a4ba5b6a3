"""A collection search: Qdrant's nearest points, answered by document id, with the client's payload
(all, none or the keys asked) and, when asked, the text and metadata joined from PostgreSQL by point id
(or read from the point itself when the collection has no PostgreSQL). A point whose row is not
committed (a write in flight, a delete under way) is not acknowledged, so a joined search leaves it out.
"""

from __future__ import annotations

import uuid
from typing import Any

from vectorops.datastore import documents as db
from vectorops.gateway.collections.points import DOCUMENT_ID, SOURCE, TEXT, client_payload
from vectorops.gateway.collections.requests import SearchRequest
from vectorops.gateway.collections.stores import Store


def _selection(req: SearchRequest, has_pg: bool) -> bool | list[str]:
    if req.with_payload is True:
        return True
    keys = [DOCUMENT_ID] + (req.with_payload or [])
    if not has_pg and req.include_text:
        keys.append(TEXT)
    if not has_pg and req.include_metadata:
        keys.append(SOURCE)
    return keys


async def search(store: Store, req: SearchRequest, vector: list[float]) -> list[dict[str, Any]]:
    pg = store.pg
    points = await store.points.query(
        vector, req.filter, req.limit, req.score_threshold, _selection(req, pg is not None)
    )
    joined: dict[uuid.UUID, db.DocumentRow] | None = None
    if pg is not None and (req.include_text or req.include_metadata):
        async with pg.connection("joining documents") as conn:
            joined = await db.fetch_by_points(conn, pg.schema, [uuid.UUID(str(p.id)) for p in points])
    results = []
    for p in points:
        stored = p.payload or {}
        result: dict[str, Any] = {"id": stored.get(DOCUMENT_ID), "score": p.score}
        if req.with_payload is not False:
            result["payload"] = client_payload(stored)
        if joined is not None:
            row = joined.get(uuid.UUID(str(p.id)))
            if row is None:
                continue
            if req.include_text:
                result["text"] = row.text
            if req.include_metadata:
                result.update(
                    source=row.source,
                    model=row.model,
                    model_revision=row.model_revision,
                    created_at=row.created_at.isoformat(),
                    updated_at=row.updated_at.isoformat(),
                )
        else:
            if req.include_text:
                result["text"] = stored.get(TEXT)
            if req.include_metadata:
                result["source"] = stored.get(SOURCE)
        results.append(result)
    return results
