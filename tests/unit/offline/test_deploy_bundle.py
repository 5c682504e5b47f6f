"""`deploy --bundle` and `plan --bundle` as workflows: the bundle is checked against the config before any
engine is touched, its images are loaded only onto a host that lacks one of them, then deploy goes on as
usual (with a recording engine and a scripted API)."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from onprem.deployment import Deployment
from onprem.engine.hosts import HostsEngine
from onprem.errors import ConfigError, EngineError
from onprem.offline.manifest import sums_text
from onprem.render import expected_services
from onprem.workflows.offline import Built, build, deploy_from, open_bundle
from onprem.workflows.plan import plan
from tests.unit.fakes import NOW, FakeApi, make_deployment, running
from tests.unit.offline.fakes import STACK, FakeImages, LoadingEngine, image_id, members, repack


def site(tmp_path: Path, engine: LoadingEngine, text: str = "deployment:\n  name: unit\n") -> Deployment:
    """The deploying machine: its own directory, config and state; the host's engine."""
    where = tmp_path / "site"
    where.mkdir(exist_ok=True)
    return make_deployment(where, engine, FakeApi(), text)


def made(
    tmp_path: Path, text: str = "deployment:\n  name: unit\n", images: FakeImages | None = None
) -> Built:
    """A bundle made on another machine (its own directory and state)."""
    where = tmp_path / "builder"
    where.mkdir(exist_ok=True)
    loaded = make_deployment(where, LoadingEngine(), text=text).loaded
    return build(loaded, tmp_path / "site.tar", images=images or FakeImages(), now=lambda: NOW)


def with_containers(tmp_path: Path, engine: LoadingEngine) -> LoadingEngine:
    settings = site(tmp_path, engine).settings
    engine.script = [[running(s) for s in expected_services(settings)]]
    return engine


def test_a_host_without_images_gets_the_bundles_then_a_normal_deploy_runs(tmp_path: Path) -> None:
    bundle = made(tmp_path)
    engine = with_containers(tmp_path, LoadingEngine())
    deployment = site(tmp_path, engine)
    carried = open_bundle(deployment, bundle.path)
    assert engine.calls == [], "checking the bundle touches no engine"
    result = deploy_from(deployment, carried)
    assert result.changed
    assert result.release == "0001"
    assert engine.loads == 1
    assert engine.held == {name: image_id(name) for name in STACK}
    assert result.notes[-1].startswith("bundle site.tar: loaded onto ")
    assert "lacked onprem-emulator/coreapp:v2.57.2" in result.summary
    load = engine.calls.index(("load_images",))
    assert [c for c in engine.calls[:load] if c[0] == "compose"] == [], "images first, then compose"
    release = json.loads(
        (tmp_path / "site" / ".onprem" / "unit" / "releases" / "0001" / "release.json").read_text()
    )
    assert release["images"] == {name: image_id(name) for name in STACK}


def test_a_second_deploy_with_the_same_bundle_loads_nothing(tmp_path: Path) -> None:
    bundle = made(tmp_path)
    engine = with_containers(tmp_path, LoadingEngine())
    deploy_from(site(tmp_path, engine), open_bundle(site(tmp_path, engine), bundle.path))
    again = deploy_from(site(tmp_path, engine), open_bundle(site(tmp_path, engine), bundle.path))
    assert engine.loads == 1
    assert not again.changed
    assert again.notes[-1] == "bundle site.tar: every host had its images, nothing loaded"


def test_a_host_lacking_one_image_or_holding_another_version_gets_the_bundle_loaded(tmp_path: Path) -> None:
    bundle = made(tmp_path)
    held = {name: image_id(name) for name in STACK}
    held["onprem/onprem:0.1.0"] = image_id("onprem/onprem:0.1.0", version="old")
    engine = with_containers(tmp_path, LoadingEngine(held=held))
    deployment = site(tmp_path, engine)
    carried = open_bundle(deployment, bundle.path)
    assert plan(deployment, bundle=carried).images["bundle"] == ["onprem/onprem:0.1.0"]
    deploy_from(deployment, carried)
    assert carried.loaded == {"local": ["onprem/onprem:0.1.0"]}
    assert engine.held["onprem/onprem:0.1.0"] == image_id("onprem/onprem:0.1.0")


