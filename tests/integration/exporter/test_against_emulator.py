"""The exporter against the project's emulated web container (a real process on loopback, SQLite state).

The emulator keeps its self-signed CA where the real web container does (certs/external/ca.pem under its
data directory); the exporter pins it by file, authenticates with the API key, and falls back to a login
token when only a password is configured.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration
API_KEY = "exporter-it-api-key-0123456789"
ADMIN_PASSWORD = "Exporter-it-1!"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`onprem emulator web` on a free loopback port; yields its base URL and CA file."""
    tmp = tmp_path_factory.mktemp("emulator")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "ONPREM_"))}
    env["WA_API_KEY"] = API_KEY
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onprem.cli",
            "emulator",
            "web",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--data-dir",
            str(tmp / "data"),
            "--state",
            str(tmp / "state.db"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    ca_file = tmp / "data" / "certs" / "external" / "ca.pem"
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                context = ssl.create_default_context(cafile=str(ca_file))
                urllib.request.urlopen(
                    url + "/v1/certificates/external/ca", context=context, timeout=2
                ).close()
                break
            except (OSError, ssl.SSLError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the emulator's web role did not start")
                time.sleep(0.2)
        yield url, ca_file
    finally:
        proc.terminate()
        proc.wait(10)


def collect(tmp_path: Path, config: dict[str, object]) -> str:
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "onprem.cli",
            "exporter",
            "collect",
            "--settings",
            str(path),
            "--timeout",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def secret(tmp_path: Path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


def test_the_api_key_reads_every_collector_over_the_pinned_ca(
    emulator: tuple[str, Path], tmp_path: Path
) -> None:
    url, ca_file = emulator
    found = samples(
        collect(
            tmp_path,
            {
                "upstream_url": url,
                "ca_file": str(ca_file),
                "api_key_file": secret(tmp_path, "key", API_KEY),
            },
        )
    )
    assert found[("whatsapp_up", ())] == 1.0
    status = {dict(k)["status"]: v for (name, k), v in found.items() if name == "whatsapp_gateway_status"}
    assert sum(status.values()) == 1.0  # one current state (no core node runs here: disconnected)
    assert ("whatsapp_build_info", (("api_status", "stable"), ("version", "v2.57.2"))) in found
    assert found[("whatsapp_tls_certificate_expiry_timestamp_seconds", ())] > time.time()
    success = {
        dict(k)["collector"]: v for (n, k), v in found.items() if n == "whatsapp_exporter_collector_success"
    }
    assert success == {"health": 1.0, "stats_app": 1.0, "metrics": 1.0, "certificate": 1.0}
    for name in (
        "whatsapp_messages_sent_total",
        "whatsapp_messages_received_total",
        "whatsapp_callback_queue_size",
    ):
        assert (name, ()) in found, name


def test_a_wrong_api_key_gives_up_0(emulator: tuple[str, Path], tmp_path: Path) -> None:
    url, ca_file = emulator
    found = samples(
        collect(
            tmp_path,
            {
                "upstream_url": url,
                "ca_file": str(ca_file),
                "api_key_file": secret(tmp_path, "key", "not-the-key-123"),
            },
        )
    )
    assert found[("whatsapp_up", ())] == 0.0


def test_the_login_token_is_the_fallback_without_an_api_key(
    emulator: tuple[str, Path], tmp_path: Path
) -> None:
    url, ca_file = emulator
    # The operator's bootstrap sets the admin password once (first login must change it).
    basic = base64.b64encode(b"admin:secret").decode()
    request = urllib.request.Request(
        url + "/v1/users/login",
        method="POST",
        data=json.dumps({"new_password": ADMIN_PASSWORD}).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=str(ca_file))
    urllib.request.urlopen(request, context=context, timeout=10).close()
    found = samples(
        collect(
            tmp_path,
            {
                "upstream_url": url,
                "ca_file": str(ca_file),
                "api_key_file": None,
                "login": {"username": "admin", "password_file": secret(tmp_path, "pw", ADMIN_PASSWORD)},
            },
        )
    )
    assert found[("whatsapp_up", ())] == 1.0
