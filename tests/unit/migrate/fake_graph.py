"""A requests adapter playing Meta's Graph API (the subset `migrate cloud` calls), the relay's Cloud
ingress (handshake, /metrics) and nothing else: stateful, every request recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

GRAPH = "https://graph.test"
RELAY = "https://relay.test"
WEBHOOK_URL = f"{RELAY}/webhooks/cloud"
NUMBER_ID, WABA_ID = "106540352242922", "102290129340398"
TOKEN = "EAAG-unit-token-0123456789abcdef"
VERIFY_TOKEN = "verify-token-unit"


def graph_error(code: int, message: str, *, subcode: int | None = None, details: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A1"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


@dataclass
class FakeGraph(BaseAdapter):
    """Meta as far as the migration sees it. `pin`, `backup_password`: what a register must give."""

    display: str = "+1 631-555-0042"
    pin: str = "112233"
    backup_password: str = "backup-pw-0123456789"
    registered: bool = False
    region: str | None = None
    token: str = TOKEN
    relay_up: bool = True
    relay_verifications: int = 0
    subscriptions: dict[str, str] = field(default_factory=dict)
    fail_subscribe: bool = False
    sent: list[tuple[str, str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        body = json.loads(request.body) if request.body else None
        self.sent.append((str(request.method), f"{parts.scheme}://{parts.netloc}{parts.path}", body))
        if parts.netloc == "relay.test":
            return self._relay(request, parts.path, parse_qs(parts.query))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _answer(401, graph_error(190, "Invalid OAuth access token"))
        path = parts.path.split("/")[2:]  # after /v21.0
        return _answer(*self._graph(str(request.method), path, body or {}))

    def _relay(
        self, _request: requests.PreparedRequest, path: str, query: dict[str, list[str]]
    ) -> requests.Response:
        if not self.relay_up:
            raise requests.exceptions.ConnectionError("Connection refused")
        if path == "/metrics":
            return _answer(
                200, f'relay_verified_total{{source="cloud_verify"}} {self.relay_verifications}.0\n'
            )
        if query.get("hub.verify_token") == [VERIFY_TOKEN] and query.get("hub.mode") == ["subscribe"]:
            self.relay_verifications += 1
            return _answer(200, query["hub.challenge"][0])
        return _answer(403, "forbidden")

    def _graph(self, method: str, path: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        if path[0] == NUMBER_ID and method == "GET" and len(path) == 1:
            found = {
                "id": NUMBER_ID,
                "display_phone_number": self.display,
                "platform_type": "CLOUD_API" if self.registered else "ON_PREMISE",
                "status": "CONNECTED" if self.registered else "PENDING",
            }
            if self.region:
                found["data_localization_region"] = self.region
            return 200, found
        if path == [NUMBER_ID, "register"] and method == "POST":
            return self._register(body)
        if path == [WABA_ID, "subscribed_apps"] and method == "POST":
            if self.fail_subscribe:
                return 400, graph_error(2200, "Callback verification failed", details="HTTP 502")
            self.relay_verifications += 1  # Meta's handshake reaches the relay
            self.subscriptions[WABA_ID] = body["override_callback_uri"]
            return 200, {"success": True}
        if path == [WABA_ID, "subscribed_apps"] and method == "GET":
            return 200, {"data": [{"override_callback_uri": uri} for uri in self.subscriptions.values()]}
        return 400, graph_error(100, "Unsupported get request.", subcode=33)

    def _register(self, body: dict[str, Any]) -> tuple[int, Any]:
        region = body.get("data_localization_region")
        if self.registered and region is not None:
            return 400, graph_error(
                100,
                "Invalid parameter",
                details="data_localization_region can only be set while the phone number is not registered",
            )
        backup = body.get("backup") or {}
        if backup and backup.get("password") != self.backup_password:
            return 400, graph_error(100, "Invalid parameter", details="backup password is incorrect")
        if body.get("pin") != self.pin:
            return 400, graph_error(133005, "Two step verification PIN Mismatch")
        self.registered, self.region = True, region or self.region
        return 200, {"success": True}

    def close(self) -> None:
        pass

    def posts(self) -> list[str]:
        return [url for method, url, _ in self.sent if method != "GET"]


def _answer(status: int, payload: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if isinstance(payload, str):
        response._content = payload.encode()
    else:
        response._content = json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
    return response
