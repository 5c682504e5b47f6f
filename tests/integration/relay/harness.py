"""Real processes on loopback for relay integration tests: a relay subprocess, a signed-webhook sink, load.

The sink runs in a thread with its own event loop and verifies every Standard Webhooks signature; the
relay is a real `onprem relay serve` process that tests SIGKILL and restart.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from onprem.relay.signing import parse_secrets, verify_headers

PATH_TOKEN = "itest_path_token_0123456789"
SINK_SECRET = "whsec_" + base64.b64encode(b"integration-sink-key-32-bytes!!!").decode()
PAD = "x" * 700


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def message_body(message_id: str) -> bytes:
    """A ~1 KiB On-Prem inbound text message callback carrying `message_id`."""
    return json.dumps(
        {
            "contacts": [{"profile": {"name": "Load"}, "wa_id": "16315551234"}],
            "messages": [
                {
                    "from": "16315551234",
                    "id": message_id,
                    "timestamp": "1518694235",
                    "text": {"body": PAD},
                    "type": "text",
                }
            ],
        }
    ).encode()


@dataclass
class Sink:
    """A downstream endpoint on loopback that records correctly signed deliveries: their exact bytes,
    and how often each On-Prem message id arrived."""

    port: int = field(default_factory=free_port)
    received: Counter[str] = field(default_factory=Counter)
    bodies: list[bytes] = field(default_factory=list)
    bad_signatures: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not verify_headers(parse_secrets(SINK_SECRET), headers, body, now=time.time()):
            self.bad_signatures += 1
            return web.Response(status=401)
        self.bodies.append(body)
        for message in json.loads(body).get("messages", []):
            self.received[message["id"]] += 1
        return web.Response(status=204)

    def start(self) -> None:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/hook", self._hook)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=main, name="relay-sink", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the sink did not start"

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def wait_for(self, count: int, timeout: float = 30) -> None:
        """Wait until `count` signed deliveries have arrived (fails the test after `timeout` s)."""
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count:
            assert time.monotonic() < deadline, f"the sink has {len(self.bodies)} of {count} deliveries"
            time.sleep(0.1)


class RelayProcess:
    """`onprem relay serve` as a child process, with its config and secrets in a directory."""

    def __init__(
        self,
        workdir: Path,
        sink_url: str,
        delivery: dict[str, Any] | None = None,
        store: dict[str, Any] | None = None,
    ) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        token = workdir / "token"
        token.write_text(PATH_TOKEN)
        secret = workdir / "sink_secret"
        secret.write_text(SINK_SECRET)
        for path in (token, secret):
            path.chmod(0o600)
        config = {
            "listen": f"127.0.0.1:{self.port}",
            "onprem": {"path_token_file": str(token)},
            "store": store or {"data_dir": str(workdir / "data")},
            "delivery": {
                "endpoints": [
                    {"name": "sink", "url": sink_url, "secret_file": str(secret), "timeout_seconds": 5}
                ],
                "poll_interval_seconds": 0.2,
                **(delivery or {}),
            },
        }
        self.config = workdir / "relay.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "relay.log"

    @property
    def ingress(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/onprem/{PATH_TOKEN}"

    def start(self, timeout: float = 20) -> None:
        code = "import sys; from onprem.cli import main; main(sys.argv[1:])"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, "relay", "serve", "--settings", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the relay exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the relay did not start listening")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


@dataclass
class Load:
    """Posts unique message ids with bounded concurrency; remembers which ones were acknowledged."""

    url: str
    concurrency: int = 32
    acked: set[str] = field(default_factory=set)
    failed: int = 0
    _next: int = 0

    async def run(self, stop: asyncio.Event, prefix: str) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._worker(session, stop, prefix) for _ in range(self.concurrency)))

    async def _worker(self, session: aiohttp.ClientSession, stop: asyncio.Event, prefix: str) -> None:
        while not stop.is_set():
            self._next += 1
            message_id = f"{prefix}-{self._next}"
            try:
                async with session.post(
                    self.url,
                    data=message_body(message_id),
                    headers={"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as response:
                    await response.read()
                    if response.status == 200:
                        self.acked.add(message_id)
                    else:
                        self.failed += 1
            except (TimeoutError, aiohttp.ClientError, OSError):
                self.failed += 1  # the relay is down (killed): not acknowledged, so not owed
                await asyncio.sleep(0.02)
