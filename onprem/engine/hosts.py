"""Several hosts seen as one engine: containers of every host together, a service's logs, files and
commands on the host that runs it, and compose commands on the hosts their services run on, in parallel.

What a deployment does to its containers reads the same with one host or several; the bundle of each
host is its own directory (`bundle_dirs`), copied to that host by its engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

from onprem.engine.base import ContainerState, ExecEngine, VolumeState
from onprem.errors import EngineError
from onprem.hostfiles import HostFiles

T = TypeVar("T")
PARALLEL_HOSTS = 8
"""How many hosts a command works on at once."""


def services_in(args: Sequence[str], known: Mapping[str, str]) -> list[str]:
    """The service names among compose arguments (pure): the arguments that name a known service."""
    return [a for a in args if a in known]


def split_args(args: Sequence[str], known: Mapping[str, str]) -> dict[str, list[str]]:
    """The compose arguments each host runs (pure): a command naming services goes to the hosts that
    run them, with only their services; a command naming none goes to every host."""
    named = services_in(args, known)
    if not named:
        return {host: list(args) for host in dict.fromkeys(known.values())}
    by_host: dict[str, list[str]] = {}
    for service in named:
        by_host.setdefault(known[service], [])
    return {host: [a for a in args if a not in known or known[a] == host] for host in by_host}


class HostsEngine:
    """The engines of a deployment's hosts behind the one-engine interface; the primary host's engine
    answers what only it holds (the web endpoint, images and files of its own)."""

    def __init__(
        self,
        engines: Mapping[str, ExecEngine],
        *,
        primary: str,
        bundle_dirs: Mapping[str, Path],
        service_hosts: Mapping[str, str],
    ) -> None:
        self.engines = dict(engines)
        self.primary = primary
        self.bundle_dirs = dict(bundle_dirs)
        self.service_hosts = dict(service_hosts)

    def each(self, work: Callable[[str, ExecEngine], T], hosts: Sequence[str] | None = None) -> dict[str, T]:
        """`work(host, engine)` on every host (or `hosts`) in parallel; results by host. The first
        failure is raised once every host has finished (none is left half-way)."""
        names = list(hosts if hosts is not None else self.engines)
        with ThreadPoolExecutor(max_workers=min(PARALLEL_HOSTS, max(len(names), 1))) as pool:
            futures = {name: pool.submit(work, name, self.engines[name]) for name in names}
        errors = [f.exception() for f in futures.values() if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        return {name: future.result() for name, future in futures.items()}

    def _of(self, service: str) -> ExecEngine:
        host = self.service_hosts.get(service)
        if host is None:
            raise EngineError(f"service {service} runs on no host of this deployment")
        return self.engines[host]

    def check(self) -> None:
        self.each(lambda _name, engine: engine.check())

    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        plan = split_args(args, self.service_hosts)

        def run(host: str, engine: ExecEngine) -> str:
            return engine.compose(self.bundle_dirs[host], project, plan[host], profiles=profiles)

        return "".join(self.each(run, list(plan)).values())

    def compose_config(
        self,
        bundle_dir: Path,
        project: str,
        compose_text: str,
        args: Sequence[str],
        *,
        profiles: Sequence[str] = (),
    ) -> str:
        return self.engines[self.primary].compose_config(
            self.bundle_dirs[self.primary], project, compose_text, args, profiles=profiles
        )

    def image_ids(self, names: Sequence[str]) -> dict[str, str | None]:
        return self.engines[self.primary].image_ids(names)

    def image_tags(self, repository: str) -> list[str]:
        return self.engines[self.primary].image_tags(repository)

    def volumes(self, project: str) -> list[VolumeState]:
        found = self.each(lambda _name, engine: engine.volumes(project))
        return [volume for volumes in found.values() for volume in volumes]

    def images_to_copy(self, names: Sequence[str]) -> list[str]:
        return self.engines[self.primary].images_to_copy(names)

    def copy_images(self, names: Sequence[str]) -> None:
        self.engines[self.primary].copy_images(names)

    def load_images(self, chunks: Iterable[bytes]) -> None:
        self.engines[self.primary].load_images(chunks)

    def containers(self, project: str) -> list[ContainerState]:
        found = self.each(lambda _name, engine: engine.containers(project))
        mine = [
            c for host, states in found.items() for c in states if self.service_hosts.get(c.service) == host
        ]
        return sorted(mine, key=lambda c: (c.service, c.name))

    def survey(self, project: str) -> tuple[list[ContainerState], dict[str, str]]:
        """The containers of the hosts that answer, and why each other host does not (by host name):
        what `status` shows of a deployment that lost a host."""

        def look(_name: str, engine: ExecEngine) -> list[ContainerState] | str:
            try:
                engine.check()
                return engine.containers(project)
            except EngineError as exc:
                return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

        found = self.each(look)
        lost = {host: result for host, result in found.items() if isinstance(result, str)}
        mine = [
            c
            for host, states in found.items()
            if not isinstance(states, str)
            for c in states
            if self.service_hosts.get(c.service) == host
        ]
        return sorted(mine, key=lambda c: (c.service, c.name)), lost

    def logs(self, project: str, service: str, tail: int = 50) -> str:
        return self._of(service).logs(project, service, tail)

    def remove_container(self, project: str, service: str, name: str) -> None:
        self._of(service).remove_container(project, service, name)

    def read_file(self, project: str, service: str, path: str) -> bytes:
        return self._of(service).read_file(project, service, path)

    def endpoint(self, host: str, port: int) -> AbstractContextManager[tuple[str, int]]:
        return self.engines[self.primary].endpoint(host, port)

    def exec(self, project: str, service: str, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
        return self._of(service).exec(project, service, argv)

    def read_tree(self, project: str, service: str, path: str) -> bytes:
        return self._of(service).read_tree(project, service, path)

    def write_tree(self, project: str, service: str, directory: str, tar: bytes) -> None:
        self._of(service).write_tree(project, service, directory, tar)

    def host_files(self, project: str) -> HostFiles | None:
        return self.engines[self.primary].host_files(project)

    def every_host_files(self, project: str) -> Iterator[HostFiles]:
        """Each remote host's directory of the deployment (its lock and audit log), in host order."""
        for engine in self.engines.values():
            files = engine.host_files(project)
            if files is not None:
                yield files
