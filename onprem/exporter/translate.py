"""Pure translation of the client's JSON metrics (`/v1/stats/app`, `/v1/metrics`, `/v1/stats/db`).

Upstream entries look like `{"<name>": {"type": "gauge|counter", "help": str, "data": [{"labels": {...},
"value": n}]}}`, either once (single instance) or once per node (multiconnect: keyed by node name at some
level of the document). Every entry becomes a family named by Prometheus rules:
- a curated name for the metrics the alerts and dashboards use (`RENAMES`), else `whatsapp_<source>_<name>`;
- counters end in `_total`; `*_duration_ms|us_count|sum` pairs become one `*_duration_seconds` summary with
  the sum converted to seconds (base units);
- per-node documents add a `node` label unless the entry already carries one: the host part of the key
  (`<hostname>:<container-id>`), so a recreated container continues the same series; what several
  containers of one host report (the old one's counters are still listed) is added up.
Entries that are not shaped like metrics are skipped; a document with no metrics at all is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, Literal

from onprem.exporter.families import FamilyBuilder, clean_labels, number, sanitize_name
from onprem.exporter.health import stable_node

Source = Literal["app", "web", "db"]
PREFIX: dict[Source, str] = {"app": "whatsapp_app_", "web": "whatsapp_web_", "db": "whatsapp_db_"}
# Upstream name prefixes that would only repeat the source in the exported name.
_STRIP: dict[Source, str] = {"app": "", "web": "web_", "db": "db_"}
# Curated names (without _total/_seconds suffixes) of the metrics the monitoring kit relies on.
RENAMES: dict[Source, dict[str, str]] = {
    "app": {
        "callback_queue_size": "whatsapp_callback_queue_size",
        "pending_callbacks": "whatsapp_pending_callbacks",
        "pending_messages": "whatsapp_pending_messages",
        "in_messages_pending_processing": "whatsapp_inbound_messages_pending",
        "callback_requests": "whatsapp_callback_requests",
        "callback_requests_duration": "whatsapp_callback_request_duration",
        "in_message_from_server": "whatsapp_messages_received",
        "out_message_sent_duration": "whatsapp_message_send_duration",
        "out_message_status": "whatsapp_message_statuses",
        "endpoint_requests": "whatsapp_endpoint_requests",
        "endpoint_requests_duration": "whatsapp_endpoint_request_duration",
    },
    "web": {"api_requests_duration": "whatsapp_api_request_duration"},
    "db": {},
}
# The count of these summaries is also exported as a plain counter under a name a dashboard can guess.
COUNT_ALIASES: dict[str, tuple[str, str]] = {
    "whatsapp_message_send_duration": ("whatsapp_messages_sent", "Messages the client sent to WhatsApp."),
}
_TIMED = re.compile(r"^(?P<base>.+)_(?P<unit>ms|us)_(?P<part>count|sum)$")
_SCALE = {"ms": 1e-3, "us": 1e-6}
_CONTAINERS = frozenset({"app", "db", "stats", "metrics", "web"})
_MAX_DEPTH = 4


class NoMetricsError(ValueError):
    """The document holds nothing shaped like the client's metrics."""


def is_entry(value: object) -> bool:
    """True if `value` looks like one upstream metric entry (a mapping with a `data` list)."""
    return isinstance(value, Mapping) and isinstance(value.get("data"), list)


def metric_sets(
    document: object, node: str | None = None, depth: int = 0
) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """Every (node, {name: entry}) mapping in `document`; keys other than app/db/stats/metrics name nodes."""
    if not isinstance(document, Mapping) or depth > _MAX_DEPTH:
        return
    if any(is_entry(value) for value in document.values()):
        yield node, document
        return
    for key, value in document.items():
        if isinstance(value, Mapping):
            inner = node if str(key) in _CONTAINERS else str(key)
            yield from metric_sets(value, inner, depth + 1)


@lru_cache(maxsize=4096)
def exported_name(source: Source, name: str) -> str:
    """The family name (without `_total`) for upstream metric `name` of `source`."""
    curated = RENAMES[source].get(name)
    if curated is not None:
        return curated
    return PREFIX[source] + name.removeprefix(_STRIP[source]).removesuffix("_total")


def translate(source: Source, document: object, builder: FamilyBuilder) -> int:
    """Add every metric of `document` to `builder`; returns the number of samples added.

    Raises NoMetricsError if the document has no metric entries (garbage, or an error envelope).
    """
    added = 0
    found = False
    for node, entries in metric_sets(document):
        found = True
        for raw_name, entry in entries.items():
            if is_entry(entry):
                added += _entry(source, str(raw_name), entry, node, builder)
    if not found:
        raise NoMetricsError(f"no {source} metrics in the answer")
    return added


def _entry(
    source: Source, raw_name: str, entry: Mapping[str, Any], node: str | None, out: FamilyBuilder
) -> int:
    name = sanitize_name(raw_name)
    if not name:
        return 0
    help_ = entry.get("help") if isinstance(entry.get("help"), str) else ""
    timed = _TIMED.match(name)
    kind = entry.get("type")
    added = 0
    for point in entry["data"]:
        if not isinstance(point, Mapping):
            continue
        value = number(point.get("value"))
        raw_labels = point.get("labels")
        if value is None or not (raw_labels is None or isinstance(raw_labels, Mapping)):
            continue
        labels = clean_labels(raw_labels or {})
        if node is not None:
            labels.setdefault("node", stable_node(node))
        add = node is not None
        if timed is not None:
            family = exported_name(source, timed["base"]) + "_seconds"
            part: Literal["count", "sum"] = "count" if timed["part"] == "count" else "sum"
            scaled = value if part == "count" else value * _SCALE[timed["unit"]]
            out.summary_part(family, str(help_), part, scaled, labels, accumulate=add)
            alias = COUNT_ALIASES.get(family.removesuffix("_seconds"))
            if alias is not None and part == "count":
                out.counter(alias[0], alias[1], value, labels, accumulate=add)
        elif kind == "counter":
            out.counter(exported_name(source, name), str(help_), value, labels, accumulate=add)
        else:
            out.gauge(exported_name(source, name), str(help_), value, labels, accumulate=add)
        added += 1
    return added
