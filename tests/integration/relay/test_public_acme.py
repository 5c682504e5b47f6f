"""The relay's public face against a real ACME CA (Debian's pebble) on loopback: it obtains a certificate
over HTTP-01, serves it on the public listener (verified against pebble's root), renews it (pebble
issues 30-second certificates) without a restart while signed Cloud webhooks keep arriving (every one
acknowledged), and the exporter's probe shows the new expiry."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.conftest import require
from tests.integration.conftest import free_ports
from tests.integration.relay import pebble as pebble_server

pytestmark = pytest.mark.integration
HOST = "relay.onprem.test"  # resolved to 127.0.0.1 by pebble-challtestsrv's DNS, for pebble only
APP_SECRET = "itest-app-secret-for-public-face"
VERIFY_TOKEN = "itest-verify-token"
VALIDITY = 30  # seconds: the relay renews a third of the lifetime ahead, so about every 20 s
METRIC = "whatsapp_relay_public_certificate_expiry_timestamp_seconds"


def cloud_body(n: int) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"phone_number_id": "106540352242922"},
                                "messages": [
                                    {
                                        "from": "16315551234",
                                        "id": f"wamid.itest-{n}",
                                        "timestamp": "1700000000",
                                        "type": "text",
                                        "text": {"body": f"n{n}"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    code = "import sys; from onprem.cli import main; main(sys.argv[1:])"
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def write_secret(path: Path, value: str) -> str:
    path.write_text(value)
    path.chmod(0o600)
    return str(path)


def served_certificate(port: int, root: Path) -> dict[str, Any]:
    """The verified peer certificate of a fresh handshake (SNI HOST, pebble's root only)."""
    context = ssl.create_default_context(cafile=str(root))
    import socket

    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=HOST) as tls,
    ):
        peer = tls.getpeercert()
    assert peer is not None
    return dict(peer)


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=15) as answer:
        text = answer.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def wait_for(what: str, check: Any, timeout: float, logs: Any) -> Any:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, ssl.SSLError, AssertionError) as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout} s (last error: {last})\n{logs()}")


class Poster:
    """Signed Cloud webhooks over HTTPS, a new TLS handshake for each (so handshakes span the swap)."""

    def __init__(self, port: int, root: Path) -> None:
        self.url = f"https://127.0.0.1:{port}/webhooks/cloud"
        self.context = ssl.create_default_context(cafile=str(root))
        self.acked = 0
        self.failures: list[str] = []
        self.serials: set[str] = set()
        self._n = 0

    async def run(self, stop: asyncio.Event, workers: int = 4) -> None:
        connector = aiohttp.TCPConnector(ssl=self.context, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._worker(session, stop) for _ in range(workers)))

    async def _worker(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._n += 1
            body = cloud_body(self._n)
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}
            try:
                async with session.post(
                    self.url,
                    data=body,
                    headers=headers,
                    server_hostname=HOST,
                    timeout=aiohttp.ClientTimeout(10),
                ) as response:
                    text = await response.text()
                    if response.status == 200:
                        self.acked += 1
                    else:
                        self.failures.append(f"{response.status} {text[:200]}")
            except (TimeoutError, aiohttp.ClientError, OSError, ssl.SSLError) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.01)


