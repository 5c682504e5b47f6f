"""Every change is a safe change, on a real engine (MySQL and PostgreSQL): a secret whose source changed
is refused by `deploy` and rotated for real by `secrets rotate` (the stack survives a restart of every
container afterwards, with its data); a certificate whose SANs miss a name in use is refused before
upload, one that keeps web down is reverted automatically, and after a good upload the exporter still
reports `whatsapp_up 1`."""

from __future__ import annotations

import ipaddress
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from onprem import pki
from onprem.state import CertFiles
from onprem.workflows.certs import load_pair
from tests.integration.ops.conftest import Stack, vname_cert

NUMBER = ("1", "6315550042")
NEW_DB_PASSWORD = "Rotated-db-password-0123456789"


def exporter_up(stack: Stack, timeout: float = 60) -> float:
    """`whatsapp_up` from the exporter's /metrics, waiting up to `timeout` for it to be 1."""
    port = yaml.safe_load((stack.workdir / "onprem.yaml").read_text())["network"]["exporter_port"]
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


def container_ids(stack: Stack) -> list[str]:
    done = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={stack.name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(done.stdout.split())


def wait_healthy(stack: Stack, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while stack.run("status").returncode != 0:
        assert time.monotonic() < deadline, stack.run("status").stdout
        time.sleep(2)


def leaf_bundle(stack: Stack, names: list[x509.GeneralName], *, weak_key: bool = False) -> Path:
    """A bundle (key, leaf, intermediate) issued by the stack's internal CA for exactly `names`; with
    `weak_key`, a 1024-bit RSA key: the chain checks pass, but the web server's TLS library refuses it."""
    intermediate = load_pair(CertFiles(stack.state / "certs"), "intermediate")
    assert intermediate is not None
    # The weak key is the point: the tool's checks accept it, the web server's TLS library refuses it.
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024 if weak_key else 2048)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key()
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "test leaf")]))
        .issuer_name(intermediate.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(intermediate.key, hashes.SHA256())
    )
    path = stack.workdir / f"leaf-{len(names)}-{int(weak_key)}.pem"
    path.write_text(key_pem + pki.cert_pem(cert) + intermediate.cert_pem)
    return path


def use_secret_file(stack: Stack, field: str, value: str) -> None:
    secret = stack.workdir / f"{field}.secret"
    secret.write_text(value + "\n")
    config = stack.workdir / "onprem.yaml"
    text = config.read_text()
    assert f"  {field}:" not in text
    config.write_text(
        text.replace("secrets:\n", f"secrets:\n  {field}:\n    source: file\n    path: {secret}\n")
    )


def test_a_registered_number_is_there_before_the_changes(stack: Stack) -> None:
    (stack.workdir / "vname.cert").write_text(vname_cert("Safe Changes") + "\n")
    assert stack.ok("register", *NUMBER, "--cert", "vname.cert")["status"] == "code sent"
    assert stack.ok("verify", stack.last_registration_code())["status"] == "verified"
    assert stack.ok("send", "--to", "+16315551234", "--text", "before the rotation", "--wait", "0")["id"]


def test_deploy_refuses_a_db_password_whose_source_changed_and_changes_nothing(stack: Stack) -> None:
    stored = (stack.state / "secrets" / "WA_DB_PASSWORD").read_text()
    before = container_ids(stack)
    use_secret_file(stack, "db_password", NEW_DB_PASSWORD)

    done = stack.run("deploy")

    assert done.returncode == 2, done.stderr
    assert "secrets.db_password: the file" in done.stderr
    assert "`onprem secrets rotate db_password`" in done.stderr
    assert NEW_DB_PASSWORD not in done.stderr + done.stdout
    assert (stack.state / "secrets" / "WA_DB_PASSWORD").read_text() == stored
    assert container_ids(stack) == before
    assert stack.ok("status")["healthy"]


