"""PostgreSQL schemas for N VectorCollections (default 100): the operator's time until every collection's
`Schema` condition is True, beside the floor: the same N schemas migrated directly with
vectorops.datastore.migrations in one process against the same PostgreSQL.

    .venv/bin/python benchmarks/schemas.py [--n 100]

Real local control plane, the Qdrant stand-in and a throwaway PostgreSQL. The last line is one JSON object.
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

import psycopg
import yaml

from vectorops.datastore import migrations
from vectorops.datastore.naming import schema_name
from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.postgres import LocalPostgres
from vectorops.devtools.qdrant_standin import StandInQdrant

REPO = Path(__file__).resolve().parents[1]


def schemas_ready(cp: ControlPlane, ns: str) -> int:
    items = json.loads(cp.kubectl("get", "vectorcollections", "-n", ns, "-o", "json").stdout)["items"]
    return sum(
        1
        for o in items
        for c in (o.get("status") or {}).get("conditions", [])
        if c["type"] == "Schema" and c["status"] == "True"
    )


async def direct(dsn: str, n: int) -> float:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        start = time.monotonic()
        for i in range(n):
            name = schema_name("direct_", "bench", f"c{i}")
            await migrations.migrate(conn, name, migrations.owner_comment("bench", f"c{i}"))
        return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    n, ns = args.n, "schemas"
    pg = LocalPostgres.start()
    try:
        with ControlPlane.start() as cp, StandInQdrant(port=free_port()) as qdrant:
            cp.install_crds(sorted((REPO / "crds").glob("*.yaml")))
            cp.kubectl("create", "namespace", ns)
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "pg"},
                "stringData": {"dsn": pg.dsn},
            }
            store = {
                "apiVersion": "vectorops.io/v1alpha1",
                "kind": "VectorStore",
                "metadata": {"name": "q"},
                "spec": {
                    "qdrant": {"url": qdrant.url},
                    "postgres": {"dsnSecretRef": {"name": "pg", "key": "dsn"}},
                },
            }
            cp.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all([secret, store]))
            env = {
                **os.environ,
                "KUBECONFIG": str(cp.kubeconfig),
                "VECTOROPS_NAMESPACES": json.dumps([ns]),
                "VECTOROPS_LIVENESS_ENDPOINT": "",
                "VECTOROPS_RESYNC_SECONDS": "600",
                "VECTOROPS_METRICS_PORT": "0",
            }
            docs = [
                {
                    "apiVersion": "vectorops.io/v1alpha1",
                    "kind": "VectorCollection",
                    "metadata": {"name": f"c{i}"},
                    "spec": {
                        "storeRef": {"name": "q"},
                        "vectors": {"size": 8},
                        "postgresSchema": {"enabled": True},
                    },
                }
                for i in range(n)
            ]
            log = Path(f"/tmp/vectorops-bench-schemas-{n}.log")
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "vectorops.cli", "operator"], env=env, stdout=out, stderr=out
                )
                try:
                    time.sleep(4)  # started and watching
                    start = time.monotonic()
                    cp.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs))
                    while schemas_ready(cp, ns) < n:
                        if proc.poll() is not None or time.monotonic() - start > 600:
                            raise RuntimeError(
                                f"{schemas_ready(cp, ns)}/{n} schemas: {log.read_text()[-2000:]}"
                            )
                        time.sleep(0.5)
                    operator_s = time.monotonic() - start
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)
        floor = asyncio.run(direct(pg.dsn, n))
    finally:
        pg.stop()
    print(
        f"{n} collections with a PostgreSQL schema, until every Schema condition is True: {operator_s:.1f} s"
    )
    print(f"the same {n} schemas migrated directly in one process (the floor): {floor:.2f} s")
    print(
        json.dumps(
            {
                "n": n,
                "operator_schema_seconds": round(operator_s, 2),
                "direct_migrate_seconds": round(floor, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
