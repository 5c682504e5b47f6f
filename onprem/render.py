"""Render settings into a bundle: a pure map from relative path to file text.

Same settings in, same bytes out: templates are rendered with `StrictUndefined` (a missing variable is
a bug, not an empty string), values are quoted as JSON strings (valid YAML scalars), and nothing depends
on the clock, the host or dict order. Secret *values* never pass through here; only their names do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

from onprem import __version__
from onprem.bundle import COMPOSE_FILE
from onprem.cloud_settings import emulator_url
from onprem.config import Settings
from onprem.hosts import HostSettings, swarm_manager
from onprem.sidecars import (
    CLOUDAPI_CA_PATH,
    CLOUDAPI_DATA_DIR,
    CLOUDAPI_IMAGE,
    CLOUDAPI_SETTINGS_PATH,
    REDIS_IMAGE,
    RELAY_CA_FILE,
    RELAY_CA_IN_PROMETHEUS,
    RELAY_CONTAINER_PORT,
    RELAY_SETTINGS_PATH,
    all_secret_names,
    bundled_redis,
    cloudapi_secret_names,
    cloudapi_settings,
    exporter_secret_names,
    relay_acme,
    relay_public_context,
    relay_secret_names,
    stack_exporter,
    stack_relay,
)
from onprem.stack import StackOptions, stack_text
from onprem.topology import (
    DEFAULT_DB_PORTS,
    CoreNode,
    Placement,
    advertised,
    core_nodes,
    db_port,
    node_hosts,
    placements,
    primary_host,
    several,
)

TEMPLATES_DIR = Path(
    os.environ.get("ONPREM_TEMPLATES", Path(__file__).resolve().parent.parent / "compose_templates")
)
MONITORING_DIR = Path(
    os.environ.get("ONPREM_MONITORING", Path(__file__).resolve().parent.parent / "monitoring")
)
ONPREM_IMAGE = f"onprem/onprem:{__version__}"


def _db_context(settings: Settings, place: Placement) -> dict[str, Any]:
    db = settings.db
    external = db.external
    published = settings.network.db_port if external is None else None
    if external is not None:
        host, port, username = external.host, external.port, external.username
        if host == HOST_GATEWAY:
            host = DOCKER_HOST_NAME
    elif place.primary:
        host, port, username = "db", DEFAULT_DB_PORTS[db.kind], db.username
    else:
        # A host away from the database reaches it at the primary's address, where it is published.
        host = advertised(settings, primary_host(settings).name)
        port, username = db_port(settings), db.username
    if external is None and several(settings):
        published = db_port(settings)
    return {
        "bundled": external is None,
        "kind": db.kind,
        "engine_env": "PGSQL" if db.kind == "postgres" else "MYSQL",
        "image": db.effective_image,
        "host": host,
        "port": port,
        "username": username,
        "name_prefix": db.name_prefix,
        "idle_timeout_ms": db.connection_idle_timeout_ms,
        "published_port": published,
        "on_docker_host": external is not None and external.host == HOST_GATEWAY,
    }


IDENTITY_LABEL = "org.onprem.identity"
HOST_GATEWAY = "host-gateway"
"""`db.external.host: host-gateway`: the database runs on the Docker host itself."""
DOCKER_HOST_NAME = "host.docker.internal"


def data_volumes(settings: Settings) -> list[str]:
    """The named volumes that hold the deployment's data, which no release owns (pure)."""
    volumes = ["whatsappMedia", "waentData"]
    if settings.db.engine != "external":
        volumes.append("postgresData" if settings.db.kind == "postgres" else "mysqlData")
    if settings.relay.enabled and (settings.relay.store.backend == "sqlite" or relay_acme(settings)):
        volumes.append("relayData")
    if bundled_redis(settings):
        volumes.append("redisData")
    if settings.cloud.emulator:
        volumes.append("cloudapiData")
    volumes.append("prometheusData")
    if settings.monitoring.grafana_image:
        volumes.append("grafanaData")
    return volumes


def host_placements(settings: Settings) -> list[Placement]:
    """What each host runs (the services of the primary host besides the nodes come from here)."""
    nodes = {node.service for node in core_nodes(settings)}
    return placements(settings, [s for s in expected_services(settings) if s not in nodes])


def _node(node: CoreNode, place: Placement, multiconnect: bool, advertise: str) -> dict[str, Any]:
    """A Master or Coreapp as its host's compose file has it: what it announces, publishes and waits for."""
    ports = place.node_ports.get(node.service)
    return {
        "service": node.service,
        "master": node.master,
        "depends_on": [d for d in node.depends_on if d in place.services],
        "hostname": advertise if ports else node.service,
        "external_ports": ",".join(map(str, ports)) if ports else "6250,6251,6252,6253",
        "published": [
            f"{advertise}:{port}:{inner}" for port, inner in zip(ports, (6250, 6251, 6252, 6253), strict=True)
        ]
        if ports and multiconnect
        else [],
    }


