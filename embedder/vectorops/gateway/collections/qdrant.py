"""A collection's points in Qdrant, through qdrant-client's async REST client: the few calls the data
path makes, with Qdrant's failures turned into QdrantUnavailable (503: the store) or QdrantRejected
(400: the request, e.g. a filter Qdrant cannot read). Tests wrap this class to fail between writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from vectorops.gateway.collections.errors import QdrantRejected, QdrantUnavailable
from vectorops.gateway.collections.points import CONTENT_HASH, DOCUMENT_ID
from vectorops.routing.collections import QdrantBinding

SCROLL_PAGE = 1000


def parse_filter(raw: Any) -> models.Filter | None:
    """A Qdrant filter from a request body (None when absent); ValueError naming the problem."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("filter must be a JSON object (a Qdrant filter)")
    try:
        return models.Filter.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"filter is not a Qdrant filter: {where}: {first['msg']}") from e


def _why(e: Exception) -> str:
    if isinstance(e, UnexpectedResponse):
        try:
            status = orjson.loads(e.content).get("status") or {}
            detail = status.get("error") if isinstance(status, dict) else str(status)
        except (orjson.JSONDecodeError, AttributeError):
            detail = e.reason_phrase
        return f"HTTP {e.status_code}: {detail}"
    return type(e).__name__


class QdrantPoints:
    def __init__(self, client: AsyncQdrantClient, binding: QdrantBinding) -> None:
        self.client, self.binding = client, binding
        self.name = binding.collection

    def _fail(self, what: str, e: Exception) -> Exception:
        if isinstance(e, UnexpectedResponse) and e.status_code in (400, 422):
            return QdrantRejected(f"Qdrant refused the {what}: {_why(e)}")
        return QdrantUnavailable(f"Qdrant unavailable ({what} on collection {self.name}: {_why(e)})")

    def _vector(self, vector: list[float]) -> Any:
        name = self.binding.vector_name
        return vector if name is None else {name: vector}

    async def upsert(self, points: Sequence[tuple[uuid.UUID, list[float], dict[str, Any]]]) -> None:
        structs = [models.PointStruct(id=str(p), vector=self._vector(v), payload=pl) for p, v, pl in points]
        try:
            await self.client.upsert(self.name, points=structs, wait=True)
        except Exception as e:
            raise self._fail("upsert", e) from e

    async def delete(self, point_ids: Sequence[uuid.UUID]) -> None:
        selector = models.PointIdsList(points=[str(p) for p in point_ids])
        try:
            await self.client.delete(self.name, points_selector=selector, wait=True)
        except Exception as e:
            raise self._fail("delete", e) from e

    async def query(
        self,
        vector: list[float],
        query_filter: models.Filter | None,
        limit: int,
        score_threshold: float | None,
        with_payload: bool | list[str],
    ) -> list[models.ScoredPoint]:
        try:
            answer = await self.client.query_points(
                self.name,
                query=vector,
                using=self.binding.vector_name,
                query_filter=query_filter,
                limit=limit,
                score_threshold=score_threshold,
                with_payload=with_payload,
                with_vectors=False,
            )
        except Exception as e:
            raise self._fail("search", e) from e
        return list(answer.points)

    async def hashes(self, point_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """The content hash each existing point carries (absent points are left out)."""
        try:
            records = await self.client.retrieve(
                self.name, ids=[str(p) for p in point_ids], with_payload=[CONTENT_HASH], with_vectors=False
            )
        except Exception as e:
            raise self._fail("retrieve", e) from e
        return {uuid.UUID(str(r.id)): (r.payload or {}).get(CONTENT_HASH) for r in records}

    async def scroll(
        self, scroll_filter: models.Filter | None = None
    ) -> AsyncIterator[list[tuple[uuid.UUID, str | None, str | None]]]:
        """(point id, document id, content hash) of every point matching, a page at a time."""
        offset: Any = None
        while True:
            try:
                records, offset = await self.client.scroll(
                    self.name,
                    scroll_filter=scroll_filter,
                    limit=SCROLL_PAGE,
                    offset=offset,
                    with_payload=[DOCUMENT_ID, CONTENT_HASH],
                    with_vectors=False,
                )
            except Exception as e:
                raise self._fail("scroll", e) from e
            yield [
                (
                    uuid.UUID(str(r.id)),
                    (r.payload or {}).get(DOCUMENT_ID),
                    (r.payload or {}).get(CONTENT_HASH),
                )
                for r in records
            ]
            if offset is None:
                return

    async def ping(self) -> None:
        """A cheap call that proves the collection is there."""
        try:
            exists = await self.client.collection_exists(self.name)
        except Exception as e:
            raise self._fail("collection_exists", e) from e
        if not exists:
            raise QdrantUnavailable(f"Qdrant has no collection {self.name}")
