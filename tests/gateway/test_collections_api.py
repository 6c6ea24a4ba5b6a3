"""The collections API through the gateway app, on a real PostgreSQL, the Qdrant stand-in (a real HTTP
server), a real Redis and a fake embedding provider: ingest, search, delete, list, health, the search
cache, and every refusal naming what was wrong."""

from __future__ import annotations

import pytest

from tests.conftest import RedisServer
from tests.gateway.datapath_env import (
    ADMIN_KEY,
    DIM,
    KEYS,
    OTHER_KEY,
    READER_KEY,
    USER_KEY,
    Env,
    docs,
    gateway,
    oplog,
    qdrant_points,
    rows,
)
from vectorops.routing.collections import SecretKey


async def test_ingest_then_search_by_text_and_by_vector_with_the_text_joined(env: Env) -> None:
    b = await env.collection()
    async with gateway(env) as gw:
        status, answer = await gw.ingest(b.name, docs(20), key=USER_KEY)
        assert status == 200, answer
        assert answer["upserted"] == 20 and answer["unchanged"] == 0 and answer["batch_id"]
        assert [r[1] for r in await rows(env, b)] == ["committed"] * 20
        assert len(await qdrant_points(env, b)) == 20

        target = docs(20)[7]
        status, found = await gw.search(
            b.name, text=target["text"], limit=3, include_text=True, include_metadata=True
        )
        assert status == 200, found
        top = found["results"][0]
        assert top["id"] == "doc-7" and top["score"] > 0.999
        assert top["text"] == target["text"] and top["source"] == "file-7.txt"
        assert top["payload"] == {"topic": "rivers" if 7 % 8 == 0 else target["payload"]["topic"], "n": 7}
        assert top["model"] == "fake/e5" and top["model_revision"] == "r1"
        assert len(found["results"]) == 3 and found["cached"] is False

        # The same vector, from the embeddings API, through the vector form of the search.
        status, by_text = await gw.call("POST", "/v1/embeddings", {"model": "e5", "input": target["text"]})
        status, by_vector = await gw.search(b.name, vector=by_text["data"][0]["embedding"], limit=1)
        assert status == 200 and by_vector["results"][0]["id"] == "doc-7"

        # The operation log names the key by its Secret, never the key itself.
        log = await oplog(env, b)
        assert log[-1][:4] == ("upsert", 20, "user-key", "ok")
        assert not any(k in str(log) for k in KEYS)


async def test_re_ingesting_is_idempotent_and_counts_what_is_unchanged(env: Env) -> None:
    b = await env.collection()
    async with gateway(env) as gw:
        assert (await gw.ingest(b.name, docs(10)))[0] == 200
        calls = env.provider.count("/v1/embeddings")
        status, again = await gw.ingest(b.name, docs(10))
        assert status == 200 and again["upserted"] == 0 and again["unchanged"] == 10
        assert again["batch_id"] is None
        assert env.provider.count("/v1/embeddings") == calls  # nothing embedded again
        changed = docs(10)
        changed[3]["text"] = "A different text altogether."
        changed[4]["payload"] = {"topic": "other"}
        status, third = await gw.ingest(b.name, changed)
        assert third["upserted"] == 2 and third["unchanged"] == 8
        assert len(await rows(env, b)) == 10 and len(await qdrant_points(env, b)) == 10
        assert (await qdrant_points(env, b))["doc-4"]["topic"] == "other"


async def test_filters_and_payload_selection(env: Env) -> None:
    b = await env.collection()
    async with gateway(env) as gw:
        await gw.ingest(b.name, docs(16))
        only = {"must": [{"key": "topic", "match": {"value": "chess"}}]}
        status, found = await gw.search(b.name, text="chess", filter=only, limit=10)
        assert status == 200 and {r["id"] for r in found["results"]} == {"doc-3", "doc-11"}
        status, some = await gw.search(b.name, text="chess", with_payload=["n"], limit=2)
        assert all(set(r["payload"]) == {"n"} for r in some["results"])
        status, none = await gw.search(b.name, text="chess", with_payload=False, limit=2)
        assert all("payload" not in r and r["id"] for r in none["results"])
        status, far = await gw.search(b.name, text="chess", score_threshold=1.01)
        assert status == 200 and far["results"] == []


async def test_delete_by_ids_and_by_filter(env: Env) -> None:
    b = await env.collection()
    async with gateway(env) as gw:
        await gw.ingest(b.name, docs(16))
        status, gone = await gw.call(
            "DELETE", f"/v1/collections/{b.name}/points", {"ids": ["doc-1", "doc-2", "nope"]}
        )
        assert status == 200 and gone["deleted"] == 2
        only = {"must": [{"key": "topic", "match": {"value": "bread"}}]}
        status, gone = await gw.call("DELETE", f"/v1/collections/{b.name}/points", {"filter": only})
        assert status == 200 and gone["deleted"] == 1  # doc-2 (bread) was already gone: doc-10 left
        left = {r[0] for r in await rows(env, b)}
        assert left == set(await qdrant_points(env, b)) and len(left) == 13
        assert not {"doc-1", "doc-2", "doc-10"} & left
        assert [r[0] for r in await oplog(env, b)] == ["upsert", "delete", "delete"]


async def test_refusals_name_the_field_or_limit(env: Env) -> None:
    b = await env.collection()
    unavailable = await env.collection(unavailable="Qdrant collection is being created")
    no_schema = await env.collection(postgres=False, postgres_required=True)
    wide = await env.collection(dimension=16)
    async with gateway(env, ingest_max_documents=5, ingest_max_bytes=2048) as gw:
        requests_before = len(env.qdrant.state.requests)
        cases = [
            (await gw.ingest(b.name, docs(1), key=None), 401, "no API key"),
            (await gw.ingest(b.name, docs(1), key="vk-wrong"), 401, "valid API key"),
            (await gw.ingest("missing", docs(1)), 404, "no collection `missing`"),
            (await gw.ingest(b.name, docs(1), key=READER_KEY), 403, "may not write"),
            (await gw.ingest(b.name, docs(1), key=OTHER_KEY), 403, "may use the models chat only"),
            (await gw.ingest(b.name, docs(6)), 413, "ingest_max_documents=5"),
            (await gw.ingest(b.name, [{"id": "x", "text": "y" * 3000}]), 413, "ingest_max_bytes=2048"),
            (await gw.ingest(b.name, [{"id": "x", "text": " "}]), 400, "documents[0].text"),
            (
                await gw.ingest(b.name, [{"id": "x", "text": "a"}, {"id": "x", "text": "b"}]),
                400,
                "documents[1].id",
            ),
            (
                await gw.ingest(b.name, [{"id": "x", "text": "a", "payload": {"document_id": 1}}]),
                400,
                "reserved keys document_id",
            ),
            (await gw.ingest(b.name, docs(1), model="other-model"), 409, "model `other-model`"),
            (await gw.ingest(wide.name, docs(1)), 409, "vectors of 8 dimensions; collection"),
            (await gw.ingest(unavailable.name, docs(1)), 503, "being created"),
            (await gw.ingest(no_schema.name, docs(1)), 503, "requires its PostgreSQL schema"),
            (
                await gw.search(b.name, vector=[0.1] * 3),
                400,
                "vector has 3 dimensions; this collection's vectors have 8",
            ),
            (await gw.search(b.name, text="x", limit=0), 400, "limit must be an integer from 1 to 100"),
            (await gw.search(b.name, text="x", filter={"must": 3}), 400, "filter is not a Qdrant filter"),
            (await gw.search(b.name), 400, "exactly one of text"),
            (await gw.call("DELETE", f"/v1/collections/{b.name}/points", {}), 400, "exactly one of ids"),
            (
                await gw.call("GET", f"/v1/collections/{b.name}/consistency", key=USER_KEY),
                403,
                "not an admin key",
            ),
        ]
        for (status, body), expected, phrase in cases:
            assert status == expected, (phrase, body)
            assert phrase in body["error"]["message"], (phrase, body)
        # Nothing refused reached Qdrant, the dimension mismatch included.
        assert len(env.qdrant.state.requests) == requests_before
        assert await qdrant_points(env, wide) == {}


async def test_reader_keys_search_and_list_but_limited_keys_see_only_their_models(env: Env) -> None:
    b = await env.collection()
    async with gateway(env) as gw:
        await gw.ingest(b.name, docs(3))
        status, found = await gw.search(b.name, key=READER_KEY, text="bread")
        assert status == 200 and found["results"]
        status, listed = await gw.call("GET", "/v1/collections", key=READER_KEY)
        entry = next(c for c in listed["data"] if c["name"] == b.name)
        assert entry == {
            "name": b.name,
            "namespace": "ml",
            "model": "e5",
            "dimension": DIM,
            "distance": "Cosine",
            "available": True,
            "unavailable": None,
            "postgres": True,
            "postgres_required": False,
        }
        status, listed = await gw.call("GET", "/v1/collections", key=OTHER_KEY)
        assert status == 200 and listed["data"] == []


async def test_a_collection_without_postgres_keeps_its_text_in_qdrant(env: Env) -> None:
    b = await env.collection(postgres=False)
    async with gateway(env) as gw:
        status, answer = await gw.ingest(b.name, docs(5))
        assert status == 200 and answer["upserted"] == 5
        assert (await gw.ingest(b.name, docs(5)))[1]["unchanged"] == 5
        status, found = await gw.search(
            b.name, text=docs(5)[2]["text"], include_text=True, include_metadata=True, limit=1
        )
        assert (
            found["results"][0]["text"] == docs(5)[2]["text"]
            and found["results"][0]["source"] == "file-2.txt"
        )
        status, body = await gw.call("POST", f"/v1/collections/{b.name}/repair")
        assert status == 409 and "Qdrant is the only copy" in body["error"]["message"]


