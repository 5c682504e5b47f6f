"""/v1/settings/profile/about, /v1/settings/profile/photo and /v1/settings/business/profile: round
trips, the documented limits as 1008/1009 naming the field, admin only, and state kept in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from onprem.emulator.profile import MAX_ABOUT, ProfileError, ProfileStore, check_business, check_photo
from onprem.emulator.store import Store
from onprem.emulator.testing import sqlite_store
from tests.unit.emulator.conftest import NEW_PASSWORD, basic, bearer, call, rotate

Client = TestClient[Any, Any]
ABOUT = "/v1/settings/profile/about"
PHOTO = "/v1/settings/profile/photo"
BUSINESS = "/v1/settings/business/profile"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x02" * 300


def test_about_round_trip_and_the_139_character_limit(run: Any, store: Store) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        return [
            await call(client, "GET", ABOUT, token),
            await call(client, "PATCH", ABOUT, token, {"text": "Open 9-5, ask us anything"}),
            await call(client, "GET", ABOUT, token),
            await call(client, "PATCH", ABOUT, token, {"text": "x" * (MAX_ABOUT + 1)}),
            await call(client, "PATCH", ABOUT, token, {}),
        ]

    empty, patched, after, too_long, missing = run(scenario)
    assert empty[0] == 200
    assert empty[1]["settings"]["profile"]["about"]["text"] == ""
    assert patched[0] == 200
    assert after[1]["settings"]["profile"]["about"] == {"text": "Open 9-5, ask us anything"}
    assert too_long[0] == 400
    assert too_long[1]["errors"][0]["code"] == 1009
    assert "140 characters" in too_long[1]["errors"][0]["details"]
    assert missing[0] == 400
    assert missing[1]["errors"][0]["code"] == 1008
    assert ProfileStore(store).about() == "Open 9-5, ask us anything"  # the refused patch changed nothing


def test_photo_upload_raw_then_get_bytes_and_link(run: Any) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        auth = bearer(token)
        none = await call(client, "GET", PHOTO, token)
        up = await client.post(PHOTO, data=PNG, headers={**auth, "Content-Type": "image/png"})
        got = await client.get(PHOTO, headers=auth)
        link = await call(client, "GET", PHOTO + "?format=link", token)
        return [none, up.status, got.status, got.headers["Content-Type"], await got.read(), link]

    none, up, got, mime, content, link = run(scenario)
    assert none[0] == 404
    assert none[1]["errors"][0]["code"] == 1006
    assert (up, got, mime, content) == (200, 200, "image/png", PNG)
    assert link[0] == 200
    assert link[1]["settings"]["profile"]["photo"]["link"].endswith(PHOTO)


def test_photo_delete_removes_it_and_is_idempotent(run: Any) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        await client.post(PHOTO, data=JPEG, headers={**bearer(token), "Content-Type": "image/jpeg"})
        deleted = await call(client, "DELETE", PHOTO, token)
        gone = await call(client, "GET", PHOTO, token)
        again = await call(client, "DELETE", PHOTO, token)
        return [deleted[0], gone[0], again[0]]

    assert run(scenario) == [200, 404, 200]


def test_photo_upload_as_a_multipart_file_part(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, bytes, str]:
        token = await rotate(client)
        form = FormData()
        form.add_field("File", JPEG, filename="me.jpg", content_type="image/jpeg")
        up = await client.post(PHOTO, data=form, headers=bearer(token))
        got = await client.get(PHOTO, headers=bearer(token))
        return up.status, await got.read(), got.headers["Content-Type"]

    assert run(scenario) == (200, JPEG, "image/jpeg")


@pytest.mark.parametrize(
    ("mime", "content", "code", "fragment"),
    [
        ("image/gif", b"GIF89a" + b"\x00" * 10, 1009, "image/jpeg or image/png"),
        ("image/png", JPEG, 1009, "not a image/png image"),
        ("image/png", b"", 1008, "empty"),
    ],
)
def test_photo_refusals_name_the_problem(
    run: Any, mime: str, content: bytes, code: int, fragment: str
) -> None:
    async def scenario(client: Client) -> tuple[int, Any, int]:
        token = await rotate(client)
        refused = await client.post(PHOTO, data=content, headers={**bearer(token), "Content-Type": mime})
        after = await client.get(PHOTO, headers=bearer(token))
        return refused.status, await refused.json(), after.status

    status, body, after = run(scenario)
    assert status == 400
    assert body["errors"][0]["code"] == code
    assert fragment in body["errors"][0]["details"]
    assert after == 404  # nothing stored


def test_photo_size_limit() -> None:
    with pytest.raises(ProfileError, match="at most"):
        check_photo("image/png", PNG + b"\x00" * (5 * 1024 * 1024))


def test_business_profile_round_trip_replaces_only_the_fields_given(run: Any) -> None:
    first = {
        "address": "1 Hacker Way, Menlo Park",
        "description": "We sell widgets",
        "email": "help@example.com",
        "vertical": "Retail",
        "websites": ["https://example.com", "https://shop.example.com"],
    }

    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        return [
            await call(client, "GET", BUSINESS, token),
            await call(client, "POST", BUSINESS, token, first),
            await call(client, "POST", BUSINESS, token, {"description": "Widgets and gadgets"}),
            await call(client, "GET", BUSINESS, token),
        ]

    empty, set_all, set_one, after = run(scenario)
    assert empty[1]["settings"]["business"]["profile"] == {
        "address": "",
        "description": "",
        "email": "",
        "vertical": "",
        "websites": [],
    }
    assert (set_all[0], set_one[0]) == (200, 200)
    assert after[1]["settings"]["business"]["profile"] == {**first, "description": "Widgets and gadgets"}


def test_business_profile_refusal_names_every_bad_field_and_stores_nothing(run: Any, store: Store) -> None:
    bad = {
        "email": "not-an-email",
        "websites": ["https://a.example", "https://b.example", "https://c.example"],
        "address": "a" * 257,
        "colour": "blue",
    }

    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        return [
            await call(client, "POST", BUSINESS, token, bad),
            await call(client, "POST", BUSINESS, token, {}),
        ]

    refused, empty = run(scenario)
    assert refused[0] == 400
    assert refused[1]["errors"][0]["code"] == 1009
    details = refused[1]["errors"][0]["details"]
    for fragment in ("email", "at most 2", "address is 257", "unknown field 'colour'"):
        assert fragment in details
    assert empty[0] == 400
    assert empty[1]["errors"][0]["code"] == 1008
    assert ProfileStore(store).business()["email"] == ""


def test_websites_must_be_http_urls() -> None:
    with pytest.raises(ProfileError, match="must start with http"):
        check_business({"websites": ["ftp://example.com"]})


def test_profile_endpoints_are_admin_only(run: Any) -> None:
    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        await call(client, "POST", "/v1/users", token, {"username": "ops1", "password": "Pa55#word-ok"})
        login = await client.post("/v1/users/login", headers=basic("ops1", "Pa55#word-ok"))
        user = str((await login.json())["users"][0]["token"])
        return [
            (await call(client, "GET", ABOUT, user))[0],
            (await call(client, "POST", BUSINESS, user, {"vertical": "x"}))[0],
            (await client.delete(PHOTO, headers=bearer(user))).status,
        ]

    assert run(scenario) == [403, 403, 403]


def test_profile_survives_a_new_web_process_on_the_same_database(run: Any, store: Store) -> None:
    async def write(client: Client) -> None:
        token = await rotate(client)
        await call(client, "PATCH", ABOUT, token, {"text": "kept"})
        await call(client, "POST", BUSINESS, token, {"vertical": "Education"})
        await client.post(PHOTO, data=PNG, headers={**bearer(token), "Content-Type": "image/png"})

    async def read(client: Client) -> list[Any]:
        login = await client.post("/v1/users/login", headers=basic("admin", NEW_PASSWORD))
        token = str((await login.json())["users"][0]["token"])
        photo = await client.get(PHOTO, headers=bearer(token))
        return [
            (await call(client, "GET", ABOUT, token))[1]["settings"]["profile"]["about"]["text"],
            (await call(client, "GET", BUSINESS, token))[1]["settings"]["business"]["profile"]["vertical"],
            await photo.read(),
        ]

    run(write)
    assert run(read) == ["kept", "Education", PNG]


def test_profile_rows_survive_the_database_upgrade_to_a_newer_client(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite_store(path, version="v2.53.2")
    try:
        ProfileStore(old).set_about("from v2.53")
        ProfileStore(old).update_business({"email": "old@example.com"})
    finally:
        old.close()
    upgraded = sqlite_store(path, version="v2.57.2", upgrade=True)
    try:
        assert upgraded.schema == 4
        assert ProfileStore(upgraded).about() == "from v2.53"
        assert ProfileStore(upgraded).business()["email"] == "old@example.com"
    finally:
        upgraded.close()


def test_a_malformed_multipart_photo_is_a_400_not_a_500(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, int]:
        token = await rotate(client)
        headers = {**bearer(token), "Content-Type": "multipart/form-data; boundary=xyz"}
        broken = await client.post(PHOTO, data=b"--nope\r\ngarbage", headers=headers)
        body = await broken.json()
        return broken.status, body["errors"][0]["code"]

    status, code = run(scenario)
    assert status == 400
    assert code in (1008, 1009)
