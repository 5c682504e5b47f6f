"""User management: create 201, duplicate 1014, get/update/delete, admin protected, role checks."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.unit.emulator.conftest import basic, call, rotate

Client = TestClient[Any, Any]
USER = {"username": "operator1", "password": "Op3rator-pass!"}


def test_create_get_update_delete_a_user(run: Any) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        created = await call(client, "POST", "/v1/users", token, USER)
        duplicate = await call(client, "POST", "/v1/users", token, USER)
        fetched = await call(client, "GET", "/v1/users/operator1", token)
        updated = await call(client, "PUT", "/v1/users/operator1", token, {"password": "N3w-0perator!"})
        old = await client.post("/v1/users/login", headers=basic("operator1", USER["password"]))
        new = await client.post("/v1/users/login", headers=basic("operator1", "N3w-0perator!"))
        deleted = await call(client, "DELETE", "/v1/users/operator1", token)
        gone = await call(client, "GET", "/v1/users/operator1", token)
        return [created, duplicate, fetched, updated[0], old.status, new.status, deleted[0], gone[0]]

    created, duplicate, fetched, updated, old, new, deleted, gone = run(scenario)
    assert created[0] == 201
    assert created[1]["users"] == [{"username": "operator1"}]
    assert duplicate[0] == 400
    assert duplicate[1]["errors"][0] == {
        "code": 1014,
        "title": "Internal error",
        "details": "Unable to create user. Already exist?",
    }
    assert fetched[1]["users"] == [{"username": "operator1", "ROLES": "USER"}]
    assert (updated, old, new, deleted, gone) == (200, 401, 200, 200, 404)


def test_admin_cannot_be_deleted(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        return await call(client, "DELETE", "/v1/users/admin", token)

    status, body = run(scenario)
    assert (status, body["errors"][0]["code"]) == (400, 1009)


def test_users_cannot_manage_other_users_but_may_read_themselves(run: Any) -> None:
    async def scenario(client: Client) -> list[int]:
        admin = await rotate(client)
        await call(client, "POST", "/v1/users", admin, USER)
        login = await client.post("/v1/users/login", headers=basic("operator1", USER["password"]))
        token = (await login.json())["users"][0]["token"]
        return [
            (await call(client, "GET", "/v1/users/operator1", token))[0],
            (await call(client, "GET", "/v1/users/admin", token))[0],
            (await call(client, "POST", "/v1/users", token, {**USER, "username": "other1"}))[0],
            (await call(client, "GET", "/v1/settings/application", token))[0],
            (await call(client, "POST", "/v1/users/logout", token))[0],
            (await call(client, "GET", "/v1/users/operator1", token))[0],
        ]

    assert run(scenario) == [200, 403, 403, 403, 200, 401]


def test_bad_user_bodies_are_400(run: Any) -> None:
    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        return [
            (
                await call(
                    client, "POST", "/v1/users", token, {"username": "abc", "password": USER["password"]}
                )
            )[1]["errors"][0]["code"],
            (await call(client, "POST", "/v1/users", token, {"username": "operator1", "password": "weak"}))[
                1
            ]["errors"][0]["code"],
            (await call(client, "POST", "/v1/users", token, {"password": USER["password"]}))[1]["errors"][0][
                "code"
            ],
        ]

    assert run(scenario) == [1009, 1009, 1008]
