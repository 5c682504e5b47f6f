"""`onprem migrate cloud`: move the On-Prem number to the Cloud API, resumably.

    checks (all, nothing changes) → backup (verified archive) → register (backup + region) → cloud status
    (CONNECTED, CLOUD_API) → subscribe (the relay's outside address) → relay (its handshake counter moved)
    → stop on-prem (the client's containers; volumes and archive kept)

Each step done is recorded in `<state>/migration.json` (0600) before the next starts, so a rerun resumes
at the first step not done, and a completed migration answers "already migrated". Every failure raises
MigrationError naming the step, what is left as it was, and the exact command that resumes.

The seams (the client's API, the Graph client, an HTTP session for the relay, backup, stop) are injected
in `Seams`; `migrate_cloud` in `migrate_setup` builds them for a deployment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import requests

from onprem.errors import CloudApiError, ConfigError, MigrationError, OnpremError
from onprem.graph.client import INVALID_PARAMETER, PIN_MISMATCH
from onprem.state import read_json, write_json
from onprem.workflows.migrate_checks import (
    Check,
    HealthApi,
    check_cloud_number,
    check_handshake,
    check_onprem_registered,
    check_pin,
    check_region,
    on_cloud,
)

STEPS = ("backup", "register", "cloud_status", "subscribe", "relay", "stop_onprem")
STATUS_ATTEMPTS = 15
STATUS_INTERVAL = 2.0

LEFT = {
    "checks": "nothing was changed: the On-Prem client still serves the number",
    "backup": "nothing was changed on either side: the On-Prem client still serves the number",
    "register": (
        "the number was not moved: the Cloud API refused the register, the On-Prem stack still runs "
        "(check `onprem status`: Meta takes the On-Prem deployment down after a wrong PIN) and the backup "
        "archive is kept"
    ),
    "cloud_status": "the number is registered on the Cloud API; the On-Prem stack still runs (disconnected)",
    "subscribe": "the number is on the Cloud API, no webhooks subscribed; the On-Prem stack still runs",
    "relay": "the number is on the Cloud API and subscribed; the On-Prem stack still runs",
    "stop_onprem": "the number is on the Cloud API, webhooks reach the relay; the On-Prem client still runs",
}


class GraphApi(Protocol):
    def phone_number(self, phone_number_id: str) -> dict[str, Any]: ...

    def register(
        self, phone_number_id: str, *, pin: str, backup: dict[str, str] | None, region: str | None
    ) -> None: ...

    def subscribe(self, waba_id: str, *, callback: str, verify_token: str) -> None: ...

    def subscribed_apps(self, waba_id: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Target:
    """What moves where: the number (digits of cc + number), the Cloud ids, the outside address, the
    region, the PIN and where each came from (for messages; never a secret value)."""

    number_digits: str
    phone_number_id: str
    waba_id: str
    webhook_url: str
    region: str | None
    region_origin: str
    pin: str
    pin_origin: str
    verify_token: str
    token_origin: str
    resume: str
    """The exact command that resumes (e.g. `onprem migrate cloud --pin-file pin.txt`)."""


@dataclass
class Seams:
    onprem: HealthApi
    graph: GraphApi
    http: requests.Session
    pin_record: Path
    internal_ca: Path | None
    make_backup: Callable[[], Path]
    """Write a verified, encrypted On-Prem backup archive; its path."""
    read_backup: Callable[[Path], str]
    """Verify an archive with the backup password; its settings data (what `/v1/settings/backup` gave)."""
    backup_password: Callable[[], str]
    relay_verifications: Callable[[], float | None]
    """The relay's count of verified Cloud handshakes (its /metrics), None when unreadable."""
    stop_onprem: Callable[[], None]
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    progress: Callable[[str], None] = field(default=lambda _line: None)


