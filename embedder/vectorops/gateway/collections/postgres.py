"""A collection's PostgreSQL: a connection from the pool its conninfo shares, bounded by the binding's
connect timeout, with every PostgreSQL failure (down, timed out, refused) turned into
PostgresUnavailable. The error names the collection and the kind of failure; the server's message is
logged (it never holds a password) and not returned."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from vectorops.gateway.collections.errors import PostgresUnavailable

log = logging.getLogger("vectorops.gateway")


class PgDocuments:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        schema: str,
        timeout_s: float,
        collection: str,
        ensure_open: Callable[[AsyncConnectionPool], Awaitable[None]],
    ) -> None:
        self.pool, self.schema, self.timeout_s, self.collection = pool, schema, timeout_s, collection
        self.ensure_open = ensure_open

    @asynccontextmanager
    async def connection(self, what: str) -> AsyncIterator[AsyncConnection]:
        """A connection for `what` (named in the error when PostgreSQL fails)."""
        try:
            await self.ensure_open(self.pool)
            async with self.pool.connection(timeout=self.timeout_s) as conn:
                yield conn
        except PoolTimeout as e:
            log.warning("collection %s: no PostgreSQL connection for %s: %s", self.collection, what, e)
            raise PostgresUnavailable(
                f"PostgreSQL unavailable: no connection within {self.timeout_s:g} s ({what})"
            ) from e
        except (psycopg.Error, OSError) as e:
            log.warning("collection %s: PostgreSQL failed during %s: %s", self.collection, what, e)
            raise PostgresUnavailable(f"PostgreSQL unavailable: {type(e).__name__} during {what}") from e
