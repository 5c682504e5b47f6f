"""The one handle on a deployment: built once per command from the loaded config, it owns the state
directory, the secret store, the engine of the deployment's host (local or SSH) and the way to reach
the client's API (through a tunnel when the host is remote). Every workflow takes a `Deployment`;
nothing else builds these parts.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from onprem.api.auth import Credentials
from onprem.api.client import ApiClient
from onprem.bundle import BundleDiff, read_manifest, write_bundle
from onprem.config import LoadedConfig, Settings
from onprem.engine.base import ExecEngine
from onprem.engine.hosts import HostsEngine
from onprem.engine.swarm import NodeEngine, SwarmEngine
from onprem.errors import StateError
from onprem.hosts import HostSettings, node_labels, swarm_manager
from onprem.render import bundle_hosts, host_bundle, host_placements
from onprem.secrets import SecretStore
from onprem.state import StateDir
from onprem.topology import core_nodes, primary_host

CA_PATH_IN_WEB = "/usr/local/waent/data/certs/external/ca.pem"
"""Where the client's web container keeps the CA of its self-signed certificate (read out-of-band)."""
TRUSTED_FILE = "trusted.pem"
"""Roots of an uploaded web chain (in the state's certs/), which the pinned CA must keep including."""
WEB_SERVICE = "waweb"


@dataclass(frozen=True)
class ApiTarget:
    """Everything an API client needs: where, which CA to trust, and how to authenticate."""

    base_url: str
    ca_file: Path
    api_key: str | None
    credentials: Credentials | None


ApiFactory = Callable[[ApiTarget], ApiClient]


def real_api(target: ApiTarget) -> ApiClient:
    """The production API client (requests, pinned CA)."""
    return ApiClient(
        target.base_url, ca_file=target.ca_file, api_key=target.api_key, credentials=target.credentials
    )


def published_web(settings: Settings) -> tuple[str, int]:
    """The web endpoint's address and port as published on the engine's host (loopback when it is
    published on every address)."""
    address = ipaddress.ip_address(settings.network.bind_address)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return str(address), settings.network.web_port


def url_for(host: str, port: int) -> str:
    """`https://host:port`, with IPv6 addresses bracketed."""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def bundle_dirs(state: StateDir, settings: Settings) -> dict[str, Path]:
    """Where each host's bundle is rendered: `bundle/` for one host, `bundle-<host>/` for several (so
    that `../secrets` is the state's secrets either way)."""
    hosts = bundle_hosts(settings)
    if len(hosts) == 1:
        return {hosts[0].name: state.bundle}
    return {host.name: state.root / f"bundle-{host.name}" for host in hosts}


def engine_for(loaded: LoadedConfig) -> ExecEngine:
    """The engine of the deployment: its one host's (local, or over SSH), or several hosts' behind one
    `HostsEngine`. Connections open lazily."""
    settings = loaded.settings
    if settings.deployment.target == "swarm":
        return swarm_engine(settings)
    if len(settings.hosts) == 1:
        return _engine(settings.hosts[0])
    service_hosts = {s: place.name for place in host_placements(settings) for s in place.services}
    return HostsEngine(
        {host.name: _engine(host) for host in settings.hosts},
        primary=primary_host(settings).name,
        bundle_dirs=bundle_dirs(StateDir(loaded.state_dir), settings),
        service_hosts=service_hosts,
    )


def swarm_engine(settings: Settings) -> SwarmEngine:
    """The Swarm of `target: swarm`: every host a node (reached like a compose host), labelled by its
    roles; the stack deployed from the manager, the web API reached on the host with the role web."""
    hosts = settings.hosts
    only = len(hosts) == 1
    web = hosts[0] if only else next(h for h in hosts if "web" in h.roles)
    return SwarmEngine(
        {host.name: _engine(host) for host in hosts},
        manager=swarm_manager(hosts, settings.swarm).name,
        web_host=web.name,
        labels={host.name: node_labels(host, only_host=only) for host in hosts},
        convergence_timeout=settings.swarm.convergence_timeout_seconds,
    )


