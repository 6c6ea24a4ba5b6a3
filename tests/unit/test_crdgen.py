"""The generated CRDs: deterministic, structural, in sync with crds/, carrying the CEL rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from vectorops.cli import main as cli_main
from vectorops.operator.api.crdgen import SchemaError, build_crd, render_all, to_structural
from vectorops.operator.api.kinds import ALL_KINDS

REPO = Path(__file__).resolve().parents[2]


def walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def test_generation_is_deterministic() -> None:
    # Another process with another hash seed: set/dict iteration order must not leak into the YAML.
    script = (
        "import json; from vectorops.operator.api.crdgen import render_all; print(json.dumps(render_all()))"
    )
    for seed in ("1", "4242"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(out) == render_all(), f"PYTHONHASHSEED={seed} renders other CRDs"


def test_checked_in_crds_are_up_to_date() -> None:
    for name, text in render_all().items():
        path = REPO / "crds" / name
        assert path.exists(), f"{path} missing: run make crds"
        assert path.read_text() == text, f"{path} is stale: run make crds"


def test_cli_check_reports_stale_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["crds", "-o", str(tmp_path)]) == 0
    assert cli_main(["crds", "-o", str(tmp_path), "--check"]) == 0
    victim = next(tmp_path.glob("*.yaml"))
    victim.write_text(victim.read_text().replace("Cosine", "Cosinus"))
    assert cli_main(["crds", "-o", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr()
    assert "-                    - Cosinus" in out.out or "Cosinus" in out.out
    assert "stale" in out.err


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind) -> None:
    schema = build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in walk(schema):
        if "properties" in node or "items" in node or "type" in node:
            assert "$ref" not in node, path
            assert "anyOf" not in node and "oneOf" not in node, path
            assert "title" not in node, path
            if not node.get("x-kubernetes-preserve-unknown-fields"):
                assert "type" in node, f"{path} has no type"
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            if bound in node and path.split(".")[-1] != "properties":
                assert node[bound] is True, f"{path}.{bound} must be a boolean in OpenAPI v3.0"


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.kind)
def test_every_spec_field_is_described(kind) -> None:
    schema = build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    fields = [
        (f"spec{path}.{name}", sub)
        for path, node in walk(schema)
        if not path.endswith(".properties")  # a field *named* properties is not a schema node
        for name, sub in (node.get("properties") or {}).items()
    ]
    assert len(fields) > 10
    undescribed = [name for name, sub in fields if not sub.get("description")]
    assert undescribed == [], f"fields without a description: {undescribed}"


def test_crd_metadata() -> None:
    for kind in ALL_KINDS:
        crd = build_crd(kind)
        names = crd["spec"]["names"]
        assert names["categories"] == ["vectorops"]
        assert names["shortNames"]
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert columns[:2] == ["Ready", "Reason"] and columns[-1] == "Age"
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
        assert {"observedGeneration", "conditions", "kopf"} <= set(status)
        assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def rules_of(text: str) -> list[str]:
    crd = yaml.safe_load(text)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return [r["rule"] for _, n in walk(schema) for r in n.get("x-kubernetes-validations", [])]


def test_immutability_and_exclusivity_rules_are_present() -> None:
    rendered = render_all()
    collection = rules_of(rendered["vectorops.io_vectorcollections.yaml"])
    assert collection.count("self == oldSelf") >= 4  # size and distance, on vectors and namedVectors
    assert any("has(self.scalar), has(self.product), has(self.binary)" in r for r in collection)
    store = rules_of(rendered["vectorops.io_vectorstores.yaml"])
    assert any("getScheme() in ['http', 'https']" in r for r in store)
    endpoint = rules_of(rendered["vectorops.io_externalmodelendpoints.yaml"])
    assert any("has(self.secretRef)" in r for r in endpoint)


def test_unions_are_rejected() -> None:
    with pytest.raises(SchemaError, match="unions are not structural"):
        to_structural({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {})


def test_untyped_nodes_are_rejected() -> None:
    with pytest.raises(SchemaError, match="without a type"):
        to_structural({"description": "anything"}, {})
