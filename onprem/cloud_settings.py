"""The `cloud:` section of onprem.yaml: the WhatsApp Cloud API a number moves to, and its emulator.

Pure settings (pydantic, frozen). `onprem migrate cloud` reads them; with `emulator: true` the stack also
runs the Cloud API emulator (`onprem emulator cloud`), which then plays `graph_url`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GRAPH_URL = "https://graph.facebook.com"
# ISO 3166-1 alpha-2: two upper-case letters; whether Meta offers local storage there is Meta's to say
# (the register call refuses a region it doesn't serve), so only the shape is checked here.
_REGION = re.compile(r"[A-Z]{2}")


class CloudSettings(BaseModel):
    """Where the number goes after the sunset: the Graph API, the Cloud phone number and business account,
    the local-storage region, and the relay's outside address Meta will call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    emulator: bool = False
    """Run the Cloud API emulator in the stack (service `cloudapi`) and use it as `graph_url`."""
    emulator_port: Annotated[int, Field(ge=1, le=65535)] = 9444
    """Host port of the emulator, published on `network.bind_address`."""
    graph_url: str | None = None
    """Base URL of the Graph API (default https://graph.facebook.com; the emulator's when `emulator`)."""
    api_version: Annotated[str, Field(pattern=r"^v\d{1,2}\.\d$")] = "v21.0"
    phone_number_id: Annotated[str, Field(pattern=r"^[0-9]{5,20}$")] | None = None
    """The Cloud API phone number ID of the number being moved (WhatsApp Manager shows it)."""
    waba_id: Annotated[str, Field(pattern=r"^[0-9]{5,20}$")] | None = None
    """The WhatsApp Business Account that owns the number (the app is subscribed to it)."""
    region: str | None = None
    """`data_localization_region` (ISO 3166 alpha-2, e.g. DE): message content at rest stays in that
    country. Only settable while the number is not yet registered on the Cloud API."""
    webhook_url: str | None = None
    """The relay's Cloud ingress as Meta reaches it, e.g. https://relay.example.com/webhooks/cloud."""
    ca_file: str | None = None
    """A CA bundle to trust for `graph_url` (the emulator's own CA); Meta's is publicly trusted."""

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.fullmatch(value):
            raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code: write it like DE or IN")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("Meta calls webhooks over HTTPS only: give an https:// URL")
        return value

    @model_validator(mode="after")
    def _emulated_ids(self) -> CloudSettings:
        if self.emulator and (self.phone_number_id is None or self.waba_id is None):
            raise ValueError(
                "cloud.emulator plays the number's Cloud side: set cloud.phone_number_id and cloud.waba_id "
                "(any 5-20 digit ids, e.g. 106540352242922 and 102290129340398)"
            )
        return self

    @property
    def effective_graph_url(self) -> str:
        """The Graph API base URL the tool calls when the emulator is off (see `graph_url_of`, which also
        knows the emulator's address)."""
        return (self.graph_url or GRAPH_URL).rstrip("/")


def emulator_url(cloud: CloudSettings, bind_address: str) -> str:
    """Where the tool reaches the stack's Cloud API emulator: it listens on the host's network at
    `network.bind_address:cloud.emulator_port` (a wildcard bind is reached over loopback)."""
    host = bind_address
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard given by the operator, reached via loopback
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{cloud.emulator_port}"


def graph_url_of(cloud: CloudSettings, bind_address: str) -> str:
    """The Graph API base URL the tool calls (pure): `cloud.graph_url` when set, else the emulator's
    when `cloud.emulator`, else Meta's. `bind_address` is `network.bind_address`."""
    if cloud.graph_url is None and cloud.emulator:
        return emulator_url(cloud, bind_address)
    return cloud.effective_graph_url
