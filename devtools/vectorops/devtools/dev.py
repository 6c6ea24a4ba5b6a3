"""`vectorops dev`: the embedded default environment, up until Ctrl-C, then cleaned up.

A local control plane, the operator, the quickstart's objects, and a working data path: the DevKubelet
(kubelet.py) runs the embedder Deployments the operator creates as local processes, and the gateway runs
as a process on loopback (VECTOROPS_DEV_GATEWAY_PORT, default 8080 or the next free port), with a dev API
key and, where redis-server is installed, a throwaway Redis for its cache. Everything lives in the work
folder (VECTOROPS_DEV_WORKDIR, default <repo>/.dev), removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from vectorops.devtools.binaries import find_repo_root
from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.kubelet import DevKubelet
from vectorops.devtools.postgres import LocalPostgres, PostgresNotAvailable
from vectorops.devtools.qdrant_standin import StandInQdrant

log = logging.getLogger("vectorops.dev")
DEV_NAMESPACE = "default"
DEV_STORE = "default"
PG_SECRET = "vectorops-dev-postgres"
KEY_SECRET = "vectorops-dev-gateway-key"
WORKDIR_ENV = "VECTOROPS_DEV_WORKDIR"
MARKER = ".vectorops-dev"  # in the work folder: only a folder holding it is ever removed
GATEWAY_PORT_ENV = "VECTOROPS_DEV_GATEWAY_PORT"
DEFAULT_GATEWAY_PORT = 8080
# The quickstart's VectorStore points at Qdrant's usual port on loopback: a Qdrant you run there is used
# as it is; otherwise the stand-in (qdrant-client's engine behind Qdrant's REST API, in memory) serves it.
QDRANT_PORT = 6333
# Loading the model on 2 cores takes under a minute; the first resync after it adds up to 10 s.
READY_TIMEOUT_S = 600.0


def _apply_dev_secret(cp: ControlPlane, dsn: str) -> None:
    manifest = cp.kubectl(
        "create",
        "secret",
        "generic",
        PG_SECRET,
        f"--from-literal=dsn={dsn}",
        "-n",
        DEV_NAMESPACE,
        "--dry-run=client",
        "-o",
        "yaml",
    ).stdout
    cp.kubectl("apply", "-f", "-", input=manifest)


def _apply_key_secret(cp: ControlPlane, key: str) -> None:
    """A client API key for the gateway, as a user would make one (any models, role user)."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": KEY_SECRET,
            "namespace": DEV_NAMESPACE,
            "labels": {"vectorops.io/gateway-key": "true"},
        },
        "stringData": {"key": key},
    }
    cp.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def gateway_port() -> int:
    """VECTOROPS_DEV_GATEWAY_PORT (0: any free port), else 8080, else the next free port after it."""
    if os.environ.get(GATEWAY_PORT_ENV):
        return int(os.environ[GATEWAY_PORT_ENV]) or free_port()
    for port in range(DEFAULT_GATEWAY_PORT, DEFAULT_GATEWAY_PORT + 20):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def _get(url: str, key: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def _wait_for_data_path(
    cp: ControlPlane, gateway_url: str, key: str, watched: list[subprocess.Popen[bytes]], routed: bool
) -> str | None:
    """Until every EmbeddingModel of the namespace is Ready and (if `routed`) the gateway lists it; None
    then, else what is still missing when READY_TIMEOUT_S is over or a process of ours has exited."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    missing = "the gateway does not answer"
    while time.monotonic() < deadline:
        for proc in watched:
            if proc.poll() is not None:
                return f"{' '.join(map(str, proc.args[-2:]))} exited with {proc.returncode}"  # type: ignore[index]
        shown = cp.kubectl("get", "embeddingmodels", "-n", DEV_NAMESPACE, "-o", "json", check=False)
        models = json.loads(shown.stdout or "{}").get("items") or []
        not_ready = [
            m["metadata"]["name"]
            for m in models
            if not any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (m.get("status") or {}).get("conditions") or []
            )
        ]
        status, body = _get(f"{gateway_url}/v1/models", key)
        try:
            listed = {m.get("id") for m in json.loads(body).get("data", [])} if status == 200 else set()
        except (ValueError, AttributeError, TypeError):
            listed = set()  # not the gateway's JSON (yet): asked again below
        unlisted = [m["metadata"]["name"] for m in models if routed and m["metadata"]["name"] not in listed]
        if status and not not_ready and not unlisted:
            return None
        missing = (
            f"EmbeddingModels not Ready: {', '.join(not_ready)}"
            if not_ready
            else f"the gateway does not list {', '.join(unlisted)} yet"
            if status
            else "the gateway does not answer"
        )
        time.sleep(1)
    return missing


def _start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """A throwaway redis-server on a free loopback port (None when it is not installed or does not
    answer): the gateway's shared cache of embeddings. (Embedders in their network namespaces cannot
    reach loopback, and the quickstart's VectorStore names no Redis: they keep their in-process cache.)"""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    folder.mkdir(parents=True)
    port = free_port()
    config = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with open(folder / "redis.log", "wb") as out:
        proc = subprocess.Popen(
            [binary, *config, "--dir", str(folder)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.1)
    _stop(proc)
    return None


class DevError(RuntimeError):
    """Something on this machine keeps `vectorops dev` from starting; the message says what to do."""


def _start_qdrant() -> tuple[StandInQdrant | None, str]:
    """The stand-in on 127.0.0.1:6333, or None when a Qdrant already answers there (then it is used)."""
    url = f"http://127.0.0.1:{QDRANT_PORT}"
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", QDRANT_PORT))
            taken = False
        except OSError:
            taken = True
    if not taken:
        return StandInQdrant(port=QDRANT_PORT).start(), f"{url} (the stand-in, in memory)"
    try:
        with urllib.request.urlopen(url + "/", timeout=3) as answer:
            title = json.loads(answer.read()).get("title", "")
    except (OSError, ValueError):
        title = ""
    if "qdrant" not in str(title).lower():
        raise DevError(
            f"port {QDRANT_PORT} is taken by something that is not Qdrant; the quickstart's VectorStore "
            f"points there: free the port, or run a Qdrant on it"
        )
    return None, f"{url} (your Qdrant, already running)"


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _collection_commands(gateway_url: str, key_file: str) -> str:
    """The banner's lines that ingest into, and search, the quickstart's collection `articles`."""
    auth = f'-H "Authorization: Bearer $(cat {key_file})" -H "Content-Type: application/json"'
    docs = '{"documents": [{"id": "a1", "text": "Qdrant keeps the vectors", "payload": {"tenant": "t1"}}]}'
    query = '{"text": "where are vectors kept?", "limit": 3, "include_text": true}'
    return (
        "  # the quickstart's collection `articles`: texts embedded by minilm, kept in PostgreSQL\n"
        f"  curl {gateway_url}/v1/collections/articles/points {auth} \\\n    -d '{docs}'\n"
        f"  curl {gateway_url}/v1/collections/articles/search {auth} \\\n    -d '{query}'\n"
    )


def _shown(path: Path) -> str:
    """`path` relative to the current folder where it is under it (what the README's commands use)."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


def run_dev(workdir: Path, examples: Path, crds: Path) -> int:
    """Start everything, apply the quick-start examples, run the operator, the embedders (DevKubelet) and
    the gateway until Ctrl-C or SIGTERM; then stop them all and remove the work folder."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():  # never wipe a folder this tool did not make
            why = "exists and was not made by vectorops-dev"
            print(f"vectorops dev: {workdir} {why}: remove it, or set {WORKDIR_ENV} to another folder")
            return 2
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by vectorops-dev; removed when it stops\n")
    # Ctrl-C, and also SIGTERM (timeout, a supervisor) or SIGINT when started in the background (where
    # the shell ignores it), all end the session through the clean-up below, never leaving processes.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print("vectorops dev: building/locating etcd and kube-apiserver (first run builds them from source)...")
    try:
        qdrant, qdrant_shown = _start_qdrant()
    except DevError as e:
        print(f"vectorops dev: {e}")
        return 2
    cp = ControlPlane.start(workdir=workdir / "controlplane")
    pg: LocalPostgres | None = None
    kubelet: DevKubelet | None = None
    operator: subprocess.Popen[bytes] | None = None
    gateway: subprocess.Popen[bytes] | None = None
    redis: tuple[subprocess.Popen[bytes], str] | None = None
    try:
        cp.install_crds(sorted(crds.glob("*.yaml")))
        others = cp.install_third_party_crds()
        try:
            pg = LocalPostgres.start(workdir / "postgres")
            _apply_dev_secret(cp, pg.dsn)
        except (PostgresNotAvailable, subprocess.CalledProcessError) as e:
            print(f"vectorops dev: PostgreSQL not started ({e}); stores that need it report SecretNotFound")
        redis = _start_redis(workdir / "redis")
        key = f"vo-dev-{secrets.token_urlsafe(18)}"
        _apply_key_secret(cp, key)
        key_file = workdir / "gateway-key"
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        cp.kubectl("apply", "-R", "-f", str(examples))
        # The operator runs as its own process, exactly as `vectorops operator` runs in a pod.
        env = {
            **os.environ,
            "KUBECONFIG": str(cp.kubeconfig),
            "VECTOROPS_DEFAULT_STORE": DEV_STORE,
            # local: stores (qdrant-client's embedded engine, which only the operator can open: no data
            # path through the gateway) live here, one folder per namespace, for those who apply one.
            "VECTOROPS_LOCAL_STORE_ROOT": str(workdir / "qdrant"),
            # Nothing tells the operator that a Deployment became available (it does not watch them):
            # a short resync makes a model Ready about 10 s after its embedder is.
            "VECTOROPS_RESYNC_SECONDS": "10",
            "VECTOROPS_LIVENESS_ENDPOINT": "",
            # Metrics off unless asked for: 9090 is often a local Prometheus's own port.
            "VECTOROPS_METRICS_PORT": os.environ.get("VECTOROPS_METRICS_PORT", "0"),
        }
        operator = subprocess.Popen([sys.executable, "-m", "vectorops.cli", "operator"], env=env)
        hosts_file = workdir / "hosts"
        kubelet = DevKubelet(cp, DEV_NAMESPACE, workdir / "pods", hosts_file).start()
        port = gateway_port()
        gateway_url = f"http://127.0.0.1:{port}"
        gateway_env = {
            **os.environ,
            "KUBECONFIG": str(cp.kubeconfig),
            "VECTOROPS_GATEWAY_NAMESPACE": DEV_NAMESPACE,
            "VECTOROPS_GATEWAY_HOST": "127.0.0.1",
            "VECTOROPS_GATEWAY_PORT": str(port),
            # No cluster DNS here: the DevKubelet writes the embedders' Service names into this file.
            "VECTOROPS_GATEWAY_HOSTS_FILE": str(hosts_file),
        }
        if redis is not None:
            gateway_env["VECTOROPS_GATEWAY_REDIS_URL"] = redis[1]
        with open(workdir / "gateway.log", "wb") as out:
            gateway = subprocess.Popen(
                [sys.executable, "-m", "vectorops.cli", "gateway"],
                env=gateway_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped by us, after the operator
            )
        print(
            f"vectorops dev: operator, embedders and gateway ({gateway_url}) started; waiting until the "
            "quickstart's models are served (the first load of a model takes a minute)...",
            flush=True,
        )
        try:
            # Without network namespaces no embedder can be routed (kubelet.py says why): do not wait for it.
            routed = kubelet.netns_unavailable is None
            problem = _wait_for_data_path(cp, gateway_url, key, [operator, gateway], routed)
            warning = f"  NOT READY YET: {problem}\n" if problem else ""
            if not routed:
                warning += (
                    "  NO DATA PATH: no network namespaces here, so the gateway cannot reach the embedders\n"
                )
            kf = _shown(key_file)
            print(
                "\nvectorops dev is up.\n"
                f"{warning}"
                f"  export KUBECONFIG={cp.kubeconfig}\n"
                "  kubectl get vectorops           # every vectorops kind, with Ready and Reason\n"
                "  kubectl get pods                # the embedders: local processes run by the DevKubelet\n"
                "  kubectl describe vectorcollection articles\n"
                f"  third-party CRDs installed: {', '.join(others) or 'none'}\n"
                f"  qdrant: {qdrant_shown}\n"
                f"  postgres: {pg.dsn if pg else 'not running'}\n"
                f"  redis: {redis[1] + ' (the gateway cache)' if redis else 'not running'}\n"
                f"  gateway: {gateway_url}/v1 (OpenAI API), API key in {kf}\n"
                f'  curl {gateway_url}/v1/embeddings -H "Authorization: Bearer $(cat {kf})" \\\n'
                '    -H "Content-Type: application/json" -d \'{"model": "minilm", "input": "hello"}\'\n'
                f"{_collection_commands(gateway_url, kf)}"
                f"  logs: {_shown(workdir / 'gateway.log')}, "
                f"{_shown(workdir / 'pods')}/<deployment>/embedder.log\n"
                "Press Ctrl-C to stop and clean up.\n",
                flush=True,
            )
            return operator.wait()
        except KeyboardInterrupt:  # Ctrl-C: a normal end of a dev session
            return 0
    finally:
        # A second Ctrl-C must not cut the clean-up short (every step below has a time limit).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("vectorops dev: stopping...", file=sys.stderr)
        _stop(gateway)
        _stop(operator)
        if kubelet is not None:
            kubelet.stop()
        if redis is not None:
            _stop(redis[0])
        if pg is not None:
            pg.stop()
        cp.stop()
        if qdrant is not None:
            qdrant.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)


def default_paths() -> tuple[Path, Path, Path]:
    repo = find_repo_root() or Path.cwd()
    workdir = Path(os.environ[WORKDIR_ENV]) if os.environ.get(WORKDIR_ENV) else repo / ".dev"
    return workdir, repo / "examples" / "quickstart", repo / "crds"
