"""Inbound messages from "users", injected for demos and tests (the test-only channel into `core`).

Real inbound messages come from WhatsApp's servers; the emulator has none, so `inject_inbound` records
one as the client would on receipt: it opens the sender's 24-hour window and queues the inbound
callback. Used by `POST /_emulator/inbound` (ONPREM_EMULATOR_TEST_HOOKS=1) and
`onprem emulator inject`.
"""

from __future__ import annotations

from onprem.emulator.hastore import HaStore
from onprem.emulator.health import live_core, route
from onprem.emulator.msgstore import MessagingStore
from onprem.emulator.rules import inbound_payload, new_message_id, wa_id_of
from onprem.emulator.store import Store


class InjectError(ValueError):
    """The inbound message cannot be injected (bad sender, empty text, number not registered)."""


def inject_inbound(
    store: Store, sender: str, text: str, *, name: str = "", multiconnect: bool = False, now: float
) -> str:
    """Record a text message from `sender` to the registered number; returns its message id.

    Raises InjectError for an invalid sender or text, or while no number is registered; ClientStateError
    when the database fails.
    """
    wa_id = wa_id_of(sender)
    if not wa_id:
        raise InjectError("from must be a phone number or wa_id")
    if not text:
        raise InjectError("text must not be empty")
    if not store.registration().registered:
        raise InjectError("no number is registered: nobody can write to it")
    if multiconnect:  # the coreapp serving the sender's shard receives it
        _, node = route(HaStore(store).shard_rows(), wa_id, shards=store.shards(), now=now)
    else:
        node = live_core(store.nodes(), now)
    message_id = new_message_id()
    payload = inbound_payload(message_id, wa_id, name or wa_id, text, now)
    MessagingStore(store).add_inbound(message_id, wa_id, node or "", payload, now=now)
    return message_id
