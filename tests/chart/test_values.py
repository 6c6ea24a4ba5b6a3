"""values.yaml and values.schema.json agree: every key documented with a `# --` comment, every key
declared in the schema (whose additionalProperties: false rejects the rest). (helm lint checks the
defaults against the schema: test_render.py.)"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.chart.conftest import CHART

VALUES = CHART / "values.yaml"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("resources", "spec"):
            out += leaves(value, f"{path}.")
        else:
            out.append(path)
    return out


def test_every_object_rejects_unknown_keys() -> None:
    def walk(node: dict[str, Any], where: str) -> None:
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{where} accepts unknown keys"
            for key, child in node["properties"].items():
                walk(child, f"{where}.{key}")

    walk(SCHEMA, "values")


def test_every_value_is_declared_in_the_schema() -> None:
    for path in leaves(yaml.safe_load(VALUES.read_text())):
        node = SCHEMA
        for key in path.split("."):
            assert key in node.get("properties", {}), f"{path} is not in values.schema.json"
            node = node["properties"][key]


def test_every_leaf_value_is_documented() -> None:
    lines = VALUES.read_text().splitlines()
    documented = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("-") or ":" not in stripped:
            continue
        key, _, value = stripped.partition(":")
        nested = i + 1 < len(lines) and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > len(line) - len(
            line.lstrip()
        )
        if not value.strip() and nested:
            continue  # a parent mapping: its children carry the documentation
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --"):
            j -= 1  # a comment continued over several lines
        above = lines[j].strip() if j >= 0 else ""
        # Keys inside a documented block (resources: requests/limits) are covered by the block's comment.
        if not above.startswith("# --"):
            indent = len(line) - len(line.lstrip())
            parents = [p for p in lines[:i] if p.strip() and len(p) - len(p.lstrip()) < indent]
            assert parents and parents[-1].strip().split(":")[0] in ("resources", "requests", "limits"), (
                f"values.yaml:{i + 1}: {key} has no `# --` comment"
            )
        documented += 1
    assert documented > 40
