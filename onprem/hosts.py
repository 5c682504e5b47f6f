"""The hosts of a deployment and their roles, and the checks that span them (pure).

One host runs everything. Several hosts take the shape of Meta's prod-multiconnect layout: the primary
host (role `web`) runs the web API and what belongs with it (the bundled database, the relay, the
exporter, monitoring); the other hosts run Masters and Coreapps, which reach the primary's database and
relay at its `advertise_address` and publish their own ports at theirs (COREAPP_HOSTNAME,
COREAPP_EXTERNAL_PORTS).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["web", "db", "masters", "coreapps", "relay", "exporter", "monitoring"]
ROLES: tuple[Role, ...] = ("web", "db", "masters", "coreapps", "relay", "exporter", "monitoring")
PRIMARY_ROLES: tuple[Role, ...] = ("web", "db", "relay", "exporter", "monitoring")
"""Roles that live on the primary host (with the web API)."""
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class HostSettings(BaseModel):
    """One machine with a Docker engine: this one (`local`) or one reached over SSH."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name = "local"
    address: str = "local"
    """`local` for this machine's engine, or `ssh://user@host[:port]` for a remote one."""
    identity_file: str | None = None
    """SSH private key for a remote host (default: the SSH agent and ~/.ssh keys)."""
    known_hosts_file: str | None = None
    """Extra known_hosts file; the host's key must be listed there or in ~/.ssh/known_hosts."""
    remote_dir: str = "/var/lib/onprem"
    """Where the bundle and its secrets are copied on a remote host."""
    roles: list[Role] = Field(default_factory=list)
    """What runs here when there are several hosts (empty: everything, with one host)."""
    advertise_address: str | None = None
    """The IP address other hosts reach this one at (its published database, relay and Coreapp ports
    bind there); needed with several hosts."""

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if value != "local" and not re.fullmatch(r"ssh://([^@/\s]+@)?[^:/\s]+(:\d{1,5})?", value):
            raise ValueError("must be 'local' or ssh://user@host[:port]")
        return value

    @field_validator("advertise_address")
    @classmethod
    def _advertise(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)  # raises ValueError with a clear message
        return value


def role_problems(
    hosts: Sequence[HostSettings], *, multiconnect: bool, enabled: Sequence[Role]
) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with the hosts' roles, as (field path, message) pairs (pure). `enabled`: the roles
    the settings ask for besides web, masters and coreapps (db when bundled, relay, exporter,
    monitoring)."""
    if len(hosts) == 1:
        return []
    problems: list[tuple[tuple[str | int, ...], str]] = []
    names = [h.name for h in hosts]
    for index, host in enumerate(hosts):
        if names.count(host.name) > 1:
            problems.append((("hosts", index, "name"), f"{host.name!r} names two hosts; give each its own"))
        if not host.roles:
            problems.append((("hosts", index, "roles"), f"list what runs on {host.name}: {', '.join(ROLES)}"))
        if host.advertise_address is None:
            problems.append(
                (("hosts", index, "advertise_address"), "the IP address the other hosts reach this one at")
            )
    addresses = [h.address for h in hosts]
    for index, host in enumerate(hosts):
        if host.address != "local" and addresses.count(host.address) > 1:
            problems.append((("hosts", index, "address"), f"{host.address} is listed twice"))
    if not multiconnect:
        problems.append((("hosts",), "several hosts need client.mode: multiconnect (Masters and Coreapps)"))
    primaries = [i for i, h in enumerate(hosts) if "web" in h.roles]
    if len(primaries) != 1:
        problems.append((("hosts",), f"exactly one host has the role web (found {len(primaries)})"))
        return problems
    primary = hosts[primaries[0]]
    for role in ("db", "relay", "exporter", "monitoring"):
        wanted = role in enabled
        for index, host in enumerate(hosts):
            if role in host.roles and (host is not primary or not wanted):
                why = "it runs with web" if wanted else "it is not enabled in this config"
                problems.append((("hosts", index, "roles"), f"role {role} on {host.name}: {why}"))
        if wanted and role not in primary.roles:
            problems.append((("hosts", primaries[0], "roles"), f"add {role}: it runs on the host with web"))
    for role in ("masters", "coreapps"):
        if not any(role in h.roles for h in hosts):
            problems.append((("hosts",), f"no host has the role {role}"))
    return problems


ROLE_LABEL_PREFIX = "org.onprem.role."
"""Swarm node labels: `org.onprem.role.<role>=true` for each role of the node's host."""
HOST_LABEL = "org.onprem.host"
"""Swarm node label naming the host of `hosts:` a node is (spread preferences use it)."""


