"""Which images a remote deploy copies, and this machine's side of the copy (with a fake Docker CLI)."""

from __future__ import annotations

import io
import subprocess
from typing import Any

import pytest

from onprem.engine.images import LocalImages, normalize, parse_image_list, stack_images, to_copy
from onprem.errors import EngineError

COMPOSE = """
services:
  db: {image: onprem/mysql:8.0}
  waweb: {image: "onprem-emulator/web:v2.57.2"}
  relay: {image: "onprem/onprem:0.1.0"}
  exporter: {image: "onprem/onprem:0.1.0"}
  prometheus: {image: "onprem/prometheus:2.42", profiles: [monitoring]}
  built: {build: .}
"""
LISTING = (
    "onprem/mysql:8.0 sha256:aaa\n"
    "onprem/onprem:0.1.0 sha256:bbb\n"
    "<none>:<none> sha256:ccc\n"
    "busybox:latest sha256:ddd\n"
)


def test_stack_images_follow_the_active_profiles_and_are_unique() -> None:
    assert stack_images(COMPOSE, []) == [
        "onprem-emulator/web:v2.57.2",
        "onprem/mysql:8.0",
        "onprem/onprem:0.1.0",
    ]
    assert "onprem/prometheus:2.42" in stack_images(COMPOSE, ["monitoring"])


def test_an_unreadable_compose_file_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="not YAML"):
        stack_images("services: [", [])


def test_the_image_listing_is_parsed_without_untagged_images() -> None:
    assert parse_image_list(LISTING) == {
        "onprem/mysql:8.0": "sha256:aaa",
        "onprem/onprem:0.1.0": "sha256:bbb",
        "busybox:latest": "sha256:ddd",
    }
    assert normalize("busybox") == "busybox:latest"
    assert normalize("registry:5000/team/app") == "registry:5000/team/app:latest"
    assert normalize("app@sha256:abc") == "app@sha256:abc"


def test_only_images_this_machine_has_and_the_host_lacks_or_holds_otherwise_are_copied() -> None:
    local = {"onprem/mysql:8.0": "sha256:aaa", "onprem/onprem:0.1.0": "sha256:new", "private/wa:2": None}
    remote = {"onprem/mysql:8.0": "sha256:aaa", "onprem/onprem:0.1.0": "sha256:old"}
    assert to_copy(local, remote) == ["onprem/onprem:0.1.0"]
    assert to_copy({"busybox": "sha256:ddd"}, {"busybox:latest": "sha256:ddd"}) == []


def test_local_images_reads_ids_from_one_listing() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, LISTING, "")

    ids = LocalImages(run=run).ids(["onprem/mysql:8.0", "busybox", "missing:1"])
    assert ids == {"onprem/mysql:8.0": "sha256:aaa", "busybox": "sha256:ddd", "missing:1": None}
    assert len(calls) == 1


def test_without_a_local_engine_nothing_counts_as_present_so_nothing_is_copied() -> None:
    def no_docker(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("docker")

    def no_engine(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "Cannot connect to the Docker daemon")

    for run in (no_docker, no_engine):
        local = LocalImages(run=run).ids(["onprem/mysql:8.0"])
        assert local == {"onprem/mysql:8.0": None}
        assert to_copy(local, {}) == []


class FakeSave:
    def __init__(self, data: bytes, code: int, error: bytes = b"") -> None:
        self.stdout, self.stderr, self._code = io.BytesIO(data), io.BytesIO(error), code

    def wait(self) -> int:
        return self._code


def test_save_streams_one_tar_of_every_image_and_a_failure_is_an_engine_error() -> None:
    argvs: list[list[str]] = []

    def popen(data: bytes, code: int) -> Any:
        def start(argv: list[str], **kw: Any) -> FakeSave:
            argvs.append(argv)
            return FakeSave(data, code, b"no such image")

        return start

    blob = b"x" * (3 << 20)
    assert b"".join(LocalImages(popen=popen(blob, 0)).save(["a:1", "b:2"])) == blob
    assert argvs == [["docker", "save", "a:1", "b:2"]]
    with pytest.raises(EngineError, match="no such image"):
        b"".join(LocalImages(popen=popen(b"", 1)).save(["c:3"]))
