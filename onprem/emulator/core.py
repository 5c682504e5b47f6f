"""The core role: a heartbeat in the shared database and listeners on the coreapp ports.

Each core process writes its heartbeat row (with its client version, from schema 4) every `interval`
seconds; the web role reads those rows to report health. The ports (6250 messaging, 6251 contacts,
6252 control, 6253 healthcheck) answer any request with a small HTTP 200 naming the node, its role and
version, enough for TCP and HTTP liveness probes. On stop the node marks itself
down at once rather than letting its heartbeat go stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from onprem.emulator.context import Clock
from onprem.emulator.store import ClientStateError, Store
from onprem.sidecar import listen_hosts

log = logging.getLogger("onprem.emulator.core")

HEARTBEAT_INTERVAL = 1.0
_READ_TIMEOUT = 5.0
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class NodeIdentity:
    """How this core node appears in health: `<hostname>:<container-id>`, its kind and client version."""

    hostname: str
    container_id: str
    kind: str  # "master" or "coreapp"
    version: str = ""

    @property
    def node_id(self) -> str:
        return f"{self.hostname}:{self.container_id}"


def container_id(mountinfo: Path = Path("/proc/self/mountinfo"), fallback: str = "") -> str:
    """The short (12 hex) Docker container id of this process, or `fallback` outside a container.

    Docker bind-mounts /etc/hostname from `/var/lib/docker/containers/<id>/hostname`; that path is in
    mountinfo whatever hostname compose set.
    """
    try:
        text = mountinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return fallback
    for line in text.splitlines():
        marker = "/containers/"
        if marker in line and "/hostname " in line:
            candidate = line.split(marker, 1)[1].split("/", 1)[0]
            if len(candidate) >= 12 and all(c in "0123456789abcdef" for c in candidate):
                return candidate[:12]
    return fallback


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> None:
    try:
        # Read the request head if one comes; a bare TCP probe just connects and closes.
        with contextlib.suppress(
            asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
        ):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body)
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


class CoreNode:
    """One core process: heartbeat loop plus port listeners, stopped by setting an event."""

    def __init__(
        self,
        store: Store,
        identity: NodeIdentity,
        *,
        clock: Clock = time.time,
        interval: float = HEARTBEAT_INTERVAL,
    ) -> None:
        self._store = store
        self._identity = identity
        self._clock = clock
        self._interval = interval
        self._started_at = clock()
        self._servers: list[asyncio.Server] = []

    async def beat(self) -> None:
        """Write one heartbeat; a database outage is logged, not fatal (health shows the node down)."""
        ident = self._identity
        try:
            await asyncio.to_thread(
                self._store.heartbeat,
                ident.node_id,
                ident.hostname,
                ident.kind,
                started_at=self._started_at,
                now=self._clock(),
                version=ident.version,
            )
        except ClientStateError as exc:
            log.warning("heartbeat not recorded: %s", exc)

    async def listen(self, host: str, ports: Sequence[int]) -> list[int]:
        """Open the listeners; returns the bound ports (useful with port 0). Raises OSError."""
        ident = self._identity
        body = json.dumps({"node": ident.node_id, "role": ident.kind, "version": ident.version}).encode()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(reader, writer, body)

        bound = []
        for port in ports:
            server = await asyncio.start_server(handle, listen_hosts(host), port, limit=_MAX_HEAD)
            self._servers.append(server)
            bound.append(int(server.sockets[0].getsockname()[1]))
        return bound

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat until `stop` is set, then mark the node down and close the listeners."""
        ident = self._identity
        log.info("core node %s (%s, client %s) up", ident.node_id, ident.kind, ident.version or "unknown")
        try:
            while not stop.is_set():
                await self.beat()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)
        finally:
            for server in self._servers:
                server.close()
            try:
                await asyncio.to_thread(self._store.mark_stopped, self._identity.node_id, self._clock())
            except ClientStateError as exc:
                log.warning("could not mark the node stopped: %s", exc)
            log.info("core node %s stopped", self._identity.node_id)
