"""The bodies of the collections API, checked before anything is embedded or written: every refusal
names the field (400) or the limit (413)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson
from qdrant_client import models

from vectorops.gateway.collections.points import RESERVED
from vectorops.gateway.collections.qdrant import parse_filter
from vectorops.gateway.settings import GatewaySettings

MAX_DOCUMENT_ID = 512  # the documents table's check
MAX_LIMIT = 100


class BadRequest(ValueError):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


@dataclass(frozen=True)
class DocumentIn:
    id: str
    text: str
    payload: dict[str, Any]
    source: str | None


@dataclass(frozen=True)
class IngestRequest:
    documents: list[DocumentIn]
    model: str | None


@dataclass(frozen=True)
class DeleteRequest:
    ids: list[str] | None
    filter: models.Filter | None


@dataclass(frozen=True)
class SearchRequest:
    text: str | None
    vector: list[float] | None
    filter: models.Filter | None
    raw_filter: Any
    limit: int
    score_threshold: float | None
    with_payload: bool | list[str]
    include_text: bool
    include_metadata: bool

    def cache_query(self) -> dict[str, Any]:
        """What the answer depends on besides the collection and its generation (text normalised: outer
        whitespace does not change an embedding's meaning, so it does not split the cache)."""
        return {
            "text": None if self.text is None else " ".join(self.text.split()),
            "vector": self.vector,
            "filter": self.raw_filter,
            "limit": self.limit,
            "score_threshold": self.score_threshold,
            "with_payload": self.with_payload,
            "include_text": self.include_text,
            "include_metadata": self.include_metadata,
        }


def _document(i: int, raw: Any) -> DocumentIn:
    where = f"documents[{i}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object with id and text", where)
    doc_id, text, payload, source = raw.get("id"), raw.get("text"), raw.get("payload", {}), raw.get("source")
    if not isinstance(doc_id, str) or not doc_id or len(doc_id) > MAX_DOCUMENT_ID:
        raise BadRequest(f"{where}.id must be a string of 1 to {MAX_DOCUMENT_ID} characters", f"{where}.id")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"{where}.text must be a non-empty string", f"{where}.text")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise BadRequest(f"{where}.payload must be an object", f"{where}.payload")
    clash = sorted(RESERVED & payload.keys())
    if clash:
        raise BadRequest(
            f"{where}.payload may not use the reserved keys {', '.join(clash)} (set by the gateway)",
            f"{where}.payload",
        )
    if source is not None and not isinstance(source, str):
        raise BadRequest(f"{where}.source must be a string", f"{where}.source")
    return DocumentIn(doc_id, text, payload, source)


def ingest_request(body: dict[str, Any], settings: GatewaySettings) -> IngestRequest:
    raw = body.get("documents")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("documents must be a non-empty list", "documents")
    if len(raw) > settings.ingest_max_documents:
        raise BadRequest(
            f"documents has {len(raw)} items; the limit is "
            f"ingest_max_documents={settings.ingest_max_documents}",
            "documents",
            413,
        )
    docs = [_document(i, d) for i, d in enumerate(raw)]
    seen: set[str] = set()
    for i, d in enumerate(docs):
        if d.id in seen:
            raise BadRequest(
                f"documents[{i}].id {d.id!r} appears more than once in the batch", f"documents[{i}].id"
            )
        seen.add(d.id)
    size = sum(len(d.text.encode()) + len(orjson.dumps(d.payload)) for d in docs)
    if size > settings.ingest_max_bytes:
        raise BadRequest(
            f"the documents' texts and payloads are {size} bytes; the limit is "
            f"ingest_max_bytes={settings.ingest_max_bytes}",
            "documents",
            413,
        )
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise BadRequest("model must be a non-empty string when given", "model")
    return IngestRequest(docs, model)


def delete_request(body: dict[str, Any], settings: GatewaySettings) -> DeleteRequest:
    ids, raw_filter = body.get("ids"), body.get("filter")
    if (ids is None) == (raw_filter is None):
        raise BadRequest(
            "give exactly one of ids (a list of document ids) or filter (a Qdrant filter)", "ids"
        )
    if ids is not None:
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise BadRequest("ids must be a non-empty list of document ids (strings)", "ids")
        if len(ids) > settings.ingest_max_documents:
            raise BadRequest(
                f"ids has {len(ids)} items; the limit is "
                f"ingest_max_documents={settings.ingest_max_documents}",
                "ids",
                413,
            )
        return DeleteRequest(list(dict.fromkeys(ids)), None)
    try:
        return DeleteRequest(None, parse_filter(raw_filter))
    except ValueError as e:
        raise BadRequest(str(e), "filter") from e


def _vector(raw: Any, dimension: int) -> list[float]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("vector must be a non-empty list of numbers", "vector")
    if len(raw) != dimension:
        raise BadRequest(
            f"vector has {len(raw)} dimensions; this collection's vectors have {dimension}", "vector"
        )
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in raw):
        raise BadRequest("vector must hold finite numbers only", "vector")
    return [float(x) for x in raw]


def search_request(body: dict[str, Any], dimension: int) -> SearchRequest:
    text, raw_vector = body.get("text"), body.get("vector")
    if (text is None) == (raw_vector is None):
        raise BadRequest("give exactly one of text (a query to embed) or vector", "text")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise BadRequest("text must be a non-empty string", "text")
    vector = None if raw_vector is None else _vector(raw_vector, dimension)
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", "limit")
    threshold = body.get("score_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
        raise BadRequest("score_threshold must be a number", "score_threshold")
    with_payload = body.get("with_payload", True)
    if not isinstance(with_payload, bool) and not (
        isinstance(with_payload, list) and all(isinstance(k, str) and k for k in with_payload)
    ):
        raise BadRequest("with_payload must be true, false or a list of payload keys", "with_payload")
    flags = {}
    for flag in ("include_text", "include_metadata"):
        value = body.get(flag, False)
        if not isinstance(value, bool):
            raise BadRequest(f"{flag} must be true or false", flag)
        flags[flag] = value
    try:
        query_filter = parse_filter(body.get("filter"))
    except ValueError as e:
        raise BadRequest(str(e), "filter") from e
    return SearchRequest(
        text=text,
        vector=vector,
        filter=query_filter,
        raw_filter=body.get("filter"),
        limit=limit,
        score_threshold=None if threshold is None else float(threshold),
        with_payload=with_payload,
        include_text=flags["include_text"],
        include_metadata=flags["include_metadata"],
    )
