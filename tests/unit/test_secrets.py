"""Secrets: generated once, stored 0600, checked against the client's rules before anything is stored."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from onprem.config import load_settings
from onprem.errors import ConfigError, SecretError, StateError
from onprem.secrets import (
    APIKEY_HEADER,
    SecretsChanged,
    SecretStore,
    check_admin_password,
    check_db_password,
)


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
    from onprem.secret_settings import BUILTIN_SECRET_NAMES
    from onprem.secrets import BACKUP_SPEC, CLOUD_TOKEN_SPEC, SPECS

    assert {spec.name for spec in (*SPECS, BACKUP_SPEC, CLOUD_TOKEN_SPEC)} == BUILTIN_SECRET_NAMES


def snapshot(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in directory.iterdir()} if directory.exists() else {}


@pytest.mark.parametrize("change", ["generated-to-file", "file-content", "env-value", "command-output"])
def test_a_source_giving_another_value_than_the_stored_one_is_refused_naming_the_rotate_command(
    tmp_path: Path, change: str
) -> None:
    secret_file = tmp_path / "dbpass"
    secret_file.write_text("first-password-1\n")
    sources = {
        "generated-to-file": ("", f"secrets:\n  db_password:\n    source: file\n    path: {secret_file}\n"),
        "file-content": (f"secrets:\n  db_password:\n    source: file\n    path: {secret_file}\n",) * 2,
        "env-value": ("secrets:\n  db_password:\n    source: env\n    var: DBPASS\n",) * 2,
        "command-output": ("secrets:\n  db_password:\n    source: command\n    command: [vault, read]\n",)
        * 2,
    }
    before_text, after_text = sources[change]
    environ = {"DBPASS": "first-password-1"}
    outputs = ["first-password-1\n"]
    store = SecretStore(tmp_path / "secrets", environ=environ, runner=lambda _argv: outputs[0])
    store.resolve(loaded_from(tmp_path, before_text))  # type: ignore[arg-type]
    stored = snapshot(tmp_path / "secrets")
    secret_file.write_text("second-password-2\n")
    environ["DBPASS"] = "second-password-2"
    outputs[0] = "second-password-2\n"

    with pytest.raises(SecretsChanged) as caught:
        store.resolve(loaded_from(tmp_path, after_text))  # type: ignore[arg-type]

    (line,) = caught.value.problems
    assert caught.value.fields == ["db_password"]
    assert f"{tmp_path / 'onprem.yaml'}:2: secrets.db_password:" in line
    assert "`onprem secrets rotate db_password`" in line
    assert "second-password-2" not in line
    assert "first-password-1" not in line
    assert snapshot(tmp_path / "secrets") == stored, "nothing is written when a value changed"


def test_the_same_value_from_a_new_source_is_not_a_change(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets", environ={})
    values = store.resolve(loaded_from(tmp_path))  # type: ignore[arg-type]
    (tmp_path / "key").write_text(values["WA_API_KEY"] + "\n")
    text = f"secrets:\n  api_key:\n    source: file\n    path: {tmp_path / 'key'}\n"
    assert store.resolve(loaded_from(tmp_path, text)) == values  # type: ignore[arg-type]


def test_compare_tells_new_unchanged_and_changed_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("k" * 40 + "\n")
    text = f"secrets:\n  api_key:\n    source: file\n    path: {tmp_path / 'key'}\n"
    loaded = loaded_from(tmp_path, text)
    store = SecretStore(tmp_path / "secrets", environ={})

    assert set(store.compare(loaded).values()) == {"new"}  # type: ignore[arg-type]
    assert not (tmp_path / "secrets").exists()
    store.resolve(loaded)  # type: ignore[arg-type]
    assert set(store.compare(loaded).values()) == {"unchanged"}  # type: ignore[arg-type]
    (tmp_path / "key").write_text("j" * 40 + "\n")
    before = snapshot(tmp_path / "secrets")
    compared = store.compare(loaded)  # type: ignore[arg-type]
    assert compared["WA_API_KEY"] == "changed"
    assert {v for k, v in compared.items() if k != "WA_API_KEY"} == {"unchanged"}
    assert snapshot(tmp_path / "secrets") == before


def test_the_backup_password_is_a_configured_secret_stored_on_first_use_and_never_replaced(
    tmp_path: Path,
) -> None:
    store = SecretStore(tmp_path / "secrets", environ={"BK": "backup-password-1"})
    generated = store.resolve_one(loaded_from(tmp_path), "backup_password")  # type: ignore[arg-type]
    assert store.read("BACKUP_PASSWORD") == generated
    assert stat.S_IMODE((tmp_path / "secrets" / "BACKUP_PASSWORD").stat().st_mode) == 0o600

    text = "secrets:\n  backup_password:\n    source: env\n    var: BK\n"
    with pytest.raises(SecretsChanged, match="onprem secrets rotate backup_password"):
        store.resolve_one(loaded_from(tmp_path, text), "backup_password")  # type: ignore[arg-type]
    assert store.read("BACKUP_PASSWORD") == generated
    assert "BACKUP_PASSWORD" not in store.resolve(loaded_from(tmp_path))  # type: ignore[arg-type]


def test_a_kept_previous_value_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets", environ={})
    store.write("WA_API_KEY", "old-key-0123456789")
    kept = store.keep_previous("WA_API_KEY")
    assert kept is not None
    assert kept.read_text() == "old-key-0123456789"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert kept.parent != store.directory, "kept out of the directory copied to remote hosts"
    with pytest.raises(StateError, match="did not finish"):
        store.keep_previous("WA_API_KEY")
