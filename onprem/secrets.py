"""Secrets of a deployment: where each comes from, how it is checked, and where it is kept.

A secret's value comes from one of: generated on first use (the default, kept in the state directory),
a file, an environment variable, or the output of a command the operator names (a vault CLI). Values are
written only to files of mode 0600 inside a 0700 directory, which compose mounts as `/run/secrets/NAME`.
They are never printed, logged, put in process arguments or in the rendered compose file.
"""

from __future__ import annotations

import base64
import os
import secrets as random
import string
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from onprem.config import LoadedConfig, SecretSource
from onprem.errors import ConfigError, SecretError, StateError

DB_FORBIDDEN = set("?{}&~!()^=")
ADMIN_SPECIALS = "#%+-.:@_"


def _alnum(length: int) -> Callable[[], str]:
    alphabet = string.ascii_letters + string.digits
    return lambda: "".join(random.choice(alphabet) for _ in range(length))


def _admin_password() -> str:
    # The client wants 8-64 chars with a digit, an upper, a lower and a special character.
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, ADMIN_SPECIALS]
    chars = [random.choice(c) for c in classes]
    chars += [random.choice("".join(classes)) for _ in range(20)]
    random.SystemRandom().shuffle(chars)
    return "".join(chars)


def check_db_password(value: str) -> str | None:
    bad = sorted(set(value) & DB_FORBIDDEN)
    if bad:
        return f"contains {' '.join(bad)}, which the client forbids in WA_DB_PASSWORD (any of ?{{}}&~!()^=)"
    if not value or any(ch.isspace() for ch in value):
        return "must be non-empty and without whitespace"
    return None


def check_api_key(value: str) -> str | None:
    if not 12 <= len(value) <= 128:
        return f"is {len(value)} characters long; WA_API_KEY must be 12-128 characters"
    if any(ch.isspace() for ch in value):
        return "must not contain whitespace"
    return None


def check_admin_password(value: str) -> str | None:
    if not 8 <= len(value) <= 64:
        return "must be 8-64 characters"
    classes = [
        any(ch.isupper() for ch in value),
        any(ch.islower() for ch in value),
        any(ch.isdigit() for ch in value),
        any(not ch.isalnum() for ch in value),
    ]
    if not all(classes):
        return "needs a digit, an upper-case, a lower-case and a special character"
    return None


@dataclass(frozen=True)
class SecretSpec:
    """One secret: its settings field, file name under /run/secrets, generator and check."""

    field: str
    name: str
    generate: Callable[[], str]
    check: Callable[[str], str | None]


def _token() -> str:
    return random.token_urlsafe(32)


def _webhook_secret() -> str:
    return "whsec_" + base64.b64encode(random.token_bytes(32)).decode("ascii")


def check_token(value: str) -> str | None:
    if len(value) < 16 or any(ch.isspace() for ch in value):
        return "must be at least 16 characters without whitespace"
    return None


def check_redis_password(value: str) -> str | None:
    # It is written into redis.conf inside double quotes: quotes, backslashes and whitespace would break it.
    if len(value) < 16 or any(ch.isspace() or ch in '"\\' for ch in value):
        return "must be at least 16 characters without whitespace, quotes or backslashes"
    return None


def check_nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


SPECS: tuple[SecretSpec, ...] = (
    SecretSpec("db_password", "WA_DB_PASSWORD", _alnum(32), check_db_password),
    SecretSpec("api_key", "WA_API_KEY", _alnum(48), check_api_key),
    SecretSpec("admin_password", "WA_ADMIN_PASSWORD", _admin_password, check_admin_password),
    SecretSpec("relay_path_token", "RELAY_PATH_TOKEN", _token, check_token),
    SecretSpec("relay_app_secret", "RELAY_APP_SECRET", _token, check_nonempty),
    SecretSpec("relay_verify_token", "RELAY_VERIFY_TOKEN", _token, check_nonempty),
    SecretSpec("relay_redis_password", "RELAY_REDIS_PASSWORD", _token, check_redis_password),
)
# Files derived from secrets, for consumers that need another shape (curl reads headers from a file).
APIKEY_HEADER = "apikey.header"


