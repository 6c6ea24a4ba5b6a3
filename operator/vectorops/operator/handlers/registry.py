"""The operator's kopf registry, built explicitly (no import-time decorators, no global state)."""

from __future__ import annotations

import kopf

from vectorops.operator.adapters.embedder_probe import EmbedderProbe
from vectorops.operator.adapters.endpoint_probe import EndpointProber
from vectorops.operator.adapters.kube import KubeClient
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.handlers import (
    embeddingmodel,
    externalendpoint,
    routes,
    vectorcollection,
    vectorstore,
)
from vectorops.operator.handlers.passes import PassGate
from vectorops.operator.handlers.wiring import Wiring
from vectorops.operator.metrics import OperatorMetrics
from vectorops.operator.reconcilers.routes import RouteSync
from vectorops.operator.settings import OperatorSettings


def build_registry(
    kube: KubeClient,
    settings: OperatorSettings,
    pool: ClientPool,
    probe: EmbedderProbe,
    prober: EndpointProber,
    metrics: OperatorMetrics | None = None,
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # The same credentials as our own client (kubernetes_asyncio): in-cluster service account, else
    # kubeconfig.
    kopf.on.login(registry=registry)(kopf.login_via_async_client)
    gate = PassGate(settings.max_concurrent_reconciles)
    metrics = metrics or OperatorMetrics()
    metrics.watch_gate(gate)
    wiring = Wiring(registry, kube, settings, gate, metrics)
    route_sync = RouteSync(kube, refresh_seconds=settings.resync_seconds)
    vectorstore.setup(wiring, pool)
    vectorcollection.setup(wiring, pool, kube)
    embeddingmodel.setup(wiring, kube, probe, route_sync)
    externalendpoint.setup(wiring, prober, route_sync, kube)
    routes.setup(wiring, route_sync)
    return registry
