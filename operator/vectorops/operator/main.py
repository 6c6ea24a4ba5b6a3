"""Running the operator: settings -> kopf settings -> registry -> kopf.operator()."""

from __future__ import annotations

import asyncio
import logging

import kopf

from vectorops.operator.adapters.embedder_probe import make_probe
from vectorops.operator.adapters.endpoint_probe import EndpointProber
from vectorops.operator.adapters.kube import KubeClient, load_api_client, quiet_client_logs
from vectorops.operator.adapters.postgres import PostgresPools
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.handlers.registry import build_registry
from vectorops.operator.kopfsettings import configure
from vectorops.operator.metrics import OperatorMetrics, serve
from vectorops.operator.settings import OperatorSettings


async def run_operator(
    cfg: OperatorSettings, stop_flag: asyncio.Event | None = None, ready_flag: asyncio.Event | None = None
) -> None:
    api = await load_api_client(max_connections=max(8, 2 * cfg.max_concurrent_reconciles))
    kube = KubeClient(api, cfg.field_manager)
    settings = configure(kopf.OperatorSettings(), cfg)
    # An object no pass has seen for three resyncs leaves the objects gauge (its deletion was missed).
    metrics = OperatorMetrics(stale_after=3 * cfg.resync_seconds, resync_seconds=cfg.resync_seconds)
    # An idle client is one whose store is gone: keep it a few resyncs (a deletion may still need it).
    pool = ClientPool(idle_seconds=max(900.0, 3 * cfg.resync_seconds), observe=metrics.qdrant_call)
    pg = PostgresPools(idle_seconds=max(900.0, 3 * cfg.resync_seconds), observe=metrics.postgres_call)
    prober = EndpointProber()
    server = await serve(metrics.registry, cfg.metrics_host, cfg.metrics_port) if cfg.metrics_port else None
    try:
        await kopf.operator(
            registry=build_registry(
                kube, cfg, pool, make_probe(cfg.embedder_probe, kube), prober, metrics=metrics, pg=pg
            ),
            settings=settings,
            clusterwide=not cfg.namespaces,
            namespaces=cfg.namespaces,
            liveness_endpoint=cfg.liveness_endpoint,
            standalone=cfg.peering is None,
            peering_name=cfg.peering,
            priority=cfg.priority,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        if server is not None:
            await server.cleanup()
        await prober.close()
        await pool.close()
        await pg.close()
        await api.close()


def main(cfg: OperatorSettings | None = None) -> None:
    cfg = cfg or OperatorSettings()
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Qdrant call is noise
    quiet_client_logs()
    asyncio.run(run_operator(cfg))
