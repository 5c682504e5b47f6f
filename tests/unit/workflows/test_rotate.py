"""`onprem secrets rotate`: each secret is changed where it lives first, then stored, then the services
that read it are recreated and gated; a failure puts everything back and says so; what onprem cannot
change itself is refused with what to do; the replaced value is kept (0600) until the change is healthy."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.bundle import write_bundle
from onprem.config import Settings
from onprem.deployment import Deployment
from onprem.errors import ConfigError, GateError, OnpremError
from onprem.render import render
from onprem.workflows import dbpassword
from onprem.workflows.rotate import rotate
from onprem.workflows.webhooks import relay_url
from tests.unit.workflows.stack_fake import FakeClientApi, StackEngine, stack_deployment

BASE = "deployment:\n  name: p\n  timeout_seconds: 10\n"
NEW_DB = "N3w-db-password_0123456789"


def deployed(
    tmp_path: Path, extra: str = "", db: str = "mysql"
) -> tuple[Deployment, StackEngine, FakeClientApi]:
    """A deployed stack of BASE + `extra`: secrets resolved, bundle written, every service started."""
    text = BASE + f"db:\n  engine: {db}\n" + extra
    api = FakeClientApi(admin_password="")
    engine = StackEngine(tmp_path / ".onprem" / "p" / "secrets")
    deployment = stack_deployment(tmp_path, text, api, engine)
    values = deployment.secrets.resolve(deployment.loaded)
    write_bundle(deployment.state.bundle, render(deployment.settings, kit={}))
    engine.db_password = values["WA_DB_PASSWORD"]
    api.admin_password = values["WA_ADMIN_PASSWORD"]
    engine.start()
    deployment.pin_ca()
    return deployment, engine, api


def source_file(tmp_path: Path, field: str, value: str) -> str:
    path = tmp_path / f"{field}.txt"
    path.write_text(value + "\n")
    return f"secrets:\n  {field}:\n    source: file\n    path: {path}\n"


def switch_to_file(
    tmp_path: Path, deployment: Deployment, field: str, value: str, api: FakeClientApi
) -> Deployment:
    """The same deployment after its config names a file holding `value` as `secrets.<field>`."""
    text = (tmp_path / "onprem.yaml").read_text() + source_file(tmp_path, field, value)
    return stack_deployment(tmp_path, text, api, deployment.engine)


def clients_use_db_password(engine: StackEngine) -> bool:
    return all(engine.mounted[s]["WA_DB_PASSWORD"] == engine.db_password for s in ("wacore", "waweb"))


def test_db_password_changes_in_the_database_first_then_recreates_its_readers_and_forgets_the_old(
    tmp_path: Path,
) -> None:
    deployment, engine, api = deployed(tmp_path)
    old = engine.db_password
    deployment = switch_to_file(tmp_path, deployment, "db_password", NEW_DB, api)
    engine.healthy = clients_use_db_password

    done = rotate(deployment, "db_password")

    assert done["status"] == "rotated"
    assert done["steps"][:3] == ["changed in the database", "the new password logs in", "stored"]
    assert engine.db_password == NEW_DB
    assert deployment.secrets.read("WA_DB_PASSWORD") == NEW_DB
    recreate = next(c for c in engine.calls if c[:2] == ("compose", "up"))
    assert recreate[1:6] == ("up", "--detach", "--no-deps", "--force-recreate", "db")
    assert set(recreate[6:]) == {"wacore", "waweb"}
    assert all(engine.mounted[s]["WA_DB_PASSWORD"] == NEW_DB for s in ("db", "wacore", "waweb"))
    assert not deployment.secrets.previous_path("WA_DB_PASSWORD").exists()
    for call in engine.calls:
        assert not any(NEW_DB in str(word) or old in str(word) for word in call), call


def test_db_password_sql_and_login_reach_the_container_as_0600_files_in_a_0700_directory() -> None:
    tar = dbpassword.work_tar("old-pass", "ALTER USER 'root'@'%' IDENTIFIED BY 'it''s\\\\';\n")
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        modes = {info.name: info.mode for info in archive.getmembers()}
    assert modes == {"onprem-rotate": 0o700, "onprem-rotate/auth": 0o600, "onprem-rotate/change.sql": 0o600}
    assert dbpassword.change_sql("mysql", "root", ["%", "localhost"], "it's\\x") == (
        "ALTER USER 'root'@'%' IDENTIFIED BY 'it''s\\\\x', 'root'@'localhost' IDENTIFIED BY 'it''s\\\\x';\n"
    )
    assert dbpassword.change_sql("postgres", 'we"ird', [], "it's\\x") == (
        "SET log_statement = 'none';\nALTER ROLE \"we\"\"ird\" PASSWORD 'it''s\\x';\n"
    )


def test_postgres_db_password_is_changed_with_alter_role(tmp_path: Path) -> None:
    deployment, engine, api = deployed(tmp_path, db="postgres")
    deployment = switch_to_file(tmp_path, deployment, "db_password", NEW_DB, api)

    assert rotate(deployment, "db_password")["status"] == "rotated"
    assert engine.db_password == NEW_DB
    scripts = [c[4] for c in engine.calls if c[0] == "exec" and c[2] == "sh"]
    assert all("psql" in s for s in scripts)


def test_a_stack_that_fails_its_gate_after_a_db_password_rotation_is_put_back_and_says_so(
    tmp_path: Path,
) -> None:
    deployment, engine, api = deployed(tmp_path)
    old = engine.db_password
    deployment = switch_to_file(tmp_path, deployment, "db_password", NEW_DB, api)
    engine.healthy = lambda e: e.db_password == old and clients_use_db_password(e)

    with pytest.raises(GateError) as caught:
        rotate(deployment, "db_password")

    message = str(caught.value)
    assert "rotating secrets.db_password failed" in message
    assert "undone: changed in the database" in message
    assert "with the previous value: healthy" in message
    assert caught.value.logs
    assert engine.db_password == old
    assert deployment.secrets.read("WA_DB_PASSWORD") == old
    assert all(engine.mounted[s]["WA_DB_PASSWORD"] == old for s in ("db", "wacore", "waweb"))
    assert not deployment.secrets.previous_path("WA_DB_PASSWORD").exists()


def test_when_putting_back_fails_too_the_previous_value_stays_kept_0600_and_the_error_names_it(
    tmp_path: Path,
) -> None:
    deployment, engine, api = deployed(tmp_path)
    old = engine.db_password
    deployment = switch_to_file(tmp_path, deployment, "db_password", NEW_DB, api)
    engine.healthy = lambda _e: False

    with pytest.raises(GateError) as caught:
        rotate(deployment, "db_password")

    kept = deployment.secrets.previous_path("WA_DB_PASSWORD")
    assert str(kept) in str(caught.value)
    assert kept.read_text() == old
    assert kept.stat().st_mode & 0o777 == 0o600
    assert "the store holds the previous value" in str(caught.value)
    with pytest.raises(OnpremError, match="did not finish"):
        rotate(deployment, "db_password")


def test_an_unhealthy_deployment_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    deployment, engine, api = deployed(tmp_path)
    old = engine.db_password
    deployment = switch_to_file(tmp_path, deployment, "db_password", NEW_DB, api)
    engine.broken = {"wacore"}

    with pytest.raises(OnpremError, match=r"not healthy \(service wacore .*\); nothing was changed"):
        rotate(deployment, "db_password")
    assert (engine.db_password, deployment.secrets.read("WA_DB_PASSWORD")) == (old, old)
    assert not [c for c in engine.calls if c[0] in ("exec", "compose")]


def test_a_deployment_never_started_only_stores_the_new_value(tmp_path: Path) -> None:
    deployment, engine, api = deployed(tmp_path)
    deployment = switch_to_file(tmp_path, deployment, "db_password", NEW_DB, api)
    engine.up = False

    done = rotate(deployment, "db_password")

    assert (done["status"], done["steps"]) == ("stored", ["stored"])
    assert deployment.secrets.read("WA_DB_PASSWORD") == NEW_DB


def test_an_external_database_password_is_refused_until_it_was_changed_there(tmp_path: Path) -> None:
    external = "db:\n  engine: external\n  external:\n    host: db.internal\n"
    api = FakeClientApi(admin_password="x")
    engine = StackEngine(
        tmp_path / ".onprem" / "p" / "secrets", services=("wacore", "waweb", "relay", "exporter")
    )
    deployment = stack_deployment(tmp_path, BASE + external, api, engine)
    deployment.secrets.resolve(deployment.loaded)
    write_bundle(deployment.state.bundle, render(deployment.settings, kit={}))
    engine.start()
    deployment = switch_to_file(tmp_path, deployment, "db_password", NEW_DB, api)

    with pytest.raises(
        ConfigError, match=r"set it there .* then run `onprem secrets rotate db_password --already-changed`"
    ):
        rotate(deployment, "db_password")
    assert deployment.secrets.read("WA_DB_PASSWORD") != NEW_DB

    done = rotate(deployment, "db_password", already_changed=True)

    assert done["steps"][0] == "stored"
    assert not [c for c in engine.calls if c[0] == "exec"]
    recreate = next(c for c in engine.calls if c[:2] == ("compose", "up"))
    assert set(recreate[5:]) == {"wacore", "waweb"}


def test_api_key_rotation_stores_key_and_header_recreates_web_and_exporter_and_gates_with_the_new_key(
    tmp_path: Path,
) -> None:
    deployment, engine, api = deployed(tmp_path)
    old = deployment.secrets.read("WA_API_KEY")

    done = rotate(deployment, "api_key")

    new = deployment.secrets.read("WA_API_KEY")
    assert done["status"] == "rotated"
    assert new not in (None, old)
    assert deployment.secrets.read("apikey.header") == f"Authorization: Apikey {new}\n"
    recreate = next(c for c in engine.calls if c[:2] == ("compose", "up"))
    assert set(recreate[5:]) == {"waweb", "exporter"}
    assert api.calls[-1] == f"health {new}"
    assert not deployment.secrets.previous_dir.exists() or not any(deployment.secrets.previous_dir.iterdir())


def test_admin_password_is_changed_through_the_client_with_the_old_one_then_stored(tmp_path: Path) -> None:
    deployment, _engine, api = deployed(tmp_path)
    old = api.admin_password
    deployment = switch_to_file(tmp_path, deployment, "admin_password", "N3w#Admin-pass", api)

    done = rotate(deployment, "admin_password")

    assert done["steps"][:3] == ["changed in the client", "the new password logs in", "stored"]
    assert api.admin_password == "N3w#Admin-pass" != old
    assert deployment.secrets.read("WA_ADMIN_PASSWORD") == "N3w#Admin-pass"


def test_relay_path_token_moves_the_webhooks_url_only_when_it_pointed_at_the_relay(tmp_path: Path) -> None:
    deployment, engine, api = deployed(
        tmp_path, "relay:\n  tls: {}\nsecrets:\n  extra:\n    RELAY_TLS_CERT: {}\n    RELAY_TLS_KEY: {}\n"
    )
    old = deployment.secrets.read("RELAY_PATH_TOKEN") or ""
    api.settings["webhooks"]["url"] = relay_url(Settings(), old)

    rotate(deployment, "relay_path_token")

    new = deployment.secrets.read("RELAY_PATH_TOKEN") or ""
    assert api.settings["webhooks"]["url"] == relay_url(Settings(), new) != relay_url(Settings(), old)
    assert engine.mounted["relay"]["RELAY_PATH_TOKEN"] == new

    api.settings["webhooks"]["url"] = "https://elsewhere.example/hook"
    done = rotate(deployment, "relay_path_token")
    assert api.settings["webhooks"]["url"] == "https://elsewhere.example/hook"
    assert "left as it is" in done["notes"][0]


def test_backup_password_keeps_the_old_one_for_good_for_older_archives(tmp_path: Path) -> None:
    deployment, _engine, _api = deployed(tmp_path)
    old = deployment.secrets.resolve_one(deployment.loaded, "backup_password")

    done = rotate(deployment, "backup_password")

    archived = deployment.secrets.path("BACKUP_PASSWORD.20260101T000000Z")
    assert archived.read_text() == old
    assert archived.stat().st_mode & 0o777 == 0o600
    assert deployment.secrets.read("BACKUP_PASSWORD") not in (None, old)
    assert str(archived) in " ".join(done["notes"])


def test_an_unchanged_source_rotates_nothing(tmp_path: Path) -> None:
    deployment, engine, api = deployed(tmp_path)
    same = deployment.secrets.read("WA_DB_PASSWORD") or ""
    deployment = switch_to_file(tmp_path, deployment, "db_password", same, api)

    assert rotate(deployment, "db_password") == {
        "field": "db_password",
        "name": "WA_DB_PASSWORD",
        "source": f"the file {tmp_path / 'db_password.txt'}",
        "notes": [],
        "status": "unchanged",
        "steps": [],
    }
    assert engine.calls == []


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("nope", "no such secret .* one of: db_password, api_key"),
        ("extra.RELAY_TLS_CERT", "renew it with `onprem certs issue`"),
    ],
)
def test_unknown_fields_and_certificate_files_are_refused(tmp_path: Path, field: str, message: str) -> None:
    deployment, _engine, _api = deployed(tmp_path, "secrets:\n  extra:\n    RELAY_TLS_CERT: {}\n")
    with pytest.raises(ConfigError, match=message):
        rotate(deployment, field)


def test_a_new_value_the_client_would_refuse_is_refused_before_anything(tmp_path: Path) -> None:
    deployment, engine, api = deployed(tmp_path)
    deployment = switch_to_file(tmp_path, deployment, "db_password", "bad!password", api)
    with pytest.raises(ConfigError, match=r"secrets.db_password \(from the file .*\): contains !"):
        rotate(deployment, "db_password")
    assert engine.calls == []
