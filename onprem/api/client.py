"""`ApiClient`: every endpoint the tool uses, one method each, over one `Transport`.

TLS is verified against the client's own CA, pinned by file (read out-of-band through the engine),
never disabled. The HTTP transport is a `requests.Session` injected through the constructor, so tests
can mount a fake adapter; the clock and sleep used for token expiry and retry backoff are injected too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import requests

from onprem.api.account import AccountEndpoints
from onprem.api.auth import Credentials
from onprem.api.certificates import CertificatesEndpoints
from onprem.api.messaging import MessagingEndpoints
from onprem.api.monitoring import MonitoringEndpoints
from onprem.api.profile import ProfileEndpoints
from onprem.api.settings import SettingsEndpoints
from onprem.api.transport import DEFAULT_RETRY, DEFAULT_TIMEOUT, RetryPolicy, Transport
from onprem.api.users import UsersEndpoints


class ApiClient(
    UsersEndpoints,
    AccountEndpoints,
    SettingsEndpoints,
    CertificatesEndpoints,
    MonitoringEndpoints,
    MessagingEndpoints,
    ProfileEndpoints,
):
    """The REST API of one client deployment.

    `base_url` like `https://127.0.0.1:9090`; `ca_file` is the pinned CA bundle; `api_key` authorises
    health, metrics and stats; a bearer token authorises the rest: from `login`, or obtained (and
    renewed on expiry or 401) with `credentials`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ca_file: Path,
        api_key: str | None = None,
        credentials: Credentials | None = None,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.transport = Transport(
            base_url,
            ca_file=ca_file,
            session=session or requests.Session(),
            api_key=api_key,
            credentials=credentials,
            clock=clock,
            sleep=sleep,
            timeout=timeout,
            retry=retry,
        )

    @property
    def base_url(self) -> str:
        return self.transport.base_url
