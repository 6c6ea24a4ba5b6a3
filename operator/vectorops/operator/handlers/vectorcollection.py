"""VectorCollection handlers: level-based reconcile, and deletion by policy behind our finalizer."""

from __future__ import annotations

from typing import Any

import kopf

from vectorops.operator.adapters.kube import KubeWriter
from vectorops.operator.adapters.postgres import PostgresFailure, PostgresPools
from vectorops.operator.adapters.qdrant import ClientPool, QdrantFailure
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.kinds import GROUP, VECTOR_COLLECTION, VERSION
from vectorops.operator.handlers.wiring import Logger, Wiring, context, post_events, register, write_status
from vectorops.operator.reconcilers.alerts import RuleSync
from vectorops.operator.reconcilers.binding import BindingSync
from vectorops.operator.reconcilers.outcome import outcome
from vectorops.operator.reconcilers.schema import SchemaSync
from vectorops.operator.reconcilers.store import StoreProblem
from vectorops.operator.reconcilers.vectorcollection import FORCE_DELETE_ANNOTATION, CollectionReconciler
from vectorops.operator.status.conditions import ConditionUpdate


def setup(wiring: Wiring, pool: ClientPool, writer: KubeWriter, pg: PostgresPools) -> None:
    settings = wiring.settings
    reconciler = CollectionReconciler(
        pool=pool,
        default_store=settings.default_store,
        local_root=settings.local_store_root,
        rules=RuleSync(writer, refresh_seconds=settings.resync_seconds),
        schemas=SchemaSync(pg),
        bindings=BindingSync(writer, refresh_seconds=settings.resync_seconds),
    )
    register(wiring, VECTOR_COLLECTION, reconciler.reconcile)

    @kopf.on.delete(
        GROUP, VERSION, VECTOR_COLLECTION.plural, id="delete-vectorcollection", registry=wiring.registry
    )
    async def delete(body: kopf.Body, patch: kopf.Patch, logger: Logger, retry: int, **_: Any) -> None:
        async with wiring.gate.hold(str(body.metadata.uid)):
            ctx = context(body, wiring.kube)
            try:
                notes = await reconciler.delete(ctx)
            except (QdrantFailure, PostgresFailure, StoreProblem) as e:
                reason, message = (
                    (e.problem.reason, e.problem.message)
                    if isinstance(e, StoreProblem)
                    else (e.reason, e.message)
                )
                what = "PostgreSQL schema" if isinstance(e, PostgresFailure) else "Qdrant collection"
                text = (
                    f"cannot delete the {what} ({reason}: {message}); retrying. To remove this resource "
                    f"and keep the collection and its schema, annotate it {FORCE_DELETE_ANNOTATION}=true"
                )
                update = ConditionUpdate(
                    ConditionType.READY.value, ConditionStatus.FALSE, Reason.DELETION_BLOCKED.value, text
                )
                write_status(patch, ctx.status, outcome(ctx, [update]))
                raise kopf.TemporaryError(text, delay=min(60, 2 ** min(retry, 6))) from e
        for note in notes:
            logger.info(note.message)
        post_events(body, notes)
