"""The PostgreSQL schema of a VectorCollection: a name derived from namespace and name that is always a
valid, unquoted-safe identifier of at most 63 bytes, and never the same for two collections.

Kubernetes names may hold '-' and '.', and a namespace plus a name can reach 316 characters, so the
readable part is folded to [a-z0-9_] and cut; a hash of the exact namespace/name is always appended,
so neither folding ('a-b' vs 'a_b') nor cutting (two long names sharing a prefix) makes two collections
share a schema. The name is still passed through psycopg's sql.Identifier wherever it is used.
"""

from __future__ import annotations

import hashlib
import re

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
PREFIX_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
_HASH_CHARS = 10  # 40 bits: a collision needs about a million collections in one database
_UNSAFE = re.compile(r"[^a-z0-9_]+")


class InvalidSchemaPrefix(ValueError):
    pass


def schema_name(prefix: str, namespace: str, name: str) -> str:
    """`<prefix><namespace>_<name, folded and cut>_<hash>`, at most 63 bytes."""
    if not PREFIX_PATTERN.fullmatch(prefix):  # fullmatch: `$` alone would let a trailing newline through
        raise InvalidSchemaPrefix(
            f"schema prefix {prefix!r} must match {PREFIX_PATTERN.pattern} (lower case, digits, _)"
        )
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:_HASH_CHARS]
    readable = _UNSAFE.sub("_", f"{namespace}_{name}".lower()).strip("_") or "c"
    room = MAX_IDENTIFIER_BYTES - len(prefix) - len(digest) - 1
    return f"{prefix}{readable[:room].rstrip('_')}_{digest}"


def advisory_key(schema: str) -> int:
    """A signed 64-bit key for pg_advisory_*lock, one per schema (the same in every process)."""
    digest = hashlib.sha256(f"vectorops:schema:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
