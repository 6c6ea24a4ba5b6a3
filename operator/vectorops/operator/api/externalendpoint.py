"""ExternalModelEndpoint: a route in the gateway to a hosted model API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from vectorops.operator.api.base import CRDModel, Rule, SecretKeyRef, cel
from vectorops.operator.api.status import StatusBase
from vectorops.operator.api.vectorstore import HTTP_URL_RULE
from vectorops.routing.report import BreakerState
from vectorops.routing.table import ApiStyle, Capability  # one definition: the route contract's


class AuthType(StrEnum):
    NONE = "none"
    BEARER = "bearer"
    HEADER = "header"


class AuthSpec(CRDModel):
    """How the gateway authenticates to the provider. The key stays in a Secret."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "self.type == 'none' || has(self.secretRef)",
                "auth.secretRef is required when auth.type is bearer or header",
                field_path=".secretRef",
            ),
            Rule(
                "self.type != 'none' || !has(self.secretRef)",
                "auth.secretRef is set but auth.type is none: set type bearer or header",
                field_path=".type",
            ),
        )
    )

    type: AuthType = AuthType.NONE
    """none, bearer (Authorization: Bearer <key>) or header (<headerName>: <key>)."""
    secret_ref: SecretKeyRef | None = None
    """Secret key holding the API key."""
    header_name: str = Field(default="Authorization", max_length=128, pattern=r"^[A-Za-z0-9-]+$")
    """Header carrying the key (type header)."""


class ModelMapping(CRDModel):
    """A model name the gateway exposes and the provider's name for it."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "self.capability == 'embeddings' || "
                "(!has(self.dimensions) && !has(self.identity) && !has(self.revision))",
                "dimensions, identity and revision describe embedding models only",
            )
        )
    )

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][\w.:/-]*$")
    """Name clients use in the request's model field."""
    upstream_model: str | None = Field(default=None, max_length=256)
    """Name sent to the provider (default: name)."""
    capability: Capability = Capability.EMBEDDINGS
    """What the model does."""
    dimensions: int | None = Field(default=None, ge=1, le=65536)
    """Expected embedding dimension; the health probe checks it, and backends of one model must agree."""
    identity: str | None = Field(default=None, min_length=1, max_length=256)
    """What the vectors are (e.g. sentence-transformers/all-MiniLM-L6-v2). Backends that serve one model
    name back each other up only if they declare the same identity, dimension and normalisation:
    another model's vectors would corrupt search without an error. Default: upstreamModel, else name."""
    revision: str | None = Field(default=None, min_length=1, max_length=128)
    """The revision of the weights the provider serves (embedding models only): part of what the vectors
    mean, and of the key under which the gateway caches their results. Pin a commit rather than a moving
    label (`main`), which would let cached vectors outlive the weights they came from. Backends of one
    model that both declare a revision must declare the same one; one that declares none is compatible."""
    normalized: bool = True
    """Whether the provider returns unit-length vectors; the health probe checks the canary's norm."""
    max_batch_size: int | None = Field(default=None, ge=1, le=65536)
    """Inputs the provider accepts in one embeddings request; the gateway splits larger requests."""


class Timeouts(CRDModel):
    """Timeouts of calls to the provider."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "self.connectSeconds <= self.requestSeconds",
                "timeouts.connectSeconds must not exceed timeouts.requestSeconds",
            )
        )
    )

    connect_seconds: float = Field(default=5.0, gt=0, le=60)
    """TCP/TLS connect timeout."""
    request_seconds: float = Field(default=60.0, gt=0, le=600)
    """Whole request timeout."""


class RetrySpec(CRDModel):
    """Retries with exponential backoff and jitter on 429/5xx/connection errors."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "self.initialBackoffMs <= self.maxBackoffMs",
                "retries.initialBackoffMs must not exceed retries.maxBackoffMs",
            )
        )
    )

    max_attempts: int = Field(default=3, ge=1, le=10)
    """Attempts in all, the first included."""
    initial_backoff_ms: int = Field(default=200, ge=0, le=60000)
    """Backoff before the first retry."""
    max_backoff_ms: int = Field(default=5000, ge=0, le=300000)
    """Backoff cap."""


class FailoverSpec(CRDModel):
    """Where this endpoint stands among the backends of the same model name (in-cluster EmbeddingModels
    have priority 0): lower priorities are tried first, the next one when a backend fails."""

    group: str | None = Field(
        default=None, min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )
    """Backends of one model at the same priority share traffic by weight; they must name the same group
    (two backends at one priority without it are a conflict)."""
    priority: int = Field(default=100, ge=0, le=1000)
    """Lower is preferred."""
    weight: int = Field(default=100, ge=1, le=1000)
    """Traffic share among backends of the same priority and group."""


class CircuitBreakerSpec(CRDModel):
    """Stop calling a failing provider for a while (in the gateway)."""

    failure_threshold: int = Field(default=5, ge=1, le=1000)
    """Consecutive failures (connection errors, timeouts, 5xx; not 429) that open the circuit."""
    open_seconds: int = Field(default=30, ge=1, le=3600)
    """How long the circuit stays open before trial requests, the first time; repeated trips double it."""


