"""A rule group -> the object that delivers it to Prometheus (pure).

Where the Prometheus operator's CRDs are served: a PrometheusRule, which it loads into every Prometheus
whose ruleSelector matches. Elsewhere: a ConfigMap holding one rule file, labelled
`vectorops.io/prometheus-rules: "true"`, for a plain Prometheus that mounts such ConfigMaps as rule
files (the Prometheus Helm chart's configmap-reload sidecar, or a volume of your own).
"""

from __future__ import annotations

import hashlib

import yaml

from vectorops.operator.builders.embedder_monitoring import MONITORING_API
from vectorops.operator.builders.rule_files import Manifest

RULES_LABEL = "vectorops.io/prometheus-rules"
MAX_NAME = 253


def rules_name(prefix: str, name: str) -> str:
    """`vectorops-<prefix>-<name>`, cut with a hash suffix where it would pass an object name's limit."""
    full = f"vectorops-{prefix}-{name}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return f"{full[: MAX_NAME - 11].rstrip('-.')}-{digest}"


def rules_file(name: str) -> str:
    return f"{name}.rules.yaml"


def prometheus_rule(name: str, labels: dict[str, str], group: Manifest) -> Manifest:
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": labels},
        "spec": {"groups": [group]},
    }


def rules_configmap(name: str, labels: dict[str, str], group: Manifest) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {**labels, RULES_LABEL: "true"}},
        "data": {rules_file(name): yaml.safe_dump({"groups": [group]}, sort_keys=False)},
    }
