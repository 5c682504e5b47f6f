"""`onprem residency` on the real engine: the default stack (with monitoring) deployed, a backup made,
then every data class names a path on this machine that exists, with the mode and device the machine
itself reports; after a migration's record appears, the Cloud region is named too. No secret value is
in any of the outputs (JSON, Markdown, table)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_deploy import Deployment, make_deployment

LOCAL_HOSTS = ("local", "this-machine")


@pytest.fixture
def deployment(tmp_path: Path, stack_images: None) -> Iterator[Deployment]:
    dep = make_deployment(tmp_path, "it-residency", "monitoring:\n  enabled: true\n")
    yield dep
    dep.run("down", "--volumes", "--yes")


def _classes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in document["data_classes"]}


def _local_paths(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [loc for loc in entry["locations"] if loc["host"] in LOCAL_HOSTS and loc["path"]]


def _secret_values(deployment: Deployment) -> list[str]:
    secrets = deployment.state / "secrets"
    values = [p.read_text().strip() for p in secrets.iterdir() if p.is_file()]
    return [v for v in values if len(v) >= 8]


def test_every_data_class_names_an_existing_path_with_its_real_mode_and_device(
    deployment: Deployment,
) -> None:
    deployment.run("deploy", check=True)
    deployment.run("backup", check=True)

    done = deployment.run("residency", "--json", check=True)
    document = json.loads(done.stdout)
    classes = _classes(document)

    assert document["schema_version"] == 1
    assert document["hosts"][0]["reachable"] is True
    assert document["api"] == {"error": None, "reachable": True}
    absent = sorted(name for name, entry in classes.items() if not entry["present"])
    assert absent == ["cloud_region"], "only the Cloud region is missing before a migration"
    for name, entry in classes.items():
        if not entry["present"]:
            continue
        located = _local_paths(entry)
        assert located, f"{name} names no path on this machine"
        for location in located:
            path = location["path"]
            assert os.path.exists(path), f"{name}: {path} does not exist"
            assert location["exists"] is True
            assert location["access"]["mode"] == f"{os.stat(path).st_mode & 0o7777:04o}", path
            source = subprocess.run(
                ["findmnt", "-n", "-T", path, "-o", "SOURCE"], capture_output=True, text=True, check=True
            ).stdout.strip()
            assert location["device"] == source.split("[")[0], path
            chain = subprocess.run(
                ["lsblk", "-n", "-s", "-o", "TYPE,FSTYPE", location["device"]],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            crypt = "crypt" in chain.split() or "crypto_LUKS" in chain.split()
            assert location["encryption"]["detected"] is crypt, path
            expected = "dm-crypt/LUKS detected" if crypt else "not detected, attest"
            assert location["encryption"]["status"] == expected

    db = classes["messages_contacts"]["locations"][0]
    inspect = subprocess.run(
        ["docker", "volume", "inspect", "it-residency_mysqlData"], capture_output=True, text=True, check=True
    )
    assert db["path"] == json.loads(inspect.stdout)[0]["Mountpoint"]
    assert classes["backups"]["retention"]["settings"] == {"count": 1}
    assert classes["prometheus_data"]["locations"][0]["volume"] == "it-residency_prometheusData"
    assert classes["messages_contacts"]["readers"]["api_users"] == [{"role": "ADMIN", "username": "admin"}]

    secrets = _secret_values(deployment)
    assert secrets, "the deploy generated secrets"
    outputs = [done.stdout + done.stderr]
    for flags in (["--markdown"], []):
        again = deployment.run("residency", *flags, check=True)
        outputs.append(again.stdout + again.stderr)
    for text in outputs:
        for value in secrets:
            assert value not in text, "a secret value appears in the residency output"


def test_after_a_migration_the_cloud_region_is_named_from_the_state_record(deployment: Deployment) -> None:
    deployment.run("deploy", check=True)
    record = deployment.state / "migration.json"
    # The record as `onprem migrate cloud` writes it (tests/integration/cloud/test_migrate.py makes a real one).
    steps = {"backup": {"at": "2026-11-30T10:00:00+00:00"}, "register": {"region": "DE"}}
    record.write_text(json.dumps({"phone_number_id": "106540352242922", "steps": steps}))

    document = json.loads(deployment.run("residency", "--json", check=True).stdout)

    cloud = _classes(document)["cloud_region"]
    assert cloud["present"] is True
    assert cloud["locations"][0]["detail"] == "data_localization_region DE"
    assert cloud["locations"][1]["path"] == str(record)
    assert os.path.exists(cloud["locations"][1]["path"])
    assert document["migration"] == {
        "phone_number_id": "106540352242922",
        "region": "DE",
        "state": "in progress: backup, register done",
    }
    egress = [(e["to"], e["endpoint"]) for e in _classes(document)["messages_contacts"]["egress"]]
    assert ("Cloud API", "https://graph.facebook.com") in egress
