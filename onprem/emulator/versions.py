"""Client versions and the database schema each one runs on (pure).

The real client's database carries a schema version: a newer client refuses an older schema until a
one-shot coreapp with `WA_DB_UPGRADE=1` has migrated it, and no client runs on a schema newer than its
own. The emulator learns its version from its image (env `ONPREM_EMULATOR_VERSION`, baked in by the
image build; the real images carry it only in their tag) and keeps the same rule. `SCHEMAS` is the one
table of which client line introduced which schema; `check_schema` decides what a starting process
does with the schema it finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from onprem.errors import StateError

_VERSION_RE = re.compile(r"^v?(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


@dataclass(frozen=True, order=True)
class ClientVersion:
    """A client version such as v2.57.2 (written with or without the leading `v`)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> ClientVersion:
        """Parse `v2.57.2` or `2.57.2`. Raises ValueError for anything else."""
        match = _VERSION_RE.match(text.strip())
        if match is None:
            raise ValueError(f"expected a client version like v2.57.2, got {text!r}")
        return cls(int(match[1]), int(match[2]), int(match[3]))

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    @property
    def schema(self) -> int:
        """The schema this version creates and runs on."""
        return schema_level(self).number


@dataclass(frozen=True)
class SchemaLevel:
    """A schema version, the first client line that runs it, and what it changed."""

    number: int
    since: tuple[int, int]  # (major, minor) of the first client line on this schema
    label: str  # how messages name the clients of this schema
    change: str  # what this schema added to the one before


# Oldest first. Schema 2 is the layout from before clients recorded their line in the schema version.
SCHEMAS: tuple[SchemaLevel, ...] = (
    SchemaLevel(2, (0, 0), "before v2.53", "the base tables"),
    SchemaLevel(3, (2, 53), "v2.53", "the schema version names the client line (no table changes)"),
    SchemaLevel(4, (2, 57), "v2.57", "nodes.client_version: the client version each core node runs"),
)
NEWEST_SCHEMA = SCHEMAS[-1].number
# From this schema on, each core node's heartbeat records the client version it runs.
NODE_VERSIONS_SINCE = 4

# The versions the image build makes by default (oldest first); the last is the default version.
BUILT_VERSIONS = ("v2.53.2", "v2.57.2")
NEWEST_VERSION = BUILT_VERSIONS[-1]


def schema_level(version: ClientVersion) -> SchemaLevel:
    """The schema of the newest client line at or below `version`."""
    line = (version.major, version.minor)
    return [level for level in SCHEMAS if level.since <= line][-1]


def schema_label(number: int) -> str:
    """How messages name schema `number`: its client line, or where it stands when unknown."""
    for level in SCHEMAS:
        if level.number == number:
            return level.label
    if number > NEWEST_SCHEMA:
        return f"a client newer than {SCHEMAS[-1].label}"
    return "an unknown client"


def steps_between(stored: int, target: int) -> tuple[SchemaLevel, ...]:
    """The schema levels an upgrade from `stored` to `target` goes through, in order."""
    return tuple(level for level in SCHEMAS if stored < level.number <= target)


class SchemaMismatch(StateError):
    """The database's schema does not fit this client: older (upgrade first) or newer. Exit code 6."""


Action = Literal["serve", "upgrade"]


def check_schema(stored: int, client: ClientVersion, *, upgrade: bool) -> Action:
    """What a process of `client` does on a database at schema `stored`: "serve" it as it is (the
    schemas match, or an upgrade finds nothing to do) or "upgrade" it (only with `upgrade`).

    Raises SchemaMismatch for a newer schema (no client downgrades its database), and for an older
    one unless `upgrade`; the message says what to do.
    """
    wanted = client.schema
    found = f"database schema {stored} ({schema_label(stored)})"
    this = f"this client ({client}, schema {wanted})"
    if stored > wanted:
        raise SchemaMismatch(
            f"{found} is newer than {this}: a client never downgrades its database; run a client of "
            f"{schema_label(stored)} or later, or restore a backup taken before the upgrade"
        )
    if stored < wanted:
        if not upgrade:
            raise SchemaMismatch(
                f"{found} is older than {this}: run the upgrade (a one-shot coreapp with WA_DB_UPGRADE=1)"
            )
        return "upgrade"
    return "serve"
