"""The clients of each collection's stores, shared by the collections that point at the same place: one
AsyncQdrantClient per (url, API key, TLS settings) and one connection pool per libpq conninfo. A client
or pool no binding needs any more (a collection gone, a Secret rotated) is closed when the next snapshot
is seen. Keys are kept only as digests in the lookup keys; a PostgreSQL CA is written to a 0600 file
(libpq reads root certificates from files), removed with its last user."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool
from qdrant_client import AsyncQdrantClient

from vectorops.datastore.conninfo import MissingCredential, conninfo
from vectorops.gateway.collections.errors import DataPathError
from vectorops.gateway.collections.postgres import PgDocuments
from vectorops.gateway.collections.qdrant import QdrantPoints
from vectorops.gateway.snapshot import Snapshot
from vectorops.routing.collections import CollectionBinding, PostgresBinding, QdrantBinding, SecretKey

log = logging.getLogger("vectorops.gateway")


def _digest(*parts: str | None) -> str:
    return hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()


def _value(snapshot: Snapshot, ref: SecretKey | None, what: str) -> str | None:
    if ref is None:
        return None
    found = snapshot.credentials.get((ref.secret, ref.key))
    if found is None:
        raise DataPathError(f"{what}: Secret {ref.secret} key {ref.key!r} not found")
    return found


@dataclass(frozen=True)
class Store:
    binding: CollectionBinding
    points: QdrantPoints
    pg: PgDocuments | None


class Stores:
    def __init__(self, application_name: str = "vectorops-gateway") -> None:
        self.application_name = application_name
        self._qdrant: dict[str, AsyncQdrantClient] = {}
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._ca_files: dict[str, str] = {}
        self._seen: Snapshot | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._opening: dict[int, asyncio.Future[None]] = {}  # by pool id: opened once, on first use

    def store(self, snapshot: Snapshot, binding: CollectionBinding) -> Store:
        """The clients of `binding` (created on first use). DataPathError (503) when a Secret it names
        is missing."""
        if snapshot is not self._seen:
            self._seen = snapshot
            self._prune(snapshot)
        points = QdrantPoints(self._client(snapshot, binding.qdrant, binding.name), binding.qdrant)
        pg = None
        if binding.postgres is not None:
            pool = self._pool(snapshot, binding.postgres, binding.name)
            pg = PgDocuments(
                pool,
                binding.postgres.schema_name,
                binding.postgres.connect_timeout_s,
                binding.name,
                self._open,
            )
        return Store(binding, points, pg)

    # -- Qdrant ---------------------------------------------------------------------------------------
    @staticmethod
    def _qdrant_key(snapshot: Snapshot, q: QdrantBinding) -> tuple[str, str | None, str | None]:
        api_key = _value(snapshot, q.api_key, "Qdrant API key")
        ca = _value(snapshot, q.ca, "Qdrant CA")
        return _digest(q.url, api_key, ca, str(q.verify), str(q.timeout_s)), api_key, ca

    def _client(self, snapshot: Snapshot, q: QdrantBinding, collection: str) -> AsyncQdrantClient:
        key, api_key, ca = self._qdrant_key(snapshot, q)
        client = self._qdrant.get(key)
        if client is None:
            kwargs: dict[str, Any] = {}
            if ca is not None:
                try:  # in memory: httpx takes an SSL context
                    kwargs["verify"] = ssl.create_default_context(cadata=ca)
                except (ssl.SSLError, ValueError) as e:
                    raise DataPathError(f"collection {collection}: the Qdrant CA is not a PEM bundle") from e
            elif not q.verify:
                kwargs["verify"] = False
            if api_key is not None and q.url.startswith("http://"):
                log.warning("collection %s: the Qdrant API key is sent over plain http", collection)
            client = AsyncQdrantClient(
                url=q.url,
                api_key=api_key,
                timeout=max(1, math.ceil(q.timeout_s)),
                check_compatibility=False,
                **kwargs,
            )
            self._qdrant[key] = client
        return client

    # -- PostgreSQL -----------------------------------------------------------------------------------
    def _ca_file(self, pem: str) -> str:
        key = _digest(pem)
        path = self._ca_files.get(key)
        if path is None:
            fd, path = tempfile.mkstemp(prefix="vectorops-pg-ca-", suffix=".pem")  # mode 0600
            with os.fdopen(fd, "w") as f:
                f.write(pem)
            self._ca_files[key] = path
        return path

    def _conninfo(self, snapshot: Snapshot, p: PostgresBinding, collection: str) -> str:
        ca = _value(snapshot, p.ca, "PostgreSQL CA")
        ca_file = self._ca_file(ca) if ca is not None else None
        try:
            info = conninfo(p, snapshot.credentials, ca_file, self.application_name)
            # Parsed here, once: a malformed string would otherwise fail on every background connect
            # with a libpq message that quotes it, password included, into the pool's log.
            conninfo_to_dict(info)
            return info
        except MissingCredential as e:
            raise DataPathError(f"collection {collection}: PostgreSQL credentials: {e}") from e
        except psycopg.ProgrammingError as e:  # its message quotes the DSN, password included: not passed on
            where = f"Secret {p.dsn.secret} key {p.dsn.key!r}" if p.dsn else f"Secret {p.credentials_secret}"
            raise DataPathError(
                f"collection {collection}: the PostgreSQL connection string in {where} is not valid"
            ) from e

    def _pool(self, snapshot: Snapshot, p: PostgresBinding, collection: str) -> AsyncConnectionPool:
        info = self._conninfo(snapshot, p, collection)
        key = _digest(info, str(p.pool_max))
        pool = self._pools.get(key)
        if pool is None:
            pool = AsyncConnectionPool(
                info,
                min_size=1,
                max_size=max(2, p.pool_max),  # the repair pass holds one (its lock) and uses another
                open=False,
                kwargs={"autocommit": True},
                check=AsyncConnectionPool.check_connection,  # a restarted server leaves dead connections
                timeout=p.connect_timeout_s,
                reconnect_timeout=float("inf"),  # keep trying: PostgreSQL coming back is the normal case
                name=f"collection-{collection}",
            )
            self._pools[key] = pool
        return pool

    async def _open(self, pool: AsyncConnectionPool) -> None:
        """Open a pool on its first use (wait=False: it returns at once, connections come in the
        background). A pool already closed (its binding changed while a request held it) stays closed:
        that request fails with PoolClosed -> 503, and its retry uses the new pool."""
        opening = self._opening.get(id(pool))
        if opening is None and any(p is pool for p in self._pools.values()):
            opening = self._opening[id(pool)] = asyncio.ensure_future(pool.open(wait=False))
        if opening is not None:  # every first user waits for the same opening
            await asyncio.shield(opening)

    # -- lifecycle ------------------------------------------------------------------------------------
    def _prune(self, snapshot: Snapshot) -> None:
        """Close what no binding of `snapshot` uses."""
        qdrant, pools, cas = set(), set(), set()
        for binding in snapshot.collections.values():
            with contextlib.suppress(DataPathError):
                qdrant.add(self._qdrant_key(snapshot, binding.qdrant)[0])
            p = binding.postgres
            if p is not None:
                with contextlib.suppress(DataPathError, psycopg.Error):
                    ca = _value(snapshot, p.ca, "PostgreSQL CA")
                    if ca is not None:
                        cas.add(_digest(ca))
                        info = conninfo(
                            p, snapshot.credentials, self._ca_files.get(_digest(ca)), self.application_name
                        )
                    else:
                        info = conninfo(p, snapshot.credentials, None, self.application_name)
                    pools.add(_digest(info, str(p.pool_max)))
        for key in [k for k in self._qdrant if k not in qdrant]:
            self._later(self._qdrant.pop(key).close())
        for key in [k for k in self._pools if k not in pools]:
            pool = self._pools.pop(key)
            self._opening.pop(id(pool), None)
            self._later(pool.close())
        for key in [k for k in self._ca_files if k not in cas]:
            with contextlib.suppress(OSError):
                os.unlink(self._ca_files.pop(key))

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for client in self._qdrant.values():
            with contextlib.suppress(Exception):
                await client.close()
        for pool in self._pools.values():
            with contextlib.suppress(Exception):
                await pool.close()
        await asyncio.gather(*self._closing, return_exceptions=True)
        for path in self._ca_files.values():
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._qdrant.clear()
        self._pools.clear()
        self._ca_files.clear()
