"""The Swarm stack file, made from the compose file the templates render (pure): one set of service
definitions, translated to what `docker stack deploy` honours.

Swarm ignores `restart`, `depends_on` (with its conditions) and `profiles` (docker/cli#3880) and has no
`host_ip` for published ports. In their place: `deploy.restart_policy`, the containers' own wait on
their database (the client's `wait_on_*.sh`) plus the restart policy, and host-mode ports (this kernel
has no IPVS, so no routing mesh: `endpoint_mode: dnsrr`). Placement follows node labels set from the
hosts' roles (`org.onprem.role.<role>=true`): what owns a node-local volume is pinned to its one node.
Updates are `stop-first` for anything that owns data or a shard (two writers on one volume, or two
owners of a shard, must never run), and for anything publishing a host-mode port (Swarm will not place
a second task on the only node whose port is taken); `start-first` otherwise; a failed update rolls back.
Configs get names carrying a digest of their content: Swarm configs are immutable, so a changed file is
a new config and the services mounting it are updated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from onprem.hosts import HOST_LABEL, ROLE_LABEL_PREFIX, Role

STACK_VERSION = "3.9"
IGNORED_BY_SWARM = ("restart", "depends_on", "profiles", "platform", "container_name")
"""Service keys `docker stack deploy` ignores or refuses; replaced by what Swarm honours."""
PORT = re.compile(
    r"^(?:(?P<ip>\[[^\]]+\]|[^:]+):)?(?P<published>\d+):(?P<target>\d+)(?:/(?P<proto>tcp|udp))?$"
)
STATEFUL_ROLES: tuple[Role, ...] = ("db", "masters", "coreapps", "relay")
"""Roles whose services own data or a shard: never two tasks at once (stop-first)."""


@dataclass(frozen=True)
class StackOptions:
    """What the stack needs beyond the compose file."""

    project: str
    encrypted_network: bool = False
    pinned: Mapping[str, str] = field(default_factory=dict)
    """The host (node label `org.onprem.host`) each Master and Coreapp runs on."""


def service_role(service: str) -> Role:
    """The role (node label) whose nodes run a service (pure)."""
    if service == "db":
        return "db"
    if service.startswith("master"):
        return "masters"
    if service.startswith("wacore"):
        return "coreapps"
    if service in ("relay", "redis"):
        return "relay"
    if service == "prometheus" or service == "grafana":
        return "monitoring"
    return "web"  # waweb, and the exporter that reads its volume


def update_order(service: str, *, publishes: bool) -> str:
    """`stop-first` for a service owning data or a shard, or publishing a host-mode port; else
    `start-first` (pure)."""
    if service_role(service) in STATEFUL_ROLES or publishes:
        return "stop-first"
    return "start-first"


def host_port(spec: str) -> dict[str, Any]:
    """A compose short port (`[ip:]published:target[/proto]`) as a Swarm host-mode port (pure; the
    address is dropped: Swarm binds every address of the node). Raises ValueError on a range."""
    found = PORT.match(spec)
    if found is None:
        raise ValueError(f"port {spec!r} has no Swarm form (a range, or no published port)")
    return {
        "target": int(found["target"]),
        "published": int(found["published"]),
        "protocol": found["proto"] or "tcp",
        "mode": "host",
    }


def _deploy(service: str, publishes: bool, host: str | None) -> dict[str, Any]:
    order = update_order(service, publishes=publishes)
    role = service_role(service)
    placement: dict[str, Any] = {"constraints": [f"node.labels.{ROLE_LABEL_PREFIX}{role} == true"]}
    if host is not None:
        # Masters and Coreapps are separate one-task services, which Swarm does not spread among
        # themselves (measured: three Coreapps on one of two nodes). Each is pinned to the host the
        # compose layout gives it (round robin over the role's hosts): one per node where possible, and
        # never a second copy of a shard owner started elsewhere while a cut-off node still runs it.
        placement["constraints"].append(f"node.labels.{HOST_LABEL} == {host}")
    return {
        "mode": "replicated",
        "replicas": 1,
        "endpoint_mode": "dnsrr",
        "placement": placement,
        "restart_policy": {"condition": "any", "delay": "2s"},
        "update_config": {
            "parallelism": 1,
            "order": order,
            "failure_action": "rollback",
            "monitor": "10s",
        },
        "rollback_config": {"parallelism": 1, "order": order, "failure_action": "pause"},
    }


def _service(name: str, spec: Mapping[str, Any], options: StackOptions) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in IGNORED_BY_SWARM and k != "deploy"}
    ports = [host_port(str(p)) for p in spec.get("ports") or []]
    if ports:
        out["ports"] = ports
    out["deploy"] = _deploy(name, bool(ports), options.pinned.get(name))
    return out


def config_name(project: str, name: str, content: str) -> str:
    """A Swarm config's name, carrying a digest of its content (pure)."""
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]
    return f"{project}_{name}_{digest}"


def _configs(top: Mapping[str, Any], project: str, files: Mapping[str, str]) -> dict[str, Any]:
    configs: dict[str, Any] = {}
    for name, spec in sorted(top.items()):
        path = str(spec.get("file", "")).removeprefix("./")
        entry = dict(spec)
        if path in files:
            entry["name"] = config_name(project, name, files[path])
        configs[name] = entry
    return configs


def _network(compose_net: Mapping[str, Any], encrypted: bool) -> dict[str, Any]:
    network: dict[str, Any] = {"name": compose_net["name"], "driver": "overlay", "attachable": True}
    if encrypted:
        network["driver_opts"] = {"encrypted": ""}
    if "ipam" in compose_net:
        network["ipam"] = compose_net["ipam"]
    return network


def stack_document(
    compose: Mapping[str, Any], files: Mapping[str, str], options: StackOptions, active: Sequence[str] = ()
) -> dict[str, Any]:
    """The stack of a rendered single-host compose document (pure): services of inactive profiles
    left out, Swarm's keys in place of the ones it ignores. `files` are the bundle's (config contents)."""
    services = {
        name: _service(name, spec, options)
        for name, spec in (compose.get("services") or {}).items()
        if not spec.get("profiles") or set(spec["profiles"]) & set(active)
    }
    used_configs = {
        str(c["source"] if isinstance(c, dict) else c)
        for s in services.values()
        for c in s.get("configs") or []
    }
    configs = {k: v for k, v in (compose.get("configs") or {}).items() if k in used_configs}
    return {
        "version": STACK_VERSION,
        "services": services,
        "networks": {
            k: _network(v, options.encrypted_network) for k, v in (compose.get("networks") or {}).items()
        },
        "volumes": dict(compose.get("volumes") or {}),
        "secrets": dict(compose.get("secrets") or {}),
        "configs": _configs(configs, options.project, files),
    }


HEADER = (
    "# Rendered by onprem for `docker stack deploy` (deployment.target: swarm), from the same templates\n"
    "# as the compose file. Do not edit: change onprem.yaml and run `onprem render`.\n"
)


def stack_text(compose_text: str, files: Mapping[str, str], options: StackOptions) -> str:
    """The stack file for a rendered compose file (pure; same input, same bytes)."""
    document = yaml.safe_load(compose_text) or {}
    body = yaml.safe_dump(
        stack_document(document, files, options), sort_keys=False, default_flow_style=False, width=4096
    )
    return HEADER + body
