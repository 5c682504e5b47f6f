"""One method per endpoint of the On-Premises REST API, errors translated once.

TLS is verified against the client's own CA, pinned by file (read out-of-band through the engine), never
disabled. The HTTP transport is a `requests.Session` injected through the constructor, so tests can
mount a fake adapter.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import requests

from onprem.errors import ApiError

DEFAULT_TIMEOUT = 10.0


def _error_from(response: requests.Response, endpoint: str) -> ApiError:
    """Translate an error response (the documented `errors[]` envelope, or none) into an ApiError."""
    code: int | None = None
    title = details = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0] if isinstance(body["errors"][0], dict) else {}
        raw_code = first.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        title = str(first.get("title", ""))
        details = str(first.get("details", ""))
    described = f"{code} {title}".strip() if code is not None else response.reason or "error"
    message = f"{endpoint} answered HTTP {response.status_code}: {described}"
    if details:
        message += f" ({details})"
    return ApiError(
        message, status=response.status_code, code=code, title=title, details=details, endpoint=endpoint
    )


class ApiClient:
    """The REST API of one client deployment.

    `base_url` like `https://127.0.0.1:9090`; `ca_file` is the pinned CA bundle; `api_key` authorises
    health, metrics and stats; a bearer token (from `login`) authorises the rest.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ca_file: Path,
        api_key: str | None = None,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._verify = str(ca_file)
        self._api_key = api_key
        self._session = session or requests.Session()
        self._timeout = timeout
        self.token: str | None = None

    def _request(
        self,
        method: str,
        path: str,
        *,
        auth: str = "bearer",
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        endpoint = f"{method} {path}"
        sent = dict(headers or {})
        if auth == "apikey" and self._api_key:
            sent["Authorization"] = f"Apikey {self._api_key}"
        elif auth == "bearer" and self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                json=json,
                headers=sent,
                verify=self._verify,
                timeout=timeout or self._timeout,
            )
        except requests.exceptions.SSLError as exc:
            raise ApiError(
                f"{endpoint}: TLS verification against the pinned CA failed ({exc.__class__.__name__})",
                endpoint=endpoint,
            ) from None
        except requests.RequestException as exc:
            raise ApiError(
                f"{endpoint}: {self.base_url} unreachable ({exc.__class__.__name__})", endpoint=endpoint
            ) from None
        if response.status_code >= 400:
            raise _error_from(response, endpoint)
        return response

    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        """`GET /v1/health` with the API key: the `health` object. Raises ApiError."""
        body = self._request("GET", "/v1/health", auth="apikey", timeout=timeout).json()
        health = body.get("health") if isinstance(body, dict) else None
        if not isinstance(health, dict):
            raise ApiError("GET /v1/health: the answer has no `health` object", endpoint="GET /v1/health")
        return health

    def login(self, username: str, password: str, *, new_password: str | None = None) -> str:
        """`POST /v1/users/login` (Basic); with `new_password` rotates it. Stores and returns the token.

        Raises ApiError: 401 for wrong credentials, code 1024 when a password change is required.
        """
        basic = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        body = {"new_password": new_password} if new_password is not None else {}
        data = self._request(
            "POST", "/v1/users/login", auth="none", json=body, headers={"Authorization": f"Basic {basic}"}
        ).json()
        try:
            token = str(data["users"][0]["token"])
        except (KeyError, IndexError, TypeError):
            raise ApiError(
                "POST /v1/users/login: no token in the answer", endpoint="POST /v1/users/login"
            ) from None
        self.token = token
        return token
