"""Webhook bytes and signatures (Meta's vectors), the retry schedule with a fake clock, and a queue that
survives a restart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from onprem.emulator.cloud import webhooks as webhooks_module
from onprem.emulator.cloud.delivery import Deliverer
from onprem.emulator.cloud.graph_errors import RE_ENGAGEMENT
from onprem.emulator.cloud.outbound import Answer, CallbackUnreachable
from onprem.emulator.cloud.store import CloudStore
from onprem.emulator.cloud.webhooks import legacy_signature, next_attempt, retry_delay, serialize, signature
from tests.unit.emulator.cloud.conftest import (
    APP_SECRET,
    NUMBER_ID,
    WABA_ID,
    Callback,
    FakeClock,
    call,
    callback_server,
    emulator,
    register,
    run,
    settings_for,
    subscribe,
)

VECTORS = json.loads(Path("/work/shared/reference/hmac-vectors.json").read_text())


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["id"])
def test_the_signature_matches_the_published_vectors(vector: dict[str, Any]) -> None:
    body = vector["body_utf8"].encode("utf-8")
    sign = signature if vector["header_name"] == "X-Hub-Signature-256" else legacy_signature
    assert sign(vector["secret"].encode("utf-8"), body) == vector["expected_header"]


def test_non_ascii_is_escaped_before_signing() -> None:
    body = serialize({"text": "random-utf-8-あいうえお-body"})
    assert body == b'{"text":"random-utf-8-\\u3042\\u3044\\u3046\\u3048\\u304a-body"}'
    raw = json.dumps({"text": "random-utf-8-あいうえお-body"}, ensure_ascii=False, separators=(",", ":"))
    assert signature(b"k", body) != signature(b"k", raw.encode("utf-8")), "the escaped bytes are signed"


def test_the_retry_delay_grows_exponentially_up_to_the_cap() -> None:
    delays = [retry_delay(n, first=5, factor=2, cap=60) for n in range(1, 7)]
    assert delays == [5, 10, 20, 40, 60, 60]
    with pytest.raises(ValueError, match="attempts"):
        retry_delay(0, first=5, factor=2, cap=60)


def test_an_event_is_given_up_after_max_age() -> None:
    assert next_attempt(1, 100.0, 0.0, first=5, factor=2, cap=60, max_age=200) == 105.0
    assert next_attempt(9, 190.0, 0.0, first=5, factor=2, cap=60, max_age=200) is None


@dataclass
class FakePoster:
    answers: list[int | None]
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        status = self.answers[min(len(self.calls), len(self.answers) - 1)]
        self.calls.append((url, body, headers))
        if status is None:
            raise CallbackUnreachable("ConnectionRefusedError")
        return Answer(status, "")


def _queued_store(tmp_path: Path, clock: FakeClock) -> CloudStore:
    settings = settings_for(tmp_path)
    store = CloudStore(settings.database)
    store.subscribe(WABA_ID, "https://relay.example/webhooks/cloud", now=clock.now)
    store.queue([(WABA_ID, NUMBER_ID, "message", serialize({"n": 1}))], now=clock.now)
    return store


def test_failures_are_retried_on_the_backoff_schedule_until_delivered(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = settings_for(
        tmp_path, webhooks={"first_retry_seconds": 10, "backoff_factor": 3, "max_interval_seconds": 100}
    )
    store = _queued_store(tmp_path, clock)
    poster = FakePoster([503, None, 500, 200])
    deliverer = Deliverer(store, settings, APP_SECRET.encode(), poster, clock=clock)
    start = clock.now
    attempts_at = []

    async def drive() -> None:
        for _ in range(200):
            if await deliverer.deliver_due():
                attempts_at.append(clock.now - start)
                return
            if len(poster.calls) > len(attempts_at):
                attempts_at.append(clock.now - start)
            clock.now += 1

    run(drive())
    assert attempts_at == [0, 10, 40, 130], "10 s, then 30 s, then 90 s after each failure"
    assert len({body for _, body, _ in poster.calls}) == 1, "every retry sends the same bytes"
    row = store.dump()["webhooks"][0]
    assert (row["state"], row["attempts"]) == ("delivered", 4)


def test_an_event_never_accepted_expires_after_max_age(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = settings_for(
        tmp_path, webhooks={"first_retry_seconds": 60, "max_interval_seconds": 600, "max_age_seconds": 3600}
    )
    store = _queued_store(tmp_path, clock)
    deliverer = Deliverer(store, settings, APP_SECRET.encode(), FakePoster([500]), clock=clock)

    async def drive() -> None:
        for _ in range(100):
            await deliverer.deliver_due()
            clock.now += 60

    run(drive())
    row = store.dump()["webhooks"][0]
    assert row["state"] == "expired"
    assert row["last_error"] == "HTTP 500"
    assert row["attempts"] > 3


def test_a_pending_webhook_survives_a_restart_and_is_delivered_after_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)

    async def before(hook: Callback) -> None:
        hook.statuses = [500]
        async with emulator(settings) as (client, _):
            await register(client)
            await subscribe(client, hook)
            body = {"phone_number_id": NUMBER_ID, "from": "4915112345678", "text": "survive"}
            await call(client, "POST", "/__emulator/inbound", body=body)
            await hook.wait_for(1)

    async def after(hook: Callback) -> dict[str, Any]:
        hook.statuses = [200]
        async with emulator(settings) as (client, _):
            await hook.wait_for(len(hook.posts) + 1)
            _, state = await call(client, "GET", "/__emulator/state", token=None)
            return state

    async def scenario() -> tuple[Callback, dict[str, Any]]:
        async with callback_server(Callback()) as hook:
            await before(hook)
            failed_attempts = len(hook.posts)
            state = await after(hook)
            assert len(hook.posts) > failed_attempts
            return hook, state

    hook, state = run(scenario())
    assert hook.payloads()[-1]["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] == "survive"
    assert [row["state"] for row in state["webhooks"]] == ["delivered"]
    assert hook.posts[0][0] == hook.posts[-1][0], "the same bytes after the restart"


def _paths(node: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON document (list items share the path `[]`)."""
    found = {prefix} if prefix else set()
    if isinstance(node, dict):
        for key, value in node.items():
            found |= _paths(value, f"{prefix}.{key}")
    elif isinstance(node, list):
        for item in node:
            found |= _paths(item, f"{prefix}[]")
    return found


