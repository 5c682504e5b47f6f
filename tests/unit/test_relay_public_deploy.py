"""relay.public on the deploy side: onprem.yaml errors name file, line and field; an operator chain is
checked as `certs upload` checks a bundle before anything is deployed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onprem import pki
from onprem.chain import check_public_chain
from onprem.config import load_settings
from onprem.errors import ConfigError
from onprem.workflows.prepare import check_public_certificate

HOST = "relay.example.com"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CHAIN_CONFIG = """\
relay:
  cloud: {enabled: true}
  public:
    host_name: relay.example.com
    certificate: {source: chain}
"""


@pytest.fixture(scope="module")
def ca() -> tuple[pki.Issued, pki.Issued]:
    return pki.issue_ca("public", NOW - timedelta(days=1))


def chain_of(server: pki.Issued, intermediate: pki.Issued) -> str:
    return server.cert_pem + intermediate.cert_pem


def test_a_good_chain_for_the_host_name_passes(ca: tuple[pki.Issued, pki.Issued]) -> None:
    server = pki.issue_server(ca[1], [HOST], NOW - timedelta(days=1))
    checked = check_public_chain(chain_of(server, ca[1]), server.key_pem, HOST, now=NOW, origin="o")
    assert checked.server == server.cert


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other-name", "do not cover relay.public.host_name relay.example.com"),
        ("other-key", "the private key does not match"),
        ("expired", "expired on"),
        ("no-intermediate", "no intermediate CA certificate"),
        ("empty", "empty"),
    ],
)
def test_a_bad_chain_is_refused_with_what_to_fix(
    ca: tuple[pki.Issued, pki.Issued], case: str, message: str
) -> None:
    server = pki.issue_server(
        ca[1], ["other.example.com" if case == "other-name" else HOST], NOW - timedelta(days=1)
    )
    chain, key = chain_of(server, ca[1]), server.key_pem
    if case == "other-key":
        key = pki.issue_server(ca[1], [HOST], NOW).key_pem
    elif case == "expired":
        old = pki.issue_server(ca[1], [HOST], NOW - timedelta(days=30), days=10)
        chain, key = chain_of(old, ca[1]), old.key_pem
    elif case == "no-intermediate":
        chain = server.cert_pem
    elif case == "empty":
        chain = ""
    with pytest.raises(ConfigError, match=r"relay\.public\.certificate") as caught:
        check_public_chain(chain, key, HOST, now=NOW, origin="onprem.yaml:5: relay.public.certificate")
    assert message in str(caught.value)


def test_the_deploy_check_reads_the_chain_from_the_secrets_that_mount_it(
    tmp_path: Path, ca: tuple[pki.Issued, pki.Issued]
) -> None:
    (tmp_path / "onprem.yaml").write_text(CHAIN_CONFIG)
    loaded = load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path)
    server = pki.issue_server(ca[1], ["wrong.example.com"], NOW - timedelta(days=1))
    values = {"RELAY_PUBLIC_CHAIN": chain_of(server, ca[1]), "RELAY_PUBLIC_KEY": server.key_pem}
    with pytest.raises(ConfigError) as caught:
        check_public_certificate(loaded, values, NOW)
    text = str(caught.value)
    assert f"{tmp_path / 'onprem.yaml'}:5" in text
    assert "secrets RELAY_PUBLIC_CHAIN and RELAY_PUBLIC_KEY" in text
    good = pki.issue_server(ca[1], [HOST], NOW - timedelta(days=1))
    check_public_certificate(
        loaded, {"RELAY_PUBLIC_CHAIN": chain_of(good, ca[1]), "RELAY_PUBLIC_KEY": good.key_pem}, NOW
    )


def test_public_ports_clashing_with_the_stack_are_refused_at_their_line(tmp_path: Path) -> None:
    (tmp_path / "onprem.yaml").write_text(
        CHAIN_CONFIG.replace("    certificate:", "    port: 9090\n    certificate:")
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'onprem.yaml'}:5: relay.public.port: port 9090 is already used by network.web_port; "
        "pick a free port"
    ]


def test_a_bad_host_name_in_onprem_yaml_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "onprem.yaml").write_text(CHAIN_CONFIG.replace("relay.example.com", "localhost"))
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path)
    assert caught.value.problems[0].startswith(f"{tmp_path / 'onprem.yaml'}:4: relay.public.host_name: ")
