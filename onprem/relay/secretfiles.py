"""Reading the relay's secrets from the files its settings name (the only I/O of secret values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from onprem.errors import ConfigError
from onprem.relay.settings import RelaySettings
from onprem.relay.signing import parse_secrets

MIN_PATH_TOKEN = 16


@dataclass(frozen=True)
class RelaySecrets:
    """Secret values in memory; `repr` shows none of them."""

    path_token: str | None = field(default=None, repr=False)
    app_secret: bytes | None = field(default=None, repr=False)
    verify_token: str | None = field(default=None, repr=False)
    endpoint_keys: dict[str, list[bytes]] = field(default_factory=dict, repr=False)


def read_secret(path: str, what: str) -> str:
    """The file's content without its trailing newline. Raises ConfigError if unreadable or empty."""
    try:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"relay: cannot read the {what} from {path} ({exc.__class__.__name__})") from None
    if not value.strip():
        raise ConfigError(f"relay: the {what} file {path} is empty")
    return value


def load_secrets(settings: RelaySettings) -> RelaySecrets:
    """Read every secret the settings enable. Raises ConfigError naming the file (never the value)."""
    path_token = None
    if settings.onprem.enabled:
        path_token = read_secret(settings.onprem.path_token_file, "path token")
        if len(path_token) < MIN_PATH_TOKEN or not path_token.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(
                f"relay: the path token in {settings.onprem.path_token_file} must be at least "
                f"{MIN_PATH_TOKEN} characters of A-Z, a-z, 0-9, - and _"
            )
    app_secret = verify_token = None
    if settings.cloud.enabled:
        app_secret = read_secret(settings.cloud.app_secret_file, "app secret").encode("utf-8")
        verify_token = read_secret(settings.cloud.verify_token_file, "verify token")
    keys: dict[str, list[bytes]] = {}
    for endpoint in settings.delivery.endpoints:
        if endpoint.secret_file is None:
            continue
        try:
            keys[endpoint.name] = parse_secrets(
                read_secret(endpoint.secret_file, f"{endpoint.name} signing secret")
            )
        except ValueError as exc:
            raise ConfigError(f"relay: {endpoint.secret_file}: {exc}") from None
    return RelaySecrets(
        path_token=path_token, app_secret=app_secret, verify_token=verify_token, endpoint_keys=keys
    )
