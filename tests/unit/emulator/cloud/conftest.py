"""Cloud API emulator test helpers: settings with secret files in tmp_path, the app served on loopback,
and a callback server on loopback that answers the handshake and records webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from onprem.emulator.backup import encrypt
from onprem.emulator.cloud.app import create_app
from onprem.emulator.cloud.settings import CloudEmulatorSettings, load_secrets
from onprem.emulator.cloud.store import CloudStore
from onprem.emulator.passwords import hash_password

T = TypeVar("T")
Client = TestClient[Any, Any]
TOKEN = "EAAG-system-user-token-0123456789"
OTHER_TOKEN = "EAAG-other-business-token-98765"
READONLY_TOKEN = "EAAG-management-only-token-4242"
APP_SECRET = "It's a Secret to Everybody"
NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
OTHER_NUMBER_ID = "106540352242999"
OTHER_WABA_ID = "102290129340777"
CC, PHONE = "1", "6315550000"
PIN = "123456"
BACKUP_PASSWORD = "Backup-pass1"
_PIN_HASH = hash_password(PIN)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def settings_for(tmp_path: Path, **overrides: Any) -> CloudEmulatorSettings:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "other_token").write_text(OTHER_TOKEN)
    (tmp_path / "readonly_token").write_text(READONLY_TOKEN)
    (tmp_path / "app_secret").write_text(APP_SECRET)
    data: dict[str, Any] = {
        "database": str(tmp_path / "db" / "cloudapi.sqlite3"),
        "phone_numbers": [
            {"id": NUMBER_ID, "cc": CC, "phone_number": PHONE, "verified_name": "Acme", "waba_id": WABA_ID},
            {"id": OTHER_NUMBER_ID, "cc": "44", "phone_number": "7700900123", "waba_id": OTHER_WABA_ID},
        ],
        "tokens": [
            {"file": str(tmp_path / "token"), "waba_ids": [WABA_ID]},
            {"file": str(tmp_path / "other_token"), "waba_ids": [OTHER_WABA_ID]},
            {
                "file": str(tmp_path / "readonly_token"),
                "waba_ids": [WABA_ID],
                "permissions": ["whatsapp_business_management"],
            },
        ],
        "app": {"secret_file": str(tmp_path / "app_secret")},
        "register_delay_seconds": 0,
        "webhooks": {"first_retry_seconds": 0.05, "max_interval_seconds": 0.2, "poll_seconds": 0.05},
    }
    data.update(overrides)
    return CloudEmulatorSettings.model_validate(data)


def backup_blob(
    cc: str = CC, phone: str = PHONE, password: str = BACKUP_PASSWORD, pin_hash: str | None = _PIN_HASH
) -> str:
    """An On-Prem emulator backup (the format its POST /v1/settings/backup returns)."""
    payload = {
        "version": 1,
        "registration": {"cc": cc, "phone_number": phone, "vname": "Q2VydA=="},
        "application": None,
        "two_step": pin_hash,
        "webhooks_ca": None,
        "shards": 1,
    }
    return encrypt(password, payload)


@dataclass
class Callback:
    """A webhook receiver on loopback: answers the handshake with `verify_token`, records POSTs."""

    verify_token: str = "verify-me"
    statuses: list[int] = field(default_factory=lambda: [200])
    echo_challenge: bool = True
    posts: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    handshakes: list[dict[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def get(self, request: web.Request) -> web.Response:
        self.handshakes.append(dict(request.query))
        if request.query.get("hub.verify_token") != self.verify_token:
            return web.Response(status=403, text="wrong token")
        return web.Response(text=request.query["hub.challenge"] if self.echo_challenge else "nope")

    async def post(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses[min(len(self.posts), len(self.statuses) - 1)]
        self.posts.append((body, dict(request.headers)))
        self.arrived.set()
        return web.Response(status=status)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.posts]

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async def _wait() -> None:
            while len(self.posts) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(_wait(), timeout)


@asynccontextmanager
async def callback_server(callback: Callback) -> AsyncIterator[Callback]:
    app = web.Application()
    app.router.add_get("/webhooks/cloud", callback.get)
    app.router.add_post("/webhooks/cloud", callback.post)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    callback.url = str(server.make_url("/webhooks/cloud"))
    try:
        yield callback
    finally:
        await server.close()


@asynccontextmanager
async def emulator(
    settings: CloudEmulatorSettings, *, clock: Callable[[], float] | None = None, deliver: bool = True
) -> AsyncIterator[tuple[Client, CloudStore]]:
    store = CloudStore(settings.database)
    kwargs: dict[str, Any] = {"deliver": deliver}
    if clock is not None:
        kwargs["clock"] = clock
    app = create_app(store, settings, load_secrets(settings), **kwargs)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, store
    finally:
        await client.close()
        store.close()


async def call(
    client: Client, method: str, path: str, token: str | None = TOKEN, body: Any = None, **kwargs: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.request(method, path, json=body, headers=headers, **kwargs)
    text = await response.text()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


async def register(client: Client, **extra: Any) -> tuple[int, Any]:
    body = {"messaging_product": "whatsapp", "pin": PIN, **extra}
    return await call(client, "POST", f"/v21.0/{NUMBER_ID}/register", body=body)


async def subscribe(client: Client, callback: Callback) -> tuple[int, Any]:
    body = {"override_callback_uri": callback.url, "verify_token": callback.verify_token}
    return await call(client, "POST", f"/v21.0/{WABA_ID}/subscribed_apps", body=body)


@dataclass
class FakeClock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now
