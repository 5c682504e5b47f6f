"""Bring a set of bundle files to the engine and gate it: what deploy, rollback and upgrade share.

Compose recreates a service when its configuration changes, but not when only the content of a file it
mounts does (a config such as relay.yaml, or a secret): those files are replaced by a rename, so a
running container keeps reading the old one. `mounting` finds the services that mount a changed file,
and `apply` recreates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import yaml

from onprem.bundle import COMPOSE_FILE, BundleDiff
from onprem.deployment import Deployment
from onprem.engine.base import ExecEngine
from onprem.engine.compose import up_args
from onprem.engine.hosts import HostsEngine
from onprem.engine.images import stack_images
from onprem.errors import EngineError, GateError
from onprem.render import bundle_hosts, host_bundle
from onprem.workflows.gate import LOG_LINES, GateResult, first_problem, gate
from onprem.workflows.preflight import ImageCheck

SECRETS_PREFIX = "../secrets/"


class PullFailed(EngineError):
    """An image could not be pulled: nothing was started or changed on the engine (exit code 3)."""


def _services(compose_text: str) -> dict[str, Any]:
    data = yaml.safe_load(compose_text) or {}
    return data if isinstance(data, dict) else {}


def mounting(compose_text: str, files: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The services that mount one of the bundle `files` (paths relative to the bundle) or `secrets`
    (by name), as configs, secrets or bind mounts (pure)."""
    document = _services(compose_text)
    paths = {PurePosixPath(f) for f in files}
    wanted = {PurePosixPath(SECRETS_PREFIX + s) for s in secrets} | paths
    sources: dict[str, dict[str, Any]] = {
        "configs": document.get("configs") or {},
        "secrets": document.get("secrets") or {},
    }
    found = []
    for name, service in sorted((document.get("services") or {}).items()):
        if not isinstance(service, dict):
            continue
        mounted: set[PurePosixPath] = set()
        for kind, top in sources.items():
            for entry in service.get(kind) or []:
                source = str(entry.get("source") if isinstance(entry, dict) else entry)
                spec = top.get(source)
                file = spec.get("file") if isinstance(spec, dict) else None
                if file:
                    mounted.add(PurePosixPath(str(file)))
        for volume in service.get("volumes") or []:
            host = str(volume).split(":", 1)[0]
            if host.startswith("."):
                mounted.add(PurePosixPath(host))
        if any(_covers(m, w) for m in mounted for w in wanted):
            found.append(name)
    return found


def _covers(mounted: PurePosixPath, changed: PurePosixPath) -> bool:
    # `./monitoring/rules` mounts every file below it.
    mounted_parts = [p for p in mounted.parts if p != "."]
    changed_parts = [p for p in changed.parts if p != "."]
    return changed_parts[: len(mounted_parts)] == mounted_parts


def apply(
    deployment: Deployment,
    files: Mapping[str, str],
    *,
    api_key: str,
    images: ImageCheck,
    active: Sequence[str],
    recreate: Sequence[str] = (),
) -> tuple[BundleDiff, GateResult]:
    """Write `files` as the bundle, bring the images the host lacks, `up` with the `active` profiles,
    force-recreate `recreate`, and gate every service the compose file starts.

    Raises EngineError, GateError naming the failing service."""
    changes = deployment.write_bundles(files)
    engine = deployment.engine
    texts = composes(deployment, files)
    bring_images(deployment, texts, images, active)
    expected = [service for text in texts.values() for service in expected_from(text, active)]
    deployment.progress(f"starting {len(expected)} services: {', '.join(expected)}")
    try:
        engine.compose(deployment.state.bundle, deployment.project, up_args(), profiles=active)
        if recreate:
            deployment.progress(f"recreating {', '.join(recreate)}: a file they mount changed")
            args = ["up", "--detach", "--no-deps", "--force-recreate", *recreate]
            engine.compose(deployment.state.bundle, deployment.project, args, profiles=active)
    except EngineError as exc:
        # `up` waits for dependencies' health itself; name the service that failed it, with its logs.
        _raise_failed_service(deployment, expected, exc)
        raise
    deployment.progress("waiting for every service to be healthy and /v1/health to answer")
    return changes, gate(deployment, expected, api_key=api_key)


