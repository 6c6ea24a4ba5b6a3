"""The status fields every kind shares."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from vectorops.operator.api.base import CRDModel
from vectorops.operator.api.conditions import Condition

CONDITIONS_LIST_MAP: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


class StatusBase(CRDModel):
    """Observed state, written by the operator only."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation of the spec this status describes."""
    conditions: list[Condition] = Field(
        default_factory=list, max_length=32, json_schema_extra=CONDITIONS_LIST_MAP
    )
    """Conditions; Ready summarises them."""
