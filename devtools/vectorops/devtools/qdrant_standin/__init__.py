"""A stand-in Qdrant server for tests and benchmarks, where no Qdrant binary can run.

It speaks Qdrant 1.19's REST API for everything vectorops uses, as strictly as Qdrant does: request
bodies are deserialized without coercion (400 `Format error in JSON body: ...`), checked against
Qdrant's validation bounds (422 `Validation error in JSON body: [...]`, one table in validation.py),
unknown fields are ignored as serde ignores them, and errors carry Qdrant's status codes and texts.
Requests are parsed with qdrant-client's own REST models; points and search are delegated to
qdrant-client's local engine; the collection configuration is kept here as Qdrant reports it (its
defaults, PATCH merges, metadata, payload schema, aliases, status), because the local engine ignores
most of it.

Each behaviour was checked against Qdrant's sources (the files are named where the behaviour is
implemented) and the OpenAPI document docs/redoc/v1.19.x/openapi.json; what could not be confirmed
there is marked UNSURE. No real Qdrant was run to compare.

- validation.py: the bounds table and the parse/deserialize/validate pipeline.
- collection.py: a collection's configuration (defaults, merges, status) and the alias mapping.
- server.py: StandInQdrant, the aiohttp application in a thread of its own.

Test hooks: `StandInQdrant(unknown_fields=[...])` emulates an older Qdrant that silently drops the
fields it does not know; `optimize_seconds` makes an updated collection report `yellow` for that long;
`server.state.set_status(name, "red", error="...")` sets a collection's status and optimizer status.
"""

from vectorops.devtools.qdrant_standin.collection import Collection, QdrantState
from vectorops.devtools.qdrant_standin.server import VERSION, StandInQdrant
from vectorops.devtools.qdrant_standin.validation import BOUNDS, Bound, QdrantError

__all__ = ["BOUNDS", "VERSION", "Bound", "Collection", "QdrantError", "QdrantState", "StandInQdrant"]
