"""`onprem status`: the state of every service and the client's own health, as data and as a table.

Every reason the deployment is not healthy is in the document: `api.error` (and `api.status` when the
API answered with an error rather than not at all), and in `problems` (and the table) every service not
ready, what the caller found, and in multiconnect three distinct failure kinds read from /v1/health
(`cluster`): a node that stopped heart-beating (`node_lost`), no standby
coreapp left (`no_spare`), and a shard no live coreapp serves (`shard_unserved`).

After `onprem migrate cloud` has completed, the client's containers are stopped on purpose: `migration`
says when the number moved (and to which region), the client's services and its API are no longer
expected, and the deployment is healthy when what stays (the relay, the database, the sidecars) is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onprem.bundle import diff
from onprem.deployment import Deployment
from onprem.engine.base import ContainerState
from onprem.engine.hosts import HostsEngine
from onprem.errors import ApiError, ConfigError, EngineError
from onprem.releases import ReleaseStore
from onprem.render import expected_services
from onprem.residency.report import migration_summary
from onprem.state import read_json
from onprem.workflows.shards import shard_counts

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
    api_status: int | None = None,
    shards: dict[str, Any] | None = None,
    migration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The machine-readable status (`status --json`), pure. `release`: the running release and whether
    the bundle on disk differs from it; `problems`: what else makes the deployment not healthy;
    `api_status`: the HTTP status of an API that answered /v1/health with an error; `shards`: the
    account's and the configured shard counts (multiconnect, see `shards.shard_counts`); `migration`: a
    completed move to the Cloud API (then no API health is expected)."""
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
    cluster = cluster_findings(health)
    # The API's own failure is `api.error` (and its line in the table), not repeated here.
    reasons = [*service_reasons(services, expected), *problems, *(f["reason"] for f in cluster)]
    if shards and shards.get("problem"):
        reasons.append(shards["problem"])
    healthy = bool(expected) and (health is not None or migration is not None) and not reasons
    return {
        "deployment": deployment,
        "healthy": healthy,
        "services": services,
        "api": {"url": api_url, "health": health, "error": api_error, "status": api_status},
        "cluster": cluster,
        "shards": shards,
        "release": release,
        "problems": reasons,
        "migration": migration,
    }


def service_reasons(services: Sequence[dict[str, Any]], expected: Sequence[str]) -> list[str]:
    """Why each expected service is not ready."""
    reasons = []
    for item in services:
        if item["service"] not in expected or item["ready"]:
            continue
        if item["state"] == "missing":
            reasons.append(f"service {item['service']} has no container")
        elif item["state"] != "running":
            reasons.append(f"service {item['service']} is {item['state']} ({item['container']})")
        else:
            reasons.append(f"service {item['service']} is {item['health']} ({item['container']})")
    return reasons


def api_answer(status: int | None, error: str | None) -> str:
    """How the API failed /v1/health: it answered an error status, or did not answer at all."""
    if status is not None:
        return f"answers HTTP {status} ({error})"
    return f"is not answering ({error})"


