"""Which service runs on which host (pure).

With one host everything runs there. With several, the primary host (role `web`) runs the web API, the
bundled database, the relay, the exporter and monitoring; the Masters and Coreapps are spread over the
hosts with the roles `masters` and `coreapps`, one after the other in host order (so two Masters land on
two hosts when two hosts have the role). Every node of a several-host deployment publishes its four
ports at its host's advertise address, which it announces as COREAPP_HOSTNAME and
COREAPP_EXTERNAL_PORTS; the other hosts reach the primary's database and relay at its advertise address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from onprem.config import Settings
from onprem.hosts import HostSettings

CORE_PORT_BASE = 6250
"""The first of the four ports a node publishes on its host (Meta's files: 6250-6253, masters 6254-)."""
DEFAULT_DB_PORTS = {"mysql": 3306, "postgres": 5432}


@dataclass(frozen=True)
class CoreNode:
    service: str
    master: bool
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class Placement:
    """What one host runs: its compose services, and the ports its nodes publish (several hosts only)."""

    host: HostSettings
    primary: bool
    services: list[str]
    node_ports: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.host.name


def core_nodes(settings: Settings) -> list[CoreNode]:
    """The coreapp services: `wacore`, or 2 masters and shards+1 coreapps in multiconnect."""
    if settings.client.mode == "single":
        return [CoreNode("wacore", master=False, depends_on=())]
    masters = [CoreNode(f"master{i}", master=True, depends_on=()) for i in (1, 2)]
    cores = [
        CoreNode(f"wacore{i}", master=False, depends_on=("master1",))
        for i in range(1, settings.client.shards + 2)
    ]
    return masters + cores


def several(settings: Settings) -> bool:
    return len(settings.hosts) > 1


def primary_host(settings: Settings) -> HostSettings:
    """The host that runs the web API (the only host, or the one with the role `web`)."""
    if not several(settings):
        return settings.hosts[0]
    return next(h for h in settings.hosts if "web" in h.roles)


def _spread(nodes: list[CoreNode], hosts: list[HostSettings]) -> dict[str, str]:
    return {node.service: hosts[i % len(hosts)].name for i, node in enumerate(nodes)}


def node_hosts(settings: Settings) -> dict[str, str]:
    """The host of every Master and Coreapp service."""
    nodes = core_nodes(settings)
    if not several(settings):
        return {node.service: settings.hosts[0].name for node in nodes}
    by_role = {role: [h for h in settings.hosts if role in h.roles] for role in ("masters", "coreapps")}
    return {
        **_spread([n for n in nodes if n.master], by_role["masters"]),
        **_spread([n for n in nodes if not n.master], by_role["coreapps"]),
    }


def placements(settings: Settings, primary_services: list[str]) -> list[Placement]:
    """Every host with what it runs, in host order. `primary_services`: the services of the primary host
    other than the nodes (the database, web, redis, relay, exporter, monitoring)."""
    hosts = node_hosts(settings)
    primary = primary_host(settings)
    found = []
    for host in settings.hosts:
        nodes = [n.service for n in core_nodes(settings) if hosts[n.service] == host.name]
        ports = {}
        if several(settings):
            ports = {service: _four(CORE_PORT_BASE + 4 * index) for index, service in enumerate(nodes)}
        services = nodes + (primary_services if host.name == primary.name else [])
        found.append(Placement(host, host.name == primary.name, services, ports))
    return found


def _four(first: int) -> tuple[int, int, int, int]:
    return first, first + 1, first + 2, first + 3


def advertised(settings: Settings, host_name: str) -> str:
    """The address other hosts reach `host_name` at."""
    host = next(h for h in settings.hosts if h.name == host_name)
    return host.advertise_address or ""


def db_port(settings: Settings) -> int:
    """The port the bundled database is published on for the other hosts."""
    return settings.network.db_port or DEFAULT_DB_PORTS[settings.db.kind]


RELAY_SERVICE_PORT = 8443
"""The relay's port inside the stack network (sidecars.RELAY_CONTAINER_PORT)."""


def relay_address(settings: Settings) -> tuple[str, int]:
    """Where the client's Coreapps reach the relay: its service name inside one host's stack network;
    the primary host's advertise address and published port when Coreapps run on other hosts."""
    if not several(settings):
        return "relay", RELAY_SERVICE_PORT
    return advertised(settings, primary_host(settings).name), settings.network.relay_port
