"""Listen addresses of the sidecar processes: a plain host as given; `container` = own addresses + loopback."""

from __future__ import annotations

import socket

import pytest

from onprem.sidecar import listen_hosts


def test_a_plain_host_is_bound_as_given() -> None:
    assert listen_hosts("127.0.0.1") == ["127.0.0.1"]
    assert listen_hosts("::1") == ["::1"]


def test_container_means_its_own_addresses_and_loopback_not_every_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "c0ffee")
    monkeypatch.setattr(socket, "gethostbyname_ex", lambda name: (name, [], ["172.18.0.5"]))
    assert listen_hosts("container") == ["127.0.0.1", "172.18.0.5"]

    def unresolvable(name: str) -> tuple[str, list[str], list[str]]:
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "gethostbyname_ex", unresolvable)
    assert listen_hosts("container") == ["127.0.0.1"]
