"""Exporter benchmark: scrape latency p50/p99 and exporter RSS, measured in one run.

The exporter runs as its own process (`onprem exporter serve`) against an upstream in another process
(TLS with a pinned CA, API key), for a single instance and a 33-node multiconnect deployment (2 masters +
31 coreapps), without `stats/db`. Two upstreams: the project's emulated web role (what the issue's
targets are about), and a fake web API serving dense pre-encoded documents (every metric with
traffic-like values: a heavier exposition). Scrapes are sequential, like one Prometheus, each with the
X-Prometheus-Scrape-Timeout-Seconds header Prometheus sends. Run: `python -m bench exporter`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import ipaddress
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.exporter.emulated import emulator_upstream

WARMUP = 30
SCRAPES = 500
P99_TARGET_S = 0.050
RSS_TARGET_MB = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA (ca.pem) and a 127.0.0.1 server certificate and key signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "waweb")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = directory / "ca.pem", directory / "www.cert", directory / "www.key"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def wait_http(port: int, path: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered http://127.0.0.1:{port}{path}")


def wait_tls(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the fake upstream never listened on {port}")


@contextlib.contextmanager
def running(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, in MB (from /proc)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@contextlib.contextmanager
def fake_upstream(nodes: int, workdir: Path, port: int) -> Iterator[tuple[str, Path, Path]]:
    """The fake web API (bench.exporter.upstream) in its own process; yields URL, CA file, API key file."""
    ca, cert, key = pki(workdir)
    api_key = workdir / "WA_API_KEY"
    api_key.write_text("bench-api-key-0123456789\n")
    argv = [sys.executable, "-m", "bench.exporter.upstream", "--port", str(port), "--nodes", str(nodes),
            "--cert", str(cert), "--key", str(key), "--api-key-file", str(api_key)]  # fmt: skip
    with running(argv):
        wait_tls(port)
        yield f"https://127.0.0.1:{port}", ca, api_key


def measure(upstream: str, nodes: int, workdir: Path) -> dict[str, float]:
    """Scrape latencies and RSS of one exporter process against an upstream of `nodes` nodes."""
    up_port, exp_port = free_port(), free_port()
    provider = fake_upstream if upstream == "fake" else emulator_upstream
    with provider(nodes, workdir, up_port) as (url, ca, api_key):
        config = workdir / "exporter.yaml"
        config.write_text(
            yaml.safe_dump({"upstream_url": url, "ca_file": str(ca), "api_key_file": str(api_key)})
        )
        exporter = [sys.executable, "-m", "onprem.cli", "exporter", "serve", "--settings", str(config),
                    "--listen", f"127.0.0.1:{exp_port}", "--log-level", "warning"]  # fmt: skip
        with running(exporter) as proc:
            wait_http(exp_port, "/healthz")
            conn = http.client.HTTPConnection("127.0.0.1", exp_port, timeout=10)
            headers = {"X-Prometheus-Scrape-Timeout-Seconds": "10"}
            latencies = []
            for index in range(WARMUP + SCRAPES):
                started = time.perf_counter()
                conn.request("GET", "/metrics", headers=headers)
                body = conn.getresponse().read()
                if index >= WARMUP:
                    latencies.append(time.perf_counter() - started)
            failing = [
                line
                for line in body.splitlines()
                if line.startswith(b"whatsapp_exporter_collector_success") and line.endswith(b" 0.0")
            ]
            if b"whatsapp_up 1.0" not in body or failing:
                raise RuntimeError(f"{upstream} upstream: collectors failing: {failing}")
            rss, peak = rss_mb(proc.pid)
    latencies.sort()
    return {
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "rss": rss,
        "peak": peak,
        "samples": sum(1 for line in body.splitlines() if line and not line.startswith(b"#")),
        "bytes": len(body),
    }


def main() -> int:
    cases = [("emulator", 1), ("emulator", 33), ("fake", 1), ("fake", 33)]
    results = {}
    for upstream, nodes in cases:
        with tempfile.TemporaryDirectory(prefix="bench-exporter-") as tmp:
            results[(upstream, nodes)] = measure(upstream, nodes, Path(tmp))
    load = os.getloadavg()[0]
    print(f"{SCRAPES} sequential scrapes after {WARMUP} warm-up each, no stats/db (load average {load:.1f})")
    columns = ("p50 ms", "p99 ms", "RSS MB", "peak MB", "series", "bytes")
    print(f"{'upstream':<10} {'nodes':>5} " + " ".join(f"{c:>7}" for c in columns))
    for (upstream, nodes), row in results.items():
        print(
            f"{upstream:<10} {nodes:>5} {row['p50'] * 1000:7.2f} {row['p99'] * 1000:7.2f} {row['rss']:7.1f} "
            f"{row['peak']:8.1f} {row['samples']:7.0f} {row['bytes']:7.0f}"
        )
    for upstream in ("fake", "emulator"):
        single, multi = results[(upstream, 1)], results[(upstream, 33)]
        print(f"{upstream}: 33-node / single p99 = {multi['p99'] / single['p99']:.1f}x")
    # The targets are stated against the emulator; the fake's denser rows are for comparison.
    worst_p99 = max(row["p99"] for (upstream, _), row in results.items() if upstream == "emulator")
    worst_rss = max(row["peak"] for row in results.values())
    ok = worst_p99 <= P99_TARGET_S and worst_rss <= RSS_TARGET_MB
    verdict = "met" if ok else "NOT met"
    print(
        f"targets (emulator p99 <= {P99_TARGET_S * 1000:.0f} ms, RSS <= {RSS_TARGET_MB:.0f} MB): {verdict} "
        f"(worst emulator p99 {worst_p99 * 1000:.1f} ms, worst peak RSS {worst_rss:.1f} MB)"
    )
    return 0 if ok else 1
