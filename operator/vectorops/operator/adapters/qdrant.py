"""Qdrant through qdrant-client (the only way the operator talks to Qdrant).

- QdrantEndpoint: where and how to connect (from a VectorStore and its Secrets).
- ClientPool: one AsyncQdrantClient per store, rebuilt when the store or its Secret changes; every call
  through a pooled client is timed (`observe(method name, seconds)`, the operator's metrics).
- observe / create / apply / delete: collection operations in DesiredCollection/ObservedCollection terms.
- classify: any failure -> (condition reason, message) a human can act on.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import ssl
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
from qdrant_client import AsyncQdrantClient
from qdrant_client.http import models as m
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from vectorops.operator.api.vectorstore import LOCAL_PREFIX
from vectorops.operator.builders.collection_diff import CollectionDiff, ObservedCollection
from vectorops.operator.builders.collection_ownership import Owner, owner_in
from vectorops.operator.builders.qdrant_collection import UNNAMED, DesiredCollection, Json


def display_url(url: str) -> str:
    """The URL without any user:password part, for messages, conditions and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class QdrantEndpoint:
    url: str
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: int = 10
    verify: bool = True
    ca_pem: str | None = field(default=None, repr=False)
    prefer_grpc: bool = False
    grpc_port: int = 6334

    @property
    def local_path(self) -> str | None:
        return self.url[len(LOCAL_PREFIX) :] if self.url.startswith(LOCAL_PREFIX) else None

    @property
    def where(self) -> str:
        """How messages name this Qdrant (no credentials)."""
        return display_url(self.url)

    def fingerprint(self) -> str:
        """Changes whenever anything that needs a new client changes (secrets hashed, never kept)."""
        raw = repr((self.url, self.api_key, self.timeout_seconds, self.verify, self.ca_pem, self.prefer_grpc))
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str
    message: str


class QdrantFailure(Exception):
    """A Qdrant call failed; `reason` is a condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _error_text(e: UnexpectedResponse) -> str:
    try:
        import json

        return str(json.loads(e.content)["status"]["error"])
    except (ValueError, KeyError, TypeError):
        return e.reason_phrase or f"HTTP {e.status_code}"


def classify(e: BaseException, where: str) -> QdrantFailure:
    """Map a qdrant-client/httpx failure to a condition reason and a message."""
    if isinstance(e, QdrantFailure):
        return e
    if isinstance(e, UnexpectedResponse):
        code = e.status_code or 0
        if code in (401, 403):
            return QdrantFailure("Unauthorized", f"Qdrant at {where} rejected the API key ({code})")
        if 400 <= code < 500:
            return QdrantFailure(
                "QdrantRejected", f"Qdrant at {where} rejected the request ({code}): {_error_text(e)}"
            )
        return QdrantFailure("BackendError", f"Qdrant at {where} failed ({code}): {_error_text(e)}")
    if isinstance(e, (ResponseHandlingException, httpx.HTTPError, OSError, asyncio.TimeoutError)):
        source = e.source if isinstance(e, ResponseHandlingException) else e
        kind = (
            "timed out"
            if isinstance(source, (httpx.TimeoutException, asyncio.TimeoutError))
            else "is unreachable"
        )
        return QdrantFailure("BackendUnreachable", f"Qdrant at {where} {kind} ({type(source).__name__})")
    return QdrantFailure("BackendError", f"Qdrant at {where}: {type(e).__name__}: {e}")


def _make_client(ep: QdrantEndpoint) -> AsyncQdrantClient:
    if ep.local_path is not None:
        Path(ep.local_path).mkdir(parents=True, exist_ok=True)
        return AsyncQdrantClient(path=ep.local_path)
    kwargs: dict[str, Any] = {}
    if ep.ca_pem:
        try:  # the CA stays in memory: no file to write or to clean up
            kwargs["verify"] = ssl.create_default_context(cadata=ep.ca_pem)
        except (ssl.SSLError, ValueError) as e:
            raise QdrantFailure(
                "InvalidCA",
                f"the CA bundle in spec.qdrant.tls.caSecretRef is not a valid PEM certificate: {e}",
            ) from e
    elif not ep.verify:
        kwargs["verify"] = False
    with warnings.catch_warnings():
        # qdrant-client warns when an API key travels over plain http; the store's owner chose that.
        warnings.simplefilter("ignore", UserWarning)
        client = AsyncQdrantClient(
            url=ep.url,
            api_key=ep.api_key,
            timeout=ep.timeout_seconds,
            prefer_grpc=ep.prefer_grpc,
            grpc_port=ep.grpc_port,
            check_compatibility=False,
            **kwargs,
        )
    return client


Observe = Callable[[str, float], None]


class _TimedClient:
    """An AsyncQdrantClient whose coroutine methods report their duration (failed calls included) under
    their own name: a bounded set, the client's methods."""

    def __init__(self, client: AsyncQdrantClient, observe: Observe) -> None:
        self._client = client
        self._observe = observe

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        observe = self._observe

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                observe(name, time.perf_counter() - started)

        return timed


