"""A second machine for the remote tests: a network namespace with its own Docker engine and sshd.

The namespace gets a veth pair (10.251.N.1 on this side, 10.251.N.2 inside), a dockerd with its own data
root, exec root and socket (started with `nsenter --net` only, so it still sees the host's cgroup mounts)
and an sshd listening on 10.251.N.2 whose sessions get DOCKER_HOST pointing at that engine. Its engine
starts empty: whatever images a deploy needs must travel over SSH.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require

SSHD = Path("/usr/sbin/sshd")
SSH_PORT = 2222


@dataclass(frozen=True)
class IsolatedHost:
    address: str
    key: Path
    known_hosts: Path
    docker_host: str
    netns: str = ""
    ip: str = ""
    """The host's own address inside its namespace (what other hosts reach it at)."""
    gateway: str = ""
    """This machine's end of the host's link."""
    dockerd_pid: int = 0

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this host's engine."""
        env = {**os.environ, "DOCKER_HOST": self.docker_host}
        return subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, check=False, timeout=120
        )


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _wait(what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while not ready():
        assert proc.poll() is None, f"{what} exited: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"{what} did not start within 30 s: {log.read_text()[-2000:]}"
        time.sleep(0.2)


@contextmanager
def isolated_host(workdir: Path) -> Iterator[IsolatedHost]:
    """Create the namespace, its engine and its sshd; tear all of it down afterwards."""
    require(os.geteuid() == 0, "an isolated host needs root (network namespaces, dockerd)")
    for tool in ("ip", "nsenter", "dockerd", "ssh-keygen"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    require(SSHD.exists(), "sshd is not installed (make tools installs openssh-server)")
    # A number no other run on this machine uses (its namespace or data root would be ours to delete).
    free = [
        i
        for i in range(1, 250)
        if not Path(f"/var/run/netns/onprem-it-{i}").exists()
        and not Path(f"/var/lib/onprem-it-host-{i}").exists()
    ]
    require(bool(free), "no free isolated-host number (1-249): remove stale onprem-it-* namespaces")
    n = random.choice(free)
    netns, outside, inside = f"onprem-it-{n}", f"onit{n}a", f"onit{n}b"
    address = f"10.251.{n}.2"
    root = Path(f"/var/lib/onprem-it-host-{n}")  # overlay2 needs a real filesystem, not tmpfs
    sock = root / "docker.sock"
    procs: list[subprocess.Popen[bytes]] = []
    created = False
    try:
        _sh("ip", "netns", "add", netns)
        created = True
        _sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        _sh("ip", "link", "set", inside, "netns", netns)
        _sh("ip", "addr", "add", f"10.251.{n}.1/30", "dev", outside)
        _sh("ip", "link", "set", outside, "up")
        for argv in (["addr", "add", f"{address}/30", "dev", inside], ["link", "set", inside, "up"]):
            _sh("ip", "-n", netns, *argv)
        _sh("ip", "-n", netns, "link", "set", "lo", "up")
        enter = ["nsenter", f"--net=/var/run/netns/{netns}"]
        root.mkdir(parents=True, exist_ok=True)
        dockerd_log = workdir / "dockerd.log"
        with dockerd_log.open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [*enter, "dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
                     "--pidfile", str(root / "dockerd.pid"), "-H", f"unix://{sock}"],
                    stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
        _wait(
            "the isolated dockerd",
            lambda: (
                subprocess.run(["docker", "info"], env=env, capture_output=True, check=False).returncode == 0
            ),
            procs[-1],
            dockerd_log,
        )
        home = workdir / "sshd"
        home.mkdir()
        for name in ("host_key", "client_key"):
            _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name))
        (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
        (home / "sshd_config").write_text(
            f"Port {SSH_PORT}\nListenAddress {address}\nHostKey {home / 'host_key'}\n"
            f"PidFile {home / 'sshd.pid'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            f"UsePAM no\nStrictModes no\nAllowTcpForwarding local\nSubsystem sftp internal-sftp\n"
            f"SetEnv DOCKER_HOST=unix://{sock}\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd_log = workdir / "sshd.log"
        with sshd_log.open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [*enter, str(SSHD), "-D", "-e", "-f", str(home / "sshd_config")], stdout=log, stderr=log
                )
            )
        scan = ["ssh-keyscan", "-p", str(SSH_PORT), address]
        _wait(
            "the isolated sshd",
            lambda: subprocess.run(scan, capture_output=True, check=False).returncode == 0,
            procs[-1],
            sshd_log,
        )
        kind, key = (home / "host_key.pub").read_text().split()[:2]
        (home / "known_hosts").write_text(f"[{address}]:{SSH_PORT} {kind} {key}\n")
        yield IsolatedHost(
            f"root@{address}:{SSH_PORT}",
            home / "client_key",
            home / "known_hosts",
            f"unix://{sock}",
            netns=netns,
            ip=address,
            gateway=f"10.251.{n}.1",
            dockerd_pid=procs[0].pid,
        )
    finally:
        for proc in reversed(procs):
            proc.terminate()
            with suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        if created:  # never another run's namespace, link or data root
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
            subprocess.run(["ip", "link", "del", outside], capture_output=True, check=False)
            shutil.rmtree(root, ignore_errors=True)
