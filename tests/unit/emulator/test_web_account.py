"""Registration, verification, two-step PINs, sunset mode and shards over HTTP."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, core_heartbeat
from onprem.emulator.vname import CertError, decode_vname, encode_cert
from tests.unit.emulator.conftest import API_KEY, call, rotate

Client = TestClient[Any, Any]
CERT = encode_cert("Acme Pizza")
ACCOUNT = {"cc": "1", "phone_number": "6315550000", "method": "sms", "cert": CERT}


def test_certificates_decode_in_protobuf_and_json_forms() -> None:
    assert decode_vname(CERT) == "Acme Pizza"
    assert (
        decode_vname(base64.b64encode(json.dumps({"verified_name": "Json Co"}).encode()).decode())
        == "Json Co"
    )
    for bad in ("not base64!", "", base64.b64encode(b"\x08\x01").decode(), base64.b64encode(b"{}").decode()):
        with pytest.raises(CertError):
            decode_vname(bad)


def test_registration_sends_a_code_then_verify_registers(run: Any, store: Store, tmp_path: Path) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        first = await call(client, "POST", "/v1/account", token, ACCOUNT)
        code = (tmp_path / "registration-code").read_text().strip()
        wrong = "000000" if code != "000000" else "111111"
        bad = await call(client, "POST", "/v1/account/verify", token, {"code": wrong})
        still_pending = store.registration().state
        good = await call(client, "POST", "/v1/account/verify", token, {"code": code})
        again = await call(client, "POST", "/v1/account", token, ACCOUNT)
        return [first, bad, still_pending, good, again]

    first, bad, still_pending, good, again = run(scenario)
    assert first[0] == 202
    assert first[1]["account"] == [{"vname": "Acme Pizza"}]
    assert bad[0] == 400
    assert bad[1]["errors"][0]["code"] == 1009
    assert still_pending == "pending"
    assert good == (201, {"meta": {"api_status": "stable", "version": "v2.57.2"}})
    assert again[0] == 201
    assert store.registration().registered
    assert stat.S_IMODE((tmp_path / "registration-code").stat().st_mode) == 0o600


def test_health_is_connected_once_registered_and_core_is_up(run: Any, store: Store, clock: FakeClock) -> None:
    core_heartbeat(store, "wacore", now=clock())

    async def scenario(client: Client) -> list[str]:
        token = await rotate(client)
        statuses = []
        for step in ("before", "register"):
            if step == "register":
                await call(client, "POST", "/v1/account", token, ACCOUNT)
                await call(client, "POST", "/v1/account/verify", token, {"code": store.registration().code})
            response = await client.get("/v1/health", headers={"Authorization": f"Apikey {API_KEY}"})
            statuses.append((await response.json())["health"]["gateway_status"])
        return statuses

    assert run(scenario) == ["unregistered", "connected"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"cert": "bm90IGEgY2VydA=="}, 1009),
        ({"cert": None}, 1008),
        ({"method": "pigeon"}, 1009),
        ({"cc": "abc"}, 1009),
        ({"phone_number": None}, 1008),
    ],
)
def test_bad_registration_requests_are_400_and_change_nothing(
    run: Any, store: Store, change: dict[str, Any], code: int
) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        return await call(client, "POST", "/v1/account", token, {**ACCOUNT, **change})

    status, body = run(scenario)
    assert (status, body["errors"][0]["code"]) == (400, code)
    assert store.registration().state == "unregistered"


def test_sunset_mode_answers_1005_biz_link_on_prem_reg_blocked(run: Any, store: Store) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        return await call(client, "POST", "/v1/account", token, ACCOUNT)

    status, body = run(scenario, sunset=True)
    assert status == 403
    assert body["errors"][0] == {
        "code": 1005,
        "title": "Access denied",
        "details": "Unknown error: biz_link_on_prem_reg_blocked",
    }
    assert store.registration().state == "unregistered"


def test_verify_without_a_request_is_an_error(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        return await call(client, "POST", "/v1/account/verify", token, {"code": "123456"})

    status, body = run(scenario)
    assert (status, body["errors"][0]["code"]) == (400, 1025)


def test_a_number_with_a_two_step_pin_needs_it_to_register_again(run: Any, store: Store) -> None:
    other = {**ACCOUNT, "phone_number": "6315550001"}

    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        await call(client, "POST", "/v1/account", token, ACCOUNT)
        await call(client, "POST", "/v1/account/verify", token, {"code": store.registration().code})
        statuses = [
            (await call(client, "POST", "/v1/settings/account/two-step", token, {"pin": "135790"}))[0]
        ]
        # Another number takes the client over; coming back to the first one needs its PIN.
        statuses.append((await call(client, "POST", "/v1/account", token, other))[0])
        missing = await call(client, "POST", "/v1/account", token, ACCOUNT)
        wrong = await call(client, "POST", "/v1/account", token, {**ACCOUNT, "pin": "000000"})
        statuses += [missing[1]["errors"][0]["code"], wrong[1]["errors"][0]["code"]]
        statuses.append((await call(client, "POST", "/v1/account", token, {**ACCOUNT, "pin": "135790"}))[0])
        return statuses

    assert run(scenario) == [200, 202, 1008, 1009, 202]


def test_two_step_can_be_disabled_and_needs_a_registered_number(run: Any, store: Store) -> None:
    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        early = await call(client, "POST", "/v1/settings/account/two-step", token, {"pin": "135790"})
        await call(client, "POST", "/v1/account", token, ACCOUNT)
        await call(client, "POST", "/v1/account/verify", token, {"code": store.registration().code})
        bad = await call(client, "POST", "/v1/settings/account/two-step", token, {"pin": "12"})
        on = await call(client, "POST", "/v1/settings/account/two-step", token, {"pin": "135790"})
        off = await call(client, "DELETE", "/v1/settings/account/two-step", token)
        return [early[0], bad[0], on[0], off[0], int(store.get_setting("two_step:16315550000") is None)]

    assert run(scenario) == [400, 400, 200, 200, 1]


def test_shards_default_to_one_and_change_in_multiconnect(run: Any, store: Store) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        await call(client, "POST", "/v1/account", token, ACCOUNT)
        await call(client, "POST", "/v1/account/verify", token, {"code": store.registration().code})
        before = await call(client, "GET", "/v1/account/shards", token)
        odd = await call(client, "POST", "/v1/account/shards", token, {**ACCOUNT, "shards": 3})
        ok = await call(client, "POST", "/v1/account/shards", token, {**ACCOUNT, "shards": 4})
        after = await call(client, "GET", "/v1/account/shards", token)
        return [before[1]["account"], odd[0], ok[0], after[1]["account"]]

    assert run(scenario, multiconnect=True) == [{"shards": 1}, 400, 201, {"shards": 4}]


def test_more_shards_need_multiconnect(run: Any, store: Store) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        await call(client, "POST", "/v1/account", token, ACCOUNT)
        await call(client, "POST", "/v1/account/verify", token, {"code": store.registration().code})
        return await call(client, "POST", "/v1/account/shards", token, {**ACCOUNT, "shards": 2})

    assert run(scenario)[0] == 400


@pytest.mark.parametrize("hooks", [False, True])
def test_registration_code_hook_is_off_unless_enabled(run: Any, store: Store, hooks: bool) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        await call(client, "POST", "/v1/account", token, ACCOUNT)
        return await call(client, "GET", "/_emulator/registration-code", token)

    status, body = run(scenario, test_hooks=hooks)
    if hooks:
        assert (status, body["code"]) == (200, store.registration().code)
    else:
        assert status == 404


def test_registration_needs_an_admin_token(run: Any) -> None:
    async def scenario(client: Client) -> int:
        response = await client.post("/v1/account", json=ACCOUNT)
        return response.status

    assert run(scenario) == 401