@dataclass
class _Pooled:
    fingerprint: str
    client: AsyncQdrantClient
    last_used: float = field(default_factory=time.monotonic)
    timed: AsyncQdrantClient | None = None

    @property
    def handed_out(self) -> AsyncQdrantClient:
        return self.timed or self.client


@dataclass
class ClientPool:
    """One client per store key; a changed endpoint replaces (and closes) the old client, and a client
    nobody asked for in `idle_seconds` (its store was deleted) is closed."""

    idle_seconds: float = 900.0
    observe: Observe | None = None
    """Told the method name and duration of every call through a pooled client."""
    _clients: dict[str, _Pooled] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, key: str, ep: QdrantEndpoint) -> AsyncQdrantClient:
        if ep.local_path is not None:
            key = ep.url  # an embedded engine's folder can be opened once per process, whoever refers to it
        async with self._lock:
            await self._evict_idle(keep=key)
            pooled = self._clients.get(key)
            if pooled is not None and pooled.fingerprint == ep.fingerprint():
                pooled.last_used = time.monotonic()
                return pooled.handed_out
            if pooled is not None:
                await self._close(pooled)
            client = _make_client(ep)
            timed = cast(AsyncQdrantClient, _TimedClient(client, self.observe)) if self.observe else None
            pooled = self._clients[key] = _Pooled(ep.fingerprint(), client, timed=timed)
            return pooled.handed_out

    async def _evict_idle(self, keep: str) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        for key in [k for k, p in self._clients.items() if p.last_used < cutoff and k != keep]:
            await self._close(self._clients.pop(key))

    def cached(self, key: str) -> AsyncQdrantClient | None:
        """The client last used for a store, e.g. to delete a collection after its store went away."""
        pooled = self._clients.get(key)
        return pooled.handed_out if pooled else None

    def __len__(self) -> int:
        return len(self._clients)

    @staticmethod
    async def _close(pooled: _Pooled) -> None:
        await pooled.client.close()

    async def close(self) -> None:
        for pooled in self._clients.values():
            await self._close(pooled)
        self._clients.clear()


# -- probing ----------------------------------------------------------------------------------------
async def probe(ep: QdrantEndpoint, pool: ClientPool, key: str) -> ProbeResult:
    """Does the store answer? Uses the pooled client, so a resync opens no new connection."""
    if ep.local_path is not None:
        folder = Path(ep.local_path)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            return ProbeResult(False, "LocalPathUnusable", f"cannot create {folder}: {e.strerror}")
        if not os.access(folder, os.W_OK):
            return ProbeResult(False, "LocalPathUnusable", f"{folder} is not writable by the operator")
        return ProbeResult(True, "Connected", f"embedded Qdrant engine at {folder}")
    client = await pool.get(key, ep)
    try:
        await client.get_collections()
    except Exception as e:
        failure = classify(e, ep.where)
        return ProbeResult(False, failure.reason, failure.message)
    return ProbeResult(True, "Connected", f"Qdrant at {ep.where} answers")


# -- collections ------------------------------------------------------------------------------------
def _dump(model: Any) -> Json:
    return dict(model.model_dump(mode="json", exclude_none=True)) if model is not None else {}


