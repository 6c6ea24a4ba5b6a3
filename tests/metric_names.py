"""The metric names the code registers (operator, gateway, embedder registries, plus `up`), and the
metric names an expression reads: the rule and dashboard tests check the second against the first."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from vectorops.embedder.metrics import Metrics as EmbedderMetrics
from vectorops.gateway.metrics import GatewayMetrics
from vectorops.operator.metrics import OperatorMetrics


class _Gate:
    """A pass gate: with one watched, the operator's registry has its gauges too."""

    running = waiting = limit = 0


def registered_names() -> set[str]:
    operator = OperatorMetrics()
    operator.watch_gate(_Gate())
    operator.observe_pass("VectorStore", "uid-1", [], [], 0.01)  # with an object, its pass's age shows
    gateway = GatewayMetrics()
    gateway.watch_breakers(list)
    registries: list[CollectorRegistry] = [operator.registry, gateway.registry, EmbedderMetrics().registry]
    names = {"up"}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for registry in registries:
        for family in registry.collect():
            names.add(family.name)
            names.update(family.name + s for s in suffixes.get(family.type, ()))
    return names


# A metric name: not part of a recorded name (level:metric:ops), not a label name (`name=`, `name=~`, ...).
METRIC = re.compile(r"(?<![\w:])vectorops_\w+\b(?!\s*(?:=~|!=|!~|=(?!=)))")
# What holds label names or values, not metric names: strings and grouping/matching clauses.
_NOT_METRICS = re.compile(
    r'"(?:[^"\\]|\\.)*"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)'
)


def metrics_in(expr: str) -> set[str]:
    """The vectorops_* metric names an expression reads (label names in `by (...)` and the like left out)."""
    return set(METRIC.findall(_NOT_METRICS.sub("", expr)))
