"""Operator at scale: N VectorCollections (default 2,000) on the Qdrant stand-in and the real local
control plane.

Measured in one run:
- seconds_to_ready: one `kubectl apply` of N collections until every one reports Ready=True;
- api_requests_per_object: the operator's requests over that phase, divided by N: the apiserver's own
  request counter (apiserver_request_total, read from its /metrics) by verb and resource, less what
  kubectl apply and this script's polling send (GET, POST and LIST of vectorcollections: the operator
  never reads its collections but through its watch), and less the apiserver's own lease and endpoint
  writes. (Until 2026-11-24 this counted all requests after `kubectl apply` returned, which moved with
  how much of the operator's work overlapped the apply: 2.6 and 3.7 in two runs of the same code.);
- peak_rss_mb: the operator's VmHWM;
- restart_reverify_s: the operator restarted with N existing objects: the time until its reconcile
  counter (vectorops_operator_reconcile_total for VectorCollection) shows every object passed again,
  and how many 429s the apiserver answered meanwhile (none expected).

    .venv/bin/python benchmarks/operator_scale.py [--n 2000] [--profile]

--profile samples the operator with py-spy while the N collections become Ready and while they are
re-verified after the restart, and prints where its CPU time goes (benchmarks/profile_summary.py; the
collapsed stacks are kept in build/profile-*.txt). Sampling costs the operator a little time: compare
figures of runs made without it.

Targets on a 2-core machine: 500 Ready in under 60 s, 2,000 in under 120 s, restart re-verification
of 2,000 in under 60 s, RSS under 300 MB. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import yaml

from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.qdrant_standin import StandInQdrant

sys.path.insert(0, str(Path(__file__).resolve().parent))
from operator_collections import collections, cpu_seconds, peak_rss_mb, ready_count
from profile_summary import Sampler

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"seconds_to_ready_2000": 120, "restart_reverify_s": 60, "peak_rss_mb": 300}


# What kubectl apply sends per object (measured: GET namespaces, GET and POST vectorcollections), this
# script's polling (LIST vectorcollections) and discovery: the operator itself never reads its
# collections but through its watch.
KUBECTL_AND_POLLING = frozenset(
    {"GET namespaces", "GET vectorcollections", "POST vectorcollections", "LIST vectorcollections"}
)


def not_the_operators(key: str) -> bool:
    """Whether a "VERB resource" count is kubectl's, this script's or the apiserver's own (its lease and
    the `kubernetes` Service's endpoints, renewed by itself; discovery paths have no resource)."""
    resource = key.partition(" ")[2]
    own = resource.split("/")[0] in ("leases", "endpoints", "endpointslices", "")
    return key in KUBECTL_AND_POLLING or own or resource.startswith("/")


def apiserver_requests(cp: ControlPlane, by_kind: Counter[str] | None = None) -> tuple[float, float]:
    """(all requests, 429 answers) the apiserver has counted since it started; with `by_kind`, also
    adds them up there by "VERB resource[/subresource]"."""
    text = cp.kubectl("get", "--raw", "/metrics").stdout
    total = throttled = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            value = float(line.rsplit(" ", 1)[1])
            total += value
            if 'code="429"' in line:
                throttled += value
            if by_kind is not None:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
                sub = f"/{labels['subresource']}" if labels.get("subresource") else ""
                by_kind[f"{labels.get('verb')} {labels.get('resource')}{sub}"] += value
    return total, throttled


def reconciles(metrics_url: str) -> float:
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return 0.0
    pattern = re.compile(
        r'^vectorops_operator_reconcile_total\{[^}]*kind="VectorCollection"[^}]*\} (\S+)$', re.M
    )
    return sum(float(v) for v in pattern.findall(text))


