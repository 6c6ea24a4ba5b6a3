"""EmbeddingModels and ExternalModelEndpoints -> the namespace's route table, and a verdict per object.

Rules, so that what the gateway serves is never ambiguous and never mixes vectors:
- a model name is one route; its backends are tried by ascending priority;
- two backends of one priority must share a failover group (that is how one asks for balancing);
  otherwise the one that sorts later (by source) is refused (`RouteConflict`);
- backends of an embeddings route must agree on what the vectors mean (identity, dimension,
  normalisation, and the weights' revision when both declare one: a backend that declares no revision
  is compatible with one that does) with every backend accepted before it; one that does not is refused
  (`IncompatibleVectors`);
- an embeddings backend whose dimension is not known yet is left out (`DimensionUnknown`);
- a route's capability (embeddings or chat) is its first backend's; a backend of the other is refused.
Refused backends leave the table while the rest keep serving.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.externalendpoint import AuthType, ExternalModelEndpointSpec, ModelMapping
from vectorops.operator.api.kinds import EMBEDDING_MODEL, EXTERNAL_MODEL_ENDPOINT
from vectorops.operator.builders.embedder_workload import endpoint_url, model_identity
from vectorops.routing.table import (
    MAX_TABLE_BYTES,
    Backend,
    Capability,
    CredentialRef,
    Policy,
    Route,
    RouteTable,
    VectorIdentity,
)

EXTERNAL_PRIORITY = 100  # in-cluster models (priority 0) come first unless an endpoint says otherwise
EMBEDDER_BATCH = 2048  # inputs per request the embedder accepts (its max_request_texts)


@dataclass(frozen=True)
class Offer:
    """One backend an object offers for one model name."""

    model: str
    capability: Capability
    backend: Backend


@dataclass(frozen=True)
class Contribution:
    source: str  # Kind/name
    offers: tuple[Offer, ...]
    unroutable: tuple[str, ...] = ()  # why some of its models cannot be offered yet


@dataclass
class Verdict:
    """What became of one object's offers."""

    routed: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)

    @property
    def ok(self) -> bool:
        return not self.refused


