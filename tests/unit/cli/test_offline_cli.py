"""CLI of offline bundles: the commands are there, and a bad bundle is refused with exit code 2 before
the deployment is locked or anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_bundle_is_a_command_and_deploy_and_plan_take_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert "  bundle " in run(["--help"], capsys)[1]
    assert "--output FILE" in run(["bundle", "--help"], capsys)[1]
    for command in ("deploy", "plan"):
        assert "--bundle FILE" in run([command, "--help"], capsys)[1]


@pytest.mark.parametrize("command", ["deploy", "plan"])
def test_a_file_that_is_no_bundle_is_refused_before_anything_is_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "onprem.yaml").write_text("deployment:\n  name: cli\n")
    (tmp_path / "site.tar").write_text("not a tar\n" * 100)
    code, out, err = run([command, "--bundle", "site.tar"], capsys)
    assert code == 2
    assert out == ""
    assert "error: bundle site.tar: it is not an onprem bundle" in err
    assert "nothing was changed" in err
    assert not (tmp_path / ".onprem").exists(), "no lock, no audit line, no state"
