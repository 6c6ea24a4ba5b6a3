"""EmbeddingModel: a sentence-transformers model served by the vectorops embedder."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from vectorops.operator.api.base import CRDModel, LocalObjectReference, Rule, cel
from vectorops.operator.api.status import StatusBase

QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


class HuggingFaceSource(CRDModel):
    """A model repository on the Hugging Face hub (or a mirror the embedder is pointed at)."""

    repo: str = Field(min_length=3, max_length=200, pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
    """Repository id, e.g. sentence-transformers/all-MiniLM-L6-v2."""
    revision: str = Field(default="main", min_length=1, max_length=128)
    """Branch, tag or commit; pin a commit for reproducible vectors."""


class VolumeSource(CRDModel):
    """Model files on a PersistentVolumeClaim."""

    claim_name: str = Field(min_length=1, max_length=253)
    """Name of the PersistentVolumeClaim (same namespace)."""
    path: str = Field(default="/", max_length=1024, pattern=r"^/")
    """Directory of the model inside the volume."""


class ModelSource(CRDModel):
    """Where the weights come from: exactly one of huggingFace, path or volume."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "[has(self.huggingFace), has(self.path), has(self.volume)].filter(x, x).size() == 1",
                "source must set exactly one of huggingFace, path or volume",
            )
        )
    )

    hugging_face: HuggingFaceSource | None = None
    """A Hugging Face repository id and revision."""
    path: str | None = Field(default=None, max_length=1024, pattern=r"^/")
    """An absolute path inside the embedder image."""
    volume: VolumeSource | None = None
    """A directory on a PersistentVolumeClaim."""


class Device(StrEnum):
    GPU = "gpu"
    CPU = "cpu"


class Precision(StrEnum):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


class Pooling(StrEnum):
    """How token embeddings become one vector."""

    MEAN = "mean"
    CLS = "cls"
    MAX = "max"
    LAST_TOKEN = "lasttoken"


