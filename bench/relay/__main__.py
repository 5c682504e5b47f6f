"""Relay benchmark: `python -m bench.relay [--seconds 10] [--e2e-seconds 60] [--e2e-rate 0]`.

In one run, on loopback, wrk with 64 connections and ~1 KiB signed Cloud API bodies against:
  (a)  the relay (SQLite WAL group commit), acknowledgements only (no endpoint)
  (a2) the relay on the On-Prem route, every body a new message id (de-duplication on)
  (b)  the same server with one commit per request on the event loop
  (c)  the same server with a store that keeps nothing
  (e)  the relay on the Redis Streams store (Debian's redis-server on loopback, AOF, appendfsync always)
  (f)  end to end on the Redis store, as (d)
  (d)  end to end: the relay forwarding to a local sink, wrk at full speed (or paced with --e2e-rate,
       approximately: wrk's delay() spaces requests per connection), events/s delivered and the backlog
and prints acks/s, p50/p99 ack latency, relay peak RSS and the ratios side by side. Installs Debian's
wrk with apt-get when it is missing (root). Measured numbers only; nothing is assumed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CONNECTIONS = 64
POOL = 4096
APP_SECRET = "bench-app-secret"
PATH_TOKEN = "bench_path_token_0123456789"
SINK_SECRET = "whsec_" + base64.b64encode(b"bench-sink-signing-key-32-bytes!").decode()
ROOT = Path(__file__).resolve().parents[2]


def ensure_wrk() -> str:
    """The wrk binary, installing Debian's package when missing. Raises SystemExit when impossible."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("bench: wrk is missing and this is not root: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk still missing after apt-get install")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cloud_body(n: int) -> bytes:
    """A ~1 KiB Cloud API inbound text message webhook."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Bench"}, "wa_id": "16315551234"}],
        "messages": [
            {
                "from": "16315551234",
                "id": f"wamid.bench{n:08d}",
                "timestamp": "1700000000",
                "type": "text",
                "text": {"body": ""},
            }
        ],
    }
    doc = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
    }
    size = len(json.dumps(doc, separators=(",", ":")))
    value["messages"][0]["text"]["body"] = "x" * (1024 - size)  # type: ignore[index]
    return json.dumps(doc, separators=(",", ":")).encode()


def write_lua(path: Path, rate: float) -> None:
    """A wrk script cycling through POOL pre-signed bodies (wrk's Lua has no HMAC); paced when rate > 0."""
    lines = ["local bodies, sigs = {}, {}"]
    for n in range(POOL):
        body = cloud_body(n)
        sig = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        lines.append(f'bodies[{n + 1}] = [==[{body.decode()}]==]; sigs[{n + 1}] = "sha256={sig}"')
    lines += [
        "local i = 0",
        'wrk.method = "POST"',
        "request = function()",
        f"  i = i % {POOL} + 1",
        '  return wrk.format(nil, nil, {["Content-Type"] = "application/json",'
        ' ["X-Hub-Signature-256"] = sigs[i]}, bodies[i])',
        "end",
    ]
    if rate > 0:
        lines.append(f"delay = function() return {CONNECTIONS * 1000.0 / rate:.3f} end")
    path.write_text("\n".join(lines) + "\n")


ONPREM_LUA = """
local counter = 0
local pad = string.rep("x", 800)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = '{"contacts":[{"profile":{"name":"Bench"},"wa_id":"16315551234"}],'
    .. '"messages":[{"from":"16315551234",'
    .. '"id":"ABG' .. tostring(math.random(1, 1e9)) .. '_' .. counter .. '","timestamp":"1518694235",'
    .. '"text":{"body":"' .. pad .. '"},"type":"text"}]}'
  return wrk.format(nil, nil, nil, body)
end
"""


@dataclass
class Result:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mb: float
    note: str = ""


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(text: str) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx + socket errors) from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", text, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", text, re.M)[1])  # type: ignore[index]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return rps, p50, p99, errors