class SwarmSettings(BaseModel):
    """`swarm:`, read with `deployment.target: swarm`: the Swarm the stack is deployed to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    manager: Name | None = None
    """The host (by name in `hosts:`) that is a Swarm manager; `docker stack deploy` runs there.
    Default: the first host."""
    encrypted_network: bool = False
    """Encrypt the overlay network's traffic (IPsec ESP; needs the kernel's INET_ESP on every node)."""
    convergence_timeout_seconds: Annotated[int, Field(ge=10, le=3600)] = 300
    """How long a deploy waits for every service's tasks to run healthy before it fails."""


def node_labels(host: HostSettings, *, only_host: bool) -> dict[str, str]:
    """The onprem labels of the Swarm node that is `host` (pure): one per role (every role when it is the
    only host and lists none) and the host's name."""
    roles = ROLES if only_host and not host.roles else tuple(host.roles)
    labels = {f"{ROLE_LABEL_PREFIX}{role}": "true" for role in roles}
    labels[HOST_LABEL] = host.name
    return labels


def swarm_manager(hosts: Sequence[HostSettings], swarm: SwarmSettings) -> HostSettings:
    """The manager host: the one `swarm.manager` names, else the first (pure; an unknown name is a
    config error found by `swarm_role_problems`)."""
    return next((h for h in hosts if h.name == swarm.manager), hosts[0])


def swarm_role_problems(
    hosts: Sequence[HostSettings], swarm: SwarmSettings, *, multiconnect: bool, enabled: Sequence[Role]
) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with the hosts for `target: swarm`, as (field path, message) pairs (pure).

    Roles become node labels. What owns a node-local volume or a host-mode port must have exactly one
    host (db, relay, web); the exporter reads the web's volume, so it goes with web."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    names = [h.name for h in hosts]
    if swarm.manager is not None and swarm.manager not in names:
        problems.append(
            (("swarm", "manager"), f"{swarm.manager!r} is no host; name one of {', '.join(names)}")
        )
    for index, host in enumerate(hosts):
        if names.count(host.name) > 1:
            problems.append((("hosts", index, "name"), f"{host.name!r} names two hosts; give each its own"))
    if len(hosts) == 1 and not hosts[0].roles:
        return problems
    for index, host in enumerate(hosts):
        if not host.roles:
            problems.append((("hosts", index, "roles"), f"list what runs on {host.name}: {', '.join(ROLES)}"))
    single_owner: list[Role] = ["web", *(r for r in ("db", "relay") if r in enabled)]
    for role in single_owner:
        owners = [h.name for h in hosts if role in h.roles]
        if len(owners) != 1:
            why = "its data volume is local to a node" if role != "web" else "its port is published on it"
            problems.append(
                (("hosts",), f"exactly one host has the role {role} ({why}); found {len(owners)}")
            )
    for index, host in enumerate(hosts):
        if "exporter" in host.roles and "web" not in host.roles:
            problems.append(
                (("hosts", index, "roles"), "role exporter goes with web (it reads the web's CA volume)")
            )
        for role in ("db", "relay", "exporter", "monitoring"):
            if role in host.roles and role not in enabled:
                problems.append((("hosts", index, "roles"), f"role {role}: it is not enabled in this config"))
    wanted: list[Role] = ["coreapps", "masters"] if multiconnect else ["coreapps"]
    if "exporter" in enabled:
        wanted.append("exporter")
    for role in wanted:
        if not any(role in h.roles for h in hosts):
            problems.append((("hosts",), f"no host has the role {role}"))
    return problems


def swarm_limits(*, monitoring: bool, relay_replicas: int) -> list[tuple[tuple[str | int, ...], str]]:
    """What `target: swarm` does not run yet, each with the way out (pure)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if monitoring:
        problems.append(
            (
                ("monitoring", "enabled"),
                "not available with deployment.target: swarm yet (its rules are bind mounts of the "
                "bundle); set monitoring.enabled: false, or deploy with target: compose",
            )
        )
    if relay_replicas > 1:
        problems.append(
            (
                ("relay", "replicas"),
                "one relay with deployment.target: swarm (replicas would share one host-mode port); "
                "set relay.replicas: 1",
            )
        )
    return problems
