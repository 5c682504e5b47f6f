"""Commands on the hosts of a deployment: each host's runner (this machine's, or over SSH), read from
whatever engine the deployment has (one host, several hosts, or a Swarm), for read-only probes such as
`docker volume inspect`, `stat`, `findmnt` and `lsblk` that `onprem residency` runs there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from onprem.engine.hosts import HostsEngine
from onprem.engine.swarm import SwarmEngine

PROBE_TIMEOUT = 30.0
"""How long one read-only probe may take on a host before the host counts as not answering."""


@runtime_checkable
class HostCommands(Protocol):
    """Something that runs a command (no shell) on one host: `LocalEngine`, `SshEngine`."""

    def run(
        self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None, timeout: float = 900
    ) -> tuple[int, bytes, bytes]:
        """(exit code, stdout, stderr). Raises EngineError when the host cannot be reached or the
        command outlives `timeout`."""


def host_commands(engine: object, hosts: Sequence[str]) -> dict[str, HostCommands]:
    """The runner of each host of `engine`, by host name: the engines of a `HostsEngine`, the nodes of a
    `SwarmEngine`, or the engine itself for a deployment of one host (`hosts` names the deployment's
    hosts, in config order). A host whose engine cannot run commands is left out (pure)."""
    if isinstance(engine, HostsEngine):
        found: dict[str, object] = dict(engine.engines)
    elif isinstance(engine, SwarmEngine):
        found = dict(engine.nodes)
    elif len(hosts) == 1:
        found = {hosts[0]: engine}
    else:
        found = {}
    return {
        name: runner
        for name in hosts
        if (runner := found.get(name)) is not None and isinstance(runner, HostCommands)
    }


def this_machine() -> HostCommands:
    """This machine's runner (for files of the state directory, which live here)."""
    from onprem.engine.local import LocalEngine  # the Docker SDK is imported only when a client is used

    return LocalEngine()
