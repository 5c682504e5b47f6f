"""A Docker Swarm of isolated hosts for the tests: the hosts of `hosts_lab` (network namespaces, each with
its own engine and sshd, routed to each other), the first one `swarm init`ed as the manager and the
others joined as workers. The engine of this machine is never made a Swarm node. Everything is torn down
afterwards, whatever happened (the nodes leave the Swarm, then the namespaces go).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.remote.hosts_lab import hosts_lab
from tests.integration.remote.isolated_host import IsolatedHost

OFFLINE_IMAGES = "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE"
"""Set in a node engine's environment: a task starts from the node's image without asking a registry
first (else every task start waits ~20 s for DNS here, DOCKER_HERE.md)."""


def _ok(host: IsolatedHost, *args: str) -> str:
    done = host.docker(*args)
    assert done.returncode == 0, f"docker {' '.join(args)} on {host.ip}: {done.stderr}"
    return done.stdout.strip()


@contextmanager
def swarm_lab(workdir: Path, count: int) -> Iterator[list[IsolatedHost]]:
    """`count` isolated hosts in one Swarm: the first is the manager, the others workers."""
    saved = os.environ.get(OFFLINE_IMAGES)
    os.environ[OFFLINE_IMAGES] = "1"  # inherited by the node engines the lab starts
    try:
        with hosts_lab(workdir, count) as hosts:
            try:
                manager = hosts[0]
                _ok(
                    manager,
                    "swarm",
                    "init",
                    "--advertise-addr",
                    manager.ip,
                    "--listen-addr",
                    f"{manager.ip}:2377",
                )
                token = _ok(manager, "swarm", "join-token", "-q", "worker")
                for worker in hosts[1:]:
                    _ok(
                        worker,
                        "swarm",
                        "join",
                        "--token",
                        token,
                        "--advertise-addr",
                        worker.ip,
                        f"{manager.ip}:2377",
                    )
                yield hosts
            finally:
                for host in reversed(hosts):
                    host.docker("swarm", "leave", "--force")
    finally:
        if saved is None:
            os.environ.pop(OFFLINE_IMAGES, None)
        else:
            os.environ[OFFLINE_IMAGES] = saved
