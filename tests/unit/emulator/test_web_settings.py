"""GET|PATCH|DELETE /v1/settings/application: defaults, partial PATCH, validation, reset."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from onprem.emulator.appsettings import DEFAULTS, SettingsError, apply_patch, merged
from onprem.emulator.store import Store
from tests.unit.emulator.conftest import call, register_number, rotate

Client = TestClient[Any, Any]
PATH = "/v1/settings/application"


def test_a_patch_merges_deeply_and_keeps_other_fields() -> None:
    overrides = apply_patch(
        {}, {"webhooks": {"message": {"read": True}}, "callback_backoff_delay_ms": "5000"}
    )
    settings = merged(overrides)
    assert settings["webhooks"]["message"] == {"sent": True, "delivered": True, "read": True}
    assert settings["webhooks"]["max_concurrent_requests"] == 12
    assert settings["callback_backoff_delay_ms"] == 5000
    assert DEFAULTS["webhooks"]["message"]["read"] is False  # the defaults are never mutated


def test_every_invalid_field_is_named() -> None:
    with pytest.raises(SettingsError) as caught:
        apply_patch(
            {},
            {
                "webhooks": {"url": "http://relay/hook", "max_concurrent_requests": 7},
                "nope": 1,
                "pass_through": True,
            },
        )
    text = str(caught.value)
    for fragment in ("webhooks.url", "max_concurrent_requests", "nope: unknown", "pass_through"):
        assert fragment in text


def test_get_shows_the_documented_defaults_and_wa_id_once_registered(run: Any, store: Store) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        before = await call(client, "GET", PATH, token)
        await register_number(client, store, token)
        after = await call(client, "GET", PATH, token)
        return [before, after]

    before, after = run(scenario)
    assert before[0] == 200
    app = before[1]["settings"]["application"]
    assert app["callback_backoff_delay_ms"] == 3000
    assert app["max_callback_backoff_delay_ms"] == 900000
    assert app["callback_persist"] is True
    assert app["webhooks"] == {
        "max_concurrent_requests": 12,
        "message": {"sent": True, "delivered": True, "read": False},
    }
    assert "wa_id" not in app
    assert after[1]["settings"]["application"]["wa_id"] == "16315550000"


def test_patch_is_partial_and_delete_resets(run: Any) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        patched = await call(client, "PATCH", PATH, token, {"webhooks": {"url": "https://relay:8443/hook"}})
        again = await call(client, "PATCH", PATH, token, {"callback_backoff_delay_ms": 4000})
        middle = (await call(client, "GET", PATH, token))[1]["settings"]["application"]
        reset = await call(client, "DELETE", PATH, token)
        after = (await call(client, "GET", PATH, token))[1]["settings"]["application"]
        return [patched[0], again[0], middle, reset[0], after]

    patched, again, middle, reset, after = run(scenario)
    assert (patched, again, reset) == (200, 200, 200)
    assert middle["webhooks"]["url"] == "https://relay:8443/hook"
    assert middle["callback_backoff_delay_ms"] == 4000
    assert "url" not in after["webhooks"]
    assert after["callback_backoff_delay_ms"] == 3000


@pytest.mark.parametrize(
    "body",
    [
        {"webhooks": {"url": "http://relay:8443/hook"}},
        {"webhooks": {"url": "relay:8443"}},
        {"callback_backoff_delay_ms": -1},
        {"unknown_field": True},
        {"webhooks": "https://x"},
    ],
)
def test_an_invalid_patch_is_400_1009_and_changes_nothing(
    run: Any, store: Store, body: dict[str, Any]
) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        return await call(client, "PATCH", PATH, token, body)

    status, answer = run(scenario)
    assert (status, answer["errors"][0]["code"]) == (400, 1009)
    assert store.get_setting("application") is None


def test_settings_need_an_admin_token(run: Any) -> None:
    async def scenario(client: Client) -> int:
        return (await client.get(PATH)).status

    assert run(scenario) == 401
