"""`POST /v1/messages`, `PUT /v1/messages/{id}` (mark an inbound message read) and `POST /v1/contacts`.

Sending needs a registered number (else 400, error 1011) and a core node to take the message: the live
core of a single instance (else 503, 1011), in multiconnect the coreapp serving the recipient's shard
(`hash(recipient) % shards`; while it has none, during a failover or with no standby left, 503 with
1018 "Not Primary Coreapp": retry). A valid message is answered 201 `{"messages":[{"id"}]}` and stored
for that node, which reports its statuses through callbacks; a free-form message outside the 24-hour
window is still 201 and fails with 470 later.
Contacts are always `valid` (as since v2.43). Any logged-in user may call these.
"""

from __future__ import annotations

from aiohttp import web

from onprem.emulator.api.common import answer, json_object
from onprem.emulator.api.media import media_type
from onprem.emulator.auth import require_bearer
from onprem.emulator.context import EmulatorContext, context_of
from onprem.emulator.envelope import INVALID_PARAMETER, NOT_FOUND, ApiFailure
from onprem.emulator.hastore import HaStore
from onprem.emulator.health import live_core, route
from onprem.emulator.msgstore import MessagingStore
from onprem.emulator.rules import check_message, new_message_id, wa_id_of

SERVICE_NOT_READY = (1011, "Service not ready")
NOT_PRIMARY_COREAPP = (1018, "Not Primary Coreapp")


def _node_for(ctx: EmulatorContext, recipient: str, now: float) -> str:
    """The node that takes a message to `recipient`. Raises ApiFailure 503 when there is none."""
    store = ctx.store
    if not ctx.settings.multiconnect:
        node = live_core(store.nodes(), now)
        if node is None:
            raise ApiFailure(503, SERVICE_NOT_READY, "No core node is up.")
        return node
    shards = store.shards()
    shard, owner = route(HaStore(store).shard_rows(), recipient, shards=shards, now=now)
    if owner is None:
        raise ApiFailure(
            503,
            NOT_PRIMARY_COREAPP,
            f"Shard {shard} of {shards} has no serving coreapp (failover in progress, or no standby "
            "left); retry.",
        )
    return owner


def _send(ctx: EmulatorContext, body: dict[str, object]) -> str:
    store = ctx.store
    registration = store.registration()
    if not registration.registered:
        raise ApiFailure(400, SERVICE_NOT_READY, "The number is not registered.")
    outbound = check_message(dict(body), own_wa_id=registration.wa_id)
    if outbound.media_id is not None and media_type(ctx, outbound.media_id) is None:
        raise ApiFailure(404, NOT_FOUND, f"Unknown media id {outbound.media_id!r}.")
    now = ctx.clock()
    node = _node_for(ctx, outbound.recipient, now)
    messaging = MessagingStore(store)
    rejected = outbound.free_form and not messaging.window_open(outbound.recipient, now)
    message_id = new_message_id()
    messaging.add_outbound(message_id, outbound.recipient, node, rejected=rejected, now=now)
    return message_id


async def send_message(request: web.Request) -> web.Response:
    await require_bearer(request)
    ctx = context_of(request)
    body = await json_object(request)
    message_id = await ctx.db(_send, ctx, body)
    return answer(request, {"messages": [{"id": message_id}]}, status=201)


async def mark_read(request: web.Request) -> web.Response:
    await require_bearer(request)
    ctx = context_of(request)
    body = await json_object(request)
    if body.get("status") != "read":
        raise ApiFailure(400, INVALID_PARAMETER, 'status must be "read".')
    if not await ctx.db(MessagingStore(ctx.store).mark_inbound_read, request.match_info["message_id"]):
        raise ApiFailure(404, NOT_FOUND, "No such inbound message.")
    return answer(request)


async def check_contacts(request: web.Request) -> web.Response:
    await require_bearer(request)
    body = await json_object(request)
    contacts = body.get("contacts")
    if not isinstance(contacts, list) or not contacts:
        raise ApiFailure(400, INVALID_PARAMETER, "contacts must be a non-empty list of phone numbers.")
    results = []
    for raw in contacts:
        wa_id = wa_id_of(raw)
        entry = {"input": raw, "status": "valid" if wa_id else "invalid"}
        if wa_id:
            entry["wa_id"] = wa_id
        results.append(entry)
    return answer(request, {"contacts": results})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", send_message)
    app.router.add_put("/v1/messages/{message_id}", mark_read)
    app.router.add_post("/v1/contacts", check_contacts)
