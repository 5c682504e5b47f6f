"""Metric documents of `/v1/stats/app`, `/v1/stats/db` and `/v1/metrics`, and their Prometheus text.

The JSON shape is the client's: `{<name>: {"type": "gauge|counter", "help": str, "data": [{"labels":
{...}, "value": n}]}}`. App stats come from the counters core and web keep per node in the database
plus queue gauges counted at read time; a single instance reports them summed, multiconnect keyed by
node (`<hostname>:<container-id>`), each node's set with its role and gateway status as in /v1/health
(`gateway_status{role,status}` 1, masters included). Web metrics are this web process's own, kept in memory.
Everything here is pure except `WebMetrics` and `DbRequestStats`, which only accumulate numbers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Sample = tuple[dict[str, str], float]
Entry = dict[str, Any]

HELP: dict[str, str] = {
    "callback_queue_size": "Callbacks waiting to be delivered to the webhook.",
    "pending_callbacks": "Callbacks that failed at least once and wait for a retry.",
    "pending_messages": "Outbound messages not yet sent.",
    "in_messages_pending_processing": "Inbound messages not yet processed.",
    "callback_requests": "Webhook deliveries by result (success, HTTP code, error, expired) and type.",
    "callback_requests_duration_ms_count": "Successful webhook deliveries timed.",
    "callback_requests_duration_ms_sum": "Total time of successful webhook deliveries (ms).",
    "out_message_persisted": "Outbound messages accepted and stored.",
    "out_message_status": "Outbound message status changes by status.",
    "out_message_sent_duration_ms_count": "Outbound messages sent.",
    "out_message_sent_duration_ms_sum": "Total time from acceptance to sent (ms).",
    "in_message_from_server": "Inbound messages received from the server.",
    "in_message_decoded": "Inbound messages decoded.",
    "in_message_persisted": "Inbound messages stored.",
    "gateway_status": "This node's gateway status and role, as /v1/health reports them (1).",
}
GAUGES = ("callback_queue_size", "pending_callbacks", "pending_messages", "in_messages_pending_processing")
# Label-less counters reported (as 0) before anything happened, so their series exist from the start.
BASE_COUNTERS = (
    "out_message_persisted",
    "out_message_sent_duration_ms_count",
    "out_message_sent_duration_ms_sum",
    "in_message_from_server",
    "callback_requests_duration_ms_count",
    "callback_requests_duration_ms_sum",
)


def entry(kind: str, help_: str, samples: Iterable[Sample]) -> Entry:
    return {
        "type": kind,
        "help": help_,
        "data": [{"labels": labels, "value": value} for labels, value in samples],
    }


def _node_metrics(counters: dict[tuple[str, str], float], gauges: tuple[int, int, int]) -> dict[str, Entry]:
    by_name: dict[str, list[Sample]] = {name: [({}, 0.0)] for name in BASE_COUNTERS}
    for (name, labels_json), value in sorted(counters.items()):
        labels = json.loads(labels_json)
        samples = by_name.setdefault(name, [])
        if not labels and samples == [({}, 0.0)]:
            samples.clear()
        samples.append((labels, value))
    out = {name: entry("counter", HELP.get(name, name), samples) for name, samples in sorted(by_name.items())}
    queued, retrying, pending = gauges
    for name, value in zip(GAUGES, (queued, retrying, pending, 0), strict=True):
        out[name] = entry("gauge", HELP[name], [({}, float(value))])
    return out


def app_stats(
    counters: Iterable[tuple[str, str, dict[str, str], float]],
    gauges: dict[str, tuple[int, int, int]],
    *,
    nodes: Iterable[str] = (),
    multiconnect: bool = False,
    states: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `app` object: one metric set (summed over nodes), or one per node in multiconnect, where
    `states` (the multiconnect /v1/health object) adds each node's role and gateway status."""
    per_node: dict[str, dict[tuple[str, str], float]] = {node: {} for node in nodes}
    for node, name, labels, value in counters:
        key = (name, json.dumps(labels, sort_keys=True))
        bucket = per_node.setdefault(node if multiconnect else "", {})
        bucket[key] = bucket.get(key, 0.0) + value
    if not multiconnect:
        total = [0, 0, 0]
        for values in gauges.values():
            total = [a + b for a, b in zip(total, values, strict=True)]
        return _node_metrics(per_node.get("", {}), (total[0], total[1], total[2]))
    for node in gauges:
        per_node.setdefault(node, {})
    result: dict[str, Any] = {
        node: _node_metrics(values, gauges.get(node, (0, 0, 0)))
        for node, values in sorted(per_node.items())
        if node  # callbacks of messages accepted while no node was up belong to none
    }
    for node, state in sorted((states or {}).items()):
        labels = {"role": str(state.get("role", "")), "status": str(state.get("gateway_status", ""))}
        result.setdefault(node, {})["gateway_status"] = entry(
            "gauge", HELP["gateway_status"], [(labels, 1.0)]
        )
    return result


