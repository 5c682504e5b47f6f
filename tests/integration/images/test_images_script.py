"""scripts/images.sh is idempotent: with unchanged inputs a second run builds nothing, says nothing and
takes well under the time of a build."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def run_images(subset: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "IMAGES": subset}
    env.pop("NO_CACHE", None)
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "images.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done, time.monotonic() - started


def test_second_run_with_unchanged_inputs_builds_nothing_quietly(docker_engine: None) -> None:
    # The database and Prometheus images: their inputs are docker/ alone, which no test edits meanwhile.
    first, _ = run_images("db prometheus")
    assert first.returncode == 0, first.stderr
    second, seconds = run_images("db prometheus")
    assert second.returncode == 0, second.stderr
    assert (second.stdout, second.stderr) == ("", "")
    assert seconds < 10


def test_unknown_image_name_is_refused_with_the_valid_names(docker_engine: None) -> None:
    done, _ = run_images("onprem nosuchimage")
    assert done.returncode == 1
    assert "unknown image 'nosuchimage'" in done.stderr
    assert "onprem emulator mysql postgres prometheus redis db" in done.stderr
