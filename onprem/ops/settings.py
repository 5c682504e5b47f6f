"""`bootstrap:` in onprem.yaml: the operations `onprem deploy` runs after the stack is healthy.

Frozen, unknown keys forbidden, every field defaulted (an absent section does nothing). No secret is a
value here: the PIN and the verified-name certificate are named by file.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegistrationSettings(_Model):
    """Register the business number (`POST /v1/account`); the code is then given with `onprem verify`."""

    cc: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}$")]
    """Country calling code, without `+`."""
    phone_number: Annotated[str, Field(pattern=r"^[0-9]{4,15}$")]
    """The number without the country code."""
    method: Literal["sms", "voice"] = "sms"
    cert_file: str
    """File holding the base64 verified-name certificate from the WhatsApp Manager."""
    pin_file: str | None = None
    """File holding the 6-digit two-step PIN, needed when two-step verification is on."""


class BootstrapSettings(_Model):
    """Bootstrap steps, run in this order by `onprem deploy`, each skipped when already done."""

    certs: bool = False
    """Issue the internal CA and the server certificates of the web endpoint and the relay
    (`onprem certs issue`); the relay serves its certificate when `relay.tls` is set."""
    registration: RegistrationSettings | None = None
    """Request a registration code (`onprem register`); skipped when the number is registered."""
    webhooks: Literal["none", "relay"] = "none"
    """`relay`: send the client's callbacks to the relay, trusting its CA (`onprem webhooks set`)."""