def context(settings: Settings, identity: str = "", place: Placement | None = None) -> dict[str, Any]:
    """Template variables of one host's compose file (pure; `place` defaults to the only or primary
    host); `identity` labels the data volumes."""
    place = place or next(p for p in host_placements(settings) if p.primary)
    nodes = core_nodes(settings)
    multiconnect = settings.client.mode == "multiconnect"
    relay_port = settings.network.relay_port
    db = _db_context(settings, place)
    advertise = place.host.advertise_address or settings.network.bind_address
    summary = (
        f"multiconnect, {settings.client.shards} shard(s), {len(nodes)} coreapp nodes"
        if multiconnect
        else "single instance"
    )
    summary += f", {'external ' + db['kind'] if not db['bundled'] else db['kind']} database"
    return {
        "onprem_version": __version__,
        "project": settings.deployment.name,
        "summary": summary,
        "db": db,
        "here": place.services,
        "primary": place.primary,
        "several": several(settings),
        "advertise": advertise,
        "cores": [_node(n, place, multiconnect, advertise) for n in nodes if n.service in place.services],
        "multiconnect": multiconnect,
        "web_depends_on": [d for d in (["master1"] if multiconnect else ["wacore"]) if d in place.services],
        "coreapp_image": settings.client.coreapp_image,
        "web_image": settings.client.web_image,
        "platform": settings.client.effective_platform,
        "wait_script": f"/opt/whatsapp/bin/wait_on_{'postgres' if db['kind'] == 'postgres' else 'mysql'}.sh",
        "web_servername": settings.client.web_servername,
        "bind": settings.network.bind_address,
        "web_port": settings.network.web_port,
        "relay_port": relay_port,
        "exporter_port": settings.network.exporter_port,
        "prometheus_port": settings.network.prometheus_port,
        "network_name": settings.network_name,
        "subnet": settings.network.subnet,
        "onprem_image": ONPREM_IMAGE,
        "relay": {
            "enabled": settings.relay.enabled,
            "tls": settings.relay.tls is not None,
            "ca_file": RELAY_CA_FILE,
            "ca_in_prometheus": RELAY_CA_IN_PROMETHEUS,
            "container_port": RELAY_CONTAINER_PORT,
            "settings_path": RELAY_SETTINGS_PATH,
            "health_url": f"{'https' if settings.relay.tls else 'http'}://127.0.0.1:{RELAY_CONTAINER_PORT}/healthz",
            "secrets": relay_secret_names(settings),
            "replicas": settings.relay.replicas,
            "sqlite": settings.relay.store.backend == "sqlite",
            "data_volume": settings.relay.store.backend == "sqlite" or relay_acme(settings),
            "public": relay_public_context(settings),
            # One host port per replica: a range when there are several.
            "host_ports": str(relay_port)
            if settings.relay.replicas == 1
            else f"{relay_port}-{relay_port + settings.relay.replicas - 1}",
        },
        "redis": {"enabled": bundled_redis(settings), "image": REDIS_IMAGE},
        "cloudapi": {
            "enabled": settings.cloud.emulator,
            "image": CLOUDAPI_IMAGE,
            "settings_path": CLOUDAPI_SETTINGS_PATH,
            "data_dir": CLOUDAPI_DATA_DIR,
            "secrets": cloudapi_secret_names(settings),
            "ca": settings.relay.tls is not None,
            "ca_file": RELAY_CA_FILE,
            "ca_path": CLOUDAPI_CA_PATH,
            "health_url": emulator_url(settings.cloud, settings.network.bind_address) + "/healthz",
        },
        "exporter": {
            "enabled": settings.exporter.enabled,
            "secrets": exporter_secret_names(settings),
        },
        "all_secrets": all_secret_names(settings) if place.primary else ["WA_DB_PASSWORD"],
        "monitoring": settings.monitoring,
        "grafana_port": settings.network.grafana_port,
        "data_volumes": data_volumes(settings) if place.primary else ["whatsappMedia"],
        "identity": identity,
    }


def _environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - YAML and shell, not HTML; values are quoted with `q`
    )
    env.filters["q"] = lambda value: json.dumps(str(value))
    return env


def _yaml(data: Mapping[str, Any]) -> str:
    return "# Rendered by onprem. Do not edit: change onprem.yaml.\n" + yaml.safe_dump(
        dict(data), sort_keys=True, default_flow_style=False
    )


KIT_PATTERNS = ("rules/*.yml", "grafana/provisioning/*/*.yml", "grafana/dashboards/*.json")


def read_kit(monitoring_dir: Path = MONITORING_DIR) -> dict[str, str]:
    """The monitoring kit files the stack mounts (rules, Grafana provisioning and dashboards), by path
    relative to monitoring/ (I/O at the edge)."""
    files = {}
    for pattern in KIT_PATTERNS:
        for path in sorted(monitoring_dir.glob(pattern)):
            if path.is_file():
                files[path.relative_to(monitoring_dir).as_posix()] = path.read_text(encoding="utf-8")
    return files


