"""Collections, aliases and statuses as Qdrant 1.19 keeps and reports them.

The configuration is kept as Qdrant's JSON (the shapes GET /collections/{name} returns); points are
delegated to qdrant-client's local engine, which ignores most of that configuration.
"""

from __future__ import annotations

import time
from copy import deepcopy
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client.http import models as m

from vectorops.devtools.qdrant_standin.validation import Json, QdrantError, is_single_vector

# The defaults of Qdrant 1.19's config/config.yaml (storage.hnsw_index, storage.optimizers, storage.wal,
# storage.on_disk_payload, storage.collection): a collection created without them reports these.
DEFAULT_HNSW: Json = {
    "m": 16,
    "ef_construct": 100,
    "full_scan_threshold": 10000,
    "max_indexing_threads": 0,
    "on_disk": False,
}
DEFAULT_OPTIMIZERS: Json = {
    "deleted_threshold": 0.2,
    "vacuum_min_vector_number": 1000,
    "default_segment_number": 0,
    "max_segment_size": None,
    # 1.19's config.yaml (indexing_threshold_kb) and OpenAPI OptimizersConfig say 10000; older ones 20000
    "indexing_threshold": 10000,
    "flush_interval_sec": 5,
    "max_optimization_threads": None,
}
# WalConfig: wal_retain_closed defaults to 1 (OpenAPI WalConfig.wal_retain_closed "default": 1)
DEFAULT_WAL: Json = {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1}
STATUSES = ("green", "yellow", "grey", "red")
# An update with any of these makes Qdrant recreate the optimizers (toc/collection_meta_ops.rs
# `update_collection`: recreate_optimizers = true); metadata and strict mode do not.
REOPTIMISING = (
    "optimizers_config",
    "params",
    "hnsw_config",
    "vectors",
    "quantization_config",
    "sparse_vectors",
)


