"""`onprem status`: the state of every service and the client's own health, as data and as a table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onprem.bundle import diff, read_manifest
from onprem.deployment import Deployment
from onprem.engine.base import ContainerState
from onprem.errors import ApiError, ConfigError, EngineError
from onprem.releases import ReleaseStore
from onprem.render import expected_services

EXPORTER = "exporter"
EXPORTER_PORT = 9108


def status_document(
    *,
    deployment: str,
    expected: Sequence[str],
    containers: Sequence[ContainerState],
    api_url: str,
    health: dict[str, Any] | None,
    api_error: str | None,
    release: dict[str, Any] | None = None,
    problems: Sequence[str] = (),
) -> dict[str, Any]:
    """The machine-readable status (`status --json`), pure. `release`: the running release and whether
    the bundle on disk differs from it; `problems`: what else makes the deployment not healthy."""
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
        and not problems
    )
    return {
        "deployment": deployment,
        "healthy": healthy,
        "services": services,
        "api": {"url": api_url, "health": health, "error": api_error},
        "release": release,
        "problems": list(problems),
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
    release = document.get("release") or {}
    if release.get("id"):
        lines.append(
            f"release {release['id']} since {release['since']} (client v{release['client_version']})"
        )
    if release.get("undeployed"):
        lines.append(f"the bundle on disk differs from it ({release['undeployed']}): run `onprem plan`")
    lines += [f"problem: {problem}" for problem in document.get("problems", [])]
    verdict = "healthy" if document["healthy"] else "NOT healthy"
    lines.append(f"deployment {document['deployment']}: {verdict}")
    return "\n".join(lines)


def running_release(deployment: Deployment) -> dict[str, Any] | None:
    """The release that runs, and what of the bundle on disk differs from it (a failed deploy's)."""
    store = ReleaseStore(deployment.state)
    pointer = store.current()
    if not pointer:
        return None
    release = store.read(str(pointer["release"]))
    differs = diff(release.files, read_manifest(deployment.state.bundle))
    return {
        "id": release.id,
        "since": pointer.get("since", ""),
        "client_version": release.client_version,
        "undeployed": "" if differs.empty else ", ".join(differs.added + differs.changed + differs.removed),
    }


def exporter_problem(deployment: Deployment, containers: Sequence[ContainerState]) -> str | None:
    """Whether the exporter reaches the client: its `whatsapp_up` as it serves it, read in its container."""
    if not deployment.settings.exporter.enabled or not any(
        c.service == EXPORTER and c.state == "running" for c in containers
    ):
        return None
    argv = ["curl", "-fsS", "--max-time", "10", f"http://127.0.0.1:{EXPORTER_PORT}/metrics"]
    try:
        code, out, _err = deployment.engine.exec(deployment.project, EXPORTER, argv)
    except EngineError as exc:
        return f"the exporter's metrics cannot be read ({exc})"
    up = whatsapp_up(out.decode("utf-8", "replace")) if code == 0 else None
    if up is None:
        return "the exporter does not serve whatsapp_up"
    if up == 0:
        return "the exporter cannot reach the client (whatsapp_up 0): see `onprem logs exporter`"
    return None


def whatsapp_up(exposition: str) -> float | None:
    """The value of `whatsapp_up` in a Prometheus exposition, None when absent (pure)."""
    for line in exposition.splitlines():
        name, _, value = line.partition(" ")
        if name == "whatsapp_up":
            try:
                return float(value.split()[0])
            except (ValueError, IndexError):
                return None
    return None


def status(deployment: Deployment) -> dict[str, Any]:
    """`onprem status`: the status document of the live deployment (see `status_document`).

    Raises EngineError when the engine does not answer."""
    deployment.engine.check()
    containers = deployment.engine.containers(deployment.project)
    health: dict[str, Any] | None = None
    api_error: str | None = None
    api_key = deployment.secrets.read("WA_API_KEY")
    if api_key is None or not deployment.state.ca_file.is_file():
        api_error = "not deployed from this state directory"
    else:
        try:
            health = deployment.api_with(api_key).health(timeout=5)
        except ApiError as exc:
            api_error = str(exc)
    return status_document(
        deployment=deployment.project,
        expected=expected_services(deployment.settings),
        containers=containers,
        api_url=deployment.api_url,
        health=health,
        api_error=api_error,
        release=running_release(deployment),
        problems=[p for p in [exporter_problem(deployment, containers)] if p],
    )


def logs(deployment: Deployment, service: str, tail: int) -> str:
    """A service's last `tail` log lines. Raises ConfigError for a service the deployment lacks."""
    known = expected_services(deployment.settings)
    if service not in known:
        raise ConfigError(f"unknown service {service!r}; services of this deployment: {', '.join(known)}")
    deployment.engine.check()
    return deployment.engine.logs(deployment.project, service, tail=tail)
