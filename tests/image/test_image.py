"""What can be checked of the image without a Docker engine: the Dockerfile passes hadolint and keeps
its promises (pinned base, multi-stage, numeric non-root user, the uv.lock versions), and the wheel it
installs starts every entry point from a clean virtualenv (no repository on the path, no dev tools,
no model runtime for the operator and gateway)."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _stages(text: str) -> list[list[str]]:
    """The Dockerfile's instructions, split by FROM into stages (comments and continuations folded)."""
    lines = re.sub(r"\\\n", " ", text).splitlines()
    stages: list[list[str]] = [[]]
    for line in (ln.strip() for ln in lines):
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages[1:]


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_pins_its_base_builds_in_a_stage_and_runs_as_a_numeric_non_root_user() -> None:
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE=(\S+)$", text, re.M)
    assert base is not None and ":" in base.group(1) and not base.group(1).endswith(":latest"), base
    build, final = _stages(text)
    assert any("uv sync --frozen" in line for line in build), "the image must install exactly uv.lock"
    final_text = "\n".join(final)
    assert "COPY --from=build /opt/vectorops /opt/vectorops" in final_text
    assert not re.search(r"\b(uv|pip|gcc|go)\b\s", final_text.replace("/opt/vectorops", "")), final_text
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or (gid.isdigit() and int(gid) != 0)), users[-1]
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".dev"} <= set(ignored)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(BIN / "uv"), "build", "--wheel", "--out-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("vectorops-*.whl")
    return found


def test_the_wheel_holds_the_shipped_code_and_the_crds_but_no_dev_tools(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("operator", "embedder", "gateway", "routing", "serving", "datastore"):
        assert f"vectorops/{package}/__init__.py" in names, package
    assert not [n for n in names if n.startswith(("vectorops/devtools", "tests/"))]
    crds = {n.rsplit("/", 1)[1] for n in names if n.startswith("vectorops/operator/crds_yaml/")}
    assert crds == {p.name for p in (REPO / "crds").glob("*.yaml")}


def test_every_entry_point_starts_from_the_wheel_in_a_clean_virtualenv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    uv = str(BIN / "uv")
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    # The gateway extra only: the operator and the gateway must run without torch.
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), f"{wheel}[gateway]"],
        check=True,
        capture_output=True,
    )
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    cli = str(venv / "bin" / "vectorops")
    for command in ("operator", "embedder", "gateway", "crds", "rules", "dashboards"):
        shown = subprocess.run(
            [cli, command, "--help"], capture_output=True, text=True, env=env, cwd=tmp_path
        )
        assert shown.returncode == 0, (command, shown.stderr[-2000:])
    imports = (
        "import vectorops.operator.main, vectorops.gateway.app, vectorops.datastore.migrations, sys;"
        "assert 'torch' not in sys.modules and 'vectorops.devtools' not in sys.modules"
    )
    ran = subprocess.run(
        [str(venv / "bin" / "python"), "-c", imports], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    crds = tmp_path / "crds"
    made = subprocess.run([cli, "crds", "--output", str(crds)], capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    for path in crds.glob("vectorops.io_*.yaml"):
        assert path.read_text() == (REPO / "crds" / path.name).read_text()
