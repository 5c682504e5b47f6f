"""Settings backup and restore: encryption, wrong password vs damaged blob, restore into a new client."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from onprem.emulator.backup import CorruptedBackup, WrongPassword, decrypt, encrypt
from onprem.emulator.context import WebSettings
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, make_pki, sqlite_store
from onprem.emulator.web import create_app
from tests.unit.emulator.conftest import call, register_number, rotate, serve

Client = TestClient[Any, Any]
PAYLOAD = {"version": 1, "registration": {"cc": "1", "phone_number": "6315550000", "vname": "Acme"}}


def test_a_blob_round_trips_only_with_its_password() -> None:
    blob = encrypt("Backup-pass1", PAYLOAD)
    assert decrypt("Backup-pass1", blob) == PAYLOAD
    assert b"Acme" not in base64.b64decode(blob)
    with pytest.raises(WrongPassword):
        decrypt("other", blob)


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "not-base64"])
def test_a_damaged_blob_is_reported_as_corrupted(damage: str) -> None:
    raw = bytearray(base64.b64decode(encrypt("Backup-pass1", PAYLOAD)))
    if damage == "flip":
        raw[-5] ^= 0x01
        blob = base64.b64encode(bytes(raw)).decode()
    elif damage == "truncate":
        blob = base64.b64encode(bytes(raw[:30])).decode()
    elif damage == "garbage":
        blob = base64.b64encode(b"x" * 200).decode()
    else:
        blob = "%%%"
    with pytest.raises(CorruptedBackup):
        decrypt("Backup-pass1", blob)


def test_backup_needs_a_registered_number(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        return await call(client, "POST", "/v1/settings/backup", token, {"password": "Backup-pass1"})

    status, body = run(scenario)
    assert (status, body["errors"][0]["code"]) == (400, 1025)


def test_a_backup_restores_into_a_fresh_client(
    run: Any, store: Store, tmp_path: Path, clock: FakeClock, settings: WebSettings
) -> None:
    ca = make_pki().root_pem

    async def source(client: Client) -> str:
        token = await rotate(client)
        await register_number(client, store, token)
        await call(
            client, "PATCH", "/v1/settings/application", token, {"webhooks": {"url": "https://relay/hook"}}
        )
        await call(client, "POST", "/v1/settings/account/two-step", token, {"pin": "135790"})
        await client.post(
            "/v1/certificates/webhooks/ca", data=ca, headers={"Authorization": f"Bearer {token}"}
        )
        status, body = await call(client, "POST", "/v1/settings/backup", token, {"password": "Backup-pass1"})
        assert status == 200
        return str(body["settings"]["data"])

    blob = run(source)
    fresh = sqlite_store(tmp_path / "fresh.sqlite3", now=clock())

    async def target(client: Client) -> list[Any]:
        token = await rotate(client)
        wrong = await call(client, "POST", "/v1/settings/restore", token, {"password": "nope", "data": blob})
        damaged = await call(
            client, "POST", "/v1/settings/restore", token, {"password": "Backup-pass1", "data": blob[:-8]}
        )
        unchanged = fresh.registration().state
        ok = await call(
            client, "POST", "/v1/settings/restore", token, {"password": "Backup-pass1", "data": blob}
        )
        app = (await call(client, "GET", "/v1/settings/application", token))[1]["settings"]["application"]
        return [wrong, damaged, unchanged, ok[0], app]

    wrong, damaged, unchanged, ok, app = serve(create_app(fresh, settings, clock=clock), target)
    assert (wrong[0], wrong[1]["errors"][0]["code"]) == (400, 1009)
    assert "wrong password" in wrong[1]["errors"][0]["details"]
    assert (damaged[0], damaged[1]["errors"][0]["code"]) == (400, 1009)
    assert (
        "damaged" in damaged[1]["errors"][0]["details"] or "truncated" in damaged[1]["errors"][0]["details"]
    )
    assert unchanged == "unregistered"
    assert ok == 200
    assert fresh.registration().registered
    assert app["webhooks"]["url"] == "https://relay/hook"
    assert app["wa_id"] == "16315550000"
    assert fresh.get_setting("webhooks_ca") == ca
    assert isinstance(fresh.get_setting("two_step:16315550000"), str)
    fresh.close()


def test_restore_needs_password_and_data(run: Any) -> None:
    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        return [
            (await call(client, "POST", "/v1/settings/restore", token, {"data": "x"}))[1]["errors"][0][
                "code"
            ],
            (await call(client, "POST", "/v1/settings/restore", token, {"password": "x"}))[1]["errors"][0][
                "code"
            ],
        ]

    assert run(scenario) == [1008, 1008]
