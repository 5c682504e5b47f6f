"""Tokens, the error envelope, the phone number object, register (with backup and region), deregister."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.emulator.cloud.conftest import (
    BACKUP_PASSWORD,
    NUMBER_ID,
    OTHER_NUMBER_ID,
    OTHER_TOKEN,
    WABA_ID,
    Client,
    backup_blob,
    call,
    emulator,
    register,
    run,
    settings_for,
)


def scenario(tmp_path: Path, steps: Any) -> Any:
    async def _go() -> Any:
        async with emulator(settings_for(tmp_path)) as (client, _store):
            return await steps(client)

    return run(_go())


def _error(body: Any) -> dict[str, Any]:
    error = body["error"]
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["fbtrace_id"]
    return dict(error)


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_a_missing_or_unknown_token_is_190(tmp_path: Path, token: str | None) -> None:
    status, body = scenario(tmp_path, lambda c: call(c, "GET", f"/v21.0/{NUMBER_ID}", token=token))
    error = _error(body)
    assert (status, error["code"], error["type"]) == (401, 190, "OAuthException")


def test_the_access_token_query_parameter_is_accepted(tmp_path: Path) -> None:
    from tests.unit.emulator.cloud.conftest import TOKEN

    status, body = scenario(
        tmp_path, lambda c: call(c, "GET", f"/v21.0/{NUMBER_ID}?access_token={TOKEN}", token=None)
    )
    assert (status, body["id"]) == (200, NUMBER_ID)


def test_a_token_without_access_to_the_number_gets_100_33(tmp_path: Path) -> None:
    status, body = scenario(tmp_path, lambda c: call(c, "GET", f"/v21.0/{NUMBER_ID}", token=OTHER_TOKEN))
    error = _error(body)
    assert (status, error["code"], error["error_subcode"], error["type"]) == (
        400,
        100,
        33,
        "GraphMethodException",
    )
    assert f"Object with ID '{NUMBER_ID}' does not exist" in error["message"]


def test_an_unknown_id_is_the_same_100_33(tmp_path: Path) -> None:
    status, body = scenario(tmp_path, lambda c: call(c, "GET", "/v21.0/99999999999"))
    assert (status, _error(body)["error_subcode"]) == (400, 33)


def test_an_unknown_path_is_a_graph_error_not_html(tmp_path: Path) -> None:
    status, body = scenario(tmp_path, lambda c: call(c, "GET", "/v21.0/abc/def/ghi"))
    assert (status, _error(body)["code"]) == (400, 2500)


def test_the_phone_number_before_register_is_on_premise_and_pending(tmp_path: Path) -> None:
    status, body = scenario(tmp_path, lambda c: call(c, "GET", f"/v19.0/{NUMBER_ID}"))
    assert status == 200
    assert body["platform_type"] == "ON_PREMISE"
    assert body["status"] in ("PENDING", "DISCONNECTED")
    assert "".join(ch for ch in body["display_phone_number"] if ch.isdigit()) == "16315550000"
    assert (body["verified_name"], body["quality_rating"], body["code_verification_status"]) == (
        "Acme",
        "GREEN",
        "VERIFIED",
    )
    assert "data_localization_region" not in body


def test_fields_selects_what_the_answer_holds(tmp_path: Path) -> None:
    status, body = scenario(
        tmp_path, lambda c: call(c, "GET", f"/v21.0/{NUMBER_ID}?fields=status,verified_name")
    )
    assert (status, set(body)) == (200, {"id", "status", "verified_name"})


def test_register_with_backup_and_region_connects_the_number_on_cloud(tmp_path: Path) -> None:
    async def steps(client: Client) -> tuple[Any, Any, Any]:
        backup = {"data": backup_blob(), "password": BACKUP_PASSWORD}
        answer = await register(client, backup=backup, data_localization_region="DE")
        _, number = await call(client, "GET", f"/v21.0/{NUMBER_ID}")
        _, state = await call(client, "GET", "/__emulator/state", token=None)
        return answer, number, state

    answer, number, state = scenario(tmp_path, steps)
    assert answer == (200, {"success": True})
    assert (number["platform_type"], number["status"], number["data_localization_region"]) == (
        "CLOUD_API",
        "CONNECTED",
        "DE",
    )
    row = next(n for n in state["numbers"] if n["id"] == NUMBER_ID)
    assert (row["from_backup"], row["pin_set"], row["region"]) == (True, True, "DE")


def _register_error(tmp_path: Path, **extra: Any) -> tuple[int, dict[str, Any], Any]:
    async def steps(client: Client) -> tuple[int, Any, Any]:
        status, body = await register(client, **extra)
        _, number = await call(client, "GET", f"/v21.0/{NUMBER_ID}")
        return status, body, number

    status, body, number = scenario(tmp_path, steps)
    assert number["platform_type"] == "ON_PREMISE", "a refused register changed nothing"
    return status, _error(body), number


def test_a_wrong_pin_is_133005(tmp_path: Path) -> None:
    status, error, _ = _register_error(
        tmp_path, pin="654321", backup={"data": backup_blob(), "password": BACKUP_PASSWORD}
    )
    assert (status, error["code"], error["message"]) == (400, 133005, "Two step verification PIN Mismatch")


def test_a_wrong_backup_password_is_100_with_its_details(tmp_path: Path) -> None:
    status, error, _ = _register_error(tmp_path, backup={"data": backup_blob(), "password": "nope"})
    assert (status, error["code"], error["error_data"]["details"]) == (
        400,
        100,
        "backup password is incorrect",
    )


def test_damaged_backup_data_is_100_invalid(tmp_path: Path) -> None:
    damaged = "AAAA" + backup_blob()[8:]
    status, error, _ = _register_error(tmp_path, backup={"data": damaged, "password": BACKUP_PASSWORD})
    assert (status, error["code"]) == (400, 100)
    assert error["error_data"]["details"] == "backup data is invalid"


def test_a_backup_of_another_number_is_refused(tmp_path: Path) -> None:
    blob = backup_blob(cc="44", phone="7700900123")
    _, error, _ = _register_error(tmp_path, backup={"data": blob, "password": BACKUP_PASSWORD})
    assert error["error_data"]["details"] == "backup is for +447700900123, not this phone number"


@pytest.mark.parametrize(
    ("body", "param"),
    [({"pin": "123456"}, "messaging_product"), ({"messaging_product": "whatsapp"}, "pin")],
)
def test_a_missing_parameter_is_named(tmp_path: Path, body: dict[str, Any], param: str) -> None:
    status, body = scenario(tmp_path, lambda c: call(c, "POST", f"/v21.0/{NUMBER_ID}/register", body=body))
    error = _error(body)
    assert (status, error["code"]) == (400, 100)
    assert param in error["error_data"]["details"]


@pytest.mark.parametrize("region", ["XX", "de", "DEU"])
def test_an_invalid_region_is_100(tmp_path: Path, region: str) -> None:
    status, error, _ = _register_error(tmp_path, data_localization_region=region)
    assert (status, error["code"]) == (400, 100)
    assert "data_localization_region" in error["error_data"]["details"]


def test_register_again_is_idempotent_but_a_region_after_registration_is_refused(tmp_path: Path) -> None:
    async def steps(client: Client) -> list[tuple[int, Any]]:
        backup = {"data": backup_blob(), "password": BACKUP_PASSWORD}
        return [
            await register(client, backup=backup),
            await register(client, backup=backup),
            await register(client, backup=backup, data_localization_region="DE"),
            await call(client, "GET", f"/v21.0/{NUMBER_ID}"),
        ]

    first, again, region, number = scenario(tmp_path, steps)
    assert first == again == (200, {"success": True})
    assert (region[0], region[1]["error"]["code"]) == (400, 100)
    assert region[1]["error"]["error_data"]["details"] == (
        "data_localization_region can only be set while the phone number is not registered"
    )
    assert "data_localization_region" not in number[1]


def test_without_a_backup_the_first_pin_becomes_the_numbers_pin(tmp_path: Path) -> None:
    async def steps(client: Client) -> list[Any]:
        first = await register(client)
        await call(client, "POST", f"/v21.0/{NUMBER_ID}/deregister")
        return [first, await register(client, pin="000000"), await register(client)]

    first, wrong, right = scenario(tmp_path, steps)
    assert first[0] == 200
    assert wrong[1]["error"]["code"] == 133005
    assert right == (200, {"success": True})


def test_deregister_disconnects_the_number(tmp_path: Path) -> None:
    async def steps(client: Client) -> Any:
        await register(client)
        answer = await call(client, "POST", f"/v21.0/{NUMBER_ID}/deregister")
        return answer, await call(client, "GET", f"/v21.0/{NUMBER_ID}")

    answer, (_, number) = scenario(tmp_path, steps)
    assert answer == (200, {"success": True})
    assert number["status"] == "DISCONNECTED"


def test_register_on_a_number_of_another_business_is_100_33(tmp_path: Path) -> None:
    status, body = scenario(
        tmp_path,
        lambda c: call(
            c,
            "POST",
            f"/v21.0/{OTHER_NUMBER_ID}/register",
            body={"messaging_product": "whatsapp", "pin": "123456"},
        ),
    )
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (400, 100, 33)
    assert "post request" in body["error"]["message"]


def test_the_waba_object_is_readable_with_its_token(tmp_path: Path) -> None:
    status, body = scenario(tmp_path, lambda c: call(c, "GET", f"/v21.0/{WABA_ID}"))
    assert (status, body["id"]) == (200, WABA_ID)


def test_a_form_encoded_register_with_a_json_backup_is_accepted(tmp_path: Path) -> None:
    import json

    from tests.unit.emulator.cloud.conftest import TOKEN

    async def steps(client: Client) -> Any:
        form = {
            "messaging_product": "whatsapp",
            "pin": "123456",
            "backup": json.dumps({"data": backup_blob(), "password": BACKUP_PASSWORD}),
        }
        response = await client.post(
            f"/v21.0/{NUMBER_ID}/register", data=form, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        return response.status, await response.json()

    assert scenario(tmp_path, steps) == (200, {"success": True})
