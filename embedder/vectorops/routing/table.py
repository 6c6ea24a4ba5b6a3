"""What a gateway serves, in one versioned document per namespace (a ConfigMap the operator writes).

One table per namespace: a gateway serves the models of its namespace, read with the namespace's API
keys, and a model name is unique within it. Secrets are named, never copied: a backend's credential is a
reference the gateway resolves itself, so rotating a Secret needs no new table.

Size: a ConfigMap holds about 1 MiB. A backend takes 500-700 bytes of compact JSON, so a namespace's
table fits about 1,500 backends; the operator refuses to write a larger one and says so.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

ROUTES_CONFIGMAP = "vectorops-routes"
ROUTES_KEY = "routes.json"
MAX_TABLE_BYTES = 1_000_000  # a ConfigMap's data must stay under 1 MiB, with room for metadata


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Capability(StrEnum):
    """What a model does."""

    EMBEDDINGS = "embeddings"
    CHAT = "chat"


class ApiStyle(StrEnum):
    """Wire protocol of the provider."""

    OPENAI = "openai"
    TEI = "tei"
    OLLAMA = "ollama"


class CredentialRef(_Frozen):
    """Where the key lives (a Secret of the table's namespace) and how it is sent."""

    secret: str
    key: str
    header: str = "Authorization"
    bearer: bool = True  # "Authorization: Bearer <key>"; False sends the key as the header's value


class VectorIdentity(_Frozen):
    """What an embedding backend's vectors mean: backends of one route must agree on all of it (on the
    revision when both declare one). The gateway's cache of embedding results is keyed by it."""

    model: str  # e.g. sentence-transformers/all-MiniLM-L6-v2
    dimension: int
    normalized: bool
    revision: str | None = None  # the weights' revision (a commit, ideally), when known


class Policy(_Frozen):
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 60.0
    max_attempts: int = 3
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    failure_threshold: int = 5
    open_seconds: float = 30.0


class Backend(_Frozen):
    """One upstream that can serve a route's model."""

    source: str = Field(description="the object it comes from: Kind/name")
    url: str  # base URL; OpenAI-style paths (/embeddings, /chat/completions) are appended
    api_style: ApiStyle = ApiStyle.OPENAI
    upstream_model: str
    credential: CredentialRef | None = None
    priority: int = 0  # lower is tried first
    weight: int = 100  # share among backends of equal priority
    group: str | None = None  # failover group: backends of equal priority must share one
    max_batch: int | None = None  # inputs per upstream request; larger requests are split
    identity: VectorIdentity | None = None  # embeddings only
    # A digest of everything that decides this backend's vectors (weights, pooling, truncation,
    # prefixes, precision; for a provider its URL and model): part of the gateway's cache keys, so a
    # changed model never answers from another's entries. Not compared between backends.
    vector_digest: str | None = None
    policy: Policy = Policy()


class Route(_Frozen):
    model: str  # the name clients put in `model`
    capability: Capability
    backends: tuple[Backend, ...]  # in priority order


class RouteTable(_Frozen):
    namespace: str
    routes: tuple[Route, ...] = ()

    def version(self) -> str:
        """A content hash: equal tables have equal versions, so an unchanged table is never rewritten."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def to_json(self) -> str:
        # None fields are left out: a gateway older than the operator reads a table with a field it
        # does not know yet (all of them default to None) as long as nothing sets it.
        return self.model_dump_json(exclude_none=True)

    def route(self, model: str) -> Route | None:
        return next((r for r in self.routes if r.model == model), None)
