"""Which objects a spec depends on, and how missing ones are reported."""

from __future__ import annotations

import pytest

from vectorops.operator.api import (
    EmbeddingModelSpec,
    ExternalModelEndpointSpec,
    VectorStoreSpec,
)
from vectorops.operator.builders.references import (
    Reference,
    RefKind,
    embeddingmodel_references,
    externalendpoint_references,
    vectorstore_references,
)
from vectorops.operator.reconcilers.references import resolve


class FakeKube:
    """In-memory KubeReader for unit tests."""

    def __init__(self, secrets: dict[str, dict[str, str]], objects: set[tuple[str, str]]) -> None:
        self.secrets, self.objects = secrets, objects

    async def secret_keys(self, namespace: str, name: str):
        data = self.secrets.get(name)
        return None if data is None else frozenset(data)

    async def secret_value(self, namespace: str, name: str, key: str):
        return self.secrets.get(name, {}).get(key)

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        return (plural, name) in self.objects


def test_store_references_every_secret() -> None:
    spec = VectorStoreSpec.model_validate(
        {
            "qdrant": {
                "url": "https://q:6333",
                "apiKeySecretRef": {"name": "k", "key": "api"},
                "tls": {"caSecretRef": {"name": "ca", "key": "ca.crt"}},
            },
            "postgres": {"dsnSecretRef": {"name": "pg", "key": "dsn"}},
            "redis": {"urlSecretRef": {"name": "r", "key": "url"}},
        }
    )
    refs = vectorstore_references(spec)
    assert [(r.name, r.key) for r in refs] == [("k", "api"), ("ca", "ca.crt"), ("pg", "dsn"), ("r", "url")]
    assert all(r.kind is RefKind.SECRET for r in refs)


def test_model_with_cache_uses_default_store() -> None:
    spec = EmbeddingModelSpec.model_validate({"source": {"path": "/models/x"}})
    refs = embeddingmodel_references(spec, "fallback")
    assert [(r.kind, r.name) for r in refs] == [(RefKind.VECTOR_STORE, "fallback")]


def test_model_without_cache_or_store_needs_nothing() -> None:
    spec = EmbeddingModelSpec.model_validate({"source": {"path": "/models/x"}, "cache": {"enabled": False}})
    assert embeddingmodel_references(spec, "default") == []


def test_endpoint_without_auth_needs_nothing() -> None:
    spec = ExternalModelEndpointSpec.model_validate({"url": "http://x", "models": [{"name": "m"}]})
    assert externalendpoint_references(spec) == []


@pytest.mark.parametrize(
    ("objects", "reasons"),
    [
        (set(), ["StoreNotFound", "EmbeddingModelNotFound"]),
        ({("vectorstores", "s")}, ["EmbeddingModelNotFound"]),
        ({("vectorstores", "s"), ("embeddingmodels", "m")}, []),
    ],
)
async def test_resolve_objects(objects, reasons) -> None:
    refs = [
        Reference(RefKind.VECTOR_STORE, "s", "spec.storeRef"),
        Reference(RefKind.EMBEDDING_MODEL, "m", "spec.embeddingModelRef"),
    ]
    problems = await resolve(refs, "ns", FakeKube({}, objects))
    assert [p.reason for p in problems] == reasons


async def test_unnamed_store_is_reported() -> None:
    problems = await resolve(
        [Reference(RefKind.VECTOR_STORE, "", "spec.storeRef")], "ns", FakeKube({}, set())
    )
    assert "no default store" in problems[0].message


async def test_resolve_secret_and_key() -> None:
    spec = ExternalModelEndpointSpec.model_validate(
        {
            "url": "https://x",
            "models": [{"name": "m"}],
            "auth": {"type": "bearer", "secretRef": {"name": "key", "key": "apiKey"}},
        }
    )
    refs = externalendpoint_references(spec)
    missing = await resolve(refs, "ns", FakeKube({}, set()))
    assert [p.reason for p in missing] == ["SecretNotFound"]
    assert "Secret ns/key (spec.auth.secretRef) not found" in missing[0].message
    wrong_key = await resolve(refs, "ns", FakeKube({"key": {"other": "x"}}, set()))
    assert [p.reason for p in wrong_key] == ["SecretKeyNotFound"]
    assert await resolve(refs, "ns", FakeKube({"key": {"apiKey": "x"}}, set())) == []
