"""One request to the client's REST API: authentication, TLS pinning, retries, and the translation of
error answers into `ApiError`, done once for every endpoint.

The documented error envelope is `{"errors":[{"code","title","details","href"}],"meta":{...}}`; some
errors (401 after a password change, 404 on certificates and media) come with no body at all.

The `requests.Session` is injected (tests mount a fake adapter on it). TLS is always verified, against
the client's CA pinned by file; there is no way to turn verification off. Throttling answers (HTTP 429,
503, codes 1015-1018) are retried with exponential backoff, honouring `Retry-After`, through an
injected `sleep`. A bearer request answered 401 logs in again once with the stored credentials.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests

from onprem.api.auth import Credentials, token_from
from onprem.errors import ApiError
from onprem.tokens import LOGIN_PATH, TokenCache, basic_header

# Throttling and failover answers the client documents as "retry later".
RETRYABLE_STATUSES = frozenset({429, 503})
RETRYABLE_CODES = frozenset({1015, 1016, 1017, 1018})

PASSWORD_CHANGE_REQUIRED = 1024
RESOURCE_NOT_FOUND = 1006
ALREADY_EXISTS_CODES = frozenset({1004, 1014})


def first_error(body: Any) -> dict[str, Any]:
    """The first entry of a body's `errors[]`, or {} when the body carries none."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        return first if isinstance(first, dict) else {}
    return {}


def json_or_none(response: requests.Response) -> Any:
    """The decoded JSON body, or None when it is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def error_from(response: requests.Response, endpoint: str) -> ApiError:
    """An ApiError for an answer with HTTP status >= 400 (or a 2xx carrying `errors[]`)."""
    first = first_error(json_or_none(response))
    raw_code = first.get("code")
    code = raw_code if isinstance(raw_code, int) else None
    title = str(first.get("title", "") or "")
    details = str(first.get("details", "") or "")
    described = f"{code} {title}".strip() if code is not None else (response.reason or "error")
    message = f"{endpoint} answered HTTP {response.status_code}: {described}"
    if details:
        message += f" ({details})"
    return ApiError(
        message, status=response.status_code, code=code, title=title, details=details, endpoint=endpoint
    )


def certificate_refused(exc: BaseException) -> bool:
    """Whether a request failed because the server's certificate did not verify (and not because the
    connection was refused, reset or cut short)."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        pending += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "EOF occurred", "timed out", "Name or service"):
        if marker in text:
            return marker.lower()
    return exc.__class__.__name__


def is_retryable(error: ApiError) -> bool:
    """Whether the client asked us to try again later (throttling, overload, master/shard failover)."""
    return error.status in RETRYABLE_STATUSES or error.code in RETRYABLE_CODES


def is_not_found(error: ApiError) -> bool:
    return error.status == 404 or error.code == RESOURCE_NOT_FOUND


Auth = Literal["bearer", "apikey", "none"]
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff for answers the client documents as "retry later"."""

    attempts: int = 4
    base_seconds: float = 0.5
    max_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (0-based), Retry-After winning when numeric."""
        if retry_after is not None:
            try:
                return float(min(max(float(retry_after), 0.0), self.max_seconds))
            except ValueError:
                pass
        return min(self.base_seconds * 2.0**attempt, self.max_seconds)


DEFAULT_RETRY = RetryPolicy()


