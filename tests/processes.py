"""Our server processes in tests: waiting for one to answer (or saying why it never did), and starting
the embedder."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path


def wait_until_ok(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float, what: str) -> None:
    """Poll `url` until it answers 200; fail with the process's log if it exits or the time runs out."""
    from vectorops.devtools.processes import wait_until_ok as wait

    wait(url, proc, timeout, what, lambda: log.read_text(errors="replace")[-4000:])


@contextlib.contextmanager
def embedder_process(
    model: str, served_name: str, host: str, log: Path, prefix: Sequence[str] = (), **settings: str
) -> Iterator[str]:
    """A real `vectorops embedder` process on a free port, ready (model loaded and warmed) when the
    block starts and stopped after it. `settings` are VECTOROPS_EMBEDDER_* values, e.g. REDIS_URL;
    `prefix` wraps the command (e.g. to run it in a network namespace)."""
    from vectorops.devtools.controlplane import free_port

    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VECTOROPS_EMBEDDER_MODEL": model,
        "VECTOROPS_EMBEDDER_SERVED_NAME": served_name,
        "VECTOROPS_EMBEDDER_HOST": host,
        "VECTOROPS_EMBEDDER_PORT": str(port),
        **{f"VECTOROPS_EMBEDDER_{k}": v for k, v in settings.items()},
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "vectorops.cli", "embedder"], env=env, stdout=out, stderr=out
        )
    url = f"http://{host}:{port}"
    try:
        wait_until_ok(f"{url}/readyz", proc, log, 240, "embedder")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def gateway_process(kubeconfig: Path, namespace: str, log: Path, **settings: str) -> Iterator[str]:
    """A real `vectorops gateway` process for `namespace` on a free loopback port, answering /healthz
    when the block starts (/readyz once it has read a route table). `settings`: VECTOROPS_GATEWAY_*."""
    from vectorops.devtools.controlplane import free_port

    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "VECTOROPS_GATEWAY_NAMESPACE": namespace,
        "VECTOROPS_GATEWAY_HOST": "127.0.0.1",
        "VECTOROPS_GATEWAY_PORT": str(port),
        **{f"VECTOROPS_GATEWAY_{k}": v for k, v in settings.items()},
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vectorops.cli", "gateway"], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{url}/healthz", proc, log, 60, "gateway")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
