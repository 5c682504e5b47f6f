"""What every handler of the Cloud API emulator shares, and the Graph objects a request names.

Objects are phone numbers (configured), WABAs (their owners) and media (uploaded). A token reaches an
object only through the WABAs it was granted; anything else is "does not exist" (100/33), as on Meta.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from onprem.emulator.cloud import graph_errors as errors
from onprem.emulator.cloud.delivery import Deliverer
from onprem.emulator.cloud.outbound import HttpClient
from onprem.emulator.cloud.settings import CloudEmulatorSettings, CloudSecrets, PhoneNumber, TokenGrant
from onprem.emulator.cloud.store import CloudStore, Media

Clock = Callable[[], float]


@dataclass
class CloudContext:
    store: CloudStore
    settings: CloudEmulatorSettings
    secrets: CloudSecrets = field(repr=False)
    http: HttpClient
    deliverer: Deliverer
    clock: Clock = time.time

    @property
    def numbers(self) -> dict[str, PhoneNumber]:
        return {number.id: number for number in self.settings.phone_numbers}

    @property
    def wabas(self) -> set[str]:
        return {number.waba_id for number in self.settings.phone_numbers}

    def grant(self, request: web.Request) -> TokenGrant:
        """The grant of the request's Bearer token (or `access_token` parameter). Raises 190 if none."""
        header = request.headers.get("Authorization", "")
        token = (
            header[7:].strip() if header[:7].lower() == "bearer " else request.query.get("access_token", "")
        )
        grant = self.secrets.grants.get(token) if token else None
        if grant is None:
            raise errors.invalid_token()
        return grant

    def phone(self, request: web.Request, number_id: str, *, method: str = "get") -> PhoneNumber:
        """The phone number `number_id` if the token may use it. Raises GraphError 190 / 100-33."""
        grant = self.grant(request)
        number = self.numbers.get(number_id)
        if number is None or number.waba_id not in grant.waba_ids:
            raise errors.no_object(number_id, method)
        return number

    def waba(self, request: web.Request, waba_id: str, *, method: str = "get") -> str:
        grant = self.grant(request)
        if waba_id not in self.wabas or waba_id not in grant.waba_ids:
            raise errors.no_object(waba_id, method)
        if "whatsapp_business_management" not in grant.permissions:
            raise errors.no_permission()
        return waba_id

    def media(self, request: web.Request, media_id: str, *, method: str = "get") -> Media:
        grant = self.grant(request)
        media = self.store.media(media_id)
        number = None if media is None else self.numbers.get(media.phone_number_id)
        if media is None or number is None or number.waba_id not in grant.waba_ids:
            raise errors.no_object(media_id, method)
        return media


CONTEXT: web.AppKey[CloudContext] = web.AppKey("onprem_cloud_emulator", CloudContext)


def context_of(request: web.Request) -> CloudContext:
    return request.app[CONTEXT]


def display_number(number: PhoneNumber) -> str:
    """`+<cc> <number>` as WhatsApp Manager shows it (digits = cc + number)."""
    return f"+{number.cc} {number.phone_number}"


def wa_digits(number: PhoneNumber) -> str:
    return number.cc + number.phone_number
