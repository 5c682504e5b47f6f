"""Listen addresses of the sidecar processes: a plain host as given; `container` = own addresses + loopback."""

from __future__ import annotations

import socket

import pytest

from onprem import sidecar
from onprem.sidecar import interface_addresses, listen_hosts


def test_a_plain_host_is_bound_as_given() -> None:
    assert listen_hosts("127.0.0.1") == ["127.0.0.1"]
    assert listen_hosts("::1") == ["::1"]


def test_container_means_its_own_addresses_and_loopback_not_every_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sidecar, "interface_addresses", lambda: [])
    monkeypatch.setattr(socket, "gethostname", lambda: "c0ffee")
    monkeypatch.setattr(socket, "gethostbyname_ex", lambda name: (name, [], ["172.18.0.5"]))
    assert listen_hosts("container") == ["127.0.0.1", "172.18.0.5"]

    def unresolvable(name: str) -> tuple[str, list[str], list[str]]:
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "gethostbyname_ex", unresolvable)
    assert listen_hosts("container") == ["127.0.0.1"]


def test_container_adds_every_interface_address_its_name_does_not_resolve_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A Swarm task: its name resolves to its overlay address; host-mode ports arrive on docker_gwbridge.
    monkeypatch.setattr(sidecar, "interface_addresses", lambda: ["127.0.0.1", "10.0.1.7", "172.18.0.3"])
    monkeypatch.setattr(socket, "gethostbyname_ex", lambda name: (name, [], ["10.0.1.7"]))
    assert listen_hosts("container") == ["10.0.1.7", "127.0.0.1", "172.18.0.3"]


def test_interface_addresses_are_read_from_this_namespace() -> None:
    found = interface_addresses()
    assert "127.0.0.1" in found  # the loopback interface, read by ioctl
    assert "0.0.0.0" not in found  # noqa: S104
