"""Fixtures on a real control plane: etcd + kube-apiserver built from source, our CRDs installed."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.processes import wait_until_ok
from vectorops.devtools.controlplane import ControlPlane, free_port, free_ports
from vectorops.devtools.qdrant_standin import StandInQdrant

REPO = Path(__file__).resolve().parents[2]


_APISERVER_OWN = frozenset({"leases", "endpoints", "endpointslices"})


class Cluster:
    """kubectl against the test control plane, with helpers that read like the assertions."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.cp.kubectl(*args, input=input, check=check)

    def apply(self, ns: str, *docs: dict[str, Any], dry_run: bool = False, check: bool = True):
        args = ["apply", "-n", ns, "-f", "-"]
        if dry_run:
            args.append("--dry-run=server")
        return self.kubectl(*args, input=yaml.safe_dump_all(docs), check=check)

    def get(self, ns: str, kind: str, name: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", "-n", ns, kind, name, "-o", "json").stdout)

    def wait_for(
        self, ns: str, kind: str, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        obj: dict[str, Any] = {}
        while time.monotonic() < deadline:
            obj = self.get(ns, kind, name)
            if predicate(obj):
                return obj
            time.sleep(0.2)
        raise AssertionError(
            f"{kind}/{name} did not reach the expected state in {timeout}s:\n"
            f"{json.dumps(obj.get('status'), indent=1)}"
        )

    def wait_event(
        self, ns: str, name: str, reason: str, contains: str = "", timeout: float = 15
    ) -> dict[str, Any]:
        """kopf posts Events in the background: wait for one rather than race it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events(ns, name):
                if e["reason"] == reason and contains in e.get("message", ""):
                    return e
            time.sleep(0.2)
        raise AssertionError(f"no {reason} event containing {contains!r} for {name}: {self.events(ns, name)}")

    def events(self, ns: str, name: str) -> list[dict[str, Any]]:
        items = json.loads(self.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
        return [e for e in items if e["involvedObject"]["name"] == name]

    def api_writes(self) -> dict[str, float]:
        """Mutating requests (POST, PUT, PATCH, DELETE) the apiserver has answered since it started, by
        resource (its own apiserver_request_total, so no-op patches count too). What the apiserver writes
        by itself is left out: its lease, renewed every few seconds, and the `kubernetes` Service's
        endpoints, reconciled every ten."""
        counts: dict[str, float] = {}
        for line in self.kubectl("get", "--raw", "/metrics").stdout.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels = dict(
                part.split("=", 1) for part in line[line.index("{") + 1 : line.rindex("}")].split(",")
            )
            verb, resource = labels.get("verb", "").strip('"'), labels.get("resource", "").strip('"')
            if verb in ("POST", "PUT", "PATCH", "DELETE") and resource not in _APISERVER_OWN:
                subresource = labels.get("subresource", '""').strip('"')
                key = f"{resource}/{subresource}" if subresource else resource
                counts[key] = counts.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
        return counts

    def writes_during(self, seconds: float, resources: tuple[str, ...] = ()) -> dict[str, float]:
        """The mutating requests (by resource) the apiserver answered while sleeping `seconds`, of the
        given resources only (all when none are given): with nothing else changing them, the operator's
        writes (a hot loop shows here). A cluster-wide operator also probes the other tests' endpoints
        (a status write per probe, by design): name the resources the test is about."""
        before = self.api_writes()
        time.sleep(seconds)
        after = self.api_writes()
        return {
            k: v - before.get(k, 0.0)
            for k, v in after.items()
            if v != before.get(k, 0.0) and (not resources or k.split("/")[0] in resources)
        }


# Every Secret value the suite creates; none may show up in the operator's DEBUG log, an Event or a status.
SECRET_VALUES: set[str] = set()


def secret(name: str, **data: str) -> dict[str, Any]:
    """A Secret manifest whose values are checked for leaks when the module's operator stops."""
    SECRET_VALUES.update(data.values())
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def assert_no_secret_leaked(cluster: Cluster, log: str) -> None:
    events = cluster.kubectl("get", "events", "-A", "-o", "json").stdout
    objects = cluster.kubectl("get", "vectorops", "-A", "-o", "json").stdout
    for value in SECRET_VALUES:
        for form in (value, base64.b64encode(value.encode()).decode()):
            for where, text in (
                ("the operator's DEBUG log", log),
                ("an Event", events),
                ("a status", objects),
            ):
                assert form not in text, f"a Secret value reached {where}"


def condition(obj: dict[str, Any], type_: str = "Ready") -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c
    return None


def ready_is(status: str, reason: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        c = condition(obj)
        return (
            c is not None
            and c["status"] == status
            and (reason is None or c["reason"] == reason)
            and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
        )

    return check


def roll_out(cluster: Cluster, ns: str, name: str) -> None:
    """Play the Deployment controller and kubelet (none runs here): every replica updated, ready and
    available."""
    deployment = cluster.get(ns, "deployment", name)
    replicas = deployment["spec"].get("replicas", 1)
    status = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    patch = json.dumps({"status": status})
    cluster.kubectl(
        "patch", "-n", ns, "deployment", name, "--subresource=status", "--type=merge", "-p", patch
    )


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    cp = ControlPlane.start()
    try:
        cp.install_crds(sorted((REPO / "crds").glob("*.yaml")))
        cp.install_third_party_crds()
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def cluster(control_plane: ControlPlane) -> Cluster:
    return Cluster(control_plane)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    # No namespace controller runs here, so the namespace would stay Terminating; leave it.


class OperatorProcess:
    """`vectorops operator` as a real subprocess, as it runs in a pod."""

    def __init__(self, cp: ControlPlane, log: Path, **env: str) -> None:
        # The metrics port is never the default 9090: two operators may run at once.
        self.port, self.metrics_port = free_ports(2)
        self.log = log
        self.local_root = log.parent / "local-stores"  # where `local:` stores live, per namespace
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cp.kubeconfig),
            "VECTOROPS_RESYNC_SECONDS": "2",
            "VECTOROPS_LIVENESS_ENDPOINT": f"http://127.0.0.1:{self.port}/healthz",
            "VECTOROPS_METRICS_HOST": "127.0.0.1",
            "VECTOROPS_METRICS_PORT": str(self.metrics_port),
            "VECTOROPS_LOCAL_STORE_ROOT": str(self.local_root),
            "VECTOROPS_LOG_LEVEL": "DEBUG",  # the Secret leak test reads every line
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vectorops.cli", "operator"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        wait_until_ok(f"http://127.0.0.1:{self.port}/healthz", self.proc, self.log, timeout, "operator")

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def checked_operator(cluster: Cluster, log: Path, **env: str) -> Iterator[OperatorProcess]:
    """A started operator process; when the block ends it must stop cleanly (exit 0 on SIGTERM), with no
    traceback from our code and no Secret value in its log, Events or statuses."""
    op = OperatorProcess(cluster.cp, log, **env)
    op.start()
    try:
        yield op
    finally:
        code = op.stop()
        text = log.read_text()
        # Our code must never log a traceback. (kopf itself may log one while closing its watch
        # streams at exit: "generator didn't stop after athrow()"; that is kopf's, not ours.)
        ours = [block for block in text.split("Traceback")[1:] if "/vectorops/" in block.split("\n\n")[0]]
        assert not ours, f"operator logged a traceback from vectorops code:\n{text[-6000:]}"
        assert code == 0, f"operator exited with {code} on SIGTERM:\n{text[-4000:]}"
        assert "DEBUG" in text  # the leak check below reads a log that has every level
        assert_no_secret_leaked(cluster, text)


@pytest.fixture(scope="module")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with checked_operator(cluster, log, VECTOROPS_DEFAULT_STORE="default") as op:
        yield op


class RealQdrant:
    """A real Qdrant given by URL (VECTOROPS_TEST_QDRANT_URL, e.g. a port-forward into kind)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")


def standin_only(server: object) -> StandInQdrant:
    """Tests that stop Qdrant or count its requests need the stand-in; against a real one they skip."""
    if not isinstance(server, StandInQdrant):
        pytest.skip("needs the stand-in: it stops Qdrant or counts its requests")
    return server


@pytest.fixture(scope="module")
def qdrant() -> Iterator[StandInQdrant | RealQdrant]:
    """The stand-in in this process (reached over HTTP by the operator subprocess), or a real Qdrant."""
    if os.environ.get("VECTOROPS_TEST_QDRANT_URL"):
        yield RealQdrant(os.environ["VECTOROPS_TEST_QDRANT_URL"])
        return
    server = StandInQdrant(port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()