def composes(deployment: Deployment, files: Mapping[str, str]) -> dict[str, str]:
    """Each host's compose file among rendered `files` (pure)."""
    return {
        host.name: host_bundle(deployment.settings, files, host.name)[COMPOSE_FILE]
        for host in bundle_hosts(deployment.settings)
    }


def recreate_for(
    deployment: Deployment, files: Mapping[str, str], paths: Sequence[str], secrets: Sequence[str]
) -> list[str]:
    """The services, on every host, that mount one of the changed bundle `paths` (as `render` names
    them) or `secrets` (pure)."""
    found: list[str] = []
    for host, text in composes(deployment, files).items():
        prefix = f"{host}/" if deployment.several else ""
        mine = [p.removeprefix(prefix) for p in paths if p.startswith(prefix)]
        found += [s for s in mounting(text, mine, secrets) if s not in found]
    return found


def bring_images(
    deployment: Deployment, texts: Mapping[str, str], images: ImageCheck, active: Sequence[str]
) -> None:
    """Copy to the host (to each host, in parallel, the images its own services need) the images it
    lacks, and pull those a registry holds. `texts`: each host's compose file.

    Raises EngineError, PullFailed (nothing started)."""
    engine = deployment.engine
    if isinstance(engine, HostsEngine):
        _copy_to_hosts(deployment, engine, texts, active)
    elif images.copy:
        deployment.progress(f"copying {len(images.copy)} images to the host: {', '.join(images.copy)}")
        engine.copy_images(images.copy)
    if images.pull:
        _pull(deployment, "\n".join(texts.values()), images.pull, active)


def _copy_to_hosts(
    deployment: Deployment, engine: HostsEngine, texts: Mapping[str, str], active: Sequence[str]
) -> None:

    def copy(host: str, host_engine: ExecEngine) -> None:
        missing = host_engine.images_to_copy(stack_images(texts[host], active))
        if missing:
            deployment.progress(f"copying {len(missing)} images to {host}: {', '.join(missing)}")
            host_engine.copy_images(missing)

    engine.each(copy)


def expected_from(compose_text: str, active: Sequence[str]) -> list[str]:
    """The services `up` starts from a compose file with these profiles, in file order (pure)."""
    services = _services(compose_text).get("services") or {}
    return [
        name
        for name, service in services.items()
        if isinstance(service, dict)
        and (not service.get("profiles") or set(active) & set(service["profiles"]))
    ]


def _pull(deployment: Deployment, compose_text: str, names: Sequence[str], active: Sequence[str]) -> None:
    services = _services(compose_text).get("services") or {}
    pulling = [s for s, spec in services.items() if isinstance(spec, dict) and spec.get("image") in names]
    deployment.progress(f"pulling {', '.join(names)}")
    try:
        deployment.engine.compose(
            deployment.state.bundle, deployment.project, ["pull", "--quiet", *pulling], profiles=active
        )
    except EngineError as exc:
        registries = sorted({n.split("/", 1)[0] for n in names})
        raise PullFailed(
            f"cannot pull {', '.join(names)}; nothing was started. Log in to the registry "
            f"(`docker login {registries[0]}` on the host), or carry the images to the host "
            f"(`docker save` here, `docker load` there). Compose said:\n{exc}"
        ) from None


def _raise_failed_service(deployment: Deployment, expected: list[str], cause: EngineError) -> None:
    # `up` has given up by now: a container the engine is restarting will not come up either, and one that
    # compose names as the failed dependency may be between two restarts when it is looked at.
    containers = deployment.engine.containers(deployment.project)
    problem = first_problem(expected, containers, crash_loop_fails=True)
    if problem is None or not (problem[2] or "dependency failed to start" in str(cause)):
        return
    service, why, _ = problem
    logs = deployment.engine.logs(deployment.project, service, tail=LOG_LINES)
    raise GateError(f"service {service} {why}", service=service, logs=logs) from cause
