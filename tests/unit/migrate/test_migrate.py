"""`migrate cloud` against a fake Graph API and relay: the checks, the steps, the record, resume, and
each failure stopping with the step, what is left and the command that resumes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from onprem.errors import ConfigError, MigrationError
from onprem.graph.client import GraphClient
from onprem.workflows.migrate import STEPS, Record, Seams, Target, migrate
from onprem.workflows.migrate_setup import relay_verifications
from onprem.workflows.pinrecord import record_pin
from tests.unit.migrate.fake_graph import (
    GRAPH,
    NUMBER_ID,
    RELAY,
    TOKEN,
    VERIFY_TOKEN,
    WABA_ID,
    WEBHOOK_URL,
    FakeGraph,
)

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
SETTINGS_DATA = "c2V0dGluZ3MtZGF0YQ=="
RESUME = "onprem migrate cloud --pin-file pin --yes"


class Health:
    def __init__(self, status: str = "connected") -> None:
        self.status = status

    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        return {"gateway_status": self.status}


class OnPrem:
    """The On-Prem side's seams: backup archive, its password, stop; what was called."""

    def __init__(self, tmp: Path, password: str = "backup-pw-0123456789") -> None:  # noqa: S107
        self.tmp = tmp
        self.password = password
        self.backups: list[Path] = []
        self.stopped = 0
        self.readable = True

    def make_backup(self) -> Path:
        path = self.tmp / "backups" / f"b{len(self.backups)}.onprem-backup"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"archive")
        self.backups.append(path)
        return path

    def read_backup(self, path: Path) -> str:
        if not self.readable:
            raise ConfigError(f"{path}: wrong password, or the file is damaged")
        assert path.read_bytes() == b"archive"
        return SETTINGS_DATA

    def stop(self) -> None:
        self.stopped += 1


def target(**changes: Any) -> Target:
    values: dict[str, Any] = {
        "number_digits": "16315550042",
        "phone_number_id": NUMBER_ID,
        "waba_id": WABA_ID,
        "webhook_url": WEBHOOK_URL,
        "region": None,
        "region_origin": "onprem.yaml:12",
        "pin": "112233",
        "pin_origin": "pin",
        "verify_token": VERIFY_TOKEN,
        "token_origin": "secrets.cloud_token, file token",
        "resume": RESUME,
    }
    return Target(**{**values, **changes})


def seams(graph: FakeGraph, onprem: OnPrem, tmp: Path, health: Health | None = None) -> Seams:
    session = requests.Session()
    session.mount("https://", graph)
    client = GraphClient(GRAPH, "v21.0", TOKEN, session=session)
    return Seams(
        onprem=health or Health(),
        graph=client,
        http=session,
        pin_record=tmp / "two_step.json",
        internal_ca=None,
        make_backup=onprem.make_backup,
        read_backup=onprem.read_backup,
        backup_password=lambda: onprem.password,
        relay_verifications=lambda: relay_verifications(session, f"{RELAY}/metrics", None),
        stop_onprem=onprem.stop,
        now=lambda: NOW,
        sleep=lambda _s: None,
    )


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def graph() -> FakeGraph:
    return FakeGraph()


@pytest.fixture
def onprem(tmp_path: Path) -> OnPrem:
    return OnPrem(tmp_path)


