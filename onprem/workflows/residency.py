"""`onprem residency`: gather the facts of where each class of data lives, read-only, and build the
report (`onprem.residency`).

On each host of the deployment (this machine or over SSH, hosts in parallel) it runs `docker info`,
`docker volume ls/inspect`, `docker ps/inspect`, and for each path `stat`, `findmnt`, `lsblk` and the
device-mapper uuid; from the client's API it reads the application settings and the users; from the
state directory on this machine, secrets/, certs/, backups/ and migration.json. It changes nothing. A
host or an API that does not answer is reported in the document, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import Any

from onprem.deployment import Deployment
from onprem.engine.commands import PROBE_TIMEOUT, HostCommands, host_commands, this_machine
from onprem.errors import EngineError, OnpremError, StateError
from onprem.hosts import HostSettings
from onprem.residency import (
    DOCKER_INFO_ARGV,
    ClientFacts,
    Facts,
    HostFacts,
    LocalFacts,
    PathFacts,
    Report,
    VolumeFacts,
    block_device,
    build_report,
    container_facts,
    container_list_argv,
    dm_uuid_argv,
    encryption_of,
    findmnt_argv,
    list_files_argv,
    logical_volume,
    lsblk_argv,
    not_detected,
    parse_docker_info,
    parse_files,
    parse_findmnt,
    parse_stat,
    stat_argv,
    volume_list_argv,
)
from onprem.state import read_json
from onprem.workflows.account import list_users, registry_for


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class HostProbe:
    """Read-only probes on one host through its runner; a device's chain is looked at once."""

    def __init__(self, runner: HostCommands) -> None:
        self._runner = runner
        self._devices: dict[tuple[str, str], Any] = {}

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """Raises EngineError when the host does not answer."""
        code, out, err = self._runner.run(argv, timeout=PROBE_TIMEOUT)
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def checked(self, argv: Sequence[str]) -> str:
        code, out, err = self.run(argv)
        if code != 0:
            raise EngineError(f"{' '.join(argv[:3])} failed (exit {code}): {(err or out).strip()[:200]}")
        return out

    def path(self, path: str, *, list_files: bool = False) -> PathFacts:
        """Mode, owner, mount, device and encryption of `path`; a failing probe is noted, not raised."""
        try:
            code, out, err = self.run(stat_argv(path))
            if code != 0:
                if "No such file" in err:
                    return PathFacts(
                        path=path, exists=False, encryption=not_detected("the path does not exist")
                    )
                return PathFacts(path=path, exists=None, error=f"stat: {err.strip()[:200]}")
            mode, owner, group = parse_stat(out)
            mount, source, fstype, maj_min = parse_findmnt(self.checked(findmnt_argv(path)))
            files = parse_files(self.checked(list_files_argv(path))) if list_files else ()
        except (EngineError, StateError) as exc:
            return PathFacts(path=path, exists=None, error=_first_line(exc))
        device = block_device(source)
        if device is None:
            encryption = not_detected(f"{source} ({fstype}) is not a block device")
        else:
            encryption = self._encryption(device, maj_min)
        return PathFacts(
            path=path,
            exists=True,
            mode=mode,
            owner=owner,
            group=group,
            mount=mount,
            device=device or source,
            filesystem=fstype,
            encryption=encryption,
            files=files,
        )

    def _encryption(self, device: str, maj_min: str) -> Any:
        key = (device, maj_min)
        if key not in self._devices:
            try:
                code, tree, _err = self.run(lsblk_argv(device))
                uuid_code, uuid, _ = self.run(dm_uuid_argv(maj_min))
                found = encryption_of(tree if code == 0 else None, uuid if uuid_code == 0 else None, device)
            except EngineError as exc:
                found = not_detected(f"{device}: lsblk failed ({_first_line(exc)})")
            self._devices[key] = found
        return self._devices[key]


def _names(probe: HostProbe, argvs: list[list[str]]) -> list[str]:
    return sorted({name for argv in argvs for name in probe.checked(argv).split()})