async def test_search_results_are_cached_until_a_write(env: Env, redis_server: RedisServer) -> None:
    env.redis_url = redis_server.url
    b = await env.collection()
    async with gateway(env) as gw:
        await gw.ingest(b.name, docs(8))
        query = {"text": "bread and comets", "limit": 5, "include_text": True}
        first = (await gw.search(b.name, **query))[1]
        embeds, qdrant_calls = env.provider.count("/v1/embeddings"), len(env.qdrant.state.requests)
        second = (await gw.search(b.name, **{**query, "text": "  bread and  comets "}))[1]
        assert first["cached"] is False and second["cached"] is True
        assert second["results"] == first["results"]
        assert (
            env.provider.count("/v1/embeddings") == embeds and len(env.qdrant.state.requests) == qdrant_calls
        )
        status, answer = await gw.ingest(b.name, docs(1, prefix="new"))
        assert answer["generation"] == 2  # one bump per acknowledged write
        third = (await gw.search(b.name, **query))[1]
        assert third["cached"] is False
        status, stats = await gw.call("GET", "/cache/stats")
        assert stats["search"]["hits"] == 1 and stats["search"]["misses"] == 2
        assert (
            gw.metrics.registry.get_sample_value(
                "vectorops_gateway_search_cache_lookups_total", {"outcome": "hit"}
            )
            == 1
        )

        redis_server.stop()  # Redis gone: searches still answer, uncached
        for _ in range(2):
            status, found = await gw.search(b.name, **query)
            assert status == 200 and found["cached"] is False and found["results"] == third["results"]
        status, health = await gw.call("GET", "/health/database")
        assert status == 503 and health["redis"]["ok"] is False
        assert health["collections"][b.name] == {"qdrant": {"ok": True}, "postgres": {"ok": True}}


async def test_health_names_the_store_that_is_unreachable(env: Env) -> None:
    good = await env.collection()
    bad = await env.collection()
    env.bindings[bad.name] = bad.model_copy(
        update={"qdrant": bad.qdrant.model_copy(update={"url": "http://127.0.0.1:9", "timeout_s": 1})}
    )
    async with gateway(env, health_timeout_seconds=1.5) as gw:
        status, health = await gw.call("GET", "/health/database", key=READER_KEY)
        assert status == 503
        assert health["collections"][good.name]["qdrant"] == {"ok": True}
        assert health["collections"][bad.name]["qdrant"]["ok"] is False
        assert "Qdrant unavailable" in health["collections"][bad.name]["qdrant"]["error"]
        assert env.pg.dsn not in str(health)
        status, _ = await gw.call("GET", "/health/database", key=USER_KEY)
        assert status == 403
        del env.bindings[bad.name]
    async with gateway(env) as gw:
        status, health = await gw.call("GET", "/health/database")
        assert status == 200 and health["ok"] is True


async def test_the_consistency_check_of_a_clean_collection(env: Env) -> None:
    b = await env.collection()
    async with gateway(env) as gw:
        await gw.ingest(b.name, docs(12))
        status, check = await gw.call("GET", f"/v1/collections/{b.name}/consistency", key=ADMIN_KEY)
        assert status == 200 and check["consistent"] is True
        assert check["postgres"]["committed"] == 12 and check["qdrant"]["points"] == 12


async def test_a_failing_model_writes_nothing(env: Env) -> None:
    b = await env.collection()
    async with gateway(env) as gw:
        requests_before = len(env.qdrant.state.requests)
        env.provider.fail_next(4, status=500)
        status, body = await gw.ingest(b.name, docs(3))
        assert status == 502 and "every backend of `e5` failed" in body["error"]["message"], body
        assert await rows(env, b) == []
        assert [r for r in env.qdrant.state.requests[requests_before:] if r[0] == "PUT"] == []
        env.provider.reset()
        status, answer = await gw.ingest(b.name, docs(3))
        assert status == 200 and answer["upserted"] == 3


async def test_a_malformed_dsn_is_named_by_its_secret_and_never_shown(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    b = await env.collection()
    assert b.postgres is not None
    env.bindings[b.name] = b.model_copy(
        update={"postgres": b.postgres.model_copy(update={"dsn": SecretKey(secret="bad-pg", key="dsn")})}
    )
    env.credentials[("bad-pg", "dsn")] = "host=db password=hunter2-secret oops"
    async with gateway(env) as gw:
        status, body = await gw.ingest(b.name, docs(1))
        assert status == 503 and "Secret bad-pg key 'dsn' is not valid" in body["error"]["message"]
        status, health = await gw.call("GET", "/health/database")
        assert status == 503
    assert "hunter2" not in str(body) + str(health) + caplog.text
