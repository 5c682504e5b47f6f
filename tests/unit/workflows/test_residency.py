"""`residency` gathers its facts read-only: each host's volumes and containers and each path's mode,
mount and device chain through the host's runner, the client's settings and users through its API;
a host or an API that does not answer is reported, never raised. The CLI prints JSON or Markdown."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from onprem.errors import ApiError
from onprem.residency import report_document
from onprem.workflows.residency import residency
from tests.unit.fakes import RecordingEngine, make_deployment
from tests.unit.residency.fakes import LUKS_UNDER_LVM, Disk, FakeHost, container, volume

READ_ONLY = {"stat", "findmnt", "lsblk", "cat", "find"}
DOCKER_READ_ONLY = {("info",), ("volume", "ls"), ("volume", "inspect"), ("ps",), ("inspect",)}


@dataclass
class HostEngine(RecordingEngine):
    """The deployment's engine, running its host's commands on a scripted host."""

    host: FakeHost = field(default_factory=FakeHost)

    def run(
        self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None, timeout: float = 900
    ) -> tuple[int, bytes, bytes]:
        return self.host.run(argv, stdin=stdin, timeout=timeout)


@dataclass
class SettingsApi:
    application: dict[str, Any] | None = None

    def get_application_settings(self) -> dict[str, Any]:
        if self.application is None:
            raise ApiError(
                "GET /v1/settings/application: connection refused", endpoint="GET /v1/settings/application"
            )
        return self.application

    def get_user(self, username: str) -> dict[str, Any]:
        return {"username": username, "ROLES": "ADMIN"}


def stack_host() -> FakeHost:
    volumes = [volume("unit", v) for v in ("mysqlData", "whatsappMedia", "waentData", "relayData")]
    volumes[0] = volume("unit", "mysqlData", root="/srv/docker")
    paths = {v["Mountpoint"]: ("755", "root", "root", 0, 0) for v in volumes}
    paths["/var/lib/docker/containers"] = ("710", "root", "root", 0, 0)
    return FakeHost(
        paths=paths,
        disks=[
            Disk("/", "/dev/vda"),
            Disk("/srv", "/dev/mapper/vg-data", maj_min="253:1", lsblk=LUKS_UNDER_LVM),
        ],
        volumes=volumes,
        containers=[container("unit", "wacore"), container("unit", "relay")],
    )


def this_machine(state: Path) -> FakeHost:
    (state / "secrets").mkdir(parents=True, exist_ok=True)
    (state / "secrets" / "WA_API_KEY").write_text("k" * 40)
    (state / "secrets" / "WA_API_KEY").chmod(0o600)
    return FakeHost(
        paths={str(state / "secrets"): ("700", "ops", "ops", 1000, 1000)},
        files={str(state / "secrets"): [("WA_API_KEY", "600"), ("WA_DB_PASSWORD", "600")]},
    )


def _ready(tmp_path: Path, api: Any) -> Any:
    deployment = make_deployment(tmp_path, HostEngine(host=stack_host()), api)
    state = deployment.state.root
    (state / "ca.pem").parent.mkdir(parents=True, exist_ok=True)
    (state / "ca.pem").write_text("CA")
    local = this_machine(state)
    (state / "secrets" / "WA_ADMIN_PASSWORD").write_text("Adm1n-pass!")
    return deployment, local


def test_the_report_reads_volumes_devices_and_encryption_through_the_hosts_runner(tmp_path: Path) -> None:
    api = SettingsApi(
        {"garbagecollector_enable": {"messages": False, "media": True}, "webhooks": {"url": ""}}
    )
    deployment, local = _ready(tmp_path, api)

    document = report_document(residency(deployment, local=local))

    entry = {c["name"]: c for c in document["data_classes"]}
    db = entry["messages_contacts"]["locations"][0]
    assert (db["host"], db["volume"], db["path"]) == (
        "local",
        "unit_mysqlData",
        "/srv/docker/volumes/unit_mysqlData/_data",
    )
    assert (db["device"], db["mount"], db["encryption"]["detected"]) == ("/dev/mapper/vg-data", "/srv", True)
    media = entry["media"]["locations"][0]
    assert (media["device"], media["encryption"]["status"]) == ("/dev/vda", "not detected, attest")
    assert media["access"] == {"mode": "0755", "owner": "root (uid 0)", "group": "root (gid 0)"}
    assert entry["messages_contacts"]["retention"]["settings"] == {"garbagecollector_enable.messages": False}
    assert entry["messages_contacts"]["readers"]["api_users"] == [{"role": "ADMIN", "username": "admin"}]
    secrets = entry["secrets"]["locations"][0]
    assert secrets["files"] == ["WA_API_KEY (0600)", "WA_DB_PASSWORD (0600)"]
    assert entry["backups"]["locations"][0]["exists"] is False
    assert [f.split(":")[0] for f in entry["container_logs"]["locations"][0]["files"]] == [
        "unit-relay-1",
        "unit-wacore-1",
    ]
    assert document["hosts"][0]["reachable"] is True
    assert document["api"] == {"error": None, "reachable": True}
    text = json.dumps(document)
    assert "k" * 40 not in text
    assert "Adm1n-pass!" not in text


def test_only_read_only_commands_run_and_a_device_chain_is_read_once(tmp_path: Path) -> None:
    deployment, local = _ready(tmp_path, SettingsApi({}))
    residency(deployment, local=local)
    calls = deployment.engine.host.calls + local.calls
    for argv in calls:
        if argv[0] == "docker":
            assert tuple(argv[1:3]) in DOCKER_READ_ONLY or (argv[1],) in DOCKER_READ_ONLY, argv
        else:
            assert argv[0] in READ_ONLY, argv
    lsblk = [argv[-1] for argv in deployment.engine.host.calls if argv[0] == "lsblk"]
    assert sorted(lsblk) == ["/dev/mapper/vg-data", "/dev/vda"]


def test_a_host_and_an_api_that_do_not_answer_are_in_the_report(tmp_path: Path) -> None:
    deployment, local = _ready(tmp_path, SettingsApi(None))
    deployment.engine.host.down = "cannot reach wa1 over SSH: timed out"

    document = report_document(residency(deployment, local=local))

    assert document["hosts"][0]["reachable"] is False
    assert document["hosts"][0]["error"] == "cannot reach wa1 over SSH: timed out"
    assert document["api"]["error"].startswith("GET /v1/settings/application: connection refused")
    media = {c["name"]: c for c in document["data_classes"]}["media"]
    assert (media["locations"][0]["exists"], media["locations"][0]["error"]) == (
        None,
        "not found on any host (none answered)",
    )
    assert media["retention"]["summary"] == "unknown: the client's API did not answer (see api.error)"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("ONPREM_"):
            monkeypatch.delenv(name)
    (tmp_path / "onprem.yaml").write_text("deployment:\n  name: unit\n")
    return tmp_path


def _fake_build(tmp_path: Path) -> Any:
    def build(deployment: Any) -> Any:
        fake, local = _ready(tmp_path / "fake", SettingsApi({}))
        return residency(fake, local=local)

    return build


def test_the_cli_prints_one_json_document_or_markdown_and_exits_0(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.cli.test_operations import run

    (workdir / "fake").mkdir()
    monkeypatch.setattr("onprem.workflows.residency.residency", _fake_build(workdir))
    code, out, _ = run(["residency", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["schema_version"] == 1
    code, out, _ = run(["residency", "--markdown"], capsys)
    assert code == 0
    assert out.startswith("# Data residency: unit")
    code, _, err = run(["residency", "--json", "--markdown"], capsys)
    assert code == 2
    assert "not both" in err
