"""The operator's kopf registry, built explicitly (no import-time decorators, no global state)."""

from __future__ import annotations

import kopf

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.handlers import embeddingmodel, externalendpoint, vectorcollection, vectorstore
from vectorops.operator.settings import OperatorSettings


def build_registry(kube: KubeReader, settings: OperatorSettings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # The same credentials as the kubernetes client: in-cluster service account, else kubeconfig.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    for module in (vectorstore, vectorcollection, embeddingmodel, externalendpoint):
        module.setup(registry, kube, settings)
    return registry
