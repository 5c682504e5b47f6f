"""`onprem deploy` runs the `bootstrap:` steps of the config in order (certs, registration, webhooks),
and a second deploy changes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import free_ports
from tests.integration.ops.conftest import CONFIG, Stack, vname_cert

BOOTSTRAP = """bootstrap:
  certs: true
  registration:
    cc: "1"
    phone_number: "6315550001"
    cert_file: vname.cert
  webhooks: relay
"""


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory, stack_images: None) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("ops-boot")
    name = "it-ops-boot"
    ports = free_ports(4)
    config = CONFIG.format(
        name=name, db="mysql", web=ports[0], relay=ports[1], exporter=ports[2], prom=ports[3]
    )
    (workdir / "onprem.yaml").write_text(config + BOOTSTRAP)
    (workdir / "vname.cert").write_text(vname_cert("Boot Co") + os.linesep)
    stack = Stack(workdir, name, ports[0])
    try:
        # The relay must find its certificate at its first start: issue before the first deploy.
        stack.ok("certs", "issue")
        yield stack
    finally:
        stack.run("down", "--volumes", "--yes")


def test_deploy_runs_certs_registration_webhooks_in_order_then_nothing_on_a_rerun(booted: Stack) -> None:
    first = booted.run("deploy")
    assert first.returncode == 0, first.stderr
    steps = [
        line.split(":")[0]
        for line in first.stderr.splitlines()
        if line.split(":")[0] in ("certs", "registration", "webhooks")
    ]
    assert steps == ["certs", "registration", "webhooks"]
    assert "registration: code sent (+1 6315550001)" in first.stderr
    assert "webhooks: url set, ca set" in first.stderr

    assert booted.ok("webhooks", "set") | {"url_template": ""} == {
        "url": "unchanged",
        "ca": "unchanged",
        "url_template": "",
    }
    assert booted.ok("verify", booted.last_registration_code())["status"] == "verified"

    again = booted.run("deploy")
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout
