"""The kinds of vectorops.io/v1alpha1: names, printer columns and their spec/status models."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec, EmbeddingModelStatus
from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec, ExternalModelEndpointStatus
from vectorops.operator.api.vectorcollection import VectorCollectionSpec, VectorCollectionStatus
from vectorops.operator.api.vectorstore import VectorStoreSpec, VectorStoreStatus

GROUP = "vectorops.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "vectorops"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def to_crd(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


READY = PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition")
REASON = PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', description="Why")
AGE = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


@dataclass(frozen=True)
class KindInfo:
    """Everything needed to generate a CRD and to watch a kind."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: tuple[PrinterColumn, ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


VECTOR_STORE = KindInfo(
    kind="VectorStore",
    plural="vectorstores",
    short_names=("vstore",),
    spec=VectorStoreSpec,
    status=VectorStoreStatus,
    description="Connection details of Qdrant, PostgreSQL and Redis used by collections and models.",
    columns=(READY, REASON, PrinterColumn("Qdrant", ".spec.qdrant.url"), AGE),
)

VECTOR_COLLECTION = KindInfo(
    kind="VectorCollection",
    plural="vectorcollections",
    short_names=("vcol",),
    spec=VectorCollectionSpec,
    status=VectorCollectionStatus,
    description="A Qdrant collection with its metadata schema and alert rules, kept as declared.",
    columns=(
        READY,
        REASON,
        PrinterColumn("Collection", ".status.collectionName"),
        PrinterColumn("Dim", ".status.dimension", type="integer"),
        PrinterColumn("Points", ".status.pointsCount", type="integer"),
        PrinterColumn("Qdrant", ".status.qdrantStatus", description="green, yellow, grey or red"),
        PrinterColumn("Policy", ".spec.deletionPolicy", priority=1),
        AGE,
    ),
)

EMBEDDING_MODEL = KindInfo(
    kind="EmbeddingModel",
    plural="embeddingmodels",
    short_names=("embm",),
    spec=EmbeddingModelSpec,
    status=EmbeddingModelStatus,
    description="A sentence-transformers embedding model served by the vectorops embedder on GPU or CPU.",
    columns=(
        READY,
        REASON,
        PrinterColumn("Device", ".spec.device"),
        PrinterColumn("Dim", ".status.dimension", type="integer"),
        PrinterColumn("Replicas", ".status.readyReplicas", type="integer"),
        PrinterColumn("Endpoint", ".status.endpoint", priority=1),
        AGE,
    ),
)

EXTERNAL_MODEL_ENDPOINT = KindInfo(
    kind="ExternalModelEndpoint",
    plural="externalmodelendpoints",
    short_names=("extep",),
    spec=ExternalModelEndpointSpec,
    status=ExternalModelEndpointStatus,
    description="A route in the vectorops gateway to an external model API.",
    columns=(
        READY,
        REASON,
        PrinterColumn("Style", ".spec.apiStyle"),
        PrinterColumn("URL", ".spec.url", priority=1),
        PrinterColumn("Failures", ".status.health.consecutiveFailures", type="integer"),
        PrinterColumn("Latency", ".status.health.latencyMs", type="number", description="ms", priority=1),
        AGE,
    ),
)

ALL_KINDS: tuple[KindInfo, ...] = (VECTOR_STORE, VECTOR_COLLECTION, EMBEDDING_MODEL, EXTERNAL_MODEL_ENDPOINT)
