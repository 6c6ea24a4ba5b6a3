"""The write protocol under failures: a store failing between the writes (injected, and real: the Qdrant
stand-in and PostgreSQL actually stopped mid-ingest) gets the client a 503 naming the store; afterwards
the repair pass, or the client's retry, leaves PostgreSQL and Qdrant equal, and no acknowledged document
is missing from either."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from qdrant_client import AsyncQdrantClient, models

from tests.gateway.datapath_env import Env, Gateway, docs, gateway, oplog, qdrant_points, rows
from vectorops.datastore import documents as db
from vectorops.gateway.collections.errors import QdrantUnavailable
from vectorops.gateway.collections.qdrant import QdrantPoints
from vectorops.gateway.collections.repair import repair_lock_key
from vectorops.routing.collections import CollectionBinding


async def check(gw: Gateway, b: CollectionBinding) -> dict[str, Any]:
    status, answer = await gw.call("GET", f"/v1/collections/{b.name}/consistency")
    assert status == 200, answer
    return answer


async def acknowledged_everywhere(env: Env, b: CollectionBinding, acknowledged: set[str]) -> None:
    committed = {r[0] for r in await rows(env, b, "committed")}
    points = await qdrant_points(env, b)
    assert acknowledged <= committed, acknowledged - committed
    assert acknowledged <= set(points), acknowledged - set(points)


async def test_qdrant_failing_at_the_upsert_leaves_pending_rows_that_repair_completes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = await env.collection()
    async with gateway(env, repair_grace_seconds=0.01) as gw:
        assert (await gw.ingest(b.name, docs(5)))[0] == 200

        async def down(self: QdrantPoints, points: Any) -> None:
            raise QdrantUnavailable("Qdrant unavailable (upsert on collection x: ConnectError)")

        with monkeypatch.context() as m:
            m.setattr(QdrantPoints, "upsert", down)
            status, body = await gw.ingest(b.name, docs(5, start=5))
        assert status == 503 and "Qdrant unavailable" in body["error"]["message"]
        assert len(await rows(env, b, "pending")) == 5
        assert (await oplog(env, b))[-1][3] == "failed"
        before = await check(gw, b)
        assert before["unfinished"] == 5 and before["consistent"] is False

        await asyncio.sleep(0.05)
        status, report = await gw.call("POST", f"/v1/collections/{b.name}/repair")
        assert status == 200 and report["reembedded"] == 5 and report["committed"] == 0
        after = await check(gw, b)
        assert after["consistent"] is True and after["qdrant"]["points"] == 10
        assert (await oplog(env, b))[-1][0] == "repair"
        await acknowledged_everywhere(env, b, {f"doc-{i}" for i in range(5)})


async def test_postgres_failing_at_the_commit_leaves_points_that_repair_commits_without_embedding(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = await env.collection()
    async with gateway(env, repair_grace_seconds=0.01) as gw:

        async def down(*args: Any) -> int:
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        with monkeypatch.context() as m:
            m.setattr(db, "commit_batch", down)
            status, body = await gw.ingest(b.name, docs(6))
        assert status == 503 and body["error"]["message"].startswith("PostgreSQL unavailable")
        assert len(await qdrant_points(env, b)) == 6 and len(await rows(env, b, "pending")) == 6
        # A pending row is not acknowledged: a joined search does not serve it.
        status, found = await gw.search(b.name, text=docs(6)[0]["text"], include_text=True)
        assert status == 200 and found["results"] == []

        embeds = env.provider.count("/v1/embeddings")
        await asyncio.sleep(0.05)
        status, report = await gw.call("POST", f"/v1/collections/{b.name}/repair")
        assert report["committed"] == 6 and report["reembedded"] == 0
        assert env.provider.count("/v1/embeddings") == embeds
        assert (await check(gw, b))["consistent"] is True


async def test_the_clients_retry_completes_a_batch_that_failed(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = await env.collection()
    async with gateway(env) as gw:

        async def down(self: QdrantPoints, points: Any) -> None:
            raise QdrantUnavailable("Qdrant unavailable (upsert)")

        with monkeypatch.context() as m:
            m.setattr(QdrantPoints, "upsert", down)
            assert (await gw.ingest(b.name, docs(4)))[0] == 503
        status, answer = await gw.ingest(b.name, docs(4))
        assert status == 200 and answer["upserted"] == 4 and answer["unchanged"] == 0
        assert (await check(gw, b))["consistent"] is True


async def test_the_qdrant_stand_in_stopped_mid_ingest(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Qdrant really goes away between the PostgreSQL write and the upsert (step 2 -> 3)."""
    b = await env.collection()
    acknowledged: set[str] = set()
    async with gateway(env, repair_grace_seconds=0.01) as gw:
        status, _ = await gw.ingest(b.name, docs(3))
        acknowledged |= {d["id"] for d in docs(3)}
        real_begin = db.begin_batch

        async def begin_then_stop_qdrant(*args: Any) -> list[str]:
            done = await real_begin(*args)
            await asyncio.to_thread(env.qdrant.stop)
            return done

        monkeypatch.setattr(db, "begin_batch", begin_then_stop_qdrant)
        try:
            status, body = await gw.ingest(b.name, docs(3, start=3))
        finally:
            monkeypatch.undo()
            await asyncio.to_thread(env.qdrant.start)
        assert status == 503 and "Qdrant unavailable" in body["error"]["message"], body
        await asyncio.sleep(0.05)
        status, report = await gw.call("POST", f"/v1/collections/{b.name}/repair")
        assert status == 200 and report["reembedded"] == 3
        assert (await check(gw, b))["consistent"] is True
        await acknowledged_everywhere(env, b, acknowledged)


