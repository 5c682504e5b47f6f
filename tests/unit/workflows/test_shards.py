"""The account's shard count: applied only when it differs, refused with the reason, shown by status."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from onprem.errors import ApiError, ConfigError
from onprem.workflows.shards import apply_shards, check_count, shard_counts
from tests.unit.fakes import RecordingEngine, make_deployment

MULTICONNECT = "deployment:\n  name: unit\nclient:\n  mode: multiconnect\n  shards: 2\n"
REGISTERED = {"wacore1:a": {"gateway_status": "connected"}, "wacore2:b": {"gateway_status": "connected"}}
UNREGISTERED = {"wacore1:a": {"gateway_status": "unregistered"}}


@dataclass
class ShardsApi:
    shards: int = 1
    health_answer: dict[str, Any] = field(default_factory=lambda: dict(REGISTERED))
    refuse: ApiError | None = None
    sets: list[tuple[str, str, int, str, str | None]] = field(default_factory=list)

    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        return self.health_answer

    def get_shards(self) -> int:
        return self.shards

    def set_shards(
        self, cc: str, phone_number: str, shards: int, cert: str, *, pin: str | None = None
    ) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.sets.append((cc, phone_number, shards, cert, pin))
        self.shards = shards


def apply(api: ShardsApi, shards: int = 2, pin: str | None = None) -> dict[str, Any]:
    return apply_shards(api, cc="1", phone_number="6315550000", shards=shards, cert="CERT", pin=pin)


def test_shards_are_set_once_and_a_second_run_changes_nothing() -> None:
    api = ShardsApi()
    assert apply(api, pin="123456") == {"shards": 2, "was": 1, "status": "set"}
    assert apply(api) == {"shards": 2, "was": 2, "status": "unchanged"}
    assert api.sets == [("1", "6315550000", 2, "CERT", "123456")]


def test_shards_wait_for_a_registered_number() -> None:
    with pytest.raises(ConfigError, match="not registered yet"):
        apply(ShardsApi(health_answer=UNREGISTERED))


def test_a_refusal_without_a_pin_says_how_to_give_one() -> None:
    api = ShardsApi(refuse=ApiError("1005: access denied", status=403, endpoint="POST /v1/account/shards"))
    with pytest.raises(ApiError, match="give the PIN with --pin-file"):
        apply(api)


def test_a_shard_count_the_deployment_cannot_serve_is_refused_naming_the_setting(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path, RecordingEngine(), text=MULTICONNECT)
    with pytest.raises(ConfigError, match=r"4 shards need 5 Coreapps.*set client.shards: 4"):
        check_count(deployment, 4)
    with pytest.raises(ConfigError, match="3 shards: the client takes 1, 2, 4"):
        check_count(deployment, 3)
    single = make_deployment(tmp_path, RecordingEngine(), text="deployment:\n  name: unit\n")
    with pytest.raises(ConfigError, match=r"shards need client\.mode: multiconnect"):
        check_count(single, 1)


def test_status_names_a_registered_account_whose_shards_differ_from_the_config(tmp_path: Path) -> None:
    api = ShardsApi(shards=1)
    deployment = make_deployment(tmp_path, RecordingEngine(), api=api, text=MULTICONNECT)
    for name, value in (("WA_API_KEY", "k" * 20), ("WA_ADMIN_PASSWORD", "Adm1n#pass")):
        deployment.secrets.write(name, value)
    deployment.state.ca_file.parent.mkdir(parents=True, exist_ok=True)
    deployment.state.ca_file.write_text("CA")
    counts = shard_counts(deployment, REGISTERED)
    assert counts == {
        "account": 1,
        "configured": 2,
        "coreapps": 3,
        "problem": "the account has 1 shard(s) and client.shards is 2: run `onprem shards set 2`",
    }
    assert shard_counts(deployment, UNREGISTERED)["problem"] is None  # type: ignore[index]
    api.shards = 2
    assert shard_counts(deployment, REGISTERED)["problem"] is None  # type: ignore[index]
    assert (
        shard_counts(make_deployment(tmp_path, RecordingEngine(), text="deployment:\n  name: u\n"), {})
        is None
    )
