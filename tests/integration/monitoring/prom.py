"""A real Prometheus on loopback for the kit's tests: the stack's rendered config, the kit's rules."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import free_port
from tests.integration.monitoring.conftest import RULE_FILES, render_template


def api(port: int, path: str, **params: str) -> Any:
    """The `data` of one Prometheus HTTP API call."""
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy; fail the test (naming its docstring) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (OSError, KeyError, IndexError, ValueError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {check.__doc__ or check}")
        time.sleep(0.5)


@contextlib.contextmanager
def prometheus(
    binary: str, workdir: Path, *, exporter: str, relay: str = "", extra_rules: tuple[Path, ...] = ()
) -> Iterator[int]:
    """Run Prometheus (1 s scrapes) on the rendered stack config; yields its port. Checks its log after."""
    port = free_port()
    config = yaml.safe_load(
        render_template(exporter_target=exporter, relay_target=relay, scrape_interval="1s")
    )
    config["rule_files"] = [str(path) for path in (*RULE_FILES, *extra_rules)]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    argv = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield port
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert b"level=error" not in stderr, stderr.decode()


def evaluated_groups(port: int) -> list[Any]:
    """Rule groups, once every one has been evaluated (else an empty list)."""
    groups = api(port, "rules")["groups"]
    return list(groups) if groups and all(g["lastEvaluation"] > "2000" for g in groups) else []
