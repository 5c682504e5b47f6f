"""Pure parsing of `/v1/health` and its `meta` block into metrics, and the certificate expiry gauge.

`/v1/health` is `{"health": {"gateway_status": S}}` on a single instance and
`{"health": {"<host>:<container>": {"gateway_status": S, "role": R}, ...}}` in HA/multiconnect.
Gateway status is exported as a state set: one `whatsapp_gateway_status{node,role,status}` series per known
state, 1 for the current one (an unknown state is reported as `status="unknown"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from onprem.exporter.families import FamilyBuilder

GATEWAY_STATES = ("connected", "connecting", "disconnected", "uninitialized", "unregistered")
ROLES = ("primary_master", "secondary_master", "coreapp")
SINGLE = "single"
"""Node and role label of the one gateway of a single-instance deployment."""


class HealthError(ValueError):
    """The answer to /v1/health is not shaped like a health document."""


@dataclass(frozen=True)
class NodeHealth:
    node: str
    role: str
    status: str


def _status(value: object) -> str:
    return value if isinstance(value, str) and value in GATEWAY_STATES else "unknown"


def parse_health(document: object) -> list[NodeHealth]:
    """The gateway state of every node in a /v1/health answer. Raises HealthError on any other shape."""
    health = document.get("health") if isinstance(document, Mapping) else None
    if not isinstance(health, Mapping):
        raise HealthError("the answer has no 'health' object")
    if "gateway_status" in health:
        return [NodeHealth(SINGLE, SINGLE, _status(health["gateway_status"]))]
    nodes = []
    for node, entry in health.items():
        if isinstance(entry, Mapping) and "gateway_status" in entry:
            role = entry.get("role")
            nodes.append(
                NodeHealth(
                    str(node),
                    role if isinstance(role, str) and role in ROLES else "unknown",
                    _status(entry["gateway_status"]),
                )
            )
    if not nodes:
        raise HealthError("the 'health' object names no gateway_status")
    return nodes


def add_health(nodes: list[NodeHealth], out: FamilyBuilder) -> None:
    """Gateway state-set series for every node."""
    help_ = "Gateway status of each client node (1 for the current status), from /v1/health."
    for item in nodes:
        states = GATEWAY_STATES if item.status in GATEWAY_STATES else (*GATEWAY_STATES, item.status)
        for state in states:
            labels = {"node": item.node, "role": item.role, "status": state}
            out.gauge("whatsapp_gateway_status", help_, 1.0 if state == item.status else 0.0, labels)


def add_build_info(document: object, out: FamilyBuilder) -> None:
    """`whatsapp_build_info{version,api_status}` from the `meta` block, when the answer has one."""
    meta = document.get("meta") if isinstance(document, Mapping) else None
    if not isinstance(meta, Mapping) or not isinstance(meta.get("version"), str):
        return
    api_status = meta.get("api_status")
    labels = {"version": meta["version"], "api_status": api_status if isinstance(api_status, str) else ""}
    out.gauge(
        "whatsapp_build_info", "Version of the client's web API, from the answers' meta block.", 1.0, labels
    )


def add_certificate(not_after: float, out: FamilyBuilder) -> None:
    """The web endpoint certificate's expiry gauge."""
    out.gauge(
        "whatsapp_tls_certificate_expiry_timestamp_seconds",
        "When the web API's TLS certificate expires (Unix time).",
        not_after,
    )
