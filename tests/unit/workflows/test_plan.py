"""`plan`'s pure parts: file changes, the reasons a service is recreated, each service's action."""

from __future__ import annotations

from onprem.engine.base import ContainerState
from onprem.workflows.plan import config_reasons, diff_files, service_plans


def container(service: str) -> ContainerState:
    return ContainerState(service, f"p-{service}-1", "running", "healthy", 0)


def test_file_changes_are_added_changed_and_removed() -> None:
    old = {"compose.yaml": "a", "relay.yaml": "b", "gone.yml": "c"}
    new = {"compose.yaml": "a", "relay.yaml": "B", "exporter.yaml": "d"}
    assert diff_files(old, new) == {
        "added": ["exporter.yaml"],
        "changed": ["relay.yaml"],
        "removed": ["gone.yml"],
    }


def test_reasons_name_what_differs_in_the_operators_words() -> None:
    old = {"image": "web:v2.53.2", "environment": {"A": "1"}, "ports": [1], "command": ["x"]}
    new = {"image": "web:v2.57.2", "environment": {"A": "2"}, "ports": [2], "command": ["x"]}
    assert config_reasons(old, new) == ["environment", "image web:v2.53.2 -> web:v2.57.2", "published ports"]
    assert config_reasons({"command": ["a"]}, {"entrypoint": ["b"]}) == ["command"]


def test_each_service_is_created_recreated_removed_or_unchanged_with_reasons() -> None:
    containers = [container("db"), container("waweb"), container("grafana")]
    plans = service_plans(
        expected=["db", "waweb", "relay"],
        containers=containers,
        configs=({"waweb": {"ports": ["9090:443"]}}, {"waweb": {"ports": ["9191:443"]}}),
        extra={"db": ["secret WA_DB_PASSWORD changed"]},
    )
    got = {p.service: (p.action, p.reasons) for p in plans}
    assert got == {
        "db": ("recreate", ["secret WA_DB_PASSWORD changed"]),
        "waweb": ("recreate", ["published ports"]),
        "relay": ("create", ["no container"]),
        "grafana": ("remove", ["not in the new configuration"]),
    }


def test_a_service_whose_hash_matches_and_nothing_else_changed_is_unchanged() -> None:
    plans = service_plans(["db"], [container("db")], ({"db": {"image": "a"}}, {"db": {"image": "a"}}), {})
    assert [(p.action, p.reasons) for p in plans] == [("unchanged", [])]
    plans = service_plans(["db"], [container("db")], None, {})
    assert [(p.action, p.reasons) for p in plans] == [("unchanged", [])]
