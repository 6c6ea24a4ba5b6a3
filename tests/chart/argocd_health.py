"""Running the chart's Argo CD health check (charts/vectorops/argocd/health.lua) with Debian's Lua 5.1,
the dialect of Argo CD's interpreter (gopher-lua), on an object given as a Python dict."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from tests.chart.conftest import CHART

HEALTH_LUA = CHART / "argocd" / "health.lua"


def lua_literal(value: Any) -> str:
    """A Lua table constructor for JSON-like data (lists become 1-based arrays, as in Argo CD)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_literal(str(k))}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def lua() -> str:
    found = shutil.which("lua5.1")
    assert found, "lua5.1 is not installed (make system-deps installs it)"
    return found


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) as Argo CD would show them."""
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local hs = dofile({lua_literal(str(HEALTH_LUA))})\n"
        "io.write(hs.status, '\\t', hs.message or '')\n"
    )
    proc = subprocess.run([lua(), "-"], input=program, capture_output=True, text=True, check=True)
    status, _, message = proc.stdout.partition("\t")
    return status, message
