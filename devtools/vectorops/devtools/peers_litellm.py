"""LiteLLM's proxy (https://github.com/BerriAI/litellm, `litellm[proxy]` on PyPI) as a peer gateway, for
benchmarks that compare our gateway with it on the same routes.

It lives in a virtualenv of its own, `<cache>/peers/litellm-<version>/` (`VECTOROPS_CACHE`, else
~/.cache/vectorops), made by vectorops.devtools.peers on first use and kept: 117 packages, about 20 s and
120 MB of its own (bytecode included) plus 560 MB hardlinked from uv's cache (polars, botocore, numpy,
uvloop, granian... come with the `proxy` extra). Pinned: litellm 1.106.2 was the newest release whose
`proxy` extra resolved against the package index here (1.108+ pins litellm-proxy-extras and
litellm-enterprise versions it did not have); the rest of the tree is fixed by resolving only against what
PyPI had on LITELLM_EXCLUDE_NEWER, the day after that release.

`LiteLLMProxy` runs `litellm --config <file>` (uvicorn with uvloop, one worker) on a free loopback port with
a config of OpenAI-compatible routes, and nothing else:
- no database (no DATABASE_URL), so no keys, spend logs or budgets are stored; no Redis, no cache;
- a fixed master key when one is given (every call then needs `Authorization: Bearer <master key>`);
  without one, `dangerously_permit_weak_or_unset_master_key` (it refuses to start with no key otherwise)
  and every call is accepted;
- no admin UI (DISABLE_ADMIN_UI), no /docs or /redoc, no feedback banner;
- nothing fetched at start-up or later: every remote JSON it would read from GitHub (model prices,
  Anthropic beta headers, blog posts, policy templates, router presets) is read from its own package
  (LITELLM_LOCAL_*); no .env is read from the working folder (LITELLM_MODE=PRODUCTION). As a guard, the
  process gets HTTP(S)_PROXY pointing at a closed loopback port with NO_PROXY for loopback, so anything
  that still reaches out through an HTTP client that honours the environment fails at once;
- its log at ERROR (LITELLM_LOG): no line per request, like our gateway (access_log=None).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from vectorops.devtools.controlplane import free_port
from vectorops.devtools.peers import PeerError, _tail, ensure_peer_venv

LITELLM_VERSION = "1.106.2"
LITELLM_REQUIREMENTS = (f"litellm[proxy]=={LITELLM_VERSION}",)
LITELLM_EXCLUDE_NEWER = "2026-10-22T00:00:00Z"
# Bytecode compiled at install, as for Infinity: Python does not write it on our machines
# (PYTHONDONTWRITEBYTECODE=1), and LiteLLM's imports take several times longer without it.
_INSTALL_OPTIONS = ("--exclude-newer", LITELLM_EXCLUDE_NEWER, "--compile-bytecode")

# Environment that keeps LiteLLM local and quiet (see the module's docstring).
_QUIET_ENV = {
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_LOG": "ERROR",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "all_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
# Inherited variables that would change what it does (a database, a key, a cache, a logging sink...).
_DROPPED_PREFIXES = ("LITELLM_", "OPENAI_", "AZURE_", "ANTHROPIC_", "REDIS_", "DATABASE_", "DIRECT_URL")
_DROPPED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "STORE_MODEL_IN_DB", "UI_USERNAME", "UI_PASSWORD")


def ensure_litellm_venv() -> Path:
    """LiteLLM's virtualenv, created with uv on first use (see vectorops.devtools.peers.ensure_peer_venv:
    PeerUnavailable when no package index answers, PeerError when the install fails otherwise)."""
    return ensure_peer_venv(f"litellm-{LITELLM_VERSION}", LITELLM_REQUIREMENTS, _INSTALL_OPTIONS)


@dataclass(frozen=True)
class LiteLLMRoute:
    """One model of the proxy: clients call `name`; LiteLLM calls `upstream_model` at `api_base` (an
    OpenAI-compatible base URL, .../v1) as the provider `openai/`, with `api_key`."""

    name: str
    upstream_model: str
    api_base: str
    api_key: str = "none"  # the OpenAI client LiteLLM uses needs one; "none" for a backend without keys


def litellm_config(routes: Sequence[LiteLLMRoute], master_key: str | None = None) -> dict[str, Any]:
    """The proxy's config (config.yaml; written as JSON, which YAML reads)."""
    general: dict[str, Any] = {
        "store_model_in_db": False,
        "disable_spend_logs": True,
        "disable_error_logs": True,
        "background_health_checks": False,
    }
    if master_key is not None:
        general["master_key"] = master_key
    else:  # LiteLLM 1.106 refuses to start without a master key unless told this is local development
        general["dangerously_permit_weak_or_unset_master_key"] = True
    return {
        "model_list": [
            {
                "model_name": r.name,
                "litellm_params": {
                    "model": f"openai/{r.upstream_model}",
                    "api_base": r.api_base,
                    "api_key": r.api_key,
                },
            }
            for r in routes
        ],
        "litellm_settings": {"set_verbose": False, "json_logs": False, "cache": False},
        "general_settings": general,
    }


class LiteLLMProxy:
    """`litellm --config` on a free loopback port, one uvicorn worker:

        with LiteLLMProxy([LiteLLMRoute("e5", "e5-up", backend_base_url)]) as base_url:
            openai.OpenAI(base_url=base_url, api_key="-").embeddings.create(model="e5", input="hi")

    `base_url` is `http://127.0.0.1:<port>/v1`. Logs go to `<workdir>/litellm.log` (a temporary folder,
    removed afterwards, unless `workdir` is given); on a start failure PeerError carries the log's tail.
    """

    def __init__(
        self,
        routes: Sequence[LiteLLMRoute],
        *,
        master_key: str | None = None,
        workdir: Path | None = None,
        start_timeout: float = 180,
    ) -> None:
        self.routes = tuple(routes)
        self.master_key = master_key
        self.start_timeout = start_timeout
        self._given_workdir = workdir
        self.workdir: Path | None = None
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "not started"
        return self.workdir / "litellm.log"

    @property
    def pid(self) -> int:
        """The server's process (uvicorn with one worker serves in the process the CLI started)."""
        assert self.proc is not None, "not started"
        return self.proc.pid

    def command(self, venv: Path, config: Path) -> list[str]:
        return [
            str(venv / "bin" / "litellm"),
            "--config", str(config),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--num_workers", "1",
        ]  # fmt: skip

    def _env(self) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(_DROPPED_PREFIXES) and k not in _DROPPED and not k.lower().endswith("_proxy")
        }
        return {**inherited, **_QUIET_ENV}

    def start(self) -> str:
        """Launch and wait until it answers; returns `base_url`."""
        self.launch()
        return self.wait_ready()

    def launch(self) -> None:
        """Start the process without waiting for it (its imports take seconds); then `wait_ready`."""
        venv = ensure_litellm_venv()
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="vectorops-litellm-"))
        config = self.workdir / "config.yaml"
        config.write_text(json.dumps(litellm_config(self.routes, self.master_key), indent=2))
        self.port = free_port()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(venv, config),
                cwd=self.workdir,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self) -> str:
        """Wait until /health/liveliness answers (after start-up, which reads the config); returns
        `base_url`. On a failure the proxy is stopped and PeerError carries the log's tail."""
        try:
            self._wait_alive()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _wait_alive(self) -> None:
        assert self.proc is not None, "not launched"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerError(f"litellm exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.root_url}/health/liveliness", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        raise PeerError(f"litellm did not answer in {self.start_timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL after `timeout` seconds."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None
        if self._given_workdir is None and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
