"""Deploy to a remote host over SSH: real sshd, Fabric, SFTP, an SSH tunnel, images copied over SSH.

Two remotes: this machine through its own sshd on 127.0.0.1 (same engine: the remote path of bundle,
secrets, compose, tunnel and host keys), and an isolated host, a network namespace with its own empty
Docker engine and sshd, to which the deploy must first copy every image it needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require
from tests.integration.conftest import free_port, free_ports
from tests.integration.remote.isolated_host import isolated_host

SSHD = Path("/usr/sbin/sshd")


@dataclass
class Sshd:
    port: int
    key: Path
    known_hosts: Path


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    require(SSHD.exists(), "sshd is not installed (make tools installs openssh-server)")
    require(os.geteuid() == 0, "sshd for the remote tests runs as root")
    home = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    port = free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\nPidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "AllowTcpForwarding local\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(home / "sshd_config")], stderr=subprocess.PIPE, text=True
    )
    host_key = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    deadline = time.monotonic() + 10
    while subprocess.run(
        ["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, check=False
    ).returncode:
        assert process.poll() is None, process.stderr.read() if process.stderr else "sshd exited"
        assert time.monotonic() < deadline, "sshd did not answer within 10 s"
        time.sleep(0.1)
    yield Sshd(port=port, key=home / "client_key", known_hosts=home / "known_hosts")
    process.terminate()
    process.wait(timeout=10)


def onprem(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")}
    return subprocess.run(
        [sys.executable, "-m", "onprem.cli", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def remote_config(tmp_path: Path, address: str, key: Path, name: str, known_hosts: Path) -> None:
    web, relay, exporter, prom = free_ports(4)
    (tmp_path / "onprem.yaml").write_text(
        f"deployment:\n  name: {name}\n  timeout_seconds: 240\n"
        f"hosts:\n  - name: remote\n    address: ssh://{address}\n"
        f"    identity_file: {key}\n    known_hosts_file: {known_hosts}\n"
        f"    remote_dir: {tmp_path / 'remote'}\n"
        f"network:\n  web_port: {web}\n  relay_port: {relay}\n  exporter_port: {exporter}\n"
        f"  prometheus_port: {prom}\n"
    )


def test_deploy_over_ssh_copies_the_bundle_privately_and_gates_through_a_tunnel(
    tmp_path: Path, sshd: Sshd, stack_images: None
) -> None:
    remote_config(tmp_path, f"root@127.0.0.1:{sshd.port}", sshd.key, "it-remote", sshd.known_hosts)
    try:
        done = onprem(tmp_path, "deploy", "--json")
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        assert document["healthy"] is True
        assert document["api"]["health"] == {"gateway_status": "unregistered"}
        secrets = tmp_path / "remote" / "it-remote" / "secrets"
        assert secrets.stat().st_mode & 0o777 == 0o700
        assert (secrets / "WA_DB_PASSWORD").stat().st_mode & 0o777 == 0o600
        assert (secrets / "WA_DB_PASSWORD").read_text() == (
            tmp_path / ".onprem" / "it-remote" / "secrets" / "WA_DB_PASSWORD"
        ).read_text()
        assert (tmp_path / "remote" / "it-remote" / "bundle" / "compose.yaml").is_file()
        status = onprem(tmp_path, "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["api"]["health"] == {"gateway_status": "unregistered"}
        assert "nothing changed" in onprem(tmp_path, "deploy").stdout
        assert "copying" not in done.stderr, "the host is this machine: it has every image already"
    finally:
        down = onprem(tmp_path, "down", "--volumes", "--yes")
    assert down.returncode == 0, down.stderr


def test_a_host_whose_key_is_not_known_is_refused(tmp_path: Path, sshd: Sshd, docker_engine: None) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    remote_config(tmp_path, f"root@127.0.0.1:{sshd.port}", sshd.key, "it-remote-unknown", empty)
    done = onprem(tmp_path, "deploy")
    assert done.returncode == 3
    assert "not found in known_hosts" in done.stderr
    assert not (tmp_path / "remote").exists()


def test_deploy_to_a_host_without_the_images_copies_them_over_ssh_then_runs_there(
    tmp_path: Path, stack_images: None
) -> None:
    with isolated_host(tmp_path) as host:
        assert host.docker("image", "ls", "-q").stdout == "", "the isolated engine starts empty"
        remote_config(tmp_path, host.address, host.key, "it-isolated", host.known_hosts)
        try:
            started = time.monotonic()
            done = onprem(tmp_path, "deploy", "--json")
            took = time.monotonic() - started
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["api"]["health"] == {"gateway_status": "unregistered"}
            copied = [line for line in done.stderr.splitlines() if line.startswith("copying")]
            assert copied, done.stderr
            assert "onprem/mysql:8.0" in copied[0]
            remote_images = host.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
            assert {"onprem/mysql:8.0", "onprem/onprem:0.1.0", "onprem-emulator/web:v2.57.2"} <= set(
                remote_images
            )
            running = host.docker("ps", "--format", "{{.Names}}").stdout.split()
            assert "it-isolated-waweb-1" in running
            print(f"\nisolated host: deploy with image copy took {took:.1f} s ({copied[0]})")
            again = onprem(tmp_path, "deploy", "--set", "deployment.timeout_seconds=241")
            assert again.returncode == 0, again.stderr
            assert "copying" not in again.stderr, "the host has every image now"
        finally:
            down = onprem(tmp_path, "down", "--volumes", "--yes")
        assert down.returncode == 0, down.stderr
