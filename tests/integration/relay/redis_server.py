"""A real Redis (Debian's redis-server, `make tools`) on loopback, durable like production: AOF, fsync always.

Its password is in a 0600 config file, never on a command line.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.conftest import require
from tests.integration.relay.harness import free_port

PASSWORD = "itest-redis-password-0123456789"


class RedisServer:
    """redis-server in `workdir`, on a free loopback port, with a password."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.password_file = workdir / "redis-password"
        self.password_file.write_text(PASSWORD)
        self.password_file.chmod(0o600)
        self.conf = workdir / "redis.conf"
        self.conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {workdir}",
                    "appendonly yes",
                    "appendfsync always",
                    'save ""',
                    f"requirepass {PASSWORD}",
                    f"logfile {workdir / 'redis.log'}",
                ]
            )
            + "\n"
        )
        self.conf.chmod(0o600)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=PASSWORD)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        require(
            binary is not None, "redis-server is not installed (make tools: apt-get install redis-server)"
        )
        assert binary is not None
        self.proc = subprocess.Popen([binary, str(self.conf)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError(
            f"redis-server did not start: {(self.workdir / 'redis.log').read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(15)
            self.proc = None
