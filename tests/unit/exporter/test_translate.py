"""Pure translation of the client's JSON metrics into Prometheus families."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from onprem.exporter.fakes import documents
from onprem.exporter.families import FamilyBuilder, encode, sanitize_name
from onprem.exporter.translate import NoMetricsError, exported_name, translate


def samples(source: str, document: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    builder = FamilyBuilder()
    translate(source, document, builder)  # type: ignore[arg-type]
    text = encode(builder.build()).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def entry(kind: str, value: Any, labels: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": kind, "help": "h", "data": [{"labels": labels or {}, "value": value}]}


def test_counters_get_total_and_curated_names() -> None:
    doc = {"stats": {"app": {"callback_requests": entry("counter", 7, {"result": "success", "type": "x"})}}}
    assert samples("app", doc) == {
        ("whatsapp_callback_requests_total", (("result", "success"), ("type", "x"))): 7.0
    }


def test_millisecond_pairs_become_one_seconds_summary() -> None:
    doc = {
        "stats": {
            "app": {
                "callback_requests_duration_ms_count": entry("counter", 4),
                "callback_requests_duration_ms_sum": entry("counter", 2500),
            }
        }
    }
    assert samples("app", doc) == {
        ("whatsapp_callback_request_duration_seconds_count", ()): 4.0,
        ("whatsapp_callback_request_duration_seconds_sum", ()): 2.5,
    }


def test_microsecond_sums_are_converted_to_seconds() -> None:
    doc = {"stats": {"app": {"db_request_duration_us_sum": entry("counter", 3_000_000, {"db": "main"})}}}
    assert samples("app", doc) == {("whatsapp_app_db_request_duration_seconds_sum", (("db", "main"),)): 3.0}


def test_message_send_count_is_also_messages_sent_total() -> None:
    doc = {"stats": {"app": {"out_message_sent_duration_ms_count": entry("counter", 9)}}}
    found = samples("app", doc)
    assert found[("whatsapp_messages_sent_total", ())] == 9.0
    assert found[("whatsapp_message_send_duration_seconds_count", ())] == 9.0


def test_web_metrics_drop_the_repeated_web_prefix_and_keep_labels() -> None:
    doc = {
        "metrics": {
            "web_requests": entry("counter", 5, {"node": "w", "state": "read"}),
            "api_requests_duration_ms_sum": entry(
                "counter", 1500, {"method": "GET_v1_health", "result": "200"}
            ),
        }
    }
    found = samples("web", doc)
    assert found[("whatsapp_web_requests_total", (("node", "w"), ("state", "read")))] == 5.0
    key = ("whatsapp_api_request_duration_seconds_sum", (("method", "GET_v1_health"), ("result", "200")))
    assert found[key] == 1.5


def test_per_node_documents_add_a_node_label_without_the_container_id() -> None:
    doc = {
        "stats": {
            "app": {
                "wacore1:abc": {"pending_callbacks": entry("gauge", 2)},
                "wacore2:def": {"pending_callbacks": entry("gauge", 3)},
            }
        }
    }
    assert samples("app", doc) == {
        ("whatsapp_pending_callbacks", (("node", "wacore1"),)): 2.0,
        ("whatsapp_pending_callbacks", (("node", "wacore2"),)): 3.0,
    }


def test_a_recreated_container_continues_its_node_series_and_both_containers_add_up() -> None:
    doc = {
        "stats": {
            "app": {
                "wacore1:0old0old0old": {"messages_sent": entry("counter", 7)},
                "wacore1:1new1new1new": {"messages_sent": entry("counter", 2)},
            }
        }
    }
    assert samples("app", doc) == {("whatsapp_app_messages_sent_total", (("node", "wacore1"),)): 9.0}


def test_node_keyed_above_the_app_key_is_understood_too() -> None:
    doc = {"stats": {"wacore1:abc": {"app": {"pending_messages": entry("gauge", 1)}}}}
    assert samples("app", doc) == {("whatsapp_pending_messages", (("node", "wacore1"),)): 1.0}


def test_malformed_points_are_skipped_not_fatal() -> None:
    doc = {
        "stats": {
            "app": {
                "pending_messages": {
                    "type": "gauge",
                    "data": [
                        {"labels": {}, "value": "NaN-ish"},
                        {"labels": {}, "value": True},
                        "junk",
                        {"labels": ["not", "a", "map"], "value": 1},
                        {"labels": {"ok": 1, "__x": "y", "le": "1"}, "value": 2},
                    ],
                },
                "weird name!": entry("gauge", 1),
            }
        }
    }
    assert samples("app", doc) == {
        ("whatsapp_pending_messages", (("ok", "1"),)): 2.0,
        ("whatsapp_app_weird_name_", ()): 1.0,
    }


@pytest.mark.parametrize("document", [None, [], "text", {"errors": [{"code": 1005}]}, {"stats": {"app": {}}}])
def test_documents_without_metrics_are_errors(document: Any) -> None:
    with pytest.raises(NoMetricsError):
        translate("app", document, FamilyBuilder())


def test_a_name_reused_with_another_type_keeps_the_first() -> None:
    doc = {
        "stats": {
            "app": {
                "node1": {"pending_messages": entry("gauge", 1)},
                "node2": {"pending_messages": entry("counter", 5)},
            }
        }
    }
    assert samples("app", doc) == {("whatsapp_pending_messages", (("node", "node1"),)): 1.0}


def test_exported_names_follow_the_source_prefix() -> None:
    assert exported_name("db", "db_messages") == "whatsapp_db_messages"
    assert exported_name("app", "media_uploads_total") == "whatsapp_app_media_uploads"
    assert sanitize_name("1bad-name") == "_1bad_name"
    assert sanitize_name("!!!") == ""


def test_the_fake_multiconnect_documents_translate_per_node() -> None:
    found = samples("app", documents(33)["/v1/stats/app"])
    nodes = {dict(labels)["node"] for name, labels in found if name == "whatsapp_callback_queue_size"}
    assert len(nodes) == 32  # every node but the secondary master reports stats
