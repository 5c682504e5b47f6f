"""`docker load` on this machine from a stream: chunks go to its stdin as they come, its failure is said,
and a stream that fails half-way never reaches the end (a stand-in CLI in a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from onprem.engine.load import LOAD_ARGV, docker_load
from onprem.errors import EngineError

COUNTING = (
    "import sys\n"
    "data = sys.stdin.buffer.read()\n"
    "print(f'Loaded image: {len(data)} bytes, ends with {data[-3:].decode()}')\n"
)
REFUSING = (
    "import sys\nsys.stderr.write('open /var/lib/docker/tmp: no space left on device\\n')\nsys.exit(1)\n"
)


def stand_in(script: str, seen: list[list[str]]) -> Callable[..., Any]:
    def popen(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        seen.append(argv)
        return subprocess.Popen([sys.executable, "-c", script], **kwargs)

    return popen


def test_every_chunk_reaches_docker_load_in_order() -> None:
    seen: list[list[str]] = []
    out = docker_load([b"x" * 100_000, b"y" * 100_000, b"end"], popen=stand_in(COUNTING, seen))
    assert seen == [LOAD_ARGV]
    assert out.strip() == "Loaded image: 200003 bytes, ends with end"


def test_a_load_that_fails_says_what_docker_said() -> None:
    chunks = (b"z" * 65536 for _ in range(64))  # more than a pipe holds: the writer meets a closed pipe
    with pytest.raises(
        EngineError, match="docker load failed \\(exit 1\\): open /var/lib/docker/tmp: no space"
    ):
        docker_load(chunks, popen=stand_in(REFUSING, []))


def test_a_stream_that_fails_half_way_stops_the_load_and_is_raised() -> None:
    def failing() -> Iterator[bytes]:
        yield b"first part"
        raise RuntimeError("the bundle changed")

    with pytest.raises(RuntimeError, match="the bundle changed"):
        docker_load(failing(), popen=stand_in(COUNTING, []))


def test_a_machine_without_the_docker_cli_is_told_how_to_get_it() -> None:
    def missing(argv: list[str], **kwargs: Any) -> Any:
        raise FileNotFoundError(2, "No such file or directory", "docker")

    with pytest.raises(EngineError, match=r"cannot run docker load .*make engine"):
        docker_load([b""], popen=missing)
