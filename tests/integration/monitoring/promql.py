"""PromQL helpers for the kit's tests: the expressions of rules and dashboards, and the metric names they use."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

# Grafana variables, replaced by values Prometheus accepts, so the expressions can be checked as PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$instance": ".*"}
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "time",
}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# Numbers and durations (`0.99`, `1e3`, `offset 5m`): their letters are not names.
_NUMBERS = re.compile(r"(?<![a-zA-Z0-9_:])\d[0-9.]*(?:[eE][+-]?\d+)?[a-z]*")
_TOKEN = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def dashboard_exprs(path: Path) -> Iterator[tuple[str, str]]:
    """(panel title, expression with Grafana variables replaced) of every target of a dashboard."""

    def panels(items: list[dict[str, object]]) -> Iterator[dict[str, object]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))  # type: ignore[arg-type]

    for panel in panels(json.loads(path.read_text())["panels"]):
        for target in panel.get("targets", []):  # type: ignore[attr-defined]
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            yield str(panel["title"]), expr


def rule_exprs(path: Path) -> Iterator[tuple[str, str]]:
    """(rule name, expression) of every alerting and recording rule in a rule file."""
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


def recorded_names(path: Path) -> set[str]:
    """Names the recording rules of a rule file define."""
    return {
        rule["record"]
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (label matchers, grouping labels and functions removed)."""
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBERS.sub(" ", text)
    names = set()
    for match in _TOKEN.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in _KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(match.group())
    return names


def as_rule_file(exprs: list[tuple[str, str]]) -> str:
    """A rule file recording each expression, so promtool and Prometheus parse and evaluate them."""
    rules = [
        {"record": f"check:expr_{index}:dashboard", "expr": expr} for index, (_, expr) in enumerate(exprs)
    ]
    return yaml.safe_dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, sort_keys=False)
