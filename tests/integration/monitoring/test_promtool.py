"""promtool reports nothing on the kit: config, rules, rule unit tests, and the exporter's and relay's output."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from tests.conftest import require
from tests.integration.exporter.conftest import make_pki
from tests.integration.monitoring.conftest import KIT, RULE_FILES, RULE_TESTS, render_template, run_promtool


def assert_clean(done: subprocess.CompletedProcess[str]) -> None:
    """promtool succeeded and printed no warning."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr


def assert_silent(done: subprocess.CompletedProcess[str]) -> None:
    """promtool succeeded and printed nothing at all (`check metrics` prints only problems)."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (done.stdout + done.stderr).strip()


def test_the_kit_prometheus_config_checks_clean(promtool: str) -> None:
    assert_clean(run_promtool(promtool, "check", "config", KIT / "prometheus.yml"))


@pytest.mark.parametrize("relay_target", ["relay:8443", ""])
def test_the_stack_template_renders_a_config_that_checks_clean(
    promtool: str, tmp_path: Path, relay_target: str
) -> None:
    text = render_template(exporter_target="exporter:9108", relay_target=relay_target, scrape_interval="5s")
    config = yaml.safe_load(text)
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs["whatsapp"] == ["exporter:9108"]
    assert ("relay" in jobs) == bool(relay_target)
    assert config["global"]["scrape_interval"] == "5s"
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    assert_clean(run_promtool(promtool, "check", "config", path))


def test_an_https_relay_is_scraped_with_its_ca_pinned(promtool: str, tmp_path: Path) -> None:
    ca = make_pki(tmp_path / "relay-pki").ca_file
    text = render_template(
        exporter_target="exporter:9108",
        relay_target="relay:8443",
        scrape_interval="15s",
        relay_scheme="https",
        relay_ca_file=str(ca),
    )
    relay = next(job for job in yaml.safe_load(text)["scrape_configs"] if job["job_name"] == "relay")
    assert relay["scheme"] == "https"
    assert relay["tls_config"] == {"ca_file": str(ca)}
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    assert_clean(run_promtool(promtool, "check", "config", path))
    with pytest.raises(jinja2.UndefinedError):
        render_template(
            exporter_target="e:1", relay_target="r:1", scrape_interval="15s", relay_scheme="https"
        )


def test_the_template_refuses_a_missing_variable() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_template(exporter_target="exporter:9108", scrape_interval="15s")


def test_the_rule_files_check_clean(promtool: str) -> None:
    assert RULE_FILES
    assert_clean(run_promtool(promtool, "check", "rules", *RULE_FILES))


def test_the_rule_unit_tests_pass(promtool: str) -> None:
    assert RULE_TESTS
    done = run_promtool(promtool, "test", "rules", *RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_shows_it_silent() -> None:
    alerts = {
        rule["alert"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case["exp_alerts"] else silent).add(case["alertname"])
    assert alerts == firing
    assert alerts == silent


def test_alerts_carry_severity_summary_and_description_and_records_follow_the_naming() -> None:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
                    assert set(rule["annotations"]) >= {"summary", "description"}, rule["alert"]
                else:
                    assert len(rule["record"].split(":")) == 3, rule["record"]


@pytest.mark.parametrize("case", ["single", "multiconnect", "down"])
def test_the_exporter_output_passes_promtool_check_metrics(
    promtool: str, exporter_outputs: dict[str, str], case: str
) -> None:
    assert_silent(run_promtool(promtool, "check", "metrics", stdin=exporter_outputs[case]))


def test_the_relay_output_passes_promtool_check_metrics(promtool: str, relay_output: str) -> None:
    assert_silent(run_promtool(promtool, "check", "metrics", stdin=relay_output))


def test_the_kit_inhibit_rules_check_clean_in_an_alertmanager_config(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    require(
        amtool is not None, "amtool is not installed (make tools: apt-get install prometheus-alertmanager)"
    )
    assert amtool is not None
    inhibit = yaml.safe_load((KIT / "alertmanager" / "inhibit-rules.yml").read_text())
    config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}], **inhibit}
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(inhibit['inhibit_rules'])} inhibit rules" in done.stdout, done.stdout
