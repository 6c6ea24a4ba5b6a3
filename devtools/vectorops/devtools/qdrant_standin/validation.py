"""Request bodies as Qdrant 1.19 reads them: parse, drop unknown fields, deserialize, validate.

Qdrant answers in two ways (src/actix/mod.rs, `validation_error_handler`):

- 400 `Format error in JSON body: <serde error>` when the body does not deserialize (bad JSON, a wrong
  type, an unknown enum variant, a negative number for an unsigned field, 0 for a NonZero field);
- 422 `Validation error in JSON body: [<path>: <message>; ...]` when it deserializes but breaks a
  `#[validate(...)]` bound (messages from lib/collection/src/operations/validation.rs `describe_error`).

Unknown fields are ignored, as serde does for every collection-config struct (none of their OpenAPI
schemas says `additionalProperties: false`). The bounds live in one table per body (BOUNDS) so that it
can be read side by side with docs/redoc/v1.19.x/openapi.json.
"""

from __future__ import annotations

import json
import re
import struct
import types
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

Json = Any
Path = tuple[str | int, ...]


class QdrantError(Exception):
    """An error answer: HTTP status and Qdrant's `status.error` text."""

    def __init__(self, status: int, message: str, body: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.body = body  # refused while reading the body: Qdrant reports time 0.0


def format_error(detail: str) -> QdrantError:
    # UNSURE: serde_json appends " at line L column C" to most errors; we do not know the column of
    # the offending value (pydantic reports paths), so it is left out.
    return QdrantError(400, f"Format error in JSON body: {detail}", body=True)


# -- the bounds table ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """A `#[validate(range(...))]` bound. `with_value`: the validator derive puts the offending value in
    the message ("value 2 invalid, must be 4 or larger"); Qdrant's hand-written range validators
    (`validate_range_generic`, used for the vector size) do not ("must be from 1 to 65536")."""

    min: float | None = None
    max: float | None = None
    with_value: bool = True
    f32: bool = False  # an f32 field: the value is shown as Rust widens an f32 to f64

    @property
    def is_float(self) -> bool:
        return isinstance(self.min, float) or isinstance(self.max, float)

    def violated_by(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        v = _f32(value) if self.f32 else value
        return (self.min is not None and v < self.min) or (self.max is not None and v > self.max)

    def message(self, value: Any) -> str:
        lo, hi = (None if b is None else _num(b, self.is_float) for b in (self.min, self.max))
        if lo is not None and hi is not None:
            text = f"must be from {lo} to {hi}"
        elif lo is not None:
            text = f"must be {lo} or larger"
        else:
            text = f"must be {hi} or smaller"
        if not self.with_value:
            return text
        shown = _num(_f32(value) if self.f32 else value, self.is_float)
        return f"value {shown} invalid, {text}"


def _f32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _num(value: float, is_float: bool) -> str:
    """serde_json's rendering: integers as such, floats always with a fraction (1.0, 0.30000001192...)."""
    return repr(float(value)) if is_float else str(int(value))


def _prefixed(prefix: str, table: dict[str, Bound]) -> dict[str, Bound]:
    return {f"{prefix}.{path}": bound for path, bound in table.items()}


# Schema names are those of docs/redoc/v1.19.x/openapi.json; `*` is any key of a map.
# HnswConfigDiff (lib/collection/src/operations/config_diff.rs: #[validate(range(min = 4))], min = 10)
HNSW_DIFF = {"ef_construct": Bound(min=4), "full_scan_threshold": Bound(min=10)}
# OptimizersConfigDiff (config_diff.rs: deleted_threshold 0.0..1.0, vacuum_min_vector_number >= 100,
# max_segment_size >= 1; memmap_threshold, indexing_threshold, flush_interval_sec have no bound)
OPTIMIZERS_DIFF = {
    "deleted_threshold": Bound(min=0.0, max=1.0),
    "vacuum_min_vector_number": Bound(min=100),
    "max_segment_size": Bound(min=1),
}
# WalConfigDiff (config_diff.rs: wal_capacity_mb >= 1)
WAL_DIFF = {"wal_capacity_mb": Bound(min=1)}
# ScalarQuantizationConfig.quantile: [0.5, 1.0], an f32
SCALAR = {"scalar.quantile": Bound(min=0.5, max=1.0, f32=True)}
# VectorParams.size: minimum 1 in the OpenAPI document; the maximum is a custom validator
# (lib/collection/src/operations/types.rs `validate_nonzerou64_range_min_1_max_65536`), not in the document.
VECTOR = {
    "size": Bound(min=1, max=65536, with_value=False),
    **_prefixed("hnsw_config", HNSW_DIFF),
    **_prefixed("quantization_config", SCALAR),
}
# StrictModeConfig (the input schema; StrictModeConfigOutput has no bounds)
STRICT_MODE = {
    "max_query_limit": Bound(min=1),
    "max_timeout": Bound(min=1),
    "read_rate_limit": Bound(min=1),
    "write_rate_limit": Bound(min=1),
    "max_points_count": Bound(min=1),
    "max_resident_memory_percent": Bound(min=1, max=100),
    "multivector_config.*.max_vectors": Bound(min=1),
    "sparse_config.*.max_length": Bound(min=1),
}

CREATE = "create"  # PUT /collections/{name}: CreateCollection
UPDATE = "update"  # PATCH /collections/{name}: UpdateCollection

BOUNDS: dict[str, dict[str, Bound]] = {
    CREATE: {
        # CreateCollection: shard_number, replication_factor, write_consistency_factor minimum 1
        "shard_number": Bound(min=1),
        "replication_factor": Bound(min=1),
        "write_consistency_factor": Bound(min=1),
        # the unnamed vector is "vectors" itself; the stand-in addresses it as vectors.""
        **_prefixed("vectors.*", VECTOR),
        **_prefixed("hnsw_config", HNSW_DIFF),
        **_prefixed("wal_config", WAL_DIFF),
        **_prefixed("optimizers_config", OPTIMIZERS_DIFF),
        **_prefixed("quantization_config", SCALAR),
        **_prefixed("strict_mode_config", STRICT_MODE),
    },
    UPDATE: {
        # CollectionParamsDiff.replication_factor/write_consistency_factor are NonZeroU32: 0 does not
        # deserialize (NONZERO below), so they have no 422 bound.
        **_prefixed("vectors.*.hnsw_config", HNSW_DIFF),
        **_prefixed("vectors.*.quantization_config", SCALAR),
        **_prefixed("hnsw_config", HNSW_DIFF),
        **_prefixed("optimizers_config", OPTIMIZERS_DIFF),
        **_prefixed("quantization_config", SCALAR),
        **_prefixed("strict_mode_config", STRICT_MODE),
    },
}

# NonZero fields: 0 is a deserialization error (serde: "expected a nonzero u64"), not a validation error.
NONZERO: dict[str, dict[str, str]] = {
    CREATE: {"vectors.*.size": "u64"},
    UPDATE: {"params.replication_factor": "u32", "params.write_consistency_factor": "u32"},
}

# Fields holding serde `#[serde(untagged)]` enums: anything wrong inside them reads
# "data did not match any variant of untagged enum <Name>".
UNTAGGED: dict[str, dict[str, str]] = {
    CREATE: {
        "vectors": "VectorsConfig",
        "quantization_config": "QuantizationConfig",
        "optimizers_config.max_optimization_threads": "MaxOptimizationThreads",
    },
    UPDATE: {
        "vectors.*.quantization_config": "QuantizationConfigDiff",
        "quantization_config": "QuantizationConfigDiff",
        "optimizers_config.max_optimization_threads": "MaxOptimizationThreads",
    },
}

# Rust integer types of the unsigned fields that are not usize (all others are usize).
_RUST_INT = {
    "shard_number": "u32",
    "replication_factor": "u32",
    "write_consistency_factor": "u32",
    "read_fan_out_factor": "u32",
    "read_fan_out_delay_ms": "u64",
    "flush_interval_sec": "u64",
    "max_resident_memory_percent": "u8",
}

# qdrant-client's request models all forbid extra fields; in Qdrant only these do
# (`additionalProperties: false` in the OpenAPI document). UNSURE: checked for Filter and the payload
# selectors in the OpenAPI document; other point-request structs are assumed to ignore unknown fields.
DENY_UNKNOWN = frozenset({"Filter", "PayloadSelectorInclude", "PayloadSelectorExclude"})

# Fields of the untagged enums of point requests, for error texts. UNSURE: the Rust enum names.
_POINT_UNTAGGED = {
    "vector": "VectorStruct",
    "vectors": "BatchVectorStruct",
    "query": "QueryInterface",
    "id": "ExtendedPointId",
    "ids": "ExtendedPointId",
    "points": "ExtendedPointId",
    "actions": "AliasOperations",
    "with_payload": "WithPayloadInterface",
    "with_vector": "WithVector",
}


# -- paths --------------------------------------------------------------------------------------------
def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _matches(pattern: tuple[str, ...], path: Path) -> bool:
    return len(pattern) == len(path) and all(p in ("*", str(k)) for p, k in zip(pattern, path, strict=True))


def _find(node: Json, pattern: tuple[str, ...], at: Path = ()) -> Iterator[tuple[Path, Json]]:
    """Every (path, value) of `node` that `pattern` addresses."""
    if not pattern:
        yield at, node
        return
    if not isinstance(node, dict):
        return
    head, rest = pattern[0], pattern[1:]
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        yield from _find(node[key], rest, (*at, key))


def _walk(node: Json, at: Path = ()) -> Iterator[tuple[Path, Json]]:
    yield at, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*at, i))


