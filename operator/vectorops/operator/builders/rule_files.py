"""Prometheus rule-file pieces shared by every kind's rules: an alerting rule with its runbook, a
recording rule, a group."""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]
RUNBOOKS = "docs/runbooks"
"""Where the runbooks live in this repository; each alert's runbook_url is RUNBOOKS/<alert>.md."""


def runbook_url(alert: str) -> str:
    return f"{RUNBOOKS}/{alert}.md"


def rule(
    name: str,
    expr: str,
    for_: str | None,
    labels: dict[str, str],
    summary: str,
    description: str,
) -> Manifest:
    """An alerting rule; `labels` must hold severity. No `for_`: it fires at the first evaluation."""
    alert: Manifest = {"alert": name, "expr": expr}
    if for_ is not None:
        alert["for"] = for_
    alert["labels"] = dict(labels)  # a copy: YAML dumps of shared dicts would use anchors
    alert["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": runbook_url(name),
    }
    return alert


def record(name: str, expr: str) -> Manifest:
    return {"record": name, "expr": expr}


def group(name: str, rules: list[Manifest]) -> Manifest:
    return {"name": name, "rules": rules}


def percent(ratio: float) -> str:
    """A threshold ratio as people write it in a summary: 0.05 -> "5%", 0.025 -> "2.5%"."""
    return f"{ratio * 100:.3g}%"