def clean(value: Json) -> Json:
    """`value` without null fields, recursively (Qdrant skips them when serializing)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def merged(base: Json | None, diff: Json | None) -> Json:
    """A *Diff applied Qdrant's way (operations/config_diff.rs `DiffConfig::update`): each field the diff
    sets replaces the base's; fields it leaves out (or sets to null) keep the base's value."""
    out = dict(base or {})
    out.update({k: deepcopy(v) for k, v in (diff or {}).items() if v is not None})
    return out


def _optimizers(base: Json, diff: Json | None) -> Json:
    out = merged(base, diff)
    if out.get("max_optimization_threads") == "auto":  # MaxOptimizationThreads::Setting(Auto) -> None
        out["max_optimization_threads"] = None
    return out


def _quantization(diff: Json) -> Json | None:
    """QuantizationConfigDiff: a method replaces the whole config, "Disabled" removes it."""
    return None if diff == "Disabled" else clean(diff)


def _vector(params: Json) -> Json:
    out = clean(params)
    if not out.get("hnsw_config"):
        out.pop("hnsw_config", None)  # an empty HnswConfigDiff is not serialized (types.rs)
    return out


def not_found(name: str) -> QdrantError:
    return QdrantError(404, f"Not found: Collection `{name}` doesn't exist!")


class Collection:
    """One collection's configuration, payload schema and status; its points live in the engine."""

    def __init__(self, name: str, body: Json, state: QdrantState) -> None:
        self.name = name
        self.state = state
        vectors = body.get("vectors")
        self.single = is_single_vector(vectors)
        named = {"": vectors} if self.single else dict(vectors or {})
        self.vectors: dict[str, Json] = {n: _vector(p) for n, p in named.items()}
        self.sparse: dict[str, Json] | None = (
            {n: clean(p) for n, p in body["sparse_vectors"].items()} if body.get("sparse_vectors") else None
        )
        self.params: Json = {
            "shard_number": body.get("shard_number") or 1,  # single node: 1 shard
            "sharding_method": body.get("sharding_method"),
            "replication_factor": body.get("replication_factor") or 1,
            "write_consistency_factor": body.get("write_consistency_factor") or 1,
            "on_disk_payload": True if body.get("on_disk_payload") is None else body["on_disk_payload"],
            "payload": body.get("payload"),
        }
        self.hnsw = merged(DEFAULT_HNSW, body.get("hnsw_config"))
        self.optimizers = _optimizers(DEFAULT_OPTIMIZERS, body.get("optimizers_config"))
        self.wal = merged(DEFAULT_WAL, body.get("wal_config"))
        self.quantization = clean(body.get("quantization_config"))
        # UNSURE: whether 1.19 reports a default strict_mode_config (e.g. {"enabled": false}) when none
        # was given; the stand-in reports only what was set.
        self.strict_mode: Json | None = clean(body.get("strict_mode_config"))
        self.metadata: Json | None = deepcopy(body.get("metadata"))
        self.payload_schema: dict[str, m.PayloadIndexInfo] = {}
        self.status: str | None = None  # set by tests through QdrantState.set_status
        self.optimizer_error: str | None = None
        self.optimizing_until = 0.0
        state.engine.create_collection(
            name,
            vectors_config=self._engine_vectors(),
            sparse_vectors_config={
                n: m.SparseVectorParams(modifier=p.get("modifier")) for n, p in self.sparse.items()
            }
            if self.sparse
            else None,
        )

    def _engine_vectors(self) -> Any:
        def params(p: Json) -> m.VectorParams:
            return m.VectorParams(
                size=p["size"], distance=p["distance"], multivector_config=p.get("multivector_config")
            )

        if self.single:
            return params(self.vectors[""])
        return {n: params(p) for n, p in self.vectors.items()}

    # -- PATCH ----------------------------------------------------------------------------------------
    def update(self, body: Json) -> None:
        """Qdrant's order (toc/collection_meta_ops.rs `update_collection`); each part is saved before the
        next is tried, so a part that fails leaves the parts before it applied."""
        if body.get("optimizers_config") is not None:
            self.optimizers = _optimizers(self.optimizers, body["optimizers_config"])
        if body.get("params") is not None:
            self.params = merged(self.params, body["params"])
        if body.get("hnsw_config") is not None:
            self.hnsw = merged(self.hnsw, body["hnsw_config"])
        if body.get("vectors") is not None:
            self._update_vectors(body["vectors"])
        if body.get("quantization_config") is not None:
            self.quantization = _quantization(body["quantization_config"])
        if body.get("sparse_vectors") is not None:
            self._update_sparse(body["sparse_vectors"])
        if body.get("strict_mode_config") is not None:
            self.strict_mode = clean(merged(self.strict_mode, body["strict_mode_config"]))
        if body.get("metadata") is not None:
            self._update_metadata(body["metadata"])
        if any(body.get(key) is not None for key in REOPTIMISING):
            self.optimizing_until = time.monotonic() + self.state.optimize_seconds

    def _update_vectors(self, diffs: Json) -> None:
        """config.rs `update_vectors_from_diff`: every name is checked first; then per vector the HNSW diff
        is merged into the vector's own diff, quantization replaced (or disabled), on_disk/memory set."""
        for name in diffs:
            if name not in self.vectors:
                raise QdrantError(400, f"Wrong input: Not existing vector name error: {name}")
        for name, diff in diffs.items():
            target = self.vectors[name]
            if diff.get("hnsw_config") is not None:
                target["hnsw_config"] = clean(merged(target.get("hnsw_config"), diff["hnsw_config"]))
                if not target["hnsw_config"]:
                    del target["hnsw_config"]
            if diff.get("quantization_config") is not None:
                quantization = _quantization(diff["quantization_config"])
                if quantization is None:
                    target.pop("quantization_config", None)
                else:
                    target["quantization_config"] = quantization
            for key in ("on_disk", "memory"):
                if diff.get(key) is not None:
                    target[key] = diff[key]

    def _update_sparse(self, diffs: Json) -> None:
        """config.rs `update_sparse_vectors_from_other`: the modifier is replaced, the index settings are
        merged field by field (SparseIndexParams::update_from_other)."""
        known = self.sparse or {}
        for name in diffs:
            if name not in known:
                raise QdrantError(400, f"Wrong input: Not existing vector name error: {name}")
        for name, diff in diffs.items():
            target = known[name]
            if diff.get("modifier") is not None:
                target["modifier"] = diff["modifier"]
            if diff.get("index") is not None:
                target["index"] = clean(merged(target.get("index"), diff["index"]))

    def _update_metadata(self, diff: Json) -> None:
        """collection_ops.rs `update_metadata`: with no metadata yet the given one is stored as is;
        otherwise Payload::merge (segment utils `merge_map`): top-level keys replaced, null removes a key."""
        if self.metadata is None:
            self.metadata = deepcopy(diff)
            return
        for key, value in diff.items():
            if value is None:
                self.metadata.pop(key, None)
            else:
                self.metadata[key] = deepcopy(value)

    # -- GET --------------------------------------------------------------------------------------------
    def config(self) -> Json:
        vectors = self.vectors[""] if self.single else self.vectors
        params = clean({**self.params, "vectors": vectors, "sparse_vectors": self.sparse})
        out = {
            "params": params,
            "hnsw_config": clean(self.hnsw),
            "optimizer_config": clean(self.optimizers),
            "wal_config": clean(self.wal),
            "quantization_config": self.quantization,
            "strict_mode_config": self.strict_mode,
        }
        out = {k: v for k, v in out.items() if v is not None}
        if self.metadata is not None:
            out["metadata"] = deepcopy(self.metadata)  # kept as given, nulls included
        return out

    def current_status(self) -> tuple[str, Json]:
        if self.status is not None:
            return self.status, {"error": self.optimizer_error} if self.optimizer_error else "ok"
        if time.monotonic() < self.optimizing_until:
            return "yellow", "ok"
        return "green", "ok"

    def info(self) -> Json:
        points = self.state.engine.count(self.name, exact=True).count
        schema = {}
        for field, index in self.payload_schema.items():
            index.points = points
            schema[field] = index.model_dump(mode="json", exclude_none=True)
        status, optimizer_status = self.current_status()
        return {
            "status": status,
            "optimizer_status": optimizer_status,
            # Qdrant indexes segments only above indexing_threshold KB: small test collections stay unindexed.
            "indexed_vectors_count": 0,
            "points_count": points,
            "segments_count": self.optimizers.get("default_segment_number") or 2,
            "config": self.config(),
            "payload_schema": schema,
        }