def _vector_json(params: m.VectorParams) -> Json:
    out = _dump(params)
    out.setdefault("quantization_config", None)
    return out


def _index_json(info: m.PayloadIndexInfo) -> Json:
    out: Json = {"type": info.data_type.value if hasattr(info.data_type, "value") else str(info.data_type)}
    params = _dump(info.params)
    for key in ("on_disk", "is_tenant"):
        if key in params:
            out[key] = params[key]
    return out


def _to_observed(name: str, info: m.CollectionInfo, all_aliases: dict[str, str]) -> ObservedCollection:
    cfg = info.config
    vectors = cfg.params.vectors
    if isinstance(vectors, m.VectorParams):
        vector_map = {UNNAMED: _vector_json(vectors)}
    else:
        vector_map = {n: _vector_json(v) for n, v in (vectors or {}).items()}
    return ObservedCollection(
        name=name,
        vectors=vector_map,
        sparse_vectors={n: _dump(p) for n, p in (cfg.params.sparse_vectors or {}).items()},
        shard_number=cfg.params.shard_number or 1,
        replication_factor=cfg.params.replication_factor or 1,
        write_consistency_factor=cfg.params.write_consistency_factor or 1,
        on_disk_payload=bool(cfg.params.on_disk_payload),
        hnsw=_dump(cfg.hnsw_config),
        optimizers=_dump(cfg.optimizer_config),
        quantization=_dump(cfg.quantization_config) or None,
        payload_indexes={f: _index_json(i) for f, i in (info.payload_schema or {}).items()},
        aliases=frozenset(a for a, c in all_aliases.items() if c == name),
        all_aliases=all_aliases,
        owner=owner_in(cfg.metadata),
        status=str(info.status.value if hasattr(info.status, "value") else info.status),
        optimizer_error=getattr(info.optimizer_status, "error", None),
        points_count=info.points_count or 0,
        indexed_vectors_count=info.indexed_vectors_count or 0,
        segments_count=info.segments_count or 0,
    )


async def observe(client: AsyncQdrantClient, name: str) -> ObservedCollection | None:
    """The collection as Qdrant reports it, or None when it does not exist."""
    aliases = {a.alias_name: a.collection_name for a in (await client.get_aliases()).aliases}
    if name in aliases:
        # Qdrant resolves aliases in collection calls: managing `name` would change another collection.
        raise QdrantFailure(
            "CollectionNameConflict",
            f"{name} is an alias of Qdrant collection {aliases[name]}; choose another collectionName "
            "or remove the alias",
        )
    try:
        info = await client.get_collection(name)
    except UnexpectedResponse as e:
        if e.status_code == 404:
            return None
        raise
    except ValueError:
        return None  # the embedded engine raises ValueError for an unknown collection
    return _to_observed(name, info, aliases)


def _field_schema(schema: Json) -> Any:
    if set(schema) == {"type"}:
        return m.PayloadSchemaType(schema["type"])
    params_type: dict[str, Any] = {
        "keyword": m.KeywordIndexParams,
        "integer": m.IntegerIndexParams,
        "float": m.FloatIndexParams,
        "bool": m.BoolIndexParams,
        "geo": m.GeoIndexParams,
        "datetime": m.DatetimeIndexParams,
        "text": m.TextIndexParams,
        "uuid": m.UuidIndexParams,
    }
    return params_type[schema["type"]].model_validate(schema)


def _create_request(d: DesiredCollection) -> m.CreateCollection:
    vectors: Any = (
        m.VectorParams.model_validate(d.vectors[UNNAMED])
        if d.unnamed
        else {n: m.VectorParams.model_validate(v) for n, v in d.vectors.items()}
    )
    return m.CreateCollection(
        vectors=vectors,
        sparse_vectors={n: m.SparseVectorParams.model_validate(v) for n, v in d.sparse_vectors.items()}
        or None,
        shard_number=d.shard_number,
        replication_factor=d.replication_factor,
        write_consistency_factor=d.write_consistency_factor,
        on_disk_payload=d.on_disk_payload,
        hnsw_config=m.HnswConfigDiff.model_validate(d.hnsw) if d.hnsw else None,
        optimizers_config=m.OptimizersConfigDiff.model_validate(d.optimizers) if d.optimizers else None,
        quantization_config=_quantization(d.quantization) if d.quantization else None,
    )


