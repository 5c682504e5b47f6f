"""The emulator's view of its process environment: the real client's env vars, parsed and typed.

`parse_env` is pure (it reads a Mapping, never os.environ) and reports every problem at once as a
ConfigError. Secret values (`WA_DB_PASSWORD`, `WA_API_KEY`) are kept out of `repr`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from onprem.emulator.versions import NEWEST_VERSION, ClientVersion
from onprem.errors import ConfigError

Engine = Literal["MYSQL", "PGSQL", "SQLITE"]

DEFAULT_DATA_DIR = "/usr/local/waent/data"
DEFAULT_MEDIA_DIR = "/usr/local/wamedia"
DEFAULT_VERSION = NEWEST_VERSION
DEFAULT_CORE_PORTS = (6250, 6251, 6252, 6253)
DEFAULT_DB_WAIT_SECONDS = 120.0
API_KEY_LENGTH = (12, 128)  # documented bounds of WA_API_KEY

_DEFAULT_PORTS = {"MYSQL": 3306, "PGSQL": 5432}
# The prefix becomes part of a database name; keep it to characters every engine accepts unquoted.
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_]{0,48}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class DbEnv:
    """Where the state lives: a MySQL/MariaDB or PostgreSQL server, or a SQLite file."""

    engine: Engine
    hostname: str = ""
    port: int = 0
    username: str = ""
    password: str = field(default="", repr=False)
    name_prefix: str = ""
    sqlite_path: str | None = None

    @property
    def database(self) -> str:
        """The database the emulator creates and uses, named like the real client's main one."""
        return f"{self.name_prefix}waent"

    def describe(self) -> str:
        """A log-safe one-line description (never the password)."""
        if self.engine == "SQLITE":
            return f"SQLite {self.sqlite_path or '(default path)'}"
        return f"{self.engine} {self.username}@{self.hostname}:{self.port}/{self.database}"


@dataclass(frozen=True)
class EmulatorEnv:
    """Everything `onprem emulator web|core` reads from its environment."""

    db: DbEnv
    hostname: str
    api_key: str | None = field(default=None, repr=False)
    multiconnect: bool = False
    wacore_hostname: str = ""
    webapp_hostname: str = ""
    web_servername: str = ""
    coreapp_hostname: str = ""
    coreapp_external_ports: tuple[int, ...] = DEFAULT_CORE_PORTS
    master_node: bool = False
    sunset: bool = False
    test_hooks: bool = False
    status_delay: float = 1.0
    media_dir: str | None = None
    data_dir: str | None = None
    container_id: str = ""
    db_wait_seconds: float = DEFAULT_DB_WAIT_SECONDS
    version: str = DEFAULT_VERSION  # normalised: v2.57.2
    db_upgrade: bool = False

    @property
    def client(self) -> ClientVersion:
        """The client version this process plays (it decides the database schema)."""
        return ClientVersion.parse(self.version)


def _flag(environ: Mapping[str, str], name: str, problems: list[str]) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        problems.append(f"{name}: expected 1 or 0, got {raw!r}")
    return False


def _port(raw: str, name: str, problems: list[str]) -> int:
    if raw.isdigit() and 0 < int(raw) < 65536:
        return int(raw)
    problems.append(f"{name}: expected a TCP port (1-65535), got {raw!r}")
    return 0


def parse_ports(raw: str, name: str, problems: list[str]) -> tuple[int, ...]:
    """Parse a comma-separated list of TCP ports, appending to `problems` what is wrong."""
    ports = tuple(_port(part.strip(), name, problems) for part in raw.split(",") if part.strip())
    if not ports:
        problems.append(f"{name}: expected a comma-separated list of TCP ports")
    return ports


