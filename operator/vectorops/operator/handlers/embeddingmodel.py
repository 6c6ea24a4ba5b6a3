"""EmbeddingModel handlers."""

from __future__ import annotations

import kopf

from vectorops.operator.adapters.embedder_probe import EmbedderProbe
from vectorops.operator.adapters.kube import KubeReader, KubeWriter
from vectorops.operator.api.kinds import EMBEDDING_MODEL
from vectorops.operator.handlers.wiring import register
from vectorops.operator.reconcilers.embeddingmodel import EmbedderReconciler
from vectorops.operator.settings import OperatorSettings


def setup(
    registry: kopf.OperatorRegistry,
    kube: KubeReader,
    settings: OperatorSettings,
    writer: KubeWriter,
    probe: EmbedderProbe,
) -> None:
    reconciler = EmbedderReconciler(
        writer=writer, probe=probe, image=settings.embedder_image, default_store=settings.default_store
    )
    register(registry, EMBEDDING_MODEL, reconciler.reconcile, kube, settings)