def host_facts(host: HostSettings, runner: HostCommands | None, project: str) -> HostFacts:
    """Everything `residency` reads on one host; a host that does not answer says why."""
    if runner is None:
        return HostFacts(host.name, host.address, False, "onprem cannot run commands on this host")
    probe = HostProbe(runner)
    try:
        root, driver, version = parse_docker_info(probe.checked(DOCKER_INFO_ARGV))
        volume_names = _names(probe, volume_list_argv(project))
        volume_docs = probe.checked(["docker", "volume", "inspect", *volume_names]) if volume_names else "[]"
        ids = _names(probe, container_list_argv(project))
        container_docs = probe.checked(["docker", "inspect", *ids]) if ids else "[]"
        volumes = tuple(
            VolumeFacts(
                name=str(doc.get("Name")),
                logical=logical_volume(doc, project),
                driver=str(doc.get("Driver", "")),
                path=probe.path(str(doc.get("Mountpoint", ""))),
            )
            for doc in _json_list(volume_docs)
        )
        containers = tuple(
            sorted((container_facts(d) for d in _json_list(container_docs)), key=lambda c: c.name)
        )
        log_dir = probe.path(f"{root.rstrip('/')}/containers") if root else None
        secrets_copy = None
        if host.address != "local":
            remote = PurePosixPath(host.remote_dir) / project / "secrets"
            secrets_copy = probe.path(str(remote), list_files=True)
    except (EngineError, StateError) as exc:
        return HostFacts(host.name, host.address, False, _first_line(exc))
    return HostFacts(
        name=host.name,
        address=host.address,
        reachable=True,
        docker_root=root,
        logging_driver=driver,
        server_version=version,
        volumes=volumes,
        containers=containers,
        log_dir=log_dir,
        secrets_copy=secrets_copy,
    )


def _json_list(text: str) -> list[dict[str, Any]]:
    import json

    try:
        found = json.loads(text)
    except ValueError:
        raise StateError(f"unexpected docker output {text.strip()[:80]!r}") from None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def client_facts(deployment: Deployment) -> ClientFacts:
    """The client's application settings and users; an API that does not answer says why."""
    try:
        api = deployment.api()
        application = api.get_application_settings()
    except OnpremError as exc:
        return ClientFacts(None, _first_line(exc))
    try:
        users = list_users(api, registry_for(deployment))
    except OnpremError as exc:
        return ClientFacts(application, None, (("?", f"users not read: {_first_line(exc)}"),))
    found = tuple((str(u["username"]), str(u["role"])) for u in users if u.get("present"))
    return ClientFacts(application, None, found)


def local_facts(deployment: Deployment, runner: HostCommands) -> LocalFacts:
    """The state directory's secrets/, certs/, backups/ and migration.json on this machine."""
    probe = HostProbe(runner)
    state = deployment.state
    migration_path = state.migration_file
    try:
        migration = read_json(migration_path, "the Cloud API migration's record")
    except StateError:
        migration = {"state": "unreadable migration.json"}
    return LocalFacts(
        state_dir=str(state.root),
        secrets=probe.path(str(state.secrets), list_files=True),
        certs=probe.path(str(state.certs.root), list_files=True),
        backups=probe.path(str(state.backups), list_files=True),
        migration_file=probe.path(str(migration_path)),
        migration=migration if isinstance(migration, dict) else None,
    )


def residency(deployment: Deployment, *, local: HostCommands | None = None) -> Report:
    """`onprem residency`: the report of where each class of data lives. Read-only; raises nothing for
    a host or an API that does not answer (the report says so). `local`: this machine's runner."""
    settings = deployment.settings
    runners = host_commands(deployment.engine, [h.name for h in settings.hosts])
    with ThreadPoolExecutor(max_workers=min(8, len(settings.hosts))) as pool:
        futures = [
            pool.submit(host_facts, h, runners.get(h.name), deployment.project) for h in settings.hosts
        ]
        hosts = tuple(f.result() for f in futures)
    facts = Facts(
        hosts=hosts,
        client=client_facts(deployment),
        local=local_facts(deployment, local if local is not None else this_machine()),
    )
    return build_report(settings, facts, deployment.now().isoformat(timespec="seconds"))
