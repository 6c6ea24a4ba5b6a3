"""VectorStore handlers."""

from __future__ import annotations

import kopf

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.kinds import VECTOR_STORE
from vectorops.operator.handlers.wiring import register
from vectorops.operator.reconcilers import vectorstore
from vectorops.operator.settings import OperatorSettings


def setup(registry: kopf.OperatorRegistry, kube: KubeReader, settings: OperatorSettings) -> None:
    register(registry, VECTOR_STORE, vectorstore.reconcile, kube, settings)