class QdrantState:
    """Everything the server knows; survives stop()/start() like a real Qdrant's storage."""

    def __init__(self, optimize_seconds: float = 0.0) -> None:
        self.engine = QdrantClient(location=":memory:")
        self.collections: dict[str, Collection] = {}
        self.aliases: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests
        # How long a collection reports `yellow` after an update that makes Qdrant re-optimise. 0 by default,
        # so that tests stay fast and see the configuration at once; a test of the yellow phase raises it.
        self.optimize_seconds = optimize_seconds

    def get(self, name: str) -> Collection:
        """A collection by name or alias (Qdrant resolves aliases in every collection call)."""
        name = self.aliases.get(name, name)
        if name not in self.collections:
            raise not_found(name)
        return self.collections[name]

    def set_status(self, name: str, status: str | None, error: str | None = None) -> None:
        """Make a collection report `status` (green, yellow, grey or red) and, with `error`, the optimizer
        status {"error": error}; status None goes back to the computed status."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        collection = self.get(name)
        collection.status, collection.optimizer_error = status, error

    # -- aliases ----------------------------------------------------------------------------------------
    def change_aliases(self, actions: list[Json]) -> None:
        """toc/collection_meta_ops.rs `update_aliases`: the actions run one by one and each is saved at
        once (alias_mapping.rs), so a failing action leaves the ones before it applied; its error is the
        answer."""
        for action in actions:
            if "create_alias" in action:
                collection, alias = (
                    action["create_alias"]["collection_name"],
                    action["create_alias"]["alias_name"],
                )
                if collection not in self.collections:
                    raise not_found(collection)
                if alias in self.collections:  # collections_ops.rs validate_collection_not_exists
                    raise QdrantError(409, f"Wrong input: Collection `{alias}` already exists!")
                self.aliases[alias] = collection  # an existing alias of that name is re-pointed
            elif "delete_alias" in action:
                self.aliases.pop(action["delete_alias"]["alias_name"], None)  # a missing alias is no error
            elif "rename_alias" in action:
                old, new = action["rename_alias"]["old_alias_name"], action["rename_alias"]["new_alias_name"]
                if old not in self.aliases:
                    raise QdrantError(404, f"Not found: Alias {old} does not exists!")
                self.aliases[new] = self.aliases.pop(old)  # no check of `new` against collection names
