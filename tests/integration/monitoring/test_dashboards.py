"""Grafana dashboards and provisioning: valid JSON, every PromQL parses, every metric name exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.monitoring.conftest import DASHBOARDS, KIT, RULE_FILES, run_promtool, series_names
from tests.integration.monitoring.promql import (
    as_rule_file,
    dashboard_exprs,
    metric_names,
    recorded_names,
    rule_exprs,
)

# Series Prometheus makes itself, and the documented metrics of the optional host exporters.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
HOST_EXPORTER_SERIES = {"mysql_up", "pg_up"}


def all_exprs() -> list[tuple[str, str]]:
    exprs = [expr for path in DASHBOARDS for expr in dashboard_exprs(path)]
    return exprs + [expr for path in RULE_FILES for expr in rule_exprs(path)]


def test_there_is_an_overview_and_a_relay_dashboard() -> None:
    titles = {
        json.loads(path.read_text())["uid"]: json.loads(path.read_text())["title"] for path in DASHBOARDS
    }
    assert set(titles) == {"onprem-overview", "onprem-relay"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_queries_through_the_datasource_variable(path: Path) -> None:
    board = json.loads(path.read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]


def test_the_overview_covers_health_throughput_latency_queues_and_certificates() -> None:
    board = json.loads((KIT / "grafana" / "dashboards" / "overview.json").read_text())
    rows = {panel["title"] for panel in board["panels"] if panel["type"] == "row"}
    assert rows >= {"Health", "Throughput", "Latency", "Queues"}
    assert any("certificate" in panel["title"].lower() for panel in board["panels"])


def test_every_dashboard_expression_parses_in_promtool(promtool: str, tmp_path: Path) -> None:
    exprs = [expr for path in DASHBOARDS for expr in dashboard_exprs(path)]
    assert len(exprs) > 20
    rules = tmp_path / "dashboard-exprs.yml"
    rules.write_text(as_rule_file(exprs))
    done = run_promtool(promtool, "check", "rules", rules)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


def test_every_metric_used_by_rules_and_dashboards_exists(
    exporter_outputs: dict[str, str], relay_output: str
) -> None:
    known = series_names([*exporter_outputs.values(), relay_output])
    known |= {name for path in RULE_FILES for name in recorded_names(path)}
    known |= PROMETHEUS_SERIES | HOST_EXPORTER_SERIES
    unknown = {
        (where, name) for where, expr in all_exprs() for name in metric_names(expr) if name not in known
    }
    assert not unknown


def test_the_name_extraction_sees_through_promql_syntax() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (instance, le) (rate(relay_ack_latency_seconds_bucket{a="b(c)"}[5m])))'
        ' / on (instance) group_left (x) up{job="relay"} or vector(0) unless foo:bar:baz offset 5m'
    )
    assert metric_names(expr) == {"relay_ack_latency_seconds_bucket", "up", "foo:bar:baz"}


def test_the_grafana_provisioning_points_at_the_dashboards_and_prometheus() -> None:
    provisioning = KIT / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasources["apiVersion"] == 1
    assert datasources["datasources"][0]["type"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "onprem.yml").read_text())
    assert providers["providers"][0]["type"] == "file"
    assert providers["providers"][0]["options"]["path"].startswith("/var/lib/grafana/dashboards")