class Toleration(CRDModel):
    """A pod toleration (core/v1 Toleration)."""

    key: str | None = Field(default=None, max_length=316)
    """Taint key to tolerate."""
    operator: str | None = Field(default=None, json_schema_extra={"enum": ["Exists", "Equal"]})
    """Exists or Equal."""
    value: str | None = Field(default=None, max_length=63)
    """Taint value (with Equal)."""
    effect: str | None = Field(
        default=None, json_schema_extra={"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]}
    )
    """Taint effect to tolerate; empty tolerates all."""
    toleration_seconds: int | None = None
    """How long a NoExecute taint is tolerated."""


class GPUSpec(CRDModel):
    """GPU placement of the embedder pods."""

    count: int = Field(default=1, ge=1, le=16)
    """nvidia.com/gpu per pod."""
    type: str | None = Field(default=None, max_length=63)
    """GPU product label value (nvidia.com/gpu.product), added to the node selector."""
    node_selector: dict[str, str] = Field(default_factory=dict, max_length=16)
    """Extra node selector labels."""
    tolerations: list[Toleration] = Field(default_factory=list, max_length=16)
    """Tolerations, e.g. for tainted GPU nodes."""


class BatchingSpec(CRDModel):
    """Dynamic batching of concurrent requests."""

    max_batch_size: int = Field(default=64, ge=1, le=4096)
    """Texts per forward pass."""
    max_batch_tokens: int = Field(default=16384, ge=16, le=1048576)
    """Tokens (padded) per forward pass."""
    max_wait_ms: int = Field(default=5, ge=0, le=1000)
    """How long a batch waits to fill."""
    max_queue_size: int = Field(default=4096, ge=1, le=1048576)
    """Queued texts before requests get 429; a request of more texts than this gets 413."""


class AutoscalingSpec(CRDModel):
    """Horizontal autoscaling of the embedder."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "self.minReplicas <= self.maxReplicas", "autoscaling.minReplicas must not exceed maxReplicas"
            )
        )
    )

    min_replicas: int = Field(default=1, ge=1, le=1000)
    """Lower bound."""
    max_replicas: int = Field(ge=1, le=1000)
    """Upper bound."""
    target_cpu_utilization: int = Field(default=70, ge=1, le=100)
    """Average CPU utilisation target (percent); needs spec.resources.requests.cpu."""
    target_queue_depth: int | None = Field(default=None, ge=1, le=1048576)
    """Also scale on texts waiting per pod (the vectorops_embedder_queue_depth metric, served to the
    HPA by a custom metrics adapter such as prometheus-adapter). The better signal on GPUs."""


class EmbedderAlertsSpec(CRDModel):
    """Prometheus alert rules for the embedder (a PrometheusRule)."""

    enabled: bool = True
    """Generate the PrometheusRule."""
    p99_latency_seconds: float = Field(default=2.0, gt=0, le=600)
    """Alert when the 99th percentile request latency stays above this for 10 minutes."""
    error_ratio: float = Field(default=0.05, gt=0, le=1)
    """Alert when this share of requests fails with a 5xx for 5 minutes."""
    queue_depth: int | None = Field(default=None, ge=1, le=1048576)
    """Alert when this many texts wait in one pod for 5 minutes (default: 80% of maxQueueSize)."""
    severity: str = Field(default="warning", json_schema_extra={"enum": ["info", "warning", "critical"]})
    """Severity label of the alerts (EmbedderDown is always critical)."""


class MonitoringSpec(CRDModel):
    """Prometheus operator objects for the embedder; skipped, with a condition, where its CRDs are absent."""

    pod_monitor: bool = True
    """A PodMonitor that scrapes the embedder's /metrics."""
    scrape_interval: str = Field(default="30s", pattern=r"^[0-9]+(ms|s|m|h)$")
    """Scrape interval of the PodMonitor."""
    alerts: EmbedderAlertsSpec | None = None
    """Alert rules (default: enabled, with default thresholds)."""


class CacheSpec(CRDModel):
    """Redis result cache (Redis from the VectorStore)."""

    enabled: bool = True
    """Cache embeddings in Redis."""
    ttl_seconds: int = Field(default=86400, ge=1, le=31536000)
    """Time to live of a cached embedding."""
    max_entry_bytes: int = Field(default=65536, ge=256, le=16777216)
    """Embeddings larger than this are not cached."""


class Prefixes(CRDModel):
    """Instruction prefixes prepended by the embedder (E5, BGE, Nomic style models)."""

    query: str = Field(default="", max_length=512)
    """Prepended to queries (input_type=query)."""
    passage: str = Field(default="", max_length=512)
    """Prepended to documents (input_type=passage)."""


class ResourceList(CRDModel):
    """CPU and memory quantities."""

    cpu: str | None = Field(default=None, pattern=QUANTITY)
    """CPU, e.g. 500m or 2."""
    memory: str | None = Field(default=None, pattern=QUANTITY)
    """Memory, e.g. 2Gi."""


class Resources(CRDModel):
    """Pod resources besides GPUs."""

    requests: ResourceList | None = None
    """Requested CPU and memory."""
    limits: ResourceList | None = None
    """CPU and memory limits."""


class EmbeddingModelSpec(CRDModel):
    """Desired state of an embedding model server."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "self.device == 'gpu' || !has(self.gpu)",
                "spec.gpu is only valid with device: gpu",
                field_path=".gpu",
            ),
            Rule(
                "self.precision != 'fp16' || self.device == 'gpu'",
                "precision fp16 needs device: gpu (use fp32 or bf16 on CPU)",
                field_path=".precision",
            ),
            Rule(
                "!has(self.dimension) || !has(self.dimensions) || self.dimension == self.dimensions",
                "spec.dimension must equal spec.dimensions: Matryoshka truncation decides the served "
                "dimension",
                field_path=".dimension",
            ),
            Rule(
                "!(has(self.replicas) && has(self.autoscaling))",
                "set spec.replicas or spec.autoscaling, not both",
            ),
            Rule(
                "!has(self.autoscaling) || (has(self.resources) && has(self.resources.requests)"
                " && has(self.resources.requests.cpu))",
                "spec.autoscaling needs spec.resources.requests.cpu: the autoscaler measures CPU "
                "utilisation against the request",
                field_path=".autoscaling",
            ),
        )
    )

    source: ModelSource
    """Where the model weights come from."""
    store_ref: LocalObjectReference | None = None
    """VectorStore whose Redis backs the cache (default: the operator's default store)."""
    device: Device = Device.CPU
    """gpu or cpu."""
    gpu: GPUSpec | None = None
    """GPU count and placement (device: gpu)."""
    precision: Precision = Precision.FP32
    """Weights and activations precision."""
    max_seq_length: int | None = Field(default=None, ge=8, le=32768)
    """Truncate inputs to this many tokens (default: the model's)."""
    dimensions: int | None = Field(default=None, ge=8, le=65536)
    """Matryoshka truncation: serve the first N dimensions (model must be trained for it)."""
    dimension: int | None = Field(default=None, ge=1, le=65536)
    """The dimension this model's vectors have (after any Matryoshka truncation), if known in advance.
    Collections bound to the model take it at once, without waiting for the embedder to roll out;
    once the embedder runs, the dimension it reports is checked against it (DimensionMismatch)."""
    normalize: bool = True
    """L2-normalise the vectors."""
    identity: str | None = Field(default=None, min_length=1, max_length=256)
    """What the vectors are, for ExternalModelEndpoints that back this model up under the same name
    (they must declare the same identity, dimension and normalisation). Default: the Hugging Face repo
    id, else the object's name."""
    pooling: Pooling | None = None
    """Pooling override (default: the model's configured pooling)."""
    prefixes: Prefixes | None = None
    """Query/passage instruction prefixes."""
    batching: BatchingSpec | None = None
    """Dynamic batching limits."""
    replicas: int | None = Field(default=None, ge=0, le=1000)
    """Fixed number of replicas (default 1)."""
    autoscaling: AutoscalingSpec | None = None
    """Autoscaling instead of a fixed replica count."""
    cache: CacheSpec | None = None
    """Redis result cache."""
    resources: Resources | None = None
    """CPU and memory requests and limits."""
    monitoring: MonitoringSpec | None = None
    """PodMonitor and alert rules (default: both, where the Prometheus operator's CRDs exist)."""


class EmbeddingModelStatus(StatusBase):
    """Observed state of the embedder."""

    dimension: int | None = None
    """Dimension of the served vectors."""
    replicas: int | None = None
    """Desired replicas."""
    ready_replicas: int | None = None
    """Replicas ready to serve."""
    endpoint: str | None = None
    """In-cluster URL of the embedder."""
    model_identity: str | None = None
    """Hash of what decides the vectors' meaning (source, revision, pooling, dimensions, normalisation,
    prefixes); status.dimension is kept while it is unchanged."""