def is_single_vector(vectors: Json) -> bool:
    """`vectors` of a CreateCollection is one VectorParams (not a map of named ones)."""
    return isinstance(vectors, dict) and any(k in vectors for k in ("size", "distance"))


def _view(kind: str, body: dict[str, Json]) -> dict[str, Json]:
    """The body with a single unnamed vector addressed as vectors."" (as PATCH bodies address it)."""
    if kind == CREATE and is_single_vector(body.get("vectors")):
        return {**body, "vectors": {"": body["vectors"]}}
    return body


def _unview(kind: str, original: dict[str, Json], view: dict[str, Json]) -> dict[str, Json]:
    if kind == CREATE and is_single_vector(original.get("vectors")):
        return {**view, "vectors": view["vectors"][""]}
    return view


def _untagged(kind: str, path: Path) -> str | None:
    """The outermost untagged enum `path` lies in, if any."""
    for size in range(1, len(path) + 1):
        for pattern, name in UNTAGGED.get(kind, {}).items():
            if _matches(_split(pattern), path[:size]):
                return name
    return None


def _rust_int(path: Path) -> str:
    return _RUST_INT.get(str(path[-1]), "usize") if path else "usize"


# -- unknown fields ------------------------------------------------------------------------------------
def drop_paths(body: dict[str, Json], paths: Iterable[str]) -> dict[str, Json]:
    """Remove the fields at `paths` (dotted, `*` for any key): what an older Qdrant does with fields it
    does not know (serde ignores them), so they are never stored."""
    for path in paths:
        *parents, leaf = _split(path)
        for _, node in list(_find(body, tuple(parents))):
            if isinstance(node, dict):
                for key in [k for k in node if leaf in ("*", k)]:
                    del node[key]
    return body


