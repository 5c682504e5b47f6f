"""The Graph API error envelope and the Cloud API error codes the emulator answers with (pure).

`{"error": {"message", "type", "code", "error_subcode"?, "error_data": {"messaging_product": "whatsapp",
"details"}, "fbtrace_id"}}`; clients build on `code` and `error_data.details`.
"""

from __future__ import annotations

import secrets
from typing import Any

OAUTH = "OAuthException"
METHOD = "GraphMethodException"


class GraphError(Exception):
    """A failure answered as the Graph error envelope with HTTP `status`."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        details: str = "",
        *,
        subcode: int | None = None,
        error_type: str = OAUTH,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or message
        self.subcode = subcode
        self.error_type = error_type

    def body(self) -> dict[str, Any]:
        """The JSON envelope of this error, with a fresh fbtrace_id."""
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)[:22]
        return {"error": error}


def invalid_token() -> GraphError:
    return GraphError(
        401, 190, "Invalid OAuth access token - Cannot parse access token", "Invalid OAuth access token"
    )


def no_object(object_id: str, method: str = "get") -> GraphError:
    """What Meta answers for an id that does not exist or the token cannot see (never 403)."""
    return GraphError(
        400,
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due "
        "to missing permissions, or does not support this operation. Please read the Graph API "
        "documentation at https://developers.facebook.com/docs/graph-api",
        subcode=33,
        error_type=METHOD,
    )


def no_permission() -> GraphError:
    return GraphError(403, 10, "(#10) Application does not have permission for this action")


def missing_param(name: str) -> GraphError:
    return GraphError(
        400, 100, f"(#100) The parameter {name} is required", f"The parameter {name} is required"
    )


def invalid_param(details: str) -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details)


def pin_mismatch() -> GraphError:
    return GraphError(400, 133005, "Two step verification PIN Mismatch", "Two step verification PIN Mismatch")


def not_registered() -> GraphError:
    return GraphError(400, 133010, "Account not registered", "Account not registered")


def callback_failed(details: str) -> GraphError:
    return GraphError(400, 2200, "Callback verification failed", details)


def unknown_path(path: str) -> GraphError:
    return GraphError(400, 2500, "Unknown path components: " + path)


RE_ENGAGEMENT = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {
        "details": "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number."
    },
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}