def test_relay_obtains_serves_and_renews_an_acme_certificate_without_dropping_a_webhook(
    tmp_path: Path,
) -> None:
    require(pebble_server.available(), "pebble is not installed (make tools: apt-get install pebble)")
    relay_port, public_port, http01_port, exporter_port, dead_port = free_ports(5)
    ca = pebble_server.Pebble(tmp_path / "pebble", http01_port, VALIDITY)
    ca.start()
    relay = exporter = None
    relay_log, exporter_log = tmp_path / "relay.log", tmp_path / "exporter.log"

    def logs() -> str:
        return ca.logs() + "".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in (relay_log, exporter_log)
            if p.exists()
        )

    try:
        root = tmp_path / "pebble-root.pem"
        root.write_text(ca.root_pem())
        state = tmp_path / "data" / "acme"
        config = {
            "listen": f"127.0.0.1:{relay_port}",
            "onprem": {"enabled": False},
            "cloud": {
                "enabled": True,
                "app_secret_file": write_secret(tmp_path / "app_secret", APP_SECRET),
                "verify_token_file": write_secret(tmp_path / "verify_token", VERIFY_TOKEN),
            },
            "store": {"data_dir": str(tmp_path / "data")},
            "public": {
                "host_name": HOST,
                "port": public_port,
                "http01_port": http01_port,
                "certificate": {
                    "source": "acme",
                    "directory_url": ca.directory_url,
                    "email": "ops@example.com",
                    "ca_file": str(ca.ca_file),
                    "state_dir": str(state),
                    "retry_min_seconds": 1,
                    "retry_max_seconds": 5,
                },
            },
        }
        (tmp_path / "relay.yaml").write_text(yaml.safe_dump(config))
        relay = spawn(["relay", "serve", "--settings", str(tmp_path / "relay.yaml")], relay_log)

        first = wait_for(
            "a certificate from pebble served", lambda: served_certificate(public_port, root), 60, logs
        )
        assert dict(x[0] for x in first["subject"])["commonName"] == HOST
        assert ("DNS", HOST) in first["subjectAltName"]

        exporter_config = {
            "upstream_url": f"https://127.0.0.1:{dead_port}",  # no client here: only the relay probe matters
            "ca_file": None,
            "trusted_ca_file": None,
            "api_key_file": write_secret(tmp_path / "api_key", "unused"),
            "listen": f"127.0.0.1:{exporter_port}",
            "relay_public": {"address": f"127.0.0.1:{public_port}", "host_name": HOST, "ca_file": str(root)},
        }
        (tmp_path / "exporter.yaml").write_text(yaml.safe_dump(exporter_config))
        exporter = spawn(["exporter", "serve", "--settings", str(tmp_path / "exporter.yaml")], exporter_log)
        first_expiry = ssl.cert_time_to_seconds(first["notAfter"])
        wait_for("the exporter's probe", lambda: metrics(exporter_port).get(METRIC), 30, logs)

        poster = Poster(public_port, root)

        async def during_renewal() -> dict[str, Any]:
            stop = asyncio.Event()
            task = asyncio.create_task(poster.run(stop))
            try:
                renewed = await asyncio.to_thread(
                    wait_for,
                    "a renewed certificate served",
                    lambda: (
                        (c := served_certificate(public_port, root))["serialNumber"] != first["serialNumber"]
                        and c
                    ),
                    VALIDITY * 2,
                    logs,
                )
                await asyncio.sleep(2)  # keep posting on the new certificate too
            finally:
                stop.set()
                await task
            return dict(renewed)

        renewed = asyncio.run(during_renewal())
        renewed_expiry = ssl.cert_time_to_seconds(renewed["notAfter"])
        print(
            f"\npublic face: acked={poster.acked} failures={len(poster.failures)} "
            f"expiry {first['notAfter']} -> {renewed['notAfter']}"
        )
        assert poster.failures == [], poster.failures[:5]
        assert poster.acked > 50
        assert renewed_expiry > first_expiry
        assert relay.poll() is None, "the relay process kept running: no restart"

        relay_metrics = metrics(relay_port)
        assert relay_metrics['relay_public_certificate_renewals_total{result="success"}'] >= 2
        assert relay_metrics["relay_public_certificate_expiry_timestamp_seconds"] >= renewed_expiry
        assert relay_metrics['relay_stored_total{source="cloud"}'] == poster.acked
        wait_for(
            "the exporter showing the renewed expiry",
            lambda: metrics(exporter_port)[METRIC] >= renewed_expiry,
            15,
            logs,
        )

        for name in ("account-key.pem", "fullchain.pem", "privkey.pem"):
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    finally:
        for proc in (exporter, relay):
            if proc is not None:
                proc.terminate()
                proc.wait(15)
        ca.stop()


def test_a_challenge_pebble_cannot_reach_is_retried_with_backoff_and_the_relay_stays_up(
    tmp_path: Path,
) -> None:
    require(pebble_server.available(), "pebble is not installed (make tools: apt-get install pebble)")
    relay_port, public_port, http01_port, pebble_http_port = free_ports(4)
    ca = pebble_server.Pebble(tmp_path / "pebble", pebble_http_port, VALIDITY)  # nobody answers there
    ca.start()
    relay = None
    relay_log = tmp_path / "relay.log"

    def logs() -> str:
        return ca.logs() + (relay_log.read_text(errors="replace")[-4000:] if relay_log.exists() else "")

    try:
        config = {
            "listen": f"127.0.0.1:{relay_port}",
            "onprem": {"enabled": False},
            "cloud": {
                "enabled": True,
                "app_secret_file": write_secret(tmp_path / "app_secret", APP_SECRET),
                "verify_token_file": write_secret(tmp_path / "verify_token", VERIFY_TOKEN),
            },
            "store": {"data_dir": str(tmp_path / "data")},
            "public": {
                "host_name": HOST,
                "port": public_port,
                "http01_port": http01_port,
                "certificate": {
                    "source": "acme",
                    "directory_url": ca.directory_url,
                    "ca_file": str(ca.ca_file),
                    "state_dir": str(tmp_path / "data" / "acme"),
                    "retry_min_seconds": 1,
                    "retry_max_seconds": 2,
                },
            },
        }
        (tmp_path / "relay.yaml").write_text(yaml.safe_dump(config))
        relay = spawn(["relay", "serve", "--settings", str(tmp_path / "relay.yaml")], relay_log)
        failures = 'relay_public_certificate_renewals_total{result="failure"}'
        wait_for("two failed orders", lambda: metrics(relay_port).get(failures, 0) >= 2, 40, logs)
        assert "challenge failed: relay.onprem.test" in relay_log.read_text()
        assert "retrying in 2 s" in relay_log.read_text()  # 1 s, then doubled to the 2 s cap
        with urllib.request.urlopen(f"http://127.0.0.1:{relay_port}/healthz", timeout=5) as answer:
            assert answer.status == 200
        with pytest.raises(ssl.SSLError):  # no certificate yet: the public listener refuses handshakes
            served_certificate(public_port, tmp_path / "pebble" / "pebble-https-ca.pem")
        assert relay.poll() is None
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(15)
        ca.stop()