class Transport:
    """Sends requests to `base_url` (e.g. `https://127.0.0.1:9090`) and returns successful answers."""

    def __init__(
        self,
        base_url: str,
        *,
        ca_file: Path,
        session: requests.Session,
        api_key: str | None,
        credentials: Credentials | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._verify = str(ca_file)
        self._session = session
        self._api_key = api_key
        self.credentials = credentials
        self.tokens = TokenCache(clock)
        self._sleep = sleep
        self._timeout = timeout
        self._retry = retry

    def login(self, username: str, password: str, new_password: str | None = None) -> str:
        """`POST /v1/users/login` with Basic auth; cache the token and remember the credentials.

        Raises ApiError: 401 for wrong credentials, code 1024 when the password must be changed first.
        """
        body = {"new_password": new_password} if new_password is not None else {}
        answer = self.send(
            "POST",
            LOGIN_PATH,
            auth="none",
            json=body,
            headers={"Authorization": basic_header(username, password)},
        )
        token, expires_at = token_from(json_or_none(answer))
        self.tokens.store(token, expires_at)
        self.credentials = Credentials(username, new_password if new_password is not None else password)
        return token

    def _bearer(self, endpoint: str) -> str:
        token = self.tokens.current()
        if token is not None:
            return token
        if self.credentials is None:
            raise ApiError(
                f"{endpoint}: needs a login (no token and no credentials were given to the client)",
                endpoint=endpoint,
            )
        return self.login(self.credentials.username, self.credentials.password)

    def _headers(self, auth: Auth, endpoint: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if auth == "apikey" and self._api_key:
            headers["Authorization"] = f"Apikey {self._api_key}"
        elif auth == "apikey" or auth == "bearer":
            headers["Authorization"] = f"Bearer {self._bearer(endpoint)}"
        return headers

    def _once(
        self, method: str, path: str, endpoint: str, headers: dict[str, str], options: dict[str, Any]
    ) -> requests.Response:
        try:
            return self._session.request(
                method, self.base_url + path, headers=headers, verify=self._verify, **options
            )
        except requests.RequestException as exc:
            raise ApiError(f"{endpoint}: {self._failure(exc)}", endpoint=endpoint) from None

    def _failure(self, exc: requests.RequestException) -> str:
        """What went wrong with a request that got no answer, and what would help."""
        if certificate_refused(exc):
            return (
                f"the certificate {self.base_url} serves does not verify against the pinned CA "
                f"{self._verify}: after `onprem certs upload` give the chain's root with --ca; if the web "
                "container was recreated with a new CA, `onprem deploy` pins it again"
            )
        if "NO_CERTIFICATE_OR_CRL_FOUND" in str(exc) or "PEM lib" in str(exc):
            return f"the pinned CA file {self._verify} holds no certificate: `onprem deploy` pins it again"
        if isinstance(exc, requests.exceptions.Timeout):
            return f"{self.base_url} did not answer in time: see `onprem status` and `onprem logs waweb`"
        if isinstance(exc, requests.exceptions.SSLError):
            # A handshake cut short (reset, EOF) is a web container that is starting or restarting.
            return (
                f"{self.base_url} closed the TLS handshake ({_reason(exc)}); the web container is probably "
                "starting or restarting: see `onprem status` and `onprem logs waweb`"
            )
        return (
            f"{self.base_url} unreachable ({_reason(exc)}): is the web container running and its port "
            "published? see `onprem status`"
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        auth: Auth = "bearer",
        json: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        """Send one request; return the answer when its status is < 400.

        Raises ApiError (status, code, title, details, endpoint) for an error answer after retries,
        an unreachable server, or a TLS failure against the pinned CA.
        """
        endpoint = f"{method} {path}"
        options: dict[str, Any] = {"timeout": timeout or self._timeout}
        if json is not None:
            options["json"] = json
        if data is not None:
            options["data"] = data
        if params:
            options["params"] = dict(params)
        renewed = False
        attempt = 0
        while True:
            response = self._once(method, path, endpoint, self._headers(auth, endpoint, headers), options)
            if response.status_code < 400 and not first_error(json_or_none(response)):
                return response
            error = error_from(response, endpoint)
            if response.status_code == 401 and auth == "bearer" and not renewed and self.credentials:
                # The token expired or was revoked (logout, restart): log in again, once.
                renewed = True
                self.tokens.clear()
                continue
            if is_retryable(error) and attempt + 1 < self._retry.attempts:
                self._sleep(self._retry.delay(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            raise error


class Endpoints:
    """Base of the per-area endpoint groups that `ApiClient` combines: they share one Transport."""

    transport: Transport

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send, and return the JSON object answered ({} for `null` or an empty body)."""
        body = json_or_none(self.transport.send(method, path, **kwargs))
        return body if isinstance(body, dict) else {}

    @staticmethod
    def _shape_error(endpoint: str, what: str) -> ApiError:
        return ApiError(f"{endpoint}: the answer has no {what}", endpoint=endpoint)
