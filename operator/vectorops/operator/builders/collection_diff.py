"""Declared vs. reported Qdrant collection: what differs, and whether Qdrant can change it in place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vectorops.operator.builders.collection_ownership import Owner
from vectorops.operator.builders.qdrant_collection import UNNAMED, DesiredCollection, Json

# Parts of a vector space Qdrant fixes at creation.
_FIXED_VECTOR_KEYS = ("size", "distance", "datatype")


@dataclass(frozen=True)
class ObservedCollection:
    """What Qdrant reports, normalised to the shapes of DesiredCollection by the adapter."""

    name: str
    vectors: dict[str, Json]
    sparse_vectors: dict[str, Json]
    shard_number: int
    replication_factor: int
    write_consistency_factor: int
    on_disk_payload: bool
    hnsw: Json
    optimizers: Json
    quantization: Json | None
    payload_indexes: dict[str, Json]
    aliases: frozenset[str]
    all_aliases: dict[str, str] = field(default_factory=dict)
    owner: Owner | None = None
    """The ownership record in the collection's metadata."""
    status: str = "green"
    optimizer_error: str | None = None
    """Qdrant's optimizer error, when it reports one (a red collection)."""
    points_count: int = 0
    indexed_vectors_count: int = 0
    segments_count: int = 0


@dataclass(frozen=True)
class Change:
    """One difference. `path` is Qdrant's name for the setting."""

    path: str
    desired: Any
    actual: Any
    in_place: bool

    def describe(self) -> str:
        return f"{self.path}: {self.actual!r} -> {self.desired!r}"


@dataclass
class CollectionDiff:
    changes: list[Change] = field(default_factory=list)
    update: Json = field(default_factory=dict)  # body of PATCH /collections/{name} (UpdateCollection)
    create_indexes: dict[str, Json] = field(default_factory=dict)
    delete_indexes: list[str] = field(default_factory=list)
    alias_actions: list[Json] = field(default_factory=list)  # body.actions of POST /collections/aliases

    @property
    def rebuild(self) -> list[Change]:
        return [c for c in self.changes if not c.in_place]

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self, limit: int = 8) -> str:
        shown = [c.describe() for c in self.changes[:limit]]
        more = len(self.changes) - limit
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _declared_subset(path: str, desired: Json, actual: Json | None) -> list[Change]:
    actual = actual or {}
    return [
        Change(f"{path}.{key}", value, actual.get(key), in_place=True)
        for key, value in sorted(desired.items())
        if actual.get(key) != value
    ]


def _quantization_differs(desired: Json | None, actual: Json | None) -> bool:
    if desired is None or actual is None:
        return desired != actual
    ((method, params),) = desired.items()
    if set(actual) != {method}:
        return True
    return any(actual[method].get(k) != v for k, v in params.items())


def _vectors(d: DesiredCollection, o: ObservedCollection, diff: CollectionDiff) -> None:
    if set(d.vectors) != set(o.vectors):
        diff.changes.append(Change("vectors", sorted(d.vectors), sorted(o.vectors), in_place=False))
        return
    updates: dict[str, Json] = {}
    for name, want in d.vectors.items():
        have = o.vectors[name]
        label = "vectors" if name == UNNAMED else f"vectors.{name}"
        for key in _FIXED_VECTOR_KEYS:
            if key in want and want[key] != have.get(key):
                diff.changes.append(Change(f"{label}.{key}", want[key], have.get(key), in_place=False))
        patch: Json = {}
        if "on_disk" in want and want["on_disk"] != bool(have.get("on_disk")):
            diff.changes.append(Change(f"{label}.on_disk", want["on_disk"], have.get("on_disk"), True))
            patch["on_disk"] = want["on_disk"]
        hnsw = _declared_subset(f"{label}.hnsw_config", want.get("hnsw_config", {}), have.get("hnsw_config"))
        if hnsw:
            diff.changes.extend(hnsw)
            patch["hnsw_config"] = want["hnsw_config"]
        if _quantization_differs(want.get("quantization_config"), have.get("quantization_config")):
            q = want.get("quantization_config")
            diff.changes.append(
                Change(f"{label}.quantization_config", q, have.get("quantization_config"), True)
            )
            patch["quantization_config"] = q if q is not None else "Disabled"
        if patch:
            updates[name] = patch
    if updates:
        diff.update["vectors"] = updates


