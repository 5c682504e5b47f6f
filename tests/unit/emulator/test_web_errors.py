"""The error envelope for unknown paths and methods, big bodies, database outages; the CA endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from onprem.emulator.context import WebSettings
from onprem.emulator.dbconnect import Dialect
from onprem.emulator.envelope import Meta, error_body
from onprem.emulator.store import Store
from onprem.emulator.tls import ensure_certificates
from onprem.emulator.web import MAX_BODY, create_app
from tests.unit.emulator.conftest import API_KEY, basic, serve

Client = TestClient[Any, Any]


def test_error_body_has_code_title_details_and_meta() -> None:
    assert error_body(1006, "Resource not found", "gone", Meta(version="v2.1.0")) == {
        "errors": [{"code": 1006, "title": "Resource not found", "details": "gone"}],
        "meta": {"api_status": "stable", "version": "v2.1.0"},
    }


def test_unknown_paths_and_methods_answer_in_the_envelope(run: Any) -> None:
    async def scenario(client: Client) -> list[tuple[int, int]]:
        results = []
        for method, path in (
            ("GET", "/v1/nope"),
            ("GET", "/"),
            ("PUT", "/v1/health"),
            ("GET", "/v1/users/login"),
        ):
            response = await client.request(method, path)
            body = await response.json()
            assert "meta" in body
            results.append((response.status, body["errors"][0]["code"]))
        return results

    assert run(scenario) == [(404, 1006), (404, 1006), (405, 1025), (405, 1025)]


def test_an_oversized_body_is_413_in_the_envelope(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        response = await client.post(
            "/v1/users/login", headers=basic("admin", "secret"), data=b"{" + b" " * (MAX_BODY + 1) + b"}"
        )
        return response.status, await response.json()

    status, body = run(scenario)
    assert status == 413
    assert body["errors"][0]["code"] == 1025


def test_meta_version_is_configurable(run: Any) -> None:
    async def scenario(client: Client) -> Any:
        return (await (await client.get("/v1/nope")).json())["meta"]

    assert run(scenario, meta=Meta(version="v2.53.2", api_status="deprecated")) == {
        "api_status": "deprecated",
        "version": "v2.53.2",
    }


def test_a_database_outage_is_503_with_code_1023(tmp_path: Path) -> None:
    def down() -> Any:
        raise ConnectionRefusedError("db down")

    app = create_app(Store(down, Dialect("SQLITE")), WebSettings(certs_dir=tmp_path, api_key=API_KEY))

    async def scenario(client: Client) -> tuple[int, Any]:
        response = await client.get("/v1/health", headers={"Authorization": f"Apikey {API_KEY}"})
        return response.status, await response.json()

    status, body = serve(app, scenario)
    assert status == 503
    assert body["errors"][0]["code"] == 1023


def test_the_ca_is_served_as_pem_without_authentication(run: Any, settings: WebSettings) -> None:
    paths = ensure_certificates(settings.certs_dir, ["localhost"])

    async def scenario(client: Client) -> tuple[int, str, str]:
        response = await client.get("/v1/certificates/external/ca")
        return response.status, response.content_type, await response.text()

    status, content_type, text = run(scenario)
    assert (status, content_type) == (200, "text/plain")
    assert text == paths.ca.read_text()
    assert text.startswith("-----BEGIN CERTIFICATE-----")


def test_without_a_ca_the_endpoint_is_404_with_no_body(run: Any) -> None:
    async def scenario(client: Client) -> tuple[int, bytes]:
        response = await client.get("/v1/certificates/external/ca")
        return response.status, await response.read()

    assert run(scenario) == (404, b"")
