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