def _sparse(d: DesiredCollection, o: ObservedCollection, diff: CollectionDiff) -> None:
    if set(d.sparse_vectors) != set(o.sparse_vectors):
        diff.changes.append(
            Change("sparse_vectors", sorted(d.sparse_vectors), sorted(o.sparse_vectors), False)
        )
        return
    updates = {}
    for name, want in d.sparse_vectors.items():
        have = o.sparse_vectors[name]
        changed = want.get("modifier") not in (None, have.get("modifier", "none")) or any(
            (have.get("index") or {}).get(k) != v for k, v in (want.get("index") or {}).items()
        )
        if changed:
            diff.changes.append(Change(f"sparse_vectors.{name}", want, have, in_place=True))
            updates[name] = want
    if updates:
        diff.update["sparse_vectors"] = updates


def _params(d: DesiredCollection, o: ObservedCollection, diff: CollectionDiff) -> None:
    if d.shard_number != o.shard_number:
        diff.changes.append(Change("shard_number", d.shard_number, o.shard_number, in_place=False))
    params = {}
    for key in ("replication_factor", "write_consistency_factor", "on_disk_payload"):
        want, have = getattr(d, key), getattr(o, key)
        if want != have:
            diff.changes.append(Change(key, want, have, in_place=True))
            params[key] = want
    if params:
        diff.update["params"] = params


def _indexes(d: DesiredCollection, o: ObservedCollection, diff: CollectionDiff) -> None:
    for name, want in sorted(d.payload_indexes.items()):
        have = o.payload_indexes.get(name)
        if have is None or any(have.get(k) != v for k, v in want.items()):
            diff.changes.append(Change(f"payload_schema.{name}", want, have, in_place=True))
            if have is not None:
                diff.delete_indexes.append(name)  # Qdrant changes an index by dropping and re-creating it
            diff.create_indexes[name] = want
    for name in sorted(set(o.payload_indexes) - set(d.payload_indexes)):
        diff.changes.append(Change(f"payload_schema.{name}", None, o.payload_indexes[name], in_place=True))
        diff.delete_indexes.append(name)


def _aliases(
    d: DesiredCollection, o: ObservedCollection, diff: CollectionDiff, contested: frozenset[str]
) -> None:
    # Qdrant applies alias actions one by one, without rollback. create_alias re-points an alias that
    # exists, so an alias is never deleted to be moved: no state between two actions lacks it. Creates
    # go first, so a failure part-way leaves every alias the spec wants that was there before.
    for alias in sorted(d.aliases - o.aliases - contested):
        elsewhere = o.all_aliases.get(alias)
        diff.changes.append(Change(f"aliases.{alias}", d.name, elsewhere, in_place=True))
        diff.alias_actions.append({"create_alias": {"collection_name": d.name, "alias_name": alias}})
    for alias in sorted(o.aliases - d.aliases):
        diff.changes.append(Change(f"aliases.{alias}", None, d.name, in_place=True))
        diff.alias_actions.append({"delete_alias": {"alias_name": alias}})


def diff_collection(
    desired: DesiredCollection,
    observed: ObservedCollection,
    full: bool = True,
    contested: frozenset[str] = frozenset(),
) -> CollectionDiff:
    """Every difference between the declared and the reported collection, classified.

    full=False compares only what qdrant-client's embedded engine keeps (vector spaces and aliases):
    it accepts but does not report index, optimizer and quantization settings.
    `contested`: declared aliases held by another VectorCollection, left alone.
    """
    diff = CollectionDiff()
    _vectors(desired, observed, diff)
    if not full:
        diff.changes = [c for c in diff.changes if not c.in_place]
        diff.update.clear()
        _aliases(desired, observed, diff, contested)
        return diff
    _sparse(desired, observed, diff)
    _params(desired, observed, diff)
    hnsw = _declared_subset("hnsw_config", desired.hnsw, observed.hnsw)
    if hnsw:
        diff.changes.extend(hnsw)
        diff.update["hnsw_config"] = desired.hnsw
    optimizers = _declared_subset("optimizers_config", desired.optimizers, observed.optimizers)
    if optimizers:
        diff.changes.extend(optimizers)
        diff.update["optimizers_config"] = desired.optimizers
    if _quantization_differs(desired.quantization, observed.quantization):
        diff.changes.append(Change("quantization_config", desired.quantization, observed.quantization, True))
        diff.update["quantization_config"] = (
            desired.quantization if desired.quantization is not None else "Disabled"
        )
    _indexes(desired, observed, diff)
    _aliases(desired, observed, diff, contested)
    return diff
