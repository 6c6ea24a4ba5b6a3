"""EmbeddingModel handlers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import kopf

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.kinds import EMBEDDING_MODEL
from vectorops.operator.builders.references import embeddingmodel_references
from vectorops.operator.handlers.wiring import register
from vectorops.operator.reconcilers.outcome import Outcome
from vectorops.operator.reconcilers.pending import reconcile_references_only
from vectorops.operator.settings import OperatorSettings


def setup(registry: kopf.OperatorRegistry, kube: KubeReader, settings: OperatorSettings) -> None:
    async def reconcile(
        spec: Mapping[str, Any],
        status: Mapping[str, Any],
        namespace: str,
        generation: int,
        kube: KubeReader,
        now: datetime,
    ) -> Outcome:
        return await reconcile_references_only(
            EmbeddingModelSpec.model_validate(spec),
            lambda s: embeddingmodel_references(s, settings.default_store),
            "deploy embedders",
            status,
            namespace,
            generation,
            kube,
            now,
        )

    register(registry, EMBEDDING_MODEL, reconcile, kube, settings)
