"""Gateway overhead: the same embedding call made directly to a backend, through our gateway and through
LiteLLM's proxy, side by side in one run, on loopback.

Four kinds of process, as a deployment would have them (this script is the client):
- the backend: the FakeProvider (vectorops.devtools.fake_provider, an OpenAI-compatible double) in a
  process of its own, 384-dimensional vectors, its key required; the vector of a text is memoised
  (every call sends the same text), so the backend costs its HTTP and JSON only;
- our gateway: `create_app` with a StaticSource holding a one-route table (`bench-embed` -> the backend,
  with the provider's key from the snapshot's credentials), served by `web.run_app` in a process of its
  own (this script with `--role gateway`), access log off as in `vectorops gateway`;
- a relay: a TCP byte pipe on uvloop (this script with `--role relay`), one backend connection per client
  connection, parsing nothing: what it adds is the floor any proxy process adds here (one more process
  and two more loopback hops), so `gateway_above_relay_p50_ms` is what the gateway itself costs;
- LiteLLM's proxy (vectorops.devtools.peers_litellm: pinned, in its own cached venv, uvicorn + uvloop,
  one worker, no database, UI, telemetry or remote fetches), with the same route: `bench-embed` ->
  `openai/fake-embedding` at the backend's URL with the provider's key.

Auth (`--auth`, default `key`): the client sends one API key to each: to the gateway a key of its
snapshot (a Grant without limits), to LiteLLM its fixed master key, directly the provider's key. With
`--auth none` the gateway runs with auth "none" and LiteLLM without a master key.

Each request is one short text (`input` a string, vectors as floats). At 1 and 64 concurrent clients
(one aiohttp session per run, keep-alive connections opened by an untimed warm-up, the same client code
for every target, aiohttp's default headers: `Accept-Encoding: gzip, deflate`, as the openai SDK sends,
which LiteLLM answers gzipped and our gateway plainly), a fixed number of requests per run; rounds
alternate the targets (the order rotates each round) because this machine's speed drifts. Each figure
is its best round (lowest p50, lowest p99, highest requests/s); overhead = target - direct, of the best
rounds, and also the median over rounds of the same round's difference. CPU per request of each
process comes from /proc over the timed runs.

Then the gateway is profiled with cProfile (stdlib) for one more 1-client run (switched on and off by
signals, so the warm-up is not in it), and the top costs are printed.

    .venv/bin/python benchmarks/gateway.py [--quick] [--rounds 5] [--requests-1 500] [--requests-64 2000]
                                           [--auth key|none] [--no-litellm] [--no-profile]

The last line is one JSON object. Unsuffixed figures are at 1 client, `_64` ones at 64 clients.
Client, backend and proxy share this machine's cores, so requests/s at 64 clients is bounded by the sum
of their CPU per request; the CPU figures say how much of it each process takes. Run it on a quiet
machine: it measures how busy the CPUs were before it started and warns when they were.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from vectorops.devtools.controlplane import free_port
from vectorops.devtools.fake_provider import FakeProvider

MODEL = "bench-embed"  # the route's name at the gateway and at LiteLLM
UPSTREAM_MODEL = "fake-embedding"  # the backend's name for it
DIMENSION = 384
TEXT = "How do I rotate the API key of an external model endpoint?"
PROVIDER_KEY = "sk-bench-provider-7d1f0c2a"
CLIENT_KEY = "vk-bench-client-2b9e4471"
MASTER_KEY = "sk-bench-litellm-5c0e9a3f1b7d42e68a90c4f2d1e3b5a7"  # fixed, not a publicly known one
TARGETS = ("direct", "relay", "gateway", "litellm")
CLIENTS = (1, 64)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the backend and the gateway, each run as `python benchmarks/gateway.py --role ...` ----------------------
class _MemoProvider(FakeProvider):
    """The FakeProvider with its vectors memoised: the benchmark sends one text, and a gauss draw per
    dimension per request would make the backend, not the gateways, the cost under test."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._memo: dict[tuple[str, str, int], list[float]] = {}

    def _vector(self, model: str, text: str, dims: int) -> list[float]:
        key = (model, text, dims)
        vector = self._memo.get(key)
        if vector is None:
            vector = self._memo[key] = super()._vector(model, text, dims)
        return vector


