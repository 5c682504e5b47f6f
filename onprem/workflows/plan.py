"""`onprem plan`: what `deploy` would do, and why, changing nothing anywhere.

For each service: created, recreated, removed or unchanged, with the reasons: where the compose file
changed, compose's own normalized configuration of each service (`docker compose config`, the compose
file read from stdin) in the running release and in the new one, compared key by key; plus what compose
does not see: a mounted file or secret whose content changed, an env file, an image rebuilt under the
same tag. Also: bundle files added, changed and removed,
secrets whose value would change (never the values), images to copy or pull, bootstrap steps pending,
and every problem deploy would refuse on. Nothing is written: no file here or on a host, no container,
network, volume or image.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from onprem import pki
from onprem.bundle import COMPOSE_FILE, file_hashes
from onprem.deployment import Deployment, bundle_dirs
from onprem.engine.base import ContainerState
from onprem.engine.hosts import HostsEngine
from onprem.errors import ConfigError, EngineError, OnpremError
from onprem.releases import ReleaseStore
from onprem.render import host_bundle, profiles, read_kit, render
from onprem.secrets import changed_line
from onprem.secrets.specs import entries
from onprem.workflows import certs
from onprem.workflows.apply import expected_from, mounting
from onprem.workflows.deploy import check_version
from onprem.workflows.preflight import check_identity, check_images
from onprem.workflows.prepare import check_config, image_names
from onprem.workflows.registration import is_registered

if TYPE_CHECKING:
    from onprem.workflows.offline import CarriedBundle

# Keys of compose's normalized service configuration, named for the operator.
REASONS = {
    "image": "image",
    "environment": "environment",
    "env_file": "environment",
    "command": "command",
    "entrypoint": "command",
    "healthcheck": "healthcheck",
    "ports": "published ports",
    "secrets": "mounted secrets",
    "configs": "mounted configs",
    "volumes": "volumes",
    "networks": "networks",
    "depends_on": "dependencies",
    "labels": "labels",
    "platform": "platform",
}


@dataclass
class ServicePlan:
    service: str
    action: str
    """create, recreate, remove or unchanged."""
    reasons: list[str] = field(default_factory=list)


@dataclass
class Plan:
    deployment: str
    host: str
    running_release: str | None
    files: dict[str, list[str]]
    secrets: dict[str, str]
    services: list[ServicePlan]
    images: dict[str, list[str]]
    bootstrap: list[str]
    problems: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(
            any(self.files.values())
            or self.secrets
            or any(s.action != "unchanged" for s in self.services)
            or self.images.get("copy")
            or self.images.get("bundle")
            or self.bootstrap
        )

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "changes": self.changes}


def diff_files(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, list[str]]:
    """Added, changed and removed paths between two {path: hash} maps (pure)."""
    return {
        "added": sorted(set(new) - set(old)),
        "changed": sorted(p for p in set(new) & set(old) if new[p] != old[p]),
        "removed": sorted(set(old) - set(new)),
    }


def config_reasons(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why a service's normalized configuration changed, by the keys that differ (pure)."""
    reasons = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            label = REASONS.get(key, key)
            if key == "image":
                label = f"image {old.get('image')} -> {new.get('image')}"
            if label not in reasons:
                reasons.append(label)
    return reasons


def service_plans(
    expected: Sequence[str],
    containers: Sequence[ContainerState],
    configs: tuple[Mapping[str, Any], Mapping[str, Any]] | None,
    extra: Mapping[str, list[str]],
) -> list[ServicePlan]:
    """Each service's action and reasons (pure). `configs`: each service's normalized configuration in
    the running release and in the new one, None when the compose file did not change. `extra`:
    reasons the configuration does not carry (mounted file or secret content, image rebuilt)."""
    running = {c.service for c in containers}
    plans = []
    for service in expected:
        if service not in running:
            plans.append(ServicePlan(service, "create", ["no container"]))
            continue
        reasons: list[str] = []
        if configs is not None:
            reasons = config_reasons(configs[0].get(service) or {}, configs[1].get(service) or {})
        reasons += [r for r in extra.get(service, []) if r not in reasons]
        plans.append(ServicePlan(service, "recreate" if reasons else "unchanged", reasons))
    for service in sorted(running - set(expected)):
        plans.append(ServicePlan(service, "remove", ["not in the new configuration"]))
    return plans


