"""The chart's copies of generated files equal their sources (Helm reads only files inside the chart):
run `make chart-files` after `make crds` or `make dashboards` (both do it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import CHART, REPO
from vectorops.operator.builders.alert_rules import operator_rules

SOURCES = [*sorted((REPO / "crds").glob("*.yaml")), REPO / "dashboards" / "configmaps.yaml"]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_chart_copy_equals_source(source: Path) -> None:
    copy = CHART / "files" / source.parent.name / source.name
    assert copy.exists(), f"{copy} is missing: run `make chart-files`"
    assert copy.read_bytes() == source.read_bytes(), f"{copy} is stale: run `make chart-files`"


def test_no_stale_copies() -> None:
    copies = {p.name for p in (CHART / "files" / "crds").glob("*.yaml")}
    assert copies == {p.name for p in (REPO / "crds").glob("*.yaml")}


def test_the_operator_rule_group_equals_the_builders() -> None:
    copy = CHART / "files" / "rules" / "operator.rules.yaml"
    expected = yaml.safe_dump({"groups": [operator_rules()]}, sort_keys=False, width=120)
    assert copy.read_text() == expected, f"{copy} is stale: run `make chart-files`"


def test_no_crd_carries_annotations_the_template_would_duplicate() -> None:
    """templates/crds/ adds `helm.sh/resource-policy: keep` as the metadata's only annotation: a CRD
    that came with annotations of its own would render a duplicate key (invalid YAML)."""
    for path in sorted((REPO / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert "annotations" not in doc["metadata"], f"{path.name}: adapt templates/crds/"
