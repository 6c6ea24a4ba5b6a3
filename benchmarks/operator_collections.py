"""Operator time-to-Ready and memory for many VectorCollections applied at once.

For each N, on the real local control plane and the Qdrant stand-in, a fresh `vectorops operator`
process is started, N VectorCollections are applied in one `kubectl apply`, and the wall time until
every one reports Ready=True is measured, with the operator's peak RSS (VmHWM). Beside it: the same
N collections (the same shapes and settings) created directly with qdrant-client against the same
server, one after another (the floor: what Qdrant itself costs, with no Kubernetes in the loop).

    .venv/bin/python benchmarks/operator_collections.py [--sizes 100 500]

The last line is one JSON object with the figures for the largest N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from qdrant_client import AsyncQdrantClient
from qdrant_client.http import models as m

from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.operator.adapters import qdrant as adapter
from vectorops.operator.api import VectorCollectionSpec
from vectorops.operator.builders.collection_ownership import Owner
from vectorops.operator.builders.qdrant_collection import build_desired, resolve_dimension

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def collections(n: int) -> list[dict]:
    shapes = [
        {"vectors": {"size": 384}},
        {"vectors": {"size": 768, "distance": "Dot"}, "hnsw": {"m": 32}},
        {"vectors": {"size": 128}, "quantization": {"scalar": {"type": "int8"}}},
        {
            "namedVectors": {"title": {"size": 64}, "body": {"size": 256}},
            "payloadIndexes": [{"field": "t", "type": "keyword"}],
        },
    ]
    return [
        {
            "apiVersion": "vectorops.io/v1alpha1",
            "kind": "VectorCollection",
            "metadata": {"name": f"c{i:04d}"},
            "spec": {"storeRef": {"name": "q"}, **shapes[i % len(shapes)]},
        }
        for i in range(n)
    ]


def ready_count(cp: ControlPlane, ns: str) -> int:
    items = json.loads(cp.kubectl("get", "vectorcollections", "-n", ns, "-o", "json").stdout)["items"]
    return sum(
        1
        for o in items
        for c in (o.get("status") or {}).get("conditions", [])
        if c["type"] == "Ready" and c["status"] == "True"
    )


def run_operator(cp: ControlPlane, qdrant: StandInQdrant, n: int, log: Path) -> tuple[float, float]:
    ns = f"bench-{n}"
    cp.kubectl("create", "namespace", ns)
    cp.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "vectorops.io/v1alpha1",
                "kind": "VectorStore",
                "metadata": {"name": "q"},
                "spec": {"qdrant": {"url": qdrant.url}},
            }
        ),
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(cp.kubeconfig),
        "VECTOROPS_NAMESPACES": json.dumps([ns]),
        "VECTOROPS_LIVENESS_ENDPOINT": "",
        "VECTOROPS_RESYNC_SECONDS": "300",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vectorops.cli", "operator"], env=env, stdout=out, stderr=out
        )
        try:
            time.sleep(3)  # let the operator start watching: we time reconciliation, not Python start-up
            start = time.monotonic()
            cp.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(collections(n)))
            while ready_count(cp, ns) < n:
                if proc.poll() is not None:
                    raise RuntimeError(f"operator exited: {log.read_text()[-2000:]}")
                if time.monotonic() - start > 900:
                    raise TimeoutError(f"only {ready_count(cp, ns)}/{n} Ready after 900 s")
                time.sleep(0.5)
            seconds = time.monotonic() - start
            print(
                f"  cpu seconds: operator {cpu_seconds(proc.pid):.1f}, apiserver+etcd "
                f"{sum(cpu_seconds(p.pid) for p in cp._procs):.1f}, this process (stand-in, kubectl polling) "
                f"{sum(os.times()[:2]):.1f}",
                flush=True,
            )
            return seconds, peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def run_direct(qdrant: StandInQdrant, n: int) -> float:
    """The same collections (same shapes: HNSW, quantization, named vectors, payload index, ownership
    record) created straight through qdrant-client, one after another: Qdrant's own cost."""

    async def create_all() -> float:
        client = AsyncQdrantClient(url=qdrant.url, check_compatibility=False)
        start = time.monotonic()
        for i, doc in enumerate(collections(n)):
            spec = VectorCollectionSpec.model_validate(doc["spec"])
            name = f"direct-{n}-{i}"
            desired = build_desired(spec, name, resolve_dimension(spec, None, None))
            await adapter.create(client, desired, Owner("bench", name, "uid"))
            for field_name, schema in desired.payload_indexes.items():
                await client.create_payload_index(
                    name, field_name, field_schema=m.PayloadSchemaType(schema["type"]), wait=True
                )
        seconds = time.monotonic() - start
        await client.close()
        return seconds

    return asyncio.run(create_all())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    args = parser.parse_args()
    results = []
    with ControlPlane.start() as cp, StandInQdrant(port=free_port()) as qdrant:
        cp.install_crds(sorted((REPO / "crds").glob("*.yaml")))
        print(
            f"{'N':>5} {'operator s to Ready':>20} {'per resource ms':>16} {'direct qdrant-client s':>23} "
            f"{'ratio':>6} {'operator peak RSS MB':>21}"
        )
        for n in args.sizes:
            seconds, rss = run_operator(cp, qdrant, n, Path(f"/tmp/vectorops-bench-operator-{n}.log"))
            direct = run_direct(qdrant, n)
            results.append(
                {
                    "n": n,
                    "seconds_to_ready": round(seconds, 2),
                    "peak_rss_mb": round(rss, 1),
                    "direct_qdrant_seconds": round(direct, 2),
                    "ratio_vs_direct": round(seconds / direct, 1),
                }
            )
            print(
                f"{n:>5} {seconds:>20.2f} {1000 * seconds / n:>16.1f} {direct:>23.2f} "
                f"{seconds / direct:>6.1f} {rss:>21.1f}",
                flush=True,
            )
    largest = max(results, key=lambda r: r["n"])
    print(json.dumps({**largest, "all": results}))


if __name__ == "__main__":
    main()
