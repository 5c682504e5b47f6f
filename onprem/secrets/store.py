"""The secret store of one deployment's state directory: reading each secret from its source, the 0600
files compose mounts as `/run/secrets/NAME`, and the replaced values a rotation keeps until the change
is confirmed healthy.

A stored value is never overwritten by a different one from its source: `resolve` raises
`SecretsChanged` (naming `onprem secrets rotate FIELD`) and writes nothing; only a rotation replaces a
value, keeping the old one (`keep_previous`) until it is done.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from onprem.config import LoadedConfig
from onprem.errors import ConfigError, SecretError, StateError
from onprem.secrets.specs import (
    APIKEY_HEADER,
    SecretEntry,
    SecretsChanged,
    SecretStatus,
    apikey_header,
    describe_source,
    entries,
    entry,
)


def run_command(argv: list[str]) -> str:
    """Default runner for `source: command`: the command's stdout, without a shell.

    Raises SecretError when the command is missing, fails or times out (its output is not shown).
    """
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise SecretError(f"secret command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"secret command timed out after 60 s: {argv[0]}") from None
    if done.returncode != 0:
        raise SecretError(f"secret command {argv[0]} exited {done.returncode}")
    return done.stdout


def _write_private(directory: Path, name: str, value: str) -> None:
    """Write `directory/name` atomically, mode 0600 in a 0700 directory. Raises OSError."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    tmp = directory / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    os.replace(tmp, directory / name)


def changed_line(found: SecretEntry, stored_at: Path) -> str:
    """The message line for a secret whose source now gives another value than the stored one."""
    return (
        f"{found.where}: secrets.{found.field}: {describe_source(found.source)} now gives a different value "
        f"than the one the deployment uses (kept in {stored_at}); deploy never replaces a secret in use. "
        f"Rotate it with `onprem secrets rotate {found.field}` (it changes the secret in the running "
        "deployment and keeps the old value until that is healthy), or put the previous source back"
    )


