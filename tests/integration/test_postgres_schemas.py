"""Collections' PostgreSQL schemas on a real PostgreSQL (initdb + pg_ctl), a real apiserver and the
operator as a process: created owned and migrated, raced without double application, drift repaired,
outages contained and recovered, deleted by policy, never injected into, never taking what is not ours."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.integration.conftest import Cluster, OperatorProcess, condition, ready_is, secret
from vectorops.datastore.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    SchemaNotOwned,
    migrate,
    owner_comment,
)
from vectorops.datastore.naming import schema_name
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.postgres import LocalPostgres, PostgresNotAvailable
from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.operator.adapters.postgres import PostgresPools, PostgresTarget
from vectorops.routing.collections import BINDING_KEY, BINDING_LABEL, binding_configmap_name

API = "vectorops.io/v1alpha1"
PREFIX = "vectorops_"
PASSWORD = "pg-pw-7e11a9"  # trust auth ignores it; it must never show up anywhere (the leak check)


def _start_pg() -> LocalPostgres:
    try:
        return LocalPostgres.start()
    except PostgresNotAvailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def pg() -> Iterator[LocalPostgres]:
    server = _start_pg()
    try:
        yield server
    finally:
        server.stop()


def dsn(server: LocalPostgres) -> str:
    return f"postgresql://{server.user}:{PASSWORD}@127.0.0.1:{server.port}/postgres"


def store(name: str, qdrant_url: str, **postgres: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VectorStore",
        "metadata": {"name": name},
        "spec": {
            "qdrant": {"url": qdrant_url},
            "postgres": {"dsnSecretRef": {"name": f"{name}-pg", "key": "dsn"}, **postgres},
        },
    }


def collection(name: str, store_name: str = "q", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": name},
        "spec": {"storeRef": {"name": store_name}, "vectors": {"size": 4}, "postgresSchema": {}, **spec},
    }


def setup_store(cluster: Cluster, ns: str, server: LocalPostgres, qdrant_url: str, name: str = "q") -> None:
    cluster.apply(ns, secret(f"{name}-pg", dsn=dsn(server)), store(name, qdrant_url))


def schema_is(status: str, reason: str | None = None) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        c = condition(obj, "Schema")
        return c is not None and c["status"] == status and (reason is None or c["reason"] == reason)

    return check


def connect(server: LocalPostgres) -> psycopg.Connection[Any]:
    return psycopg.connect(server.dsn, autocommit=True)


def migrations_rows(server: LocalPostgres, schema: str) -> list[tuple[Any, ...]]:
    with connect(server) as conn:
        query = sql.SQL("SELECT version, checksum, applied_at FROM {}.{} ORDER BY version").format(
            sql.Identifier(schema), sql.Identifier(MIGRATIONS_TABLE)
        )
        return list(conn.execute(query).fetchall())


def schema_exists(server: LocalPostgres, schema: str) -> bool:
    with connect(server) as conn:
        return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


def reasons(cluster: Cluster, ns: str, name: str) -> list[str]:
    return [e["reason"] for e in cluster.events(ns, name)]


# -- first, with no other operator running: two processes started at once ---------------------------
def test_two_operator_processes_started_at_once_apply_each_migration_once(
    control_plane: ControlPlane,
    cluster: Cluster,
    namespace: str,
    pg: LocalPostgres,
    qdrant: Any,
    tmp_path: Path,
) -> None:
    ns = namespace
    setup_store(cluster, ns, pg, qdrant.url)
    names = [f"race-{i}" for i in range(8)]
    cluster.apply(ns, *[collection(n) for n in names])
    ops = [
        OperatorProcess(control_plane, tmp_path / f"op{i}.log", VECTOROPS_NAMESPACES=f'["{ns}"]')
        for i in (1, 2)
    ]
    try:
        # Both start together (neither waits for the other's health check), the collections already there.
        threads = [threading.Thread(target=op.start) for op in ops]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(op.proc is not None and op.proc.poll() is None for op in ops)
        for n in names:
            obj = cluster.wait_for(ns, "vectorcollection", n, ready_is("True"), timeout=60)
            assert obj["status"]["schemaVersion"] == LATEST_VERSION
            schema = schema_name(PREFIX, ns, n)
            assert [r[0] for r in migrations_rows(pg, schema)] == [m.version for m in MIGRATIONS]
            assert obj["status"]["schemaName"] == schema
    finally:
        for op in ops:
            op.stop()
    for op in ops:
        text = op.log.read_text()
        ours = [b for b in text.split("Traceback")[1:] if "/vectorops/" in b.split("\n\n")[0]]
        assert not ours, text[-4000:]
        assert PASSWORD not in text
        # Both really worked on these collections (the race is real, not one idle process).
        assert "reconcile-vectorcollection" in text


def test_racing_migrate_calls_apply_each_migration_exactly_once(pg: LocalPostgres) -> None:
    async def race(schema: str) -> list[Any]:
        conns = [await psycopg.AsyncConnection.connect(pg.dsn, autocommit=True) for _ in range(2)]
        try:
            return list(
                await asyncio.gather(*(migrate(c, schema, owner_comment("ns", schema)) for c in conns))
            )
        finally:
            for c in conns:
                await c.close()

    for i in range(6):
        schema = f"race_direct_{i}"
        reports = asyncio.run(race(schema))
        assert sorted(r.created_schema for r in reports) == [False, True]
        assert sorted(v for r in reports for v in r.applied) == [m.version for m in MIGRATIONS]
        assert all(r.version == LATEST_VERSION for r in reports)
        assert [r[0] for r in migrations_rows(pg, schema)] == [m.version for m in MIGRATIONS]


def test_a_schema_named_like_an_injection_is_only_ever_an_identifier(pg: LocalPostgres) -> None:
    hostile = 'x"; DROP SCHEMA public CASCADE; --'
    with connect(pg) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.canary (id int)")
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(hostile)))

    async def run(schema: str, owner: str) -> Any:
        async with await psycopg.AsyncConnection.connect(pg.dsn, autocommit=True) as conn:
            return await migrate(conn, schema, owner)

    with pytest.raises(SchemaNotOwned):  # made by hand: not ours, not touched
        asyncio.run(run(hostile, owner_comment("ns", "c")))
    fresh = 'y"); DROP TABLE public.canary; --'
    report = asyncio.run(run(fresh, owner_comment("ns", "y")))
    assert report.created_schema and report.version == LATEST_VERSION
    with connect(pg) as conn:
        assert conn.execute("SELECT to_regclass('public.canary') IS NOT NULL").fetchone() == (True,)
        found = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
            (fresh,),
        ).fetchall()
        assert [r[0] for r in found] == ["documents", "operation_log", MIGRATIONS_TABLE]
        tables = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (hostile,),
        ).fetchone()
        assert tables == (0,)


def test_the_pool_probes_and_classifies(pg: LocalPostgres) -> None:
    async def run() -> None:
        pools = PostgresPools()
        try:
            ok = await pools.probe("ns/q", PostgresTarget(dsn(pg)))
            assert ok.reachable and ok.server_version and ok.latency_ms is not None
            assert PASSWORD not in ok.message
            wrong_db = f"postgresql://{pg.user}:{PASSWORD}@127.0.0.1:{pg.port}/nope"
            missing = await pools.probe("ns/q", PostgresTarget(wrong_db, wait_seconds=2))
            assert (missing.reachable, missing.reason) == (False, "DatabaseNotFound")
            assert PASSWORD not in missing.message
            assert len(pools) == 1  # the changed target replaced the store's pool
        finally:
            await pools.close()

    asyncio.run(run())


# -- with the module's operator (cluster-wide, resync 2 s) ----------------------------------------------
def test_twenty_collections_get_twenty_schemas_and_rerunning_changes_nothing(
    cluster: Cluster, namespace: str, operator: OperatorProcess, pg: LocalPostgres, qdrant: Any
) -> None:
    ns = namespace
    setup_store(cluster, ns, pg, qdrant.url)
    names = [f"c{i:02d}" for i in range(20)]
    cluster.apply(ns, *[collection(n, postgresSchema={"operationLogRetentionDays": 7}) for n in names])
    for n in names:
        obj = cluster.wait_for(ns, "vectorcollection", n, ready_is("True", "Synced"), timeout=60)
        schema = schema_name(PREFIX, ns, n)
        assert (obj["status"]["schemaName"], obj["status"]["schemaVersion"]) == (schema, LATEST_VERSION)
        assert condition(obj, "Schema")["message"] == (
            f"schema {schema} at migration {LATEST_VERSION} of {LATEST_VERSION}"
        )
    with connect(pg) as conn:
        owned = conn.execute(
            "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname LIKE %s",
            (f"{PREFIX}{ns.replace('-', '_')}%",),
        ).fetchall()
    assert sorted(owned) == sorted((schema_name(PREFIX, ns, n), owner_comment(ns, n)) for n in names)
    st = cluster.wait_for(ns, "vectorstore", "q", ready_is("True"))
    assert st["status"]["postgres"]["reachable"] is True
    assert st["status"]["postgres"]["serverVersion"].split(".")[0].isdigit()
    assert st["status"]["postgres"]["latencyMs"] >= 0
    assert condition(st, "Postgres")["status"] == "True"

    # The binding the gateway reads: owned by its collection, JSON as the contract says.
    cm = cluster.get(ns, "configmap", binding_configmap_name("c00"))
    assert cm["metadata"]["labels"][BINDING_LABEL] == "true"
    [owner] = cm["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("VectorCollection", "c00", True)
    binding = json.loads(cm["data"][BINDING_KEY])
    assert binding["postgres"] == {
        "dsn": {"secret": "q-pg", "key": "dsn"},
        "connect_timeout_s": 5,
        "statement_timeout_ms": 10000,
        "pool_max": 4,
        "schema_name": schema_name(PREFIX, ns, "c00"),
        "schema_version": LATEST_VERSION,
    }
    assert binding["qdrant"]["url"] == qdrant.url and binding["qdrant"]["dimension"] == 4
    assert binding["postgres_required"] is True and binding["retention_days"] == 7
    assert "unavailable" not in binding and PASSWORD not in cm["data"][BINDING_KEY]

    time.sleep(3)  # kopf posts Events in the background
    before_rows = {n: migrations_rows(pg, schema_name(PREFIX, ns, n)) for n in names}
    before_events = sum(len(cluster.events(ns, n)) for n in names)
    versions = {n: cluster.get(ns, "vectorcollection", n)["metadata"]["resourceVersion"] for n in names}
    cm_before = cluster.get(ns, "configmap", binding_configmap_name("c00"))
    time.sleep(7)  # three resyncs
    assert {n: migrations_rows(pg, schema_name(PREFIX, ns, n)) for n in names} == before_rows
    assert sum(len(cluster.events(ns, n)) for n in names) == before_events
    assert {
        n: cluster.get(ns, "vectorcollection", n)["metadata"]["resourceVersion"] for n in names
    } == versions
    cm_after = cluster.get(ns, "configmap", binding_configmap_name("c00"))
    assert cm_after["data"] == cm_before["data"]
    assert cm_after["metadata"]["resourceVersion"] == cm_before["metadata"]["resourceVersion"]


def test_longest_and_truncation_colliding_names_map_safely(
    cluster: Cluster, namespace: str, operator: OperatorProcess, pg: LocalPostgres, qdrant: Any
) -> None:
    ns = namespace
    setup_store(cluster, ns, pg, qdrant.url)
    stem = "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 60  # a DNS subdomain of 243 chars
    names = [f"{stem}-x1", f"{stem}-x2", f"{stem}.x1", "a" * 253]
    for i, n in enumerate(names):
        cluster.apply(ns, collection(n, collectionName=f"long-{i}"))
    schemas = set()
    for n in names:
        obj = cluster.wait_for(ns, "vectorcollection", n, schema_is("True"), timeout=60)
        schema = obj["status"]["schemaName"]
        assert schema == schema_name(PREFIX, ns, n) and len(schema.encode()) <= 63
        assert schema_exists(pg, schema)
        schemas.add(schema)
    assert len(schemas) == len(names)


def test_a_schema_made_by_hand_is_never_altered_or_dropped(
    cluster: Cluster, namespace: str, operator: OperatorProcess, pg: LocalPostgres, qdrant: Any
) -> None:
    ns = namespace
    setup_store(cluster, ns, pg, qdrant.url)
    schema = schema_name(PREFIX, ns, "handmade")
    with connect(pg) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.mine (v int)").format(sql.Identifier(schema)))
    cluster.apply(ns, collection("handmade", deletionPolicy="Delete"))
    obj = cluster.wait_for(ns, "vectorcollection", "handmade", schema_is("False", "SchemaNotOwned"))
    assert condition(obj)["reason"] == "SchemaNotOwned" and condition(obj)["status"] == "False"
    assert condition(obj, "Collection")["status"] == "True"  # the Qdrant part is unaffected
    with connect(pg) as conn:
        tables = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (schema,),
        ).fetchall()
    assert tables == [("mine",)]
    cluster.kubectl("delete", "-n", ns, "vectorcollection", "handmade", "--wait=true", "--timeout=30s")
    assert cluster.wait_event(ns, "handmade", "ExistsNotOwned", contains=f"kept PostgreSQL schema {schema}")
    assert schema_exists(pg, schema)


def test_drift_is_repaired_with_events_and_tampering_reported(
    cluster: Cluster, namespace: str, operator: OperatorProcess, pg: LocalPostgres, qdrant: Any
) -> None:
    ns = namespace
    setup_store(cluster, ns, pg, qdrant.url)
    cluster.apply(ns, collection("drifty"))
    cluster.wait_for(ns, "vectorcollection", "drifty", ready_is("True", "Synced"), timeout=60)
    schema = schema_name(PREFIX, ns, "drifty")
    cluster.wait_event(ns, "drifty", "Created", contains=f"Created PostgreSQL schema {schema}")

    with connect(pg) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    cluster.wait_event(
        ns, "drifty", "DriftRepaired", contains="was dropped outside the operator; recreated empty"
    )
    assert [r[0] for r in migrations_rows(pg, schema)] == [m.version for m in MIGRATIONS]

    with connect(pg) as conn:
        conn.execute(
            sql.SQL("DELETE FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(MIGRATIONS_TABLE))
        )
    cluster.wait_event(ns, "drifty", "DriftRepaired", contains=f"migration record of {schema} was missing")
    assert [r[0] for r in migrations_rows(pg, schema)] == [m.version for m in MIGRATIONS]

    with connect(pg) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.{} SET checksum = 'edited'").format(
                sql.Identifier(schema), sql.Identifier(MIGRATIONS_TABLE)
            )
        )
    obj = cluster.wait_for(ns, "vectorcollection", "drifty", schema_is("False", "MigrationTampered"))
    assert condition(obj)["reason"] == "MigrationTampered"
    assert "fix or delete that row" in condition(obj, "Schema")["message"]
    with connect(pg) as conn:  # what the message says to do
        conn.execute(
            sql.SQL("DELETE FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(MIGRATIONS_TABLE))
        )
    cluster.wait_for(ns, "vectorcollection", "drifty", ready_is("True", "Synced"))


def test_postgres_down_is_contained_and_recovery_is_automatic(
    cluster: Cluster, namespace: str, operator: OperatorProcess, qdrant: StandInQdrant
) -> None:
    ns = namespace
    own = _start_pg()  # its own server: stopping it must not disturb the other tests
    try:
        setup_store(cluster, ns, own, qdrant.url)
        cluster.apply(ns, collection("steady"))
        cluster.wait_for(ns, "vectorcollection", "steady", ready_is("True", "Synced"), timeout=60)
        own.stop(keep_data=True)
        # A spec change and a new collection while PostgreSQL is down: Qdrant still gets both.
        cluster.apply(ns, collection("steady", hnsw={"m": 24}), collection("newcomer"))
        for n in ("steady", "newcomer"):
            obj = cluster.wait_for(
                ns, "vectorcollection", n, schema_is("False", "PostgresUnreachable"), timeout=60
            )
            assert condition(obj, "Collection")["status"] == "True"
            assert (condition(obj)["status"], condition(obj)["reason"]) == ("False", "PostgresUnreachable")
            assert "Qdrant collection is usable" in condition(obj)["message"]
        assert qdrant.state.collections["steady"].hnsw["m"] == 24
        assert "newcomer" in qdrant.state.collections
        st = cluster.wait_for(ns, "vectorstore", "q", ready_is("False", "PostgresUnreachable"), timeout=30)
        assert st["status"]["postgres"]["reachable"] is False
        # No hot loop while it stays down: three resyncs find the same and write nothing to collections,
        # stores, their ConfigMaps (bindings, rules) or Events.
        writes = cluster.writes_during(7, ("vectorcollections", "vectorstores", "configmaps", "events"))
        assert writes == {}, writes
        binding = json.loads(
            cluster.get(ns, "configmap", binding_configmap_name("newcomer"))["data"][BINDING_KEY]
        )
        assert "postgres" not in binding and "PostgreSQL schema" in binding["unavailable"]

        own.resume()
        for n in ("steady", "newcomer"):
            obj = cluster.wait_for(ns, "vectorcollection", n, ready_is("True", "Synced"), timeout=60)
            assert obj["status"]["schemaVersion"] == LATEST_VERSION
        cluster.wait_for(ns, "vectorstore", "q", ready_is("True"), timeout=30)
        assert [r[0] for r in migrations_rows(own, schema_name(PREFIX, ns, "newcomer"))] == [
            m.version for m in MIGRATIONS
        ]
        # Deleting while PostgreSQL is down waits (and says so) until it is back.
        cluster.apply(ns, collection("steady", hnsw={"m": 24}, deletionPolicy="Delete"))
        cluster.wait_for(ns, "vectorcollection", "steady", lambda o: o["metadata"]["generation"] == 3)
        own.stop(keep_data=True)
        cluster.kubectl("delete", "-n", ns, "vectorcollection", "steady", "--wait=false")
        obj = cluster.wait_for(
            ns, "vectorcollection", "steady", ready_is("False", "DeletionBlocked"), timeout=40
        )
        assert "cannot delete the PostgreSQL schema" in condition(obj)["message"]
        own.resume()
        cluster.kubectl("wait", "-n", ns, "--for=delete", "vectorcollection/steady", "--timeout=90s")
        assert not schema_exists(own, schema_name(PREFIX, ns, "steady"))
    finally:
        own.stop()


def test_deletion_policy_decides_the_schema_and_the_binding_goes(
    cluster: Cluster, namespace: str, operator: OperatorProcess, pg: LocalPostgres, qdrant: Any
) -> None:
    ns = namespace
    setup_store(cluster, ns, pg, qdrant.url)
    cluster.apply(ns, collection("dropme", deletionPolicy="Delete"), collection("keepme"))
    for n in ("dropme", "keepme"):
        cluster.wait_for(ns, "vectorcollection", n, ready_is("True", "Synced"), timeout=60)
        cluster.get(ns, "configmap", binding_configmap_name(n))
    for n in ("dropme", "keepme"):
        cluster.kubectl("delete", "-n", ns, "vectorcollection", n, "--wait=true", "--timeout=30s")
    assert not schema_exists(pg, schema_name(PREFIX, ns, "dropme"))
    assert schema_exists(pg, schema_name(PREFIX, ns, "keepme"))
    cluster.wait_event(ns, "keepme", "Retained", contains="kept PostgreSQL schema")
    for n in ("dropme", "keepme"):  # removed at once (no garbage collector runs here)
        got = cluster.kubectl("get", "-n", ns, "configmap", binding_configmap_name(n), check=False)
        assert got.returncode != 0 and "NotFound" in got.stderr


def test_a_schema_is_dropped_even_when_its_secret_went_first(
    cluster: Cluster, namespace: str, operator: OperatorProcess, pg: LocalPostgres, qdrant: Any
) -> None:
    """Namespace deletion removes Secrets in any order: the collection's deletion must not wedge on the
    missing DSN while the operator still has the store's pool."""
    ns = namespace
    setup_store(cluster, ns, pg, qdrant.url, name="s1")
    cluster.apply(ns, collection("orphaned", store_name="s1", deletionPolicy="Delete"))
    cluster.wait_for(ns, "vectorcollection", "orphaned", ready_is("True", "Synced"), timeout=60)
    cluster.kubectl("delete", "-n", ns, "secret", "s1-pg")
    cluster.kubectl("delete", "-n", ns, "vectorcollection", "orphaned", "--wait=true", "--timeout=30s")
    assert not schema_exists(pg, schema_name(PREFIX, ns, "orphaned"))