class HealthProbeSpec(CRDModel):
    """Active health probing; for embedding models a canary embedding whose dimension is checked."""

    enabled: bool = True
    """Probe the endpoint periodically (the operator does)."""
    interval_seconds: int = Field(default=30, ge=5, le=3600)
    """Least time between two probes: each probe of an embedding model costs one short embedding."""
    timeout_seconds: int = Field(default=5, ge=1, le=60)
    """Timeout of one probe."""
    failure_threshold: int = Field(default=3, ge=1, le=100)
    """Consecutive failed probes after which the endpoint is not Ready (and leaves the route table)."""
    path: str | None = Field(default=None, max_length=1024, pattern=r"^/")
    """A GET path to probe instead of a canary request (e.g. /health): answers are then not checked."""
    pin_reference: bool = True
    """Keep the first canary vector of each embedding model and compare later ones with it (cosine
    >= 0.99): a provider that silently swaps the model is caught. Changing the URL or the model's
    mapping re-pins."""


class EndpointAlertsSpec(CRDModel):
    """Prometheus alert rules generated for the endpoint (probes failing, unhealthy, the gateway's breaker
    open, the gateway's calls failing)."""

    enabled: bool = True
    """Generate the rules (a PrometheusRule, or a rules ConfigMap where that CRD is not served)."""
    error_ratio: float = Field(default=0.05, gt=0.0, le=1.0)
    """Alert when more than this share of the gateway's calls to the endpoint fail over 10 minutes."""
    severity: str = Field(default="warning", json_schema_extra={"enum": ["info", "warning", "critical"]})
    """Severity label of the alerts."""


class ExternalModelEndpointSpec(CRDModel):
    """Desired route to an external model API."""

    url: str = Field(
        min_length=1,
        max_length=2048,
        json_schema_extra=cel(
            Rule(HTTP_URL_RULE, "url must be an http(s) URL such as https://api.openai.com/v1")
        ),
    )
    """Base URL of the provider's API, e.g. https://api.openai.com/v1."""
    api_style: ApiStyle = ApiStyle.OPENAI
    """Protocol the provider speaks."""
    models: list[ModelMapping] = Field(
        min_length=1,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Models served through this endpoint."""
    auth: AuthSpec | None = None
    """Credentials (by Secret reference)."""
    timeouts: Timeouts | None = None
    """Connect and request timeouts."""
    retries: RetrySpec | None = None
    """Retry policy."""
    failover: FailoverSpec | None = None
    """Failover group membership."""
    circuit_breaker: CircuitBreakerSpec | None = None
    """Circuit breaker thresholds."""
    health_probe: HealthProbeSpec | None = None
    """Active health probing."""
    alerts: EndpointAlertsSpec | None = None
    """Alert rules (on by default, with the defaults below); `enabled: false` turns them off."""


class ProbedModel(CRDModel):
    """What the latest successful canary embedding of one model showed."""

    name: str
    """The model name (as clients use it)."""
    dimension: int
    """Dimension of the canary vector."""
    norm: float
    """Its L2 norm."""
    reference: str | None = None
    """The pinned canary vector (little-endian float16, base64) later answers are compared with."""
    reference_of: str | None = None
    """A hash of the URL and model mapping the reference was pinned for: changing either re-pins."""


class EndpointHealth(CRDModel):
    """Result of the latest health probes (run by the operator)."""

    last_probe_time: datetime | None = None
    """When the endpoint was last probed."""
    latency_ms: float | None = None
    """Latency of the last successful probe."""
    consecutive_failures: int = 0
    """Failures since the last success."""
    last_error: str | None = Field(default=None, max_length=2048)
    """The last probe error."""
    models: list[ProbedModel] = Field(default_factory=list, max_length=64)
    """Per embedding model: the canary's dimension and norm, and the pinned reference."""


class GatewayBackendView(CRDModel):
    """One of this endpoint's models as one gateway replica sees it."""

    model: str = Field(max_length=128)
    """The model name (as clients use it)."""
    breaker: BreakerState
    """The replica's circuit breaker for this backend."""
    consecutive_failures: int = Field(default=0, ge=0)
    """Failed calls since the last success."""
    trips: int = Field(default=0, ge=0)
    """Times the breaker opened since the replica started."""
    last_error: str | None = Field(default=None, max_length=512)
    """The last failure the replica saw (never a key: the gateway scrubs them)."""


class GatewayView(CRDModel):
    """What one gateway replica reports of this endpoint."""

    observed_at: datetime
    """When the replica wrote this (on every breaker change, and at least every few minutes)."""
    backends: list[GatewayBackendView] = Field(default_factory=list, max_length=64)
    """Per model of this endpoint that the replica routes to."""


class ExternalModelEndpointStatus(StatusBase):
    """Observed state of the endpoint."""

    health: EndpointHealth | None = None
    """Health probe results."""
    gateways: dict[str, GatewayView] | None = Field(default=None, max_length=64)
    """Breaker state as each gateway replica sees it, by replica name; written by the gateways
    themselves (`vectorops gateway` with status reporting on). An open breaker makes Degraded True
    (reason BreakerOpen). The operator drops a replica that has not reported for 15 minutes."""
