"""The benchmark's profile summary: collapsed stacks grouped by layer and by our functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "profile_summary", Path(__file__).resolve().parents[2] / "benchmarks" / "profile_summary.py"
)
assert _spec is not None and _spec.loader is not None
profile_summary = importlib.util.module_from_spec(_spec)
sys.modules["profile_summary"] = profile_summary  # its dataclasses look their module up
_spec.loader.exec_module(profile_summary)

RAW = """\
run (/venv/lib/python3.11/site-packages/kopf/_core/reactor/running.py:90);handler (/repo/operator/vectorops/operator/handlers/wiring.py:120);reconcile (/repo/operator/vectorops/operator/reconcilers/vectorstore.py:60);dumps (/usr/lib/python3.11/json/encoder.py:200) 6
run (/venv/lib/python3.11/site-packages/kopf/_core/reactor/running.py:90);patch (/venv/lib/python3.11/site-packages/kopf/_cogs/clients/patching.py:40);loads (/usr/lib/python3.11/json/decoder.py:337) 3
_run_once (/usr/lib/python3.11/asyncio/base_events.py:1900);select (/usr/lib/python3.11/selectors.py:468) 1
garbage line
"""


def test_samples_go_to_the_innermost_known_layer_and_our_functions_count_inclusively() -> None:
    s = profile_summary.summarise(RAW)
    assert s.samples == 10
    assert s.by_layer == {"json": 6 + 3, "asyncio": 1}
    assert s.ours_inclusive == {"wiring.handler": 6, "vectorstore.reconcile": 6}
    lines = s.lines()
    assert lines[0].startswith("10 samples") and "   90.0%  json" in lines


def test_a_frame_outside_every_known_package_is_other() -> None:
    assert profile_summary.summarise("main (/usr/lib/python3.11/foo.py:1) 4").by_layer == {"other": 4}
