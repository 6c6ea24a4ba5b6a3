"""Who owns a Qdrant collection: a record in the collection's own metadata names the VectorCollection.

Qdrant collection names are global to a Qdrant cluster, while VectorCollections live in namespaces:
without a record, a VectorCollection in another namespace naming the same collection would take it over
(and, with deletionPolicy Delete, drop it). The record is written when the operator creates a
collection, and checked before every write and before a delete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

OWNER_KEY = "vectorops.io/owner"


@dataclass(frozen=True)
class Owner:
    namespace: str
    name: str
    uid: str

    def record(self) -> dict[str, dict[str, str]]:
        """The collection metadata that names this owner."""
        return {OWNER_KEY: {"namespace": self.namespace, "name": self.name, "uid": self.uid}}

    def same_object(self, other: Owner) -> bool:
        """Namespace and name identify a VectorCollection over time: only one can live at a time, so a
        record with another uid was left by an earlier object of the same name, now gone."""
        return (self.namespace, self.name) == (other.namespace, other.name)

    def describe(self) -> str:
        return f"VectorCollection {self.namespace}/{self.name}"


def owner_in(metadata: Mapping[str, Any] | None) -> Owner | None:
    """The owner recorded in a collection's metadata, or None when there is no (well-formed) record."""
    record = (metadata or {}).get(OWNER_KEY)
    if not isinstance(record, Mapping):
        return None
    fields = [record.get(k) for k in ("namespace", "name", "uid")]
    if not all(isinstance(f, str) and f for f in fields):
        return None
    namespace, name, uid = fields
    return Owner(str(namespace), str(name), str(uid))


class Claim(StrEnum):
    """What this VectorCollection may do with an existing Qdrant collection."""

    OURS = "ours"  # the record names this very object
    RESTAMP = "restamp"  # ours, but the record is missing or names an earlier object of this name
    ADOPT = "adopt"  # no record, and the spec asks to adopt it
    ELSEWHERE = "elsewhere"  # another VectorCollection's: never touched
    UNOWNED = "unowned"  # no record, not ours, and adoption was not asked for: not touched


def claim(recorded: Owner | None, me: Owner, managed_before: bool, adopt: bool) -> Claim:
    """`managed_before`: this object's status already names the collection (it was managing it before
    records existed, or someone removed the record), which makes a missing record ours to restore."""
    if recorded is not None:
        if recorded == me:
            return Claim.OURS
        return Claim.RESTAMP if recorded.same_object(me) else Claim.ELSEWHERE
    if managed_before:
        return Claim.RESTAMP
    return Claim.ADOPT if adopt else Claim.UNOWNED
