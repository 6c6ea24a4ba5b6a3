"""The Grafana dashboards: every query reads only metrics the code registers and parses (promtool),
dashboards/ is what `vectorops dashboards` renders now, and its ConfigMaps are what Grafana's sidecar loads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.metric_names import metrics_in, registered_names
from tests.unit.test_alert_rules import run_promtool
from vectorops.cli import main as cli_main
from vectorops.operator.builders.dashboards import SIDECAR_LABEL, dashboards, render_all

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "dashboards"
Board = dict[str, Any]
# Grafana's interval macros, as promtool should see them (a duration where the macro stands).
MACRO = re.compile(r"\$__(?:rate_interval|interval|range)\b")


def panels(board: Board) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        if panel["type"] != "row":
            yield panel


def exprs(board: Board) -> Iterator[tuple[str, str]]:
    """(where, expr) of every panel query."""
    for panel in panels(board):
        for target in panel["targets"]:
            yield f"{board['uid']} / {panel['title']} / {target['refId']}", target["expr"]


def variable_queries(board: Board) -> Iterator[str]:
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            yield var["query"]["query"]


@pytest.fixture(scope="module")
def boards() -> dict[str, Board]:
    return dashboards()


def test_the_four_dashboards_have_stable_unique_prefixed_uids(boards: dict[str, Board]) -> None:
    assert sorted(boards) == [
        "vectorops-collections",
        "vectorops-embedders",
        "vectorops-gateway",
        "vectorops-operator",
    ]
    assert all(uid == b["uid"] for uid, b in boards.items())
    titles = [b["title"] for b in boards.values()]
    assert len(set(titles)) == len(titles)


def test_every_dashboard_has_a_prometheus_datasource_variable_and_laid_out_panels(
    boards: dict[str, Board],
) -> None:
    for board in boards.values():
        assert board["schemaVersion"] >= 39
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in board["panels"]]
        assert len(set(ids)) == len(ids), board["uid"]
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, (board["uid"], panel["title"])
        for panel in panels(board):
            assert panel["targets"], (board["uid"], panel["title"])
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["fieldConfig"]["defaults"]["unit"], (board["uid"], panel["title"])


def test_every_variable_a_query_uses_is_defined(boards: dict[str, Board]) -> None:
    for board in boards.values():
        defined = {v["name"] for v in board["templating"]["list"]}
        for where, expr in exprs(board):
            used = set(re.findall(r"\$(\w+)", MACRO.sub("", expr)))
            assert used <= defined, f"{where}: {sorted(used - defined)} not defined"
    assert {v["name"] for v in boards["vectorops-gateway"]["templating"]["list"]} >= {"namespace", "route"}


def test_every_metric_a_dashboard_reads_is_registered_by_the_code(boards: dict[str, Board]) -> None:
    known = registered_names()
    used: set[str] = set()
    for board in boards.values():
        for where, expr in exprs(board):
            names = metrics_in(expr)
            assert names or re.search(r"(?<![\w:])up\{", expr), f"{where}: no metric in {expr}"
            assert names <= known, f"{where}: not registered by any metrics class: {sorted(names - known)}"
            used |= names
        for query in variable_queries(board):
            found = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
            assert found, query
            assert metrics_in(found[1]) and metrics_in(found[1]) <= known, query
    # GPU, per-object gauges, breaker states: the ones easiest to get wrong are there.
    assert {
        "vectorops_embedder_device_memory_bytes",
        "vectorops_collection_indexed_vectors",
        "vectorops_gateway_breaker_state",
        "vectorops_operator_backend_seconds_bucket",
        "vectorops_gateway_upstream_duration_seconds_bucket",
    } <= used


DATA_PATH = {
    "vectorops_gateway_collection_bindings",
    "vectorops_gateway_collection_binding_errors_total",
    "vectorops_gateway_ingest_documents_total",
    "vectorops_gateway_ingest_batches_total",
    "vectorops_gateway_search_duration_seconds_bucket",
    "vectorops_gateway_search_cache_lookups_total",
    "vectorops_gateway_search_cache_errors_total",
    "vectorops_gateway_repair_rows_total",
    "vectorops_gateway_repair_runs_total",
}


def test_the_collections_dashboard_shows_the_gateways_data_path(boards: dict[str, Board]) -> None:
    """Every series of the gateway's collections data path (GatewayMetrics._collections) has a panel in
    the collections dashboard's Data path row, selected by its namespace/collection variables."""
    board = boards["vectorops-collections"]
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows[-1] == "Data path"
    data_path = board["panels"][[p["title"] for p in board["panels"]].index("Data path") + 1 :]
    used: set[str] = set()
    for panel in data_path:
        for target in panel["targets"]:
            names = metrics_in(target["expr"])
            used |= names
            assert 'namespace=~"$namespace"' in target["expr"], panel["title"]
            if names & {"vectorops_gateway_ingest_batches_total", "vectorops_gateway_repair_runs_total"}:
                assert 'collection=~"$collection"' in target["expr"], panel["title"]
    assert used == DATA_PATH


