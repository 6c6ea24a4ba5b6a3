"""What the gateway serves at one moment: the route table, the provider credentials it references and
the API keys. Immutable, replaced whole when anything changes, so a request sees one consistent view;
requests in flight keep the snapshot they started with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from vectorops.routing.table import Backend, CredentialRef, RouteTable


class Role(StrEnum):
    ADMIN = "admin"  # everything, the status API included
    USER = "user"  # model calls
    READONLY = "readonly"  # the status API and the model list, no model calls


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


@dataclass(frozen=True)
class Snapshot:
    table: RouteTable
    credentials: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (secret, key) -> value
    keys: Mapping[str, Grant] = field(default_factory=dict)  # API key -> grant

    def auth_headers(self, backend: Backend) -> dict[str, str] | None:
        """The headers carrying the backend's key; None when its Secret (or key) is missing."""
        ref: CredentialRef | None = backend.credential
        if ref is None:
            return {}
        value = self.credentials.get((ref.secret, ref.key))
        if value is None:
            return None
        return {ref.header: f"Bearer {value}" if ref.bearer else value}
