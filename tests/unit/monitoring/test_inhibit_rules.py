"""The kit's Alertmanager inhibit rules agree with its alert rules: every alert whose description says to
inhibit it with WhatsAppDatabaseDown is inhibited by it, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

KIT = Path(__file__).resolve().parents[3] / "monitoring"


def alerts() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((KIT / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule
    return found


def inhibitions() -> list[dict[str, Any]]:
    rules = yaml.safe_load((KIT / "alertmanager" / "inhibit-rules.yml").read_text())["inhibit_rules"]
    assert isinstance(rules, list)
    return rules


def matched_names(matchers: list[str]) -> set[str]:
    """The alert names a list of `alertname = X` / `alertname =~ "A|B"` matchers selects."""
    names: set[str] = set()
    for matcher in matchers:
        field, op, value = re.fullmatch(r'\s*(\w+)\s*(=~|=)\s*"?([^"]*)"?\s*', matcher).groups()  # type: ignore[union-attr]
        assert field == "alertname"
        names |= set(value.split("|")) if op == "=~" else {value}
    return names


def targets_of(source: str) -> set[str]:
    return {
        name
        for rule in inhibitions()
        if matched_names(rule["source_matchers"]) == {source}
        for name in matched_names(rule["target_matchers"])
    }


def test_every_alert_an_inhibit_rule_names_exists() -> None:
    known = set(alerts())
    for rule in inhibitions():
        assert matched_names(rule["source_matchers"]) <= known
        assert matched_names(rule["target_matchers"]) <= known
        assert rule["equal"] == ["instance"]


def test_the_database_alert_inhibits_exactly_the_alerts_that_say_it_is_their_cause() -> None:
    saying = {
        name
        for name, rule in alerts().items()
        if "with WhatsAppDatabaseDown" in " ".join(rule["annotations"]["description"].split())
    }
    assert saying == targets_of("WhatsAppDatabaseDown")
    assert {"WhatsAppNodeLost", "WhatsAppNoSpareCoreapp", "WhatsAppShardUnserved"} <= saying


def test_the_database_alert_names_every_alert_it_explains() -> None:
    description = " ".join(alerts()["WhatsAppDatabaseDown"]["annotations"]["description"].split())
    for name in targets_of("WhatsAppDatabaseDown"):
        assert name in description


def test_an_unserved_shard_inhibits_the_missing_spare_it_implies() -> None:
    assert targets_of("WhatsAppShardUnserved") == {"WhatsAppNoSpareCoreapp"}
