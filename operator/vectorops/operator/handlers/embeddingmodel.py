"""EmbeddingModel handlers."""

from __future__ import annotations

from vectorops.operator.adapters.embedder_probe import EmbedderProbe
from vectorops.operator.adapters.kube import KubeWriter
from vectorops.operator.api.kinds import EMBEDDING_MODEL
from vectorops.operator.handlers.wiring import Wiring, register
from vectorops.operator.reconcilers.alerts import RuleSync
from vectorops.operator.reconcilers.embeddingmodel import EmbedderReconciler
from vectorops.operator.reconcilers.routes import RouteSync


def setup(wiring: Wiring, writer: KubeWriter, probe: EmbedderProbe, routes: RouteSync) -> None:
    settings = wiring.settings
    reconciler = EmbedderReconciler(
        writer=writer,
        probe=probe,
        image=settings.embedder_image,
        default_store=settings.default_store,
        routes=routes,
        rules=RuleSync(writer, refresh_seconds=settings.resync_seconds),
    )
    register(wiring, EMBEDDING_MODEL, reconciler.reconcile)
