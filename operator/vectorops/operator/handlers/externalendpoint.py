"""ExternalModelEndpoint handlers."""

from __future__ import annotations

from vectorops.operator.adapters.endpoint_probe import EndpointProber
from vectorops.operator.adapters.kube import KubeWriter
from vectorops.operator.api.kinds import EXTERNAL_MODEL_ENDPOINT
from vectorops.operator.handlers.wiring import Wiring, register
from vectorops.operator.reconcilers.alerts import RuleSync
from vectorops.operator.reconcilers.externalendpoint import EndpointReconciler
from vectorops.operator.reconcilers.routes import RouteSync

# Passes of an endpoint come this often (at most): each decides whether a probe is due
# (healthProbe.intervalSeconds), so that probing follows the spec, not the resync interval.
PROBE_TICK_SECONDS = 5.0


def setup(wiring: Wiring, prober: EndpointProber, routes: RouteSync, writer: KubeWriter) -> None:
    rules = RuleSync(writer, refresh_seconds=wiring.settings.resync_seconds)
    reconciler = EndpointReconciler(prober=prober, routes=routes, rules=rules)
    register(wiring, EXTERNAL_MODEL_ENDPOINT, reconciler.reconcile, interval=PROBE_TICK_SECONDS)
