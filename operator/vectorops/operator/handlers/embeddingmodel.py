"""EmbeddingModel handlers."""

from __future__ import annotations

import kopf

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.kinds import EMBEDDING_MODEL
from vectorops.operator.builders.references import embeddingmodel_references
from vectorops.operator.handlers.wiring import register
from vectorops.operator.reconcilers.outcome import Context, Outcome
from vectorops.operator.reconcilers.pending import reconcile_references_only
from vectorops.operator.settings import OperatorSettings


def setup(registry: kopf.OperatorRegistry, kube: KubeReader, settings: OperatorSettings) -> None:
    async def reconcile(ctx: Context) -> Outcome:
        return await reconcile_references_only(
            EmbeddingModelSpec.model_validate(ctx.spec),
            lambda s: embeddingmodel_references(s, settings.default_store),
            "deploy embedders",
            ctx,
        )

    register(registry, EMBEDDING_MODEL, reconcile, kube, settings)
