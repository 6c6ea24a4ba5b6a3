"""VectorStore handlers."""

from __future__ import annotations

import kopf

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.api.kinds import VECTOR_STORE
from vectorops.operator.handlers.wiring import register
from vectorops.operator.reconcilers import vectorstore
from vectorops.operator.settings import OperatorSettings


def setup(
    registry: kopf.OperatorRegistry, kube: KubeReader, settings: OperatorSettings, pool: ClientPool
) -> None:
    register(registry, VECTOR_STORE, vectorstore.StoreReconciler(pool).reconcile, kube, settings)
