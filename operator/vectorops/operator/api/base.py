"""Shared building blocks of the CRD models: camelCase wire names, CEL rules, references."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


@dataclass(frozen=True)
class Rule:
    """One CEL validation rule (``x-kubernetes-validations`` entry) enforced by the apiserver."""

    rule: str
    message: str
    field_path: str | None = None
    reason: str | None = None

    def to_schema(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        if self.reason:
            out["reason"] = self.reason
        return out


def cel(*rules: Rule) -> dict[str, Any]:
    """Attach CEL rules to a model or field schema (``json_schema_extra``)."""
    return {"x-kubernetes-validations": [r.to_schema() for r in rules]}


def immutable(field: str, why: str) -> Rule:
    """A transition rule: the value may not change once set."""
    return Rule(rule="self == oldSelf", message=f"{field} is immutable: {why}")


class CRDModel(BaseModel):
    """Base of every spec/status model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


class DeletionPolicy(StrEnum):
    """What happens to backend data when the custom resource is deleted."""

    RETAIN = "Retain"
    DELETE = "Delete"


class LocalObjectReference(CRDModel):
    """A reference to an object of a known kind in the same namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    """Name of the referenced object (same namespace)."""


class SecretKeyRef(CRDModel):
    """A key in a Secret in the same namespace. Only the reference is stored, never the value."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    """Name of the Secret (same namespace as the resource)."""
    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    """Key inside the Secret's data."""
