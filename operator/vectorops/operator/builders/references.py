"""The objects a resource depends on, derived from its spec alone."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vectorops.operator.api.base import SecretKeyRef
from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec
from vectorops.operator.api.vectorstore import VectorStoreSpec


class RefKind(StrEnum):
    SECRET = "Secret"
    VECTOR_STORE = "VectorStore"
    EMBEDDING_MODEL = "EmbeddingModel"


@dataclass(frozen=True)
class Reference:
    """A dependency by name in the resource's namespace; `name` is empty when none is known."""

    kind: RefKind
    name: str
    field: str
    key: str | None = None


def _secret(ref: SecretKeyRef | None, field: str) -> list[Reference]:
    return [] if ref is None else [Reference(RefKind.SECRET, ref.name, field, ref.key)]


def _store(name: str | None, default_store: str | None) -> list[Reference]:
    return [Reference(RefKind.VECTOR_STORE, name or default_store or "", "spec.storeRef")]


def vectorstore_references(spec: VectorStoreSpec) -> list[Reference]:
    refs = _secret(spec.qdrant.api_key_secret_ref, "spec.qdrant.apiKeySecretRef")
    if spec.qdrant.tls is not None:
        refs += _secret(spec.qdrant.tls.ca_secret_ref, "spec.qdrant.tls.caSecretRef")
    if spec.postgres is not None:
        pg = spec.postgres
        refs += _secret(pg.dsn_secret_ref, "spec.postgres.dsnSecretRef")
        if pg.credentials_secret_ref is not None:  # host and user are the keys libpq cannot default
            for key in ("host", "user"):
                refs.append(
                    Reference(
                        RefKind.SECRET,
                        pg.credentials_secret_ref.name,
                        "spec.postgres.credentialsSecretRef",
                        key,
                    )
                )
        refs += _secret(pg.ca_secret_ref, "spec.postgres.caSecretRef")
    if spec.redis is not None:
        refs += _secret(spec.redis.url_secret_ref, "spec.redis.urlSecretRef")
    return refs


def embeddingmodel_references(spec: EmbeddingModelSpec, default_store: str | None) -> list[Reference]:
    cache_on = spec.cache is None or spec.cache.enabled
    if spec.store_ref is not None or (cache_on and default_store):
        return _store(spec.store_ref.name if spec.store_ref else None, default_store)
    return []


def externalendpoint_references(spec: ExternalModelEndpointSpec) -> list[Reference]:
    return _secret(spec.auth.secret_ref if spec.auth else None, "spec.auth.secretRef")
