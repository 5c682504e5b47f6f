"""`onprem secrets list` tells each secret's source and status without a value; `secrets rotate` of an
unknown field or with an impossible flag exits 2 naming the fix; nothing needs an engine for that."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.test_operations import run


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("ONPREM_"):
            monkeypatch.delenv(name)
    (tmp_path / "key").write_text("k" * 40 + "\n")
    (tmp_path / "onprem.yaml").write_text(
        f"deployment:\n  name: cli\nsecrets:\n  api_key:\n    source: file\n    path: {tmp_path / 'key'}\n"
    )
    return tmp_path


def test_secrets_list_shows_sources_and_status_and_never_a_value(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = workdir / ".onprem" / "cli" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "WA_API_KEY").write_text("j" * 40)

    code, out, _ = run(["secrets", "list", "--json"], capsys)

    rows = {r["field"]: r for r in json.loads(out)["secrets"]}
    assert code == 0
    assert rows["api_key"] | {"source": ""} == {
        "field": "api_key",
        "name": "WA_API_KEY",
        "source": "",
        "stored": True,
        "previous_kept": False,
        "status": "changed",
        "fix": "onprem secrets rotate api_key",
    }
    assert rows["db_password"]["status"] == "new"
    assert rows["backup_password"]["source"] == "generated"
    assert "k" * 40 not in out
    assert "j" * 40 not in out
    assert not (secrets / "WA_DB_PASSWORD").exists(), "listing writes nothing"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["secrets", "rotate", "nope"], "one of: db_password, api_key"),
        (["secrets", "rotate", "api_key", "--already-changed"], "--already-changed applies to db_password"),
    ],
)
def test_rotate_refusals_exit_2_naming_the_fix(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err
