"""ExternalModelEndpoint handlers."""

from __future__ import annotations

from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec
from vectorops.operator.api.kinds import EXTERNAL_MODEL_ENDPOINT
from vectorops.operator.builders.references import externalendpoint_references
from vectorops.operator.handlers.wiring import Wiring, register
from vectorops.operator.reconcilers.outcome import Context, Outcome
from vectorops.operator.reconcilers.pending import reconcile_references_only


def setup(wiring: Wiring) -> None:
    async def reconcile(ctx: Context) -> Outcome:
        return await reconcile_references_only(
            ExternalModelEndpointSpec.model_validate(ctx.spec),
            externalendpoint_references,
            "route traffic to external endpoints",
            ctx,
        )

    register(wiring, EXTERNAL_MODEL_ENDPOINT, reconcile)
