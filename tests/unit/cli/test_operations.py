"""The operations commands through `onprem.cli.main`: listed in help, exit codes, JSON, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onprem.cli import main

OPS = ("register", "verify", "two-step", "certs", "webhooks", "backup", "restore", "send", "users")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("ONPREM_"):
            monkeypatch.delenv(name)
    (tmp_path / "onprem.yaml").write_text("deployment:\n  name: cli\n")
    return tmp_path


def test_help_lists_every_operations_command(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["--help"], capsys)
    for name in OPS:
        assert f"  {name} " in out


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "123456"],
        ["two-step", "disable"],
        ["users", "list"],
        ["send", "--to", "+16315551234", "--text", "hi"],
        ["profile", "show"],
        ["profile", "set-about", "Open 9-17"],
        ["business-profile", "show"],
        ["business-profile", "set", "--email", "help@example.com"],
    ],
)
def test_commands_before_a_deploy_exit_6_saying_to_deploy_first(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 6
    assert "run `onprem deploy` first" in err


def test_certs_issue_twice_gives_the_same_files_and_says_kept(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["certs", "issue", "--json"], capsys)
    first = json.loads(out)
    certs = workdir / ".onprem" / "cli" / "certs"
    before = {p.name: p.read_bytes() for p in certs.iterdir()}
    code2, out2, _ = run(["certs", "issue", "--json"], capsys)

    assert (code, code2) == (0, 0)
    assert first["web"] == "issued"
    assert json.loads(out2)["web"] == "kept"
    assert {p.name: p.read_bytes() for p in certs.iterdir()} == before


def test_upload_of_a_bundle_without_intermediate_exits_2_before_any_call(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["certs", "issue"], capsys)
    certs = workdir / ".onprem" / "cli" / "certs"
    (workdir / "bad.pem").write_text(
        (certs / "web.key").read_text()
        + (certs / "web.pem").read_text().split("-----END CERTIFICATE-----")[0]
        + "-----END CERTIFICATE-----\n"
    )
    secrets = workdir / ".onprem" / "cli" / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "WA_API_KEY").write_text("k" * 20)
    (secrets / "WA_ADMIN_PASSWORD").write_text("Adm1n#pass")
    (workdir / ".onprem" / "cli" / "ca.pem").write_text("")
    code, _, err = run(["certs", "upload", "--chain", "bad.pem", "--set", "network.web_port=1"], capsys)
    assert code == 2
    assert "no intermediate CA certificate" in err


def test_register_with_a_bad_cert_file_exits_2_naming_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "vname").write_text("??")
    code, _, err = run(["register", "1", "6315550000", "--cert", "vname"], capsys)
    assert code == 2
    assert "vname: is not a base64 verified-name certificate" in err


def test_webhooks_set_without_relay_tls_exits_2_naming_the_setting(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["webhooks", "set"], capsys)
    assert code == 2
    assert "needs the relay to serve HTTPS" in err
