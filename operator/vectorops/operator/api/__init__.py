"""The vectorops.io/v1alpha1 API: pydantic models that are the single source of truth.

The CRD YAML in ``crds/`` is generated from these models (``vectorops crds``); cross-field and
immutability rules are CEL expressions attached to the models and enforced by the apiserver.
"""

from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec, EmbeddingModelStatus
from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec, ExternalModelEndpointStatus
from vectorops.operator.api.kinds import ALL_KINDS, GROUP, VERSION, KindInfo
from vectorops.operator.api.vectorcollection import VectorCollectionSpec, VectorCollectionStatus
from vectorops.operator.api.vectorstore import VectorStoreSpec, VectorStoreStatus

__all__ = [
    "ALL_KINDS",
    "GROUP",
    "VERSION",
    "EmbeddingModelSpec",
    "EmbeddingModelStatus",
    "ExternalModelEndpointSpec",
    "ExternalModelEndpointStatus",
    "KindInfo",
    "VectorCollectionSpec",
    "VectorCollectionStatus",
    "VectorStoreSpec",
    "VectorStoreStatus",
]
