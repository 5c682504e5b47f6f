"""Core's dispatcher: statuses sent/delivered/read per settings, 470 failures, linear backoff, expiry."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from onprem.emulator.appsettings import apply_patch
from onprem.emulator.dispatch import Dispatcher, backoff_seconds
from onprem.emulator.inject import inject_inbound
from onprem.emulator.msgstore import MessagingStore
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, core_heartbeat, make_pki, register

URL = "https://sink.example:8443/hook/secret-token"


class FakeSink:
    """Records every POST and answers from a script of HTTP statuses (then 200)."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.received: list[tuple[str, bytes, ssl.SSLContext]] = []

    async def __call__(self, url: str, body: bytes, context: ssl.SSLContext) -> int:
        self.received.append((url, body, context))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bodies(self) -> list[str]:
        return [body.decode() for _, body, _ in self.received]


def configure(store: Store, **patch: Any) -> None:
    store.put_setting("application", apply_patch({}, {"webhooks": {"url": URL}, **patch}))


def send(store: Store, clock: FakeClock, *, rejected: bool = False) -> str:
    node = core_heartbeat(store, "wacore", now=clock())
    MessagingStore(store).add_outbound("gBEGmsg1", "16315551234", node, rejected=rejected, now=clock())
    return node


def steps(dispatcher: Dispatcher, clock: FakeClock, count: int, advance: float = 1.0) -> None:
    async def main() -> None:
        for _ in range(count):
            await dispatcher.step()
            clock.advance(advance)

    asyncio.run(main())


def test_backoff_is_linear_and_capped() -> None:
    settings = {"callback_backoff_delay_ms": 3000, "max_callback_backoff_delay_ms": 10000}
    assert [backoff_seconds(n, settings) for n in (1, 2, 3, 4, 10)] == [3.0, 6.0, 9.0, 10.0, 10.0]


def test_a_message_is_sent_delivered_and_read_with_callbacks_per_settings(
    store: Store, clock: FakeClock
) -> None:
    register(store)
    configure(store, webhooks={"url": URL, "message": {"read": True, "sent": False}}, sent_status=False)
    send(store, clock)
    sink = FakeSink()
    steps(Dispatcher(store, post=sink, clock=clock, status_delay=1.0), clock, 6)
    kinds = [body for body in sink.bodies()]
    assert len(kinds) == 2
    assert '"status":"delivered"' in kinds[0]
    assert '"status":"read"' in kinds[1]
    assert '"recipient_id":"16315551234"' in kinds[0]
    assert MessagingStore(store).message_counts() == {("out", "read"): 1}


def test_sent_status_setting_turns_sent_notifications_on(store: Store, clock: FakeClock) -> None:
    register(store)
    configure(store, webhooks={"url": URL, "message": {"sent": False, "delivered": False}}, sent_status=True)
    send(store, clock)
    sink = FakeSink()
    steps(Dispatcher(store, post=sink, clock=clock), clock, 5)
    assert [('"status":"sent"' in body) for body in sink.bodies()] == [True]


def test_a_rejected_message_fails_with_470(store: Store, clock: FakeClock) -> None:
    register(store)
    configure(store)
    send(store, clock, rejected=True)
    sink = FakeSink()
    steps(Dispatcher(store, post=sink, clock=clock), clock, 3)
    (body,) = sink.bodies()
    assert '"status":"failed"' in body
    assert '"code":470' in body


def test_failures_are_retried_with_linear_backoff_until_a_200(store: Store, clock: FakeClock) -> None:
    register(store)
    configure(store, callback_backoff_delay_ms=3000)
    core_heartbeat(store, "wacore", now=clock())
    inject_inbound(store, "16315551234", "hello", now=clock())
    sink = FakeSink(500, OSError("refused"), 302)
    dispatcher = Dispatcher(store, post=sink, clock=clock)
    attempts_at = []

    async def main() -> None:
        for _ in range(60):  # 0.5 s steps of fake time (exact in binary): 30 s
            before = len(sink.received)
            await dispatcher.step()
            if len(sink.received) > before:
                attempts_at.append(round(clock() - 1_767_225_600.0, 1))
            clock.advance(0.5)

    asyncio.run(main())
    # Delays 3 s, 6 s, 9 s after the 1st, 2nd and 3rd failures; the 4th attempt succeeds.
    assert attempts_at == [0.0, 3.0, 9.0, 18.0]
    gauges = MessagingStore(store).queue_gauges()
    assert all(queued == 0 for queued, _, _ in gauges.values())
    counted = {(name, str(labels)): value for _, name, labels, value in MessagingStore(store).counters()}
    assert counted[("callback_requests", str({"result": "500", "type": "inbound_message"}))] == 1
    assert counted[("callback_requests", str({"result": "error", "type": "inbound_message"}))] == 1
    assert counted[("callback_requests", str({"result": "success", "type": "inbound_message"}))] == 1


def test_without_a_url_callbacks_wait_and_then_flow(store: Store, clock: FakeClock) -> None:
    register(store)
    core_heartbeat(store, "wacore", now=clock())
    inject_inbound(store, "16315551234", "hello", now=clock())
    sink = FakeSink()
    dispatcher = Dispatcher(store, post=sink, clock=clock)
    steps(dispatcher, clock, 2)
    assert sink.received == []
    configure(store)
    steps(dispatcher, clock, 1)
    assert len(sink.received) == 1
    assert sink.received[0][0] == URL


def test_callbacks_expire_after_24_hours(store: Store, clock: FakeClock) -> None:
    register(store)
    configure(store, max_callback_backoff_delay_ms=3600000, callback_backoff_delay_ms=900000)
    core_heartbeat(store, "wacore", now=clock())
    inject_inbound(store, "16315551234", "hello", now=clock())
    sink = FakeSink(*([503] * 1000))
    steps(Dispatcher(store, post=sink, clock=clock), clock, 40, advance=3600)
    counted = {name + str(labels): value for _, name, labels, value in MessagingStore(store).counters()}
    assert counted["callback_requests" + str({"result": "expired", "type": "inbound_message"})] == 1
    assert MessagingStore(store).queue_gauges() == {}


def test_the_uploaded_webhook_ca_is_what_verifies_the_endpoint(store: Store, clock: FakeClock) -> None:
    pki = make_pki()
    register(store)
    configure(store)
    store.put_setting("webhooks_ca", pki.root_pem)
    core_heartbeat(store, "wacore", now=clock())
    inject_inbound(store, "16315551234", "hello", now=clock())
    sink = FakeSink()
    steps(Dispatcher(store, post=sink, clock=clock), clock, 1)
    context = sink.received[0][2]
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "Test Root CA"),),)]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
