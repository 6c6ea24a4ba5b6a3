"""VectorStore: its Secrets exist and its Qdrant answers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vectorops.operator.adapters import qdrant
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.api.conditions import ConditionStatus, Reason
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.references import vectorstore_references
from vectorops.operator.reconcilers.outcome import Context, Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.reconcilers.store import StoreProblem, endpoint_for, store_key
from vectorops.operator.status.readiness import Problem, ready_condition, references_condition

# What a store may declare that this operator version does not use or check yet.
POSTGRES_GAP = "spec.postgres: PostgreSQL is not used or checked by this operator version"


@dataclass
class StoreReconciler:
    pool: ClientPool
    local_root: Path | None

    async def reconcile(self, ctx: Context) -> Outcome:
        spec = VectorStoreSpec.model_validate(ctx.spec)
        namespace, kube = ctx.namespace, ctx.kube
        reference_problems = await resolve(vectorstore_references(spec), namespace, kube)
        problems = list(reference_problems)
        ok_reason, ok_message = "", ""
        if not problems:  # without its Secrets the probe would only say something misleading
            try:
                endpoint = await endpoint_for(spec, namespace, kube, self.local_root)
            except StoreProblem as e:
                problems.append(e.problem)
            else:
                result = await qdrant.probe(endpoint, self.pool, store_key(namespace, ctx.name))
                ok_reason, ok_message = result.reason, result.message
                if not result.ok:
                    problems.append(Problem(result.reason, result.message))
        if spec.postgres is not None and not problems:
            ok_reason, ok_message = Reason.INCOMPLETE.value, f"{ok_message}; not done: {POSTGRES_GAP}"
        ready = ready_condition(
            problems, ok_reason=ok_reason, ok_message=ok_message, ok_status=ConditionStatus.TRUE
        )
        return outcome(ctx, [references_condition(reference_problems), ready])
