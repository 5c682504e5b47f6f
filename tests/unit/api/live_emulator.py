"""The emulator's web app served over HTTPS on loopback from a background thread, so the real
`ApiClient` (requests, pinned CA) can talk to it in a unit test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from onprem.api.client import ApiClient
from onprem.emulator.context import Clock, WebSettings
from onprem.emulator.store import Store
from onprem.emulator.tls import ensure_certificates, server_ssl_context
from onprem.emulator.web import create_app

ADMIN_PASSWORD = "Adm1n#Contract-pass"


@dataclass(frozen=True)
class LiveEmulator:
    base_url: str
    ca_file: Path

    def admin(self, **kwargs: object) -> ApiClient:
        """An ApiClient logged in as admin (the first login changes the default password)."""
        api = ApiClient(self.base_url, ca_file=self.ca_file, **kwargs)  # type: ignore[arg-type]
        api.login("admin", "secret", new_password=ADMIN_PASSWORD)
        return api


@contextmanager
def live_emulator(
    store: Store, workdir: Path, *, clock: Clock, api_key: str = "k" * 24
) -> Iterator[LiveEmulator]:
    """Serve the emulator over `store` on 127.0.0.1 (a free port) until the block ends."""
    paths = ensure_certificates(workdir / "certs", ["127.0.0.1"])
    settings = WebSettings(
        certs_dir=workdir / "certs", api_key=api_key, data_dir=workdir, media_dir=workdir / "media"
    )
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(store, settings, clock=clock), access_log=None)
    started = threading.Event()
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(paths))
        await site.start()
        server = site._server  # aiohttp does not expose the bound port otherwise
        assert server is not None
        port.append(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        started.set()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert started.wait(10), "the emulator did not start"
    try:
        yield LiveEmulator(f"https://127.0.0.1:{port[0]}", paths.ca)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
