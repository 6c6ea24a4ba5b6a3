"""The failures of the data path, each with the HTTP status it is answered with. Messages name the
store and what failed, never a DSN, a URL's credentials or a key."""

from __future__ import annotations


class DataPathError(Exception):
    status = 503

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class PostgresUnavailable(DataPathError):
    """PostgreSQL did not answer (or failed) in time."""


class QdrantUnavailable(DataPathError):
    """Qdrant did not answer (or failed with a server error)."""


class QdrantRejected(DataPathError):
    """Qdrant refused the request as invalid (a bad filter): the client's to fix."""

    status = 400


class EmbeddingFailed(DataPathError):
    """The collection's model could not embed the texts."""

    status = 502
