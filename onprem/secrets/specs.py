"""What each secret is: its settings field, its file name, how a value is generated and checked, and
where the config says it comes from (pure: nothing here reads a source or writes a file).
"""

from __future__ import annotations

import base64
import secrets as random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from onprem.archive import MIN_PASSWORD
from onprem.config import LoadedConfig
from onprem.errors import ConfigError
from onprem.secret_settings import SecretSource

SecretStatus = Literal["unchanged", "new", "changed"]
"""A secret's source against its stored value: the same, nothing stored yet, or a different value."""

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


def new_token() -> str:
    """A random URL-safe token (32 bytes)."""
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
    SecretSpec("relay_path_token", "RELAY_PATH_TOKEN", new_token, check_token),
    SecretSpec("relay_app_secret", "RELAY_APP_SECRET", new_token, check_nonempty),
    SecretSpec("relay_verify_token", "RELAY_VERIFY_TOKEN", new_token, check_nonempty),
    SecretSpec("relay_redis_password", "RELAY_REDIS_PASSWORD", new_token, check_redis_password),
)
# Files derived from secrets, for consumers that need another shape (curl reads headers from a file).
APIKEY_HEADER = "apikey.header"


def apikey_header(api_key: str) -> str:
    """The `apikey.header` file of an API key (curl reads it with `-H @FILE`)."""
    return f"Authorization: Apikey {api_key}\n"


def check_backup_password(value: str) -> str | None:
    return None if len(value) >= MIN_PASSWORD else f"must be at least {MIN_PASSWORD} characters"


BACKUP_SPEC = SecretSpec("backup_password", "BACKUP_PASSWORD", new_token, check_backup_password)
"""The backup archives' password: a secret of the state directory that no container mounts, so
`deploy` does not resolve it; `onprem backup` and `onprem restore` do."""

CLOUD_TOKEN_SPEC = SecretSpec("cloud_token", "CLOUD_API_TOKEN", new_token, check_token)
"""The Cloud API access token: resolved by `onprem migrate cloud`, and mounted only into the Cloud API
emulator (`cloud.emulator`), which accepts it as its system user's token."""


def describe_source(source: SecretSource) -> str:
    """Where a secret's value comes from, in words (never the value)."""
    if source.source == "file":
        return f"the file {source.path}"
    if source.source == "env":
        return f"the environment variable {source.var}"
    if source.source == "command":
        return f"the command `{' '.join(source.command or [])}`"
    return "generated"


class SecretsChanged(ConfigError):
    """Sources now give other values than the stored ones the deployment uses; nothing was written.
    Exit code 2. `fields` names the secrets (`db_password`, `extra.NAME`), each line of the message
    says where the new value comes from and the command that rotates it."""

    def __init__(self, problems: list[str], fields: list[str]) -> None:
        self.fields = fields
        super().__init__(problems)


@dataclass(frozen=True)
class SecretEntry:
    """One configured secret: its spec, its source, and where the config sets it."""

    spec: SecretSpec
    source: SecretSource
    where: str

    @property
    def field(self) -> str:
        return self.spec.field

    @property
    def name(self) -> str:
        return self.spec.name


def entries(loaded: LoadedConfig, *, backup: bool = False) -> list[SecretEntry]:
    """The secrets `deploy` resolves (built-in, then `extra` by name, the Cloud API token when the stack
    runs the Cloud API emulator), plus the backup password when `backup` (pure)."""
    secrets = loaded.settings.secrets
    found = [
        SecretEntry(spec, getattr(secrets, spec.field), loaded.where("secrets", spec.field)) for spec in SPECS
    ]
    found += [
        SecretEntry(
            SecretSpec(f"extra.{name}", name, _webhook_secret, check_nonempty),
            source,
            loaded.where("secrets", "extra", name),
        )
        for name, source in sorted(secrets.extra.items())
    ]
    if backup:
        found.append(
            SecretEntry(BACKUP_SPEC, secrets.backup_password, loaded.where("secrets", BACKUP_SPEC.field))
        )
    if loaded.settings.cloud.emulator:
        # The stack's Cloud API emulator mounts it, so `deploy` resolves (generates) it then.
        found.append(
            SecretEntry(
                CLOUD_TOKEN_SPEC, secrets.cloud_token, loaded.where("secrets", CLOUD_TOKEN_SPEC.field)
            )
        )
    return found


def entry(loaded: LoadedConfig, field: str) -> SecretEntry:
    """The secret configured as `secrets.<field>` (`db_password`, `extra.NAME`, ...). Raises ConfigError
    listing the valid fields."""
    known = entries(loaded, backup=True)
    for found in known:
        if found.field == field.removeprefix("secrets."):
            return found
    raise ConfigError(
        f"{field}: no such secret in {loaded.path or 'the built-in defaults'}; one of: "
        + ", ".join(e.field for e in known)
    )
