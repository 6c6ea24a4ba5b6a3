"""What ships: the operator's wheel carries no dev tools or test doubles."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_has_no_dev_tools(tmp_path: Path) -> None:
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(tmp_path), str(REPO)], check=True, capture_output=True
    )
    (wheel,) = tmp_path.glob("vectorops-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("vectorops/operator/") for n in names)
    assert any(n.startswith("vectorops/embedder/") for n in names)
    assert any(n.startswith("vectorops/operator/crds_yaml/") for n in names)
    leaked = [n for n in names if "devtools" in n or "standin" in n or "devenv" in n]
    assert leaked == [], f"dev tools in the operator's wheel: {leaked}"
