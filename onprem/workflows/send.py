"""`onprem send`: send a text or a template, then say what became of it.

The client answers `POST /v1/messages` with an id as soon as it accepts a message; whether it was sent,
delivered, read or failed (e.g. 470, outside the 24-hour customer-service window) comes later, only in
the status callbacks it posts to the webhook. Those land in the relay's store, so after sending this
polls `onprem relay statuses` for the message, for a bounded time (`wait`, 5 s by default, through an
injected clock and sleep), and reports the furthest status seen: `failed` (with the reason; for 470
with the template command to use instead), `read`, `delivered` (it stops there: read receipts come
only when the user opens the chat), else `sent`, or `accepted` when no callback came in time. Without a
relay there is nothing to follow: the outcome is `accepted` and says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from onprem.deployment import Deployment
from onprem.errors import ApiError, ConfigError, OnpremError
from onprem.workflows.account import MessageApi, send_text
from onprem.workflows.relay_admin import message_statuses

DEFAULT_WAIT = 5.0
POLL_INTERVAL = 0.5
# How far before the send the lookup starts: the relay's clock may differ a little from this machine's.
CLOCK_SLACK = 300.0
OUTSIDE_WINDOW = 470
# Furthest first: a failure wins, and `delivered` is as far as a message gets without the user.
RANK = {"failed": 4, "read": 3, "delivered": 2, "sent": 1}
SETTLED = ("failed", "read", "delivered")

StatusLookup = Callable[[str, float], list[dict[str, Any]]]  # (message id, since) -> status entries


class TemplateApi(MessageApi, Protocol):
    def send_message(self, message: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class Outcome:
    """What became of a message: `status` (sent|delivered|read|failed|accepted), the error `code` and
    `reason` of a failure, and a `hint` on what to do."""

    status: str
    code: int | None = None
    reason: str = ""
    hint: str = ""
    statuses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "reason": self.reason,
            "hint": self.hint,
            "statuses": self.statuses,
        }


def template_hint(to: str) -> str:
    return (
        "the user has not written to you in the last 24 hours, so only an approved template may open the "
        f"conversation: onprem send --to {to} --template NAME [--param TEXT ...]"
    )


def outcome_of(entries: Sequence[dict[str, Any]], to: str) -> Outcome:
    """The furthest status among `entries` (status callbacks of one message) as an Outcome."""
    seen = [str(e.get("status", "")) for e in entries if str(e.get("status", "")) in RANK]
    if not seen:
        return Outcome("accepted", hint="no status callback yet; `onprem relay statuses ID` shows later ones")
    best = max(seen, key=RANK.__getitem__)
    if best != "failed":
        return Outcome(best, statuses=seen)
    failed = next(e for e in entries if e.get("status") == "failed")
    errors = failed.get("errors") or [{}]
    code = errors[0].get("code")
    reason = str(errors[0].get("title", "") or "no reason given")
    code = code if isinstance(code, int) else None
    hint = template_hint(to) if code == OUTSIDE_WINDOW else ""
    return Outcome("failed", code, reason, hint, seen)


def follow(
    lookup: StatusLookup,
    message_id: str,
    to: str,
    *,
    since: float,
    wait: float = DEFAULT_WAIT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll `lookup` for `message_id` until it is settled (failed, read, delivered) or `wait` seconds
    passed; the outcome. A lookup that fails ends the wait with `accepted` and the reason."""
    deadline = clock() + wait
    outcome = Outcome("accepted")
    while True:
        try:
            outcome = outcome_of(lookup(message_id, since), to)
        except OnpremError as exc:
            return Outcome("accepted", hint=f"cannot read the status callbacks: {exc}")
        left = deadline - clock()
        if outcome.status in SETTLED or left <= 0:
            return outcome
        sleep(min(POLL_INTERVAL, left))


def template_message(to: str, name: str, language: str, params: Sequence[str]) -> dict[str, Any]:
    """A `type: template` message with `params` as the body's text parameters."""
    template: dict[str, Any] = {"name": name, "language": {"policy": "deterministic", "code": language}}
    if params:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
        ]
    return {"recipient_type": "individual", "to": to, "type": "template", "template": template}


def send(
    api: TemplateApi,
    to: str,
    *,
    text: str | None,
    template: str | None,
    language: str = "en_US",
    params: Sequence[str] = (),
) -> dict[str, str]:
    """Send `text`, or the approved `template` with `params`: {"to", "wa_id", "id"}.

    Raises ConfigError (neither or both of text and template, params without a template, a bad text or
    number), ApiError when the client refuses.
    """
    if (text is None) == (template is None):
        raise ConfigError("onprem send: give either --text TEXT or --template NAME")
    if text is not None:
        if params:
            raise ConfigError("--param goes with --template, not --text")
        return send_text(api, to, text)
    assert template is not None
    digits = "".join(ch for ch in to if ch.isdigit())
    if not 6 <= len(digits) <= 15:
        raise ConfigError(f"--to {to!r}: give a phone number with country code, e.g. +16315551234")
    message_id = api.send_message(template_message(digits, template, language, params))
    return {"to": to, "wa_id": digits, "id": message_id}


def failure_error(sent: dict[str, str], outcome: Outcome) -> ApiError:
    """The error `onprem send` exits with when the message failed (exit code 5)."""
    code = f" {outcome.code}" if outcome.code is not None else ""
    return ApiError(
        f"message {sent['id']} to {sent['wa_id']} failed:{code} {outcome.reason}", code=outcome.code
    )


def send_and_follow(
    deployment: Deployment,
    to: str,
    *,
    text: str | None,
    template: str | None,
    language: str = "en_US",
    params: Sequence[str] = (),
    wait: float = DEFAULT_WAIT,
) -> tuple[dict[str, str], Outcome]:
    """`onprem send`: send, then follow the message's status callbacks in the deployment's relay for up
    to `wait` seconds. Raises as `send`; a failed message is an Outcome, not an exception."""
    since = time.time() - CLOCK_SLACK
    sent = send(deployment.api(), to, text=text, template=template, language=language, params=params)
    if not deployment.settings.relay.enabled:
        return sent, Outcome(
            "accepted", hint="this deployment has no relay, so its status callbacks are not followed"
        )
    if wait <= 0:
        return sent, Outcome(
            "accepted", hint=f"not followed (--wait 0); `onprem relay statuses {sent['id']}`"
        )

    def lookup(message_id: str, after: float) -> list[dict[str, Any]]:
        return message_statuses(deployment, message_id, since=after)

    return sent, follow(lookup, sent["id"], sent["wa_id"], since=since, wait=wait)
