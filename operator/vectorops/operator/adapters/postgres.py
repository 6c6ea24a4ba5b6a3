"""PostgreSQL through psycopg 3 (the only way the operator talks to PostgreSQL).

- PostgresTarget: a libpq connection string and pool sizes (from a VectorStore and its Secrets).
- PostgresPools: one psycopg_pool.AsyncConnectionPool per store, replaced (and the old one closed) when
  the connection string changes, e.g. a rotated Secret; CA bundles written to 0600 files for libpq.
- probe: reachable, server version, round-trip latency.
- classify: any failure -> a reason and a message a human can act on, never holding a password.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import AsyncConnection, errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from vectorops.operator.adapters.probe import BackendProbe

# Any password=... in a libpq keyword string, and the user:password@ of a URI: scrubbed from messages.
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)


def describe(conninfo: str) -> str:
    """user@host:port/dbname: how messages name a PostgreSQL (never the password)."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "PostgreSQL (connection string not parseable)"
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = str(parts.get("port") or "5432")
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"{user}{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def scrub(text: str, conninfo: str = "") -> str:
    """`text` without the password of `conninfo` or any password-looking part."""
    text = _URI_PASSWORD.sub(r"\1***@", _KEYWORD_PASSWORD.sub(r"\1***", text))
    if conninfo:
        try:
            password = conninfo_to_dict(conninfo).get("password")
        except psycopg.ProgrammingError:
            password = None
        if password:
            text = text.replace(str(password), "***")
    return text


@dataclass(frozen=True)
class PostgresTarget:
    conninfo: str = field(repr=False)
    min_size: int = 1
    max_size: int = 4
    wait_seconds: float = 6.0  # the longest a caller waits for a pooled connection

    @property
    def where(self) -> str:
        return describe(self.conninfo)

    def fingerprint(self) -> str:
        raw = repr((self.conninfo, self.min_size, self.max_size))
        return hashlib.sha256(raw.encode()).hexdigest()


