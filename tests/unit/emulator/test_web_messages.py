"""POST /v1/messages, PUT /v1/messages/{id}, POST /v1/contacts and inbound injection over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from onprem.emulator.msgstore import MessagingStore
from onprem.emulator.rules import expected_params, wa_id_of
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, core_heartbeat
from tests.unit.emulator.conftest import call, register_number, rotate

Client = TestClient[Any, Any]
TEXT = {"to": "16315551234", "type": "text", "text": {"body": "hello"}}


def template(name: str, *params: str) -> dict[str, Any]:
    return {
        "to": "16315551234",
        "type": "template",
        "template": {
            "namespace": "ns",
            "name": name,
            "language": {"policy": "deterministic", "code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}],
        },
    }


def test_phone_numbers_normalise_and_templates_count_their_params() -> None:
    assert wa_id_of("+1 (631) 555-1234") == "16315551234"
    assert wa_id_of("abc") == ""
    assert expected_params("This is {{1}}-{{2}} on {{3}}.") == 3


def statuses(store: Store) -> dict[tuple[str, str], int]:
    return MessagingStore(store).message_counts()


def test_text_outside_the_window_is_accepted_then_rejected(run: Any, store: Store, clock: FakeClock) -> None:
    core_heartbeat(store, "wacore", now=clock())

    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        await register_number(client, store, token)
        outside = await call(client, "POST", "/v1/messages", token, TEXT)
        hooked = await call(
            client, "POST", "/_emulator/inbound", token, {"from": "16315551234", "text": "hi"}
        )
        inside = await call(client, "POST", "/v1/messages", token, TEXT)
        return [outside, hooked, inside]

    outside, hooked, inside = run(scenario, test_hooks=True)
    assert outside[0] == 201
    assert outside[1]["messages"][0]["id"].startswith("gBEG")
    assert hooked[0] == 201
    assert inside[0] == 201
    assert statuses(store) == {("out", "rejected"): 1, ("out", "accepted"): 1, ("in", "received"): 1}


def test_the_window_closes_after_24_hours(run: Any, store: Store, clock: FakeClock) -> None:
    core_heartbeat(store, "wacore", now=clock())

    async def scenario(client: Client) -> None:
        token = await rotate(client)
        await register_number(client, store, token)
        await call(client, "POST", "/_emulator/inbound", token, {"from": "16315551234", "text": "hi"})
        clock.advance(24 * 3600 + 1)
        core_heartbeat(store, "wacore", now=clock())
        status, _ = await call(client, "POST", "/v1/messages", token, TEXT)
        assert status == 201

    run(scenario, test_hooks=True)
    assert statuses(store)[("out", "rejected")] == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (template("sample_issue_resolution", "Kerry"), 201, None),
        (template("hello_world"), 201, None),
        (template("sample_issue_resolution"), 400, 2000),
        (template("sample_flight_confirmation", "A", "B"), 400, 2000),
        (template("nope"), 404, 2001),
        (
            {
                "to": "16315551234",
                "type": "hsm",
                "hsm": {"element_name": "sample_issue_resolution", "localizable_params": [{"default": "x"}]},
            },
            201,
            None,
        ),
        ({"to": "16315551234", "type": "text", "text": {"body": "x" * 4097}}, 400, 1001),
        ({"to": "16315550000", "type": "text", "text": {"body": "me"}}, 400, 1021),
        ({"type": "text", "text": {"body": "x"}}, 400, 1008),
        ({"to": "16315551234", "type": "poll", "poll": {"question": "?"}}, 400, 1009),
    ],
)
def test_message_validation(
    run: Any, store: Store, clock: FakeClock, body: dict[str, Any], status: int, code: int | None
) -> None:
    core_heartbeat(store, "wacore", now=clock())

    async def scenario(client: Client) -> tuple[int, Any]:
        token = await rotate(client)
        await register_number(client, store, token)
        return await call(client, "POST", "/v1/messages", token, body)

    got, answer = run(scenario)
    assert got == status
    if code is not None:
        assert answer["errors"][0]["code"] == code


def test_sending_needs_a_registered_number_and_a_live_core(run: Any, store: Store, clock: FakeClock) -> None:
    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        unregistered = await call(client, "POST", "/v1/messages", token, TEXT)
        await register_number(client, store, token)
        no_core = await call(client, "POST", "/v1/messages", token, TEXT)
        return [
            unregistered[0],
            unregistered[1]["errors"][0]["code"],
            no_core[0],
            no_core[1]["errors"][0]["code"],
        ]

    assert run(scenario) == [400, 1011, 503, 1011]


def test_contacts_are_always_valid_and_inbound_messages_can_be_marked_read(
    run: Any, store: Store, clock: FakeClock
) -> None:
    core_heartbeat(store, "wacore", now=clock())

    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        await register_number(client, store, token)
        contacts = await call(
            client, "POST", "/v1/contacts", token, {"blocking": "wait", "contacts": ["+1 631 555 1001", "x"]}
        )
        _, injected = await call(
            client, "POST", "/_emulator/inbound", token, {"from": "16315551001", "text": "hi"}
        )
        read = await call(
            client, "PUT", f"/v1/messages/{injected['messages'][0]['id']}", token, {"status": "read"}
        )
        missing = await call(client, "PUT", "/v1/messages/nope", token, {"status": "read"})
        return [contacts, read[0], missing[0]]

    contacts, read, missing = run(scenario, test_hooks=True)
    assert contacts[0] == 200
    assert contacts[1]["contacts"] == [
        {"input": "+1 631 555 1001", "status": "valid", "wa_id": "16315551001"},
        {"input": "x", "status": "invalid"},
    ]
    assert (read, missing) == (200, 404)


def test_injection_needs_a_registered_number(run: Any) -> None:
    async def scenario(client: Client) -> int:
        token = await rotate(client)
        return (
            await call(client, "POST", "/_emulator/inbound", token, {"from": "16315551001", "text": "hi"})
        )[0]

    assert run(scenario, test_hooks=True) == 400
