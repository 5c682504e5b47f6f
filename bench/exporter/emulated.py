"""The project's emulated web container as the exporter benchmark's upstream (single or multiconnect).

`onprem emulator web` runs as its own process on SQLite state. For multiconnect, the core nodes are
simulated by heartbeats written into that state (2 masters + N-2 coreapps), which is all the web role
reads to answer /v1/health and /v1/stats/app per node: no core processes or database server needed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from onprem.emulator.dbconnect import Dialect, open_sqlite
from onprem.emulator.store import Store

API_KEY = "bench-emulator-api-key-0123"


def node_ids(nodes: int) -> list[tuple[str, str, str]]:
    """(node id, hostname, kind) of a multiconnect deployment with `nodes` core nodes."""
    masters = [(f"master{i}:{i:012x}", f"master{i}", "master") for i in (1, 2)]
    cores = [(f"wacore{i}:{i + 16:012x}", f"wacore{i}", "coreapp") for i in range(1, nodes - 1)]
    return masters + cores


def _heartbeats(state: Path, nodes: int, stop: threading.Event) -> None:
    store = Store(lambda: open_sqlite(state), Dialect("SQLITE"))
    started = time.time()
    while not stop.is_set():
        now = time.time()
        for node_id, hostname, kind in node_ids(nodes):
            store.heartbeat(node_id, hostname, kind, started_at=started, now=now)
        stop.wait(1.0)


@contextlib.contextmanager
def emulator_upstream(nodes: int, workdir: Path, port: int) -> Iterator[tuple[str, Path, Path]]:
    """Run the emulated web role; yields its URL, CA file and a file holding its API key."""
    data, state = workdir / "emulator", workdir / "emulator" / "state.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "ONPREM_"))}
    env["WA_API_KEY"] = API_KEY
    if nodes > 1:
        env["WA_APP_MULTICONNECT"] = "1"
    argv = [
        sys.executable,
        "-m",
        "onprem.cli",
        "emulator",
        "web",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    argv += ["--data-dir", str(data), "--state", str(state)]
    key_file = workdir / "EMULATOR_API_KEY"
    key_file.write_text(API_KEY + "\n")
    ca_file = data / "certs" / "external" / "ca.pem"
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    beater: threading.Thread | None = None
    try:
        deadline = time.monotonic() + 30
        while not (ca_file.exists() and _listening(port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulated web role did not start")
            time.sleep(0.1)
        if nodes > 1:
            beater = threading.Thread(target=_heartbeats, args=(state, nodes, stop), daemon=True)
            beater.start()
            time.sleep(1.0)  # the first round of heartbeats lands
        yield f"https://127.0.0.1:{port}", ca_file, key_file
    finally:
        stop.set()
        if beater is not None:
            beater.join(10)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _listening(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False
