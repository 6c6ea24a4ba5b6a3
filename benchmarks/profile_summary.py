"""Sampling profiles of a running process with py-spy (the `dev` extra), summarised by where the time goes.

`Sampler(pid).start()` ... `.stop()` records with `py-spy record --format raw` (collapsed stacks: one
line per distinct stack, `frame;frame;...;leaf count`, idle samples left out); `summary()` groups the
samples two ways:

- by layer: the innermost frame that belongs to a package of interest (our code, kopf, the Kubernetes
  client, aiohttp, pydantic, json, yaml, logging, asyncio...), so time spent in the standard library on
  behalf of kopf is kopf's;
- by our entry points: inclusive time of the vectorops functions that appear in the most samples.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")

# (label, path fragment): the first fragment found in a frame's file names its layer. Order matters:
# vectorops before site-packages fragments, specific packages before generic ones.
LAYERS: list[tuple[str, str]] = [
    ("vectorops (ours)", "/vectorops/operator/"),
    ("vectorops (ours)", "/vectorops/datastore/"),
    ("vectorops (ours)", "/vectorops/routing/"),
    ("kopf", "/kopf/"),
    ("kubernetes_asyncio", "/kubernetes_asyncio/"),
    ("qdrant-client", "/qdrant_client/"),
    ("httpx/httpcore", "/httpx/"),
    ("httpx/httpcore", "/httpcore/"),
    ("aiohttp", "/aiohttp/"),
    ("pydantic", "/pydantic"),
    ("prometheus-client", "/prometheus_client/"),
    ("json", "/json/"),
    ("yaml", "/yaml/"),
    ("logging", "/logging/"),
    ("ssl", "/ssl.py"),
    ("asyncio", "/asyncio/"),
]


def layer_of(file: str) -> str | None:
    for label, fragment in LAYERS:
        if fragment in file:
            return label
    return None


def parse(line: str) -> tuple[list[tuple[str, str]], int] | None:
    """(frames outermost first as (function, file), samples) of one collapsed-stack line."""
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames = []
    for raw in stack.split(";"):
        m = _FRAME.match(raw.strip())
        frames.append((m["func"], m["file"]) if m else (raw.strip(), ""))
    return frames, int(count)


@dataclass
class Summary:
    samples: int = 0
    by_layer: Counter[str] = field(default_factory=Counter)
    ours_inclusive: Counter[str] = field(default_factory=Counter)

    def lines(self, top: int = 12) -> list[str]:
        if not self.samples:
            return ["(no samples)"]
        out = [f"{self.samples} samples (busy time only); by layer (innermost frame of a known package):"]
        for label, n in self.by_layer.most_common():
            out.append(f"  {100 * n / self.samples:5.1f}%  {label}")
        out.append("our functions, inclusive (share of busy samples with the function on the stack):")
        for name, n in self.ours_inclusive.most_common(top):
            out.append(f"  {100 * n / self.samples:5.1f}%  {name}")
        return out


def summarise(raw: str) -> Summary:
    s = Summary()
    for line in raw.splitlines():
        parsed = parse(line)
        if parsed is None:
            continue
        frames, count = parsed
        s.samples += count
        layer = next((lab for _, f in reversed(frames) if (lab := layer_of(f)) is not None), "other")
        s.by_layer[layer] += count
        ours = {f"{Path(f).stem}.{func}" for func, f in frames if layer_of(f) == "vectorops (ours)"}
        for name in ours:
            s.ours_inclusive[name] += count
    return s


class Sampler:
    """py-spy recording one process until stop()."""

    def __init__(self, pid: int, output: Path, rate: int = 50) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            raise RuntimeError("py-spy is not installed (it comes with the dev extra: make venv)")
        output.parent.mkdir(parents=True, exist_ok=True)
        self.output = output
        self.command = [
            spy, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
            "--output", str(output), "--nonblocking", "--full-filenames",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sampler:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def stop(self) -> Summary:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")
        return summarise(self.output.read_text())
