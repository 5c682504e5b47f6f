"""POST /v1/users/login and /logout: first-login 1024, rotation, old password 401, expiry, logout."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock
from tests.unit.emulator.conftest import API_KEY, NEW_PASSWORD, basic, bearer, rotate

Client = TestClient[Any, Any]
LOGIN = "/v1/users/login"


def test_first_login_without_new_password_is_1024(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        response = await client.post(LOGIN, headers=basic("admin", "secret"))
        return response.status, await response.json()

    status, body = run(scenario)
    assert status == 400
    assert body["errors"][0]["code"] == 1024
    assert body["errors"][0]["title"] == "Password Change Required"
    assert body["meta"] == {"api_status": "stable", "version": "v2.57.2"}


def test_a_weak_new_password_is_refused_with_the_rules(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        response = await client.post(
            LOGIN, headers=basic("admin", "secret"), json={"new_password": "password"}
        )
        return response.status, await response.json()

    status, body = run(scenario)
    assert status == 400
    error = body["errors"][0]
    assert error["code"] == 1009
    assert "digit" in error["details"]
    assert "upper-case" in error["details"]


def test_rotation_returns_a_token_valid_for_seven_days(run: Any, clock: FakeClock) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        response = await client.post(
            LOGIN, headers=basic("admin", "secret"), json={"new_password": NEW_PASSWORD}
        )
        return response.status, await response.json()

    status, body = run(scenario)
    assert status == 200
    (user,) = body["users"]
    assert len(user["token"]) >= 40
    expected = datetime.fromtimestamp(clock() + 7 * 86400, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
    assert user["expires_after"] == expected
    assert body["meta"]["api_status"] == "stable"


def test_after_rotation_the_old_password_gets_401_with_an_empty_body(run: Any) -> None:
    async def scenario(client: Client) -> list[tuple[int, bytes]]:
        await rotate(client)
        results = []
        for body in (None, {"new_password": "An0ther!pass"}):
            response = await client.post(LOGIN, headers=basic("admin", "secret"), json=body)
            results.append((response.status, await response.read()))
        return results

    assert run(scenario) == [(401, b""), (401, b"")]


def test_the_new_password_logs_in_without_a_change(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        await rotate(client)
        response = await client.post(LOGIN, headers=basic("admin", NEW_PASSWORD))
        return response.status, await response.json()

    status, body = run(scenario)
    assert status == 200
    assert body["users"][0]["token"]


def test_the_rotated_password_is_stored_hashed(run: Any, store: Store) -> None:
    run(rotate)
    admin = store.get_user("admin")
    assert admin is not None
    assert not admin.must_change
    assert NEW_PASSWORD not in admin.password_hash


def test_bad_credentials_get_401(run: Any) -> None:
    async def scenario(client: Client) -> list[int]:
        headers = [
            basic("admin", "wrong"),
            basic("nobody", "secret"),
            {"Authorization": "Basic !!!not-base64"},
            {"Authorization": "Bearer abc"},
            {},
        ]
        return [(await client.post(LOGIN, headers=h)).status for h in headers]

    assert run(scenario) == [401] * 5


def test_a_malformed_body_is_400_not_500(run: Any) -> None:
    async def scenario(client: Client) -> list[tuple[int, int]]:
        results = []
        for raw in (b"{not json", b"[1, 2]", b'{"new_password": 12345}', b"\xff\xfe"):
            response = await client.post(
                LOGIN, headers={**basic("admin", "secret"), "Content-Type": "application/json"}, data=raw
            )
            results.append((response.status, (await response.json())["errors"][0]["code"]))
        return results

    assert run(scenario) == [(400, 1025), (400, 1025), (400, 1009), (400, 1025)]


def test_tokens_expire_after_seven_days(run: Any, clock: FakeClock) -> None:
    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        codes = [(await client.get("/v1/health", headers=bearer(token))).status]
        clock.advance(7 * 86400 - 1)
        codes.append((await client.get("/v1/health", headers=bearer(token))).status)
        clock.advance(2)
        codes.append((await client.get("/v1/health", headers=bearer(token))).status)
        return codes

    assert run(scenario) == [200, 200, 401]


def test_logout_invalidates_only_that_token(run: Any) -> None:
    async def scenario(client: Client) -> list[int]:
        first = await rotate(client)
        response = await client.post(LOGIN, headers=basic("admin", NEW_PASSWORD))
        second = (await response.json())["users"][0]["token"]
        codes = [(await client.post("/v1/users/logout", headers=bearer(first))).status]
        codes.append((await client.get("/v1/health", headers=bearer(first))).status)
        codes.append((await client.get("/v1/health", headers=bearer(second))).status)
        codes.append((await client.post("/v1/users/logout", headers=bearer(first))).status)
        return codes

    assert run(scenario) == [200, 401, 200, 401]


def test_logout_does_not_accept_the_api_key(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        response = await client.post("/v1/users/logout", headers={"Authorization": f"Apikey {API_KEY}"})
        return response.status, await response.json()

    status, body = run(scenario)
    assert status == 401
    assert body["errors"][0]["code"] == 1005


def test_a_password_change_revokes_earlier_tokens(run: Any) -> None:
    async def scenario(client: Client) -> int:
        first = await rotate(client)
        await client.post(LOGIN, headers=basic("admin", NEW_PASSWORD), json={"new_password": "Th1rd!pass"})
        return (await client.get("/v1/health", headers=bearer(first))).status

    assert run(scenario) == 401
