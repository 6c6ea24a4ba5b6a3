"""VectorStore: its Secrets exist and its Qdrant answers."""

from __future__ import annotations

from dataclasses import dataclass

from vectorops.operator.adapters import qdrant
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.api.conditions import ConditionStatus
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.references import vectorstore_references
from vectorops.operator.reconcilers.outcome import Context, Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.reconcilers.store import endpoint_for, store_key
from vectorops.operator.status.readiness import Problem, ready_condition, references_condition


@dataclass
class StoreReconciler:
    pool: ClientPool

    async def reconcile(self, ctx: Context) -> Outcome:
        return await _reconcile(ctx, self.pool)


async def _reconcile(ctx: Context, pool: ClientPool) -> Outcome:
    spec = VectorStoreSpec.model_validate(ctx.spec)
    namespace, kube = ctx.namespace, ctx.kube
    reference_problems = await resolve(vectorstore_references(spec), namespace, kube)
    problems = list(reference_problems)
    ok_reason, ok_message = "", ""
    if not problems:  # without its Secrets the probe would only say something misleading
        endpoint = await endpoint_for(spec, namespace, kube)
        result = await qdrant.probe(endpoint, pool, store_key(namespace, ctx.name))
        ok_reason, ok_message = result.reason, result.message
        if not result.ok:
            problems.append(Problem(result.reason, result.message))
    ready = ready_condition(
        problems, ok_reason=ok_reason, ok_message=ok_message, ok_status=ConditionStatus.TRUE
    )
    return outcome(ctx, [references_condition(reference_problems), ready])
