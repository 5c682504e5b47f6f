"""Messages, statuses and inbound messages as signed webhooks to the subscribed callback."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from tests.unit.emulator.cloud.conftest import (
    APP_SECRET,
    NUMBER_ID,
    READONLY_TOKEN,
    WABA_ID,
    Callback,
    Client,
    call,
    callback_server,
    emulator,
    register,
    run,
    settings_for,
    subscribe,
)

USER = "4915112345678"


def with_callback(tmp_path: Path, steps: Any, callback: Callback | None = None) -> Any:
    async def _go() -> Any:
        async with (
            callback_server(callback or Callback()) as hook,
            emulator(settings_for(tmp_path)) as (client, _),
        ):
            return await steps(client, hook)

    return run(_go())


async def send(client: Client, message: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+49 151 12345678",
        **message,
    }
    kwargs = {} if token is None else {"token": token}
    return await call(client, "POST", f"/v21.0/{NUMBER_ID}/messages", body=body, **kwargs)


async def inbound(client: Client, text: str = "Hallo", name: str = "Jürgen") -> tuple[int, Any]:
    body = {"phone_number_id": NUMBER_ID, "from": USER, "text": text, "name": name}
    return await call(client, "POST", "/__emulator/inbound", body=body)


def _statuses(hook: Callback) -> list[tuple[str, str]]:
    found = []
    for payload in hook.payloads():
        for status in payload["entry"][0]["changes"][0]["value"].get("statuses", []):
            found.append((status["id"], status["status"]))
    return found


def test_sending_before_register_is_133010(tmp_path: Path) -> None:
    async def steps(client: Client, _hook: Callback) -> Any:
        return await send(client, {"type": "text", "text": {"body": "hi"}})

    status, body = with_callback(tmp_path, steps)
    assert (status, body["error"]["code"], body["error"]["message"]) == (
        400,
        133010,
        "Account not registered",
    )


def test_a_text_inside_the_window_is_sent_delivered_and_read(tmp_path: Path) -> None:
    async def steps(client: Client, hook: Callback) -> Any:
        await register(client)
        await subscribe(client, hook)
        await inbound(client)
        answer = await send(client, {"type": "text", "text": {"body": "Grüße"}})
        await hook.wait_for(4)
        return answer, hook

    (status, body), hook = with_callback(tmp_path, steps)
    assert status == 200
    assert body["contacts"] == [{"input": "+49 151 12345678", "wa_id": USER}]
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    assert _statuses(hook) == [(wamid, "sent"), (wamid, "delivered"), (wamid, "read")]
    first = hook.payloads()[0]["entry"][0]
    assert first["id"] == WABA_ID
    message = first["changes"][0]["value"]["messages"][0]
    assert (message["from"], message["text"]["body"], message["type"]) == (USER, "Hallo", "text")


def test_a_free_form_message_outside_the_window_fails_with_131047(tmp_path: Path) -> None:
    async def steps(client: Client, hook: Callback) -> Any:
        await register(client)
        await subscribe(client, hook)
        answer = await send(client, {"type": "text", "text": {"body": "hello?"}})
        await hook.wait_for(1)
        return answer, hook

    (status, body), hook = with_callback(tmp_path, steps)
    assert status == 200, "accepted first, as Meta does"
    value = hook.payloads()[0]["entry"][0]["changes"][0]["value"]
    failed = value["statuses"][0]
    assert (failed["id"], failed["status"], failed["errors"][0]["code"]) == (
        body["messages"][0]["id"],
        "failed",
        131047,
    )
    assert value["metadata"] == {"display_phone_number": "16315550000", "phone_number_id": NUMBER_ID}


def test_a_template_with_components_is_sent_outside_the_window(tmp_path: Path) -> None:
    template = {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}],
    }

    async def steps(client: Client, hook: Callback) -> Any:
        await register(client)
        await subscribe(client, hook)
        answer = await send(client, {"type": "template", "template": template})
        await hook.wait_for(3)
        return answer, hook

    (status, body), hook = with_callback(tmp_path, steps)
    assert status == 200
    wamid = body["messages"][0]["id"]
    assert _statuses(hook) == [(wamid, "sent"), (wamid, "delivered"), (wamid, "read")]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "image", "image": {"link": "https://example.com/a.jpg"}},
        {"type": "document", "document": {"id": "1234567890123456", "filename": "a.pdf"}},
        {"type": "audio", "audio": {"id": "1234567890123456"}},
        {"type": "video", "video": {"link": "https://example.com/a.mp4"}},
        {"type": "sticker", "sticker": {"id": "1234567890123456"}},
        {"type": "location", "location": {"latitude": "52.52", "longitude": 13.40, "name": "Berlin"}},
        {"type": "contacts", "contacts": [{"name": {"formatted_name": "Ann", "first_name": "Ann"}}]},
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Pick"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
            },
        },
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
    ],
)
def test_every_message_type_is_accepted(tmp_path: Path, message: dict[str, Any]) -> None:
    async def steps(client: Client, _hook: Callback) -> Any:
        await register(client)
        return await send(client, message)

    status, body = with_callback(tmp_path, steps)
    assert status == 200, body
    assert body["messages"][0]["id"].startswith("wamid.")


@pytest.mark.parametrize(
    ("message", "code", "named"),
    [
        ({"type": "text", "text": {}}, 131008, "text['body']"),
        ({"type": "template", "template": {"name": "x"}}, 131008, "template['language']"),
        ({"type": "image", "image": {}}, 131008, "image['id']"),
        ({"type": "location", "location": {"latitude": 1}}, 131008, "location['longitude']"),
        ({"type": "interactive", "interactive": {"type": "carousel"}}, 100, "interactive['type']"),
        ({"type": "fax", "fax": {}}, 100, "type"),
        ({"type": "text", "text": {"body": "x"}, "to": "abc"}, 100, "to"),
    ],
)
def test_a_malformed_message_is_refused_naming_the_field(
    tmp_path: Path, message: dict[str, Any], code: int, named: str
) -> None:
    async def steps(client: Client, _hook: Callback) -> Any:
        await register(client)
        return await send(client, message)

    status, body = with_callback(tmp_path, steps)
    assert (status, body["error"]["code"]) == (400, code)
    assert named in body["error"]["error_data"]["details"]


def test_a_token_without_messaging_permission_gets_code_10(tmp_path: Path) -> None:
    async def steps(client: Client, _hook: Callback) -> Any:
        await register(client)
        return await send(client, {"type": "text", "text": {"body": "x"}}, token=READONLY_TOKEN)

    status, body = with_callback(tmp_path, steps)
    assert (status, body["error"]["code"]) == (403, 10)
    assert body["error"]["message"] == "(#10) Application does not have permission for this action"


def test_webhooks_are_signed_over_the_exact_escaped_bytes(tmp_path: Path) -> None:
    async def steps(client: Client, hook: Callback) -> Callback:
        await register(client)
        await subscribe(client, hook)
        await inbound(client, text="Grüße 👋 \u2013 ok", name="Jürgen")
        await hook.wait_for(1)
        return hook

    hook = with_callback(tmp_path, steps)
    body, headers = hook.posts[0]
    assert body.isascii()
    assert b"\\u00fc" in body, "non-ASCII sent \\uXXXX-escaped"
    assert b"\\ud83d\\udc4b" in body, "outside the BMP: a surrogate pair"
    assert b": " not in body, "compact separators"
    assert b", " not in body, "compact separators"
    expected = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    legacy = hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert headers["X-Hub-Signature"] == f"sha1={legacy}"
    assert headers["Content-Type"] == "application/json"
    assert hook.payloads()[0]["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] == "Jürgen"


def test_inbound_needs_a_token_and_a_registered_number(tmp_path: Path) -> None:
    async def steps(client: Client, _hook: Callback) -> Any:
        no_token = await call(client, "POST", "/__emulator/inbound", token=None, body={})
        unregistered = await inbound(client)
        return no_token, unregistered

    no_token, unregistered = with_callback(tmp_path, steps)
    assert (no_token[0], no_token[1]["error"]["code"]) == (401, 190)
    assert unregistered[1]["error"]["code"] == 133010


def test_subscribing_does_the_handshake_and_lists_the_app(tmp_path: Path) -> None:
    async def steps(client: Client, hook: Callback) -> Any:
        answer = await subscribe(client, hook)
        listing = await call(client, "GET", f"/v21.0/{WABA_ID}/subscribed_apps")
        deleted = await call(client, "DELETE", f"/v21.0/{WABA_ID}/subscribed_apps")
        after = await call(client, "GET", f"/v21.0/{WABA_ID}/subscribed_apps")
        return answer, listing, deleted, after, hook

    answer, listing, deleted, after, hook = with_callback(tmp_path, steps)
    assert answer == (200, {"success": True})
    assert hook.handshakes[0]["hub.mode"] == "subscribe"
    assert hook.handshakes[0]["hub.verify_token"] == "verify-me"
    entry = listing[1]["data"][0]
    assert entry["override_callback_uri"] == hook.url
    assert set(entry["whatsapp_business_api_data"]) == {"id", "name"}
    assert deleted == (200, {"success": True})
    assert after == (200, {"data": []})


@pytest.mark.parametrize("failure", ["wrong-token", "no-echo", "unreachable"])
def test_a_failed_handshake_is_2200_and_subscribes_nothing(tmp_path: Path, failure: str) -> None:
    async def steps(client: Client, hook: Callback) -> Any:
        url = "http://127.0.0.1:9/webhooks/cloud" if failure == "unreachable" else hook.url
        token = "wrong" if failure == "wrong-token" else hook.verify_token
        body = {"override_callback_uri": url, "verify_token": token}
        answer = await call(client, "POST", f"/v21.0/{WABA_ID}/subscribed_apps", body=body)
        return answer, await call(client, "GET", f"/v21.0/{WABA_ID}/subscribed_apps")

    (status, body), listing = with_callback(tmp_path, steps, Callback(echo_challenge=failure != "no-echo"))
    assert (status, body["error"]["code"], body["error"]["message"]) == (
        400,
        2200,
        "Callback verification failed",
    )
    assert listing == (200, {"data": []})
    if failure == "wrong-token":
        assert "403" in body["error"]["error_data"]["details"]


def test_a_waba_of_another_business_cannot_be_subscribed(tmp_path: Path) -> None:
    from tests.unit.emulator.cloud.conftest import OTHER_TOKEN

    async def steps(client: Client, hook: Callback) -> Any:
        body = {"override_callback_uri": hook.url, "verify_token": hook.verify_token}
        return await call(client, "POST", f"/v21.0/{WABA_ID}/subscribed_apps", token=OTHER_TOKEN, body=body)

    status, body = with_callback(tmp_path, steps)
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (400, 100, 33)


def test_events_before_a_subscription_are_delivered_once_subscribed(tmp_path: Path) -> None:
    async def steps(client: Client, hook: Callback) -> Any:
        await register(client)
        await inbound(client, text="early")
        await subscribe(client, hook)
        await hook.wait_for(1)
        return hook

    hook = with_callback(tmp_path, steps)
    assert hook.payloads()[0]["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] == "early"
