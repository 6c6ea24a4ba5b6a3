"""A throwaway Prometheus on loopback (Debian's `prometheus` package), for tests: it scrapes the given
targets every second, evaluates the given rule groups every second, and answers its HTTP API.

It contacts nothing but the loopback targets it is given: no Alertmanager, no remote write.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from vectorops.devtools.controlplane import free_port
from vectorops.devtools.processes import stop_group, wait_until_ok

PROMETHEUS = "/usr/bin/prometheus"


def available() -> str | None:
    """None when a Prometheus server can be started here, else why not."""
    if shutil.which(PROMETHEUS) is None:
        return f"{PROMETHEUS} not found: install Debian's prometheus package (hack/system-deps.sh)"
    return None


@dataclass
class ScrapeTarget:
    """One scrape job of one loopback target (`host:port`), with the target labels it adds to every
    series (as a PodMonitor's podTargetLabels would) and, with honor_labels, the target's own labels
    kept where they clash with those (as `honorLabels: true` in a ServiceMonitor/PodMonitor)."""

    job: str
    address: str
    labels: dict[str, str] = field(default_factory=dict)
    honor_labels: bool = False
    metrics_path: str = "/metrics"


def config(targets: list[ScrapeTarget], rule_files: list[str]) -> dict[str, Any]:
    """prometheus.yml: 1 s scrapes and evaluations, one job per target."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": rule_files,
        "scrape_configs": [
            {
                "job_name": t.job,
                "honor_labels": t.honor_labels,
                "metrics_path": t.metrics_path,
                "static_configs": [{"targets": [t.address], "labels": dict(t.labels)}],
            }
            for t in targets
        ],
    }


class LocalPrometheus:
    """`with LocalPrometheus(targets, groups) as prom:` a running server, ready (/-/ready) when the block
    starts and stopped (with its process group) after it. `groups` are rule groups in the rule-file shape
    (`{"name": ..., "rules": [...]}`)."""

    def __init__(
        self,
        targets: list[ScrapeTarget],
        groups: list[dict[str, Any]] | None = None,
        workdir: Path | None = None,
        ready_timeout: float = 30,
    ) -> None:
        self.targets = targets
        self.groups = groups or []
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="vectorops-prometheus-"))
        self.ready_timeout = ready_timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self) -> LocalPrometheus:
        why = available()
        if why is not None:
            raise RuntimeError(why)
        self.workdir.mkdir(parents=True, exist_ok=True)
        rule_files: list[str] = []
        if self.groups:
            rules = self.workdir / "rules.yml"
            rules.write_text(yaml.safe_dump({"groups": self.groups}, sort_keys=False))
            rule_files.append(str(rules))
        conf = self.workdir / "prometheus.yml"
        conf.write_text(yaml.safe_dump(config(self.targets, rule_files), sort_keys=False))
        self.port = free_port()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={conf}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        wait_until_ok(f"{self.url}/-/ready", self.proc, self.ready_timeout, "prometheus", self.tail)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the HTTP API --------------------------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: its `data`, or an error when the status is not success."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus answered {body}")
        return body["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """The active alerts (pending or firing): each with labels, annotations, state, activeAt, value."""
        return list(self.api("alerts")["alerts"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query: the result vector, each item {"metric": labels, "value": [time, "value"]}."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise RuntimeError(f"{expr} gave a {data['resultType']}, not a vector")
        return list(data["result"])

    def rules(self) -> list[dict[str, Any]]:
        """The loaded rule groups, with each rule's health and last error."""
        return list(self.api("rules")["groups"])
