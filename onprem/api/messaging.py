"""Contacts, messages and media (`/v1/contacts`, `/v1/messages`, `/v1/media`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

from onprem.api.transport import Endpoints


class MessagingEndpoints(Endpoints):
    def check_contacts(
        self,
        contacts: Sequence[str],
        *,
        blocking: Literal["wait", "no_wait"] = "wait",
        force_check: bool = False,
    ) -> list[dict[str, Any]]:
        """`POST /v1/contacts {"blocking","contacts","force_check"}`: one entry per input
        (`input`, `wa_id`, `status`). Raises ApiError."""
        body = {"blocking": blocking, "contacts": list(contacts), "force_check": force_check}
        found = self._json("POST", "/v1/contacts", json=body).get("contacts")
        if not isinstance(found, list):
            raise self._shape_error("POST /v1/contacts", "`contacts` list")
        return [entry for entry in found if isinstance(entry, dict)]

    def send_message(self, message: Mapping[str, Any]) -> str:
        """`POST /v1/messages` with a documented message object: the message id. Raises ApiError."""
        messages = self._json("POST", "/v1/messages", json=dict(message)).get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
            raise self._shape_error("POST /v1/messages", "`messages[0].id`")
        return str(messages[0].get("id", ""))

    def send_text(self, to: str, body: str, *, preview_url: bool = False) -> str:
        """A text message (`type: text`): the message id. Raises ApiError (1006 unknown contact, ...)."""
        return self.send_message(
            {
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "preview_url": preview_url,
                "text": {"body": body},
            }
        )

    def mark_read(self, message_id: str) -> None:
        """`PUT /v1/messages/{id} {"status":"read"}`. Raises ApiError."""
        self.transport.send("PUT", "/v1/messages/" + quote(message_id, safe=""), json={"status": "read"})

    def upload_media(self, content: bytes, mime_type: str) -> str:
        """`POST /v1/media` (raw body, Content-Type = mime type): the media id. Raises ApiError."""
        media = self._json("POST", "/v1/media", data=content, headers={"Content-Type": mime_type}).get(
            "media"
        )
        if not isinstance(media, list) or not media or not isinstance(media[0], dict):
            raise self._shape_error("POST /v1/media", "`media[0].id`")
        return str(media[0].get("id", ""))

    def get_media(self, media_id: str) -> tuple[bytes, str]:
        """`GET /v1/media/{id}`: (content, mime type). Raises ApiError (404 when unknown)."""
        answer = self.transport.send("GET", "/v1/media/" + quote(media_id, safe=""))
        return answer.content, answer.headers.get("Content-Type", "application/octet-stream")

    def delete_media(self, media_id: str) -> None:
        """`DELETE /v1/media/{id}`. Raises ApiError."""
        self.transport.send("DELETE", "/v1/media/" + quote(media_id, safe=""))
