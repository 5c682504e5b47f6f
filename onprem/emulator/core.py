"""The core role: a heartbeat in the shared database, the node's multiconnect role, and the core ports.

Each core process writes its heartbeat row (with its client version, from schema 4) every `interval`
seconds and, in multiconnect, plays its part in the same tick: a coreapp confirms its shard
(`cluster.ShardOwner`), a master competes for the lease and, as primary, keeps the shard map
(`cluster.MasterAgent`). On start it forgets silent rows of earlier containers of its hostname (the
same service, recreated). The ports (6250 messaging, 6251 contacts, 6252 control, 6253 healthcheck)
answer any request with a small JSON naming the node, its kind, version, the shards it serves (a
coreapp) or whether it is primary (a master): HTTP 200, or 503 while its last heartbeat could not be
written (the database is unreachable), which is what the container healthcheck reads. On stop the node
frees its shard or lease and marks itself down at once rather than letting its heartbeat go stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem.emulator.cluster import MasterAgent, ShardOwner
from onprem.emulator.context import Clock
from onprem.emulator.dispatch import EVERY_MESSAGE, NO_MESSAGE, Sending
from onprem.emulator.ha import BEAT, FENCE
from onprem.emulator.hastore import HaStore
from onprem.emulator.store import ClientStateError, DatabaseUnreachable, Store
from onprem.sidecar import listen_hosts

log = logging.getLogger("onprem.emulator.core")

HEARTBEAT_INTERVAL = BEAT
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


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, probe: Callable[[], tuple[int, bytes]]
) -> None:
    try:
        # Read the request head if one comes; a bare TCP probe just connects and closes.
        with contextlib.suppress(
            asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
        ):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
        status, body = probe()
        reason = "OK" if status == 200 else "Service Unavailable"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
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
    """One core process: heartbeat loop (with its multiconnect role) plus port listeners."""

    def __init__(
        self,
        store: Store,
        identity: NodeIdentity,
        *,
        multiconnect: bool = False,
        clock: Clock = time.time,
        interval: float = HEARTBEAT_INTERVAL,
    ) -> None:
        self._store = store
        self._identity = identity
        self._clock = clock
        self._interval = interval
        self._started_at = clock()
        self._servers: list[asyncio.Server] = []
        self._database_ok = True
        self._namesakes_checked = False
        ha = HaStore(store)
        self._ha = ha
        master = identity.kind == "master"
        self.owner = ShardOwner(ha, identity.node_id) if multiconnect and not master else None
        self.master = MasterAgent(store, ha, identity.node_id) if multiconnect and master else None

    def sending(self) -> Sending:
        """Which messages this node's dispatcher moves: all (single instance), its own while it serves
        its shard (a multiconnect coreapp), or none (a master)."""
        if self._identity.kind == "master":
            return NO_MESSAGE
        owner = self.owner
        if owner is None:
            return EVERY_MESSAGE
        return Sending(node=self._identity.node_id, active=lambda now: bool(owner.serving(now)))

    def _beat(self) -> None:
        ident = self._identity
        now = self._clock()
        self._store.heartbeat(
            ident.node_id,
            ident.hostname,
            ident.kind,
            started_at=self._started_at,
            now=now,
            version=ident.version,
        )
        if not self._namesakes_checked:
            self._forget_namesakes(now)
        if self.owner is not None:
            self.owner.tick(now)
        if self.master is not None:
            self.master.tick(now)

    def _forget_namesakes(self, now: float) -> None:
        ident = self._identity
        for old in self._store.forget_replaced(ident.node_id, ident.hostname, silent_since=now - FENCE):
            # A recreated container: the old one is gone, its shard may be given on at once.
            released = self._ha.release(old, fenced_before=now - FENCE)
            log.info("%s replaces %s (%d shard(s) freed for takeover)", ident.node_id, old, released)
        self._namesakes_checked = True

    async def beat(self) -> None:
        """One heartbeat (and multiconnect tick). A database outage is not fatal: the store logs it once,
        the probes answer 503 until a heartbeat is written again, and health shows the node lost."""
        try:
            await asyncio.to_thread(self._beat)
        except DatabaseUnreachable:
            self._database_ok = False
            return
        except ClientStateError as exc:
            self._database_ok = False
            log.warning("heartbeat not recorded: %s", exc)
            return
        self._database_ok = True

    def probe(self) -> tuple[int, bytes]:
        """The answer of the core ports: (HTTP status, JSON body)."""
        ident = self._identity
        body: dict[str, Any] = {
            "node": ident.node_id,
            "role": ident.kind,
            "version": ident.version,
            "database": "ok" if self._database_ok else "unreachable",
        }
        if self.owner is not None:
            body["shards"] = sorted(self.owner.serving(self._clock()))
        if self.master is not None:
            body["primary"] = self.master.primary
        return (200 if self._database_ok else 503), json.dumps(body).encode()

    async def listen(self, host: str, ports: Sequence[int]) -> list[int]:
        """Open the listeners; returns the bound ports (useful with port 0). Raises OSError."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(reader, writer, self.probe)

        bound = []
        for port in ports:
            server = await asyncio.start_server(handle, listen_hosts(host), port, limit=_MAX_HEAD)
            self._servers.append(server)
            bound.append(int(server.sockets[0].getsockname()[1]))
        return bound

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat until `stop` is set, then close the listeners (`close` marks the node down)."""
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

    def _shutdown(self) -> None:
        if self.owner is not None:
            self.owner.release()
        if self.master is not None:
            self.master.release()
        self._store.mark_stopped(self._identity.node_id, self._clock())

    async def close(self) -> None:
        """Once nothing is sent any more: free the shard or the lease and mark the node stopped."""
        try:
            await asyncio.to_thread(self._shutdown)
        except ClientStateError as exc:
            log.warning("could not mark the node stopped: %s", exc)
        log.info("core node %s stopped", self._identity.node_id)
