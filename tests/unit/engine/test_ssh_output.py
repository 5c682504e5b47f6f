"""A command's output over SSH is read to its end, even when its exit status arrives first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onprem.engine.ssh import SshEngine


@dataclass
class LateChannel:
    """Reports its exit status at once but delivers its output in chunks, EOF after the last one (as a
    large `docker inspect` does when the status overtakes the data still in flight)."""

    chunks: list[bytes]
    polls_per_chunk: int = 3
    sent: list[bytes] = field(default_factory=list)
    _polls: int = 0

    def exec_command(self, command: str) -> None:
        self.command = command

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)

    def shutdown_write(self) -> None:
        pass

    def recv_ready(self) -> bool:
        # A chunk becomes readable only every few polls: the data is still on its way.
        self._polls += 1
        return bool(self.chunks) and self._polls % self.polls_per_chunk == 0

    def recv(self, size: int) -> bytes:
        return self.chunks.pop(0)

    def recv_stderr_ready(self) -> bool:
        return False

    @property
    def eof_received(self) -> bool:
        return not self.chunks

    def exit_status_ready(self) -> bool:
        return True

    def recv_exit_status(self) -> int:
        return 0


@dataclass
class Connection:
    channel: LateChannel
    host: str = "wa1"

    def open(self) -> None:
        pass

    @property
    def client(self) -> Any:
        channel = self.channel

        class Transport:
            def open_session(self, timeout: float) -> LateChannel:
                return channel

        class Client:
            def get_transport(self) -> Transport:
                return Transport()

        return Client()


def test_output_still_in_flight_when_the_exit_status_arrives_is_read_to_its_end() -> None:
    chunks = [b'[{"Id": "a"', b', "Name": "b"', b"}]"]
    engine = SshEngine(Connection(LateChannel(list(chunks))), remote_dir="/srv/onprem")
    code, out, err = engine._run(["docker", "inspect", "a"])
    assert (code, out, err) == (0, b"".join(chunks), b"")
