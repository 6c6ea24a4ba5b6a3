"""A real gateway process serving a fixed snapshot from a JSON file (no apiserver): the route table,
collection bindings, credentials and API keys. For tests that kill the process, the end-to-end data
path test and benchmarks/datapath.py. Settings come from VECTOROPS_GATEWAY_* as usual.

    python -m tests.gateway.static_gateway snapshot.json
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from vectorops.gateway.app import create_app, run
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.snapshot import Grant, Role, Snapshot
from vectorops.gateway.source import StaticSource
from vectorops.routing.collections import CollectionBinding
from vectorops.routing.table import RouteTable


def dump(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "table": json.loads(snapshot.table.model_dump_json()),
        "bindings": [json.loads(b.to_json()) for b in snapshot.collections.values()],
        "credentials": [[s, k, v] for (s, k), v in snapshot.credentials.items()],
        "keys": [
            [key, g.name, g.role.value, sorted(g.models) if g.models is not None else None]
            for key, g in snapshot.keys.items()
        ],
    }


def load(spec: dict[str, Any]) -> Snapshot:
    bindings = [CollectionBinding.model_validate(b) for b in spec["bindings"]]
    return Snapshot(
        RouteTable.model_validate(spec["table"]),
        {(s, k): v for s, k, v in spec["credentials"]},
        {
            key: Grant(name, Role(role), None if models is None else frozenset(models))
            for key, name, role, models in spec["keys"]
        },
        {b.name: b for b in bindings},
    )


def start(snapshot: Snapshot, workdir: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    """The process, serving `snapshot` on 127.0.0.1:`port`; its log is workdir/gateway-<port>.log."""
    spec = workdir / f"snapshot-{port}.json"
    spec.write_text(json.dumps(dump(snapshot)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECTOROPS_GATEWAY_")}
    env.update({"VECTOROPS_GATEWAY_HOST": "127.0.0.1", "VECTOROPS_GATEWAY_PORT": str(port)})
    env.update({f"VECTOROPS_GATEWAY_{k.upper()}": v for k, v in settings.items()})
    with open(workdir / f"gateway-{port}.log", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.static_gateway", str(spec)],
            env=env,
            stdout=out,
            stderr=out,
            cwd=Path(__file__).resolve().parents[2],
        )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    snapshot = load(json.loads(Path(sys.argv[1]).read_text()))
    settings = GatewaySettings(namespace=snapshot.table.namespace, report_status=False)
    run(create_app(settings, StaticSource(snapshot)), settings.host, settings.port)


if __name__ == "__main__":
    main()
