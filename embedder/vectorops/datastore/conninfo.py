"""A libpq connection string from a PostgresBinding and the Secret values it names, built the same way by
the operator and the gateway (psycopg's make_conninfo quotes every value).

The operator builds it before any schema exists (to probe a VectorStore's PostgreSQL), so conninfo takes
anything shaped like the connection part of a PostgresBinding (ConnectionSettings), not only a binding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from psycopg.conninfo import make_conninfo

from vectorops.routing.collections import SecretKey, SslMode

CREDENTIAL_KEYS = ("host", "port", "dbname", "user", "password")


class ConnectionSettings(Protocol):
    """The fields of a PostgresBinding that say how to connect (a PostgresBinding is one)."""

    @property
    def dsn(self) -> SecretKey | None: ...
    @property
    def credentials_secret(self) -> str | None: ...
    @property
    def sslmode(self) -> SslMode | None: ...
    @property
    def connect_timeout_s(self) -> int: ...
    @property
    def statement_timeout_ms(self) -> int: ...


class MissingCredential(LookupError):
    """A Secret or key the binding names is not there (the message names which, never a value)."""


def conninfo(
    binding: ConnectionSettings,
    secret_value: Mapping[tuple[str, str], str],
    ca_file: str | None = None,
    application_name: str = "vectorops",
) -> str:
    """`secret_value[(secret, key)]` -> value. `ca_file`: where the binding's CA PEM was written (libpq
    reads the root certificate from a file)."""

    def value(secret: str, key: str) -> str:
        found = secret_value.get((secret, key))
        if found is None:
            raise MissingCredential(f"Secret {secret} key {key!r} not found")
        return found

    extra: dict[str, str | int] = {
        "connect_timeout": binding.connect_timeout_s,
        "application_name": application_name,
        "options": f"-c statement_timeout={binding.statement_timeout_ms}",
    }
    if binding.dsn is not None:
        base = value(binding.dsn.secret, binding.dsn.key)
    elif binding.credentials_secret is not None:
        base = ""
        for key in CREDENTIAL_KEYS:
            found = secret_value.get((binding.credentials_secret, key))
            if found is not None:
                extra[key] = found
            elif key in ("host", "user"):
                value(binding.credentials_secret, key)  # raises, naming the key
    else:
        raise MissingCredential("the binding names no PostgreSQL credentials (dsn or credentials_secret)")
    if binding.sslmode is not None:
        extra["sslmode"] = binding.sslmode.value
    if ca_file is not None:
        extra["sslrootcert"] = ca_file
    return make_conninfo(base, **extra)