def _strip(value: Json, annotation: Any) -> Json:
    """`value` without the keys `annotation` (a qdrant-client type) does not know, recursively."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _strip(value, get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        if len(options) == 1:
            return _strip(value, options[0])
        # serde tries the variants of an untagged enum in order and takes the first that deserializes
        for option in options:
            try:
                candidate = _strip(value, option)
                _adapter(option).validate_json(json.dumps(candidate), strict=True)
            except (ValidationError, QdrantError):
                continue
            return candidate
        return value
    if origin is dict and isinstance(value, dict):
        item = get_args(annotation)[1]
        return {k: _strip(v, item) for k, v in value.items()}
    if origin is list and isinstance(value, list):
        item = get_args(annotation)[0]
        return [_strip(v, item) for v in value]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
        fields = annotation.model_fields
        out = {}
        for key, item in value.items():
            if key in fields:
                out[key] = _strip(item, fields[key].annotation)
            elif annotation.__name__ in DENY_UNKNOWN:
                expected = _one_of(list(fields))
                raise format_error(f"unknown field `{key}`, expected {expected}")
        return out
    return value


@lru_cache(maxsize=512)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _one_of(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} or {quoted[1]}"
    return "one of " + ", ".join(quoted)


# -- deserialization errors -----------------------------------------------------------------------------
def _unexpected(value: Json) -> str:
    """serde's `Unexpected` rendering of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    return "sequence" if isinstance(value, list) else "map"


