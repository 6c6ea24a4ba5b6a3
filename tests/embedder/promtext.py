"""Reading sample values out of a /metrics page, so tests check that metrics move, not that they exist."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly these labels; 0 if it has not been written yet (a
    labelled counter appears only once incremented)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0