class Record:
    """`<state>/migration.json`: the steps done, each with when and what it made."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        """The record ({} when none). Raises StateError when unreadable."""
        data = read_json(self.path, "the migration's progress")
        return data if isinstance(data, dict) else {}

    def done(self, data: dict[str, Any], step: str, now: datetime, **info: Any) -> None:
        data.setdefault("steps", {})[step] = {"at": now.isoformat(), **info}
        write_json(self.path, data, private=True)


def failure(step: str, reason: str, target: Target, *, left: str | None = None) -> MigrationError:
    return MigrationError(
        f"migrate cloud stopped at step {step}: {reason}\n"
        f"left as it was: {left or LEFT[step]}\n"
        f"resume with: {target.resume}",
        step=step,
    )


def run_checks(
    target: Target, seams: Seams, record: dict[str, Any]
) -> tuple[list[Check], dict[str, Any] | None]:
    """Every check; the On-Prem ones only while the register is not done. Changes nothing."""
    steps = record.get("steps", {})
    checks: list[Check] = []
    if "register" not in steps:
        checks.append(check_onprem_registered(seams.onprem, f"+{target.number_digits}"))
        checks.append(check_pin(seams.pin_record, target.pin, target.pin_origin))
    cloud, number = check_cloud_number(
        seams.graph, target.phone_number_id, target.number_digits, target.token_origin
    )
    checks.append(cloud)
    if "register" in steps and target.region == steps["register"].get("region"):
        checks.append(
            Check("data localization region", True, f"{target.region or 'none'}, set by the register")
        )
    else:
        checks.append(check_region(target.region, number, target.region_origin))
    checks.append(
        check_handshake(seams.http, target.webhook_url, target.verify_token, internal_ca=seams.internal_ca)
    )
    return checks, number


def migrate(target: Target, seams: Seams, record: Record, *, dry_run: bool) -> dict[str, Any]:
    """Check, then (unless `dry_run`) do every step not yet recorded. The result: status, checks, steps.

    Raises MigrationError (step, what is left, how to resume) when a check or step fails; with `dry_run`
    when a check fails (nothing is changed either way)."""
    data = record.read()
    if data and data.get("phone_number_id") not in (None, target.phone_number_id):
        raise ConfigError(
            f"{record.path} records a migration of phone number ID {data.get('phone_number_id')}, not "
            f"{target.phone_number_id}: finish that one, or move the file away to start another"
        )
    if data.get("completed"):
        moved_with = data.get("steps", {}).get("register", {}).get("region")
        if target.region is not None and target.region != moved_with:
            raise failure(
                "checks",
                f"{target.region_origin}: data_localization_region {target.region} can only be set while the "
                f"number is not registered on the Cloud API; it moved there on {data['completed']} with "
                f"region {moved_with or 'none'}",
                target,
                left="the migration is complete; nothing was changed",
            )
        return {
            "status": "already migrated",
            "completed": data["completed"],
            "steps": [s for s in STEPS if s in data["steps"]],
        }
    checks, _number = run_checks(target, seams, data)
    failed = [c for c in checks if not c.ok]
    done = [step for step in STEPS if step in data.get("steps", {})]
    result: dict[str, Any] = {
        "phone_number_id": target.phone_number_id,
        "checks": [c.as_dict() for c in checks],
        "steps_done": done,
        "steps_to_do": [s for s in STEPS if s not in done],
    }
    if failed:
        reasons = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        left = LEFT["checks"] if not done else f"nothing more was changed ({', '.join(done)} done before)"
        raise failure("checks", reasons, target, left=left)
    if dry_run:
        return {"status": "dry run: every check passed, nothing was changed", **result}
    if not data:
        data = {"phone_number_id": target.phone_number_id, "number": f"+{target.number_digits}", "steps": {}}
    for step in STEPS:
        if step in data["steps"]:
            continue
        seams.progress(f"migrate cloud: {step}")
        info = STEP_FUNCTIONS[step](target, seams, data)
        record.done(data, step, seams.now(), **info)
    data["completed"] = seams.now().isoformat()
    write_json(record.path, data, private=True)
    return {
        "status": "migrated",
        **result,
        "steps_done": list(STEPS),
        "steps_to_do": [],
        "backup_file": data["steps"]["backup"].get("file"),
    }


def _backup(target: Target, seams: Seams, _data: dict[str, Any]) -> dict[str, Any]:
    try:
        path = seams.make_backup()
        seams.read_backup(path)  # verified: checksum, password, members, the settings inside
    except OnpremError as exc:
        raise failure("backup", str(exc), target) from None
    return {"file": str(path)}


def _register(target: Target, seams: Seams, data: dict[str, Any]) -> dict[str, Any]:
    path = Path(data["steps"]["backup"]["file"])
    try:
        settings = seams.read_backup(path)
        password = seams.backup_password()
    except OnpremError as exc:
        raise failure(
            "register",
            f"the backup archive {path} cannot be used: {exc}; give the password it was made with "
            "(--password-file), or move migration.json away to make a new backup",
            target,
            left="nothing was sent to the Cloud API: the On-Prem client still serves the number",
        ) from None
    try:
        seams.graph.register(
            target.phone_number_id,
            pin=target.pin,
            backup={"data": settings, "password": password},
            region=target.region,
        )
    except CloudApiError as exc:
        raise failure("register", _explain_register(exc, target), target) from None
    return {"region": target.region}


def _explain_register(exc: CloudApiError, target: Target) -> str:
    text = f"{exc.details} {exc}".lower()
    if exc.code == PIN_MISMATCH:
        return (
            f"{exc}: the two-step PIN from {target.pin_origin} is wrong; give the number's PIN (--pin-file)"
        )
    if exc.code == INVALID_PARAMETER and "backup password" in text:
        return (
            f"{exc}: the backup password does not open the backup (secrets.backup_password / --password-file)"
        )
    if exc.code == INVALID_PARAMETER and "region" in text:
        return (
            f"{exc}: {target.region_origin}: drop the region (it can only be set before the first register)"
        )
    return str(exc)


def _cloud_status(target: Target, seams: Seams, _data: dict[str, Any]) -> dict[str, Any]:
    number: dict[str, Any] = {}
    for attempt in range(STATUS_ATTEMPTS):
        try:
            number = seams.graph.phone_number(target.phone_number_id)
        except CloudApiError as exc:
            raise failure("cloud_status", str(exc), target) from None
        if on_cloud(number):
            return {"status": number.get("status"), "region": number.get("data_localization_region")}
        if attempt + 1 < STATUS_ATTEMPTS:
            seams.sleep(STATUS_INTERVAL)
    raise failure(
        "cloud_status",
        f"the Cloud API reports status {number.get('status')!r}, platform {number.get('platform_type')!r} "
        f"after {STATUS_ATTEMPTS * STATUS_INTERVAL:g} s (expected CONNECTED, CLOUD_API)",
        target,
    )


def _subscribe(target: Target, seams: Seams, _data: dict[str, Any]) -> dict[str, Any]:
    before = seams.relay_verifications()
    try:
        seams.graph.subscribe(target.waba_id, callback=target.webhook_url, verify_token=target.verify_token)
        apps = seams.graph.subscribed_apps(target.waba_id)
    except CloudApiError as exc:
        raise failure(
            "subscribe", f"{exc}: the relay must answer Meta's handshake at {target.webhook_url}", target
        ) from None
    if not any(app.get("override_callback_uri") == target.webhook_url for app in apps):
        raise failure("subscribe", f"the WABA's subscribed apps do not call {target.webhook_url}", target)
    return {"callback": target.webhook_url, "relay_verifications_before": before}


def _relay(target: Target, seams: Seams, data: dict[str, Any]) -> dict[str, Any]:
    before = data["steps"]["subscribe"].get("relay_verifications_before")
    after = seams.relay_verifications()
    if after is None:
        raise failure(
            "relay", "the relay's /metrics cannot be read (is the relay running? `onprem status`)", target
        )
    if before is not None and after <= before:
        raise failure(
            "relay",
            f"the relay counted no Cloud handshake while the Cloud API subscribed {target.webhook_url}: "
            "that address reaches another server",
            target,
        )
    return {"relay_verifications": after}


def _stop_onprem(target: Target, seams: Seams, _data: dict[str, Any]) -> dict[str, Any]:
    try:
        seams.stop_onprem()
    except OnpremError as exc:
        raise failure("stop_onprem", str(exc), target) from None
    return {"stopped": True, "volumes_kept": True}


STEP_FUNCTIONS: dict[str, Callable[[Target, Seams, dict[str, Any]], dict[str, Any]]] = {
    "backup": _backup,
    "register": _register,
    "cloud_status": _cloud_status,
    "subscribe": _subscribe,
    "relay": _relay,
    "stop_onprem": _stop_onprem,
}