def test_images_the_load_did_not_leave_as_the_bundle_says_stop_the_deploy(tmp_path: Path) -> None:
    bundle = made(tmp_path)
    engine = with_containers(tmp_path, LoadingEngine(broken_load=True))
    deployment = site(tmp_path, engine)
    with pytest.raises(
        EngineError, match=r"after loading the bundle, local holds onprem-emulator/coreapp:v2\.57\.2 as None"
    ):
        deploy_from(deployment, open_bundle(deployment, bundle.path))
    assert [c for c in engine.calls if c[0] == "compose"] == []


def test_a_bundle_of_another_deployment_says_so(tmp_path: Path) -> None:
    bundle = made(tmp_path, "deployment:\n  name: elsewhere\n")
    engine = LoadingEngine()
    with pytest.raises(
        ConfigError, match="it is a bundle of deployment 'elsewhere', this config deploys 'unit'"
    ):
        open_bundle(site(tmp_path, engine), bundle.path)
    assert engine.calls == []


def test_a_bundle_of_another_onprem_version_says_so(tmp_path: Path) -> None:
    bundle = made(tmp_path)
    parts = members(bundle.path)
    manifest = json.loads(dict(parts)["manifest.json"])
    manifest["onprem_version"] = "0.0.9"
    parts = [(n, json.dumps(manifest).encode() if n == "manifest.json" else d) for n, d in parts]
    hashes = {n: hashlib.sha256(d).hexdigest() for n, d in parts if n != "SHA256SUMS"}
    repack(bundle.path, [(n, sums_text(hashes).encode() if n == "SHA256SUMS" else d) for n, d in parts])
    with pytest.raises(ConfigError, match=r"made by onprem 0\.0\.9, this is onprem 0\.1\.0"):
        open_bundle(site(tmp_path, LoadingEngine()), bundle.path)


def test_a_bundle_made_from_another_config_names_the_files_that_differ(tmp_path: Path) -> None:
    bundle = made(tmp_path)
    changed = "deployment:\n  name: unit\nnetwork:\n  web_port: 9999\n"
    with pytest.raises(ConfigError, match=r"rendered files differ .*\(compose\.yaml\).*without --bundle"):
        open_bundle(site(tmp_path, LoadingEngine(), changed), bundle.path)


def test_a_corrupt_bundle_changes_nothing(tmp_path: Path) -> None:
    bundle = made(tmp_path)
    with tarfile.open(bundle.path) as tar:
        member = tar.getmember("images.tar.gz")
    data = bytearray(bundle.path.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0xFF
    bundle.path.write_bytes(bytes(data))
    engine = LoadingEngine()
    deployment = site(tmp_path, engine)
    with pytest.raises(ConfigError, match=r"member images\.tar\.gz is corrupt"):
        open_bundle(deployment, bundle.path)
    assert engine.calls == []
    assert not deployment.state.root.exists()


SEVERAL = """deployment:
  name: unit
client:
  mode: multiconnect
  shards: 1
hosts:
  - name: wa1
    address: ssh://deploy@10.0.0.1
    advertise_address: 10.0.0.1
    roles: [web, db, masters, relay, exporter]
  - name: wa2
    address: ssh://deploy@10.0.0.2
    advertise_address: 10.0.0.2
    roles: [masters, coreapps]
"""


def test_with_several_hosts_each_host_that_lacks_one_of_its_own_images_gets_the_bundle(
    tmp_path: Path,
) -> None:
    bundle = made(tmp_path, SEVERAL)
    complete = LoadingEngine(held={name: image_id(name) for name in STACK})
    bare = LoadingEngine()
    deployment = site(tmp_path, LoadingEngine(), SEVERAL)
    deployment.engine = HostsEngine(
        {"wa1": complete, "wa2": bare},
        primary="wa1",
        bundle_dirs={"wa1": tmp_path / "b1", "wa2": tmp_path / "b2"},
        service_hosts={},
    )
    carried = open_bundle(deployment, bundle.path)
    check = carried(deployment, list(STACK))
    assert carried.loaded == {"wa1": [], "wa2": ["onprem-emulator/coreapp:v2.57.2"]}
    assert check.loaded == ["onprem-emulator/coreapp:v2.57.2"]
    assert (complete.loads, bare.loads) == (0, 1)
