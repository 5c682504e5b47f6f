"""Secrets: generated once, stored 0600, checked against the client's rules before anything is stored."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from onprem.config import load_settings
from onprem.errors import ConfigError, SecretError
from onprem.secrets import APIKEY_HEADER, SecretStore, check_admin_password, check_db_password


def loaded_from(tmp_path: Path, text: str = "") -> object:
    path = tmp_path / "onprem.yaml"
    path.write_text(text or "deployment:\n  name: demo\n")
    return load_settings(path, environ={}, cwd=tmp_path)


def test_generated_secrets_are_stable_and_private(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets", environ={})
    loaded = loaded_from(tmp_path)
    first = store.resolve(loaded)  # type: ignore[arg-type]
    second = store.resolve(loaded)  # type: ignore[arg-type]
    assert first == second
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    for name in ("WA_DB_PASSWORD", "WA_API_KEY", "WA_ADMIN_PASSWORD", APIKEY_HEADER):
        assert stat.S_IMODE((tmp_path / "secrets" / name).stat().st_mode) == 0o600
    assert check_db_password(first["WA_DB_PASSWORD"]) is None
    assert check_admin_password(first["WA_ADMIN_PASSWORD"]) is None
    assert first[APIKEY_HEADER] == f"Authorization: Apikey {first['WA_API_KEY']}\n"


def test_forbidden_db_password_character_names_file_line_and_field(tmp_path: Path) -> None:
    text = "secrets:\n  db_password:\n    source: env\n    var: DBPASS\n"
    loaded = loaded_from(tmp_path, text)
    store = SecretStore(tmp_path / "secrets", environ={"DBPASS": "abc!def"})
    with pytest.raises(ConfigError) as caught:
        store.resolve(loaded)  # type: ignore[arg-type]
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'onprem.yaml'}:2: secrets.db_password (from env): contains !")
    assert "abc!def" not in problem


def test_nothing_is_stored_when_any_secret_is_invalid(tmp_path: Path) -> None:
    text = "secrets:\n  api_key:\n    source: env\n    var: KEY\n"
    store = SecretStore(tmp_path / "secrets", environ={"KEY": "short"})
    with pytest.raises(ConfigError, match="WA_API_KEY must be 12-128 characters"):
        store.resolve(loaded_from(tmp_path, text))  # type: ignore[arg-type]
    assert not (tmp_path / "secrets").exists()


def test_command_source_uses_the_named_command(tmp_path: Path) -> None:
    text = "secrets:\n  api_key:\n    source: command\n    command: [vault, read, key]\n"
    calls: list[list[str]] = []

    def runner(argv: list[str]) -> str:
        calls.append(argv)
        return "k" * 40 + "\n"

    store = SecretStore(tmp_path / "secrets", environ={}, runner=runner)
    values = store.resolve(loaded_from(tmp_path, text))  # type: ignore[arg-type]
    assert calls == [["vault", "read", "key"]]
    assert values["WA_API_KEY"] == "k" * 40


def test_file_source_reads_the_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "dbpass"
    secret_file.write_text("fromfile123\n")
    text = f"secrets:\n  db_password:\n    source: file\n    path: {secret_file}\n"
    values = SecretStore(tmp_path / "s", environ={}).resolve(loaded_from(tmp_path, text))  # type: ignore[arg-type]
    assert values["WA_DB_PASSWORD"] == "fromfile123"


def test_missing_env_variable_is_a_secret_error(tmp_path: Path) -> None:
    text = "secrets:\n  db_password:\n    source: env\n    var: NOPE\n"
    with pytest.raises(SecretError, match="environment variable NOPE is not set"):
        SecretStore(tmp_path / "s", environ={}).resolve(loaded_from(tmp_path, text))  # type: ignore[arg-type]


def test_source_without_its_field_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "onprem.yaml"
    path.write_text("secrets:\n  db_password:\n    source: file\n")
    with pytest.raises(ConfigError, match=r"onprem.yaml:2: secrets.db_password: source 'file' needs 'path'"):
        load_settings(path, environ={}, cwd=tmp_path)


def test_the_config_reserves_exactly_the_built_in_secret_names() -> None:
    from onprem.config import BUILTIN_SECRET_NAMES
    from onprem.secrets import SPECS

    assert {spec.name for spec in SPECS} == BUILTIN_SECRET_NAMES
