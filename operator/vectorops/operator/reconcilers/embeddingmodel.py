"""EmbeddingModel -> embedder Deployment + Service (server-side apply), Ready from the rollout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vectorops.operator.adapters.kube import KubeWriter
from vectorops.operator.api.base import SecretKeyRef
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.kinds import API_VERSION, EMBEDDING_MODEL, VECTOR_STORE
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.embedder_workload import build_deployment, build_service, endpoint_url
from vectorops.operator.builders.references import Reference, RefKind, embeddingmodel_references
from vectorops.operator.reconcilers.outcome import Context, EventNote, Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.status.conditions import ConditionUpdate
from vectorops.operator.status.readiness import Problem, references_condition


def rollout_condition(deployment: dict[str, Any]) -> ConditionUpdate:
    """Ready from the Deployment: only once its controller has seen the current generation."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    generation = int((deployment.get("metadata") or {}).get("generation", 0))
    seen = int(status.get("observedGeneration") or 0) >= generation
    updated, available = int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    if desired == 0:
        return ConditionUpdate(
            ConditionType.READY.value,
            ConditionStatus.FALSE,
            Reason.SCALED_TO_ZERO.value,
            "the embedder is scaled to zero replicas",
        )
    if seen and updated >= desired and available >= desired:
        return ConditionUpdate(
            ConditionType.READY.value,
            ConditionStatus.TRUE,
            Reason.AVAILABLE.value,
            f"{ready}/{desired} embedder replicas ready",
        )
    return ConditionUpdate(
        ConditionType.READY.value,
        ConditionStatus.FALSE,
        Reason.ROLLING_OUT.value,
        f"{ready}/{desired} embedder replicas ready, {updated} updated",
    )


@dataclass
class EmbedderReconciler:
    writer: KubeWriter
    image: str
    default_store: str | None

    async def _redis_secret(
        self, ctx: Context, spec: EmbeddingModelSpec
    ) -> tuple[SecretKeyRef | None, list[Problem]]:
        store_name = spec.store_ref.name if spec.store_ref else self.default_store
        if not store_name or (spec.cache is not None and not spec.cache.enabled):
            return None, []
        store = await ctx.kube.get_custom_object(VECTOR_STORE.plural, ctx.namespace, store_name)
        redis = VectorStoreSpec.model_validate((store or {}).get("spec") or {}).redis if store else None
        if redis is None:
            return None, []  # no Redis in the store: the embedder runs with its in-process cache only
        ref = redis.url_secret_ref
        missing = await resolve(
            [Reference(RefKind.SECRET, ref.name, "VectorStore spec.redis.urlSecretRef", ref.key)],
            ctx.namespace,
            ctx.kube,
        )
        return ref, missing

    async def reconcile(self, ctx: Context) -> Outcome:
        spec = EmbeddingModelSpec.model_validate(ctx.spec)
        problems = await resolve(embeddingmodel_references(spec, self.default_store), ctx.namespace, ctx.kube)
        redis_ref, secret_problems = (None, []) if problems else await self._redis_secret(ctx, spec)
        problems += secret_problems
        if problems:
            failed = ConditionUpdate(
                ConditionType.READY.value,
                ConditionStatus.FALSE,
                problems[0].reason,
                "; ".join(p.message for p in problems),
            )
            return outcome(ctx, [references_condition(problems), failed])
        owner = {
            "apiVersion": API_VERSION,
            "kind": EMBEDDING_MODEL.kind,
            "name": ctx.name,
            "uid": ctx.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        deployment = build_deployment(ctx.name, spec, self.image, redis_ref)
        service = build_service(ctx.name)
        for manifest in (deployment, service):
            manifest["metadata"] |= {"namespace": ctx.namespace, "ownerReferences": [owner]}
        name = deployment["metadata"]["name"]
        existed = await self.writer.get("apps/v1", "Deployment", ctx.namespace, name) is not None
        applied = await self.writer.apply(deployment, ctx.namespace)
        await self.writer.apply(service, ctx.namespace)
        events = []
        if not existed and ctx.status.get("observedGeneration") is not None:
            events.append(
                EventNote(
                    "Warning",
                    Reason.DRIFT_REPAIRED.value,
                    f"Deployment {name} was missing (deleted by hand?); recreated it",
                )
            )
        elif not existed:
            events.append(EventNote("Normal", Reason.CREATED.value, f"Created Deployment and Service {name}"))
        status = applied.get("status") or {}
        extra = {
            "replicas": int((applied.get("spec") or {}).get("replicas", 1)),
            "readyReplicas": int(status.get("readyReplicas") or 0),
            "endpoint": endpoint_url(ctx.name, ctx.namespace),
        }
        return outcome(ctx, [references_condition([]), rollout_condition(applied)], extra, events)
