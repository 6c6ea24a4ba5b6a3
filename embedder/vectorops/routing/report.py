"""What a gateway reports back: each replica writes, into the status of every ExternalModelEndpoint it
routes to, the breaker state it sees (`status.gateways.<replica>`, a merge patch of its own key only,
so replicas never overwrite each other). The operator reads it for the Degraded condition and drops a
replica's entry once it is older than REPORT_STALE_SECONDS (a replica that went away)."""

from __future__ import annotations

from enum import StrEnum

GATEWAYS_FIELD = "gateways"
# Where a gateway writes it: the status subresource of ExternalModelEndpoints (group, version, plural).
ENDPOINT_RESOURCE = ("vectorops.io", "v1alpha1", "externalmodelendpoints")
REPORT_HEARTBEAT_SECONDS = 300.0  # an unchanged view is written again this often, to show it is alive
REPORT_STALE_SECONDS = 900.0  # three missed heartbeats: the replica is gone


class BreakerState(StrEnum):
    """A circuit breaker's state, as the status API, the metrics and the endpoint's status name it."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