def db_stats(message_counts: dict[tuple[str, str], int], contacts: int) -> dict[str, Entry]:
    """The `db` object of `/v1/stats/db`: stored messages, receipts and contacts."""
    sent = sum(n for (direction, _), n in message_counts.items() if direction == "out")
    received = sum(n for (direction, _), n in message_counts.items() if direction == "in")
    receipts = sum(n for (d, s), n in message_counts.items() if d == "out" and s in ("delivered", "read"))
    return {
        "db_messages": entry(
            "gauge", "Messages stored, by type.", [({"type": "sent"}, sent), ({"type": "received"}, received)]
        ),
        "db_message_receipts": entry("gauge", "Delivery and read receipts stored.", [({}, receipts)]),
        "db_contacts": entry("gauge", "Contacts known, by type.", [({"type": "whatsapp_user"}, contacts)]),
    }


DB_REQUEST_HELP = {
    "db_request_duration_us_count": "Database requests that succeeded (this process).",
    "db_request_duration_us_sum": "Total time of successful database requests (us).",
    "db_request_error_duration_us_count": "Database requests that failed (this process).",
    "db_request_error_duration_us_sum": "Total time of failed database requests (us).",
}


class DbRequestStats:
    """This process's database requests (one store operation each), counted in memory, so they can be
    reported while the database is down: the client-side signal of the DatabaseDown alert. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(DB_REQUEST_HELP, 0.0)

    def record(self, *, ok: bool, duration_us: float) -> None:
        prefix = "db_request_duration_us" if ok else "db_request_error_duration_us"
        with self._lock:
            self._totals[f"{prefix}_count"] += 1
            self._totals[f"{prefix}_sum"] += duration_us

    def document(self) -> dict[str, Entry]:
        """The four counters in the `/v1/stats/app` metric shape (ONPREM_API 2.10)."""
        with self._lock:
            totals = dict(self._totals)
        return {
            name: entry("counter", help_, [({}, round(totals[name], 3))])
            for name, help_ in DB_REQUEST_HELP.items()
        }


@dataclass
class WebMetrics:
    """This web process's counters (for `/v1/metrics`); `node` labels every sample."""

    node: str
    started: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    requests: int = 0
    durations: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)

    def record(self, method: str, result: str, duration_ms: float) -> None:
        count, total = self.durations.get((method, result), (0, 0.0))
        self.durations[(method, result)] = (count + 1, total + duration_ms)
        self.requests += 1

    def document(self, now: float | None = None) -> dict[str, Entry]:
        node = {"node": self.node}
        uptime = (now if now is not None else time.monotonic()) - self.started
        timed = sorted(self.durations.items())
        return {
            "web_uptime": entry("gauge", "Seconds since the web server started.", [(node, round(uptime, 3))]),
            "web_connections": entry("gauge", "Requests being handled.", [(node, self.in_flight)]),
            "web_pending_connections": entry("gauge", "Connections waiting.", [(node, 0)]),
            "web_queue_len": entry("gauge", "Requests queued.", [(node, 0)]),
            "web_requests": entry(
                "counter", "Requests handled.", [({**node, "state": "handle-request"}, self.requests)]
            ),
            "api_requests_duration_ms_count": entry(
                "counter",
                "API requests.",
                [({**node, "method": m, "result": r}, c) for (m, r), (c, _) in timed],
            ),
            "api_requests_duration_ms_sum": entry(
                "counter",
                "Time spent in API requests (ms).",
                [({**node, "method": m, "result": r}, round(s, 3)) for (m, r), (_, s) in timed],
            ),
        }


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def prometheus_text(metric_sets: Iterable[tuple[str | None, dict[str, Entry]]]) -> str:
    """Prometheus exposition text of (node, metrics) sets; a node adds a `node` label."""
    families: dict[str, tuple[str, str, list[str]]] = {}
    for node, metrics in metric_sets:
        for name, item in metrics.items():
            kind, help_, lines = families.setdefault(name, (item["type"], item["help"], []))
            for point in item["data"]:
                labels = dict(point["labels"])
                if node is not None:
                    labels.setdefault("node", node)
                text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
                lines.append(
                    f"{name}{{{text}}} {_number(point['value'])}"
                    if text
                    else f"{name} {_number(point['value'])}"
                )
    out = []
    for name, (kind, help_, lines) in sorted(families.items()):
        out += [f"# HELP {name} {_escape(help_)}", f"# TYPE {name} {kind}", *lines]
    return "\n".join(out) + "\n"
