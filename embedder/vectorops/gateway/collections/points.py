"""How documents become Qdrant points: a point id derived from the document id (so re-sending a document
overwrites its point instead of adding one) and a payload holding the client's fields beside a few of
ours (the document id, the content hash that tells which version a point is, the source, and the text
when the collection has no PostgreSQL to hold it)."""

from __future__ import annotations

import uuid
from typing import Any

# Fixed forever: changing it would give every existing document a new point.
POINT_NAMESPACE = uuid.UUID("5b0d3c1e-7a2f-4e58-9c61-2f1d8e0a4b77")
DOCUMENT_ID = "document_id"
CONTENT_HASH = "content_sha256"
SOURCE = "source"
TEXT = "text"
RESERVED = frozenset({DOCUMENT_ID, CONTENT_HASH, SOURCE, TEXT})


def point_id(namespace: str, collection: str, document_id: str) -> uuid.UUID:
    return uuid.uuid5(POINT_NAMESPACE, f"{namespace}/{collection}/{document_id}")


def point_payload(
    document_id: str,
    content_hash: str,
    payload: dict[str, Any],
    source: str | None,
    text: str | None,
) -> dict[str, Any]:
    """The client's fields at the top level (so Qdrant filters read them as they are) and ours."""
    out = dict(payload)
    out[DOCUMENT_ID] = document_id
    out[CONTENT_HASH] = content_hash
    if source is not None:
        out[SOURCE] = source
    if text is not None:
        out[TEXT] = text
    return out


def client_payload(stored: dict[str, Any] | None) -> dict[str, Any]:
    """What the client gave, without our fields."""
    return {k: v for k, v in (stored or {}).items() if k not in RESERVED}
