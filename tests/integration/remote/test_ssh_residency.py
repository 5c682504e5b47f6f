"""`onprem residency` over SSH: a deployment on a host reached through a real sshd (this machine's own,
on loopback) is probed over that connection: its volumes, its copy of the secrets; when the host stops
answering, the report says so and the command still exits 0."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.integration.conftest import free_port
from tests.integration.remote.test_ssh_deploy import Sshd, onprem, remote_config, sshd  # noqa: F401

NAME = "it-residency-ssh"


def test_a_remote_host_is_probed_over_ssh_and_a_silent_one_is_reported(
    tmp_path: Path,
    sshd: Sshd,  # noqa: F811
    stack_images: None,
) -> None:
    remote_config(tmp_path, f"root@127.0.0.1:{sshd.port}", sshd.key, NAME, sshd.known_hosts)
    try:
        deployed = onprem(tmp_path, "deploy")
        assert deployed.returncode == 0, deployed.stderr
        done = onprem(tmp_path, "residency", "--json")
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        classes = {c["name"]: c for c in document["data_classes"]}

        assert document["hosts"][0]["name"] == "remote"
        assert document["hosts"][0]["reachable"] is True
        assert document["api"]["reachable"] is True
        media = classes["media"]["locations"][0]
        assert (media["host"], media["volume"]) == ("remote", f"{NAME}_whatsappMedia")
        assert os.path.exists(media["path"]), "the remote host is this machine: its Mountpoint is here"
        copy = next(loc for loc in classes["secrets"]["locations"] if loc["host"] == "remote")
        assert copy["path"] == str(tmp_path / "remote" / NAME / "secrets")
        assert copy["access"]["mode"] == "0700"
        assert "WA_DB_PASSWORD (0600)" in copy["files"]
        assert ("host remote", f"ssh://root@127.0.0.1:{sshd.port}") in [
            (e["to"], e["endpoint"]) for e in classes["secrets"]["egress"]
        ]
        secret = (tmp_path / ".onprem" / NAME / "secrets" / "WA_DB_PASSWORD").read_text().strip()
        assert secret not in done.stdout + done.stderr

        # The same deployment through an address where nothing answers.
        silent = tmp_path / "silent.yaml"
        text = (tmp_path / "onprem.yaml").read_text()
        silent.write_text(text.replace(f":{sshd.port}", f":{free_port()}"))
        lost = onprem(tmp_path, "residency", "--json", "--config", str(silent))
        assert lost.returncode == 0, lost.stderr
        report = json.loads(lost.stdout)
        assert report["hosts"][0]["reachable"] is False
        assert "cannot reach" in report["hosts"][0]["error"]
        assert report["api"]["reachable"] is False
        notes = {c["name"]: c["notes"] for c in report["data_classes"]}
        assert "host remote did not answer: what it holds is not listed" in notes["media"]
    finally:
        down = onprem(tmp_path, "down", "--volumes", "--yes")
    assert down.returncode == 0, down.stderr
