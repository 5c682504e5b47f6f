"""The Cloud API emulator's image on the real engine, playing Meta: on the host's network it takes a
register with a real On-Prem backup, does the subscription handshake with a real `onprem relay serve`
over TLS (trusting the relay's CA), and its signed webhooks are verified by the relay and forwarded."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from onprem.emulator.backup import encrypt
from onprem.emulator.passwords import hash_password
from tests.integration.cloud.harness import (
    CC,
    NUMBER_ID,
    PHONE,
    VERIFY_TOKEN,
    WABA_ID,
    EmulatorContainer,
    Relay,
    wait_until,
)
from tests.integration.relay.harness import Sink

PIN = "246810"
PASSWORD = "itest-backup-password"


def on_prem_backup(cc: str = CC, phone: str = PHONE) -> str:
    """What the On-Prem emulator's POST /v1/settings/backup returns for a number with a two-step PIN."""
    payload = {
        "version": 1,
        "registration": {"cc": cc, "phone_number": phone, "vname": "Q2VydA=="},
        "application": {"webhooks": {"url": "https://relay.example/webhooks/onprem/x"}},
        "two_step": hash_password(PIN),
        "webhooks_ca": None,
        "shards": 1,
    }
    return encrypt(PASSWORD, payload)


@pytest.fixture
def world(tmp_path: Path, stack_images: None) -> Iterator[tuple[EmulatorContainer, Relay, Sink]]:
    sink = Sink()
    sink.start()
    relay = Relay(tmp_path / "relay", sink.url)
    emulator = EmulatorContainer(tmp_path / "cloudapi", relay.ca_file)
    try:
        relay.start()
        emulator.start()
        yield emulator, relay, sink
    finally:
        emulator.remove()
        relay.stop()
        sink.stop()


def test_the_image_registers_from_a_backup_and_its_signed_webhooks_pass_the_relay(
    world: tuple[EmulatorContainer, Relay, Sink],
) -> None:
    emulator, relay, sink = world
    assert emulator.call("GET", f"/v21.0/{NUMBER_ID}")[1]["platform_type"] == "ON_PREMISE"

    wrong = emulator.call(
        "POST",
        f"/v21.0/{NUMBER_ID}/register",
        {"messaging_product": "whatsapp", "pin": PIN, "backup": {"data": on_prem_backup(), "password": "x"}},
    )
    assert (wrong[0], wrong[1]["error"]["error_data"]["details"]) == (400, "backup password is incorrect")
    body = {
        "messaging_product": "whatsapp",
        "pin": PIN,
        "backup": {"data": on_prem_backup(), "password": PASSWORD},
        "data_localization_region": "DE",
    }
    assert emulator.call("POST", f"/v21.0/{NUMBER_ID}/register", body) == (200, {"success": True})
    number = emulator.call("GET", f"/v21.0/{NUMBER_ID}")[1]
    assert (number["platform_type"], number["status"], number["data_localization_region"]) == (
        "CLOUD_API",
        "CONNECTED",
        "DE",
    )

    refused = emulator.call(
        "POST",
        f"/v21.0/{WABA_ID}/subscribed_apps",
        {"override_callback_uri": relay.callback, "verify_token": "not-the-relays"},
    )
    assert (refused[0], refused[1]["error"]["code"]) == (400, 2200)
    subscribed = emulator.call(
        "POST",
        f"/v21.0/{WABA_ID}/subscribed_apps",
        {"override_callback_uri": relay.callback, "verify_token": VERIFY_TOKEN},
    )
    assert subscribed == (200, {"success": True}), "the handshake over TLS, the relay's CA trusted"

    inbound = emulator.call(
        "POST",
        "/__emulator/inbound",
        {
            "phone_number_id": NUMBER_ID,
            "from": "4915112345678",
            "text": "Grüße aus Köln 👋",
            "name": "Jürgen",
        },
    )
    assert inbound[0] == 200
    sink.wait_for(1)
    forwarded = sink.bodies[0]
    assert forwarded.isascii(), "Meta's escaping survives the relay"
    message = json.loads(forwarded)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert (message["id"], message["text"]["body"]) == (inbound[1]["id"], "Grüße aus Köln 👋")

    sent = emulator.call(
        "POST",
        f"/v21.0/{NUMBER_ID}/messages",
        {"messaging_product": "whatsapp", "to": "4915112345678", "type": "text", "text": {"body": "Hallo!"}},
    )
    wamid = sent[1]["messages"][0]["id"]
    sink.wait_for(4)
    statuses = [
        status["status"]
        for body in sink.bodies
        for status in json.loads(body)["entry"][0]["changes"][0]["value"].get("statuses", [])
        if status["id"] == wamid
    ]
    assert statuses == ["sent", "delivered", "read"]
    assert sink.bad_signatures == 0
    wait_until(
        lambda: all(row["state"] == "delivered" for row in emulator.state()["webhooks"]),
        "every webhook delivered",
        timeout=20,
    )
    sent_bytes = {
        json.dumps(row["body"], ensure_ascii=True, separators=(",", ":")).encode()
        for row in emulator.state()["webhooks"]
    }
    assert set(sink.bodies) == sent_bytes, "forwarded byte-identical to what the emulator signed"


def test_a_webhook_pending_while_the_relay_is_down_survives_an_emulator_restart(
    world: tuple[EmulatorContainer, Relay, Sink],
) -> None:
    emulator, relay, sink = world
    body = {
        "messaging_product": "whatsapp",
        "pin": PIN,
        "backup": {"data": on_prem_backup(), "password": PASSWORD},
    }
    assert emulator.call("POST", f"/v21.0/{NUMBER_ID}/register", body) == (200, {"success": True})
    subscription = {"override_callback_uri": relay.callback, "verify_token": VERIFY_TOKEN}
    assert emulator.call("POST", f"/v21.0/{WABA_ID}/subscribed_apps", subscription) == (
        200,
        {"success": True},
    )

    relay.stop()
    inbound = emulator.call(
        "POST",
        "/__emulator/inbound",
        {"phone_number_id": NUMBER_ID, "from": "4915112345678", "text": "still here"},
    )
    wait_until(
        lambda: emulator.state()["webhooks"][0]["attempts"] >= 2,
        "the emulator retried the unreachable relay",
        timeout=30,
    )
    row = emulator.state()["webhooks"][0]
    assert row["state"] == "pending"
    assert row["last_error"], "the failed attempts say why"

    subprocess.run(["docker", "restart", "-t", "10", emulator.name], check=True, capture_output=True)
    wait_until(lambda: requests.get(f"{emulator.url}/healthz", timeout=1).ok, emulator.logs(), timeout=60)
    assert emulator.state()["webhooks"][0]["state"] == "pending", "kept across the restart"
    relay.start()
    sink.wait_for(1, timeout=60)
    assert (
        json.loads(sink.bodies[0])["entry"][0]["changes"][0]["value"]["messages"][0]["id"] == inbound[1]["id"]
    )
    wait_until(
        lambda: emulator.state()["webhooks"][0]["state"] == "delivered", "marked delivered", timeout=20
    )
