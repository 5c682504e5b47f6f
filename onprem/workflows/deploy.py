"""`onprem deploy`: validate -> secrets -> render -> up -> health gate -> bootstrap -> record.

Everything that can be checked is checked before the engine is touched, so a bad config leaves Docker
as it was. A re-run with nothing changed (same bundle, same secrets, every service healthy) is a no-op.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from onprem.bundle import BundleDiff, digest, file_hashes, write_bundle
from onprem.config import LoadedConfig
from onprem.engine.base import ContainerState, Engine
from onprem.engine.compose import up_args
from onprem.engine.images import stack_images
from onprem.errors import ApiError, ConfigError, EngineError, GateError
from onprem.render import COMPOSE_FILE, all_secret_names, expected_services, profiles, read_kit, render
from onprem.secrets import SecretStore
from onprem.workflows.bootstrap import LoginApi, ensure_admin_password
from onprem.workflows.gate import LOG_LINES, first_problem, wait_until_healthy
from onprem.workflows.state import CA_PATH_IN_WEB, StateDir


class Api(LoginApi, Protocol):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]: ...


ApiFactory = Callable[[str, Path, str], Api]
"""(base_url, ca_file, api_key) -> API client."""


@dataclass
class DeployResult:
    changed: bool
    diff: BundleDiff
    containers: list[ContainerState]
    health: dict[str, Any]
    admin: str = ""
    api_url: str = ""
    notes: list[str] = field(default_factory=list)


def published_web(loaded: LoadedConfig) -> tuple[str, int]:
    """The web endpoint's address and port as published on the engine's host (loopback when it is
    published on every address)."""
    address = ipaddress.ip_address(loaded.settings.network.bind_address)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return str(address), loaded.settings.network.web_port


def url_for(host: str, port: int) -> str:
    """`https://host:port`, with IPv6 addresses bracketed."""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def api_url(loaded: LoadedConfig) -> str:
    """The published web endpoint as seen on the engine's host."""
    return url_for(*published_web(loaded))


def _secrets_digest(values: Mapping[str, str]) -> dict[str, str]:
    # Only hashes, so the record can say "a secret changed" without holding any secret.
    return {name: hashlib.sha256(value.encode()).hexdigest() for name, value in values.items()}


