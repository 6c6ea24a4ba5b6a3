"""The route table's kopf wiring: the index of route sources, and a recompile when one is deleted."""

from __future__ import annotations

from typing import Any

import kopf

from vectorops.operator.api.kinds import EMBEDDING_MODEL, EXTERNAL_MODEL_ENDPOINT, GROUP, VERSION
from vectorops.operator.builders.routes import source_of
from vectorops.operator.handlers.wiring import Logger, Wiring
from vectorops.operator.reconcilers.routes import ROUTE_SOURCES_INDEX, RouteSource, RouteSync


def setup(wiring: Wiring, routes: RouteSync) -> None:
    for kind in (EMBEDDING_MODEL, EXTERNAL_MODEL_ENDPOINT):
        _register_kind(wiring, routes, kind.kind, kind.plural)


def _register_kind(wiring: Wiring, routes: RouteSync, kind: str, plural: str) -> None:
    # One index over both kinds (each object adds its entry under its namespace): kopf fills it from
    # its watches before any handler runs, so a table is never compiled from half a namespace.
    @kopf.index(GROUP, VERSION, plural, id=f"{ROUTE_SOURCES_INDEX}_{plural}", registry=wiring.registry)
    def index(body: kopf.Body, **_: Any) -> dict[str, RouteSource]:
        meta = body.get("metadata", {})
        source = RouteSource(
            kind=kind,
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            spec=dict(body.get("spec") or {}),
            status=dict(body.get("status") or {}),
        )
        return {str(meta.get("namespace") or ""): source}

    # No finalizer is held for the table's sake: the deletion is seen in the watch, and the table is
    # compiled without the object at once (the resync of any neighbour would do it too, later).
    @kopf.on.event(GROUP, VERSION, plural, id=f"routes-on-delete-{plural}", registry=wiring.registry)
    async def deleted(event: kopf.RawEvent, body: kopf.Body, logger: Logger, **kwargs: Any) -> None:
        if event.get("type") != "DELETED":
            return
        meta = body.get("metadata", {})
        indexes = {k: v for k, v in kwargs.items() if isinstance(v, kopf.Index)}
        await routes.sync(
            str(meta.get("namespace") or ""), indexes, gone=source_of(kind, str(meta.get("name")))
        )
        logger.info("route table recompiled without %s/%s", kind, meta.get("name"))