async def test_postgresql_stopped_then_back(env: Env) -> None:
    """PostgreSQL really stops: ingest is refused before anything is written, health says so, and
    writes work again once it is back (the pool reconnects by itself)."""
    b = await env.collection()
    async with gateway(env) as gw:
        assert (await gw.ingest(b.name, docs(2)))[0] == 200
        await asyncio.to_thread(env.pg.stop, True)  # keep_data: resumed below
        try:
            requests_before = len(env.qdrant.state.requests)
            status, body = await gw.ingest(b.name, docs(2, start=2))
            assert status == 503 and body["error"]["message"].startswith("PostgreSQL unavailable"), body
            assert env.pg.dsn not in str(body)
            # Nothing was written to Qdrant (the refusal came before any write).
            assert [r for r in env.qdrant.state.requests[requests_before:] if r[0] == "PUT"] == []
            status, health = await gw.call("GET", "/health/database")
            assert status == 503 and health["collections"][b.name]["postgres"]["ok"] is False
        finally:
            await asyncio.to_thread(env.pg.resume)
        for _ in range(50):  # the pool notices the restart on its next checks
            status, answer = await gw.ingest(b.name, docs(2, start=2))
            if status == 200:
                break
            await asyncio.sleep(0.2)
        assert status == 200 and answer["upserted"] == 2
        assert (await check(gw, b))["consistent"] is True