def render(
    settings: Settings, *, kit: Mapping[str, str], identity: str = "", templates_dir: Path = TEMPLATES_DIR
) -> dict[str, str]:
    """Render every file of the bundle; `kit` is the monitoring rules by name (see `read_kit`);
    `identity` (the state directory's) labels the data volumes. With several hosts, each host's files
    are under `<host name>/` (see `host_bundle`).

    Raises jinja2.UndefinedError if a template uses a variable the context lacks (a programming error).
    """
    env = _environment(templates_dir)
    if settings.deployment.target == "swarm":
        flat = one_host(settings)
        one = _render_host(flat, env, kit, identity, host_placements(flat)[0])
        options = StackOptions(
            settings.deployment.name,
            settings.swarm.encrypted_network,
            pinned=node_hosts(settings),
        )
        one[COMPOSE_FILE] = stack_text(one[COMPOSE_FILE], one, options)
        return one
    hosts = host_placements(settings)
    if len(hosts) == 1:
        return _render_host(settings, env, kit, identity, hosts[0])
    files: dict[str, str] = {}
    for place in hosts:
        for path, text in _render_host(settings, env, kit, identity, place).items():
            files[f"{place.name}/{path}"] = text
    return files


def one_host(settings: Settings) -> Settings:
    """For `target: swarm`: the settings with the manager as the only host, so that the templates render
    every service in one file that Swarm then places by node labels (pure)."""
    manager = swarm_manager(settings.hosts, settings.swarm)
    return settings.model_copy(update={"hosts": [HostSettings(name=manager.name, address=manager.address)]})


def bundle_hosts(settings: Settings) -> list[HostSettings]:
    """The hosts that get a bundle: every host, or the Swarm manager alone (pure)."""
    if settings.deployment.target == "swarm":
        return [swarm_manager(settings.hosts, settings.swarm)]
    return list(settings.hosts)


def host_bundle(settings: Settings, files: Mapping[str, str], host: str) -> dict[str, str]:
    """The files of one host's bundle, out of what `render` made (pure)."""
    if len(bundle_hosts(settings)) == 1:
        return dict(files)
    prefix = f"{host}/"
    return {path.removeprefix(prefix): text for path, text in files.items() if path.startswith(prefix)}


def _render_host(
    settings: Settings, env: jinja2.Environment, kit: Mapping[str, str], identity: str, place: Placement
) -> dict[str, str]:
    ctx = context(settings, identity, place)
    files = {
        COMPOSE_FILE: env.get_template("compose.yaml.j2").render(ctx),
        "db.env": env.get_template("db.env.j2").render(ctx),
        "secret-env.sh": env.get_template("secret-env.sh.j2").render(ctx),
    }
    if not place.primary:
        return files
    files["monitoring/prometheus.yml"] = env.get_template("prometheus.yml.j2").render(
        exporter_target="exporter:9108",
        relay_target=f"relay:{RELAY_CONTAINER_PORT}" if settings.relay.enabled else "",
        relay_scheme="https" if settings.relay.tls else "http",
        relay_ca_file=RELAY_CA_IN_PROMETHEUS,
        relay_replicas=settings.relay.replicas,
        scrape_interval=settings.monitoring.scrape_interval,
    )
    if settings.relay.enabled:
        files["relay.yaml"] = _yaml(stack_relay(settings).model_dump(mode="json"))
    if settings.exporter.enabled:
        files["exporter.yaml"] = _yaml(stack_exporter(settings).model_dump(mode="json"))
    if settings.cloud.emulator:
        files["cloudapi.yaml"] = _yaml(cloudapi_settings(settings).model_dump(mode="json"))
    for name, text in sorted(kit.items()):
        files[f"monitoring/{name}"] = text
    return files


FRONT_SERVICE = "wafront"
"""Multiconnect: the web front that publishes the API's port, so the web app can be replaced with no gap
(onprem/front.py)."""


def expected_services(settings: Settings) -> list[str]:
    """The services a healthy deployment runs, in start order (monitoring only when enabled)."""
    services = [] if settings.db.engine == "external" else ["db"]
    services += [node.service for node in core_nodes(settings)] + ["waweb"]
    if settings.client.mode == "multiconnect":
        services.append(FRONT_SERVICE)
    if bundled_redis(settings):
        services.append("redis")
    if settings.relay.enabled:
        services.append("relay")
    if settings.exporter.enabled:
        services.append("exporter")
    if settings.cloud.emulator:
        services.append("cloudapi")
    if settings.monitoring.enabled:
        services.append("prometheus")
        if settings.monitoring.grafana_image:
            services.append("grafana")
    return services


def profiles(settings: Settings) -> list[str]:
    """Compose profiles to activate."""
    return ["monitoring"] if settings.monitoring.enabled else []
