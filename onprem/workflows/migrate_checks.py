"""The checks of `onprem migrate cloud`, run before anything changes (and alone with `--dry-run`).

Each check is a function over injected seams (the client's API, the Graph client, an HTTP session for the
relay) that returns a `Check` (ok, or what is wrong and the fix) and never changes anything: only GET
requests, no file written.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import requests

from onprem.errors import CloudApiError, OnpremError
from onprem.graph.client import INVALID_PARAMETER, INVALID_TOKEN, NO_PERMISSION, NO_SUCH_OBJECT, digits
from onprem.workflows.pinrecord import pin_matches
from onprem.workflows.registration import is_registered

REGION = re.compile(r"[A-Z]{2}")
HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HealthApi(Protocol):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]: ...


class PhoneApi(Protocol):
    def phone_number(self, phone_number_id: str) -> dict[str, Any]: ...


def on_cloud(number: dict[str, Any]) -> bool:
    """Whether the Cloud API says the number is registered there (connected, platform CLOUD_API)."""
    return number.get("platform_type") == "CLOUD_API" and number.get("status") == "CONNECTED"


def check_onprem_registered(api: HealthApi, number: str) -> Check:
    """The On-Prem client holds the registered number (its `/v1/health` gateway status)."""
    name = "on-prem number registered"
    try:
        registered = is_registered(api)
    except OnpremError as exc:
        return Check(name, False, f"the client's health cannot be read: {exc}")
    if not registered:
        return Check(name, False, f"{number} is not registered on the On-Prem client: nothing to move")
    return Check(name, True, f"{number} is registered on the On-Prem client")


def check_pin(record: Path, pin: str, origin: str) -> Check:
    """The PIN (already read: 6 digits) is the one `onprem two-step enable` recorded, when it recorded one.

    Meta takes the On-Prem deployment down on a wrong PIN, and the client cannot check one."""
    name = "two-step PIN"
    try:
        same, when = pin_matches(record, pin)
    except OnpremError as exc:
        return Check(name, False, str(exc))
    if same is None:
        return Check(
            name,
            True,
            f"6 digits from {origin}; not checked against the client (the PIN was not set with `onprem "
            "two-step enable` here): make sure it is the number's current PIN, a wrong one takes the "
            "On-Prem deployment down",
        )
    if not same:
        return Check(
            name,
            False,
            f"the PIN in {origin} is not the one `onprem two-step enable` set on {when}: give that PIN "
            "with --pin-file (a wrong PIN at the Cloud API takes the On-Prem deployment down)",
        )
    return Check(name, True, f"matches the PIN `onprem two-step enable` set on {when}")


def check_cloud_number(
    graph: PhoneApi, phone_number_id: str, expected_digits: str, token_where: str
) -> tuple[Check, dict[str, Any] | None]:
    """The token works and `phone_number_id` is the On-Prem number (digits of cc + number). Also the
    phone number object (None when it could not be read)."""
    name = "cloud token and phone number"
    try:
        number = graph.phone_number(phone_number_id)
    except CloudApiError as exc:
        if exc.code == INVALID_TOKEN:
            fix = f"the Cloud API token ({token_where}) is invalid or expired: give a system-user token"
        elif exc.code == INVALID_PARAMETER and exc.subcode == NO_SUCH_OBJECT:
            fix = (
                f"the token ({token_where}) has no access to phone number ID {phone_number_id}, or there is "
                "no such number: check cloud.phone_number_id and give the token access to its WABA"
            )
        elif exc.code in NO_PERMISSION:
            fix = f"the token ({token_where}) lacks a permission (whatsapp_business_management)"
        else:
            fix = "see the Graph API's answer"
        return Check(name, False, f"{exc}: {fix}"), None
    found = digits(str(number.get("display_phone_number", "")))
    if found != expected_digits:
        return Check(
            name,
            False,
            f"phone number ID {phone_number_id} is +{found}, not the On-Prem number +{expected_digits}: "
            "set cloud.phone_number_id to this number's ID (WhatsApp Manager > phone numbers)",
        ), number
    where = "already registered on the Cloud API" if on_cloud(number) else "not yet on the Cloud API"
    return Check(name, True, f"{phone_number_id} is +{found}, {where}"), number


def check_region(region: str | None, number: dict[str, Any] | None, origin: str) -> Check:
    """A region has the ISO 3166 alpha-2 shape and is not given for a number already on the Cloud API."""
    name = "data localization region"
    if region is None:
        return Check(name, True, "none (message content at rest stays where Meta keeps it)")
    if not REGION.fullmatch(region):
        return Check(name, False, f"{origin}: {region!r} is not an ISO 3166 alpha-2 code (like DE or IN)")
    if number is not None and on_cloud(number):
        current = number.get("data_localization_region")
        return Check(
            name,
            False,
            f"{origin}: {region} can only be set while the number is not registered on the Cloud API, and it "
            f"already is (region {current or 'none'}); drop --region / cloud.region, or deregister it first",
        )
    return Check(name, True, f"{region} (set in the register call)")


def check_handshake(
    session: requests.Session,
    webhook_url: str,
    verify_token: str,
    *,
    internal_ca: Path | None,
    challenge: Callable[[], str] = lambda: secrets.token_hex(16),
) -> Check:
    """Meta's subscription handshake against the relay's outside address: `GET webhook_url?hub.mode=
    subscribe&hub.verify_token=…&hub.challenge=…` must answer 200 with the challenge echoed.

    TLS is verified with the system's trust store (what Meta does); a certificate only the tool's internal
    CA signs is accepted here with a warning, since Meta would refuse it."""
    name = "relay webhook handshake"
    expected = challenge()
    params = {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": expected}
    note = ""
    try:
        try:
            answer = session.get(webhook_url, params=params, timeout=HANDSHAKE_TIMEOUT, verify=True)
        except requests.exceptions.SSLError:
            if internal_ca is None or not internal_ca.is_file():
                raise
            answer = session.get(
                webhook_url, params=params, timeout=HANDSHAKE_TIMEOUT, verify=str(internal_ca)
            )
            note = (
                "; warning: its certificate is signed by onprem's internal CA, which Meta does not trust: "
                "give the relay a publicly trusted certificate before moving a real number"
            )
    except requests.exceptions.SSLError:
        return Check(
            name, False, f"{webhook_url}: its TLS certificate does not verify (Meta needs a public one)"
        )
    except requests.RequestException as exc:
        return Check(
            name,
            False,
            f"{webhook_url} unreachable ({exc.__class__.__name__}): the relay must run and be reachable at "
            "cloud.webhook_url (see `onprem status`)",
        )
    if answer.status_code != 200 or answer.text != expected:
        return Check(
            name,
            False,
            f"{webhook_url} answered HTTP {answer.status_code} without echoing the challenge: check that it "
            "reaches the relay's /webhooks/cloud and that the relay's verify token is RELAY_VERIFY_TOKEN",
        )
    return Check(name, True, f"{webhook_url} echoed the challenge{note}")
