"""What the operations commands need, built from the config and the state directory: the API client
(pinned CA, API key, admin credentials), the engine, the stack's shape and the certificate files."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from onprem.errors import ConfigError, SecretError, StateError

if TYPE_CHECKING:
    from onprem.api.client import ApiClient
    from onprem.config import LoadedConfig
    from onprem.engine.base import ExecEngine
    from onprem.ops.certs import CertFiles
    from onprem.ops.runtime import Stack
    from onprem.secrets import SecretStore
    from onprem.workflows.state import StateDir


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class OpsContext:
    """One deployment, as seen from this machine's state directory."""

    loaded: LoadedConfig
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    engine_factory: Callable[[LoadedConfig], ExecEngine] | None = None
    """Builds the engine of the deployment's host; default: the one `onprem deploy` uses (local or SSH)."""
    now: Callable[[], datetime] = _utcnow
    _engine: ExecEngine | None = None
    _api_base: str | None = None
    _exits: ExitStack = field(default_factory=ExitStack)

    @property
    def state(self) -> StateDir:
        from onprem.workflows.state import StateDir

        return StateDir(self.loaded.state_dir)

    @property
    def secrets(self) -> SecretStore:
        from onprem.secrets import SecretStore

        return SecretStore(self.state.secrets, environ=self.environ)

    @property
    def engine(self) -> ExecEngine:
        if self._engine is None:
            if self.engine_factory is None:
                from onprem.commands import engine_for

                engine: ExecEngine = engine_for(self.loaded)
                self._engine = engine
            else:
                self._engine = self.engine_factory(self.loaded)
        return self._engine

    def _base_url(self) -> str:
        # Opened once per command and kept until `close`: a tunnel when the engine is remote.
        if self._api_base is None:
            from onprem.workflows.deploy import published_web, url_for

            host, port = self._exits.enter_context(self.engine.endpoint(*published_web(self.loaded)))
            self._api_base = url_for(host, port)
        return self._api_base

    def close(self) -> None:
        """Close what the context opened (the tunnel to a remote web endpoint)."""
        self._exits.close()
        self._api_base = None

    @property
    def project(self) -> str:
        return self.loaded.settings.deployment.name

    def api(self) -> ApiClient:
        """The API client of the deployed client. Raises StateError when it was not deployed from here."""
        from onprem.api.auth import Credentials
        from onprem.api.client import ApiClient

        api_key = self.secrets.read("WA_API_KEY")
        admin = self.secrets.read("WA_ADMIN_PASSWORD")
        if api_key is None or admin is None or not self.state.ca_file.is_file():
            raise StateError(
                f"deployment {self.project} was not deployed from {self.state.root} (no API key, admin "
                "password or pinned CA there); run `onprem deploy` first, from the directory of onprem.yaml"
            )
        return ApiClient(
            self._base_url(),
            ca_file=self.state.ca_file,
            api_key=api_key,
            credentials=Credentials("admin", admin),
        )

    def stack(self) -> Stack:
        from onprem.ops.runtime import Stack
        from onprem.render import core_nodes

        settings = self.loaded.settings
        return Stack(
            engine=self.engine,
            project=self.project,
            bundle=self.state.bundle,
            db_kind=None if settings.db.engine == "external" else settings.db.kind,
            db_user=settings.db.username,
            core_services=[node.service for node in core_nodes(settings)],
        )

    @property
    def cert_files(self) -> CertFiles:
        from onprem.ops.certs import CertFiles

        return CertFiles(self.state.root / "certs")

    def web_sans(self) -> list[str]:
        """Names the web endpoint's certificate covers: the server name, the service, this host."""
        network = self.loaded.settings.network
        names = [self.loaded.settings.client.web_servername, "waweb", "localhost", "127.0.0.1"]
        if not ipaddress.ip_address(network.bind_address).is_unspecified:
            names.append(network.bind_address)
        return list(dict.fromkeys(names))

    def relay_sans(self) -> list[str]:
        """Names the relay's certificate covers: its service name inside the stack, and this host."""
        return ["relay", "localhost", "127.0.0.1"]

    def read_secret(
        self, file: str | None, env: str | None, what: str, default_secret: str | None = None
    ) -> str:
        """A secret from --*-file FILE or --*-env VAR (never argv), else a stored secret of the state dir
        (generated on first use when `default_secret` names one). Raises ConfigError / SecretError."""
        if file is not None and env is not None:
            raise ConfigError(f"give the {what} with a file or an environment variable, not both")
        if file is not None:
            try:
                return Path(file).expanduser().read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise SecretError(f"{file}: cannot read the {what} ({exc.strerror})") from None
        if env is not None:
            if env not in self.environ:
                raise SecretError(f"environment variable {env} (the {what}) is not set")
            return self.environ[env]
        if default_secret is None:
            raise ConfigError(f"give the {what} with --{what.replace(' ', '-')}-file FILE or an env variable")
        stored = self.secrets.read(default_secret)
        if stored is None:
            import secrets as random

            stored = random.token_urlsafe(32)
            self.secrets.write(default_secret, stored)
        return stored