def _engine(host: HostSettings) -> NodeEngine:
    # Imported here: the Docker SDK and Fabric are slow to import and only engine commands need them.
    if host.address == "local":
        from onprem.engine.local import LocalEngine

        return LocalEngine()
    from onprem.engine.ssh import connect

    return connect(
        host.address,
        identity_file=host.identity_file,
        known_hosts_file=host.known_hosts_file,
        remote_dir=host.remote_dir,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Deployment:
    """One deployment as seen from this machine. Use as a context manager (or call `close`): a tunnel
    opened to reach a remote web endpoint is kept for the command and closed at the end."""

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        engine: ExecEngine,
        api_factory: ApiFactory = real_api,
        environ: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utcnow,
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.loaded = loaded
        self.settings = loaded.settings
        self.state = StateDir(loaded.state_dir)
        self.secrets = SecretStore(self.state.secrets, environ=environ, previous=self.state.previous_secrets)
        self.engine = engine
        self.environ = environ
        self.clock = clock
        self.sleep = sleep
        self.now = now
        self.progress = progress
        self._api_factory = api_factory
        self._exits = ExitStack()
        self._api_base: str | None = None

    @classmethod
    def open(
        cls,
        loaded: LoadedConfig,
        *,
        environ: Mapping[str, str] | None = None,
        progress: Callable[[str], None] = lambda _line: None,
    ) -> Deployment:
        """The deployment with its real engine (local or SSH) and API client. Raises ConfigError."""
        return cls(
            loaded,
            engine=engine_for(loaded),
            environ=dict(os.environ) if environ is None else environ,
            progress=progress,
        )

    def with_loaded(self, loaded: LoadedConfig) -> Deployment:
        """A handle on the same deployment (engine, state, tunnel) for other settings, e.g. an
        upgrade's new version. Closing either closes what both opened."""
        twin = Deployment(
            loaded,
            engine=self.engine,
            api_factory=self._api_factory,
            environ=self.environ,
            clock=self.clock,
            sleep=self.sleep,
            now=self.now,
            progress=self.progress,
        )
        twin._exits = self._exits
        twin._api_base = self._api_base
        return twin

    def __enter__(self) -> Deployment:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close what the handle opened (the tunnel to a remote web endpoint)."""
        self._exits.close()
        self._api_base = None

    @property
    def project(self) -> str:
        """The compose project name (`deployment.name`)."""
        return self.settings.deployment.name

    @property
    def core_services(self) -> list[str]:
        """The client's coreapp services: `wacore`, or the masters and coreapps of multiconnect."""
        return [node.service for node in core_nodes(self.settings)]

    @property
    def client_services(self) -> list[str]:
        return [*self.core_services, WEB_SERVICE]

    @property
    def api_url(self) -> str:
        """The published web endpoint as seen on the engine's host."""
        return url_for(*published_web(self.settings))

    def compose(self, *args: str) -> str:
        """`docker compose ARGS` on the deployment's bundle (on the hosts that run the services named).
        Raises EngineError."""
        return self.engine.compose(self.state.bundle, self.project, list(args))

    @property
    def several(self) -> bool:
        """Whether there are several bundles (several hosts on target compose)."""
        return len(bundle_hosts(self.settings)) > 1

    def write_bundles(self, files: Mapping[str, str]) -> BundleDiff:
        """Bring each host's bundle directory to its part of `files` (as `render` made them); the
        changes, by the paths of `files`. Raises StateError."""
        if not self.several:
            return write_bundle(self.state.bundle, files)
        changes = BundleDiff()
        for host, directory in bundle_dirs(self.state, self.settings).items():
            done = write_bundle(directory, host_bundle(self.settings, files, host))
            changes.added.extend(f"{host}/{p}" for p in done.added)
            changes.changed.extend(f"{host}/{p}" for p in done.changed)
            changes.removed.extend(f"{host}/{p}" for p in done.removed)
        return changes

    def bundle_manifest(self) -> dict[str, str]:
        """The {path: hash} of the bundle files on disk, by the paths of `render` (read-only)."""
        if not self.several:
            return read_manifest(self.state.bundle)
        return {
            f"{host}/{path}": digest
            for host, directory in bundle_dirs(self.state, self.settings).items()
            for path, digest in read_manifest(directory).items()
        }

    def api_base(self) -> str:
        """The API's base URL, opened once and kept until `close`. Raises EngineError."""
        if self._api_base is None:
            host, port = self._exits.enter_context(self.engine.endpoint(*published_web(self.settings)))
            self._api_base = url_for(host, port)
        return self._api_base

    def api_with(self, api_key: str, admin_password: str | None = None) -> ApiClient:
        """An API client with the given key (and admin credentials), trusting the pinned CA."""
        credentials = Credentials("admin", admin_password) if admin_password is not None else None
        return self._api_factory(ApiTarget(self.api_base(), self.state.ca_file, api_key, credentials))

    def api(self) -> ApiClient:
        """The API client of the deployed client, as admin. Raises StateError when this state directory
        did not deploy it (no API key, admin password or pinned CA)."""
        api_key = self.secrets.read("WA_API_KEY")
        admin = self.secrets.read("WA_ADMIN_PASSWORD")
        if api_key is None or admin is None or not self.state.ca_file.is_file():
            raise StateError(
                f"deployment {self.project} was not deployed from {self.state.root} (no API key, admin "
                "password or pinned CA there); run `onprem deploy` first, from the directory of onprem.yaml"
            )
        return self.api_with(api_key, admin)

    def pin_ca(self) -> None:
        """Pin the CA the web container serves (read through the engine, not over TLS), plus the roots
        of an uploaded chain. Raises EngineError when the web container has none yet."""
        pem = self.engine.read_file(self.project, WEB_SERVICE, CA_PATH_IN_WEB)
        trusted = self.state.certs.read(TRUSTED_FILE)
        if trusted:
            pem = pem.rstrip(b"\n") + b"\n" + trusted.encode("ascii")
        self.state.pin_ca(pem)

    def config_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.loaded.base_dir / path