def test_a_store_without_postgres_or_with_credentials_keys(
    cluster: Cluster, namespace: str, operator: OperatorProcess, pg: LocalPostgres, qdrant: Any
) -> None:
    ns = namespace
    bare = {
        "apiVersion": API,
        "kind": "VectorStore",
        "metadata": {"name": "bare"},
        "spec": {"qdrant": {"url": qdrant.url}},
    }
    cluster.apply(ns, bare, collection("nopg", store_name="bare"))
    obj = cluster.wait_for(ns, "vectorcollection", "nopg", schema_is("False", "PostgresNotConfigured"))
    assert "VectorStore bare declares no spec.postgres" in condition(obj, "Schema")["message"]
    # Credentials as separate keys (CloudNativePG / Bitnami layout), and a schema prefix of its own.
    # Only the password is secret: host, port and user are everywhere in messages, by design.
    creds = secret("creds", password=PASSWORD)
    creds["stringData"] |= {"host": "127.0.0.1", "port": str(pg.port), "dbname": "postgres", "user": pg.user}
    keyed = store("keyed", qdrant.url, schemaPrefix="team_")
    keyed["spec"]["postgres"].pop("dsnSecretRef")
    keyed["spec"]["postgres"]["credentialsSecretRef"] = {"name": "creds"}
    cluster.apply(ns, creds, keyed, collection("bykeys", store_name="keyed"))
    obj = cluster.wait_for(ns, "vectorcollection", "bykeys", ready_is("True", "Synced"), timeout=60)
    assert obj["status"]["schemaName"] == schema_name("team_", ns, "bykeys")
    assert schema_exists(pg, schema_name("team_", ns, "bykeys"))
