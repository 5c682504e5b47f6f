"""Issued certificates, and every check a bundle passes before it is uploaded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from onprem import pki
from onprem.chain import check_bundle
from onprem.errors import ConfigError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> tuple[pki.Issued, pki.Issued]:
    return pki.issue_ca("test", NOW)


@pytest.fixture(scope="module")
def server(ca: tuple[pki.Issued, pki.Issued]) -> pki.Issued:
    return pki.issue_server(ca[1], ["web.example", "127.0.0.1"], NOW)


def bundle(*parts: str) -> str:
    return "".join(parts)


def test_issued_chain_leads_from_server_to_root_with_the_sans(
    ca: tuple[pki.Issued, pki.Issued], server: pki.Issued
) -> None:
    root, inter = ca
    assert pki.signed_by(server.cert, inter.cert)
    assert pki.signed_by(inter.cert, root.cert)
    assert pki.signed_by(root.cert, root.cert)
    assert sorted(pki.sans_of(server.cert)) == ["127.0.0.1", "web.example"]


def test_a_well_formed_bundle_passes(ca: tuple[pki.Issued, pki.Issued], server: pki.Issued) -> None:
    checked = check_bundle(
        bundle(server.key_pem, server.cert_pem, ca[1].cert_pem), now=NOW, roots=[ca[0].cert], origin="b.pem"
    )
    assert checked.server == server.cert
    assert checked.chain == [ca[1].cert]


def problems(text: str, ca: tuple[pki.Issued, pki.Issued], now: datetime = NOW) -> str:
    with pytest.raises(ConfigError) as caught:
        check_bundle(text, now=now, roots=[ca[0].cert], origin="b.pem")
    return str(caught.value)


def test_key_after_the_certificate_is_refused_naming_the_order(
    ca: tuple[pki.Issued, pki.Issued], server: pki.Issued
) -> None:
    text = problems(bundle(server.cert_pem, server.key_pem, ca[1].cert_pem), ca)
    assert "put the key first (order: key, certificate, intermediates)" in text


def test_key_not_matching_the_certificate_is_refused(
    ca: tuple[pki.Issued, pki.Issued], server: pki.Issued
) -> None:
    other = pki.issue_server(ca[1], ["other"], NOW)
    assert "the private key does not match the server certificate" in problems(
        bundle(other.key_pem, server.cert_pem, ca[1].cert_pem), ca
    )


def test_chain_without_intermediate_is_refused(ca: tuple[pki.Issued, pki.Issued], server: pki.Issued) -> None:
    assert "no intermediate CA certificate" in problems(bundle(server.key_pem, server.cert_pem), ca)


def test_expired_certificate_is_refused(ca: tuple[pki.Issued, pki.Issued]) -> None:
    old = pki.issue_server(ca[1], ["web"], NOW - timedelta(days=400), days=30)
    assert "expired on" in problems(bundle(old.key_pem, old.cert_pem, ca[1].cert_pem), ca)


def test_not_yet_valid_certificate_is_refused(ca: tuple[pki.Issued, pki.Issued], server: pki.Issued) -> None:
    assert "is not valid before" in problems(
        bundle(server.key_pem, server.cert_pem, ca[1].cert_pem), ca, now=NOW - timedelta(days=1)
    )


def test_chain_out_of_order_or_from_another_ca_is_refused(
    ca: tuple[pki.Issued, pki.Issued], server: pki.Issued
) -> None:
    _, foreign = pki.issue_ca("foreign", NOW)
    text = problems(bundle(server.key_pem, server.cert_pem, foreign.cert_pem), ca)
    assert "is not signed by the next block" in text
    assert "does not lead to the given CA" in text


def test_garbage_and_other_blocks_are_named() -> None:
    with pytest.raises(ConfigError, match="no PEM block"):
        check_bundle("hello", now=NOW, roots=[], origin="b.pem")
    with pytest.raises(ConfigError, match="block 1 is a PUBLIC KEY"):
        check_bundle(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", now=NOW, roots=[], origin="b.pem"
        )
