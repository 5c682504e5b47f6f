"""The web front relays bytes both ways to the first web container that accepts, on loopback."""

from __future__ import annotations

import asyncio
import socket

from onprem.front import Front, rotated


def test_addresses_rotate_from_a_start_that_wraps() -> None:
    assert rotated(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert rotated(["a", "b", "c"], 4) == ["b", "c", "a"]
    assert rotated([], 3) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read(1024)
    writer.write(b"echo:" + data)
    await writer.drain()
    writer.close()


async def through(front_port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", front_port)
    writer.write(payload)
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(1024), 5)
    except ConnectionResetError:
        answer = b""  # closed with our bytes unread: the kernel resets rather than ends the stream
    writer.close()
    return answer


def test_a_connection_reaches_the_address_that_accepts_when_another_refuses() -> None:
    async def scenario() -> list[bytes]:
        upstream = await asyncio.start_server(echo, "127.0.0.2", 0)
        port = upstream.sockets[0].getsockname()[1]

        async def resolver(_name: str, _port: int) -> list[str]:
            # 127.0.0.3 has nothing listening at `port`: a stopped web container.
            return ["127.0.0.3", "127.0.0.2"]

        front = Front("waweb", port, resolver=resolver)
        servers = await front.listen(["127.0.0.1"], 0)
        front_port = servers[0].sockets[0].getsockname()[1]
        answers = [await through(front_port, f"hello {n}".encode()) for n in range(3)]
        for server in [*servers, upstream]:
            server.close()
        return answers

    assert asyncio.run(scenario()) == [b"echo:hello 0", b"echo:hello 1", b"echo:hello 2"]


def test_a_connection_no_container_accepts_is_closed() -> None:
    async def scenario() -> bytes:
        async def resolver(_name: str, _port: int) -> list[str]:
            return ["127.0.0.3"]

        front = Front("waweb", free_port(), resolver=resolver, connect_timeout=1)
        servers = await front.listen(["127.0.0.1"], 0)
        answer = await through(servers[0].sockets[0].getsockname()[1], b"anyone?")
        servers[0].close()
        return answer

    assert asyncio.run(scenario()) == b""


def test_a_name_that_does_not_resolve_closes_the_connection() -> None:
    async def scenario() -> bytes:
        async def resolver(name: str, _port: int) -> list[str]:
            raise OSError(f"{name}: Name or service not known")

        servers = await Front("waweb", 443, resolver=resolver).listen(["127.0.0.1"], 0)
        answer = await through(servers[0].sockets[0].getsockname()[1], b"anyone?")
        servers[0].close()
        return answer

    assert asyncio.run(scenario()) == b""