class Bench:
    def __init__(self, workdir: Path, wrk: str, seconds: int) -> None:
        self.workdir, self.wrk, self.seconds = workdir, wrk, seconds
        for name, value in (
            ("app_secret", APP_SECRET),
            ("verify", "bench-verify"),
            ("token", PATH_TOKEN),
            ("sink_secret", SINK_SECRET),
        ):
            path = workdir / name
            path.write_text(value)
            path.chmod(0o600)

    def config(self, name: str, *, dedup: bool, endpoint: str | None = None, redis_url: str = "") -> Path:
        data: dict[str, object] = {
            "onprem": {"path_token_file": str(self.workdir / "token")},
            "cloud": {
                "enabled": True,
                "app_secret_file": str(self.workdir / "app_secret"),
                "verify_token_file": str(self.workdir / "verify"),
            },
            "store": {
                "data_dir": str(self.workdir / f"data-{name}"),
                "dedup_window_seconds": 86400.0 if dedup else 0.0,
            },
        }
        if redis_url:
            data["store"] = {"backend": "redis", "redis": {"url": redis_url}, "dedup_window_seconds": 0.0}
        if endpoint:
            data["delivery"] = {
                "endpoints": [
                    {
                        "name": "sink",
                        "url": endpoint,
                        "max_in_flight": 64,
                        "secret_file": str(self.workdir / "sink_secret"),
                    }
                ]
            }
        path = self.workdir / f"{name}.yaml"
        path.write_text(json.dumps(data))  # JSON is YAML
        return path

    def start(self, module: str, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
        for _ in range(200):
            if proc.poll() is not None:
                raise SystemExit(f"bench: a server exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("bench: a server did not start")

    def run_wrk(self, url: str, script: Path, seconds: int) -> str:
        cmd = [self.wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def ack_run(self, label: str, variant: str, *, onprem: bool = False, redis_url: str = "") -> Result:
        port = free_port()
        config = self.config(label, dedup=onprem, redis_url=redis_url)
        proc = self.start("bench.relay.server", variant, str(config), f"127.0.0.1:{port}")
        try:
            self.wait_port(port, proc)
            if onprem:
                script = self.workdir / "onprem.lua"
                script.write_text(ONPREM_LUA)
                url = f"http://127.0.0.1:{port}/webhooks/onprem/{PATH_TOKEN}"
            else:
                script, url = self.workdir / "cloud.lua", f"http://127.0.0.1:{port}/webhooks/cloud"
            self.run_wrk(url, script, 2)  # warm-up: JIT-free Python still warms caches and the WAL file
            text = self.run_wrk(url, script, self.seconds)
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
        rps, p50, p99, errors = parse_wrk(text)
        return Result(label, rps, p50, p99, errors, rss)

    def e2e_run(
        self, name: str, label: str, seconds: int, rate: float, redis_url: str = ""
    ) -> tuple[Result, str]:
        sink_port, port = free_port(), free_port()
        sink = self.start("bench.relay.sink", f"127.0.0.1:{sink_port}", str(self.workdir / "sink_secret"))
        endpoint = f"http://127.0.0.1:{sink_port}/hook"
        config = self.config(name, dedup=False, endpoint=endpoint, redis_url=redis_url)
        relay = self.start("bench.relay.server", "relay", str(config), f"127.0.0.1:{port}")
        script = self.workdir / "cloud-paced.lua"
        write_lua(script, rate)
        try:
            self.wait_port(sink_port, sink)
            self.wait_port(port, relay)
            url = f"http://127.0.0.1:{port}/webhooks/cloud"
            wrk = subprocess.Popen(
                [self.wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                stdout=subprocess.PIPE,
                text=True,
            )
            samples = []
            start = time.monotonic()
            time.sleep(5)  # let the pipeline fill before the first sample
            first = (time.monotonic(), sink_count(sink_port), backlog(port))
            while wrk.poll() is None:
                time.sleep(5)
                samples.append((round(time.monotonic() - start), backlog(port)))
            last = (time.monotonic(), sink_count(sink_port), backlog(port))
            text = wrk.communicate()[0]
            rss = peak_rss_mb(relay.pid)
            drained = time.monotonic()
            while backlog(port) > 0 and time.monotonic() - drained < 120:
                time.sleep(0.5)
            drain_s = time.monotonic() - drained
            total_delivered = sink_count(sink_port)
        finally:
            for proc in (relay, sink):
                proc.terminate()
                proc.wait(30)
        rps, p50, p99, errors = parse_wrk(text)
        delivered_rate = (last[1] - first[1]) / (last[0] - first[0])
        note = (
            f"ingest {rps:.0f}/s; backlog {first[2]} -> {last[2]} over the window "
            f"(samples t/backlog: {samples}); drained in {drain_s:.1f}s; delivered total {total_delivered}"
        )
        return Result(label, delivered_rate, p50, p99, errors, rss), note


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Debian's redis-server on a free loopback port, durable as the relay's docs ask; (process, URL)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench: redis-server is missing (make tools)")
    port = free_port()
    conf = workdir / "redis.conf"
    conf.write_text(
        f'bind 127.0.0.1\nport {port}\ndir {workdir}\nappendonly yes\nappendfsync always\nsave ""\n'
        f"logfile {workdir / 'redis.log'}\n"
    )
    proc = subprocess.Popen([binary, str(conf)])
    Bench.wait_port(port, proc)
    return proc, f"redis://127.0.0.1:{port}/0"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sink_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as response:
        return int(response.read().split()[0])


def backlog(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return int(float(re.search(r"^relay_queued_deliveries (\S+)$", text, re.M)[1]))  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each ack run")
    parser.add_argument("--e2e-seconds", type=int, default=60)
    parser.add_argument(
        "--e2e-rate", type=float, default=0.0, help="approximate paced ingest for (d); 0 = unpaced"
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        workdir = Path(tmp)
        bench = Bench(workdir, wrk, args.seconds)
        write_lua(workdir / "cloud.lua", 0)
        print(
            f"relay bench: wrk -t1 -c{CONNECTIONS}, {args.seconds}s per run, ~1 KiB bodies signed with "
            f"X-Hub-Signature-256 (pool of {POOL}; de-duplication off for them), {os.cpu_count()} CPUs",
            flush=True,
        )
        a = bench.ack_run("(a) relay, group commit", "relay")
        a2 = bench.ack_run("(a2) relay, On-Prem route, dedup on", "relay", onprem=True)
        b = bench.ack_run("(b) one commit per request", "per-request")
        c = bench.ack_run("(c) store nothing", "nothing")
        d, note = bench.e2e_run("e2e", "(d) end to end, delivered/s", args.e2e_seconds, args.e2e_rate)
        redis, redis_url = start_redis(workdir)
        try:
            e = bench.ack_run("(e) relay on Redis Streams", "relay", redis_url=redis_url)
            f, redis_note = bench.e2e_run(
                "e2e-redis",
                "(f) end to end on Redis, delivered/s",
                args.e2e_seconds,
                args.e2e_rate,
                redis_url,
            )
        finally:
            redis.terminate()
            redis.wait(30)
    print(f"\n{'run':40} {'acks/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'RSS MB':>7}")
    for r in (a, a2, b, c, e, d, f):
        print(f"{r.label:40} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d} {r.rss_mb:7.1f}")
    print(
        f"\nratios: (a)/(c) = {a.rps / c.rps:.2f}   (a)/(b) = {a.rps / b.rps:.2f}   "
        f"(a2)/(c) = {a2.rps / c.rps:.2f}   (e)/(c) = {e.rps / c.rps:.2f}"
    )
    pace = f"paced at ~{args.e2e_rate:.0f}/s" if args.e2e_rate > 0 else "unpaced"
    print(f"(d) {pace}, {args.e2e_seconds}s: {note}")
    print(f"(f) {pace}, {args.e2e_seconds}s: {redis_note}")


if __name__ == "__main__":
    main()
