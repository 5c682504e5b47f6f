"""`GraphClient`: the Cloud API calls `onprem migrate cloud` makes, one method each, over an injected
`requests.Session`.

Every call carries `Authorization: Bearer <token>`; the token is never put in an error, a log line or a
URL. Graph errors (`{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}}}`)
and unreachable servers are translated once, here, into `CloudApiError`. TLS is verified against the
system's trust store, or `ca_file` when given (an emulator's own CA); never disabled.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from onprem.errors import CloudApiError

DEFAULT_TIMEOUT = 20.0
REGISTER_TIMEOUT = 60.0
"""Meta's register takes up to ~15 s; leave room for a slow network."""

INVALID_TOKEN = 190
INVALID_PARAMETER = 100
NO_SUCH_OBJECT = 33
NO_PERMISSION = frozenset({10, 200})
PIN_MISMATCH = 133005
CALLBACK_FAILED = 2200


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _body(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def graph_error(response: requests.Response, endpoint: str) -> CloudApiError:
    """A CloudApiError for a Graph error answer (or any answer >= 400)."""
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    data = error.get("error_data")
    details = str(data.get("details", "") or "") if isinstance(data, dict) else ""
    text = str(error.get("message", "") or response.reason or "error")
    described = f"code {code}" + (f"/{subcode}" if subcode is not None else "") if code is not None else ""
    message = f"{endpoint} answered HTTP {response.status_code}: {text}"
    if described:
        message += f" ({described})"
    if details and details not in text:
        message += f": {details}"
    return CloudApiError(
        message, status=response.status_code, code=code, subcode=subcode, details=details, endpoint=endpoint
    )


class GraphClient:
    """The Graph API at `{graph_url}/{api_version}` with one access token."""

    def __init__(
        self,
        graph_url: str,
        api_version: str,
        token: str,
        *,
        session: requests.Session | None = None,
        ca_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = f"{graph_url.rstrip('/')}/{api_version}"
        self._token = token
        self._session = session or requests.Session()
        self._verify: str | bool = str(ca_file) if ca_file is not None else True
        self._timeout = timeout

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One call; the JSON object answered. Raises CloudApiError for an error answer or no answer."""
        endpoint = f"{method} /{path.lstrip('/')}"
        try:
            response = self._session.request(
                method,
                f"{self.base_url}/{path.lstrip('/')}",
                headers={"Authorization": f"Bearer {self._token}"},
                json=json,
                params=dict(params) if params else None,
                timeout=timeout or self._timeout,
                verify=self._verify,
            )
        except requests.exceptions.SSLError:
            raise CloudApiError(
                f"{endpoint}: the certificate of {self.base_url} does not verify"
                + (f" against {self._verify}" if isinstance(self._verify, str) else "")
                + "; for an emulator give its CA as cloud.ca_file",
                endpoint=endpoint,
            ) from None
        except requests.exceptions.Timeout:
            raise CloudApiError(
                f"{endpoint}: {self.base_url} did not answer in time", endpoint=endpoint
            ) from None
        except requests.RequestException as exc:
            raise CloudApiError(
                f"{endpoint}: {self.base_url} unreachable ({exc.__class__.__name__}); check cloud.graph_url",
                endpoint=endpoint,
            ) from None
        body = _body(response)
        if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
            raise graph_error(response, endpoint)
        return body if isinstance(body, dict) else {}

    def phone_number(self, phone_number_id: str) -> dict[str, Any]:
        """`GET /{phone_number_id}`: id, display_phone_number, status, platform_type, region."""
        return self.send("GET", phone_number_id)

    def register(
        self, phone_number_id: str, *, pin: str, backup: Mapping[str, str] | None, region: str | None
    ) -> None:
        """`POST /{phone_number_id}/register` with the PIN, the On-Prem backup and the region.

        Raises CloudApiError: 133005 wrong PIN, 100 with details (backup password, region, ...)."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "pin": pin}
        if backup is not None:
            body["backup"] = dict(backup)
        if region is not None:
            body["data_localization_region"] = region
        answer = self.send("POST", f"{phone_number_id}/register", json=body, timeout=REGISTER_TIMEOUT)
        if answer.get("success") is not True:
            raise CloudApiError(
                f"POST /{phone_number_id}/register did not answer success", endpoint="POST register"
            )

    def subscribe(self, waba_id: str, *, callback: str, verify_token: str) -> None:
        """`POST /{waba_id}/subscribed_apps` overriding the callback; Meta performs the handshake first.

        Raises CloudApiError (2200 when the callback did not echo the challenge)."""
        answer = self.send(
            "POST",
            f"{waba_id}/subscribed_apps",
            json={"override_callback_uri": callback, "verify_token": verify_token},
            timeout=REGISTER_TIMEOUT,
        )
        if answer.get("success") is not True:
            raise CloudApiError(f"POST /{waba_id}/subscribed_apps did not answer success")

    def subscribed_apps(self, waba_id: str) -> list[dict[str, Any]]:
        """`GET /{waba_id}/subscribed_apps`: the apps subscribed to the WABA."""
        data = self.send("GET", f"{waba_id}/subscribed_apps").get("data")
        return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
