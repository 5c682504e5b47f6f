"""`onprem migrate cloud` end to end on the real engine: a deployed, registered On-Prem stack (relay over
TLS with its Cloud ingress on, a signed sink behind it) with the Cloud API emulator in the stack
(`cloud.emulator: true`). Sends and receives on-prem; the failure cases stop with a clear message and
change nothing (both emulators' state compared); `--dry-run` changes nothing; a wrong PIN at the Cloud
API and a wrong backup password on resume stop at their step; the real run moves the number; then a
message injected on the Cloud side reaches the sink through the relay byte-identical, a message sent
through the Cloud API gets a wamid, and a second run says it is done."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from onprem.state import AUDIT_FILE
from tests.integration.conftest import free_port
from tests.integration.ops.conftest import Stack
from tests.integration.relay.stack import inject, received, relay_stack

NUMBER_ID, WABA_ID = "106540352242922", "102290129340398"
PHONE = "6315550091"
PIN, WRONG_PIN = "112233", "654321"
CLOUD = """cloud:
  emulator: true
  emulator_port: {port}
  phone_number_id: "{number}"
  waba_id: "{waba}"
"""


@dataclass
class Moving:
    stack: Stack
    graph: str
    webhook_url: str

    @property
    def token(self) -> str:
        return (self.stack.state / "secrets" / "CLOUD_API_TOKEN").read_text().strip()

    def cloud_state(self) -> dict[str, Any]:
        answer = requests.get(f"{self.graph}/__emulator/state", timeout=10)
        assert answer.status_code == 200
        document: dict[str, Any] = answer.json()
        return document

    def onprem_health(self) -> Any:
        return self.stack.ok("status")["api"]["health"]

    def migrate(self, *args: str, webhook_url: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.stack.run(
            "migrate", "cloud", "--webhook-url", webhook_url or self.webhook_url, *args, timeout=400
        )

    def state_files(self) -> dict[str, float]:
        return {
            str(p.relative_to(self.stack.state)): p.stat().st_mtime
            for p in self.stack.state.rglob("*")
            if p.is_file()
        }


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory, stack_images: None) -> Iterator[Moving]:
    workdir: Path = tmp_path_factory.mktemp("migrate")
    port = free_port()
    extra = CLOUD.format(port=port, number=NUMBER_ID, waba=WABA_ID)
    name = f"it-migrate-{__import__('os').getpid()}"
    with relay_stack(workdir, name, PHONE, extra=extra, relay_extra="  cloud:\n    enabled: true\n") as (
        stack,
        _prom,
    ):
        relay_port = re.search(r"relay_port: (\d+)", (workdir / "onprem.yaml").read_text())
        assert relay_port is not None
        (workdir / "pin").write_text(PIN + "\n")
        (workdir / "wrong-pin").write_text(WRONG_PIN + "\n")
        (workdir / "wrong-password").write_text("not-the-backup-password-0123456789\n")
        (workdir / "wrong-token").write_text("EAAG-a-token-meta-never-issued-0123456789\n")
        for secret in ("pin", "wrong-pin", "wrong-password", "wrong-token"):
            (workdir / secret).chmod(0o600)
        yield Moving(
            stack, f"http://127.0.0.1:{port}", f"https://127.0.0.1:{relay_port.group(1)}/webhooks/cloud"
        )


def sink_bodies(stack: Stack, needle: bytes) -> list[bytes]:
    bodies = [base64.b64decode(r["body"]) for r in received(f"{stack.name}-sink")]
    return [b for b in bodies if needle in b]


def wait_for(predicate: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_1_on_prem_sends_and_receives_before_the_move(moving: Moving) -> None:
    stack = moving.stack
    inject(stack, "16315559876", "hello on-prem")
    wait_for(lambda: sink_bodies(stack, b"hello on-prem"), "the On-Prem inbound never reached the sink")
    # The customer wrote first, so a free-form reply is inside the 24-hour window and is delivered.
    reply = stack.ok("send", "--to", "+16315559876", "--text", "before the move")
    assert reply["status"] in ("delivered", "read"), reply
    assert stack.ok("two-step", "enable", "--pin-file", "pin") == {"two_step": "enabled"}


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        ("wrong PIN", ["--pin-file", "wrong-pin"], "is not the one `onprem two-step enable` set"),
        (
            "token without access",
            ["--pin-file", "pin", "--set", 'cloud.phone_number_id="99999999"'],
            "no access",
        ),
        ("unreachable relay", ["--pin-file", "pin"], "unreachable"),
        (
            "invalid token",
            ["--pin-file", "pin", "--set", "secrets.cloud_token={source: file, path: wrong-token}"],
            "is invalid or expired",
        ),
        (
            "relay cloud ingress off",
            ["--pin-file", "pin", "--set", "relay.cloud.enabled=false"],
            "relay.cloud",
        ),
    ],
)
def test_2_a_failing_check_stops_the_migration_and_changes_nothing(
    moving: Moving, case: str, args: list[str], message: str
) -> None:
    cloud, health, files = moving.cloud_state(), moving.onprem_health(), moving.state_files()
    webhook_url = f"https://127.0.0.1:{free_port()}/webhooks/cloud" if case == "unreachable relay" else None
    done = moving.migrate(*args, "--yes", webhook_url=webhook_url)
    assert done.returncode == (2 if case == "relay cloud ingress off" else 10), done.stdout + done.stderr
    assert message in done.stderr
    if done.returncode == 10:
        assert "left as it was: nothing was changed" in done.stderr
        assert "resume with: onprem migrate cloud" in done.stderr
    assert moving.cloud_state() == cloud
    assert moving.onprem_health() == health
    assert not (moving.stack.state / "migration.json").exists()
    # Only the audit log (one line for the refused operation) may have grown.
    files.pop(AUDIT_FILE, None)
    assert {k: v for k, v in moving.state_files().items() if k != AUDIT_FILE} == files


def test_3_dry_run_checks_everything_and_changes_nothing_anywhere(moving: Moving) -> None:
    cloud, health, files = moving.cloud_state(), moving.onprem_health(), moving.state_files()
    done = moving.migrate("--pin-file", "pin", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [c["ok"] for c in document["checks"]] == [True] * 5, document
    assert document["steps_to_do"] == [
        "backup",
        "register",
        "cloud_status",
        "subscribe",
        "relay",
        "stop_onprem",
    ]
    assert moving.cloud_state() == cloud
    assert moving.onprem_health() == health
    assert moving.state_files() == files


def test_4_a_wrong_pin_the_tool_cannot_check_stops_at_register_with_the_number_still_on_prem(
    moving: Moving,
) -> None:
    # The PIN set outside the tool: no record to check against, so Meta's answer (133005) stops it.
    (moving.stack.state / "two_step.json").unlink()
    done = moving.migrate("--pin-file", "wrong-pin", "--yes")
    assert done.returncode == 10, done.stdout + done.stderr
    assert "stopped at step register" in done.stderr
    assert "133005" in done.stderr
    assert "resume with: onprem migrate cloud" in done.stderr
    assert [n for n in moving.cloud_state()["numbers"] if n["registered"]] == []
    record = json.loads((moving.stack.state / "migration.json").read_text())
    assert list(record["steps"]) == ["backup"]
    assert (moving.stack.state / "migration.json").stat().st_mode & 0o777 == 0o600
    assert Path(record["steps"]["backup"]["file"]).is_file()
    assert moving.onprem_health()["gateway_status"] == "connected"


def test_5_a_wrong_backup_password_on_resume_stops_before_the_cloud_sees_anything(moving: Moving) -> None:
    cloud = moving.cloud_state()
    done = moving.migrate("--pin-file", "pin", "--password-file", "wrong-password", "--yes")
    assert done.returncode == 10, done.stdout + done.stderr
    assert "stopped at step register" in done.stderr
    assert "cannot be used" in done.stderr
    assert "nothing was sent to the Cloud API" in done.stderr
    assert moving.cloud_state() == cloud


def test_6_the_real_migration_moves_the_number_and_the_relay_receives_cloud_webhooks(moving: Moving) -> None:
    stack = moving.stack
    done = moving.migrate("--pin-file", "pin", "--region", "DE", "--yes", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "migrated"
    assert Path(document["backup_file"]).is_file()

    cloud = moving.cloud_state()
    number = cloud["numbers"][0]
    assert (number["registered"], number["status"], number["platform_type"], number["region"]) == (
        True,
        "CONNECTED",
        "CLOUD_API",
        "DE",
    )
    assert number["from_backup"] is True
    assert [(s["waba_id"], s["callback"]) for s in cloud["subscriptions"]] == [(WABA_ID, moving.webhook_url)]
    # The client is stopped on purpose: status says the number moved and judges what stays (the relay).
    status = stack.run("status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    document = json.loads(status.stdout)
    assert document["healthy"] is True
    assert (document["migration"]["phone_number_id"], document["migration"]["region"]) == (NUMBER_ID, "DE")
    services = {c["service"]: c for c in document["services"]}
    assert services["relay"]["state"] == "running"
    assert services["waweb"]["state"] != "running"
    audit = (stack.state / AUDIT_FILE).read_text().splitlines()
    last = json.loads(audit[-1])
    assert (last["command"], last["outcome"]) == ("migrate cloud", "ok")

    auth = {"Authorization": f"Bearer {moving.token}"}
    inbound = requests.post(
        f"{moving.graph}/__emulator/inbound",
        headers=auth,
        json={
            "phone_number_id": NUMBER_ID,
            "from": "4915112345678",
            "text": "über die Grenze",
            "name": "Jörg",
        },
        timeout=10,
    )
    assert inbound.status_code == 200, inbound.text
    wait_for(lambda: sink_bodies(stack, b"\\u00fcber die Grenze"), "the Cloud webhook never reached the sink")
    sent = [
        e for e in moving.cloud_state()["webhooks"] if "Grenze" in json.dumps(e["body"], ensure_ascii=False)
    ]
    assert [e["state"] for e in sent] == ["delivered"]
    emitted = json.dumps(sent[0]["body"], ensure_ascii=True, separators=(",", ":")).encode("ascii")
    assert sink_bodies(stack, b"\\u00fcber die Grenze") == [emitted]

    reply = requests.post(
        f"{moving.graph}/v21.0/{NUMBER_ID}/messages",
        headers=auth,
        json={"messaging_product": "whatsapp", "to": "4915112345678", "type": "text", "text": {"body": "hi"}},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["messages"][0]["id"].startswith("wamid.")


def test_7_a_second_run_says_it_is_done_and_a_region_now_is_refused(moving: Moving) -> None:
    cloud = moving.cloud_state()
    again = moving.migrate("--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "already migrated"
    region = moving.migrate("--pin-file", "pin", "--region", "GB", "--yes")
    assert region.returncode == 10, region.stdout + region.stderr
    assert "can only be set while the number is not registered" in region.stderr
    assert moving.cloud_state()["numbers"] == cloud["numbers"]


def test_8_residency_names_the_cloud_region_from_the_migration_record(moving: Moving) -> None:
    done = moving.stack.run("residency", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["migration"]["region"] == "DE"
    assert document["migration"]["state"].startswith("completed ")
    cloud = next(c for c in document["data_classes"] if c["name"] == "cloud_region")
    assert cloud["present"] is True
    assert cloud["locations"][0]["detail"] == "data_localization_region DE"
    assert cloud["locations"][1]["path"] == str(moving.stack.state / "migration.json")
    # Message data now leaves the site for the Cloud API the tool migrated to (here the emulator).
    messages = next(c for c in document["data_classes"] if c["name"] == "messages_contacts")
    assert ("Cloud API", moving.graph) in [(e["to"], e["endpoint"]) for e in messages["egress"]]
