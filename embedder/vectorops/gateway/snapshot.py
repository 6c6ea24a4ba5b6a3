"""What the gateway serves at one moment: the route table, the collection bindings, the credentials
they reference and the API keys. Immutable, replaced whole when anything changes, so a request sees one
consistent view; requests in flight keep the snapshot they started with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from vectorops.routing.collections import CollectionBinding
from vectorops.routing.table import Backend, CredentialRef, RouteTable


class Role(StrEnum):
    ADMIN = "admin"  # everything, the status API included
    USER = "user"  # model calls
    READONLY = "readonly"  # the status API, the model and collection lists and search; no writes


@dataclass(frozen=True)
class Grant:
    """What one client API key may do. `name` (its Secret's) is what logs and metrics may show."""

    name: str
    role: Role
    models: frozenset[str] | None  # None: every model
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def may_call(self, model: str) -> bool:
        return self.role is not Role.READONLY and (self.models is None or model in self.models)

    def may_use_collection(self, model: str | None) -> bool:
        """A key limited to some models may use a collection only if that collection's model is one of
        them (a collection without a model: only keys without a model list)."""
        return self.models is None or (model is not None and model in self.models)


@dataclass(frozen=True)
class Snapshot:
    table: RouteTable
    credentials: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (secret, key) -> value
    keys: Mapping[str, Grant] = field(default_factory=dict)  # API key -> grant
    collections: Mapping[str, CollectionBinding] = field(default_factory=dict)  # by collection name

    def auth_headers(self, backend: Backend) -> dict[str, str] | None:
        """The headers carrying the backend's key; None when its Secret (or key) is missing."""
        ref: CredentialRef | None = backend.credential
        if ref is None:
            return {}
        value = self.credentials.get((ref.secret, ref.key))
        if value is None:
            return None
        return {ref.header: f"Bearer {value}" if ref.bearer else value}
