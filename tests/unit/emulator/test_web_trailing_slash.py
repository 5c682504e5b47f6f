"""Every path the emulator serves answers the same with a trailing slash (`/v1/messages/`), as Meta's
Postman collection writes several of them: same handler for every method, same answers, no redirect."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from onprem.emulator.context import WebSettings
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, core_heartbeat
from onprem.emulator.web import create_app
from tests.unit.emulator.conftest import API_KEY, NEW_PASSWORD, basic, bearer, call, register_number, rotate

Client = TestClient[Any, Any]


def _routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, concrete path) of every registered route without a trailing slash."""
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path and not path.endswith("/") and route.method != "HEAD":
            found.append((route.method, re.sub(r"\{[^}]+\}", "abc123", path)))
    return found


def test_every_registered_route_resolves_to_the_same_handler_with_a_trailing_slash(
    store: Store, settings: WebSettings, clock: FakeClock
) -> None:
    app = create_app(store, WebSettings(**{**settings.__dict__, "test_hooks": True}), clock=clock)
    routes = _routes(app)
    assert len(routes) >= 30  # every endpoint of the README table, not an empty loop

    async def resolve(method: str, path: str) -> Any:
        match = await app.router.resolve(make_mocked_request(method, path, app=app))
        return match.handler, dict(match)

    async def main() -> list[tuple[str, str]]:
        differ = []
        for method, path in routes:
            plain, slashed = await resolve(method, path), await resolve(method, path + "/")
            if plain != slashed:
                differ.append((method, path))
        return differ

    assert asyncio.run(main()) == []


def test_postman_paths_with_the_slash_answer_as_without(run: Any, store: Store, clock: FakeClock) -> None:
    async def scenario(client: Client) -> list[Any]:
        login = await client.post(
            "/v1/users/login/", headers=basic("admin", "secret"), json={"new_password": NEW_PASSWORD}
        )
        token = str((await login.json())["users"][0]["token"])
        await register_number(client, store, token)
        core_heartbeat(store, "wacore", now=clock())
        message = {"to": "16315551234", "type": "text", "text": {"body": "hi"}}
        sent = await call(client, "POST", "/v1/messages/", token, message)
        contacts = await call(client, "POST", "/v1/contacts/", token, {"contacts": ["+16315551234"]})
        health = await client.get("/v1/health/", headers={"Authorization": f"Apikey {API_KEY}"})
        wrong_method = await client.get("/v1/messages/", headers=bearer(token))
        plain_wrong = await client.get("/v1/messages", headers=bearer(token))
        unknown = await client.get("/v1/nothing/", headers=bearer(token))
        return [login.status, sent, contacts, health.status, wrong_method.status, plain_wrong.status, unknown]

    login, sent, contacts, health, wrong, plain_wrong, unknown = run(scenario)
    assert login == 200
    assert sent[0] == 201
    assert sent[1]["messages"][0]["id"].startswith("gBEG")
    assert contacts[0] == 200
    assert contacts[1]["contacts"][0]["wa_id"] == "16315551234"
    assert health == 200
    assert wrong == plain_wrong == 405
    assert unknown.status == 404


def test_a_slashed_path_is_not_a_redirect(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, int]:
        token = await rotate(client)
        response = await client.get("/v1/settings/application/", headers=bearer(token), allow_redirects=False)
        plain = await client.get("/v1/settings/application", headers=bearer(token), allow_redirects=False)
        assert await response.json() == await plain.json()
        return response.status, plain.status

    assert run(scenario) == (200, 200)
