"""VectorStore: its Secrets exist and its Qdrant answers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vectorops.operator.adapters import qdrant
from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.conditions import ConditionStatus
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.references import vectorstore_references
from vectorops.operator.reconcilers.outcome import Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.status.readiness import Problem, ready_condition, references_condition


async def _qdrant_endpoint(spec: VectorStoreSpec, namespace: str, kube: KubeReader) -> qdrant.QdrantEndpoint:
    conn = spec.qdrant
    api_key = None
    if conn.api_key_secret_ref is not None:
        ref = conn.api_key_secret_ref
        api_key = await kube.secret_value(namespace, ref.name, ref.key)
    verify: bool | str = True
    if conn.tls is not None and conn.tls.insecure_skip_verify:
        verify = False
    return qdrant.QdrantEndpoint(
        url=conn.url, api_key=api_key, timeout_seconds=conn.timeout_seconds, verify=verify
    )


async def reconcile(
    spec_raw: Mapping[str, Any],
    status: Mapping[str, Any],
    namespace: str,
    generation: int,
    kube: KubeReader,
    now: datetime,
) -> Outcome:
    spec = VectorStoreSpec.model_validate(spec_raw)
    reference_problems = await resolve(vectorstore_references(spec), namespace, kube)
    problems = list(reference_problems)
    ok_reason, ok_message = "", ""
    if not problems:  # without its Secrets the probe would only say something misleading
        result = await qdrant.probe(await _qdrant_endpoint(spec, namespace, kube))
        ok_reason, ok_message = result.reason, result.message
        if not result.ok:
            problems.append(Problem(result.reason, result.message))
    ready = ready_condition(
        problems, ok_reason=ok_reason, ok_message=ok_message, ok_status=ConditionStatus.TRUE
    )
    return outcome(status, generation, [references_condition(reference_problems), ready], now)
