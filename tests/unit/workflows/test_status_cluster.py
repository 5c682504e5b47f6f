"""`onprem status` on a multiconnect health answer: a lost node, no spare and an unserved shard are three
findings with reasons, in the document (`--json`) and the table; an API answering 503 is not "not
answering"."""

from __future__ import annotations

from typing import Any

from onprem.engine.base import ContainerState
from onprem.workflows.status import api_answer, cluster_findings, format_table, status_document

MASTER = {"gateway_status": "connected", "role": "primary_master"}
SPARE = {"gateway_status": "disconnected", "role": "secondary_coreapp"}


def owner(shard: int, **extra: Any) -> dict[str, Any]:
    return {"gateway_status": "connected", "role": "primary_coreapp", "shard": shard, "shards": 2, **extra}


def kinds(health: dict[str, Any]) -> list[str]:
    return [finding["kind"] for finding in cluster_findings(health)]


def test_a_healthy_cluster_with_a_standby_has_no_finding() -> None:
    assert (
        kinds({"master1:a": MASTER, "wacore1:b": owner(0), "wacore2:c": owner(1), "wacore3:d": SPARE}) == []
    )


def test_a_lost_owner_taken_over_by_the_standby_is_a_lost_node_and_no_spare() -> None:
    health = {
        "master1:a": MASTER,
        "wacore1:b": owner(0),
        "wacore2:c": {**SPARE, "heartbeat": "lost"},
        "wacore3:d": owner(1),
    }
    findings = cluster_findings(health)
    assert [f["kind"] for f in findings] == ["node_lost", "no_spare"]
    assert findings[0]["node"] == "wacore2:c"
    assert "stopped heart-beating" in findings[0]["reason"]
    assert "no standby coreapp left" in findings[1]["reason"]


def test_a_second_loss_without_a_spare_leaves_the_shard_unserved() -> None:
    health = {
        "master1:a": MASTER,
        "wacore1:b": owner(0),
        "wacore2:c": {**SPARE, "heartbeat": "lost"},
        "wacore3:d": owner(1, gateway_status="disconnected", heartbeat="lost"),
    }
    findings = cluster_findings(health)
    assert [f["kind"] for f in findings] == ["node_lost", "node_lost", "no_spare", "shard_unserved"]
    unserved = findings[-1]
    assert unserved["shard"] == 1
    assert "wacore3:d is down" in unserved["reason"]
    assert "1018" in unserved["reason"]


def test_single_instance_health_has_no_cluster_findings() -> None:
    assert cluster_findings({"gateway_status": "connected"}) == []
    assert cluster_findings(None) == []


def test_findings_make_the_deployment_unhealthy_in_json_and_table() -> None:
    health = {"master1:a": MASTER, "wacore1:b": owner(0), "wacore2:c": owner(1, heartbeat="lost")}
    document = status_document(
        deployment="d", expected=[], containers=[], api_url="https://x", health=health, api_error=None
    )
    assert not document["healthy"]
    assert [f["kind"] for f in document["cluster"]] == ["node_lost", "no_spare", "shard_unserved"]
    table = format_table(document)
    assert "problem: shard 1 is not served" in table
    assert "problem: node wacore2:c" in table


def test_an_api_answering_503_is_reported_as_answering() -> None:
    assert api_answer(503, "database error") == "answers HTTP 503 (database error)"
    assert api_answer(None, "connection refused") == "is not answering (connection refused)"
    document = status_document(
        deployment="d",
        expected=["waweb"],
        containers=[],
        api_url="https://x",
        health=None,
        api_error="database error",
        api_status=503,
    )
    assert "answers HTTP 503" in format_table(document)
    assert "not answering" not in format_table(document)


def test_after_a_completed_migration_the_stopped_client_is_expected_and_the_rest_must_be_healthy() -> None:
    relay = ContainerState(service="relay", name="d-relay-1", state="running", health="healthy", exit_code=0)
    web = ContainerState(service="waweb", name="d-waweb-1", state="exited", health=None, exit_code=0)
    migration = {"phone_number_id": "1065", "completed": "2026-11-30T18:33:56+00:00", "region": "DE"}
    document = status_document(
        deployment="d",
        expected=["relay"],
        containers=[relay, web],
        api_url="https://x",
        health=None,
        api_error=None,
        migration=migration,
    )
    assert document["healthy"] is True
    assert document["migration"] == migration
    table = format_table(document)
    assert "migrated to the Cloud API 2026-11-30T18:33:56+00:00 (phone number ID 1065, DE)" in table
    assert "deployment d: healthy" in table

    stopped_relay = ContainerState(
        service="relay", name="d-relay-1", state="exited", health=None, exit_code=1
    )
    broken = status_document(
        deployment="d",
        expected=["relay"],
        containers=[stopped_relay],
        api_url="https://x",
        health=None,
        api_error=None,
        migration=migration,
    )
    assert broken["healthy"] is False, "the relay still matters after the move: it takes the Cloud webhooks"