def normalized(deployment: Deployment, host: str, compose_text: str, active: Sequence[str]) -> dict[str, Any]:
    """Each service's configuration as compose normalizes it on `host` (`docker compose config`, the file
    read from stdin, paths resolved in the host's bundle directory); the file's own services when
    compose cannot be asked there (a host never deployed to)."""
    engine = deployment.engine
    if isinstance(engine, HostsEngine):
        engine = engine.engines[host]
    try:
        out = engine.compose_config(
            bundle_dirs(deployment.state, deployment.settings)[host],
            deployment.project,
            compose_text,
            ["config", "--format", "json"],
            profiles=active,
        )
        services = json.loads(out[out.index("{") :]).get("services") or {}
    except (EngineError, ValueError):
        services = (yaml.safe_load(compose_text) or {}).get("services") or {}
    return services if isinstance(services, dict) else {}


def plan(deployment: Deployment, *, bundle: CarriedBundle | None = None) -> Plan:
    """What `deploy` would do on the deployment's host (with an offline `bundle`: the images the host
    lacks come from it). Raises ConfigError for an invalid config (the other problems deploy would
    refuse on are listed in the plan), EngineError when the engine does not answer."""
    loaded = deployment.loaded
    settings = deployment.settings
    check_config(loaded)
    if settings.deployment.target == "swarm":
        raise ConfigError(
            f"{loaded.where('deployment', 'target')}: deployment.target: swarm: `onprem plan` compares "
            "compose's per-container configuration, which Swarm services do not carry; it is not "
            "available for Swarm yet (`onprem render` shows the stack file a deploy would apply)"
        )
    problems: list[str] = []
    notes: list[str] = []
    found = deployment.state.identity()
    if found is None:
        notes.append("this state directory has never deployed: its identity is made by the first deploy")
    files = render(settings, kit=read_kit(), identity=found["id"] if found else "")
    active = profiles(settings)
    store = ReleaseStore(deployment.state)
    current = store.current_release()
    old_files = current.files if current else deployment.bundle_manifest()
    changed_files = diff_files(old_files, file_hashes(files))
    secrets = deployment.secrets.compare(loaded)
    problems += [
        changed_line(found, deployment.secrets.path(found.name))
        for found in entries(loaded)
        if secrets.get(found.name) == "changed"
    ]
    checks: list[Callable[[], None]] = [
        lambda: check_identity(deployment),
        lambda: check_version(deployment, store),
    ]
    for check in checks:
        try:
            check()
        except OnpremError as exc:
            problems.append(str(exc))
    images: dict[str, list[str]] = {"copy": [], "pull": [], "missing": [], "bundle": []}
    names = image_names(loaded)
    try:
        if bundle is not None:
            images["bundle"] = bundle.lacking(deployment, names)
        else:
            found_images = check_images(deployment, names)
            images["copy"], images["pull"] = found_images.copy, found_images.pull
    except ConfigError as exc:
        images["missing"] = list(exc.problems)
        problems += exc.problems
    containers = deployment.engine.containers(deployment.project)
    released = store.files(current.id) if current else None
    services: list[ServicePlan] = []
    for host in settings.hosts:
        new_files = host_bundle(settings, files, host.name)
        old_files_here = host_bundle(settings, released, host.name) if released is not None else {}
        old_compose = old_files_here.get(COMPOSE_FILE) or _read(deployment, host.name, COMPOSE_FILE)
        changed_here = (
            diff_files(file_hashes(old_files_here), file_hashes(new_files))
            if released
            else {k: [p.removeprefix(f"{host.name}/") for p in v] for k, v in changed_files.items()}
        )
        compose_text = new_files[COMPOSE_FILE]
        here = set(expected_from(compose_text, active)) | set(_service_images(compose_text))
        mine = [c for c in containers if c.service in here or not deployment.several]
        configs = None
        if COMPOSE_FILE in changed_here["changed"] and old_compose:
            # Only a changed compose file changes a service's configuration; two compose calls, read-only.
            configs = (
                normalized(deployment, host.name, old_compose, active),
                normalized(deployment, host.name, compose_text, active),
            )
        extra = _unseen_changes(deployment, compose_text, mine, changed_here, secrets)
        services += service_plans(expected_from(compose_text, active), mine, configs, extra)
    return Plan(
        deployment=deployment.project,
        host=", ".join(h.address for h in deployment.settings.hosts),
        running_release=current.id if current else None,
        files=changed_files,
        secrets={n: s for n, s in secrets.items() if s != "unchanged"},
        services=services,
        images=images,
        bootstrap=pending_bootstrap(deployment),
        problems=problems,
        notes=notes,
    )