class PostgresFailure(Exception):
    """A PostgreSQL call failed; `reason` is a condition reason, `message` holds no secret."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


_AUTH = ("password authentication failed", "no password supplied", "authentication failed", "no pg_hba.conf")
_TLS = ("ssl", "certificate", "tls")


def classify(e: BaseException, where: str, conninfo: str = "") -> PostgresFailure:
    """The condition reason and message of a failure talking to `where`."""
    if isinstance(e, PostgresFailure):
        return e
    text = scrub(" ".join(str(e).split()), conninfo)[:600]
    lower = text.lower()
    if isinstance(e, PoolTimeout):
        return PostgresFailure("PostgresUnreachable", f"no connection to PostgreSQL at {where}: {text}")
    if isinstance(e, errors.QueryCanceled):
        return PostgresFailure(
            "StatementTimeout", f"PostgreSQL at {where} cancelled a statement (statementTimeoutMs?): {text}"
        )
    if isinstance(e, errors.InsufficientPrivilege):
        return PostgresFailure(
            "PermissionDenied",
            f"PostgreSQL at {where}: {text}; the user needs CREATE on the database (it creates one "
            "schema per collection)",
        )
    if isinstance(e, errors.InvalidCatalogName) or ("does not exist" in lower and "database" in lower):
        return PostgresFailure("DatabaseNotFound", f"PostgreSQL at {where}: {text}")
    if isinstance(e, errors.InvalidPassword | errors.InvalidAuthorizationSpecification) or any(
        a in lower for a in _AUTH
    ):
        return PostgresFailure(
            "AuthenticationFailed",
            f"PostgreSQL at {where} refused the credentials of the Secret: {text}; fix the user or "
            "password in the Secret",
        )
    if isinstance(e, psycopg.OperationalError) and any(t in lower for t in _TLS):
        return PostgresFailure(
            "TLSFailed", f"TLS to PostgreSQL at {where} failed: {text}; check sslmode and caSecretRef"
        )
    if isinstance(e, psycopg.OperationalError | OSError | asyncio.TimeoutError):
        return PostgresFailure("PostgresUnreachable", f"PostgreSQL at {where} cannot be reached: {text}")
    if isinstance(e, psycopg.Error):
        return PostgresFailure("PostgresError", f"PostgreSQL at {where}: {type(e).__name__}: {text}")
    return PostgresFailure("PostgresError", f"PostgreSQL at {where}: unexpected {type(e).__name__}: {text}")


@dataclass
class _Pooled:
    fingerprint: str
    pool: AsyncConnectionPool
    target: PostgresTarget
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class PostgresPools:
    """One pool per store key; a changed target replaces (and closes) the old pool, and a pool nobody
    asked for in `idle_seconds` (its store was deleted) is closed."""

    idle_seconds: float = 900.0
    observe: Callable[[str, float], None] | None = None  # (operation, seconds): the operator's metrics
    _pools: dict[str, _Pooled] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _ca_dir: Path | None = None
    _closed: bool = False  # after close(): no new pool (a pass still running as the operator stops)

    def ca_file(self, pem: str) -> str:
        """A 0600 file holding `pem` (libpq reads sslrootcert from a file), one per distinct bundle."""
        if self._ca_dir is None:
            self._ca_dir = Path(tempfile.mkdtemp(prefix="vectorops-pg-ca-"))  # mkdtemp: mode 0700
        path = self._ca_dir / f"{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(pem)
        return str(path)

    async def _get(self, key: str, target: PostgresTarget) -> AsyncConnectionPool:
        async with self._lock:
            if self._closed:
                raise PostgresFailure("OperatorStopping", "the operator is stopping; not connecting")
            await self._evict_idle(keep=key)
            pooled = self._pools.get(key)
            if pooled is not None and pooled.fingerprint == target.fingerprint():
                pooled.last_used = time.monotonic()
                return pooled.pool
            if pooled is not None:
                await pooled.pool.close(timeout=1.0)
            pool = AsyncConnectionPool(
                target.conninfo,
                min_size=target.min_size,
                max_size=target.max_size,
                open=False,
                timeout=target.wait_seconds,
                # a server restart breaks pooled connections: check each before handing it out
                check=AsyncConnectionPool.check_connection,
                kwargs={"autocommit": True},
                name=f"vectorops:{key}",
            )
            await pool.open(wait=False)  # never block a pass on the first connections
            self._pools[key] = _Pooled(target.fingerprint(), pool, target)
            return pool

    @asynccontextmanager
    async def connection(
        self, key: str, target: PostgresTarget, operation: str = "query"
    ) -> AsyncIterator[AsyncConnection]:
        """A pooled connection (autocommit; migrations open their own transactions). Raises
        PostgresFailure when none comes within target.wait_seconds, diagnosing why. The block's time,
        waiting for the connection included, is observed as `operation`."""
        started = time.perf_counter()
        pool = await self._get(key, target)
        try:
            async with pool.connection(timeout=target.wait_seconds) as conn:
                yield conn
        except PoolTimeout as e:
            raise await self._diagnose(target) from e
        except psycopg.Error as e:
            raise classify(e, target.where, target.conninfo) from e
        finally:
            if self.observe is not None:
                self.observe(operation, time.perf_counter() - started)

    def cached(self, key: str) -> PostgresTarget | None:
        """The target of the pool last used for `key`, if one is still open."""
        pooled = self._pools.get(key)
        return pooled.target if pooled is not None else None

    @asynccontextmanager
    async def cached_connection(self, key: str) -> AsyncIterator[AsyncConnection | None]:
        """A connection of the pool last used for `key` (its store may be gone), else None."""
        pooled = self._pools.get(key)
        if pooled is None:
            yield None
            return
        async with self.connection(key, pooled.target) as conn:
            yield conn

    @staticmethod
    async def _diagnose(target: PostgresTarget) -> PostgresFailure:
        """The pool only says it timed out; one direct attempt says why (refused, auth, TLS...)."""
        try:
            conn = await AsyncConnection.connect(target.conninfo)
        except Exception as e:
            return classify(e, target.where, target.conninfo)
        await conn.close()
        return PostgresFailure(  # it answers: every pooled connection was busy for the whole wait
            "PoolExhausted",
            f"PostgreSQL at {target.where} answers, but none of the pool's {target.max_size} connections was "
            f"free within {target.wait_seconds:g}s: raise spec.postgres.pool.maxSize",
        )

    async def probe(self, key: str, target: PostgresTarget) -> BackendProbe:
        try:
            async with self.connection(key, target, "probe") as conn:
                started = time.perf_counter()
                cur = await conn.execute("SHOW server_version")
                row = await cur.fetchone()
                latency = (time.perf_counter() - started) * 1000
        except Exception as e:
            failure = classify(e, target.where, target.conninfo)
            return BackendProbe(False, failure.reason, failure.message)
        version = str(row[0]) if row else "unknown"
        return BackendProbe(
            True, "Connected", f"PostgreSQL {version} at {target.where} answers", version, round(latency, 2)
        )

    async def _evict_idle(self, keep: str) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        for key in [k for k, p in self._pools.items() if p.last_used < cutoff and k != keep]:
            await self._pools.pop(key).pool.close(timeout=1.0)

    def __len__(self) -> int:
        return len(self._pools)

    async def close(self) -> None:
        async with self._lock:  # a pool being made now is in the dict before this runs
            self._closed = True
            for pooled in self._pools.values():
                await pooled.pool.close(timeout=1.0)
            self._pools.clear()
        if self._ca_dir is not None:
            shutil.rmtree(self._ca_dir, ignore_errors=True)
            self._ca_dir = None
