"""Several isolated hosts that reach each other: network namespaces, each with its own empty Docker engine
and sshd (see isolated_host), routed through this machine so that a container on one host reaches the
ports another publishes at its address, and nothing else."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.integration.remote.isolated_host import IsolatedHost, isolated_host

LAB = "10.251.0.0/16"
RULE = ["DOCKER-USER", "-s", LAB, "-d", LAB, "-j", "ACCEPT"]


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@contextmanager
def hosts_lab(workdir: Path, count: int) -> Iterator[list[IsolatedHost]]:
    """`count` isolated hosts routed to each other through this machine; all torn down afterwards."""
    with ExitStack() as stack:
        hosts = []
        for index in range(count):
            home = workdir / f"host{index + 1}"
            home.mkdir()
            hosts.append(stack.enter_context(isolated_host(home)))
        subprocess.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True, capture_output=True)
        # The engine of this machine drops forwarded traffic it does not know; these hosts' is let through.
        if subprocess.run(["iptables", "-C", *RULE], capture_output=True, check=False).returncode != 0:
            _sh("iptables", "-I", *RULE)
            stack.callback(subprocess.run, ["iptables", "-D", *RULE], capture_output=True, check=False)
        for host in hosts:
            _sh("ip", "-n", host.netns, "route", "add", LAB, "via", host.gateway)
        yield hosts


def lose(host: IsolatedHost) -> None:
    """The host dies: every container killed and its engine stopped (its sshd keeps answering, like a
    machine whose Docker is gone)."""
    running = host.docker("ps", "-q").stdout.split()
    if running:
        host.docker("kill", *running)
    subprocess.run(["kill", str(host.dockerd_pid)], capture_output=True, check=False)