def _quantization(q: Json | str) -> Any:
    if q == "Disabled":
        return m.Disabled.DISABLED
    assert isinstance(q, dict)
    if "scalar" in q:
        return m.ScalarQuantization.model_validate(q)
    if "product" in q:
        return m.ProductQuantization.model_validate(q)
    return m.BinaryQuantization.model_validate(q)


async def create(client: AsyncQdrantClient, d: DesiredCollection, owner: Owner) -> None:
    """Create the collection with our ownership record; indexes and aliases follow from the diff (same
    reconcile pass)."""
    req = _create_request(d)
    await client.create_collection(
        d.name,
        vectors_config=req.vectors,
        sparse_vectors_config=req.sparse_vectors,
        shard_number=req.shard_number,
        replication_factor=req.replication_factor,
        write_consistency_factor=req.write_consistency_factor,
        on_disk_payload=req.on_disk_payload,
        hnsw_config=req.hnsw_config,
        optimizers_config=req.optimizers_config,
        quantization_config=req.quantization_config,
        metadata=owner.record(),
    )


async def stamp(client: AsyncQdrantClient, name: str, owner: Owner) -> None:
    """Write (or replace) the ownership record in the collection's metadata."""
    await client.update_collection(name, metadata=owner.record())


async def recorded_owner(client: AsyncQdrantClient, name: str) -> tuple[bool, Owner | None]:
    """Whether a collection exists, and the owner its metadata records."""
    try:
        info = await client.get_collection(name)
    except UnexpectedResponse as e:
        if e.status_code == 404:
            return False, None
        raise
    except ValueError:
        return False, None  # the embedded engine's "not found"
    return True, owner_in(info.config.metadata)


async def apply(client: AsyncQdrantClient, name: str, diff: CollectionDiff) -> None:
    """Apply the in-place part of a diff: one PATCH, index drops/creates, then the alias actions (Qdrant
    runs them one by one; the diff orders them so that no moment lacks a wanted alias)."""
    u = diff.update
    if u:
        vectors = {
            n: m.VectorParamsDiff(
                on_disk=v.get("on_disk"),
                hnsw_config=m.HnswConfigDiff.model_validate(v["hnsw_config"]) if "hnsw_config" in v else None,
                quantization_config=_quantization(v["quantization_config"])
                if "quantization_config" in v
                else None,
            )
            for n, v in u.get("vectors", {}).items()
        }
        await client.update_collection(
            name,
            vectors_config=vectors or None,
            sparse_vectors_config={
                n: m.SparseVectorParams.model_validate(v) for n, v in u.get("sparse_vectors", {}).items()
            }
            or None,
            collection_params=m.CollectionParamsDiff.model_validate(u["params"]) if "params" in u else None,
            hnsw_config=m.HnswConfigDiff.model_validate(u["hnsw_config"]) if "hnsw_config" in u else None,
            optimizers_config=m.OptimizersConfigDiff.model_validate(u["optimizers_config"])
            if "optimizers_config" in u
            else None,
            quantization_config=_quantization(u["quantization_config"])
            if "quantization_config" in u
            else None,
        )
    for field_name in diff.delete_indexes:
        await client.delete_payload_index(name, field_name, wait=True)
    for field_name, schema in diff.create_indexes.items():
        await client.create_payload_index(name, field_name, field_schema=_field_schema(schema), wait=True)
    if diff.alias_actions:
        actions = [m.ChangeAliasesOperation.model_validate({"actions": diff.alias_actions}).actions][0]
        await client.update_collection_aliases(change_aliases_operations=actions)


async def delete(client: AsyncQdrantClient, name: str) -> bool:
    """Drop the collection (Qdrant drops its aliases with it). False when it did not exist."""
    return bool(await client.delete_collection(name))
