"""Every operations command against a deployed stack (real engine, MySQL and PostgreSQL), each run
twice with the same result; wrong inputs give a clear error and change nothing on the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from onprem import pki
from onprem.state import CertFiles
from onprem.workflows.certs import load_pair
from tests.integration.ops.conftest import Stack, vname_cert

NUMBER = ("1", "6315550000")


def test_certs_issue_again_keeps_everything(stack: Stack) -> None:
    first = stack.ok("certs", "issue")
    second = stack.ok("certs", "issue")
    assert first == second
    assert {first[k] for k in ("ca", "web", "relay", "relay secrets")} == {"kept", "unchanged"}


def test_users_create_list_delete_twice(stack: Stack) -> None:
    (stack.workdir / "user.pw").write_text("Us3r#pass-word\n")
    assert stack.ok("users", "create", "opsbot", "--password-file", "user.pw")["status"] == "created"
    assert stack.ok("users", "create", "opsbot", "--password-file", "user.pw")["status"] == "updated"
    listed = stack.ok("users", "list")["users"]
    assert listed == stack.ok("users", "list")["users"]
    assert {"username": "opsbot", "present": True, "role": "USER"} in listed
    assert stack.ok("users", "delete", "opsbot")["status"] == "deleted"
    assert stack.ok("users", "delete", "opsbot")["status"] == "absent"


def test_register_wrong_code_then_verify_then_everything_again_says_registered(stack: Stack) -> None:
    (stack.workdir / "vname.cert").write_text(vname_cert("Acme Support") + "\n")
    for _ in range(2):
        sent = stack.ok("register", *NUMBER, "--cert", "vname.cert")
        assert (sent["status"], sent["vname"]) == ("code sent", "Acme Support")

    wrong = stack.run("verify", "000000")
    assert wrong.returncode == 5
    assert "refused the verification code" in wrong.stderr
    assert stack.ok("status")["api"]["health"] == {"gateway_status": "unregistered"}

    code = stack.last_registration_code()
    assert stack.ok("verify", code)["status"] == "verified"
    assert stack.ok("verify", code)["status"] == "already registered"
    assert stack.ok("register", *NUMBER, "--cert", "vname.cert")["status"] == "already registered"


def test_two_step_enable_and_disable_twice(stack: Stack) -> None:
    (stack.workdir / "pin").write_text("246810\n")
    assert stack.ok("two-step", "enable", "--pin-file", "pin") == stack.ok(
        "two-step", "enable", "--pin-file", "pin"
    )
    missing = stack.run("two-step", "enable")
    assert missing.returncode == 2
    assert "--pin-file" in missing.stderr
    assert stack.ok("two-step", "disable") == stack.ok("two-step", "disable") == {"two_step": "disabled"}


def test_webhooks_set_twice_points_the_client_at_the_relay(stack: Stack) -> None:
    first = stack.ok("webhooks", "set")
    second = stack.ok("webhooks", "set")
    assert (first["url"], first["ca"]) == ("set", "set")
    assert (second["url"], second["ca"]) == ("unchanged", "unchanged")


def test_send_twice_returns_a_message_id_each_time(stack: Stack) -> None:
    ids = [stack.ok("send", "--to", "+16315551234", "--text", "smoke", "--wait", "0")["id"] for _ in range(2)]
    assert all(ids)
    assert ids[0] != ids[1]


def test_backup_twice_then_bad_archives_change_nothing_then_restore_twice(stack: Stack) -> None:
    (stack.workdir / "backup.pw").write_text("backup-password-123\n")
    (stack.workdir / "wrong.pw").write_text("another-password-456\n")
    made = [stack.ok("backup", "-o", f"b{i}.bak", "--password-file", "backup.pw") for i in (1, 2)]
    assert made[0]["members"] == made[1]["members"] == ["db.sql", "media.tar", "settings.txt"]
    assert made[0]["sizes"]["db.sql"] > 1000, "the dump holds the client's databases"
    assert (stack.workdir / "b1.bak").stat().st_mode & 0o777 == 0o600

    data = bytearray((stack.workdir / "b1.bak").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (stack.workdir / "corrupt.bak").write_bytes(bytes(data))
    corrupt = stack.run("restore", "corrupt.bak", "--password-file", "backup.pw")
    wrong = stack.run("restore", "b1.bak", "--password-file", "wrong.pw")
    assert (corrupt.returncode, wrong.returncode) == (2, 2)
    assert "corrupted" in corrupt.stderr
    assert "wrong backup password" in wrong.stderr
    assert stack.ok("status")["api"]["health"]["gateway_status"] == "connected"

    for _ in range(2):
        done = stack.ok("restore", "b1.bak", "--password-file", "backup.pw", "--yes")
        assert (done["database"], done["media"]) == ("restored", "restored")
    assert stack.ok("register", *NUMBER, "--cert", "vname.cert")["status"] == "already registered"


def test_certs_upload_checks_first_then_uploads_once_and_status_shows_the_new_expiry(stack: Stack) -> None:
    certs = stack.state / "certs"
    key, cert = (certs / "web.key").read_text(), (certs / "web.pem").read_text()
    leaf_only = cert.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    (stack.workdir / "no-intermediate.pem").write_text(key + leaf_only)
    (stack.workdir / "mismatch.pem").write_text((certs / "relay.key").read_text() + cert)
    intermediate = load_pair(CertFiles(certs), "intermediate")
    assert intermediate is not None
    old = pki.issue_server(intermediate, ["waweb"], datetime.now(UTC) - timedelta(days=100), days=10)
    (stack.workdir / "expired.pem").write_text(old.key_pem + old.cert_pem + intermediate.cert_pem)
    before = stack.ok("certs", "status")["certificates"]
    for bad, message in (
        ("no-intermediate.pem", "no intermediate CA"),
        ("mismatch.pem", "does not match"),
        ("expired.pem", "expired on"),
    ):
        done = stack.run("certs", "upload", "--chain", bad)
        assert done.returncode == 2
        assert message in done.stderr
    assert stack.ok("certs", "status")["certificates"] == before, "a refused chain changed the client"

    first = stack.ok("certs", "upload", "--chain", str(certs / "web-bundle.pem"))
    second = stack.ok("certs", "upload", "--chain", str(certs / "web-bundle.pem"))
    assert (first["status"], second["status"]) == ("uploaded", "already uploaded")

    rows = {r["endpoint"]: r for r in stack.ok("certs", "status")["certificates"]}
    assert rows == {r["endpoint"]: r for r in stack.ok("certs", "status")["certificates"]}
    assert "onprem" in rows["web"]["issuer"]
    assert rows["web"]["days_left"] > 300
    assert rows["relay"]["sans"] == ["relay", "localhost", "127.0.0.1"]
