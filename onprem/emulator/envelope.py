"""The client's response envelope: `meta` on every body, `errors[]` for failures.

`ApiFailure` is raised by handlers and turned into the documented error body by the web middleware;
`error_body` and `meta` are pure so their shapes are tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onprem.emulator.env import DEFAULT_VERSION

# Codes and titles of the documented error list (reference ONPREM_API 2.14) that the emulator uses.
ACCESS_DENIED = (1005, "Access denied")
NOT_FOUND = (1006, "Resource not found")
MISSING_PARAMETER = (1008, "Required parameter is missing")
INVALID_PARAMETER = (1009, "Parameter value is not valid")
INTERNAL_ERROR = (1014, "Internal error")
DATABASE_ERROR = (1023, "Database error occurred")
PASSWORD_CHANGE_REQUIRED = (1024, "Password Change Required")
INVALID_REQUEST = (1025, "Invalid Request")


@dataclass(frozen=True)
class Meta:
    """The `meta` object every answer carries."""

    version: str = DEFAULT_VERSION
    api_status: str = "stable"

    def as_dict(self) -> dict[str, str]:
        return {"api_status": self.api_status, "version": self.version}


def error_body(code: int, title: str, details: str, meta: Meta) -> dict[str, Any]:
    """`{"errors":[{"code","title","details"}],"meta":{...}}` for one error."""
    error: dict[str, Any] = {"code": code, "title": title}
    if details:
        error["details"] = details
    return {"errors": [error], "meta": meta.as_dict()}


class ApiFailure(Exception):
    """A handler's refusal: HTTP `status` with one documented error (`kind` is a (code, title) pair).

    `empty_body` answers with no body at all, as the client does for a rejected login.
    """

    def __init__(self, status: int, kind: tuple[int, str], details: str = "", *, empty_body: bool = False):
        super().__init__(f"{status} {kind[0]} {kind[1]}: {details}")
        self.status = status
        self.code, self.title = kind
        self.details = details
        self.empty_body = empty_body