def serve_backend(port: int) -> None:
    provider = _MemoProvider(port=port, api_key=PROVIDER_KEY, models=(UPSTREAM_MODEL,), dimension=DIMENSION)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    provider.start()
    stop.wait()
    provider.stop()


def serve_gateway(port: int, spec: dict[str, Any]) -> None:
    """Our gateway as `vectorops gateway` serves it (its `run`: uvloop, no access log), with a StaticSource.
    SIGUSR1 starts cProfile, SIGUSR2 stops it and writes the stats to spec["profile"]."""
    import cProfile

    from aiohttp import web

    from vectorops.gateway.app import create_app, run
    from vectorops.gateway.settings import GatewaySettings
    from vectorops.gateway.snapshot import Grant, Role, Snapshot
    from vectorops.gateway.source import StaticSource
    from vectorops.routing.table import Backend, Capability, CredentialRef, Route, RouteTable, VectorIdentity

    backend = Backend(
        source="ExternalModelEndpoint/fake-provider",
        url=spec["backend"],
        upstream_model=UPSTREAM_MODEL,
        credential=CredentialRef(secret="fake-provider", key="token"),
        identity=VectorIdentity(model="fake/bench", dimension=DIMENSION, normalized=True),
    )
    table = RouteTable(
        namespace="bench",
        routes=(Route(model=MODEL, capability=Capability.EMBEDDINGS, backends=(backend,)),),
    )
    keys = {CLIENT_KEY: Grant("bench-client", Role.USER, None)} if spec["auth"] == "keys" else {}
    snapshot = Snapshot(table, {("fake-provider", "token"): PROVIDER_KEY}, keys)
    settings = GatewaySettings(  # no cache: one text is sent again and again, and the proxy is measured
        namespace="bench", auth=spec["auth"], host="127.0.0.1", port=port, cache_lru_entries=0
    )
    app = create_app(settings, StaticSource(snapshot))
    profiler = cProfile.Profile()
    out = Path(spec["profile"])

    def dump() -> None:
        profiler.disable()
        profiler.dump_stats(str(out.with_suffix(".tmp")))
        out.with_suffix(".tmp").replace(out)

    async def profiling(app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
        loop.add_signal_handler(signal.SIGUSR2, dump)

    app.on_startup.append(profiling)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(app, "127.0.0.1", port)  # as `vectorops gateway` serves it (its event loop included)


def serve_relay(port: int, spec: dict[str, Any]) -> None:
    """The floor of any proxy process on this machine: a TCP relay on uvloop that pairs each client
    connection with one backend connection and copies bytes both ways, parsing nothing (so it can do
    nothing a gateway must: no routing, no auth, no key injection). What it adds to the direct path is
    the cost of one more process and two more loopback hops, which no gateway can go below."""
    import uvloop

    backend = urllib.parse.urlsplit(spec["backend"])
    host, backend_port = backend.hostname or "127.0.0.1", backend.port or 80

    class Upstream(asyncio.Protocol):
        def __init__(self, client: asyncio.Transport) -> None:
            self.client = client

        def data_received(self, data: bytes) -> None:
            self.client.write(data)

        def connection_lost(self, exc: Exception | None) -> None:
            self.client.close()

    class Client(asyncio.Protocol):
        upstream: asyncio.Transport | None = None
        transport: asyncio.Transport
        closed = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]  # uvloop's is not asyncio's class
            self.early: list[bytes] = []  # what arrives before the backend connection is open
            self.connecting = asyncio.get_running_loop().create_task(self._connect())

        async def _connect(self) -> None:
            loop = asyncio.get_running_loop()
            try:
                upstream, _ = await loop.create_connection(
                    lambda: Upstream(self.transport), host, backend_port
                )
            except OSError:
                self.transport.close()  # no backend: the client sees its connection closed
                return
            if self.closed:  # the client left while we connected
                upstream.close()
                return
            self.upstream = upstream  # type: ignore[assignment]
            for data in self.early:
                upstream.write(data)

        def data_received(self, data: bytes) -> None:
            if self.upstream is None:
                self.early.append(data)
            else:
                self.upstream.write(data)

        def connection_lost(self, exc: Exception | None) -> None:
            self.closed = True
            if self.upstream is not None:
                self.upstream.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Client, "127.0.0.1", port)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()

    uvloop.run(main())


