"""Resolve the references a spec names into Problems a human can act on."""

from __future__ import annotations

from collections.abc import Sequence

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.conditions import Reason
from vectorops.operator.api.kinds import EMBEDDING_MODEL, VECTOR_STORE
from vectorops.operator.builders.references import Reference, RefKind
from vectorops.operator.status.readiness import Problem

_PLURALS = {RefKind.VECTOR_STORE: VECTOR_STORE.plural, RefKind.EMBEDDING_MODEL: EMBEDDING_MODEL.plural}
_NOT_FOUND = {RefKind.VECTOR_STORE: Reason.STORE_NOT_FOUND, RefKind.EMBEDDING_MODEL: Reason.MODEL_NOT_FOUND}


async def _check(ref: Reference, namespace: str, kube: KubeReader) -> Problem | None:
    if not ref.name:
        return Problem(
            Reason.STORE_NOT_FOUND.value,
            f"{ref.field} is not set and the operator has no default store (VECTOROPS_DEFAULT_STORE)",
        )
    if ref.kind is RefKind.SECRET:
        keys = await kube.secret_keys(namespace, ref.name)
        if keys is None:
            return Problem(
                Reason.SECRET_NOT_FOUND.value, f"Secret {namespace}/{ref.name} ({ref.field}) not found"
            )
        if ref.key is not None and ref.key not in keys:
            return Problem(
                Reason.SECRET_KEY_NOT_FOUND.value,
                f"Secret {namespace}/{ref.name} has no key {ref.key!r} ({ref.field})",
            )
        return None
    if not await kube.custom_object_exists(_PLURALS[ref.kind], namespace, ref.name):
        return Problem(
            _NOT_FOUND[ref.kind].value, f"{ref.kind.value} {namespace}/{ref.name} ({ref.field}) not found"
        )
    return None


async def resolve(refs: Sequence[Reference], namespace: str, kube: KubeReader) -> list[Problem]:
    problems = []
    for ref in refs:
        problem = await _check(ref, namespace, kube)
        if problem is not None:
            problems.append(problem)
    return problems
