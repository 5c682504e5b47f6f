"""The core role: port listeners answering probes, container id discovery, heartbeats that survive outages."""

from __future__ import annotations

import asyncio
from pathlib import Path

from onprem.emulator.core import CoreNode, NodeIdentity, container_id
from onprem.emulator.dbconnect import Dialect
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock

IDENTITY = NodeIdentity("wacore", "0123456789ab", "coreapp", "v2.57.2")


def test_listeners_answer_http_and_bare_tcp_probes(store: Store, clock: FakeClock) -> None:
    node = CoreNode(store, IDENTITY, clock=clock)

    async def main() -> tuple[list[int], bytes]:
        ports = await node.listen("127.0.0.1", [0, 0, 0, 0])
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[3])
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await reader.read()
        writer.close()
        _, probe = await asyncio.open_connection("127.0.0.1", ports[0])
        probe.close()
        stop = asyncio.Event()
        stop.set()
        await node.run(stop)
        return ports, answer

    ports, answer = asyncio.run(main())
    assert len(set(ports)) == 4
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert answer.endswith(
        b'{"node": "wacore:0123456789ab", "role": "coreapp", "version": "v2.57.2", "database": "ok"}'
    )


def test_run_heartbeats_and_close_marks_the_node_stopped(store: Store, clock: FakeClock) -> None:
    node = CoreNode(store, IDENTITY, clock=clock, interval=0.01)

    async def main() -> list[bool]:
        stop = asyncio.Event()
        task = asyncio.create_task(node.run(stop))
        await asyncio.sleep(0.05)
        running = [(n.stopped, n.version) for n in store.nodes()]
        stop.set()
        await task
        await node.close()
        return running + [(n.stopped, n.version) for n in store.nodes()]

    assert asyncio.run(main()) == [(False, "v2.57.2"), (True, "v2.57.2")]


def test_a_database_outage_does_not_stop_the_heartbeat_loop(clock: FakeClock) -> None:
    def down() -> object:
        raise ConnectionRefusedError("db down")

    node = CoreNode(Store(down, Dialect("SQLITE")), IDENTITY, clock=clock, interval=0.01)  # type: ignore[arg-type]

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(node.run(stop))
        await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(main())  # returns: outages are logged, never raised


def test_container_id_comes_from_docker_mountinfo(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    cid = "4f1c2a9be0d3" + "7" * 52
    mountinfo.write_text(
        "611 590 0:52 / / rw,relatime - overlay overlay rw\n"
        f"640 611 254:1 /var/lib/docker/containers/{cid}/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n"
    )
    assert container_id(mountinfo) == "4f1c2a9be0d3"


def test_outside_a_container_the_fallback_is_used(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text("22 1 0:21 / /proc rw - proc proc rw\n")
    assert container_id(tmp_path / "mountinfo", fallback="host") == "host"
    assert container_id(tmp_path / "missing", fallback="host") == "host"
