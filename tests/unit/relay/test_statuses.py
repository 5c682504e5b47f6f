"""`onprem relay statuses`: the status callbacks of one message, found in the relay's store beside a
running relay, read from On-Prem and Cloud payload shapes alike."""

from __future__ import annotations

import json
from pathlib import Path

from onprem.relay.statuses import statuses_for
from onprem.relay.store import NewEvent, open_admin, open_store
from tests.unit.relay.conftest import Clock, relay_settings, run

# Meta's documented failed-status callback (reference payloads/onprem/valid_24_status_failed.json).
FAILED_470 = b"""{"statuses":[{"errors":[{"code":470,"title":"Failed to send message because you are outside the
 support window for freeform messages to this user. Please use a valid HSM notification or reconsider."}],
 "id":"gBGGEgZHMlEfAgkM1RBkhDRr7t8","recipient_id":"12064001000","status":"failed","timestamp":"1533332775"}]}"""


def status_body(
    message_id: str, status: str, ts: int, errors: list[dict[str, object]] | None = None
) -> bytes:
    entry: dict[str, object] = {
        "id": message_id,
        "recipient_id": "16315551234",
        "status": status,
        "timestamp": str(ts),
    }
    if errors:
        entry["errors"] = errors
    return json.dumps({"statuses": [entry]}).encode()


def test_statuses_of_one_message_in_order_with_errors() -> None:
    bodies = [
        status_body("m1", "sent", 1),
        status_body("m2", "sent", 2),
        b"not json",
        status_body("m1", "failed", 3, [{"code": 470, "title": "outside the window"}]),
    ]
    assert statuses_for("m1", bodies) == [
        {"status": "sent", "timestamp": "1", "errors": []},
        {"status": "failed", "timestamp": "3", "errors": [{"code": 470, "title": "outside the window"}]},
    ]


def test_the_cloud_shape_is_read_too() -> None:
    cloud = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {"value": {"statuses": [{"id": "wamid.1", "status": "delivered", "timestamp": "9"}]}}
                ]
            }
        ],
    }
    assert statuses_for("wamid.1", [json.dumps(cloud).encode()]) == [
        {"status": "delivered", "timestamp": "9", "errors": []}
    ]


def test_a_documented_failed_payload_gives_its_code() -> None:
    found = statuses_for("gBGGEgZHMlEfAgkM1RBkhDRr7t8", [FAILED_470.replace(b"\n", b"")])
    assert found == [
        {
            "status": "failed",
            "timestamp": "1533332775",
            "errors": [{"code": 470, "title": found[0]["errors"][0]["title"]}],
        }
    ]
    assert found[0]["errors"][0]["title"].startswith("Failed to send message because you are outside")


def test_the_sqlite_admin_finds_a_message_s_events_since_a_time_beside_a_running_store(
    tmp_path: Path,
) -> None:
    clock = Clock()
    settings = relay_settings(tmp_path, endpoints=1)

    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        store = open_store(settings, clock=clock)
        await store.open()
        try:
            await store.append(NewEvent("e1", "onprem", clock(), status_body("m1", "sent", 1), None))
            clock.now += 10
            since = clock()
            await store.append(NewEvent("e2", "onprem", clock(), status_body("m1", "delivered", 2), None))
            await store.append(NewEvent("e3", "onprem", clock(), status_body("m2", "sent", 3), None))
            admin = open_admin(settings, clock=clock)
            await admin.open()
            try:
                return (
                    await admin.bodies_mentioning("m1", 0.0, 10),
                    await admin.bodies_mentioning("m1", since, 10),
                    await admin.bodies_mentioning("m1", 0.0, 1),
                )
            finally:
                await admin.close()
        finally:
            await store.close()

    every, recent, newest = run(scenario())
    assert [statuses_for("m1", [b])[0]["status"] for b in every] == ["sent", "delivered"]
    assert [statuses_for("m1", [b])[0]["status"] for b in recent] == ["delivered"]
    assert [statuses_for("m1", [b])[0]["status"] for b in newest] == ["delivered"]
