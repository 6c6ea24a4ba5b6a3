"""The route document: the contract between the operator, which compiles it from EmbeddingModels and
ExternalModelEndpoints, and the gateway, which serves it. Nothing here does I/O."""

from vectorops.routing.table import (
    ROUTES_CONFIGMAP,
    ROUTES_KEY,
    ApiStyle,
    Backend,
    Capability,
    CredentialRef,
    Policy,
    Route,
    RouteTable,
    VectorIdentity,
)

__all__ = [
    "ROUTES_CONFIGMAP",
    "ROUTES_KEY",
    "ApiStyle",
    "Backend",
    "Capability",
    "CredentialRef",
    "Policy",
    "Route",
    "RouteTable",
    "VectorIdentity",
]
