"""The operator's kopf registry, built explicitly (no import-time decorators, no global state)."""

from __future__ import annotations

import kopf

from vectorops.operator.adapters.embedder_probe import EmbedderProbe
from vectorops.operator.adapters.endpoint_probe import EndpointProber
from vectorops.operator.adapters.kube import KubeClient
from vectorops.operator.adapters.postgres import PostgresPools
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.handlers import (
    embeddingmodel,
    externalendpoint,
    routes,
    store_index,
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
    pg: PostgresPools | None = None,
) -> kopf.OperatorRegistry:
    """`pg`: the PostgreSQL pools (closed by the caller on shutdown, like `pool`)."""
    registry = kopf.OperatorRegistry()
    # The same credentials as our own client (kubernetes_asyncio): in-cluster service account, else
    # kubeconfig.
    kopf.on.login(registry=registry)(kopf.login_via_async_client)
    gate = PassGate(settings.max_concurrent_reconciles)
    metrics = metrics or OperatorMetrics()
    metrics.watch_gate(gate)
    wiring = Wiring(registry, kube, settings, gate, metrics)
    route_sync = RouteSync(kube, refresh_seconds=settings.resync_seconds)
    pg = pg if pg is not None else PostgresPools()

    # The pools' background workers are tasks: close them while kopf still runs, since kopf cancels
    # every task left when it stops (a pool closed after that fails with CancelledError).
    @kopf.on.cleanup(registry=registry)
    async def close_postgres_pools(**_: object) -> None:
        await pg.close()

    store_index.register(registry)
    vectorstore.setup(wiring, pool, pg)
    vectorcollection.setup(wiring, pool, kube, pg)
    embeddingmodel.setup(wiring, kube, probe, route_sync)
    externalendpoint.setup(wiring, prober, route_sync, kube)
    routes.setup(wiring, route_sync)
    return registry
