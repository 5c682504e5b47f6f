"""`certs issue` is idempotent and feeds the relay's secret files; `certs upload` checks before it
uploads, re-pins the CA and restarts web once; `certs status` reports expiry per endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onprem import pki
from onprem.errors import ConfigError
from onprem.workflows import certs
from tests.unit.workflows.fakes import FakeClient

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Secrets:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def read(self, name: str) -> str | None:
        return self.values.get(name)

    def write(self, name: str, value: str) -> None:
        self.values[name] = value


def issue(
    files: certs.CertFiles, secrets: Secrets, now: datetime = NOW, web: list[str] | None = None
) -> dict[str, str]:
    return certs.issue(
        files, secrets, name="t", web_sans=web or ["localhost", "waweb"], relay_sans=["relay"], now=now
    )


def test_issue_creates_ca_and_server_certs_with_private_keys_0600_and_relay_secrets(tmp_path: Path) -> None:
    files, secrets = certs.CertFiles(tmp_path / "certs"), Secrets()

    done = issue(files, secrets)

    assert done == {"ca": "issued", "web": "issued", "relay": "issued", "relay secrets": "updated"}
    for name in ("root.key", "intermediate.key", "web.key", "relay.key", "web-bundle.pem"):
        assert (files.root / name).stat().st_mode & 0o777 == 0o600
    assert files.root.stat().st_mode & 0o777 == 0o700
    relay_chain = pki.load_certs(secrets.values["RELAY_TLS_CERT"])
    assert pki.sans_of(relay_chain[0]) == ["relay"]
    assert pki.signed_by(relay_chain[0], relay_chain[1])
    assert secrets.values["RELAY_TLS_KEY"] == files.read("relay.key")


def test_issue_twice_keeps_everything(tmp_path: Path) -> None:
    files, secrets = certs.CertFiles(tmp_path / "certs"), Secrets()
    issue(files, secrets)
    before = {p.name: p.read_bytes() for p in files.root.iterdir()}

    assert issue(files, secrets) == {
        "ca": "kept",
        "web": "kept",
        "relay": "kept",
        "relay secrets": "unchanged",
    }
    assert {p.name: p.read_bytes() for p in files.root.iterdir()} == before


def test_changed_sans_or_near_expiry_reissue_the_server_cert(tmp_path: Path) -> None:
    files, secrets = certs.CertFiles(tmp_path / "certs"), Secrets()
    issue(files, secrets)
    assert issue(files, secrets, web=["api.example", "waweb"])["web"] == "issued"
    assert (
        issue(files, secrets, now=NOW + timedelta(days=380), web=["api.example", "waweb"])["relay"]
        == "issued"
    )


def make_upload(
    tmp_path: Path, api: FakeClient, text: str, restarts: list[int], now: datetime = NOW
) -> dict[str, object]:
    files = certs.CertFiles(tmp_path / "certs")
    return certs.upload(
        api,
        bundle_text=text,
        origin="chain.pem",
        roots=certs.roots_for(None, files),
        now=now,
        files=files,
        pinned_ca=tmp_path / "ca.pem",
        restart_web=lambda: restarts.append(1),
    )


def test_upload_of_the_issued_bundle_pins_its_root_restarts_web_once_and_is_idempotent(
    tmp_path: Path,
) -> None:
    files, secrets = certs.CertFiles(tmp_path / "certs"), Secrets()
    issue(files, secrets)
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nOLD\n-----END CERTIFICATE-----\n")
    api, restarts = FakeClient(), list[int]()
    text = files.read("web-bundle.pem") or ""

    first = make_upload(tmp_path, api, text, restarts)
    second = make_upload(tmp_path, api, text, restarts)

    assert (first["status"], second["status"]) == ("uploaded", "already uploaded")
    assert api.external == [text]
    assert restarts == [1]
    pinned = (tmp_path / "ca.pem").read_text()
    assert "OLD" in pinned
    assert (files.read("root.pem") or "-") in pinned
    assert files.read("trusted.pem") == files.read("root.pem")


@pytest.mark.parametrize("damage", ["expired", "mismatch", "no-intermediate"])
def test_a_bad_bundle_uploads_nothing_and_restarts_nothing(tmp_path: Path, damage: str) -> None:
    files, secrets = certs.CertFiles(tmp_path / "certs"), Secrets()
    issue(files, secrets)
    inter = certs.load_pair(files, "intermediate")
    assert inter is not None
    web = certs.load_pair(files, "web")
    assert web is not None
    if damage == "expired":
        old = pki.issue_server(inter, ["w"], NOW - timedelta(days=100), days=10)
        text = old.key_pem + old.cert_pem + inter.cert_pem
    elif damage == "mismatch":
        text = (certs.load_pair(files, "relay") or web).key_pem + web.cert_pem + inter.cert_pem
    else:
        text = web.key_pem + web.cert_pem
    api, restarts = FakeClient(), list[int]()

    with pytest.raises(ConfigError):
        make_upload(tmp_path, api, text, restarts)
    assert api.external == []
    assert restarts == []
    assert not (tmp_path / "ca.pem").exists()


def test_status_reports_days_left_per_endpoint_and_file(tmp_path: Path) -> None:
    files, secrets = certs.CertFiles(tmp_path / "certs"), Secrets()
    issue(files, secrets)
    served = files.read("web.pem")

    rows = certs.status(
        {"web": ("127.0.0.1", 9090), "relay": ("127.0.0.1", 8443)},
        files,
        now=NOW + timedelta(days=7),
        fetch=lambda host, port: served if port == 9090 else None,
    )

    by = {r["endpoint"]: r for r in rows}
    assert by["web"]["days_left"] == pki.SERVER_DAYS - 7
    assert by["relay"]["error"] == "no TLS answer"
    assert {"file root.pem", "file intermediate.pem", "file web.pem", "file relay.pem"} <= set(by)