@pytest.mark.parametrize(
    ("reference", "build"),
    [
        (
            "pywa_message__text.json",
            lambda: webhooks_module.inbound_text(
                WABA_ID,
                "16315550000",
                NUMBER_ID,
                wa_id="491511",
                name="A",
                wamid="wamid.X",
                text="hi",
                timestamp=1,
            ),
        ),
        *[
            (
                f"pywa_message_status__{state}.json",
                lambda state=state: webhooks_module.status(
                    WABA_ID,
                    "16315550000",
                    NUMBER_ID,
                    wamid="wamid.X",
                    state=state,
                    recipient="491511",
                    timestamp=1,
                    conversation_id="c",
                    category="service",
                    errors=[RE_ENGAGEMENT] if state == "failed" else None,
                ),
            )
            for state in ("sent", "delivered", "read", "failed")
        ],
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_webhook_shapes_are_those_of_the_reference_payloads(reference: str, build: Any) -> None:
    expected = json.loads((Path("/work/shared/reference/payloads/cloud") / reference).read_text())
    ours = build()
    missing = _paths(ours) - _paths(expected)
    assert not missing, f"keys Meta does not send: {sorted(missing)}"
    core = {p for p in _paths(expected) if "contacts" not in p and "user_id" not in p}
    assert core <= _paths(ours) | {p for p in core if "expiration_timestamp" in p}