def test_label_names_in_grouping_clauses_and_strings_are_not_taken_for_metrics() -> None:
    expr = (
        'sum by (vectorops_io_embeddingmodel, pod) (rate(vectorops_embedder_texts_total{backend=~"vectorops_x"}'
        "[5m])) / on (vectorops_io_embeddingmodel) vectorops_embedder_queue_depth"
    )
    assert metrics_in(expr) == {"vectorops_embedder_texts_total", "vectorops_embedder_queue_depth"}
    assert metrics_in("sum(vectorops_colection_points)") == {"vectorops_colection_points"}


def check_with_promtool(queries: list[str], tmp_path: Path) -> None:
    """Each query as a recording rule, its Grafana macros replaced by a duration: promtool parses it."""
    rules = [
        {"record": f"vectorops_dashboard:query:{i}", "expr": MACRO.sub("5m", expr)}
        for i, expr in enumerate(queries)
    ]
    (tmp_path / "dashboards.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})
    )
    run_promtool("check", "rules", "dashboards.rules.yaml", cwd=tmp_path)


def test_every_dashboard_query_parses(boards: dict[str, Board], tmp_path: Path) -> None:
    queries = [expr for board in boards.values() for _, expr in exprs(board)]
    assert len(queries) > 50
    check_with_promtool(queries, tmp_path)


def test_a_query_that_does_not_parse_fails_the_check(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="parse error"):
        check_with_promtool(
            ["sum by (kind (rate(vectorops_operator_reconcile_total[$__rate_interval]))"], tmp_path
        )


def test_checked_in_dashboards_are_up_to_date(tmp_path: Path) -> None:
    assert cli_main(["dashboards", "--output", str(tmp_path)]) == 0
    fresh = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert fresh == render_all()
    checked_in = {p.name: p.read_text() for p in CHECKED_IN.iterdir() if p.is_file()}
    stale = sorted(n for n in fresh.keys() | checked_in.keys() if fresh.get(n) != checked_in.get(n))
    assert not stale, f"dashboards/ is stale ({', '.join(stale)}): run `make dashboards` and commit"


def test_a_stale_dashboard_file_is_removed_and_others_are_left(tmp_path: Path) -> None:
    (tmp_path / "vectorops-gone.json").write_text("{}\n")
    (tmp_path / "mine.json").write_text("{}\n")
    assert cli_main(["dashboards", "--output", str(tmp_path)]) == 0
    assert not (tmp_path / "vectorops-gone.json").exists() and (tmp_path / "mine.json").exists()


def test_each_dashboard_ships_in_a_config_map_for_grafanas_sidecar(boards: dict[str, Board]) -> None:
    maps = list(yaml.safe_load_all((CHECKED_IN / "configmaps.yaml").read_text()))
    assert len(maps) == len(boards)
    names = [m["metadata"]["name"] for m in maps]
    assert len(set(names)) == len(names)
    for cm in maps:
        assert (cm["apiVersion"], cm["kind"]) == ("v1", "ConfigMap")
        assert cm["metadata"]["labels"][SIDECAR_LABEL] == "1"
        ((key, text),) = cm["data"].items()
        uid = key.removesuffix(".json")
        assert json.loads(text) == boards[uid]
        assert json.loads((CHECKED_IN / key).read_text()) == boards[uid]
