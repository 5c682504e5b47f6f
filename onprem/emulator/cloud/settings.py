"""Settings of the Cloud API emulator (pydantic, frozen) and the reading of its file and secret files.

The file (`--settings`, YAML or JSON) names phone numbers, tokens (each a secret file with the WABA ids
it may use), the app (its secret file keys X-Hub-Signature-256), the CA to trust for HTTPS callbacks,
the database and the listen address. Secret values are never in the file, only paths to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from onprem.errors import ConfigError
from onprem.sidecar import load_section

DEFAULT_LISTEN = "127.0.0.1:9444"
DEFAULT_DATABASE = "/var/lib/onprem-cloudapi/cloudapi.sqlite3"
# Meta's local-storage regions (Cloud API "local storage" overview): APAC, Europe, LATAM, MEA, NORAM.
META_REGIONS = ("AU", "ID", "IN", "JP", "SG", "KR", "DE", "CH", "GB", "BR", "BH", "ZA", "AE", "CA")

Permission = Literal["whatsapp_business_messaging", "whatsapp_business_management"]
GraphId = Annotated[str, Field(pattern=r"^[0-9]{5,20}$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PhoneNumber(_Model):
    """A phone number the emulated WABA owns (its Cloud API phone number ID and the number itself)."""

    id: GraphId
    cc: Annotated[str, Field(pattern=r"^[0-9]{1,3}$")]
    phone_number: Annotated[str, Field(pattern=r"^[0-9]{4,15}$")]
    verified_name: str = "Emulated Business"
    waba_id: GraphId


class Token(_Model):
    """A system-user access token: its file, the WABAs it may use and its permissions."""

    file: str
    waba_ids: list[GraphId] = []
    """The WABAs (and so their phone numbers) this token may act on; empty: every configured WABA."""
    permissions: list[Permission] = ["whatsapp_business_messaging", "whatsapp_business_management"]


class App(_Model):
    """The Meta app whose webhooks the emulator sends."""

    id: GraphId = "100000000000001"
    name: str = "onprem"
    secret_file: str | None = None
    """The app secret (the relay's RELAY_APP_SECRET) that keys X-Hub-Signature-256; unset: unsigned."""
    callback_url: str | None = None
    """The app's callback URL (App Dashboard); used when a subscription has no override_callback_uri."""
    verify_token_file: str | None = None
    """The verify token of `callback_url`'s handshake."""


class Tls(_Model):
    cert_file: str
    key_file: str


class Webhooks(_Model):
    """Outbound delivery: Meta retries failed deliveries with backoff for up to 7 days."""

    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    first_retry_seconds: Annotated[float, Field(gt=0, le=86400)] = 5.0
    backoff_factor: Annotated[float, Field(ge=1, le=10)] = 2.0
    max_interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    max_age_seconds: Annotated[float, Field(gt=0, le=30 * 86400)] = 7 * 86400.0
    """An event still undelivered this long after it was emitted is expired (Meta: 7 days)."""
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    handshake_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0


class CloudEmulatorSettings(_Model):
    listen: str = DEFAULT_LISTEN
    database: str = DEFAULT_DATABASE
    """The emulator's own SQLite database (a volume in the stack)."""
    phone_numbers: list[PhoneNumber] = []
    tokens: list[Token] = []
    app: App = App()
    ca_file: str | None = None
    """A CA bundle trusted for HTTPS callbacks (the tool's CA, which signs the relay's certificate)."""
    tls: Tls | None = None
    """Serve HTTPS with this certificate instead of plain HTTP."""
    webhooks: Webhooks = Webhooks()
    register_delay_seconds: Annotated[float, Field(ge=0, le=60)] = 0.2
    """How long `register` takes (Meta: up to ~15 s)."""
    regions: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = list(META_REGIONS)
    """Countries `data_localization_region` may name."""

    @model_validator(mode="after")
    def _unique_ids(self) -> CloudEmulatorSettings:
        ids = [number.id for number in self.phone_numbers]
        if len(ids) != len(set(ids)):
            raise ValueError("phone_numbers: each id must appear once")
        wabas = {number.waba_id for number in self.phone_numbers}
        if wabas & set(ids):
            raise ValueError("phone_numbers: a phone number id must differ from every waba_id")
        for token in self.tokens:
            unknown = set(token.waba_ids) - wabas
            if unknown:
                raise ValueError(f"tokens: {token.file} names unknown waba_ids {sorted(unknown)}")
        return self


def load_settings(path: Path) -> CloudEmulatorSettings:
    """Read and validate the settings file. Raises ConfigError naming the file and field."""
    return load_section(CloudEmulatorSettings, "cloudapi", path)


@dataclass(frozen=True)
class TokenGrant:
    """What a token may do (the token value itself is the key of the grants map)."""

    waba_ids: frozenset[str]
    permissions: frozenset[str]


@dataclass(frozen=True)
class CloudSecrets:
    """Secret values in memory; `repr` shows none of them."""

    grants: dict[str, TokenGrant] = field(default_factory=dict, repr=False)
    app_secret: bytes | None = field(default=None, repr=False)
    verify_token: str | None = field(default=None, repr=False)


def _read(path: str, what: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cloud emulator: cannot read the {what} from {path} ({exc.__class__.__name__})"
        ) from None
    if not value.strip():
        raise ConfigError(f"cloud emulator: the {what} file {path} is empty")
    return value


def load_secrets(settings: CloudEmulatorSettings) -> CloudSecrets:
    """Read every secret file the settings name. Raises ConfigError naming the file (never the value)."""
    all_wabas = frozenset(number.waba_id for number in settings.phone_numbers)
    grants: dict[str, TokenGrant] = {}
    for token in settings.tokens:
        value = _read(token.file, "access token").strip()
        grants[value] = TokenGrant(
            waba_ids=frozenset(token.waba_ids) or all_wabas, permissions=frozenset(token.permissions)
        )
    app_secret = None
    if settings.app.secret_file is not None:
        app_secret = _read(settings.app.secret_file, "app secret").encode("utf-8")
    verify_token = None
    if settings.app.verify_token_file is not None:
        verify_token = _read(settings.app.verify_token_file, "verify token")
    return CloudSecrets(grants=grants, app_secret=app_secret, verify_token=verify_token)