class Operator:
    def __init__(self, cp: ControlPlane, ns: str, log: Path) -> None:
        self.metrics_port = free_port()
        self.log = log
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cp.kubeconfig),
            "VECTOROPS_NAMESPACES": json.dumps([ns]),
            "VECTOROPS_LIVENESS_ENDPOINT": "",
            "VECTOROPS_RESYNC_SECONDS": "600",  # no timer pass falls inside the measured phases
            "VECTOROPS_METRICS_HOST": "127.0.0.1",
            "VECTOROPS_METRICS_PORT": str(self.metrics_port),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vectorops.cli", "operator"], env=self.env, stdout=out, stderr=out
        )

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"operator exited: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="sample the operator with py-spy")
    args = parser.parse_args()
    n, ns = args.n, f"scale-{args.n}"
    with ControlPlane.start() as cp, StandInQdrant(port=free_port()) as qdrant:
        cp.install_crds(sorted((REPO / "crds").glob("*.yaml")))
        cp.kubectl("create", "namespace", ns)
        store = {
            "apiVersion": "vectorops.io/v1alpha1",
            "kind": "VectorStore",
            "metadata": {"name": "q"},
            "spec": {"qdrant": {"url": qdrant.url}},
        }
        cp.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(store))
        op = Operator(cp, ns, Path(f"/tmp/vectorops-bench-scale-{n}.log"))
        op.start()
        time.sleep(4)  # started and watching: we time reconciliation, not Python start-up
        assert op.proc is not None
        sampler = (
            Sampler(op.proc.pid, REPO / "build" / f"profile-create-{n}.txt").start() if args.profile else None
        )
        at_start: Counter[str] = Counter()
        apiserver_requests(cp, at_start)
        start = time.monotonic()
        cp.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(collections(n)))
        created = time.monotonic()
        while ready_count(cp, ns) < n:
            op.check_alive()
            if time.monotonic() - start > 1200:
                raise TimeoutError(f"only {ready_count(cp, ns)}/{n} Ready after 1200 s")
            time.sleep(1)
        seconds = time.monotonic() - start
        profiles = {"create": sampler.stop()} if sampler is not None else {}
        rss, cpu = peak_rss_mb(op.proc.pid), cpu_seconds(op.proc.pid)
        at_ready: Counter[str] = Counter()
        apiserver_requests(cp, at_ready)
        spent = Counter({k: v - at_start[k] for k, v in at_ready.items() if v > at_start[k]})
        not_ours = [k for k in spent if not_the_operators(k)]
        user_requests = sum(spent.pop(k) for k in not_ours)
        per_object = sum(spent.values()) / n
        print(
            f"{n} VectorCollections Ready in {seconds:.1f} s ({1000 * seconds / n:.1f} ms each; "
            f"kubectl apply itself took {created - start:.1f} s); operator CPU {cpu:.1f} s, "
            f"peak RSS {rss:.0f} MB"
        )
        print(
            f"operator's apiserver requests: {per_object:.2f} per object (kubectl apply, this script's "
            f"polling and the apiserver's own: {user_requests / n:.2f} per object, not counted)"
        )
        print(
            "  by request, per object: "
            + ", ".join(f"{k} {v / n:.2f}" for k, v in spent.most_common() if v >= n / 50)
        )

        op.stop()
        _, throttled_before = apiserver_requests(cp)
        op = Operator(cp, ns, op.log)
        op.start()
        restart = time.monotonic()
        assert op.proc is not None
        sampler = (
            Sampler(op.proc.pid, REPO / "build" / f"profile-restart-{n}.txt").start()
            if args.profile
            else None
        )
        while reconciles(op.metrics_url) < n:
            op.check_alive()
            if time.monotonic() - restart > 900:
                raise TimeoutError("restart re-verification did not finish in 900 s")
            time.sleep(0.5)
        reverify = time.monotonic() - restart
        if sampler is not None:
            profiles["restart"] = sampler.stop()
        _, throttled = apiserver_requests(cp)
        assert op.proc is not None
        restart_rss = peak_rss_mb(op.proc.pid)
        op.stop()
        print(
            f"restart with {n} existing objects: every one re-verified after {reverify:.1f} s (process start "
            f"included), {throttled - throttled_before:.0f} answers 429, peak RSS {restart_rss:.0f} MB"
        )
        for phase, summary in profiles.items():
            print(f"profile of the operator, {phase} phase:")
            print("\n".join(summary.lines()))
        result = {
            "n": n,
            "seconds_to_ready": round(seconds, 2),
            "api_requests_per_object": round(per_object, 2),
            "peak_rss_mb": round(max(rss, restart_rss), 1),
            "restart_reverify_s": round(reverify, 2),
            "throttled_429": int(throttled - throttled_before),
            "operator_cpu_s": round(cpu, 1),
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
