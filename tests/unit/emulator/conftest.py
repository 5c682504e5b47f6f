"""Fixtures for the emulator's unit tests: a SQLite store, a fake clock, and an in-process web client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from onprem.emulator.context import WebSettings
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, sqlite_store
from onprem.emulator.web import create_app

T = TypeVar("T")

API_KEY = "test-api-key-0123456789"
NEW_PASSWORD = "N3w-Passw0rd!"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    opened = sqlite_store(tmp_path / "waent.sqlite3", now=clock())
    yield opened
    opened.close()


@pytest.fixture
def settings(tmp_path: Path) -> WebSettings:
    return WebSettings(certs_dir=tmp_path / "certs" / "external", api_key=API_KEY, data_dir=tmp_path)


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def serve(app: web.Application, scenario: Callable[[TestClient[Any, Any]], Awaitable[T]]) -> T:
    """Run `scenario(client)` against `app` on a loopback test server, in a fresh event loop."""

    async def main() -> T:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return await scenario(client)

    return asyncio.run(main())


@pytest.fixture
def run(store: Store, settings: WebSettings, clock: FakeClock) -> Callable[..., Any]:
    """`run(scenario)` serves the app over the fixture store, settings and clock."""

    def runner(scenario: Callable[[TestClient[Any, Any]], Awaitable[T]], **overrides: Any) -> T:
        app_settings = WebSettings(**{**settings.__dict__, **overrides}) if overrides else settings
        return serve(create_app(store, app_settings, clock=clock), scenario)

    return runner


async def rotate(client: TestClient[Any, Any], password: str = NEW_PASSWORD) -> str:
    """Do the first login (changing admin's password) and return the token."""
    response = await client.post(
        "/v1/users/login", headers=basic("admin", "secret"), json={"new_password": password}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    return str(body["users"][0]["token"])


async def call(
    client: TestClient[Any, Any], method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    """(status, JSON body or None) of an authenticated request."""
    response = await client.request(method, path, headers=bearer(token), json=body)
    raw = await response.read()
    return response.status, (await response.json() if raw else None)


async def register_number(
    client: TestClient[Any, Any], store: Store, token: str, cc: str = "1", phone: str = "6315550000"
) -> None:
    """Register a number through the API (request a code, read it from the store, verify)."""
    from onprem.emulator.vname import encode_cert

    body = {"cc": cc, "phone_number": phone, "method": "sms", "cert": encode_cert("Acme")}
    status, _ = await call(client, "POST", "/v1/account", token, body)
    assert status in (201, 202)
    if status == 202:
        status, _ = await call(
            client, "POST", "/v1/account/verify", token, {"code": store.registration().code}
        )
        assert status == 201
