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

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vectorops.devtools.peers import PeerServer, ensure_peer_venv

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


class LiteLLMProxy(PeerServer):
    """`litellm --config` on a free loopback port, one uvicorn worker:

        with LiteLLMProxy([LiteLLMRoute("e5", "e5-up", backend_base_url)]) as base_url:
            openai.OpenAI(base_url=base_url, api_key="-").embeddings.create(model="e5", input="hi")

    `base_url` is `http://127.0.0.1:<port>/v1`; /health/liveliness answers once it has read its config.
    """

    name = "litellm"
    health_path = "/health/liveliness"

    def __init__(
        self,
        routes: Sequence[LiteLLMRoute],
        *,
        master_key: str | None = None,
        workdir: Path | None = None,
        start_timeout: float = 180,
    ) -> None:
        super().__init__(workdir=workdir, start_timeout=start_timeout)
        self.routes = tuple(routes)
        self.master_key = master_key

    def venv(self) -> Path:
        return ensure_litellm_venv()

    def prepare(self) -> None:
        assert self.workdir is not None
        config = litellm_config(self.routes, self.master_key)
        (self.workdir / "config.yaml").write_text(json.dumps(config, indent=2))

    def command(self, venv: Path) -> list[str]:
        assert self.workdir is not None
        return [
            str(venv / "bin" / "litellm"),
            "--config", str(self.workdir / "config.yaml"),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--num_workers", "1",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(_DROPPED_PREFIXES) and k not in _DROPPED and not k.lower().endswith("_proxy")
        }
        return {**inherited, **_QUIET_ENV}
