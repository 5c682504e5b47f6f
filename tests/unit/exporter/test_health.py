"""Pure parsing of /v1/health, the meta block and the certificate expiry."""

from __future__ import annotations

from typing import Any

import pytest

from onprem.exporter.families import FamilyBuilder, encode
from onprem.exporter.health import (
    HealthError,
    NodeHealth,
    add_build_info,
    add_certificate,
    add_health,
    parse_health,
)
from onprem.exporter.transport import UpstreamError, not_after


def test_single_instance_health_is_one_node() -> None:
    assert parse_health({"health": {"gateway_status": "connected"}}) == [
        NodeHealth("single", "single", "connected")
    ]


def test_multiconnect_health_keeps_role_and_names_the_node_without_its_container_id() -> None:
    doc = {
        "health": {
            "master1:aa": {"gateway_status": "connected", "role": "primary_master"},
            "wacore1:bb": {"gateway_status": "disconnected", "role": "coreapp"},
            "odd:cc": {"gateway_status": "exploded", "role": "boss"},
        }
    }
    assert parse_health(doc) == [
        NodeHealth("master1", "primary_master", "connected"),
        NodeHealth("wacore1", "coreapp", "disconnected"),
        NodeHealth("odd", "unknown", "unknown"),
    ]


def test_of_two_containers_of_one_node_the_live_one_is_reported() -> None:
    doc = {
        "health": {
            "wacore1:0old0old0old": {"gateway_status": "disconnected", "role": "primary_coreapp",
                                     "heartbeat": "lost", "shard": 0, "shards": 1},
            "wacore1:1new1new1new": {"gateway_status": "disconnected", "role": "secondary_coreapp"},
        }
    }  # fmt: skip
    assert parse_health(doc) == [NodeHealth("wacore1", "secondary_coreapp", "disconnected")]


def cluster_samples(health: dict[str, Any]) -> dict[str, float]:
    builder = FamilyBuilder()
    add_health(parse_health({"health": health}), builder)
    found = {}
    for line in text(builder).splitlines():
        if line.startswith(("whatsapp_node_up", "whatsapp_coreapp_spares", "whatsapp_shard")):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


MASTER = {"gateway_status": "connected", "role": "primary_master"}


def owner(shard: int, **extra: Any) -> dict[str, Any]:
    return {"gateway_status": "connected", "role": "primary_coreapp", "shard": shard, "shards": 2, **extra}


def test_a_healthy_cluster_has_every_node_up_a_spare_and_every_shard_served() -> None:
    found = cluster_samples(
        {
            "master1:a": MASTER,
            "wacore1:b": owner(0),
            "wacore2:c": owner(1),
            "wacore3:d": {"gateway_status": "disconnected", "role": "secondary_coreapp"},
        }
    )
    assert found["whatsapp_coreapp_spares"] == 1.0
    assert found["whatsapp_shards"] == 2.0
    assert found['whatsapp_shard_served{shard="0"}'] == 1.0
    assert found['whatsapp_shard_served{shard="1"}'] == 1.0
    assert found['whatsapp_node_up{node="wacore3",role="secondary_coreapp"}'] == 1.0


def test_a_lost_node_no_spare_and_an_unserved_shard_are_three_distinct_series() -> None:
    found = cluster_samples(
        {
            "master1:a": MASTER,
            "wacore1:b": owner(0),
            "wacore2:c": owner(1, gateway_status="disconnected", heartbeat="lost"),
        }
    )
    assert found['whatsapp_node_up{node="wacore2",role="primary_coreapp"}'] == 0.0
    assert found['whatsapp_node_up{node="wacore1",role="primary_coreapp"}'] == 1.0
    assert found["whatsapp_coreapp_spares"] == 0.0
    assert found['whatsapp_shard_served{shard="0"}'] == 1.0
    assert found['whatsapp_shard_served{shard="1"}'] == 0.0


def test_a_shard_with_no_row_at_all_counts_as_unserved() -> None:
    found = cluster_samples({"master1:a": MASTER, "wacore1:b": owner(0)})
    assert found['whatsapp_shard_served{shard="1"}'] == 0.0


@pytest.mark.parametrize("document", [None, "ok", {"health": "ok"}, {"health": {"x": 1}}, {"errors": []}])
def test_other_shapes_are_health_errors(document: Any) -> None:
    with pytest.raises(HealthError):
        parse_health(document)


def text(builder: FamilyBuilder) -> str:
    return encode(builder.build()).decode()


def test_gateway_status_is_a_state_set() -> None:
    builder = FamilyBuilder()
    add_health([NodeHealth("n", "coreapp", "connecting")], builder)
    out = text(builder)
    assert 'whatsapp_gateway_status{node="n",role="coreapp",status="connecting"} 1.0' in out
    assert 'whatsapp_gateway_status{node="n",role="coreapp",status="connected"} 0.0' in out
    assert out.count("whatsapp_gateway_status{") == 5


def test_unknown_status_adds_an_unknown_series() -> None:
    builder = FamilyBuilder()
    add_health([NodeHealth("n", "coreapp", "unknown")], builder)
    assert 'status="unknown"} 1.0' in text(builder)


def test_build_info_comes_from_meta_when_present() -> None:
    builder = FamilyBuilder()
    add_build_info({"meta": {"version": "v2.57.2", "api_status": "stable"}}, builder)
    add_build_info({"meta": {"version": 3}}, builder)
    assert text(builder).count("whatsapp_build_info{") == 1
    assert 'whatsapp_build_info{api_status="stable",version="v2.57.2"} 1.0' in text(builder)


def test_certificate_expiry_is_exported_as_a_unix_time() -> None:
    builder = FamilyBuilder()
    add_certificate(1.8935424e09, builder)
    assert "\nwhatsapp_tls_certificate_expiry_timestamp_seconds 1893542400.0\n" in text(builder)


def test_not_after_reads_the_decoded_peer_certificate() -> None:
    assert not_after({"notAfter": "Jan  2 00:00:00 2030 GMT"}) == 1893542400.0


@pytest.mark.parametrize("peer", [None, {}, {"notAfter": "someday"}, {"notAfter": 5}])
def test_not_after_refuses_anything_else(peer: object) -> None:
    with pytest.raises(UpstreamError):
        not_after(peer)
