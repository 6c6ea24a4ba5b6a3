"""VectorStore handlers."""

from __future__ import annotations

from vectorops.operator.adapters.postgres import PostgresPools
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.adapters.redis_probe import RedisProber
from vectorops.operator.api.kinds import VECTOR_STORE
from vectorops.operator.handlers.wiring import Wiring, register
from vectorops.operator.reconcilers.vectorstore import StoreReconciler


def setup(wiring: Wiring, pool: ClientPool, pg: PostgresPools) -> None:
    redis = RedisProber(observe=wiring.metrics.redis_call)
    reconciler = StoreReconciler(pool, wiring.settings.local_store_root, pg, redis)
    register(wiring, VECTOR_STORE, reconciler.reconcile)