def run_command(argv: list[str]) -> str:
    """Default runner for `source: command`: the command's stdout, without a shell.

    Raises SecretError when the command is missing, fails or times out (its output is not shown).
    """
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise SecretError(f"secret command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"secret command timed out after 60 s: {argv[0]}") from None
    if done.returncode != 0:
        raise SecretError(f"secret command {argv[0]} exited {done.returncode}")
    return done.stdout


class SecretStore:
    """The secrets directory of one deployment's state (`<state>/secrets`, mode 0700)."""

    def __init__(
        self,
        directory: Path,
        *,
        environ: Mapping[str, str],
        runner: Callable[[list[str]], str] = run_command,
    ) -> None:
        self.directory = directory
        self._environ = environ
        self._runner = runner

    def path(self, name: str) -> Path:
        return self.directory / name

    def read(self, name: str) -> str | None:
        """The stored value of a secret, or None when it was never written."""
        try:
            return self.path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write(self, name: str, value: str) -> None:
        """Store a value atomically with mode 0600. Raises StateError when the directory is unusable."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            tmp = self.path(f".{name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value)
            os.replace(tmp, self.path(name))
        except OSError as exc:
            raise StateError(f"cannot write secret {name} in {self.directory}: {exc.strerror}") from None

    def read_or_generate(self, name: str) -> str:
        """The stored secret `name`, generated (a random token) and stored on first use. Raises StateError."""
        stored = self.read(name)
        if stored is None:
            stored = _token()
            self.write(name, stored)
        return stored

    def _fetch(self, spec: SecretSpec, source: SecretSource, where: str) -> str:
        if source.source == "generate":
            value = self.read(spec.name)
            return value if value is not None else spec.generate()
        if source.source == "file":
            assert source.path is not None
            try:
                return Path(source.path).expanduser().read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise SecretError(
                    f"{where}: secrets.{spec.field}: cannot read {source.path}: {exc.strerror}"
                ) from None
        if source.source == "env":
            assert source.var is not None
            if source.var not in self._environ:
                raise SecretError(
                    f"{where}: secrets.{spec.field}: environment variable {source.var} is not set"
                )
            return self._environ[source.var]
        assert source.command is not None
        return self._runner(source.command).rstrip("\n")

    def resolve(self, loaded: LoadedConfig) -> dict[str, str]:
        """Every secret's value by file name, generating missing ones, checking all before storing any.

        Raises ConfigError (file:line:field) for a value the client would refuse, SecretError for a
        source that cannot be read, StateError when the store cannot be written.
        """
        values: dict[str, str] = {}
        problems: list[str] = []
        extra = [
            (SecretSpec(f"extra.{name}", name, _webhook_secret, check_nonempty), source, ("extra", name))
            for name, source in sorted(loaded.settings.secrets.extra.items())
        ]
        known = [(spec, getattr(loaded.settings.secrets, spec.field), (spec.field,)) for spec in SPECS]
        for spec, source, path in [*known, *extra]:
            where = loaded.where("secrets", *path)
            value = self._fetch(spec, source, where)
            problem = spec.check(value)
            if problem:
                origin = f" (from {source.source})" if source.source != "generate" else ""
                problems.append(f"{where}: secrets.{spec.field}{origin}: {problem}")
            values[spec.name] = value
        if problems:
            raise ConfigError(problems)
        values[APIKEY_HEADER] = f"Authorization: Apikey {values['WA_API_KEY']}\n"
        for name, value in values.items():
            if self.read(name) != value:
                self.write(name, value)
        return values


def from_flags(
    file: str | None, env: str | None, environ: Mapping[str, str], *, what: str, flag: str
) -> str | None:
    """A secret given on the command line by reference: `--FLAG-file FILE` or `--FLAG-env VAR` (never
    the value itself); None when neither was given. Raises ConfigError for both, SecretError when the
    file or variable cannot be read."""
    if file is not None and env is not None:
        raise ConfigError(f"give the {what} with --{flag}-file FILE or --{flag}-env VAR, not both")
    if file is not None:
        try:
            return Path(file).expanduser().read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise SecretError(f"{file}: cannot read the {what} ({exc.strerror})") from None
    if env is not None:
        if env not in environ:
            raise SecretError(f"environment variable {env} (the {what}) is not set")
        return environ[env]
    return None