def _has(node: Json, key: Any) -> bool:
    if isinstance(node, dict):
        return isinstance(key, str) and key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def _json_path(loc: tuple[Any, ...], data: Json, missing: bool) -> tuple[Path, Json, bool]:
    """pydantic's error location as a path into the JSON (union member tags dropped), the value there,
    and whether a union was crossed on the way (the field is an untagged enum in Qdrant)."""
    path: list[str | int] = []
    node = data
    union = False
    for i, el in enumerate(loc):
        if _has(node, el):
            path.append(el)
            node = node[el]
        elif missing and i == len(loc) - 1:
            path.append(el)
            node = None
        elif not union:
            union = True
            return tuple(path), node, union
    return tuple(path), node, union


def _deserialize_message(kind: str, err: Any, data: Json) -> str:
    missing = err["type"] == "missing"
    path, value, union = _json_path(tuple(err["loc"]), data, missing)
    name = _untagged(kind, path)
    if name is None and union:
        field = next((p for p in reversed(path) if isinstance(p, str)), "value")
        name = _POINT_UNTAGGED.get(field, "".join(w.title() for w in field.split("_")))
    if name is not None:
        return f"data did not match any variant of untagged enum {name}"
    typ = err["type"]
    if missing:
        return f"missing field `{path[-1]}`"
    if typ in ("enum", "literal_error"):
        variants = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        return f"unknown variant `{value}`, expected {_one_of(variants)}"
    if typ.startswith("int"):
        expected = _rust_int(path)
    elif typ.startswith("float"):
        expected = "f64"
    elif typ.startswith("bool"):
        expected = "a boolean"
    elif typ.startswith("string"):
        expected = "a string"
    elif typ in ("list_type", "tuple_type"):
        expected = "a sequence"
    elif typ in ("model_type", "model_attributes_type"):
        expected = f"struct {err.get('ctx', {}).get('class_name', 'map')}"
    elif typ == "dict_type":
        expected = "a map"
    else:
        return str(err["msg"])
    return f"invalid type: {_unexpected(value)}, expected {expected}"


def _json_error(e: json.JSONDecodeError) -> str:
    # UNSURE: serde_json's wording differs in places; the common cases are mapped.
    known = {
        "Expecting value": "expected value",
        "Expecting property name enclosed in double quotes": "key must be a string",
        "Expecting ',' delimiter": "expected `,` or `}`",
        "Expecting ':' delimiter": "expected `:`",
        "Extra data": "trailing characters",
    }
    if e.pos >= len(e.doc.rstrip()):
        what = "EOF while parsing a value"
    else:
        what = known.get(e.msg, e.msg[0].lower() + e.msg[1:])
    return f"{what} at line {e.lineno} column {e.colno}"


# -- the pipeline ---------------------------------------------------------------------------------------
def load_json(raw: bytes) -> Json:
    try:
        return json.loads(raw or b"")
    except json.JSONDecodeError as e:
        raise format_error(_json_error(e)) from e
    except UnicodeDecodeError as e:
        raise format_error(f"invalid unicode: {e.reason}") from e


