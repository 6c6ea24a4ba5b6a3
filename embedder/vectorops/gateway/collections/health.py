"""GET /health/database: can this replica reach every collection's stores and the cache's Redis? One
cheap call each (Qdrant: does the collection exist; PostgreSQL: SELECT 1; Redis: PING), all at once,
each bounded by health_timeout_seconds. Failures say which store and why, never a DSN or a key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from vectorops.gateway.collections.errors import DataPathError
from vectorops.gateway.snapshot import Snapshot

if TYPE_CHECKING:
    from vectorops.gateway.collections.service import CollectionsService


async def _check(call: Awaitable[Any], limit_s: float) -> dict[str, Any]:
    try:
        await asyncio.wait_for(call, limit_s)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {limit_s:g} s"}
    except DataPathError as e:
        return {"ok": False, "error": e.message}
    except Exception as e:  # Redis and psycopg errors: the type says enough, the text may hold a host
        return {"ok": False, "error": type(e).__name__}
    return {"ok": True}


async def _select_one(service: CollectionsService, snapshot: Snapshot, name: str) -> None:
    binding = snapshot.collections[name]
    pg = service.store(snapshot, binding).pg
    assert pg is not None
    async with pg.connection("health check") as conn:
        await conn.execute("SELECT 1")


async def database_health(service: CollectionsService, snapshot: Snapshot) -> dict[str, Any]:
    timeout = service.settings.health_timeout_seconds
    names, calls = [], []
    for name, binding in sorted(snapshot.collections.items()):
        try:
            store = service.store(snapshot, binding)
        except DataPathError as e:  # a Secret missing or unusable: neither store can be tried
            names.append((name, "store"))
            calls.append(_check(_raise(e), timeout))
            continue
        names.append((name, "qdrant"))
        calls.append(_check(store.points.ping(), timeout))
        if binding.postgres is not None:
            names.append((name, "postgres"))
            calls.append(_check(_select_one(service, snapshot, name), timeout))
    redis_check = _check(service.cache.ping(), timeout) if service.cache.location else None
    answers = await asyncio.gather(*calls, *([redis_check] if redis_check else []))
    collections: dict[str, dict[str, Any]] = {}
    for (name, what), answer in zip(names, answers, strict=False):
        collections.setdefault(name, {})[what] = answer
    redis = answers[-1] if redis_check else {"ok": True, "configured": False}
    ok = redis["ok"] and all(a["ok"] for c in collections.values() for a in c.values())
    return {"ok": ok, "collections": collections, "redis": redis}


async def _raise(e: DataPathError) -> None:
    raise e
