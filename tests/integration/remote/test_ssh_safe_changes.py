"""Safe changes on a host reached over SSH (this machine through its own sshd): an uploaded chain reaches
the exporter's trust through the engine (the exporter reports `whatsapp_up 1`), and a db_password
rotation runs its SQL in the remote db container and syncs the new secret, never the kept old one."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import yaml

from tests.integration.remote.test_ssh_deploy import Sshd, onprem, remote_config, sshd

__all__ = ["sshd"]  # the module's sshd fixture, shared


def exporter_up(workdir: Path, timeout: float = 60) -> float:
    port = yaml.safe_load((workdir / "onprem.yaml").read_text())["network"]["exporter_port"]
    deadline = time.monotonic() + timeout
    value = -1.0
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=15) as answer:
            for line in answer.read().decode().splitlines():
                if line.startswith("whatsapp_up"):
                    value = float(line.split()[-1])
        if value == 1.0 or time.monotonic() > deadline:
            return value
        time.sleep(1)


def test_upload_and_rotation_over_ssh_keep_the_stack_and_the_exporter_up(
    tmp_path: Path, sshd: Sshd, stack_images: None
) -> None:
    remote_config(tmp_path, f"root@127.0.0.1:{sshd.port}", sshd.key, "it-remote-safe", sshd.known_hosts)
    remote = tmp_path / "remote" / "it-remote-safe"
    try:
        for command in (["certs", "issue"], ["deploy"]):
            done = onprem(tmp_path, *command, "--json")
            assert done.returncode == 0, done.stderr

        chain = tmp_path / ".onprem" / "it-remote-safe" / "certs" / "web-bundle.pem"
        uploaded = onprem(tmp_path, "certs", "upload", "--chain", str(chain), "--json")
        assert uploaded.returncode == 0, uploaded.stderr
        assert json.loads(uploaded.stdout)["exporter"] == "trusts the uploaded root"
        assert exporter_up(tmp_path) == 1.0

        (tmp_path / "db.secret").write_text("Remote-rotated-password-0123\n")
        config = tmp_path / "onprem.yaml"
        config.write_text(
            config.read_text()
            + f"secrets:\n  db_password:\n    source: file\n    path: {tmp_path / 'db.secret'}\n"
        )
        refused = onprem(tmp_path, "deploy")
        assert refused.returncode == 2
        assert "onprem secrets rotate db_password" in refused.stderr
        rotated = onprem(tmp_path, "secrets", "rotate", "db_password", "--json")
        assert rotated.returncode == 0, rotated.stderr
        assert json.loads(rotated.stdout)["status"] == "rotated"
        assert (remote / "secrets" / "WA_DB_PASSWORD").read_text() == "Remote-rotated-password-0123"
        assert not (remote / "secrets-previous").exists()
        assert not list((remote / "secrets").glob("*previous*"))
        status = onprem(tmp_path, "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        assert exporter_up(tmp_path) == 1.0
    finally:
        down = onprem(tmp_path, "down", "--volumes", "--yes")
    assert down.returncode == 0, down.stderr
