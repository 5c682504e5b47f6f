"""Errors translated once, token cache and renewal, retries with backoff, TLS always pinned."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from onprem import pki
from onprem.api.auth import Credentials
from onprem.api.client import ApiClient
from onprem.errors import ApiError
from onprem.tokens import parse_expiry
from tests.unit.api.fake_transport import Clock, FakeWeb, error_answer, login_answer, make_client

CREDS = Credentials("admin", "Adm1n#pass")


def test_error_envelope_becomes_one_api_error_with_status_code_title_details_endpoint() -> None:
    web = FakeWeb()
    web.answer(
        "POST /v1/account/verify", error_answer(400, 1009, "Parameter value is not valid", "wrong code")
    )
    client = make_client(web, credentials=CREDS)
    web.answer("POST /v1/users/login", login_answer())

    with pytest.raises(ApiError) as caught:
        client.verify("000000")

    error = caught.value
    assert (error.status, error.code, error.title, error.details) == (
        400,
        1009,
        "Parameter value is not valid",
        "wrong code",
    )
    assert error.endpoint == "POST /v1/account/verify"
    assert "HTTP 400: 1009 Parameter value is not valid (wrong code)" in str(error)


def test_error_without_body_keeps_the_status_and_reason() -> None:
    web = FakeWeb()
    web.answer("DELETE /v1/media/m1", (404, None))
    client = make_client(web, credentials=CREDS)
    web.answer("POST /v1/users/login", login_answer())

    with pytest.raises(ApiError) as caught:
        client.delete_media("m1")

    assert caught.value.status == 404
    assert caught.value.code is None


def test_token_is_obtained_once_and_reused_until_it_expires() -> None:
    clock = Clock()
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer("t1", "2026-01-08 00:00:00+00:00"), login_answer("t2"))
    client = make_client(web, credentials=CREDS, clock=clock)

    web.answer("GET /v1/settings/application", (200, {"settings": {"application": {}}}))
    client.get_application_settings()
    client.get_application_settings()
    clock.now += 7 * 86400  # past expires_after
    client.get_application_settings()

    logins = [s for s in web.sent if s.path == "/v1/users/login"]
    bearers = [s.headers["Authorization"] for s in web.sent if s.path == "/v1/settings/application"]
    assert len(logins) == 2
    assert bearers == ["Bearer t1", "Bearer t1", "Bearer t2"]


def test_a_401_on_a_bearer_call_logs_in_again_once_and_retries() -> None:
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer("old"), login_answer("new"))
    web.answer("GET /v1/account/shards", (401, None), (200, {"account": {"shards": 1}}))
    client = make_client(web, credentials=CREDS)

    assert client.get_shards() == 1
    assert [s.headers["Authorization"] for s in web.sent if s.path == "/v1/account/shards"] == [
        "Bearer old",
        "Bearer new",
    ]


def test_a_second_401_is_raised_not_looped() -> None:
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer())
    web.answer("GET /v1/account/shards", (401, None))
    client = make_client(web, credentials=CREDS)

    with pytest.raises(ApiError) as caught:
        client.get_shards()
    assert caught.value.status == 401
    assert len([s for s in web.sent if s.path == "/v1/account/shards"]) == 2


def test_bearer_call_without_token_or_credentials_says_a_login_is_needed() -> None:
    client = make_client(FakeWeb())
    with pytest.raises(ApiError, match="needs a login"):
        client.get_shards()


@pytest.mark.parametrize(
    "throttled",
    [
        (429, None),
        (503, None),
        error_answer(400, 1015),
        error_answer(500, 1016),
        error_answer(400, 1017),
        error_answer(400, 1018),
    ],
)
def test_throttling_answers_are_retried_with_exponential_backoff(throttled: tuple[int, object]) -> None:
    clock = Clock()
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer())
    ok = (201, {"messages": [{"id": "m1"}]})
    web.answer("POST /v1/messages", throttled, throttled, ok)
    client = make_client(web, credentials=CREDS, clock=clock)

    assert client.send_text("1631", "hi") == "m1"
    assert clock.slept == [0.5, 1.0]


def test_retry_after_is_honoured_and_retries_stop_after_the_attempt_limit() -> None:
    clock = Clock()
    web = FakeWeb()
    web.answer("GET /v1/health", (429, None, {"Retry-After": "3"}))
    client = make_client(web, api_key="k" * 16, clock=clock)

    with pytest.raises(ApiError) as caught:
        client.health()
    assert caught.value.status == 429
    assert clock.slept == [3.0, 3.0, 3.0]
    assert len(web.sent) == 4


def test_non_retryable_errors_are_raised_at_once() -> None:
    clock = Clock()
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer())
    web.answer(
        "POST /v1/account",
        error_answer(403, 1005, "Access denied", "Unknown error: biz_link_on_prem_reg_blocked"),
    )
    client = make_client(web, credentials=CREDS, clock=clock)

    with pytest.raises(ApiError) as caught:
        client.request_code("1", "63155", "sms", "c")
    assert caught.value.code == 1005
    assert clock.slept == []


def test_a_certificate_that_does_not_verify_names_the_pinned_ca_and_the_way_out(tmp_path: Path) -> None:
    refused = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    web = FakeWeb(raise_on_send=requests.exceptions.SSLError(refused))
    client = make_client(web, api_key="k" * 16, ca_file=tmp_path / "ca.pem")
    with pytest.raises(ApiError, match=r"does not verify against the pinned CA .*ca\.pem: .* --ca"):
        client.health()
    assert web.sent[0].verify == str(tmp_path / "ca.pem")


def test_a_handshake_cut_short_is_a_starting_web_container_not_a_certificate_problem() -> None:
    cut = requests.exceptions.SSLError("EOF occurred in violation of protocol (_ssl.c:2427)")
    client = make_client(FakeWeb(raise_on_send=cut), api_key="k" * 16)
    with pytest.raises(ApiError) as caught:
        client.health()
    assert "closed the TLS handshake (eof occurred)" in str(caught.value)
    assert "onprem logs waweb" in str(caught.value)
    assert "pinned CA" not in str(caught.value)


def test_unreachable_server_is_an_api_error() -> None:
    web = FakeWeb(raise_on_send=requests.exceptions.ConnectionError("[Errno 111] Connection refused"))
    client = make_client(web, api_key="k" * 16)
    with pytest.raises(ApiError, match=r"unreachable \(connection refused\).*onprem status"):
        client.health()


def test_a_real_reset_during_the_handshake_is_not_reported_as_a_certificate_problem(tmp_path: Path) -> None:
    # A server that accepts and closes at once, as a restarting web container does.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        for _ in range(4):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    root, _ = pki.issue_ca("test", datetime.now(UTC))
    (tmp_path / "ca.pem").write_text(root.cert_pem)
    port = listener.getsockname()[1]
    client = ApiClient(f"https://127.0.0.1:{port}", ca_file=tmp_path / "ca.pem", api_key="k" * 16, timeout=5)
    try:
        with pytest.raises(ApiError) as caught:
            client.health()
    finally:
        listener.close()
    # The client sees the close as an EOF in the handshake or, when its ClientHello was already on the way,
    # as a reset: either way the message says the connection was cut, never that the certificate is wrong.
    message = str(caught.value)
    assert "closed the TLS handshake" in message or "(connection reset)" in message, message
    assert "pinned CA" not in message


def test_health_uses_the_token_when_no_api_key_is_given() -> None:
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer("tk"))
    web.answer("GET /v1/health", (200, {"health": {"gateway_status": "unregistered"}}))
    client = make_client(web, credentials=CREDS)
    client.health()
    assert web.sent[-1].headers["Authorization"] == "Bearer tk"


@pytest.mark.parametrize(
    "text",
    ["2026-01-08 00:00:00+00:00", "2026-01-08T00:00:00.000Z", "2026-01-08T00:00:00"],
)
def test_both_documented_expiry_formats_are_read(text: str) -> None:
    assert parse_expiry(text) == 1_767_830_400.0


def test_unreadable_expiry_means_unknown() -> None:
    assert parse_expiry("next week") is None
    assert parse_expiry(None) is None


def test_credentials_never_show_the_password() -> None:
    assert "Adm1n" not in repr(CREDS)


def test_no_source_file_of_the_client_disables_tls_verification() -> None:
    root = Path(__file__).resolve().parents[3] / "onprem"
    # Any spelling of it (spaces around `=`), in every module of the package, not just the client's.
    disabled = re.compile(r"\bverify\s*=\s*False\b")
    for path in root.rglob("*.py"):
        assert not disabled.search(path.read_text()), path
