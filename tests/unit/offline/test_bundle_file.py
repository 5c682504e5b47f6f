"""Making an offline bundle and reading it back: what it holds, and every way a file can be damaged or
lie, each refused naming the member (with fake images, no engine)."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from onprem.bundle import file_hashes
from onprem.errors import ConfigError
from onprem.offline import archive
from onprem.offline.manifest import parse_sums, sums_text
from onprem.render import read_kit, render
from onprem.workflows.offline import Built, build
from onprem.workflows.prepare import prepare
from tests.unit.fakes import NOW, RecordingEngine, make_deployment
from tests.unit.offline.fakes import STACK, FakeImages, config_of, image_id, layers_of, members, repack


def built(tmp_path: Path, *, compress: bool = True, images: FakeImages | None = None) -> Built:
    deployment = make_deployment(tmp_path, RecordingEngine())
    return build(
        deployment.loaded,
        tmp_path / "site.tar",
        compress=compress,
        images=images or FakeImages(),
        now=lambda: NOW,
    )


def resummed(parts: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """`parts` with SHA256SUMS made to agree with them again (a repack by someone who knows the format)."""
    hashes = {n: hashlib.sha256(d).hexdigest() for n, d in parts if n != "SHA256SUMS"}
    return [(n, sums_text(hashes).encode() if n == "SHA256SUMS" else d) for n, d in parts]


def test_a_bundle_holds_the_manifest_checksums_rendered_files_and_one_save_of_every_image(
    tmp_path: Path,
) -> None:
    done = built(tmp_path)
    names = [name for name, _ in members(done.path)]
    assert names[:2] == ["manifest.json", "SHA256SUMS"]
    assert names[-1] == "images.tar.gz"
    assert "bundle/compose.yaml" in names
    parts = dict(members(done.path))
    manifest = json.loads(parts["manifest.json"])
    assert manifest["deployment"] == "unit"
    assert manifest["onprem_version"] == "0.1.0"
    assert manifest["created"] == NOW.isoformat(timespec="seconds")
    assert [i["name"] for i in manifest["images"]] == list(STACK)
    assert all(i["id"] == image_id(i["name"]) for i in manifest["images"])
    settings = make_deployment(tmp_path, RecordingEngine()).settings
    assert manifest["files"] == file_hashes(render(settings, kit=read_kit()))
    # `sha256sum -c SHA256SUMS` holds for an extracted copy.
    sums = parse_sums(parts["SHA256SUMS"].decode())
    assert sums == {n: hashlib.sha256(d).hexdigest() for n, d in parts.items() if n != "SHA256SUMS"}
    assert done.sha256 == hashlib.sha256(done.path.read_bytes()).hexdigest()
    assert done.path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".site")) == []


def test_images_shared_layers_are_stored_once_and_each_image_counts_its_own(tmp_path: Path) -> None:
    images = FakeImages()
    done = built(tmp_path, compress=False, images=images)
    assert images.saves == [STACK], "one docker save of every image"
    sizes = {i.name: i.size for i in done.manifest.images}
    # The base layer is stored once (linked from the other images) and counts for every image.
    assert sizes == {n: len(config_of(n)) + sum(len(layer) for layer in layers_of(n)) for n in STACK}
    with tarfile.open(done.path) as tar:
        handle = tar.extractfile("images.tar")
        assert handle is not None
        with tarfile.open(fileobj=handle) as inner:
            stored = [m for m in inner.getmembers() if m.isfile() and m.name.endswith("layer.tar")]
    assert len(stored) == len(STACK) + 1


def test_no_secret_of_the_state_directory_is_in_the_bundle(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path, RecordingEngine())
    values = prepare(deployment, "identity-1").values
    assert len(values) >= 4
    done = built(tmp_path)
    raw = done.path.read_bytes()
    content = raw + gzip.decompress(dict(members(done.path))["images.tar.gz"])
    for name, value in values.items():
        assert value.encode() not in content, f"the value of {name} is in the bundle"
    assert b"identity-1" not in content


def test_a_machine_without_an_image_cannot_bundle_it_and_says_which(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"this machine has no .*onprem/mysql:8\.0, which the stack runs.*make images"
    ):
        built(tmp_path, images=FakeImages(have=("onprem/onprem:0.1.0",)))
    assert list(tmp_path.glob("*.tar")) == []
    assert list(tmp_path.glob(".site*")) == []


@pytest.mark.parametrize("compress", [True, False])
def test_a_bundle_reads_back_whole(tmp_path: Path, compress: bool) -> None:
    done = built(tmp_path, compress=compress)
    verified = archive.verify(done.path)
    assert verified.manifest == done.manifest
    assert verified.sha256 == done.sha256
    assert verified.files["compose.yaml"].startswith("#") or "services:" in verified.files["compose.yaml"]
    streamed = b"".join(archive.image_chunks(verified))
    assert hashlib.sha256(streamed).hexdigest() == done.manifest.images_sha256


@pytest.mark.parametrize("member", ["images.tar.gz", "bundle/compose.yaml", "manifest.json"])
def test_a_flipped_byte_is_refused_naming_the_member(tmp_path: Path, member: str) -> None:
    done = built(tmp_path)
    with tarfile.open(done.path) as tar:
        at = tar.getmember(member).offset_data + 100 % tar.getmember(member).size
    data = bytearray(done.path.read_bytes())
    data[at] ^= 0x01
    done.path.write_bytes(bytes(data))
    with pytest.raises(
        ConfigError, match=rf"member {member} is corrupt: its sha256 is .*nothing was changed"
    ):
        archive.verify(done.path)


def test_a_missing_member_is_refused_naming_it(tmp_path: Path) -> None:
    done = built(tmp_path)
    repack(done.path, [(n, d) for n, d in members(done.path) if n != "bundle/relay.yaml"])
    with pytest.raises(ConfigError, match=r"member bundle/relay\.yaml is missing"):
        archive.verify(done.path)


def test_a_file_cut_short_names_the_member_it_ends_in(tmp_path: Path) -> None:
    done = built(tmp_path)
    with tarfile.open(done.path) as tar:
        member = tar.getmember("images.tar.gz")
    done.path.write_bytes(done.path.read_bytes()[: member.offset_data + member.size // 2])
    with pytest.raises(ConfigError, match=r"the file ends inside member images\.tar\.gz.*cut short"):
        archive.verify(done.path)


def test_a_file_cut_before_its_checksums_is_not_taken_for_a_bundle(tmp_path: Path) -> None:
    done = built(tmp_path)
    with tarfile.open(done.path) as tar:
        end = tar.getmember("SHA256SUMS").offset
    done.path.write_bytes(done.path.read_bytes()[:end])
    with pytest.raises(ConfigError, match="it has no SHA256SUMS"):
        archive.verify(done.path)


def test_a_manifest_that_lies_about_an_image_is_refused_though_every_checksum_holds(tmp_path: Path) -> None:
    done = built(tmp_path)
    parts = members(done.path)
    manifest = json.loads(dict(parts)["manifest.json"])
    manifest["images"][0]["id"] = "sha256:" + "0" * 64
    lying = [(n, json.dumps(manifest).encode() if n == "manifest.json" else d) for n, d in parts]
    repack(done.path, resummed(lying))
    with pytest.raises(
        ConfigError, match=r"the manifest says onprem-emulator/coreapp:v2\.57\.2 is sha256:0000"
    ):
        archive.verify(done.path)


def test_a_manifest_that_lies_about_a_file_is_refused(tmp_path: Path) -> None:
    done = built(tmp_path)
    parts = members(done.path)
    manifest = json.loads(dict(parts)["manifest.json"])
    manifest["files"]["relay.yaml"] = "1" * 64
    lying = [(n, json.dumps(manifest).encode() if n == "manifest.json" else d) for n, d in parts]
    repack(done.path, resummed(lying))
    with pytest.raises(
        ConfigError, match=r"the manifest lies: the manifest says bundle/relay\.yaml has sha256 1111"
    ):
        archive.verify(done.path)


def test_a_manifest_whose_digest_is_not_of_its_files_is_refused(tmp_path: Path) -> None:
    done = built(tmp_path)
    parts = members(done.path)
    manifest = json.loads(dict(parts)["manifest.json"])
    manifest["config_digest"] = "2" * 64
    lying = [(n, json.dumps(manifest).encode() if n == "manifest.json" else d) for n, d in parts]
    repack(done.path, resummed(lying))
    with pytest.raises(ConfigError, match="its config digest is not the digest of the files it lists"):
        archive.verify(done.path)


def test_a_member_that_is_no_part_of_a_bundle_is_refused(tmp_path: Path) -> None:
    done = built(tmp_path)
    repack(done.path, resummed([*members(done.path), ("run-me.sh", b"#!/bin/sh\n")]))
    with pytest.raises(ConfigError, match=r"member run-me\.sh is not part of an onprem bundle"):
        archive.verify(done.path)


def test_a_file_that_is_not_a_tar_is_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n" * 200)
    with pytest.raises(ConfigError, match="it is not an onprem bundle"):
        archive.verify(path)
    with pytest.raises(ConfigError, match="cannot read the bundle"):
        archive.verify(tmp_path / "absent.tar")


def test_a_file_changed_after_it_was_verified_never_reaches_docker_load_whole(tmp_path: Path) -> None:
    done = built(tmp_path)
    verified = archive.verify(done.path)
    with tarfile.open(done.path) as tar:
        at = tar.getmember("images.tar.gz").offset_data + 10
    data = bytearray(done.path.read_bytes())
    data[at] ^= 0x01
    done.path.write_bytes(bytes(data))
    sent = []
    with pytest.raises(ConfigError, match="changed since it was verified"):
        sent.extend(archive.image_chunks(verified))
    assert sum(len(c) for c in sent) < done.manifest.images_size
