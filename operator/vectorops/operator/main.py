"""Running the operator: settings -> kopf settings -> registry -> kopf.operator()."""

from __future__ import annotations

import asyncio
import logging

import kopf

from vectorops.operator.adapters.embedder_probe import make_probe
from vectorops.operator.adapters.kube import KubernetesReader, KubernetesWriter, load_api_client
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.handlers.registry import build_registry
from vectorops.operator.kopfsettings import configure
from vectorops.operator.settings import OperatorSettings


async def run_operator(
    cfg: OperatorSettings, stop_flag: asyncio.Event | None = None, ready_flag: asyncio.Event | None = None
) -> None:
    api = load_api_client()
    kube = KubernetesReader(api)
    writer = KubernetesWriter(api, cfg.field_manager)
    probe = make_probe(cfg.embedder_probe, api)
    settings = configure(kopf.OperatorSettings(), cfg)
    pool = ClientPool()
    try:
        await kopf.operator(
            registry=build_registry(kube, cfg, pool, writer, probe),
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
        await pool.close()


def main(cfg: OperatorSettings | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Qdrant call is noise
    asyncio.run(run_operator(cfg or OperatorSettings()))