async def test_repair_leaves_young_rows_to_their_writer_and_takes_turns_by_lock(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = await env.collection()
    assert b.postgres is not None
    async with gateway(env, repair_grace_seconds=3600) as gw:

        async def down(self: QdrantPoints, points: Any) -> None:
            raise QdrantUnavailable("Qdrant unavailable (upsert)")

        with monkeypatch.context() as m:
            m.setattr(QdrantPoints, "upsert", down)
            await gw.ingest(b.name, docs(2))
        status, report = await gw.call("POST", f"/v1/collections/{b.name}/repair")
        assert status == 200 and report["reembedded"] == 0 and report["committed"] == 0
        assert len(await rows(env, b, "pending")) == 2  # within the grace period: untouched

    async with gateway(env, repair_grace_seconds=0.01) as gw:
        async with await psycopg.AsyncConnection.connect(env.pg.dsn, autocommit=True) as other:
            await other.execute("SELECT pg_advisory_lock(%s)", (repair_lock_key(b.postgres.schema_name),))
            status, report = await gw.call("POST", f"/v1/collections/{b.name}/repair")
            assert status == 200 and report["locked"] is False and report["reembedded"] == 0
        status, report = await gw.call("POST", f"/v1/collections/{b.name}/repair")
        assert report["locked"] is True and report["reembedded"] == 2


async def test_the_background_repair_finishes_unfinished_deletes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = await env.collection()
    async with gateway(env, repair_grace_seconds=0.01, repair_interval_seconds=0.2) as gw:
        await gw.ingest(b.name, docs(4))

        async def down(self: QdrantPoints, ids: Any) -> None:
            raise QdrantUnavailable("Qdrant unavailable (delete)")

        with monkeypatch.context() as m:
            m.setattr(QdrantPoints, "delete", down)
            status, _ = await gw.call(
                "DELETE", f"/v1/collections/{b.name}/points", {"ids": ["doc-0", "doc-1"]}
            )
        assert status == 503 and len(await rows(env, b, "deleting")) == 2
        for _ in range(50):
            if not await rows(env, b, "deleting"):
                break
            await asyncio.sleep(0.1)
        assert {r[0] for r in await rows(env, b)} == {"doc-2", "doc-3"} == set(await qdrant_points(env, b))
        assert (await check(gw, b))["consistent"] is True


async def test_a_gateway_killed_between_qdrant_and_the_commit_is_completed_by_the_next(
    env: Env, tmp_path: Any
) -> None:
    """A real gateway process, paused (test setting) after the Qdrant upsert, is SIGKILLed there; the
    client never got an answer, the rows are pending and Qdrant has the points. Another process's
    background repair commits them."""
    import aiohttp

    from tests.gateway import static_gateway
    from tests.gateway.datapath_env import ADMIN_KEY
    from tests.processes import wait_until_ok
    from vectorops.devtools.controlplane import free_port

    b = await env.collection()
    first_port = free_port()
    first = static_gateway.start(
        env.snapshot(),
        tmp_path,
        first_port,
        test_pause_after_qdrant_seconds="60",
        repair_interval_seconds="0",
    )
    url = f"http://127.0.0.1:{first_port}"
    try:
        await asyncio.to_thread(
            wait_until_ok, f"{url}/readyz", first, tmp_path / f"gateway-{first_port}.log", 60, "gateway"
        )
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with aiohttp.ClientSession() as http:
            sent = asyncio.ensure_future(
                http.post(
                    f"{url}/v1/collections/{b.name}/points", json={"documents": docs(8)}, headers=headers
                )
            )
            for _ in range(200):  # step 3 done: every point is in Qdrant
                if len(await qdrant_points(env, b)) == 8:
                    break
                await asyncio.sleep(0.05)
            first.kill()
            first.wait(10)
            with pytest.raises(aiohttp.ClientError):
                await sent
    finally:
        if first.poll() is None:
            first.kill()
    assert len(await rows(env, b, "pending")) == 8 and len(await qdrant_points(env, b)) == 8

    second_port = free_port()
    second = static_gateway.start(
        env.snapshot(), tmp_path, second_port, repair_grace_seconds="0.5", repair_interval_seconds="0.3"
    )
    try:
        await asyncio.to_thread(
            wait_until_ok,
            f"http://127.0.0.1:{second_port}/readyz",
            second,
            tmp_path / f"gateway-{second_port}.log",
            60,
            "gateway",
        )
        for _ in range(100):
            if len(await rows(env, b, "committed")) == 8:
                break
            await asyncio.sleep(0.1)
        assert len(await rows(env, b, "committed")) == 8
        log = await oplog(env, b)
        assert log[-1][0] == "repair" and "committed=8 reembedded=0" in log[-1][4]
    finally:
        second.terminate()
        second.wait(30)


async def test_postgresql_stopped_between_the_upsert_and_the_commit(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL really goes away after Qdrant took the points (step 3 -> 4): 503, the points are in
    Qdrant and the rows pending; once it is back, the repair pass commits them without embedding."""
    b = await env.collection()
    real_upsert = QdrantPoints.upsert

    async def upsert_then_stop_postgres(self: QdrantPoints, points: Any) -> None:
        await real_upsert(self, points)
        await asyncio.to_thread(env.pg.stop, True)  # keep_data: resumed below

    async with gateway(env, repair_grace_seconds=0.01) as gw:
        monkeypatch.setattr(QdrantPoints, "upsert", upsert_then_stop_postgres)
        try:
            status, body = await gw.ingest(b.name, docs(5))
        finally:
            monkeypatch.undo()
            await asyncio.to_thread(env.pg.resume)
        assert status == 503 and body["error"]["message"].startswith("PostgreSQL unavailable"), body
        assert len(await qdrant_points(env, b)) == 5 and len(await rows(env, b, "pending")) == 5
        embeds = env.provider.count("/v1/embeddings")
        for _ in range(50):  # the pool reconnects on its own
            status, report = await gw.call("POST", f"/v1/collections/{b.name}/repair")
            if status == 200:
                break
            await asyncio.sleep(0.2)
        assert status == 200 and report["committed"] == 5 and report["reembedded"] == 0
        assert env.provider.count("/v1/embeddings") == embeds
        assert (await check(gw, b))["consistent"] is True


async def test_re_sending_documents_restores_points_qdrant_lost(env: Env) -> None:
    """A Qdrant collection emptied behind our back (a drift repair recreates it empty, a restore):
    re-sending the documents writes them again, though PostgreSQL holds them committed and unchanged."""
    b = await env.collection()
    async with gateway(env) as gw:
        assert (await gw.ingest(b.name, docs(4)))[0] == 200
        client = AsyncQdrantClient(url=env.qdrant.url, check_compatibility=False)
        try:
            await client.delete(b.qdrant.collection, models.Filter(must=[]), wait=True)
        finally:
            await client.close()
        assert (await check(gw, b))["missing_in_qdrant"] == 4
        status, answer = await gw.ingest(b.name, docs(4))
        assert status == 200 and (answer["upserted"], answer["unchanged"]) == (4, 0), answer
        assert (await check(gw, b))["consistent"] is True
        status, answer = await gw.ingest(b.name, docs(4))  # now truly unchanged
        assert (answer["upserted"], answer["unchanged"]) == (0, 4), answer


async def test_repair_only_finishes_the_batch_it_read(env: Env) -> None:
    """Between the repair pass reading an unfinished row and finishing it, a new ingest may take the row
    under its own batch: the repair must neither commit that batch's row nor delete its new point."""
    b = await env.collection()
    assert b.postgres is not None
    schema = b.postgres.schema_name
    async with gateway(env) as gw:
        assert (await gw.ingest(b.name, docs(2)))[0] == 200
        async with await psycopg.AsyncConnection.connect(env.pg.dsn, autocommit=True) as conn:
            cur = await conn.execute(
                psycopg.sql.SQL("SELECT point_id, batch_id FROM {}.documents ORDER BY document_id").format(
                    psycopg.sql.Identifier(schema)
                )
            )
            (p0, b0), (p1, b1) = await cur.fetchall()
            newer = uuid.uuid4()
            await conn.execute(
                psycopg.sql.SQL(
                    "UPDATE {}.documents SET state = 'pending', batch_id = %s WHERE point_id = %s"
                ).format(psycopg.sql.Identifier(schema)),
                (newer, p0),
            )
            await conn.execute(
                psycopg.sql.SQL(
                    "UPDATE {}.documents SET state = 'deleting', batch_id = %s WHERE point_id = %s"
                ).format(psycopg.sql.Identifier(schema)),
                (newer, p1),
            )
            # What the repair read earlier: the rows under their old batches.
            assert await db.commit_points(conn, schema, [(p0, b0)]) == 0
            assert await db.still_deleting(conn, schema, [(p1, b1)]) == []
            assert await db.delete_points(conn, schema, [(p1, b1)]) == 0
            # Under the batch that holds them now, they are finished.
            assert await db.commit_points(conn, schema, [(p0, newer)]) == 1
            assert await db.still_deleting(conn, schema, [(p1, newer)]) == [p1]
            assert await db.delete_points(conn, schema, [(p1, newer)]) == 1