def cluster_findings(health: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The multiconnect failure kinds in a /v1/health `health` object, each with a reason (pure):
    `node_lost` per node that does not heart-beat (the emulator's `heartbeat` field), `no_spare` when no
    live standby coreapp is left, `shard_unserved` per shard no live coreapp serves (from the `shard` and
    `shards` fields). Nothing for a single instance or a deployment without coreapps listed."""
    if not health or "gateway_status" in health:
        return []
    nodes = {key: info for key, info in sorted(health.items()) if isinstance(info, dict)}
    findings: list[dict[str, Any]] = []
    for key, info in nodes.items():
        if info.get("heartbeat"):
            role = info.get("role", "?")
            what = "stopped" if info["heartbeat"] == "stopped" else "stopped heart-beating (lost)"
            owned = f", owner of shard {info['shard']}" if isinstance(info.get("shard"), int) else ""
            findings.append(
                {"kind": "node_lost", "node": key, "reason": f"node {key} ({role}{owned}) {what}"}
            )
    cores = {key: info for key, info in nodes.items() if "coreapp" in str(info.get("role", ""))}
    live = {key: info for key, info in cores.items() if not info.get("heartbeat")}
    if cores and not any(_spare(info) for info in live.values()):
        findings.append(
            {
                "kind": "no_spare",
                "reason": f"no standby coreapp left ({len(live)} live of {len(cores)} listed): the next "
                "coreapp failure leaves a shard unserved",
            }
        )
    counts = [info["shards"] for info in cores.values() if isinstance(info.get("shards"), int)]
    served = {info.get("shard") for info in live.values() if _serving(info)}
    for shard in range(max(counts, default=0)):
        if shard not in served:
            owners = [key for key, info in cores.items() if info.get("shard") == shard]
            why = f"its owner {owners[0]} is down" if owners else "it has no owner"
            findings.append(
                {
                    "kind": "shard_unserved",
                    "shard": shard,
                    "reason": f"shard {shard} is not served ({why} and no standby took it): messages to "
                    "its recipients fail with error 1018",
                }
            )
    return findings


def _spare(info: dict[str, Any]) -> bool:
    if info.get("role") == "secondary_coreapp":
        return True
    # The documented shape has one role for every coreapp: a live one that does not serve waits.
    return info.get("role") == "coreapp" and info.get("gateway_status") in ("disconnected", "unregistered")


def _serving(info: dict[str, Any]) -> bool:
    return isinstance(info.get("shard"), int) and info.get("gateway_status") not in (
        "disconnected",
        "connecting",
    )


def gateway_summary(health: dict[str, Any] | None) -> str:
    """`connected`, or `node=status` pairs for multiconnect, from a /v1/health `health` object."""
    if not health:
        return "unknown"
    if "gateway_status" in health:
        return str(health["gateway_status"])
    pairs = []
    for node, info in sorted(health.items()):
        if isinstance(info, dict):
            down = f" (heartbeat {info['heartbeat']})" if info.get("heartbeat") else ""
            pairs.append(f"{node} {info.get('role', '?')}={info.get('gateway_status', '?')}{down}")
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
    migration = document.get("migration")
    if migration is not None:
        region = migration.get("region") or "no data_localization_region"
        lines.append(
            f"\nmigrated to the Cloud API {migration['completed']} (phone number ID "
            f"{migration['phone_number_id']}, {region}): the client is stopped, the relay takes its webhooks"
        )
    elif api["health"] is not None:
        lines.append(f"\nAPI {api['url']}: gateway {gateway_summary(api['health'])}")
    else:
        lines.append(f"\nAPI {api['url']}: {api_answer(api.get('status'), api['error'])}")
    shards = document.get("shards")
    if shards:
        account = "unknown" if shards["account"] is None else shards["account"]
        lines.append(
            f"shards: account {account}, client.shards {shards['configured']}, "
            f"{shards['coreapps']} Coreapps (one spare)"
        )
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
    differs = diff(release.files, deployment.bundle_manifest())
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

    Raises EngineError when the engine (every host, with several) does not answer."""
    engine = deployment.engine
    lost: dict[str, str] = {}
    if isinstance(engine, HostsEngine):
        containers, lost = engine.survey(deployment.project)
        if len(lost) == len(engine.engines):
            raise EngineError(f"no host of {deployment.project} answers: {'; '.join(lost.values())}")
    else:
        engine.check()
        containers = engine.containers(deployment.project)
    health: dict[str, Any] | None = None
    api_error: str | None = None
    api_status: int | None = None
    expected = expected_services(deployment.settings)
    migration = completed_migration(deployment)
    if migration is not None:
        stopped = set(deployment.client_services)
        expected = [service for service in expected if service not in stopped]
    else:
        api_key = deployment.secrets.read("WA_API_KEY")
        if api_key is None or not deployment.state.ca_file.is_file():
            api_error = "not deployed from this state directory"
        else:
            try:
                health = deployment.api_with(api_key).health(timeout=5)
            except ApiError as exc:
                api_error, api_status = str(exc), exc.status
    return status_document(
        deployment=deployment.project,
        expected=expected,
        containers=containers,
        api_url=deployment.api_url,
        health=health,
        api_error=api_error,
        release=running_release(deployment),
        problems=[
            *(f"host {host} does not answer ({why}): its services are unknown" for host, why in lost.items()),
            *[p for p in [None if migration else exporter_problem(deployment, containers)] if p],
        ],
        api_status=api_status,
        shards=None if migration else shard_counts(deployment, health),
        migration=migration,
    )


def completed_migration(deployment: Deployment) -> dict[str, Any] | None:
    """The completed `onprem migrate cloud` of this state directory, None before or during one.
    Raises StateError when the record is unreadable."""
    record = read_json(deployment.state.migration_file, "the migration's progress")
    if not isinstance(record, dict) or not record.get("completed"):
        return None
    region, _state = migration_summary(record)
    return {
        "phone_number_id": record.get("phone_number_id"),
        "completed": record["completed"],
        "region": region,
    }


def logs(deployment: Deployment, service: str, tail: int) -> str:
    """A service's last `tail` log lines. Raises ConfigError for a service the deployment lacks."""
    known = expected_services(deployment.settings)
    if service not in known:
        raise ConfigError(f"unknown service {service!r}; services of this deployment: {', '.join(known)}")
    deployment.engine.check()
    return deployment.engine.logs(deployment.project, service, tail=tail)
