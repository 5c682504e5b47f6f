"""Certificate uploads: bundle shape checks at upload, full checks at web start; the webhook CA."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from onprem.emulator.certbundle import BundleError, check_bundle, parse_bundle, parse_ca_bundle
from onprem.emulator.context import WebSettings
from onprem.emulator.store import Store
from onprem.emulator.testing import make_pki
from onprem.emulator.tls import UnusableCertificate, uploaded_certificate
from tests.unit.emulator.conftest import bearer, call, rotate

Client = TestClient[Any, Any]
PKI = make_pki()
OTHER = make_pki()


def test_a_well_formed_bundle_parses_and_checks() -> None:
    bundle = parse_bundle(PKI.bundle())
    check_bundle(bundle)
    assert len(bundle.intermediates) == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (PKI.leaf_key_pem + PKI.leaf_pem, "at least one intermediate"),
        (PKI.leaf_pem + PKI.leaf_key_pem + PKI.intermediate_pem, "start with the private key"),
        (PKI.leaf_key_pem + PKI.leaf_pem + PKI.leaf_key_pem, "only CERTIFICATE"),
        ("garbage", "no PEM"),
    ],
)
def test_a_badly_shaped_bundle_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(BundleError, match=fragment):
        parse_bundle(text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (OTHER.leaf_key_pem + PKI.leaf_pem + PKI.intermediate_pem, "does not match"),
        (PKI.leaf_key_pem + PKI.leaf_pem + OTHER.intermediate_pem, "not signed by"),
        (make_pki(leaf_days=-1).bundle(), "validity dates"),
    ],
)
def test_a_semantically_bad_bundle_fails_the_full_check(text: str, fragment: str) -> None:
    with pytest.raises(BundleError, match=fragment):
        check_bundle(parse_bundle(text))


def test_upload_stores_the_bundle_for_the_next_start(run: Any, settings: WebSettings) -> None:
    async def scenario(client: Client) -> tuple[int, int]:
        token = await rotate(client)
        response = await client.post(
            "/v1/certificates/external",
            data=PKI.bundle(),
            headers={**bearer(token), "Content-Type": "text/plain"},
        )
        missing = await client.post(
            "/v1/certificates/external",
            data=PKI.leaf_key_pem + PKI.leaf_pem,
            headers={**bearer(token), "Content-Type": "text/plain"},
        )
        return response.status, missing.status

    assert run(scenario) == (200, 400)
    stored = settings.certs_dir / "uploaded.pem"
    assert stored.read_text() == PKI.bundle()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    paths = uploaded_certificate(settings.certs_dir)
    assert paths is not None
    assert paths.cert.read_text().count("BEGIN CERTIFICATE") == 2


def test_a_bad_upload_is_accepted_but_stops_the_next_start(run: Any, settings: WebSettings) -> None:
    bad = OTHER.leaf_key_pem + PKI.leaf_pem + PKI.intermediate_pem

    async def scenario(client: Client) -> int:
        token = await rotate(client)
        response = await client.post(
            "/v1/certificates/external", data=bad, headers={**bearer(token), "Content-Type": "text/plain"}
        )
        return response.status

    assert run(scenario) == 200
    with pytest.raises(UnusableCertificate, match="does not match"):
        uploaded_certificate(settings.certs_dir)


def test_without_an_upload_the_self_signed_certificate_is_used(tmp_path: Path) -> None:
    assert uploaded_certificate(tmp_path) is None


def test_the_webhook_ca_is_stored_read_and_deleted(run: Any, store: Store) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        headers = {**bearer(token), "Content-Type": "text/plain"}
        empty = await client.get("/v1/certificates/webhooks/ca", headers=bearer(token))
        bad = await client.post("/v1/certificates/webhooks/ca", data="nope", headers=headers)
        good = await client.post(
            "/v1/certificates/webhooks/ca", data=PKI.root_pem + OTHER.root_pem, headers=headers
        )
        read = await client.get("/v1/certificates/webhooks/ca", headers=bearer(token))
        text = await read.text()
        deleted = await call(client, "DELETE", "/v1/certificates/webhooks/ca", token)
        gone = await client.get("/v1/certificates/webhooks/ca", headers=bearer(token))
        return [
            empty.status,
            await empty.read(),
            bad.status,
            good.status,
            read.status,
            text,
            deleted[0],
            gone.status,
        ]

    empty, empty_body, bad, good, read, text, deleted, gone = run(scenario)
    assert (empty, empty_body, bad, good, read, deleted, gone) == (404, b"", 400, 200, 200, 200, 404)
    assert len(parse_ca_bundle(text)) == 2
    assert store.get_setting("webhooks_ca") is None
