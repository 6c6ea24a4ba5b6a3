"""Waiting for a server process of ours to answer, or saying why it never did."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path


def wait_until_ok(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float, what: str) -> None:
    """Poll `url` until it answers 200; fail with the process's log if it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} never answered {url}:\n{log.read_text()[-4000:]}")
