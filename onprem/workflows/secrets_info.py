"""`onprem secrets list`, and the backup password's value and whereabouts for `backup` and `restore`.

Nothing here prints or returns a secret's value except `backup_password`, whose caller encrypts with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onprem.deployment import Deployment
from onprem.errors import SecretError
from onprem.secrets import BACKUP_SPEC, describe_source, entries, entry, from_flags


def listing(deployment: Deployment) -> list[dict[str, Any]]:
    """Every configured secret: field, file name, source, whether a value is stored, its status against
    its source (`unchanged`, `new`, `changed`, or `unreadable` with the problem) and whether a rotation
    left a previous value behind. Writes nothing; never a value."""
    store = deployment.secrets
    rows: list[dict[str, Any]] = []
    for found in entries(deployment.loaded, backup=True):
        row: dict[str, Any] = {
            "field": found.field,
            "name": found.name,
            "source": describe_source(found.source),
            "stored": store.read(found.name) is not None,
            "previous_kept": store.previous_path(found.name).exists(),
        }
        try:
            row["status"] = store.status(found)
        except SecretError as exc:
            row["status"], row["problem"] = "unreadable", str(exc)
        if row["status"] == "changed":
            row["fix"] = f"onprem secrets rotate {found.field}"
        rows.append(row)
    return rows


def backup_password(
    deployment: Deployment, file: str | None, env: str | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """(the backup password, where it is, in words). `--password-file`/`--password-env` win; else
    `secrets.backup_password` (generated on first use and kept in the state directory).

    Raises ConfigError, SecretError, SecretsChanged (its source changed: `onprem secrets rotate
    backup_password`), StateError."""
    given = from_flags(file, env, environ, what="backup password", flag="password")
    if given is not None:
        where = f"the file {file}" if file is not None else f"the environment variable {env}"
        return given, where
    found = entry(deployment.loaded, BACKUP_SPEC.field)
    password = deployment.secrets.resolve_one(deployment.loaded, BACKUP_SPEC.field)
    if found.source.source == "generate":
        where = f"{deployment.secrets.path(BACKUP_SPEC.name)} (secrets.backup_password, generated)"
    else:
        where = f"{describe_source(found.source)} (secrets.backup_password)"
    return password, where