def _db_env(environ: Mapping[str, str], problems: list[str]) -> DbEnv:
    prefix = environ.get("WA_DB_NAME_PREFIX", "")
    if not _PREFIX_RE.match(prefix):
        problems.append("WA_DB_NAME_PREFIX: use at most 48 letters, digits or underscores")
    raw_engine = environ.get("WA_DB_ENGINE", "").strip().upper()
    if not raw_engine:
        return DbEnv(
            engine="SQLITE", name_prefix=prefix, sqlite_path=environ.get("ONPREM_EMULATOR_SQLITE") or None
        )
    if raw_engine not in _DEFAULT_PORTS:
        problems.append(f"WA_DB_ENGINE: expected MYSQL or PGSQL (or unset for SQLite), got {raw_engine!r}")
        return DbEnv(engine="SQLITE", name_prefix=prefix)
    engine: Engine = "MYSQL" if raw_engine == "MYSQL" else "PGSQL"
    hostname = environ.get("WA_DB_HOSTNAME", "").strip()
    if not hostname:
        problems.append(f"WA_DB_HOSTNAME: required when WA_DB_ENGINE={engine}")
    raw_port = environ.get("WA_DB_PORT", "").strip()
    port = _port(raw_port, "WA_DB_PORT", problems) if raw_port else _DEFAULT_PORTS[engine]
    username = environ.get("WA_DB_USERNAME", "").strip()
    if not username:
        problems.append(f"WA_DB_USERNAME: required when WA_DB_ENGINE={engine}")
    return DbEnv(
        engine=engine,
        hostname=hostname,
        port=port,
        username=username,
        password=environ.get("WA_DB_PASSWORD", ""),
        name_prefix=prefix,
    )


def parse_env(environ: Mapping[str, str], *, default_hostname: str = "localhost") -> EmulatorEnv:
    """Parse the emulator's environment. `default_hostname` is used when HOSTNAME is unset.

    Raises ConfigError listing every invalid or missing variable (never their secret values).
    """
    problems: list[str] = []
    db = _db_env(environ, problems)
    api_key = environ.get("WA_API_KEY") or None
    if api_key is not None and not API_KEY_LENGTH[0] <= len(api_key) <= API_KEY_LENGTH[1]:
        problems.append(f"WA_API_KEY: must be {API_KEY_LENGTH[0]}-{API_KEY_LENGTH[1]} characters long")
    raw_ports = environ.get("COREAPP_EXTERNAL_PORTS", "").strip()
    ports = parse_ports(raw_ports, "COREAPP_EXTERNAL_PORTS", problems) if raw_ports else DEFAULT_CORE_PORTS
    raw_wait = environ.get("ONPREM_EMULATOR_DB_WAIT", "").strip()
    wait = DEFAULT_DB_WAIT_SECONDS
    if raw_wait:
        try:
            wait = float(raw_wait)
        except ValueError:
            problems.append(f"ONPREM_EMULATOR_DB_WAIT: expected seconds, got {raw_wait!r}")
        else:
            if wait < 0:
                problems.append("ONPREM_EMULATOR_DB_WAIT: must not be negative")
    status_delay = 1.0
    raw_delay = environ.get("ONPREM_EMULATOR_STATUS_DELAY", "").strip()
    if raw_delay:
        try:
            status_delay = float(raw_delay)
        except ValueError:
            problems.append(f"ONPREM_EMULATOR_STATUS_DELAY: expected seconds, got {raw_delay!r}")
        else:
            if status_delay < 0:
                problems.append("ONPREM_EMULATOR_STATUS_DELAY: must not be negative")
    version = DEFAULT_VERSION
    raw_version = environ.get("ONPREM_EMULATOR_VERSION", "").strip()
    if raw_version:
        try:
            version = str(ClientVersion.parse(raw_version))
        except ValueError as exc:
            problems.append(f"ONPREM_EMULATOR_VERSION: {exc}")
    parsed = EmulatorEnv(
        db=db,
        hostname=environ.get("HOSTNAME", "").strip() or default_hostname,
        api_key=api_key,
        multiconnect=_flag(environ, "WA_APP_MULTICONNECT", problems),
        wacore_hostname=environ.get("WACORE_HOSTNAME", "").strip(),
        webapp_hostname=environ.get("WEBAPP_HOSTNAME", "").strip(),
        web_servername=environ.get("WA_WEB_SERVERNAME", "").strip(),
        coreapp_hostname=environ.get("COREAPP_HOSTNAME", "").strip(),
        coreapp_external_ports=ports,
        master_node=_flag(environ, "WA_MASTER_NODE", problems),
        sunset=_flag(environ, "ONPREM_EMULATOR_SUNSET", problems),
        test_hooks=_flag(environ, "ONPREM_EMULATOR_TEST_HOOKS", problems),
        status_delay=status_delay,
        media_dir=environ.get("ONPREM_EMULATOR_MEDIA_DIR") or None,
        data_dir=environ.get("ONPREM_EMULATOR_DATA_DIR") or None,
        container_id=environ.get("ONPREM_EMULATOR_CONTAINER_ID", "").strip(),
        db_wait_seconds=wait,
        version=version,
        db_upgrade=_flag(environ, "WA_DB_UPGRADE", problems),
    )
    if problems:
        raise ConfigError(problems)
    return parsed
