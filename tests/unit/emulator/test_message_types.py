"""Every message type the docs list for POST /v1/messages is accepted with its documented fields, and a
missing or bad field is refused with 1008 / 1009 naming it (templates with components: 2000 on a wrong
body-parameter count). Accepted messages go through statuses as text does."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from onprem.emulator.envelope import ApiFailure
from onprem.emulator.msgstore import MessagingStore
from onprem.emulator.rules import Outbound, check_message
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, core_heartbeat
from tests.unit.emulator.conftest import call, register_number, rotate

Client = TestClient[Any, Any]
TO = "16315551234"
OWN = "16315550000"

BUTTONS = {
    "type": "button",
    "header": {"type": "text", "text": "Your order"},
    "body": {"text": "Did it arrive?"},
    "footer": {"text": "Acme"},
    "action": {
        "buttons": [
            {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
            {"type": "reply", "reply": {"id": "no", "title": "No"}},
        ]
    },
}
LIST = {
    "type": "list",
    "body": {"text": "Pick a slot"},
    "action": {
        "button": "Slots",
        "sections": [
            {"title": "Morning", "rows": [{"id": "m9", "title": "9:00", "description": "early"}]},
            {"title": "Afternoon", "rows": [{"id": "a2", "title": "14:00"}]},
        ],
    },
}
COMPONENTS = [
    {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/a.png"}}]},
    {"type": "body", "parameters": [{"type": "text", "text": "Kerry"}]},
    {
        "type": "button",
        "sub_type": "quick_reply",
        "index": 0,
        "parameters": [{"type": "payload", "payload": "ok"}],
    },
]

ACCEPTED: dict[str, dict[str, Any]] = {
    "location": {"type": "location", "location": {"latitude": 37.48, "longitude": -122.15, "name": "HQ"}},
    "contacts": {
        "type": "contacts",
        "contacts": [{"name": {"formatted_name": "Kerry Fisher"}, "phones": [{"phone": "+1 631 555 1001"}]}],
    },
    "interactive button": {"type": "interactive", "interactive": BUTTONS},
    "interactive list": {"type": "interactive", "interactive": LIST},
    "image by link": {"type": "image", "image": {"link": "https://example.com/a.png", "caption": "our shop"}},
    "document by link": {
        "type": "document",
        "document": {"link": "https://example.com/a.pdf", "filename": "a.pdf"},
    },
    "audio by link": {"type": "audio", "audio": {"link": "https://example.com/a.ogg"}},
    "video by link": {"type": "video", "video": {"link": "https://example.com/a.mp4"}},
    "sticker by link": {"type": "sticker", "sticker": {"link": "https://example.com/a.webp"}},
    "image by id": {"type": "image", "image": {"id": "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68"}},
    "template with components": {
        "type": "template",
        "template": {
            "name": "sample_issue_resolution",
            "language": {"code": "en_US"},
            "components": COMPONENTS,
        },
    },
}

REFUSED: dict[str, tuple[dict[str, Any], int, str]] = {
    "location without longitude": (
        {"type": "location", "location": {"latitude": 1}},
        1008,
        "location.longitude",
    ),
    "contacts without a formatted name": (
        {"type": "contacts", "contacts": [{"name": {"first_name": "K"}}]},
        1008,
        "contacts[0].name.formatted_name",
    ),
    "four reply buttons": (
        {
            "type": "interactive",
            "interactive": {
                **BUTTONS,
                "action": {
                    "buttons": [{"type": "reply", "reply": {"id": str(n), "title": "t"}} for n in range(4)]
                },
            },
        },
        1009,
        "interactive.action.buttons has 4 entries",
    ),
    "a list without its button text": (
        {"type": "interactive", "interactive": {**LIST, "action": {"sections": LIST["action"]["sections"]}}},
        1008,
        "interactive.action.button",
    ),
    "a button title over 20 characters": (
        {
            "type": "interactive",
            "interactive": {
                **BUTTONS,
                "action": {"buttons": [{"type": "reply", "reply": {"id": "x", "title": "t" * 21}}]},
            },
        },
        1009,
        "buttons[0].reply.title is 21 characters",
    ),
    "image with neither id nor link": (
        {"type": "image", "image": {"caption": "x"}},
        1008,
        "image.id or image.link",
    ),
    "document by a non-http link": (
        {"type": "document", "document": {"link": "file:///etc/passwd"}},
        1009,
        "document.link",
    ),
    "a caption on audio": (
        {"type": "audio", "audio": {"link": "https://example.com/a.ogg", "caption": "x"}},
        1009,
        "audio.caption",
    ),
    "sticker with both id and link": (
        {"type": "sticker", "sticker": {"id": "abc", "link": "https://example.com/a.webp"}},
        1009,
        "not both",
    ),
    "video without an object": ({"type": "video"}, 1008, "video"),
    "a template button without sub_type": (
        {
            "type": "template",
            "template": {
                "name": "sample_issue_resolution",
                "components": [COMPONENTS[1], {"type": "button", "index": 0, "parameters": []}],
            },
        },
        1008,
        "components[1].sub_type",
    ),
    "a template header parameter of unknown type": (
        {
            "type": "template",
            "template": {
                "name": "hello_world",
                "components": [{"type": "header", "parameters": [{"type": "sound", "sound": {}}]}],
            },
        },
        1009,
        "parameters[0].type",
    ),
    "a template with one body parameter too many": (
        {
            "type": "template",
            "template": {
                "name": "hello_world",
                "components": [
                    COMPONENTS[0],
                    {"type": "body", "parameters": [{"type": "text", "text": "x"}]},
                ],
            },
        },
        2000,
        "takes 0 parameters",
    ),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_documented_message_type_is_accepted(name: str) -> None:
    outbound = check_message({"to": TO, **ACCEPTED[name]}, own_wa_id=OWN)
    assert outbound.recipient == TO
    assert outbound.free_form is (ACCEPTED[name]["type"] != "template")


def test_a_media_message_by_id_names_the_upload_it_needs() -> None:
    outbound = check_message({"to": TO, **ACCEPTED["image by id"]}, own_wa_id=OWN)
    assert outbound == Outbound(TO, free_form=True, media_id="f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68")


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_bad_message_is_refused_naming_the_field(name: str) -> None:
    body, code, fragment = REFUSED[name]
    with pytest.raises(ApiFailure) as refused:
        check_message({"to": TO, **body}, own_wa_id=OWN)
    assert refused.value.code == code
    assert fragment in refused.value.details


def test_new_types_are_sent_and_reach_statuses_like_text(run: Any, store: Store, clock: FakeClock) -> None:
    core_heartbeat(store, "wacore", now=clock())
    kinds = ("location", "contacts", "interactive list", "interactive button")

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        token = await rotate(client)
        await register_number(client, store, token)
        return [await call(client, "POST", "/v1/messages", token, {"to": TO, **ACCEPTED[k]}) for k in kinds]

    answers = run(scenario)
    assert [status for status, _ in answers] == [201] * len(kinds)
    ids = {body["messages"][0]["id"] for _, body in answers}
    due = {m.id: m.status for m in MessagingStore(store).due_messages(clock() + 1)}
    # No window is open with this user, so each free-form message is queued to fail with 470, as text is.
    assert {due[i] for i in ids} == {"rejected"}
