"""An air-gapped site: a bundle made on this machine (`onprem bundle`) deploys with `onprem deploy --bundle`
to an isolated host (a network namespace with its own empty Docker engine and sshd) that has no route out,
from an onprem that has no docker CLI on its PATH (a laptop holding only the bundle and onprem.yaml)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.remote.isolated_host import IsolatedHost, isolated_host
from tests.integration.remote.test_ssh_deploy import remote_config

STACK = {
    "onprem/mysql:8.0",
    "onprem/onprem:0.1.0",
    "onprem-emulator/coreapp:v2.57.2",
    "onprem-emulator/web:v2.57.2",
}


def onprem(workdir: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "onprem.cli", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def cut_off(host: IsolatedHost) -> str:
    """No route out of the host but its link to this machine: a blackhole default route. Its routes."""
    for family in ("-4", "-6"):
        subprocess.run(
            ["ip", "-n", host.netns, family, "route", "replace", "blackhole", "default"],
            capture_output=True,
            check=family == "-4",
        )
    return subprocess.run(
        ["ip", "-n", host.netns, "route", "show"], capture_output=True, text=True, check=True
    ).stdout


def test_a_bundle_deploys_to_a_host_with_no_images_and_no_route_out(
    tmp_path: Path, stack_images: None
) -> None:
    builder, site = tmp_path / "builder", tmp_path / "site"
    builder.mkdir()
    site.mkdir()
    no_docker = tmp_path / "empty-path"
    no_docker.mkdir()
    bundle = tmp_path / "carried" / "onprem-site.tar"
    bundle.parent.mkdir()
    with isolated_host(tmp_path) as host:
        routes = cut_off(host)
        assert "blackhole default" in routes, routes
        assert host.docker("image", "ls", "-q").stdout == "", "the isolated engine starts empty"
        pulled = host.docker("pull", "busybox:latest")
        assert pulled.returncode != 0, "the host must not reach any registry"
        remote_config(builder, host.address, host.key, "it-airgap", host.known_hosts)
        shutil.copy(builder / "onprem.yaml", site / "onprem.yaml")

        started = time.monotonic()
        made = onprem(builder, "bundle", "-o", str(bundle), "--json")
        build_took = time.monotonic() - started
        assert made.returncode == 0, made.stderr
        document = json.loads(made.stdout)
        assert {i["name"] for i in document["images"]} == STACK
        assert bundle.stat().st_size == document["size"]
        assert bundle.stat().st_mode & 0o777 == 0o644
        assert not (builder / ".onprem" / "it-airgap" / "releases").exists(), (
            "making a bundle deploys nothing"
        )
        try:
            started = time.monotonic()
            done = onprem(site, "deploy", "--bundle", str(bundle), "--json", path=str(no_docker))
            deploy_took = time.monotonic() - started
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["api"]["health"] == {"gateway_status": "unregistered"}
            loading = [line for line in done.stderr.splitlines() if line.startswith("loading")]
            assert len(loading) == 1, done.stderr
            assert "copying" not in done.stderr
            held = host.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
            assert set(held) == STACK
            for image in document["images"]:
                inspected = host.docker("image", "inspect", "--format", "{{.Id}}", image["name"])
                assert inspected.stdout.strip() == image["id"]
            status = onprem(site, "status", "--json", path=str(no_docker))
            assert status.returncode == 0, status.stdout + status.stderr
            assert json.loads(status.stdout)["healthy"] is True
            planned = onprem(site, "plan", "--bundle", str(bundle), "--json", path=str(no_docker))
            assert planned.returncode == 0, planned.stderr
            assert json.loads(planned.stdout)["images"]["bundle"] == []

            started = time.monotonic()
            again = onprem(site, "deploy", "--bundle", str(bundle), path=str(no_docker))
            again_took = time.monotonic() - started
            assert again.returncode == 0, again.stderr
            assert "nothing changed" in again.stdout
            assert "loading" not in again.stderr, "the host has every image of the bundle"
            assert host.docker("pull", "busybox:latest").returncode != 0
            print(
                f"\nair-gapped host: bundle {document['size'] / 1e6:.1f} MB "
                f"({sum(i['size'] for i in document['images']) / 1e6:.1f} MB of images) made in {build_took:.1f} s; "
                f"deploy --bundle took {deploy_took:.1f} s ({loading[0]}); the same bundle again: {again_took:.1f} s"
            )
        finally:
            down = onprem(site, "down", "--volumes", "--yes", path=str(no_docker))
        assert down.returncode == 0, down.stderr
