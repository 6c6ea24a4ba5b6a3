"""The pydantic models read every example and the shapes the apiserver stores."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from vectorops.operator.api import (
    EmbeddingModelSpec,
    ExternalModelEndpointSpec,
    VectorCollectionSpec,
    VectorStoreSpec,
)
from vectorops.operator.api.vectorcollection import Distance

REPO = Path(__file__).resolve().parents[2]
MODELS = {
    "VectorStore": VectorStoreSpec,
    "VectorCollection": VectorCollectionSpec,
    "EmbeddingModel": EmbeddingModelSpec,
    "ExternalModelEndpoint": ExternalModelEndpointSpec,
}


def example_documents():
    for path in sorted((REPO / "examples").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("apiVersion", "").startswith("vectorops.io/"):
                yield pytest.param(doc, id=f"{path.relative_to(REPO)}:{doc['metadata']['name']}")


@pytest.mark.parametrize("doc", list(example_documents()))
def test_examples_parse(doc) -> None:
    spec = MODELS[doc["kind"]].model_validate(doc["spec"])
    # Round trip: what we would write back is what the user wrote (plus defaults).
    dumped = spec.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")
    assert MODELS[doc["kind"]].model_validate(dumped) == spec


def test_every_kind_has_an_example() -> None:
    kinds = {d.values[0]["kind"] for d in example_documents()}
    assert kinds == set(MODELS)


def test_defaults() -> None:
    spec = VectorCollectionSpec.model_validate({"vectors": {"size": 384}})
    assert spec.vectors is not None and spec.vectors.distance is Distance.COSINE
    assert spec.deletion_policy.value == "Retain"
    assert spec.shard_number == 1 and spec.replication_factor == 1


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="turbo"):
        VectorCollectionSpec.model_validate({"vectors": {"size": 4}, "quantization": {"turbo": {}}})


def test_camel_case_on_the_wire() -> None:
    spec = VectorCollectionSpec.model_validate({"vectors": {"size": 4}, "writeConsistencyFactor": 1})
    assert "writeConsistencyFactor" in spec.model_dump(by_alias=True)