def deserialize(kind: str, data: Json, model: type[BaseModel]) -> tuple[Any, Json]:
    """`data` as `model`, strictly (no coercion, like serde), after dropping the keys it does not know;
    and the JSON without those keys. Raises Qdrant's 400 format error."""
    stripped = _strip(data, model)
    try:
        return model.model_validate_json(json.dumps(stripped), strict=True), stripped
    except ValidationError as e:
        raise format_error(_deserialize_message(kind, e.errors()[0], stripped)) from e


def collection_body(
    kind: str, raw: bytes, model: type[BaseModel], unknown_fields: Iterable[str]
) -> dict[str, Json]:
    """A PUT/PATCH /collections/{name} body, as the JSON Qdrant would keep: fields Qdrant does not know
    (and those in `unknown_fields`) removed. Raises Qdrant's 400 or 422 answer."""
    data = load_json(raw)
    if not isinstance(data, dict):
        raise format_error(f"invalid type: {_unexpected(data)}, expected struct {model.__name__}")
    data = _unview(kind, data, drop_paths(_view(kind, data), unknown_fields))
    _, body = deserialize(kind, data, model)
    assert isinstance(body, dict)
    view = _view(kind, body)
    _check_unsigned(kind, view)
    _check_bounds(kind, view, body)
    return body


def _check_unsigned(kind: str, view: dict[str, Json]) -> None:
    """Numbers serde refuses for unsigned (and NonZero) fields. Every integer of a collection body is
    unsigned (OpenAPI formats uint, uint32, uint64, uint8); `metadata` is free JSON."""
    nonzero = {_split(p): t for p, t in NONZERO.get(kind, {}).items()}
    for path, value in _walk(view):
        if not path or path[0] == "metadata" or isinstance(value, bool) or not isinstance(value, int):
            continue
        zero_type = next((t for p, t in nonzero.items() if _matches(p, path)), None)
        if value >= 0 and not (value == 0 and zero_type):
            continue
        name = _untagged(kind, path)
        if name is not None:
            raise format_error(f"data did not match any variant of untagged enum {name}")
        expected = f"a nonzero {zero_type}" if zero_type else _rust_int(path)
        raise format_error(f"invalid value: integer `{value}`, expected {expected}")


def _check_bounds(kind: str, view: dict[str, Json], body: dict[str, Json]) -> None:
    found: list[tuple[Path, tuple[str, ...], str]] = []
    for pattern, bound in BOUNDS[kind].items():
        parts = _split(pattern)
        for path, value in _find(view, parts):
            if bound.violated_by(value):
                found.append((path, parts, bound.message(value)))
    if not found:
        return
    single = kind == CREATE and is_single_vector(body.get("vectors"))
    rendered = sorted(f"{_render(path, parts, found, single)}: {text}" for path, parts, text in found)
    raise QdrantError(422, f"Validation error in JSON body: [{'; '.join(rendered)}]", body=True)


def _render(path: Path, parts: tuple[str, ...], found: list[Any], single: bool) -> str:
    """Qdrant's rendering of a validation path: the items of a map are validated with
    `common::validation::validate_iter`, which files them under `?` (one failing item) or `?[i]` (the
    i-th failing item). UNSURE: the `?[i]` form is from the newest sources read, not checked on 1.19."""
    out: list[str] = []
    for i, (segment, pattern) in enumerate(zip(path, parts, strict=True)):
        if pattern != "*":
            out.append(str(segment))
            continue
        if single and i == 1 and path[0] == "vectors":
            continue  # the unnamed vector is `vectors` itself
        failing = sorted({str(p[i]) for p, q, _ in found if q[:i] == parts[:i] and p[:i] == path[:i]})
        out.append("?" if len(failing) == 1 else f"?[{failing.index(str(segment))}]")
    return ".".join(out)


def check_point_ids(ids: Iterable[Any]) -> None:
    """Qdrant's point ids are unsigned integers or UUIDs."""
    for pid in ids:
        if isinstance(pid, str):
            try:
                uuid.UUID(pid)
            except ValueError:
                raise format_error(f"value {pid} is not a valid point ID") from None
        elif isinstance(pid, int) and not isinstance(pid, bool) and pid < 0:
            raise format_error(f"value {pid} is not a valid point ID")
