"""A real Kubernetes control plane (etcd + kube-apiserver) on loopback, as envtest starts it.

No kubelet, scheduler or controller-manager runs: objects are stored and validated for real
(OpenAPI schemas, CEL, admission, RBAC), but Deployments never get pods.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vectorops.devtools.binaries import Binaries, ensure_binaries
from vectorops.devtools.processes import stop_group

ADMIN_TOKEN_USER = "vectorops-admin"


class ControlPlaneError(RuntimeError):
    """The control plane did not come up; the message carries the tail of its logs."""


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def free_port() -> int:
    return free_ports(1)[0]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver. Use as a context manager or call stop()."""

    binaries: Binaries
    workdir: Path
    keep_workdir: bool = False
    url: str = ""
    token: str = ""
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "apiserver.crt"

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def start(
        cls, workdir: Path | None = None, binaries: Binaries | None = None, timeout: float = 120.0
    ) -> ControlPlane:
        binaries = binaries or ensure_binaries()
        keep = workdir is not None
        workdir = Path(workdir or tempfile.mkdtemp(prefix="vectorops-cp-"))
        workdir.mkdir(parents=True, exist_ok=True)
        cp = cls(binaries=binaries, workdir=workdir, keep_workdir=keep)
        etcd_client, etcd_peer, apiserver = free_ports(3)
        try:
            cp._start_etcd(etcd_client, etcd_peer)
            cp._start_apiserver(apiserver)
            cp._wait_ready(timeout)
            cp._write_kubeconfig()
        except BaseException:
            cp.stop()
            raise
        return cp

    def _spawn(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
        # A session of its own: Ctrl-C in a terminal reaches us, and we stop the children in order.
        proc = subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._procs.append(proc)
        return proc

    def _start_etcd(self, client: int, peer: int) -> None:
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",  # a throwaway store: durability buys nothing here
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self, port: int) -> None:
        self.url = f"https://127.0.0.1:{port}"
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        sa_key = self.workdir / "sa.key"
        subprocess.run(["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True)
        self.token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.token},{ADMIN_TOKEN_USER},{ADMIN_TOKEN_USER},"system:masters"\n')
        self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={self.etcd_url}",
                f"--cert-dir={certs}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--authorization-mode=RBAC",
                f"--token-auth-file={tokens}",
                f"--service-account-key-file={sa_key}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                # No controller-manager creates service-account tokens here (as in envtest).
                "--disable-admission-plugins=ServiceAccount",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=0",
            ],
        )

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return ctx

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    name = Path(str(proc.args[0])).name  # type: ignore[index]
                    raise ControlPlaneError(f"{name} exited early:\n{_tail(self.workdir / f'{name}.log')}")
            if self.ca_file.exists():
                req = urllib.request.Request(
                    f"{self.url}/readyz", headers={"Authorization": f"Bearer {self.token}"}
                )
                try:
                    with urllib.request.urlopen(req, context=self._ssl_context(), timeout=5) as resp:
                        if resp.status == 200:
                            return
                except (urllib.error.URLError, OSError, ssl.SSLError) as e:
                    last = str(e)
            time.sleep(0.25)
        raise ControlPlaneError(
            f"kube-apiserver not ready after {timeout:.0f}s ({last}):\n"
            f"{_tail(self.workdir / 'kube-apiserver.log')}"
        )

    def _write_kubeconfig(self) -> None:
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "vectorops-local", "cluster": {"server": self.url, "certificate-authority-data": ca}}
            ],
            "users": [{"name": ADMIN_TOKEN_USER, "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "vectorops-local",
                    "context": {"cluster": "vectorops-local", "user": ADMIN_TOKEN_USER},
                }
            ],
            "current-context": "vectorops-local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def stop(self) -> None:
        """Stop the apiserver, then etcd; never leaves a process behind."""
        for proc in reversed(self._procs):
            stop_group(proc, timeout=5)
        self._procs.clear()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for callers ------------------------------------------------------------------
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            text=True,
            capture_output=True,
            check=check,
        )

    def install_crds(self, paths: Sequence[Path]) -> None:
        """Server-side apply CRD files and wait until each is Established."""
        files = [p for p in paths if p.suffix in (".yaml", ".yml")]
        if not files:
            return
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager=vectorops-devenv"]
        for f in files:
            args += ["-f", str(f)]
        self.kubectl(*args)
        names = []
        for f in files:
            for doc in yaml.safe_load_all(f.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    names.append(f"crd/{doc['metadata']['name']}")
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)

    def install_third_party_crds(self) -> list[str]:
        """PrometheusRule/ServiceMonitor/PodMonitor and Gateway API CRDs, when they were fetched."""
        folder = self.binaries.third_party_crds
        if folder is None:
            return []
        files = sorted(folder.glob("*.yaml"))
        self.install_crds(files)
        return [f.stem for f in files]
