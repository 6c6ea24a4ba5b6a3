"""Generate CustomResourceDefinitions from the pydantic models.

Pydantic emits JSON Schema 2020-12; Kubernetes wants a *structural* OpenAPI v3.0 schema:
no $ref, a type on every node, no nulls, boolean exclusive bounds, no titles. This module
does that translation and nothing else, so the generated YAML is a pure function of the models.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from vectorops.operator.api.kinds import ALL_KINDS, CATEGORY, GROUP, VERSION, KindInfo

Schema = dict[str, Any]

# Keys of JSONSchemaProps that we pass through unchanged.
_PASSTHROUGH = {
    "description",
    "type",
    "format",
    "default",
    "maximum",
    "minimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "enum",
    "maxProperties",
    "minProperties",
    "required",
    "nullable",
}
_DROPPED = {"title", "examples", "$defs"}
KOPF_STATUS_FIELD = "kopf"


class SchemaError(ValueError):
    """A model uses a construct that has no structural OpenAPI equivalent."""


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = defs[ref.rsplit("/", 1)[-1]]
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return _resolve(merged, defs)


def _collapse_optional(node: Schema) -> Schema:
    """`X | None` arrives as anyOf [X, null]: an optional field is simply absent, so keep X."""
    options = [o for o in node["anyOf"] if o.get("type") != "null"]
    if len(options) != 1:
        raise SchemaError(f"unions are not structural: {node['anyOf']}")
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if rest.get("default", object()) is None:
        rest.pop("default")
    return {**options[0], **rest}


def to_structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Translate one pydantic JSON-schema node (recursively) into a structural schema node."""
    node = _resolve(node, defs)
    if "anyOf" in node:
        node = _collapse_optional(node)
        node = _resolve(node, defs)
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = _resolve(node["allOf"][0], defs)
        node = {**inner, **{k: v for k, v in node.items() if k != "allOf"}}
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        elif key == "properties":
            out["properties"] = {name: to_structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = to_structural(value, defs)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out["additionalProperties"] = to_structural(value, defs)
        elif key in _PASSTHROUGH or key.startswith("x-kubernetes-"):
            out[key] = value
        else:
            raise SchemaError(f"unsupported JSON schema keyword {key!r} in {node}")
    if "enum" in out and "type" not in out:
        out["type"] = _enum_type(out["enum"])
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise SchemaError(f"schema node without a type: {node}")
    return _order(out)


def _enum_type(values: list[Any]) -> str:
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, int) for v in values):
        return "integer"
    raise SchemaError(f"mixed enum {values}")


_ORDER = ("description", "type", "format")


def _order(node: Schema) -> Schema:
    """Stable, readable key order: description and type first, validations last."""
    head = {k: node[k] for k in _ORDER if k in node}
    tail = {k: node[k] for k in sorted(node) if k not in _ORDER}
    return {**head, **tail}


def model_schema(model: type[BaseModel]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation", ref_template="#/$defs/{model}")
    return to_structural(raw, raw.get("$defs", {}))


def status_schema(kind: KindInfo) -> Schema:
    schema = model_schema(kind.status)
    # kopf keeps its progress and last-handled configuration here (not in annotations): see settings.
    schema["properties"][KOPF_STATUS_FIELD] = {
        "description": "Bookkeeping of the operator framework (handler progress, last handled spec).",
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    # An object the operator has not looked at yet reads as observedGeneration 0, behind its generation:
    # kstatus (Flux, kpt) then says InProgress, where a missing status would read as Current.
    schema["default"] = {"observedGeneration": 0}
    return schema


def build_crd(kind: KindInfo) -> Schema:
    spec = model_schema(kind.spec)
    root: Schema = {
        "description": kind.description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of the object."},
            "kind": {"type": "string", "description": "Kind of the object."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status_schema(kind),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/part-of": "vectorops"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.to_crd() for c in kind.columns],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


HEADER = (
    "# Generated by `vectorops crds` from the pydantic models in operator/vectorops/operator/api.\n"
    "# Do not edit by hand: run `make crds`.\n"
)


class _NoAliasDumper(yaml.SafeDumper):
    """Repeated sub-schemas are written out in full: anchors confuse readers and some tools."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(kind: KindInfo) -> str:
    body = yaml.dump(
        build_crd(kind), Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False, width=120
    )
    return HEADER + body


def render_all() -> dict[str, str]:
    """File name -> YAML text for every kind (deterministic)."""
    return {f"{GROUP}_{k.plural}.yaml": render(k) for k in ALL_KINDS}
