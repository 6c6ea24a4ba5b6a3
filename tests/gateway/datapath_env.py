"""The collections data path's test bed: a real PostgreSQL (LocalPostgres), the Qdrant stand-in as a
real HTTP server, a fake embedding provider behind the route table, and the gateway app in process with
a StaticSource snapshot holding collection bindings."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg
from aiohttp.test_utils import TestServer
from qdrant_client import AsyncQdrantClient, models

from vectorops.datastore import migrations
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.devtools.postgres import LocalPostgres
from vectorops.devtools.qdrant_standin.server import StandInQdrant
from vectorops.gateway.app import COLLECTIONS, create_app
from vectorops.gateway.collections.service import CollectionsService
from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.snapshot import Grant, Role, Snapshot
from vectorops.gateway.source import StaticSource
from vectorops.routing.collections import CollectionBinding, PostgresBinding, QdrantBinding, SecretKey
from vectorops.routing.table import Backend, Capability, Route, RouteTable, VectorIdentity

DIM = 8
IDENTITY = VectorIdentity(model="fake/e5", dimension=DIM, normalized=True, revision="r1")
ADMIN_KEY = "vk-admin-a1b2c3d4"
USER_KEY = "vk-user-e5f6a7b8"
READER_KEY = "vk-reader-c9d0e1f2"
OTHER_KEY = "vk-other-13579bdf"  # limited to another model
KEYS = {
    ADMIN_KEY: Grant("admin-key", Role.ADMIN, None),
    USER_KEY: Grant("user-key", Role.USER, frozenset({"e5"})),
    READER_KEY: Grant("reader-key", Role.READONLY, None),
    OTHER_KEY: Grant("other-key", Role.USER, frozenset({"chat"})),
}
_names = itertools.count()


def route_table(provider: FakeProvider, dimension: int = DIM) -> RouteTable:
    identity = IDENTITY.model_copy(update={"dimension": dimension})
    backend = Backend(
        source="ExternalModelEndpoint/hosted",
        url=provider.base_url,
        upstream_model="e5-up",
        identity=identity,
    )
    return RouteTable(
        namespace="ml", routes=(Route(model="e5", capability=Capability.EMBEDDINGS, backends=(backend,)),)
    )


@dataclass
class Env:
    pg: LocalPostgres
    qdrant: StandInQdrant
    provider: FakeProvider
    redis_url: str | None = None
    bindings: dict[str, CollectionBinding] = field(default_factory=dict)
    credentials: dict[tuple[str, str], str] = field(default_factory=dict)

    async def collection(
        self,
        name: str | None = None,
        postgres: bool = True,
        dimension: int = DIM,
        **extra: Any,
    ) -> CollectionBinding:
        """A Qdrant collection and (with postgres) a migrated schema, and the binding of both."""
        n = next(_names)
        name = name or f"docs{n}"
        qname = f"ml-{name}-{n}"
        client = AsyncQdrantClient(url=self.qdrant.url, check_compatibility=False)
        try:
            await client.create_collection(
                qname, vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE)
            )
        finally:
            await client.close()
        pg_binding = None
        if postgres:
            schema = f"vo_{name}_{n}"
            async with await psycopg.AsyncConnection.connect(self.pg.dsn, autocommit=True) as conn:
                await migrations.migrate(conn, schema, migrations.owner_comment("ml", name))
            pg_binding = PostgresBinding(
                dsn=SecretKey(secret="pg", key="dsn"),
                schema_name=schema,
                schema_version=1,
                connect_timeout_s=2,
            )
            self.credentials[("pg", "dsn")] = self.pg.dsn
        binding = CollectionBinding(
            name=name,
            namespace="ml",
            qdrant=QdrantBinding(url=self.qdrant.url, collection=qname, dimension=dimension, timeout_s=3),
            model="e5",
            identity=IDENTITY,
            postgres=pg_binding,
            **extra,
        )
        self.bindings[name] = binding
        return binding

    def snapshot(self) -> Snapshot:
        return Snapshot(route_table(self.provider), dict(self.credentials), KEYS, dict(self.bindings))


class Gateway:
    def __init__(self, url: str, source: StaticSource, app: Any, http: aiohttp.ClientSession) -> None:
        self.url, self.source, self.app, self.http = url, source, app, http

    @property
    def service(self) -> CollectionsService:
        return self.app[COLLECTIONS]

    @property
    def metrics(self) -> GatewayMetrics:
        return self.app[COLLECTIONS].metrics

    async def call(
        self, method: str, path: str, body: Any = None, key: str | None = ADMIN_KEY
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def ingest(
        self, name: str, docs: list[dict[str, Any]], key: str = ADMIN_KEY, **extra: Any
    ) -> tuple[int, dict[str, Any]]:
        return await self.call("POST", f"/v1/collections/{name}/points", {"documents": docs, **extra}, key)

    async def search(self, name: str, key: str = ADMIN_KEY, **body: Any) -> tuple[int, dict[str, Any]]:
        return await self.call("POST", f"/v1/collections/{name}/search", body, key)


@asynccontextmanager
async def gateway(env: Env, **settings: Any) -> AsyncIterator[Gateway]:
    values: dict[str, Any] = {"namespace": "ml", "repair_interval_seconds": 0, "cache_lru_entries": 0}
    if env.redis_url:
        values["redis_url"] = env.redis_url
    values.update(settings)
    source = StaticSource(env.snapshot())
    app = create_app(GatewaySettings(**values), source, GatewayMetrics())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Gateway(str(server.make_url("")).rstrip("/"), source, app, http)
    finally:
        await server.close()


def docs(n: int, prefix: str = "doc", start: int = 0, **payload: Any) -> list[dict[str, Any]]:
    topics = ["rivers", "volcanoes", "bread", "chess", "comets", "violins", "glaciers", "tides"]
    return [
        {
            "id": f"{prefix}-{i}",
            "text": f"A short note number {i} about {topics[i % len(topics)]}.",
            "payload": {"topic": topics[i % len(topics)], "n": i, **payload},
            "source": f"file-{i}.txt",
        }
        for i in range(start, start + n)
    ]


async def rows(env: Env, binding: CollectionBinding, state: str | None = None) -> list[tuple[Any, ...]]:
    assert binding.postgres is not None
    schema = binding.postgres.schema_name
    async with await psycopg.AsyncConnection.connect(env.pg.dsn, autocommit=True) as conn:
        query = psycopg.sql.SQL("SELECT document_id, state, text FROM {}.documents").format(
            psycopg.sql.Identifier(schema)
        )
        if state:
            query += psycopg.sql.SQL(" WHERE state = {}").format(psycopg.sql.Literal(state))
        cur = await conn.execute(query + psycopg.sql.SQL(" ORDER BY document_id"))
        return list(await cur.fetchall())


async def oplog(env: Env, binding: CollectionBinding) -> list[tuple[Any, ...]]:
    assert binding.postgres is not None
    async with await psycopg.AsyncConnection.connect(env.pg.dsn, autocommit=True) as conn:
        cur = await conn.execute(
            psycopg.sql.SQL(
                "SELECT operation, points, client, outcome, detail FROM {}.operation_log ORDER BY id"
            ).format(psycopg.sql.Identifier(binding.postgres.schema_name))
        )
        return list(await cur.fetchall())


async def qdrant_points(env: Env, binding: CollectionBinding) -> dict[str, dict[str, Any]]:
    """document_id -> payload of every point."""
    client = AsyncQdrantClient(url=env.qdrant.url, check_compatibility=False)
    try:
        records, _ = await client.scroll(binding.qdrant.collection, limit=10_000, with_payload=True)
    finally:
        await client.close()
    return {r.payload["document_id"]: r.payload for r in records if r.payload}