class Deployer:
    """Runs the deploy steps for one loaded config on one engine."""

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        engine: Engine,
        api_factory: ApiFactory,
        environ: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.loaded = loaded
        self.engine = engine
        self.api_factory = api_factory
        self.state = StateDir(loaded.state_dir)
        self.secrets = SecretStore(self.state.secrets, environ=environ)
        self.clock = clock
        self.sleep = sleep
        self.progress = progress
        self._api_base: str | None = None

    @property
    def project(self) -> str:
        return self.loaded.settings.deployment.name

    def prepare(self) -> tuple[dict[str, str], dict[str, str], str]:
        """Resolve secrets and render (no engine involved). Returns (files, secrets, digest).

        Raises ConfigError / SecretError / StateError.
        """
        values = self.secrets.resolve(self.loaded)
        for name in all_secret_names(self.loaded.settings):
            # Files written by `onprem certs issue` (RELAY_TLS_CERT, RELAY_TLS_KEY) are stored secrets too.
            stored = None if name in values else self.secrets.read(name)
            if stored is not None:
                values[name] = stored
        unknown = [name for name in all_secret_names(self.loaded.settings) if name not in values]
        if unknown:
            hint = " (run `onprem certs issue`)" if any(n.startswith("RELAY_TLS_") for n in unknown) else ""
            raise ConfigError(
                f"{self.loaded.where()}: the relay or exporter settings read secret files onprem lacks: "
                f"{', '.join('/run/secrets/' + n for n in unknown)}{hint}; "
                "name them under secrets.extra to generate or source them"
            )
        files = render(self.loaded.settings, kit=read_kit())
        # The bootstrap steps render nothing, but a change to them is a change to deploy.
        extra = {**_secrets_digest(values), "bootstrap": self.loaded.settings.bootstrap.model_dump_json()}
        return files, values, digest(file_hashes(files), extra)

    def render_only(self) -> BundleDiff:
        """Write the bundle without touching the engine (`onprem render`)."""
        files, _, _ = self.prepare()
        return write_bundle(self.state.bundle, files)

    def _api(self, values: Mapping[str, str]) -> Api:
        return self.api_factory(
            self._api_base or api_url(self.loaded), self.state.ca_file, values["WA_API_KEY"]
        )

    @contextmanager
    def reach_api(self) -> Iterator[str]:
        """The API's base URL from this machine, tunnelled for the block when the engine is remote."""
        with self.engine.endpoint(*published_web(self.loaded)) as (host, port):
            self._api_base = url_for(host, port)
            try:
                yield self._api_base
            finally:
                self._api_base = None

    def _pin_ca(self) -> None:
        pem = self.engine.read_file(self.project, "waweb", CA_PATH_IN_WEB)
        # After `certs upload` the web endpoint serves the operator's chain: keep trusting its root.
        trusted = self.state.root / "certs" / "trusted.pem"
        if trusted.is_file():
            pem = pem.rstrip(b"\n") + b"\n" + trusted.read_bytes()
        if not self.state.ca_file.is_file() or self.state.ca_file.read_bytes() != pem:
            self.state.root.mkdir(parents=True, exist_ok=True)
            self.state.ca_file.write_bytes(pem)

    def _probe(self, values: Mapping[str, str]) -> Callable[[], dict[str, Any]]:
        def probe() -> dict[str, Any]:
            self._pin_ca()
            return self._api(values).health(timeout=5)

        return probe

    def _unchanged(self, new_digest: str, expected: list[str]) -> list[ContainerState] | None:
        if self.state.read_record().get("digest") != new_digest:
            return None
        containers = self.engine.containers(self.project)
        return containers if first_problem(expected, containers) is None else None

    def run(self) -> DeployResult:
        """Deploy. Raises ConfigError, SecretError, StateError, EngineError, GateError or ApiError."""
        from onprem.ops import bootstrap  # the `bootstrap:` steps (issue 3)

        bootstrap.check(self.loaded)
        if self.loaded.settings.bootstrap.certs:
            # Before the secrets are read: a first deploy starts the relay with its certificate.
            bootstrap.issue_certs(self.loaded, self.secrets, now=datetime.now(UTC))
        files, values, new_digest = self.prepare()
        self.engine.check()
        with self.reach_api():
            return self._steps(files, values, new_digest)

    def _steps(self, files: dict[str, str], values: dict[str, str], new_digest: str) -> DeployResult:
        settings = self.loaded.settings
        expected = expected_services(settings)
        unchanged = self._unchanged(new_digest, expected)
        if unchanged is not None:
            try:
                health = self._api(values).health(timeout=5)
            except ApiError:
                health = {}
            if health:
                return DeployResult(False, BundleDiff(), unchanged, health, api_url=api_url(self.loaded))
        changes = write_bundle(self.state.bundle, files)
        self.progress(f"bundle {self.state.bundle}: {self._describe(changes)}")
        copy = self.engine.images_to_copy(stack_images(files[COMPOSE_FILE], profiles(settings)))
        if copy:
            self.progress(
                f"copying {len(copy)} images to the host (docker save | docker load): {', '.join(copy)}"
            )
            self.engine.copy_images(copy)
        self.progress(f"starting {len(expected)} services: {', '.join(expected)}")
        try:
            self.engine.compose(self.state.bundle, self.project, up_args(), profiles=profiles(settings))
        except EngineError as exc:
            # `up` waits for dependencies' health itself; name the service that failed it, with its logs.
            self._raise_failed_service(expected, exc)
            raise
        self.progress("waiting for every service to be healthy and /v1/health to answer")
        gate = wait_until_healthy(
            engine=self.engine,
            project=self.project,
            expected=expected,
            probe=self._probe(values),
            timeout=settings.deployment.timeout_seconds,
            clock=self.clock,
            sleep=self.sleep,
        )
        api = self._api(values)
        admin = ensure_admin_password(api, values["WA_ADMIN_PASSWORD"])
        from onprem.ops.bootstrap import run_bootstrap

        notes = run_bootstrap(
            self.loaded, api=api, engine=self.engine, secrets=self.secrets, progress=self.progress
        )
        self.state.write_record({"digest": new_digest, "services": expected})
        return DeployResult(
            True,
            changes,
            gate.containers,
            gate.health,
            admin=admin,
            api_url=api_url(self.loaded),
            notes=notes,
        )

    def _raise_failed_service(self, expected: list[str], cause: EngineError) -> None:
        problem = first_problem(expected, self.engine.containers(self.project))
        if problem is None or not problem[2]:
            return
        service, why, _ = problem
        logs = self.engine.logs(self.project, service, tail=LOG_LINES)
        raise GateError(f"service {service} {why}", service=service, logs=logs) from cause

    @staticmethod
    def _describe(changes: BundleDiff) -> str:
        if changes.empty:
            return "unchanged"
        parts = [
            f"{len(v)} {k}"
            for k, v in (("added", changes.added), ("changed", changes.changed), ("removed", changes.removed))
            if v
        ]
        return ", ".join(parts)
