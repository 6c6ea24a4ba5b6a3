"""How a VectorStore's spec.postgres says to connect, in the terms datastore.conninfo and the collection
binding share (Secret references only, never values)."""

from __future__ import annotations

from dataclasses import dataclass

from vectorops.operator.api.vectorstore import PostgresConnection
from vectorops.routing.collections import SecretKey, SslMode


@dataclass(frozen=True)
class PostgresAccess:
    """Shaped like the connection part of a PostgresBinding (datastore.conninfo.ConnectionSettings)."""

    dsn: SecretKey | None
    credentials_secret: str | None
    sslmode: SslMode | None
    ca: SecretKey | None
    connect_timeout_s: int
    statement_timeout_ms: int
    pool_min: int
    pool_max: int
    schema_prefix: str

    def secret_keys(self) -> list[tuple[str, str, str]]:
        """(secret, key, field) of every value the operator must read; the credentials Secret's keys are
        listed by conninfo.CREDENTIAL_KEYS, read where present."""
        out: list[tuple[str, str, str]] = []
        if self.dsn is not None:
            out.append((self.dsn.secret, self.dsn.key, "spec.postgres.dsnSecretRef"))
        if self.ca is not None:
            out.append((self.ca.secret, self.ca.key, "spec.postgres.caSecretRef"))
        return out


def postgres_access(spec: PostgresConnection) -> PostgresAccess:
    dsn = (
        SecretKey(secret=spec.dsn_secret_ref.name, key=spec.dsn_secret_ref.key)
        if spec.dsn_secret_ref
        else None
    )
    ca = SecretKey(secret=spec.ca_secret_ref.name, key=spec.ca_secret_ref.key) if spec.ca_secret_ref else None
    pool_min, pool_max = spec.pool_sizes
    return PostgresAccess(
        dsn=dsn,
        credentials_secret=spec.credentials_secret_ref.name if spec.credentials_secret_ref else None,
        sslmode=spec.sslmode,
        ca=ca,
        connect_timeout_s=spec.connect_timeout_seconds,
        statement_timeout_ms=spec.statement_timeout_ms,
        pool_min=pool_min,
        pool_max=pool_max,
        schema_prefix=spec.schema_prefix,
    )
