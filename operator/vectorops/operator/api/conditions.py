"""Status conditions shaped like metav1.Condition, and the named reasons the operator uses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from vectorops.operator.api.base import CRDModel

REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    """Condition types. ``Ready`` is the summary that kubectl wait, kstatus and Argo CD read."""

    READY = "Ready"
    REFERENCES = "ReferencesResolved"
    COLLECTION = "Collection"
    SCHEMA = "Schema"
    ALERTS = "Alerts"
    MONITORING = "Monitoring"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ROUTED = "Routed"
    POSTGRES = "Postgres"
    REDIS = "Redis"


class Reason(StrEnum):
    """Machine-readable reasons (CamelCase, as Kubernetes expects)."""

    RECONCILING = "Reconciling"
    RESOLVED = "Resolved"
    STORE_NOT_FOUND = "StoreNotFound"
    SECRET_NOT_FOUND = "SecretNotFound"
    SECRET_KEY_NOT_FOUND = "SecretKeyNotFound"
    MODEL_NOT_FOUND = "EmbeddingModelNotFound"
    INVALID_SPEC = "InvalidSpec"
    BACKEND_UNREACHABLE = "BackendUnreachable"
    SYNCED = "Synced"
    REQUIRES_REBUILD = "RequiresRebuild"
    CREATED = "Created"
    UPDATED = "Updated"
    DRIFT_REPAIRED = "DriftRepaired"
    DELETION_BLOCKED = "DeletionBlocked"
    ROLLING_OUT = "RollingOut"
    AVAILABLE = "Available"
    SCALED_TO_ZERO = "ScaledToZero"
    MONITORING_CRDS_MISSING = "PrometheusOperatorMissing"
    DISABLED = "Disabled"
    RECONCILE_ERROR = "ReconcileError"
    APPLY_FAILED = "ApplyFailed"
    DIMENSION_UNKNOWN = "DimensionUnknown"
    DIMENSION_MISMATCH = "DimensionMismatch"
    NOT_IMPLEMENTED = "NotImplemented"
    INCOMPLETE = "Incomplete"
    NOT_APPLIED = "NotApplied"
    SETTINGS_IGNORED = "SettingsIgnoredByEmbeddedEngine"
    OWNED_ELSEWHERE = "OwnedElsewhere"
    NOT_OWNED = "ExistsNotOwned"
    ADOPTED = "Adopted"
    LOCAL_STORES_DISABLED = "LocalStoresDisabled"
    COLLECTION_RED = "CollectionRed"
    CONNECTED = "Connected"
    BREAKER_OPEN = "BreakerOpen"
    POSTGRES_NOT_CONFIGURED = "PostgresNotConfigured"
    POSTGRES_UNREACHABLE = "PostgresUnreachable"
    EMBEDDER_FAILING = "EmbedderFailing"


class Condition(CRDModel):
    """The state of one aspect of the resource (metav1.Condition)."""

    type: str = Field(max_length=316)
    """Type of condition in CamelCase, e.g. Ready."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str = Field(min_length=1, max_length=1024, pattern=REASON_PATTERN)
    """A CamelCase word saying why the condition is in its status."""
    message: str = Field(default="", max_length=32768)
    """A human readable explanation: what happened and what to change."""
    last_transition_time: datetime
    """When the status last changed."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the condition was computed from."""
