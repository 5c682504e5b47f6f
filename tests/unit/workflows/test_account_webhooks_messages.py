"""two-step, users, webhooks and send: idempotent workflows over the API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from onprem import pki
from onprem.config import Settings
from onprem.errors import ApiError, ConfigError
from onprem.workflows.account import UserRegistry, create_user, delete_user, list_users, send_text, two_step
from onprem.workflows.webhooks import relay_url, set_webhooks
from tests.unit.workflows.fakes import FakeClient


def test_two_step_enable_needs_a_pin_and_both_directions_repeat_safely() -> None:
    api = FakeClient()
    with pytest.raises(ConfigError, match="--pin-file"):
        two_step(api, True, None)
    assert two_step(api, True, "123456") == two_step(api, True, "123456") == "enabled"
    assert two_step(api, False, None) == two_step(api, False, None) == "disabled"
    assert api.pin is None


def test_users_create_twice_updates_and_delete_twice_is_absent(tmp_path: Path) -> None:
    api, registry = FakeClient(), UserRegistry(tmp_path / "users.json")
    assert create_user(api, registry, "ops-bot", "Pa55#word") == "created"
    assert create_user(api, registry, "ops-bot", "Pa55#word") == "updated"
    assert list_users(api, registry) == [
        {"username": "admin", "present": True, "role": "ADMIN"},
        {"username": "ops-bot", "present": True, "role": "USER"},
    ]
    assert delete_user(api, registry, "ops-bot") == "deleted"
    assert delete_user(api, registry, "ops-bot") == "absent"
    assert registry.names() == []


def test_admin_cannot_be_deleted_and_short_names_are_refused(tmp_path: Path) -> None:
    api, registry = FakeClient(), UserRegistry(tmp_path / "users.json")
    with pytest.raises(ConfigError, match="admin user cannot be deleted"):
        delete_user(api, registry, "admin")
    with pytest.raises(ConfigError, match="4-32 characters"):
        create_user(api, registry, "ab", "Pa55#word")
    assert api.calls == []


def test_webhooks_set_uploads_the_ca_and_url_once_and_restarts_core_only_for_a_new_ca() -> None:
    root, _ = pki.issue_ca("t", datetime.now(UTC))
    api, restarts = FakeClient(), []
    url = relay_url(Settings(), "tok" * 6)

    first = set_webhooks(api, url=url, ca_pem=root.cert_pem, restart_core=lambda: restarts.append(1))
    second = set_webhooks(api, url=url, ca_pem=root.cert_pem, restart_core=lambda: restarts.append(1))

    assert first == {"url": "set", "ca": "set"}
    assert second == {"url": "unchanged", "ca": "unchanged"}
    assert api.settings["webhooks"]["url"] == "https://relay:8443/webhooks/onprem/" + "tok" * 6
    assert restarts == [1]


def test_webhooks_set_refuses_a_ca_that_is_not_pem() -> None:
    api = FakeClient()
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        set_webhooks(api, url="https://relay:8443/x", ca_pem="nope", restart_core=lambda: None)
    assert api.calls == []


def test_send_resolves_the_contact_then_sends_to_its_wa_id() -> None:
    api = FakeClient()
    assert send_text(api, "+1 631-555-1234", "hello") == {
        "to": "+1 631-555-1234",
        "wa_id": "16315551234",
        "id": "gBEG1",
    }
    assert api.calls == ["send_text 16315551234"]


@pytest.mark.parametrize(
    ("to", "text", "message"),
    [
        ("+1631", "hi", "phone number"),
        ("+16315551234", " ", "empty"),
        ("+16315551234", "x" * 4097, "at most 4096"),
    ],
)
def test_send_refuses_bad_input_before_any_call(to: str, text: str, message: str) -> None:
    api = FakeClient()
    with pytest.raises(ConfigError, match=message):
        send_text(api, to, text)
    assert api.calls == []


def test_send_to_a_number_without_whatsapp_is_an_api_error() -> None:
    class NoWhatsApp(FakeClient):
        def check_contacts(self, contacts):  # type: ignore[no-untyped-def]
            return [{"input": contacts[0], "status": "invalid"}]

    with pytest.raises(ApiError, match="is not a WhatsApp user"):
        send_text(NoWhatsApp(), "+16315551234", "hi")
