"""The processes the dev tools and tests start: waiting for one to answer, and stopping one, each the
leader of its own process group (started with `start_new_session=True`), so that whatever it spawned
stops with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable


def stop_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 15) -> None:
    """SIGTERM to the group, SIGKILL after `timeout` seconds; returns once the leader has exited."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def wait_until_ok(
    url: str, proc: subprocess.Popen[bytes], timeout: float, what: str, log: Callable[[], str]
) -> None:
    """Poll `url` until it answers 200; raise with `log()` (the end of the process's log) if the
    process exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} never answered {url} in {timeout:.0f} s:\n{log()}")
