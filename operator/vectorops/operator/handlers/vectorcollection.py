"""VectorCollection handlers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import kopf

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.kinds import VECTOR_COLLECTION
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.builders.references import vectorcollection_references
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
            VectorCollectionSpec.model_validate(spec),
            lambda s: vectorcollection_references(s, settings.default_store),
            "create Qdrant collections",
            status,
            namespace,
            generation,
            kube,
            now,
        )

    register(registry, VECTOR_COLLECTION, reconcile, kube, settings)
