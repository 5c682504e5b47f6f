"""Bundle: atomic, minimal writes; the diff says what a render changes."""

from __future__ import annotations

import json
from pathlib import Path

from onprem.bundle import MANIFEST, digest, file_hashes, read_manifest, write_bundle


def test_first_write_adds_every_file_and_a_manifest(tmp_path: Path) -> None:
    changes = write_bundle(tmp_path / "b", {"compose.yaml": "a: 1\n", "sub/x.yml": "x\n"})
    assert changes.added == ["compose.yaml", "sub/x.yml"]
    assert (tmp_path / "b" / "sub" / "x.yml").read_text() == "x\n"
    assert json.loads((tmp_path / "b" / MANIFEST).read_text()) == file_hashes(
        {"compose.yaml": "a: 1\n", "sub/x.yml": "x\n"}
    )


def test_rewrite_with_same_files_changes_nothing(tmp_path: Path) -> None:
    files = {"compose.yaml": "a: 1\n"}
    write_bundle(tmp_path, files)
    before = (tmp_path / "compose.yaml").stat().st_mtime_ns
    assert write_bundle(tmp_path, files).empty
    assert (tmp_path / "compose.yaml").stat().st_mtime_ns == before


def test_changed_and_removed_files_are_reported_and_applied(tmp_path: Path) -> None:
    write_bundle(tmp_path, {"a": "1", "b": "2"})
    changes = write_bundle(tmp_path, {"a": "1*", "c": "3"})
    assert (changes.added, changes.changed, changes.removed) == (["c"], ["a"], ["b"])
    assert not (tmp_path / "b").exists()
    assert sorted(read_manifest(tmp_path)) == ["a", "c"]


def test_a_file_deleted_by_hand_is_restored(tmp_path: Path) -> None:
    write_bundle(tmp_path, {"a": "1"})
    (tmp_path / "a").unlink()
    write_bundle(tmp_path, {"a": "1"})
    assert (tmp_path / "a").read_text() == "1"


def test_digest_depends_on_content_not_order() -> None:
    one = digest({"a": "1", "b": "2"}, {"s": "x"})
    assert one == digest({"b": "2", "a": "1"}, {"s": "x"})
    assert one != digest({"a": "1", "b": "2"}, {"s": "y"})
