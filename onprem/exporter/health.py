"""Pure parsing of `/v1/health` and its `meta` block into metrics, and the certificate expiry gauge.

`/v1/health` is `{"health": {"gateway_status": S}}` on a single instance and
`{"health": {"<host>:<container>": {"gateway_status": S, "role": R, ...}, ...}}` in HA/multiconnect.
Gateway status is exported as a state set: one `whatsapp_gateway_status{node,role,status}` series per known
state, 1 for the current one (an unknown state is reported as `status="unknown"`). The `node` label is the
host part of the key, so a recreated container (a new id) continues the same series; when two entries
share a host (the old container still listed), the live one wins.

In multiconnect, three failure kinds get their own series: a node that stopped heart-beating
(`whatsapp_node_up` 0), no standby coreapp left (`whatsapp_coreapp_spares` 0) and a shard nobody serves
(`whatsapp_shard_served{shard}` 0). They read the fields the emulator adds to the documented shape
(`heartbeat` on a silent node, `shard`/`shards` on a primary coreapp); without them every listed node
counts as up and shards are not reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from onprem.exporter.families import FamilyBuilder

GATEWAY_STATES = ("connected", "connecting", "disconnected", "uninitialized", "unregistered")
ROLES = ("primary_master", "secondary_master", "primary_coreapp", "secondary_coreapp", "coreapp")
COREAPP_ROLES = ("primary_coreapp", "secondary_coreapp", "coreapp")
SINGLE = "single"
"""Node and role label of the one gateway of a single-instance deployment."""
_NOT_SERVING = ("disconnected", "connecting", "unknown")


class HealthError(ValueError):
    """The answer to /v1/health is not shaped like a health document."""


@dataclass(frozen=True)
class NodeHealth:
    """One node of a health answer. `heartbeat` is "lost" or "stopped" for a node that does not
    heart-beat (None: it does, or the answer does not say); `shard` of `shards` is the shard it owns."""

    node: str
    role: str
    status: str
    heartbeat: str | None = None
    shard: int | None = None
    shards: int | None = None

    @property
    def up(self) -> bool:
        return self.heartbeat is None

    @property
    def serving(self) -> bool:
        """Whether it is a live coreapp serving its shard (unregistered: it would, once registered)."""
        return self.up and self.shard is not None and self.status not in _NOT_SERVING


def _status(value: object) -> str:
    return value if isinstance(value, str) and value in GATEWAY_STATES else "unknown"


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def stable_node(key: str) -> str:
    """The host part of a `<hostname>:<container-id>` health key (the key itself without a colon)."""
    return key.rsplit(":", 1)[0] if ":" in key else key


def _preference(item: NodeHealth) -> tuple[bool, bool]:
    return item.up, item.status == "connected"


def parse_health(document: object) -> list[NodeHealth]:
    """The gateway state of every node in a /v1/health answer. Raises HealthError on any other shape."""
    health = document.get("health") if isinstance(document, Mapping) else None
    if not isinstance(health, Mapping):
        raise HealthError("the answer has no 'health' object")
    if "gateway_status" in health:
        return [NodeHealth(SINGLE, SINGLE, _status(health["gateway_status"]))]
    nodes: dict[str, NodeHealth] = {}
    for key, entry in health.items():
        if not (isinstance(entry, Mapping) and "gateway_status" in entry):
            continue
        role = entry.get("role")
        heartbeat = entry.get("heartbeat")
        item = NodeHealth(
            stable_node(str(key)),
            role if isinstance(role, str) and role in ROLES else "unknown",
            _status(entry["gateway_status"]),
            heartbeat if isinstance(heartbeat, str) and heartbeat else None,
            _count(entry.get("shard")),
            _count(entry.get("shards")),
        )
        known = nodes.get(item.node)
        if known is None or _preference(item) > _preference(known):
            nodes[item.node] = item
    if not nodes:
        raise HealthError("the 'health' object names no gateway_status")
    return list(nodes.values())


def add_health(nodes: list[NodeHealth], out: FamilyBuilder) -> None:
    """Gateway state-set series for every node, and in multiconnect the failure-kind series."""
    help_ = "Gateway status of each client node (1 for the current status), from /v1/health."
    for item in nodes:
        states = GATEWAY_STATES if item.status in GATEWAY_STATES else (*GATEWAY_STATES, item.status)
        for state in states:
            labels = {"node": item.node, "role": item.role, "status": state}
            out.gauge("whatsapp_gateway_status", help_, 1.0 if state == item.status else 0.0, labels)
    if any(item.role != SINGLE for item in nodes):
        add_cluster(nodes, out)


def _spare(item: NodeHealth) -> bool:
    if item.role == "secondary_coreapp":
        return item.up
    # The documented shape has one role for every coreapp: a live one that does not serve is a standby.
    return item.role == "coreapp" and item.up and item.status in ("disconnected", "unregistered")


def add_cluster(nodes: list[NodeHealth], out: FamilyBuilder) -> None:
    """`whatsapp_node_up{node,role}`, `whatsapp_coreapp_spares`, and when the answer gives the shard
    count, `whatsapp_shards` and `whatsapp_shard_served{shard}`."""
    for item in nodes:
        out.gauge(
            "whatsapp_node_up",
            "1 while the node heart-beats, 0 when /v1/health reports it lost or stopped.",
            1.0 if item.up else 0.0,
            {"node": item.node, "role": item.role},
        )
    out.gauge(
        "whatsapp_coreapp_spares",
        "Live standby coreapps ready to take over a shard (0: the next coreapp failure leaves one unserved).",
        float(sum(1 for item in nodes if _spare(item))),
    )
    counts = [item.shards for item in nodes if item.shards is not None]
    if not counts:
        return
    shards = max(counts)
    out.gauge("whatsapp_shards", "Shards of the account (multiconnect), from /v1/health.", float(shards))
    served = {item.shard for item in nodes if item.serving}
    for shard in range(shards):
        out.gauge(
            "whatsapp_shard_served",
            "1 while a live coreapp serves the shard; 0: messages to its recipients fail (1018).",
            1.0 if shard in served else 0.0,
            {"shard": str(shard)},
        )


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