def source_of(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def embeddingmodel_offer(
    name: str, namespace: str, spec: EmbeddingModelSpec, dimension: int | None
) -> Contribution:
    """A Ready EmbeddingModel: its embedder's Service, preferred (priority 0)."""
    source = source_of(EMBEDDING_MODEL.kind, name)
    if dimension is None:
        return Contribution(source, (), ("the served dimension is not known yet",))
    hf = spec.source.hugging_face
    # Only a revision the user wrote is declared: the default `main` is a moving label, and declaring
    # it would refuse an endpoint that pins a commit of the same weights.
    pinned = hf.revision if hf is not None and "revision" in hf.model_fields_set else None
    identity = VectorIdentity(
        model=spec.identity or (hf.repo if hf else None) or name,
        dimension=dimension,
        normalized=spec.normalize,
        revision=pinned,
    )
    backend = Backend(
        source=source,
        url=f"{endpoint_url(name, namespace)}/v1",
        upstream_model=name,
        max_batch=EMBEDDER_BATCH,
        identity=identity,
        vector_digest=_digest(model_identity(spec), spec.max_seq_length, spec.precision),
    )
    return Contribution(source, (Offer(name, Capability.EMBEDDINGS, backend),))


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _policy(spec: ExternalModelEndpointSpec) -> Policy:
    policy: dict[str, Any] = {}
    if spec.timeouts is not None:
        policy |= {
            "connect_timeout_s": spec.timeouts.connect_seconds,
            "request_timeout_s": spec.timeouts.request_seconds,
        }
    if spec.retries is not None:
        policy |= {
            "max_attempts": spec.retries.max_attempts,
            "initial_backoff_s": spec.retries.initial_backoff_ms / 1000,
            "max_backoff_s": spec.retries.max_backoff_ms / 1000,
        }
    if spec.circuit_breaker is not None:
        policy |= {
            "failure_threshold": spec.circuit_breaker.failure_threshold,
            "open_seconds": float(spec.circuit_breaker.open_seconds),
        }
    return Policy(**policy)


def _credential(spec: ExternalModelEndpointSpec) -> CredentialRef | None:
    auth = spec.auth
    if auth is None or auth.type is AuthType.NONE or auth.secret_ref is None:
        return None
    bearer = auth.type is AuthType.BEARER
    header = "Authorization" if bearer else auth.header_name
    return CredentialRef(secret=auth.secret_ref.name, key=auth.secret_ref.key, header=header, bearer=bearer)


def mapping_identity(mapping: ModelMapping) -> str:
    return mapping.identity or mapping.upstream_model or mapping.name


def endpoint_offer(
    name: str, spec: ExternalModelEndpointSpec, probed_dimensions: Mapping[str, int]
) -> Contribution:
    """A Ready ExternalModelEndpoint: one backend per model it serves. An embedding model's dimension is
    the declared one, else what the probe saw."""
    source = source_of(EXTERNAL_MODEL_ENDPOINT.kind, name)
    failover, policy, credential = spec.failover, _policy(spec), _credential(spec)
    offers, unroutable = [], []
    for mapping in spec.models:
        capability = mapping.capability
        identity = None
        if capability is Capability.EMBEDDINGS:
            dimension = mapping.dimensions or probed_dimensions.get(mapping.name)
            if dimension is None:
                unroutable.append(f"{mapping.name}: dimension not declared and not probed yet")
                continue
            identity = VectorIdentity(
                model=mapping_identity(mapping),
                dimension=dimension,
                normalized=mapping.normalized,
                revision=mapping.revision,
            )
        backend_model = mapping.upstream_model or mapping.name
        backend = Backend(
            source=source,
            url=spec.url.rstrip("/"),
            api_style=spec.api_style,
            upstream_model=backend_model,
            credential=credential,
            priority=failover.priority if failover else EXTERNAL_PRIORITY,
            weight=failover.weight if failover else 100,
            group=failover.group if failover else None,
            max_batch=mapping.max_batch_size,
            identity=identity,
            vector_digest=None
            if identity is None
            else _digest(spec.url.rstrip("/"), spec.api_style, backend_model, identity.model_dump()),
            policy=policy,
        )
        offers.append(Offer(mapping.name, capability, backend))
    return Contribution(source, tuple(offers), tuple(unroutable))


def _describe(identity: VectorIdentity | None) -> str:
    if identity is None:
        return "unknown vectors"
    unit = "normalised" if identity.normalized else "unnormalised"
    revision = f", revision {identity.revision}" if identity.revision else ""
    return f"{identity.model} ({identity.dimension} dimensions, {unit}{revision})"


def _compatible(a: VectorIdentity | None, b: VectorIdentity | None) -> bool:
    """The same vectors: equal identities, except that a revision declared on one side only is no
    conflict (nothing says the other serves other weights)."""
    if a is not None and b is not None and (a.revision is None or b.revision is None):
        return a.model_copy(update={"revision": None}) == b.model_copy(update={"revision": None})
    return a == b


def _refusal(offer: Offer, accepted: Sequence[Offer]) -> tuple[str, str] | None:
    """Why `offer` cannot join a route whose backends so far are `accepted` (None: it can)."""
    if not accepted:
        return None
    first = accepted[0]
    b = offer.backend
    if offer.capability is not first.capability:
        return (
            "RouteConflict",
            f"model {offer.model} is a {first.capability.value} model ({first.backend.source}); "
            f"this offers it for {offer.capability.value}",
        )
    for other in accepted:
        o = other.backend
        if o.priority == b.priority and not (o.group and o.group == b.group):
            return (
                "RouteConflict",
                f"model {offer.model} is already served at priority {b.priority} by {o.source}: give one "
                "another failover.priority, or put both in one failover.group to balance between them",
            )
    if offer.capability is Capability.EMBEDDINGS:
        for other in accepted:
            o = other.backend
            if not _compatible(o.identity, b.identity):
                return (
                    "IncompatibleVectors",
                    f"model {offer.model}: {o.source} serves {_describe(o.identity)}, this serves "
                    f"{_describe(b.identity)}; backends of one model must produce the same vectors (a "
                    "revision declared by one of them only is no conflict), or a collection's queries "
                    "would be answered by another model without an error",
                )
    return None


def compile_routes(
    namespace: str, contributions: Iterable[Contribution]
) -> tuple[RouteTable | None, dict[str, Verdict]]:
    """The table and each source's verdict. Deterministic: equal inputs give equal tables. No table when
    it would not fit in a ConfigMap (every source is told why)."""
    contributions = sorted(contributions, key=lambda c: c.source)
    verdicts = {c.source: Verdict() for c in contributions}
    for c in contributions:
        verdicts[c.source].refused += [("DimensionUnknown", reason) for reason in c.unroutable]
    by_model: dict[str, list[Offer]] = {}
    for c in contributions:
        for offer in c.offers:
            by_model.setdefault(offer.model, []).append(offer)
    routes = []
    for model in sorted(by_model):
        accepted: list[Offer] = []
        for offer in sorted(by_model[model], key=lambda o: (o.backend.priority, o.backend.source)):
            refusal = _refusal(offer, accepted)
            if refusal is None:
                accepted.append(offer)
                verdicts[offer.backend.source].routed.append(model)
            else:
                verdicts[offer.backend.source].refused.append(refusal)
        routes.append(
            Route(model=model, capability=accepted[0].capability, backends=tuple(o.backend for o in accepted))
        )
    table = RouteTable(namespace=namespace, routes=tuple(routes))
    size = len(table.to_json().encode())
    if size > MAX_TABLE_BYTES:
        message = (
            f"the route table of namespace {namespace} would take {size} bytes, over the "
            f"{MAX_TABLE_BYTES} a ConfigMap holds: the last table written keeps serving"
        )
        return None, {source: Verdict(refused=[("RouteTableTooLarge", message)]) for source in verdicts}
    return table, verdicts