def test_rotating_the_db_password_survives_a_restart_of_every_container_with_the_data(stack: Stack) -> None:
    done = stack.ok("secrets", "rotate", "db_password")

    assert done["status"] == "rotated"
    assert done["steps"][:3] == ["changed in the database", "the new password logs in", "stored"]
    assert (stack.state / "secrets" / "WA_DB_PASSWORD").read_text() == NEW_DB_PASSWORD
    assert not (stack.state / "secrets-previous" / "WA_DB_PASSWORD").exists()
    assert stack.ok("status")["healthy"]
    assert stack.run("plan", "--detailed-exitcode").returncode == 0, "the rotation made a release of itself"

    subprocess.run(["docker", "restart", *container_ids(stack)], capture_output=True, check=True, timeout=300)
    wait_healthy(stack)
    assert stack.ok("deploy")["healthy"]
    assert stack.ok("register", *NUMBER, "--cert", "vname.cert")["status"] == "already registered"
    assert stack.ok("send", "--to", "+16315551234", "--text", "after the rotation", "--wait", "0")["id"]
    assert stack.ok("secrets", "rotate", "db_password")["status"] == "unchanged"


def test_rotating_the_api_key_keeps_the_stack_and_the_exporter_up(stack: Stack) -> None:
    old = (stack.state / "secrets" / "WA_API_KEY").read_text()

    done = stack.ok("secrets", "rotate", "api_key")

    assert done["status"] == "rotated"
    assert (stack.state / "secrets" / "WA_API_KEY").read_text() != old
    assert stack.ok("status")["healthy"]
    assert exporter_up(stack) == 1.0


def test_rotating_the_admin_password_changes_it_in_the_client(stack: Stack) -> None:
    done = stack.ok("secrets", "rotate", "admin_password")
    assert done["steps"][:2] == ["changed in the client", "the new password logs in"]
    assert stack.ok("users", "list")["users"]


def test_an_upload_whose_sans_miss_the_names_in_use_is_refused_before_upload(stack: Stack) -> None:
    before = stack.ok("certs", "status")["certificates"]
    bad = leaf_bundle(stack, [x509.DNSName("example.com")])

    done = stack.run("certs", "upload", "--chain", str(bad))

    assert done.returncode == 2, done.stderr
    assert "SANs (example.com) do not cover localhost" in done.stderr
    assert "nothing was uploaded" in done.stderr
    assert stack.ok("certs", "status")["certificates"] == before


def test_a_chain_that_keeps_web_down_is_reverted_automatically(stack: Stack) -> None:
    before = {r["endpoint"]: r for r in stack.ok("certs", "status")["certificates"]}["web"]
    names = [
        x509.DNSName("localhost"),
        x509.DNSName("waweb"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    weak = leaf_bundle(stack, names, weak_key=True)

    done = stack.run("certs", "upload", "--chain", str(weak))

    assert done.returncode == 4, done.stderr
    assert "the upload was reverted: web serves its own self-signed certificate again" in done.stderr
    assert "--- last log lines of waweb ---" in done.stderr
    assert stack.ok("status")["healthy"]
    after = {r["endpoint"]: r for r in stack.ok("certs", "status")["certificates"]}["web"]
    assert after["issuer"] == before["issuer"]


def test_after_a_good_upload_the_exporter_still_reports_the_client_up(stack: Stack) -> None:
    done = stack.ok("certs", "upload", "--chain", str(stack.state / "certs" / "web-bundle.pem"))

    assert done["status"] == "uploaded"
    assert done["exporter"] == "trusts the uploaded root"
    web = {r["endpoint"]: r for r in stack.ok("certs", "status")["certificates"]}["web"]
    assert "onprem" in web["issuer"]
    assert exporter_up(stack) == 1.0


def test_rotating_the_backup_password_keeps_the_old_one_for_older_archives(stack: Stack) -> None:
    first = stack.ok("backup", "-o", "before.bak")
    assert "secrets/BACKUP_PASSWORD" in first["password"]

    done = stack.ok("secrets", "rotate", "backup_password")

    kept = [n for n in done["notes"] if "kept for good in" in n]
    assert kept
    old_password = Path(kept[0].split("kept for good in ")[1].split(" ")[0])
    assert old_password.stat().st_mode & 0o777 == 0o600
    assert (
        stack.ok("restore", "before.bak", "--password-file", str(old_password), "--yes")["database"]
        == "restored"
    )