# -- processes ----------------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    root: str  # http://127.0.0.1:port
    log: Path

    def wait(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"the {self.name} exited with {self.proc.returncode}:\n{tail(self.log)}")
            try:
                with urllib.request.urlopen(f"{self.root}{path}", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"the {self.name} did not answer {path} in {timeout} s:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_role(role: str, work: Path, spec: dict[str, Any] | None = None) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECTOROPS_GATEWAY_")}
    log = work / f"{role}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--role", role, "--port", str(port)]
    if spec is not None:
        command += ["--spec", json.dumps(spec)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Server(role, proc, f"http://127.0.0.1:{port}", log)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy(seconds: float = 2.0) -> float:
    """The share of all CPUs busy over `seconds` (from /proc/stat): other load skews every figure."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# -- the client ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    name: str
    url: str  # the embeddings endpoint
    model: str
    headers: dict[str, str]
    pid: int | None  # the proxy's process (None: direct)

    def body(self) -> bytes:
        return json.dumps({"model": self.model, "input": TEXT}).encode()


@dataclass
class Run:
    target: str
    clients: int
    requests: int
    latencies: list[float]  # seconds, sorted
    seconds: float
    errors: int
    cpu: dict[str, float]  # process -> CPU seconds over the timed run

    def pct(self, q: float) -> float:
        """The q-th percentile (nearest rank), in ms."""
        rank = max(1, math.ceil(q / 100 * len(self.latencies)))
        return self.latencies[rank - 1] * 1000

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p99(self) -> float:
        return self.pct(99)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def cpu_us(self, process: str) -> float:
        return self.cpu.get(process, 0.0) / self.requests * 1e6


async def _drive(
    session: aiohttp.ClientSession, target: Target, clients: int, n: int, latencies: list[float] | None
) -> int:
    """n requests from `clients` concurrent workers; returns the number that failed."""
    left, errors, body, url = n, 0, target.body(), target.url
    headers = {"Content-Type": "application/json", **target.headers}

    async def worker() -> None:
        nonlocal left, errors
        while left > 0:
            left -= 1
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                ok = r.status == 200
            if latencies is not None:
                latencies.append(time.perf_counter() - started)
            errors += not ok

    await asyncio.gather(*(worker() for _ in range(clients)))
    return errors


async def measure(
    target: Target,
    clients: int,
    n: int,
    pids: dict[str, int],
    around: tuple[Callable[[], None], Callable[[], None]] | None = None,
) -> Run:
    """One run: an untimed warm-up that opens every keep-alive connection the run will use, then n
    timed requests; `around` is called just before and just after the timed part."""
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _drive(session, target, clients, max(2 * clients, 20), None)
        if around is not None:
            around[0]()
        before = {p: cpu_seconds(pid) for p, pid in pids.items()} | {"client": own_cpu_seconds()}
        latencies: list[float] = []
        started = time.perf_counter()
        errors = await _drive(session, target, clients, n, latencies)
        seconds = time.perf_counter() - started
        after = {p: cpu_seconds(pid) for p, pid in pids.items()} | {"client": own_cpu_seconds()}
        if around is not None:
            around[1]()
    cpu = {p: after[p] - before[p] for p in before}
    return Run(target.name, clients, n, sorted(latencies), seconds, errors, cpu)


def processes_of(target: Target, backend_pid: int) -> dict[str, int]:
    pids = {"backend": backend_pid}
    if target.pid is not None:
        pids["proxy"] = target.pid
    return pids


def overhead_metric(gateway_root: str) -> tuple[float, float]:
    """(sum, count) of the gateway's own vectorops_gateway_overhead_seconds for embeddings."""
    total = count = 0.0
    with urllib.request.urlopen(f"{gateway_root}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('vectorops_gateway_overhead_seconds_sum{api="embeddings"}'):
                total = float(line.rsplit(" ", 1)[1])
            elif line.startswith('vectorops_gateway_overhead_seconds_count{api="embeddings"}'):
                count = float(line.rsplit(" ", 1)[1])
    return total, count


def sanity(targets: list[Target]) -> None:
    """One call to each: 200, 384 floats, the same vector everywhere."""
    vectors = {}
    for t in targets:
        req = urllib.request.Request(
            t.url,
            data=t.body(),
            headers={"Content-Type": "application/json", "Accept-Encoding": "identity", **t.headers},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                answer = json.loads(r.read())
        except urllib.error.HTTPError as e:
            sys.exit(f"{t.name} answered {e.code}: {e.read()[:500]!r}")
        vector = answer["data"][0]["embedding"]
        if len(vector) != DIMENSION:
            sys.exit(f"{t.name} answered {len(vector)} dimensions, not {DIMENSION}")
        vectors[t.name] = vector
    for name, vector in vectors.items():
        if max(abs(a - b) for a, b in zip(vector, vectors["direct"], strict=True)) > 1e-6:
            sys.exit(f"{name} answered another vector than the backend")


async def content_encodings(targets: list[Target]) -> dict[str, str]:
    """What each answers to aiohttp's default Accept-Encoding (gzip, deflate), as the client sees it."""
    seen = {}
    async with aiohttp.ClientSession() as session:
        for t in targets:
            headers = {"Content-Type": "application/json", **t.headers}
            async with session.post(t.url, data=t.body(), headers=headers) as r:
                await r.read()
                seen[t.name] = r.headers.get("Content-Encoding", "identity")
    return seen


# -- the profile --------------------------------------------------------------------------------------------
def _area(file: str, func: str) -> str:
    if file == "~":  # C functions: named by their module
        if "epoll" in func or "select" in func:
            return "idle: waiting in epoll"
        for needle, area in (
            ("aiohttp", "aiohttp C extensions (parsers, helpers)"),
            ("multidict", "multidict/yarl"),
            ("yarl", "multidict/yarl"),
            ("socket", "socket syscalls"),
            ("orjson", "JSON (orjson)"),
            ("json", "JSON (orjson)"),
            ("_asyncio", "asyncio (event loop, tasks, futures)"),
            ("_contextvars", "asyncio (event loop, tasks, futures)"),
        ):
            if needle in func:
                return area
        return "other C builtins"
    path = file.replace("\\", "/")
    if "/vectorops/" in path:
        return "vectorops (gateway, routing, serving)"
    if "/aiohttp/" in path:
        name = path.rsplit("/", 1)[1]
        if name.startswith("web"):
            return "aiohttp server (web_*)"
        if name.startswith("client") or name in ("connector.py", "tracing.py", "cookiejar.py"):
            return "aiohttp client (client_*, connector)"
        return "aiohttp shared (streams, http_*, helpers)"
    if "/asyncio/" in path or path.endswith("selectors.py"):
        return "asyncio (event loop, tasks, futures)"
    if "/prometheus_client/" in path:
        return "prometheus_client (metrics)"
    if "/yarl/" in path or "/multidict/" in path:
        return "multidict/yarl"
    if "/pydantic" in path:
        return "pydantic"
    return "other Python (stdlib: logging, random, ...)"


def _name(file: str, line: int, func: str) -> str:
    if file == "~":
        return func
    parts = file.replace("\\", "/").split("/")
    short = (
        "/".join(parts[-2:]) if parts[-2] in ("gateway", "resilience", "serving", "routing") else parts[-1]
    )
    return f"{short}:{line}({func})"


def profile_report(path: Path, requests: int, wall: float) -> dict[str, Any]:
    Stats = dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    stats: Stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = [(key, nc, tt, ct) for key, (_, nc, tt, ct, _) in stats.items()]
    idle = sum(tt for (file, _, func), _, tt, _ in rows if _area(file, func).startswith("idle"))
    busy = sum(tt for _, _, tt, _ in rows) - idle
    per = 1e6 / requests
    print(
        f"\nProfile of the gateway (cProfile), one 1-client run of {requests} requests:"
        f" {wall / requests * 1e3:.3f} ms/request under the profiler, of which {busy * per:.0f} us/request"
        f" busy in the gateway's process ({idle * per:.0f} us idle in epoll). cProfile inflates"
        f" Python-heavy code: shares matter more than absolute figures."
    )
    areas: dict[str, float] = {}
    for (file, _, func), _, tt, _ in rows:
        areas[_area(file, func)] = areas.get(_area(file, func), 0.0) + tt
    print(f"\n  {'by area (own time)':<46}{'us/req':>8}{'% busy':>8}")
    for area, tt in sorted(areas.items(), key=lambda a: -a[1]):
        if not area.startswith("idle"):
            print(f"  {area:<46}{tt * per:>8.1f}{tt / busy * 100:>7.1f}%")
    top = sorted((r for r in rows if not _area(r[0][0], r[0][2]).startswith("idle")), key=lambda r: -r[2])[
        :15
    ]
    print("\n  (calls/req: a coroutine counts one call per resumption)")
    print(f"\n  {'top functions by own time':<78}{'calls/req':>10}{'us/req':>8}{'% busy':>8}")
    for (file, line, func), nc, tt, _ in top:
        name = _name(file, line, func)[:78]
        print(f"  {name:<78}{nc / requests:>10.1f}{tt * per:>8.1f}{tt / busy * 100:>7.1f}%")
    ours = sorted((r for r in rows if "/vectorops/" in r[0][0]), key=lambda r: -r[3])[:12]
    title = "vectorops functions by cumulative time (incl. callees)"
    print(f"\n  {title:<78}{'calls/req':>10}{'us/req':>8}{'% busy':>8}")
    for (file, line, func), nc, _, ct in ours:
        name = _name(file, line, func)[:78]
        print(f"  {name:<78}{nc / requests:>10.1f}{ct * per:>8.1f}{ct / busy * 100:>7.1f}%")
    return {
        "profile_us_per_request_busy": round(busy * per, 1),
        "profile_top": [[_name(*r[0]), round(r[2] / busy * 100, 1)] for r in top[:8]],
        "profile_areas_pct": {
            a: round(t / busy * 100, 1) for a, t in areas.items() if not a.startswith("idle")
        },
    }


# -- the benchmark ------------------------------------------------------------------------------------------
@dataclass
class Results:
    runs: dict[tuple[str, int], list[Run]] = field(default_factory=dict)

    def add(self, run: Run) -> None:
        self.runs.setdefault((run.target, run.clients), []).append(run)

    def best(self, target: str, clients: int, figure: str) -> float:
        runs = self.runs[(target, clients)]
        values: list[float] = [getattr(r, figure) for r in runs]
        return max(values) if figure == "rps" else min(values)

    def median_round(self, target: str, clients: int, figure: str, how: str) -> float:
        """The median over rounds of target - direct (how "diff") or target / direct ("ratio")."""
        pairs = zip(self.runs[(target, clients)], self.runs[("direct", clients)], strict=True)
        values: list[float] = [
            getattr(t, figure) - getattr(d, figure)
            if how == "diff"
            else getattr(t, figure) / getattr(d, figure)
            for t, d in pairs
        ]
        return statistics.median(values)

    def cpu(self, target: str, clients: int, process: str) -> float:
        return statistics.median(r.cpu_us(process) for r in self.runs[(target, clients)])


def ensure_litellm() -> None:
    """LiteLLM's venv, installed now if it is not yet (before anything starts), or a clear exit."""
    from vectorops.devtools.peers import PeerError, PeerUnavailable
    from vectorops.devtools.peers_litellm import LITELLM_VERSION, ensure_litellm_venv

    started = time.monotonic()
    try:
        venv = ensure_litellm_venv()
    except PeerUnavailable as e:
        sys.exit(
            f"LiteLLM {LITELLM_VERSION} cannot be installed: no package index is reachable ({e}).\n"
            "Run with --no-litellm to measure direct calls and our gateway only."
        )
    except PeerError as e:
        sys.exit(f"LiteLLM {LITELLM_VERSION} could not be installed:\n{e}\nRun with --no-litellm to skip it.")
    print(f"LiteLLM {LITELLM_VERSION}: venv {venv} ready in {time.monotonic() - started:.1f} s")


def litellm_proxy(work: Path, backend_root: str, auth: str) -> Any:
    from vectorops.devtools.peers_litellm import LiteLLMProxy, LiteLLMRoute

    route = LiteLLMRoute(MODEL, UPSTREAM_MODEL, f"{backend_root}/v1", PROVIDER_KEY)
    return LiteLLMProxy([route], master_key=MASTER_KEY if auth == "key" else None, workdir=work / "litellm")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run: 2 rounds of 100 and 300 requests"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5; 2 with --quick)")
    parser.add_argument(
        "--requests-1", type=int, default=None, help="requests per run at 1 client (default 500)"
    )
    parser.add_argument(
        "--requests-64", type=int, default=None, help="requests per run at 64 clients (default 2000)"
    )
    parser.add_argument(
        "--auth", choices=["key", "none"], default="key", help="one API key (default) or none"
    )
    parser.add_argument(
        "--no-litellm", action="store_true", help="skip LiteLLM (the JSON says it was skipped)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profile of the gateway")
    parser.add_argument("--role", choices=["backend", "relay", "gateway"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "backend":
        return serve_backend(args.port)
    if args.role == "gateway":
        return serve_gateway(args.port, json.loads(args.spec))
    if args.role == "relay":
        return serve_relay(args.port, json.loads(args.spec))
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.requests_1 = args.requests_1 or (100 if args.quick else 500)
    args.requests_64 = args.requests_64 or (300 if args.quick else 2000)
    work = Path(tempfile.mkdtemp(prefix="vectorops-bench-gateway-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        bench(args, work, stack)


def bench(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack) -> None:
    import aiohttp as aiohttp_module

    litellm = None
    if not args.no_litellm:
        ensure_litellm()
    busy_start = machine_busy()
    print(f"before the start, {busy_start:.0%} of the {os.cpu_count()} CPUs were busy (other processes)")
    if busy_start > 0.15:
        print("WARNING: the machine is not quiet: every figure below is skewed by that load")
    backend = start_role("backend", work)
    stack.callback(backend.stop)
    if not args.no_litellm:
        litellm = litellm_proxy(work, backend.root, args.auth)
        litellm.launch()  # its imports take seconds: started first
        stack.callback(litellm.stop)
    backend.wait("/health")
    profile = work / "gateway.prof"
    spec = {
        "backend": f"{backend.root}/v1",
        "auth": "keys" if args.auth == "key" else "none",
        "profile": str(profile),
    }
    gateway = start_role("gateway", work, spec)
    stack.callback(gateway.stop)
    relay = start_role("relay", work, spec)
    stack.callback(relay.stop)
    gateway.wait("/readyz")
    relay.wait("/health")
    started = time.monotonic()
    if litellm is not None:
        litellm.wait_ready()
        print(f"LiteLLM answered {time.monotonic() - started:.1f} s after the gateway was ready")

    auth = args.auth == "key"
    direct_headers = {"Authorization": f"Bearer {PROVIDER_KEY}"}
    targets = [
        Target("direct", f"{backend.root}/v1/embeddings", UPSTREAM_MODEL, direct_headers, None),
        Target("relay", f"{relay.root}/v1/embeddings", UPSTREAM_MODEL, direct_headers, relay.proc.pid),
        Target(
            "gateway",
            f"{gateway.root}/v1/embeddings",
            MODEL,
            {"Authorization": f"Bearer {CLIENT_KEY}"} if auth else {},
            gateway.proc.pid,
        ),
    ]
    if litellm is not None:
        headers = {"Authorization": f"Bearer {MASTER_KEY}"} if auth else {}
        targets.append(Target("litellm", f"{litellm.base_url}/embeddings", MODEL, headers, litellm.pid))
    sanity(targets)
    encodings = asyncio.run(content_encodings(targets))
    names = [t.name for t in targets]
    print(
        f"targets: {', '.join(names)}; one text of {len(TEXT)} characters, {DIMENSION} dimensions;"
        f" auth {args.auth}; {args.rounds} rounds of {args.requests_1} requests at 1 client and"
        f" {args.requests_64} at 64;"
        f" Content-Encoding to aiohttp's default Accept-Encoding: {encodings}"
    )
    for t in targets:  # warm every path (connection pools, caches, lazily built objects)
        asyncio.run(measure(t, 64, 200, processes_of(t, backend.proc.pid)))

    results = Results()
    self_overhead: dict[int, list[float]] = {c: [] for c in CLIENTS}
    for round_ in range(args.rounds):
        line = []
        for clients in CLIENTS:
            n = args.requests_1 if clients == 1 else args.requests_64
            order = targets[round_ % len(targets) :] + targets[: round_ % len(targets)]
            for t in order:
                before = overhead_metric(gateway.root) if t.name == "gateway" else None
                run = asyncio.run(measure(t, clients, n, processes_of(t, backend.proc.pid)))
                if before is not None:
                    after = overhead_metric(gateway.root)
                    count = after[1] - before[1]
                    self_overhead[clients].append((after[0] - before[0]) / count * 1e3 if count else math.nan)
                results.add(run)
                if run.errors:
                    print(f"  WARNING: {run.errors} of {n} requests to {t.name} failed ({clients} clients)")
            for name in names:
                r = results.runs[(name, clients)][-1]
                line.append(f"{name}@{clients} {r.p50:.2f}/{r.p99:.2f}ms {r.rps:.0f}/s")
        print(f"  round {round_ + 1}: " + "  ".join(line), flush=True)

    out: dict[str, Any] = {}
    profile_out: dict[str, Any] = {}
    if not args.no_profile:
        pid = gateway.proc.pid
        switch = (lambda: os.kill(pid, signal.SIGUSR1), lambda: os.kill(pid, signal.SIGUSR2))
        run = asyncio.run(measure(targets[2], 1, args.requests_1, {}, switch))
        deadline = time.monotonic() + 30
        while not profile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if profile.exists():
            profile_out = profile_report(profile, run.requests, run.seconds)
        else:
            print(f"WARNING: the gateway wrote no profile:\n{tail(gateway.log)}")

    self_means = {c: statistics.median(v) for c, v in self_overhead.items()}
    print_table(results, names, self_means)
    for clients in CLIENTS:
        sfx = "" if clients == 1 else f"_{clients}"
        for name in names:
            out[f"{name}_p50_ms{sfx}"] = round(results.best(name, clients, "p50"), 3)
            out[f"{name}_p99_ms{sfx}"] = round(results.best(name, clients, "p99"), 3)
            out[f"{name}_rps_{clients}"] = round(results.best(name, clients, "rps"), 1)
            if name == "direct":
                continue
            prefix = "" if name == "gateway" else f"{name}_"
            for q in ("p50", "p99"):
                out[f"{prefix}overhead_{q}_ms{sfx}"] = round(
                    results.best(name, clients, q) - results.best("direct", clients, q), 3
                )
                out[f"{name}_overhead_{q}_ms{sfx}_median_round"] = round(
                    results.median_round(name, clients, q, "diff"), 3
                )
            out[f"{name}_rps_ratio_{clients}_median_round"] = round(
                results.median_round(name, clients, "rps", "ratio"), 3
            )
            out[f"{name}_cpu_us_per_request{sfx}"] = round(results.cpu(name, clients, "proxy"), 1)
        out[f"backend_cpu_us_per_request{sfx}"] = round(results.cpu("direct", clients, "backend"), 1)
        out[f"client_cpu_us_per_request{sfx}"] = round(results.cpu("direct", clients, "client"), 1)
        out[f"gateway_self_overhead_mean_ms{sfx}"] = round(self_means[clients], 3)
    out["gateway_overhead_p50_ms_64"] = out["overhead_p50_ms_64"]
    out["gateway_overhead_p99_ms_64"] = out["overhead_p99_ms_64"]
    out["target_overhead_p50_under_1ms"] = out["overhead_p50_ms"] < 1.0
    # What the gateway adds beyond the floor of any proxy process here (the relay's own overhead).
    out["gateway_above_relay_p50_ms"] = round(out["overhead_p50_ms"] - out["relay_overhead_p50_ms"], 3)
    out["gateway_above_relay_p50_ms_64"] = round(
        out["overhead_p50_ms_64"] - out["relay_overhead_p50_ms_64"], 3
    )
    if litellm is not None:
        out["target_below_litellm_1"] = out["overhead_p50_ms"] < out["litellm_overhead_p50_ms"]
        out["target_below_litellm_64"] = out["overhead_p50_ms_64"] < out["litellm_overhead_p50_ms_64"]
        from vectorops.devtools.peers_litellm import LITELLM_VERSION

        out["litellm_version"] = LITELLM_VERSION
    else:
        out["litellm"] = "skipped"
        for key in ("litellm_p50_ms", "litellm_overhead_p50_ms", "litellm_overhead_p99_ms", "litellm_rps_64"):
            out[key] = None
    out |= profile_out
    out["auth"] = args.auth
    out["rounds"] = args.rounds
    out["requests_1"], out["requests_64"] = args.requests_1, args.requests_64
    out["dimension"] = DIMENSION
    out["aiohttp_version"] = aiohttp_module.__version__
    out["python"] = platform.python_version()
    out["cpus"] = os.cpu_count()
    out["machine_busy_before"] = round(busy_start, 3)
    print(json.dumps(out))


def print_table(results: Results, names: list[str], self_overhead: dict[int, float]) -> None:
    print(
        "\nBest round per figure (p50 and p99 the lowest, req/s the highest of the rounds); +p50/+p99: those"
        "\nminus direct's; +p50 med: the median over rounds of the same round's difference; req/s ratio: the"
        "\nmedian over rounds of target/direct; CPU: microseconds of CPU per request in each process (median"
        "\nover rounds; 'proxy' is the relay's, the gateway's or LiteLLM's process). The relay is a TCP byte"
        "\npipe (no HTTP parsing at all): the floor any proxy process adds on this machine."
    )
    for clients in CLIENTS:
        print(f"\n{clients} client{'s' if clients > 1 else ''}")
        print(
            f"  {'target':<9}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>8}{'+p50 ms':>10}{'+p99 ms':>10}"
            f"{'+p50 med':>10}{'req/s ratio':>12}  {'CPU us/req: proxy':>17}{'backend':>8}{'client':>7}"
        )
        for name in names:
            p50, p99 = results.best(name, clients, "p50"), results.best(name, clients, "p99")
            rps = results.best(name, clients, "rps")
            backend, client = results.cpu(name, clients, "backend"), results.cpu(name, clients, "client")
            if name == "direct":
                extra = f"{'':>10}{'':>10}{'':>10}{'':>12}  {'-':>17}"
            else:
                d50, d99 = results.best("direct", clients, "p50"), results.best("direct", clients, "p99")
                med = results.median_round(name, clients, "p50", "diff")
                ratio = results.median_round(name, clients, "rps", "ratio")
                proxy = results.cpu(name, clients, "proxy")
                extra = f"{p50 - d50:>10.3f}{p99 - d99:>10.3f}{med:>10.3f}{ratio:>11.2f}x  {proxy:>17.0f}"
            print(f"  {name:<9}{p50:>10.3f}{p99:>10.3f}{rps:>8.0f}{extra}{backend:>8.0f}{client:>7.0f}")
    print(
        "\nThe gateway's own vectorops_gateway_overhead_seconds (its handler's time outside the upstream"
        " call; not aiohttp's parsing, writing or upstream client): mean "
        + ", ".join(f"{v:.3f} ms at {c} client{'s' if c > 1 else ''}" for c, v in self_overhead.items())
    )


if __name__ == "__main__":
    main()
