"""The operator's kopf registry, built explicitly (no import-time decorators, no global state)."""

from __future__ import annotations

import kopf

from vectorops.operator.adapters.embedder_probe import EmbedderProbe
from vectorops.operator.adapters.kube import KubeReader, KubeWriter
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.handlers import embeddingmodel, externalendpoint, vectorcollection, vectorstore
from vectorops.operator.settings import OperatorSettings


def build_registry(
    kube: KubeReader,
    settings: OperatorSettings,
    pool: ClientPool,
    writer: KubeWriter,
    probe: EmbedderProbe,
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # The same credentials as the kubernetes client: in-cluster service account, else kubeconfig.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    vectorstore.setup(registry, kube, settings, pool)
    vectorcollection.setup(registry, kube, settings, pool)
    embeddingmodel.setup(registry, kube, settings, writer, probe)
    externalendpoint.setup(registry, kube, settings)
    return registry
