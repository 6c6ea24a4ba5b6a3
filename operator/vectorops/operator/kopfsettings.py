"""kopf's settings, chosen deliberately and in one place (docs/architecture.md explains each)."""

from __future__ import annotations

import logging

import kopf

from vectorops.operator.settings import OperatorSettings

FINALIZER = "vectorops.io/finalizer"
KOPF_STATUS = "status.kopf"


def configure(settings: kopf.OperatorSettings, cfg: OperatorSettings) -> kopf.OperatorSettings:
    # Our own finalizer name, so `kubectl get -o yaml` says who holds the object.
    settings.persistence.finalizer = FINALIZER
    # Handler progress and the last handled spec go into status.kopf, never annotations: GitOps
    # tools (Argo CD, Flux) ignore status but may diff annotations, an annotation holding a spec
    # copy can hit the 256 KiB limit, and status is covered by the CRD schema (preserved field).
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field=f"{KOPF_STATUS}.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(
        field=f"{KOPF_STATUS}.lastHandledConfiguration"
    )
    # Events are for humans: log lines never become Events (posting.loggers, off since kopf 1.45), only
    # the explicit ones we post (Created, Updated, DriftRepaired, Ready changes...), Normal and Warning.
    settings.posting.loggers = False
    settings.posting.level = logging.INFO
    settings.posting.reporting_component = "vectorops"
    # Long-lived watches with a server-side timeout and an inactivity guard against silent freezes.
    settings.watching.server_timeout = cfg.watch_server_timeout
    settings.watching.client_timeout = cfg.watch_server_timeout + 30
    settings.watching.connect_timeout = 30
    # Concurrency is bounded where the work is: every reconcile pass (change, resync timer, deletion)
    # takes a slot of one semaphore (handlers/wiring.py, cfg.max_concurrent_reconciles). kopf's own
    # knobs do not do that: queueing.worker_limit bounds per-object watch workers, which stay busy for
    # their idle timeout after the last event (starving other objects after a restart) and do not
    # cover timers; execution.max_workers only sizes the thread pool of sync handlers (ours are async).
    # So kopf's workers stay unlimited (they are cheap coroutines) and both are left at their defaults.
    # A deleted object's finalizer waits for its resync timer to stop; a timer caught mid-pass is
    # checked again after background.cancellation_polling (kopf's default: 60 s), so a deletion that
    # met a pass hung for a minute. A pass takes well under a second: check every second.
    settings.background.cancellation_polling = 1.0
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    # Peering: several replicas, one active; priorities must differ (set per pod by the chart).
    settings.peering.name = cfg.peering or "vectorops"
    settings.peering.priority = cfg.priority
    settings.peering.lifetime = cfg.peering_lifetime_seconds
    settings.peering.standalone = cfg.peering is None
    settings.peering.mandatory = cfg.peering is not None
    settings.peering.clusterwide = not cfg.namespaces
    return settings