def test_dry_run_passes_every_check_with_gets_and_the_handshake_only_and_writes_nothing(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    record_pin(tmp_path / "two_step.json", "112233", NOW)
    before = files(tmp_path)
    done = migrate(
        target(region="DE"), seams(graph, onprem, tmp_path), Record(tmp_path / "m.json"), dry_run=True
    )
    assert [c["ok"] for c in done["checks"]] == [True] * 5
    assert done["steps_to_do"] == list(STEPS)
    assert graph.posts() == []
    assert not graph.registered
    assert graph.subscriptions == {}
    assert onprem.backups == []
    assert onprem.stopped == 0
    assert files(tmp_path) == before


def test_a_real_run_does_every_step_in_order_records_them_0600_and_stops_on_prem(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    record = Record(tmp_path / "migration.json")
    done = migrate(target(region="DE"), seams(graph, onprem, tmp_path), record, dry_run=False)
    assert done["status"] == "migrated"
    assert (graph.registered, graph.region) == (True, "DE")
    assert graph.subscriptions == {WABA_ID: WEBHOOK_URL}
    assert onprem.stopped == 1
    register = next(body for method, url, body in graph.sent if url.endswith("/register"))
    assert register == {
        "messaging_product": "whatsapp",
        "pin": "112233",
        "backup": {"data": SETTINGS_DATA, "password": onprem.password},
        "data_localization_region": "DE",
    }
    saved = record.read()
    assert set(saved["steps"]) == set(STEPS)
    assert done["steps_done"] == list(STEPS)
    assert saved["steps"]["backup"]["file"] == str(onprem.backups[0])
    assert saved["completed"] == NOW.isoformat()
    assert record.path.stat().st_mode & 0o777 == 0o600
    assert TOKEN not in record.path.read_text()
    assert "112233" not in record.path.read_text()


def test_a_second_run_says_already_migrated_and_calls_nothing(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    record = Record(tmp_path / "migration.json")
    migrate(target(), seams(graph, onprem, tmp_path), record, dry_run=False)
    calls = len(graph.sent)
    again = migrate(target(), seams(graph, onprem, tmp_path), record, dry_run=False)
    assert again["status"] == "already migrated"
    assert len(graph.sent) == calls
    assert len(onprem.backups) == 1


def test_a_region_after_the_migration_is_refused(graph: FakeGraph, onprem: OnPrem, tmp_path: Path) -> None:
    record = Record(tmp_path / "migration.json")
    migrate(target(), seams(graph, onprem, tmp_path), record, dry_run=False)
    with pytest.raises(MigrationError, match="can only be set while the number is not registered"):
        migrate(
            target(region="GB", region_origin="--region"),
            seams(graph, onprem, tmp_path),
            record,
            dry_run=False,
        )


def test_a_pin_other_than_the_recorded_one_stops_before_anything_changes(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    record_pin(tmp_path / "two_step.json", "112233", NOW)
    with pytest.raises(MigrationError) as caught:
        migrate(
            target(pin="654321"), seams(graph, onprem, tmp_path), Record(tmp_path / "m.json"), dry_run=False
        )
    message = str(caught.value)
    assert caught.value.step == "checks"
    assert "is not the one `onprem two-step enable` set" in message
    assert "left as it was: nothing was changed" in message
    assert f"resume with: {RESUME}" in message
    assert graph.posts() == []
    assert not (tmp_path / "m.json").exists()
    assert onprem.backups == []


def test_a_wrong_pin_at_the_cloud_stops_at_register_with_the_backup_kept_and_on_prem_running(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    record = Record(tmp_path / "m.json")
    with pytest.raises(MigrationError) as caught:
        migrate(target(pin="654321"), seams(graph, onprem, tmp_path), record, dry_run=False)
    assert caught.value.step == "register"
    assert "133005" in str(caught.value)
    assert "PIN" in str(caught.value)
    assert list(record.read()["steps"]) == ["backup"]
    assert not graph.registered
    assert onprem.stopped == 0
    # Resumed with the right PIN: the backup is reused, not made again.
    done = migrate(target(), seams(graph, onprem, tmp_path), record, dry_run=False)
    assert done["status"] == "migrated"
    assert len(onprem.backups) == 1


def test_a_backup_that_does_not_open_on_resume_stops_before_the_cloud_sees_it(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    record = Record(tmp_path / "m.json")
    with pytest.raises(MigrationError):
        migrate(target(pin="654321"), seams(graph, onprem, tmp_path), record, dry_run=False)
    onprem.readable = False
    posts = graph.posts()
    with pytest.raises(MigrationError, match="nothing was sent to the Cloud API") as caught:
        migrate(target(), seams(graph, onprem, tmp_path), record, dry_run=False)
    assert caught.value.step == "register"
    assert graph.posts() == posts


def test_a_backup_password_the_cloud_refuses_names_the_password(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    graph.backup_password = "another"
    with pytest.raises(MigrationError, match="the backup password does not open the backup") as caught:
        migrate(target(), seams(graph, onprem, tmp_path), Record(tmp_path / "m.json"), dry_run=False)
    assert caught.value.step == "register"
    assert not graph.registered


def test_a_region_for_a_number_already_on_the_cloud_fails_the_checks(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    graph.registered = True
    with pytest.raises(MigrationError, match="can only be set while the number is not registered") as caught:
        migrate(
            target(region="DE"), seams(graph, onprem, tmp_path), Record(tmp_path / "m.json"), dry_run=False
        )
    assert "onprem.yaml:12" in str(caught.value)
    assert graph.posts() == []


@pytest.mark.parametrize(
    ("token", "display", "expected"),
    [
        ("EAAG-some-other-token-0123456789", "+1 631-555-0042", "is invalid or expired"),
        (TOKEN, "+44 20 7946 0000", r"not the On-Prem number \+16315550042"),
    ],
)
def test_a_token_or_number_that_does_not_fit_fails_the_checks_without_the_token_in_the_message(
    onprem: OnPrem, tmp_path: Path, token: str, display: str, expected: str
) -> None:
    graph = FakeGraph(token=token, display=display)
    with pytest.raises(MigrationError, match=expected) as caught:
        migrate(target(), seams(graph, onprem, tmp_path), Record(tmp_path / "m.json"), dry_run=True)
    assert TOKEN not in str(caught.value)
    assert graph.posts() == []


def test_a_token_without_access_to_the_number_says_so(
    onprem: OnPrem, tmp_path: Path, graph: FakeGraph
) -> None:
    with pytest.raises(MigrationError, match="has no access to phone number ID 99999999"):
        migrate(
            target(phone_number_id="99999999"),
            seams(graph, onprem, tmp_path),
            Record(tmp_path / "m.json"),
            dry_run=True,
        )


def test_an_unreachable_relay_or_an_unregistered_number_fails_the_checks_and_both_are_reported(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    graph.relay_up = False
    with pytest.raises(MigrationError) as caught:
        migrate(
            target(),
            seams(graph, onprem, tmp_path, Health("unregistered")),
            Record(tmp_path / "m.json"),
            dry_run=False,
        )
    message = str(caught.value)
    assert "unreachable" in message
    assert "is not registered on the On-Prem client" in message
    assert graph.posts() == []
    assert onprem.backups == []


def test_a_failed_subscription_is_resumed_from_that_step_without_registering_again(
    graph: FakeGraph, onprem: OnPrem, tmp_path: Path
) -> None:
    record = Record(tmp_path / "m.json")
    graph.fail_subscribe = True
    with pytest.raises(MigrationError, match="2200") as caught:
        migrate(target(region="DE"), seams(graph, onprem, tmp_path), record, dry_run=False)
    assert caught.value.step == "subscribe"
    assert "the number is on the Cloud API" in str(caught.value)
    assert set(record.read()["steps"]) == {"backup", "register", "cloud_status"}
    graph.fail_subscribe = False
    done = migrate(target(region="DE"), seams(graph, onprem, tmp_path), record, dry_run=False)
    assert done["status"] == "migrated"
    assert [url for url in graph.posts() if url.endswith("/register")] == [
        f"{GRAPH}/v21.0/{NUMBER_ID}/register"
    ]


def test_a_record_of_another_number_is_refused(graph: FakeGraph, onprem: OnPrem, tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"phone_number_id": "555555555", "steps": {}}')
    with pytest.raises(ConfigError, match="records a migration of phone number ID 555555555"):
        migrate(target(), seams(graph, onprem, tmp_path), Record(tmp_path / "m.json"), dry_run=True)
