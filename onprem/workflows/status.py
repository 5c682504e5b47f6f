"""`onprem status`: the state of every service and the client's own health, as data and as a table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onprem.engine.base import ContainerState


def status_document(
    *,
    deployment: str,
    expected: Sequence[str],
    containers: Sequence[ContainerState],
    api_url: str,
    health: dict[str, Any] | None,
    api_error: str | None,
) -> dict[str, Any]:
    """The machine-readable status (`status --json`), pure."""
    services = []
    seen = set()
    for container in containers:
        seen.add(container.service)
        services.append(
            {
                "service": container.service,
                "container": container.name,
                "state": container.state,
                "health": container.health,
                "ports": list(container.ports),
                "ready": container.ready,
            }
        )
    for service in expected:
        if service not in seen:
            services.append(
                {
                    "service": service,
                    "container": None,
                    "state": "missing",
                    "health": None,
                    "ports": [],
                    "ready": False,
                }
            )
    healthy = (
        bool(expected)
        and all(s["ready"] for s in services if s["service"] in expected)
        and health is not None
    )
    return {
        "deployment": deployment,
        "healthy": healthy,
        "services": services,
        "api": {"url": api_url, "health": health, "error": api_error},
    }


def gateway_summary(health: dict[str, Any] | None) -> str:
    """`connected`, or `node=status` pairs for multiconnect, from a /v1/health `health` object."""
    if not health:
        return "unknown"
    if "gateway_status" in health:
        return str(health["gateway_status"])
    pairs = []
    for node, info in sorted(health.items()):
        if isinstance(info, dict):
            pairs.append(f"{node} {info.get('role', '?')}={info.get('gateway_status', '?')}")
    return ", ".join(pairs) or "unknown"


def format_table(document: dict[str, Any]) -> str:
    """A human table of a status document, pure."""
    rows = [("SERVICE", "CONTAINER", "STATE", "HEALTH", "PORTS")]
    for s in document["services"]:
        rows.append(
            (
                s["service"],
                s["container"] or "-",
                s["state"],
                s["health"] or "-",
                ", ".join(s["ports"]) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    api = document["api"]
    if api["health"] is not None:
        lines.append(f"\nAPI {api['url']}: gateway {gateway_summary(api['health'])}")
    else:
        lines.append(f"\nAPI {api['url']}: not answering ({api['error']})")
    verdict = "healthy" if document["healthy"] else "NOT healthy"
    lines.append(f"deployment {document['deployment']}: {verdict}")
    return "\n".join(lines)
