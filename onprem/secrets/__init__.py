"""Secrets of a deployment: where each comes from, how it is checked, and where it is kept.

A secret's value comes from one of: generated on first use (the default, kept in the state directory),
a file, an environment variable, or the output of a command the operator names (a vault CLI). Values are
written only to files of mode 0600 inside a 0700 directory, which compose mounts as `/run/secrets/NAME`.
They are never printed, logged, put in process arguments or in the rendered compose file.

    specs   what each secret is: field, file name, generator, check, configured source (pure)
    store   reading sources, the 0600 store, the values a rotation keeps until it is confirmed
"""

from onprem.secrets.specs import (
    ADMIN_SPECIALS,
    APIKEY_HEADER,
    BACKUP_SPEC,
    CLOUD_TOKEN_SPEC,
    DB_FORBIDDEN,
    SPECS,
    SecretEntry,
    SecretsChanged,
    SecretSpec,
    SecretStatus,
    apikey_header,
    check_admin_password,
    check_api_key,
    check_backup_password,
    check_db_password,
    check_nonempty,
    check_redis_password,
    check_token,
    describe_source,
    entries,
    entry,
    new_token,
)
from onprem.secrets.store import SecretStore, changed_line, from_flags, run_command

__all__ = [
    "ADMIN_SPECIALS",
    "APIKEY_HEADER",
    "BACKUP_SPEC",
    "CLOUD_TOKEN_SPEC",
    "DB_FORBIDDEN",
    "SPECS",
    "SecretEntry",
    "SecretSpec",
    "SecretStatus",
    "SecretStore",
    "SecretsChanged",
    "apikey_header",
    "changed_line",
    "check_admin_password",
    "check_api_key",
    "check_backup_password",
    "check_db_password",
    "check_nonempty",
    "check_redis_password",
    "check_token",
    "describe_source",
    "entries",
    "entry",
    "from_flags",
    "new_token",
    "run_command",
]