def _read(deployment: Deployment, host: str, name: str) -> str:
    try:
        return (bundle_dirs(deployment.state, deployment.settings)[host] / name).read_text(encoding="utf-8")
    except OSError:
        return ""


def _unseen_changes(
    deployment: Deployment,
    compose_text: str,
    containers: Sequence[ContainerState],
    changed_files: Mapping[str, list[str]],
    secrets: Mapping[str, str],
) -> dict[str, list[str]]:
    """Reasons to recreate that the compose configuration does not carry, by service."""
    extra: dict[str, list[str]] = {}
    services = (yaml.safe_load(compose_text) or {}).get("services") or {}
    for path in changed_files["changed"]:
        for service in mounting(compose_text, [path], []):
            extra.setdefault(service, []).append(f"mounted file {path} changed")
        for service, spec in services.items():
            if isinstance(spec, dict) and path in (spec.get("env_file") or []):
                extra.setdefault(service, []).append(f"environment ({path} changed)")
    for name, status in secrets.items():
        if status == "changed":
            for service in mounting(compose_text, [], [name]):
                extra.setdefault(service, []).append(f"secret {name} changed")
    images = {c.service: c.image_id for c in containers if c.image_id}
    specs = _service_images(compose_text)
    ids = deployment.engine.image_ids(sorted(set(specs.values())))
    for service, image_id in images.items():
        tag = specs.get(service)
        if tag and ids.get(tag) and ids[tag] != image_id:
            extra.setdefault(service, []).append(f"image {tag} rebuilt since the container was made")
    return extra


def _service_images(compose_text: str) -> dict[str, str]:
    services = (yaml.safe_load(compose_text) or {}).get("services") or {}
    return {
        name: str(spec["image"])
        for name, spec in services.items()
        if isinstance(spec, dict) and "image" in spec
    }


def pending_bootstrap(deployment: Deployment) -> list[str]:
    """The `bootstrap:` steps deploy would still run, read from files and the client (read-only)."""
    wanted = deployment.settings.bootstrap
    pending = []
    if wanted.certs and _certs_due(deployment):
        pending.append("certs: issue or renew the internal CA and server certificates")
    if wanted.registration is not None or wanted.webhooks == "relay":
        try:
            api = deployment.api()
            if wanted.registration is not None and not is_registered(api):
                number = f"+{wanted.registration.cc} {wanted.registration.phone_number}"
                pending.append(f"registration: {number}")
            if wanted.webhooks == "relay":
                url = (api.get_application_settings().get("webhooks") or {}).get("url", "")
                if "/webhooks/onprem/" not in str(url):
                    pending.append("webhooks: point the client at the relay")
        except OnpremError:
            pending.append(
                "registration and webhooks: checked after the first deploy (the client does not answer)"
            )
    return pending


def _certs_due(deployment: Deployment) -> bool:
    """Whether `certs issue` would issue or renew anything (files only)."""
    files = deployment.state.certs
    now = deployment.now()
    for name in ("root", "intermediate", "web", "relay"):
        pair = certs.load_pair(files, name)
        if pair is None or not pki.valid_at(pair.cert, now, certs.RENEW_BEFORE):
            return True
    web = certs.load_pair(files, "web")
    return web is None or sorted(pki.sans_of(web.cert)) != sorted(certs.web_sans(deployment.settings))
