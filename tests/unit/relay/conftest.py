"""Relay test helpers: settings with secret files in tmp_path, a recording transport, a running app."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient, TestServer

from onprem.relay.policy import Attempt
from onprem.relay.secretfiles import load_secrets
from onprem.relay.service import Relay, Seams
from onprem.relay.settings import RelaySettings, parse_settings

T = TypeVar("T")
PATH_TOKEN = "tok_0123456789abcdefABCDEF"
APP_SECRET = "It's a Secret to Everybody"
VERIFY_TOKEN = "verify-me-please"
SINK_KEY = b"0123456789abcdef0123456789abcdef"
SINK_SECRET = "whsec_" + base64.b64encode(SINK_KEY).decode()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine on a fresh loop (no pytest-asyncio needed)."""
    return asyncio.run(coro)


def relay_settings(tmp_path: Path, endpoints: int = 1, **overrides: Any) -> RelaySettings:
    """Settings with every secret in a file under tmp_path, cloud ingress on, `endpoints` sinks."""
    (tmp_path / "token").write_text(PATH_TOKEN + "\n")
    (tmp_path / "app_secret").write_text(APP_SECRET)
    (tmp_path / "verify").write_text(VERIFY_TOKEN)
    (tmp_path / "sink_secret").write_text(SINK_SECRET)
    data: dict[str, Any] = {
        "onprem": {"path_token_file": str(tmp_path / "token")},
        "cloud": {
            "enabled": True,
            "app_secret_file": str(tmp_path / "app_secret"),
            "verify_token_file": str(tmp_path / "verify"),
        },
        "store": {"data_dir": str(tmp_path / "data")},
        "delivery": {
            "endpoints": [
                {
                    "name": f"sink{i}",
                    "url": f"http://127.0.0.1:9/{i}",
                    "secret_file": str(tmp_path / "sink_secret"),
                }
                for i in range(endpoints)
            ],
            "poll_interval_seconds": 0.05,
        },
    }
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value}
    return parse_settings(data)


@dataclass
class RecordingTransport:
    """Answers from a script (status per call, last one repeats) and records every request."""

    statuses: list[int | None] = field(default_factory=lambda: [200])
    retry_after: str | None = None
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    arrived: asyncio.Event | None = None
    expect: int = 0

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
        index = min(len(self.calls), len(self.statuses) - 1)
        self.calls.append((url, body, dict(headers)))
        if self.arrived is not None and len(self.calls) >= self.expect:
            self.arrived.set()
        status = self.statuses[index]
        if status is None:
            return Attempt(None, error="ConnectionRefusedError")
        return Attempt(status, self.retry_after)

    async def close(self) -> None:
        return None


@dataclass
class Clock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def running_relay(
    settings: RelaySettings,
    transport: RecordingTransport | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[tuple[TestClient[Any, Any], Relay]]:
    """A relay with its store and dispatcher started, served by aiohttp's TestServer on loopback."""
    seams = Seams(transport=transport or RecordingTransport(), rand=lambda: 0.5)
    if clock is not None:
        seams.clock = clock
    relay = Relay(settings, load_secrets(settings), seams)
    await relay.store.open()
    relay.dispatcher.start(relay.store.disabled)
    server = TestServer(relay.app.build(), host="127.0.0.1")
    # As the service runs it: gzip is the relay's job; idle or slow-header connections end at keepalive.
    await server.start_server(
        auto_decompress=False, keepalive_timeout=settings.limits.keepalive_timeout_seconds
    )
    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    try:
        yield client, relay
    finally:
        await client.close()
        await relay.dispatcher.stop()
        await relay.store.close()
