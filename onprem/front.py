"""The web front: a TCP relay that holds the API's published port and passes each connection to one of
the web app's containers, so a web container can be replaced with no moment the port refuses.

Compose publishes a host port for one container only; replacing that container (an upgrade) leaves the
port closed until the new one listens. Kamal solves the same problem with kamal-proxy; here the front
resolves the web service's name for every new connection (Docker's DNS answers with every running
container of the service), tries the addresses in turn from a rotating start, and moves bytes both ways
untouched: TLS ends in the web app, whose certificate and client authentication are unchanged. A
connection that no address accepts is closed. The rolling upgrade starts the new web container beside the
old one, waits for it to be healthy, then stops the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("onprem.front")

CONNECT_TIMEOUT = 2.0
_CHUNK = 64 * 1024

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (in the resolver's order, each once). Raises OSError."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def rotated(addresses: Sequence[str], start: int) -> list[str]:
    """`addresses` from position `start` (modulo their count) round to the one before (pure)."""
    if not addresses:
        return []
    at = start % len(addresses)
    return [*addresses[at:], *addresses[:at]]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class Front:
    """Accepts connections and relays each to the first address of the upstream name that accepts."""

    def __init__(
        self,
        upstream: str,
        port: int,
        *,
        resolver: Resolver = resolve,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._upstream = upstream
        self._port = port
        self._resolve = resolver
        self._timeout = connect_timeout
        self._turn = itertools.count()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            addresses = await self._resolve(self._upstream, self._port)
        except OSError as exc:
            log.warning("cannot resolve %s: %s", self._upstream, exc)
            return None
        for address in rotated(addresses, next(self._turn)):
            try:
                return await asyncio.wait_for(asyncio.open_connection(address, self._port), self._timeout)
            except (TimeoutError, OSError) as exc:
                log.info("%s:%d refused (%s); trying the next web container", address, self._port, exc)
        log.warning("no container of %s accepts on port %d", self._upstream, self._port)
        return None

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """Relay one client connection until both directions have ended."""
        upstream = await self._connect()
        if upstream is None:
            client_writer.close()
            return
        up_reader, up_writer = upstream
        try:
            await asyncio.gather(_pipe(client_reader, up_writer), _pipe(up_reader, client_writer))
        finally:
            for writer in (up_writer, client_writer):
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()

    async def listen(self, hosts: Sequence[str], port: int) -> list[asyncio.Server]:
        """Open a listener on each of `hosts` at `port` (0: any free port). Raises OSError."""
        return [await asyncio.start_server(self.handle, host, port) for host in hosts]


async def serve(listen_hosts: Sequence[str], port: int, upstream: str, upstream_port: int) -> None:
    """Relay connections on `listen_hosts`:`port` to `upstream`:`upstream_port` until cancelled.

    Raises OSError when it cannot listen."""
    front = Front(upstream, upstream_port)
    servers = await front.listen(listen_hosts, port)
    log.info("front on %s:%d -> %s:%d", ",".join(listen_hosts), port, upstream, upstream_port)
    try:
        await asyncio.gather(*(server.serve_forever() for server in servers))
    finally:
        for server in servers:
            server.close()
