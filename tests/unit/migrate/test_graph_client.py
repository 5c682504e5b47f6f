"""The Graph API client: the Bearer token on every call, Graph errors translated once into
CloudApiError (code, subcode, details), no answer and bad TLS as CloudApiError, never the token."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from onprem.errors import CloudApiError
from onprem.graph.client import GraphClient
from onprem.workflows.pinrecord import forget_pin, pin_matches, record_pin
from tests.unit.api.fake_transport import FakeWeb
from tests.unit.migrate.fake_graph import TOKEN, graph_error


def client(web: FakeWeb, ca_file: Path | None = None) -> GraphClient:
    session = requests.Session()
    session.mount("https://", web)
    return GraphClient("https://graph.test/", "v21.0", TOKEN, session=session, ca_file=ca_file)


def test_every_call_carries_the_bearer_token_and_verifies_tls() -> None:
    web = FakeWeb()
    web.answer("GET /v21.0/123456", (200, {"id": "123456", "display_phone_number": "+1 631-555-0042"}))
    assert client(web).phone_number("123456")["id"] == "123456"
    assert web.sent[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert web.sent[0].verify not in (False, None)  # the system trust store (REQUESTS_CA_BUNDLE or default)
    client(web, Path("/ca/emulator.pem")).phone_number("123456")
    assert web.sent[1].verify == "/ca/emulator.pem"


def test_a_graph_error_becomes_a_cloud_api_error_with_its_code_subcode_and_details() -> None:
    web = FakeWeb()
    web.answer(
        "POST /v21.0/123456/register",
        (400, graph_error(100, "Invalid parameter", details="backup password is incorrect")),
    )
    with pytest.raises(CloudApiError) as caught:
        client(web).register("123456", pin="112233", backup={"data": "x", "password": "p"}, region=None)
    error = caught.value
    assert (error.status, error.code, error.subcode, error.details) == (
        400,
        100,
        None,
        "backup password is incorrect",
    )
    assert error.exit_code == 9
    assert "POST /123456/register answered HTTP 400: Invalid parameter (code 100)" in str(error)
    assert TOKEN not in str(error)
    assert web.sent[0].json() == {
        "messaging_product": "whatsapp",
        "pin": "112233",
        "backup": {"data": "x", "password": "p"},
    }


def test_an_unknown_object_keeps_its_subcode() -> None:
    web = FakeWeb()
    web.answer("GET /v21.0/999", (400, graph_error(100, "Unsupported get request.", subcode=33)))
    with pytest.raises(CloudApiError) as caught:
        client(web).phone_number("999")
    assert (caught.value.code, caught.value.subcode) == (100, 33)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (requests.exceptions.ConnectionError("refused"), "unreachable"),
        (requests.exceptions.ReadTimeout("slow"), "did not answer in time"),
        (requests.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED"), "does not verify"),
    ],
)
def test_no_answer_is_a_cloud_api_error_naming_the_server(raised: Exception, expected: str) -> None:
    web = FakeWeb(raise_on_send=raised)
    with pytest.raises(CloudApiError, match=expected) as caught:
        client(web).subscribed_apps("777")
    assert "https://graph.test/v21.0" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_subscribe_sends_the_callback_and_verify_token_and_lists_the_apps() -> None:
    web = FakeWeb()
    web.answer("POST /v21.0/777/subscribed_apps", (200, {"success": True}))
    web.answer("GET /v21.0/777/subscribed_apps", (200, {"data": [{"override_callback_uri": "https://r/x"}]}))
    graph = client(web)
    graph.subscribe("777", callback="https://r/x", verify_token="vt")
    assert web.sent[0].json() == {"override_callback_uri": "https://r/x", "verify_token": "vt"}
    assert graph.subscribed_apps("777") == [{"override_callback_uri": "https://r/x"}]


def test_the_pin_record_keeps_a_salted_hash_0600_and_matches_only_that_pin(tmp_path: Path) -> None:
    path = tmp_path / "two_step.json"
    assert pin_matches(path, "112233") == (None, "")
    record_pin(path, "112233", datetime(2026, 11, 30, tzinfo=UTC))
    assert "112233" not in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert pin_matches(path, "112233") == (True, "2026-11-30T00:00:00+00:00")
    assert pin_matches(path, "654321")[0] is False
    forget_pin(path)
    assert pin_matches(path, "112233") == (None, "")