class SecretStore:
    """The secrets directory of one deployment's state (`<state>/secrets`, mode 0700), and beside it the
    directory of replaced values a rotation keeps until it is confirmed (`previous`, mode 0700)."""

    def __init__(
        self,
        directory: Path,
        *,
        environ: Mapping[str, str],
        runner: Callable[[list[str]], str] = run_command,
        previous: Path | None = None,
    ) -> None:
        self.directory = directory
        self.previous_dir = previous if previous is not None else directory.parent / "secrets-previous"
        self._environ = environ
        self._runner = runner

    def path(self, name: str) -> Path:
        return self.directory / name

    def read(self, name: str) -> str | None:
        """The stored value of a secret, or None when it was never written."""
        try:
            return self.path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write(self, name: str, value: str) -> None:
        """Store a value atomically with mode 0600. Raises StateError when the directory is unusable."""
        try:
            _write_private(self.directory, name, value)
        except OSError as exc:
            raise StateError(f"cannot write secret {name} in {self.directory}: {exc.strerror}") from None

    def remove(self, name: str) -> None:
        """Forget a stored value (a rotation undoing the first store of a secret). Raises StateError."""
        try:
            self.path(name).unlink(missing_ok=True)
        except OSError as exc:
            raise StateError(f"cannot remove secret {name} in {self.directory}: {exc.strerror}") from None

    def source_value(self, found: SecretEntry) -> str | None:
        """The value the secret's source gives now; None for `generate` (its value is the stored one).

        Raises SecretError when the file, variable or command cannot be read."""
        source, field = found.source, found.field
        if source.source == "generate":
            return None
        if source.source == "file":
            assert source.path is not None
            try:
                return Path(source.path).expanduser().read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise SecretError(
                    f"{found.where}: secrets.{field}: cannot read {source.path}: {exc.strerror}"
                ) from None
        if source.source == "env":
            assert source.var is not None
            if source.var not in self._environ:
                raise SecretError(
                    f"{found.where}: secrets.{field}: environment variable {source.var} is not set"
                )
            return self._environ[source.var]
        assert source.command is not None
        return self._runner(source.command).rstrip("\n")

    def _value(self, found: SecretEntry) -> str:
        # What deploy uses: the source's value, else the stored one, else a new one (stored by the caller).
        value = self.source_value(found)
        if value is not None:
            return value
        stored = self.read(found.name)
        return stored if stored is not None else found.spec.generate()

    def status(self, found: SecretEntry) -> SecretStatus:
        """`new` (nothing stored yet), `unchanged`, or `changed` (the source gives another value than the
        stored one). Writes nothing. Raises SecretError when the source cannot be read."""
        stored = self.read(found.name)
        if stored is None:
            return "new"
        value = self.source_value(found)
        return "unchanged" if value is None or value == stored else "changed"

    def compare(self, loaded: LoadedConfig) -> dict[str, SecretStatus]:
        """The status of every secret `deploy` resolves, by file name (`WA_DB_PASSWORD`, an extra's
        name), without writing anything. Raises SecretError when a source cannot be read."""
        return {found.name: self.status(found) for found in entries(loaded)}

    def resolve(self, loaded: LoadedConfig) -> dict[str, str]:
        """Every secret's value by file name, generating missing ones, checking all before storing any.

        Raises ConfigError (file:line:field) for a value the client would refuse, SecretsChanged (a
        ConfigError naming `onprem secrets rotate FIELD`) when a source now gives another value than the
        stored one, SecretError for a source that cannot be read, StateError when the store cannot be
        written. Nothing is written when it raises.
        """
        values: dict[str, str] = {}
        problems: list[str] = []
        changed: list[SecretEntry] = []
        for found in entries(loaded):
            value = self._value(found)
            problem = found.spec.check(value)
            if problem:
                origin = f" (from {found.source.source})" if found.source.source != "generate" else ""
                problems.append(f"{found.where}: secrets.{found.field}{origin}: {problem}")
            stored = self.read(found.name)
            if stored is not None and stored != value:
                changed.append(found)
            values[found.name] = value
        if problems:
            raise ConfigError(problems)
        if changed:
            lines = [changed_line(found, self.path(found.name)) for found in changed]
            raise SecretsChanged(lines, [found.field for found in changed])
        values[APIKEY_HEADER] = apikey_header(values["WA_API_KEY"])
        for name, value in values.items():
            if self.read(name) != value:
                self.write(name, value)
        return values

    def resolve_one(self, loaded: LoadedConfig, field: str) -> str:
        """One secret (`backup_password`) by the rules of `resolve`: stored on first use, never replaced.

        Raises ConfigError, SecretsChanged, SecretError or StateError as `resolve`."""
        found = entry(loaded, field)
        value = self._value(found)
        problem = found.spec.check(value)
        if problem:
            raise ConfigError(f"{found.where}: secrets.{found.field}: {problem}")
        stored = self.read(found.name)
        if stored is not None and stored != value:
            raise SecretsChanged([changed_line(found, self.path(found.name))], [found.field])
        if stored is None:
            self.write(found.name, value)
        return value

    def candidate(self, found: SecretEntry) -> str:
        """The value a rotation sets: the source's, or a freshly generated one for `generate`.

        Raises ConfigError when the client would refuse it, SecretError when the source is unreadable."""
        value = self.source_value(found)
        if value is None:
            value = found.spec.generate()
        problem = found.spec.check(value)
        if problem:
            origin = describe_source(found.source)
            raise ConfigError(f"{found.where}: secrets.{found.field} (from {origin}): {problem}")
        return value

    def previous_path(self, name: str) -> Path:
        return self.previous_dir / name

    def keep_previous(self, name: str) -> Path | None:
        """Copy the stored value of `name` to the previous-values directory (0600); None when nothing is
        stored. Raises StateError when a previous value is already kept there (a rotation that did not
        finish: it must not be overwritten) or the directory is unusable."""
        value = self.read(name)
        if value is None:
            return None
        self.check_no_previous(name)
        target = self.previous_path(name)
        try:
            _write_private(self.previous_dir, name, value)
        except OSError as exc:
            where = self.previous_dir
            raise StateError(f"cannot keep the previous {name} in {where}: {exc.strerror}") from None
        return target

    def check_no_previous(self, name: str) -> None:
        """Raise StateError when a previous value of `name` is still kept: a rotation did not finish."""
        target = self.previous_path(name)
        if target.exists():
            raise StateError(
                f"{target} still holds the value {name} had before a rotation that did not finish; check "
                "which value the deployment uses (`onprem status`), then delete that file and rotate again"
            )

    def drop_previous(self, name: str) -> None:
        """Delete the kept previous value of `name` (the change it guarded is confirmed)."""
        self.previous_path(name).unlink(missing_ok=True)

    def archive(self, name: str, now: datetime) -> Path | None:
        """Keep the stored value of `name` for good as `NAME.<UTC time>` (0600) beside it, e.g. the
        password of older backup archives; None when nothing is stored. Raises StateError."""
        value = self.read(name)
        if value is None:
            return None
        archived = f"{name}.{now:%Y%m%dT%H%M%SZ}"
        self.write(archived, value)
        return self.path(archived)


def from_flags(
    file: str | None, env: str | None, environ: Mapping[str, str], *, what: str, flag: str
) -> str | None:
    """A secret given on the command line by reference: `--FLAG-file FILE` or `--FLAG-env VAR` (never
    the value itself); None when neither was given. Raises ConfigError for both, SecretError when the
    file or variable cannot be read."""
    if file is not None and env is not None:
        raise ConfigError(f"give the {what} with --{flag}-file FILE or --{flag}-env VAR, not both")
    if file is not None:
        try:
            return Path(file).expanduser().read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise SecretError(f"{file}: cannot read the {what} ({exc.strerror})") from None
    if env is not None:
        if env not in environ:
            raise SecretError(f"environment variable {env} (the {what}) is not set")
        return environ[env]
    return None
