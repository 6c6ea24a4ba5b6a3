"""The operator's PostgreSQL adapter and store settings: failures named so a human can act, never a
password in a message, CA bundles in private files, Secrets turned into a libpq string."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from vectorops.operator.adapters.postgres import PostgresPools, PostgresTarget, classify, describe, scrub
from vectorops.operator.api.vectorstore import PostgresConnection
from vectorops.operator.reconcilers.store import StoreProblem, postgres_target
from vectorops.operator.reconcilers.vectorstore import probe_status

SECRET = "s3cr3t-pw"


def test_passwords_are_scrubbed_from_any_text() -> None:
    uri = f"postgresql://app:{SECRET}@db:5432/app"
    keywords = f"host=db user=app password={SECRET} dbname=app"
    quoted = f"host=db password='{SECRET} x' dbname=app"
    for text in (uri, keywords, quoted, f"failed for {SECRET}"):
        assert SECRET not in scrub(text, keywords)
    assert describe(uri) == "app@db:5432/app" and SECRET not in describe(keywords)
    assert SECRET not in repr(PostgresTarget(uri))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (PoolTimeout("couldn't get a connection after 6.00 sec"), "PostgresUnreachable"),
        (psycopg.OperationalError('connection failed: FATAL:  password authentication failed for user "app"'),
         "AuthenticationFailed"),
        (psycopg.OperationalError("connection failed: SSL error: certificate verify failed"), "TLSFailed"),
        (psycopg.OperationalError("connection failed: Connection refused"), "PostgresUnreachable"),
        (psycopg.OperationalError('connection failed: FATAL:  database "nope" does not exist'),
         "DatabaseNotFound"),
        (errors.InsufficientPrivilege("permission denied for database app"), "PermissionDenied"),
        (errors.QueryCanceled("canceling statement due to statement timeout"), "StatementTimeout"),
        (errors.UndefinedTable("relation x does not exist"), "PostgresError"),
    ],
)  # fmt: skip
def test_failures_are_classified(error: Exception, reason: str) -> None:
    failure = classify(error, "app@db:5432/app", f"postgresql://app:{SECRET}@db/app")
    assert failure.reason == reason
    assert "app@db:5432/app" in failure.message


def test_a_password_inside_an_error_is_scrubbed() -> None:
    info = f"host=db user=app password={SECRET}"
    failure = classify(psycopg.OperationalError(f"bad dsn {info}"), "db", info)
    assert SECRET not in failure.message


async def test_ca_bundles_are_private_files_removed_on_close() -> None:
    pools = PostgresPools()
    path = pools.ca_file("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert pools.ca_file("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n") == path
    await pools.close()
    assert not Path(path).exists()  # noqa: ASYNC240 - a test's local file check


class Secrets:
    def __init__(self, data: dict[str, dict[str, str]]) -> None:
        self.data = data

    async def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        return frozenset(self.data[name]) if name in self.data else None

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return self.data.get(name, {}).get(key)

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        return False

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> None:
        return None


async def test_credentials_keys_sslmode_ca_and_timeouts_make_the_conninfo() -> None:
    spec = PostgresConnection.model_validate(
        {
            "credentialsSecretRef": {"name": "creds"},
            "sslmode": "verify-full",
            "caSecretRef": {"name": "ca", "key": "ca.crt"},
            "pool": {"minSize": 0, "maxSize": 9},
            "statementTimeoutMs": 1500,
            "connectTimeoutSeconds": 3,
        }
    )
    kube = Secrets({"creds": {"host": "db", "user": "app", "password": SECRET}, "ca": {"ca.crt": "PEM"}})
    pools = PostgresPools()
    access, target = await postgres_target(spec, "ns", kube, pools)
    parts = conninfo_to_dict(target.conninfo)
    assert (parts["host"], parts["user"], parts["password"], parts["sslmode"]) == (
        "db",
        "app",
        SECRET,
        "verify-full",
    )
    assert parts["options"] == "-c statement_timeout=1500" and parts["connect_timeout"] == "3"
    assert Path(str(parts["sslrootcert"])).read_text() == "PEM"  # noqa: ASYNC240
    assert (target.min_size, target.max_size, target.wait_seconds) == (0, 9, 4.0)
    assert access.pool_max == 9 and access.credentials_secret == "creds"
    await pools.close()


async def test_missing_keys_and_unparseable_dsns_are_named_without_values() -> None:
    pools = PostgresPools()
    no_host = PostgresConnection.model_validate({"credentialsSecretRef": {"name": "creds"}})
    with pytest.raises(StoreProblem) as e:
        await postgres_target(no_host, "ns", Secrets({"creds": {"user": "app", "password": SECRET}}), pools)
    assert e.value.problem.reason == "SecretKeyNotFound" and "'host'" in e.value.problem.message
    by_dsn = PostgresConnection.model_validate({"dsnSecretRef": {"name": "pg", "key": "dsn"}})
    with pytest.raises(StoreProblem) as e:
        await postgres_target(
            by_dsn, "ns", Secrets({"pg": {"dsn": f"host=db password={SECRET} nonsense"}}), pools
        )
    assert e.value.problem.reason == "InvalidSpec" and SECRET not in e.value.problem.message
    with pytest.raises(StoreProblem) as e:
        await postgres_target(by_dsn, "ns", Secrets({}), pools)
    assert e.value.problem.reason == "SecretNotFound"
    await pools.close()


def test_a_stores_probe_record_is_rewritten_only_when_it_says_something_new() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = probe_status(None, {"reachable": True, "serverVersion": "15.4", "latencyMs": 0.4}, now)
    assert first["lastProbeTime"] == "2026-01-01T00:00:00Z" and first["latencyMs"] == 0.4
    later = now + timedelta(seconds=60)
    wobble = {"reachable": True, "serverVersion": "15.4", "latencyMs": 0.9}
    assert probe_status(first, wobble, later) is first  # latency alone: no new status write
    down = probe_status(first, {"reachable": False}, later)
    # The version and latency of before are removed (None in the merge patch), not left to differ
    # from every later probe (a status write per pass during an outage: the regression this guards).
    assert down == {
        "reachable": False,
        "serverVersion": None,
        "latencyMs": None,
        "lastProbeTime": "2026-01-01T00:01:00Z",
    }
    stored = {k: v for k, v in down.items() if v is not None}  # what the apiserver keeps of it
    assert probe_status(stored, {"reachable": False}, later + timedelta(seconds=60)) is stored
    assert probe_status(first, wobble, now + timedelta(minutes=6))["latencyMs"] == 0.9
