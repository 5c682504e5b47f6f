"""Registration, two-step verification and shards (`/v1/account`, `/v1/settings/account/two-step`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from onprem.api.transport import Endpoints

Method = Literal["sms", "voice"]


@dataclass(frozen=True)
class RegistrationAnswer:
    """What `POST /v1/account` said: 201 already registered, or 202 code sent (with the vname)."""

    status: int
    vname: str | None = None

    @property
    def already_registered(self) -> bool:
        return self.status == 201


class AccountEndpoints(Endpoints):
    def request_code(
        self, cc: str, phone_number: str, method: Method, cert: str, *, pin: str | None = None
    ) -> RegistrationAnswer:
        """`POST /v1/account {"cc","phone_number","method","cert"[,"pin"]}`.

        Raises ApiError: e.g. 1005 when registration is blocked, a missing PIN when two-step is on.
        """
        body = {"cc": cc, "phone_number": phone_number, "method": method, "cert": cert}
        if pin is not None:
            body["pin"] = pin
        response = self.transport.send("POST", "/v1/account", json=body)
        vname: str | None = None
        if response.status_code == 202:
            try:
                found = response.json()["account"][0]["vname"]
                vname = str(found) if found is not None else None
            except (ValueError, KeyError, IndexError, TypeError):
                vname = None
        return RegistrationAnswer(response.status_code, vname)

    def verify(self, code: str) -> None:
        """`POST /v1/account/verify {"code"}` (201). Raises ApiError for a wrong or expired code."""
        self.transport.send("POST", "/v1/account/verify", json={"code": code})

    def enable_two_step(self, pin: str) -> None:
        """`POST /v1/settings/account/two-step {"pin"}`. Raises ApiError."""
        self.transport.send("POST", "/v1/settings/account/two-step", json={"pin": pin})

    def disable_two_step(self) -> None:
        """`DELETE /v1/settings/account/two-step`. Raises ApiError."""
        self.transport.send("DELETE", "/v1/settings/account/two-step")

    def get_shards(self) -> int:
        """`GET /v1/account/shards`: the shard count. Raises ApiError."""
        endpoint = "GET /v1/account/shards"
        account = self._json("GET", "/v1/account/shards").get("account")
        shards = account.get("shards") if isinstance(account, dict) else None
        if not isinstance(shards, int):
            raise self._shape_error(endpoint, "`account.shards`")
        return shards

    def set_shards(
        self, cc: str, phone_number: str, shards: int, cert: str, *, pin: str | None = None
    ) -> None:
        """`POST /v1/account/shards {"cc","phone_number","shards","cert"[,"pin"]}` (201). Raises ApiError."""
        body: dict[str, object] = {"cc": cc, "phone_number": phone_number, "shards": shards, "cert": cert}
        if pin is not None:
            body["pin"] = pin
        self.transport.send("POST", "/v1/account/shards", json=body)
