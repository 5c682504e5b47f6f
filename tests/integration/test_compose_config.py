"""Every rendered variant is accepted by the real `docker compose config -q`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from onprem.bundle import write_bundle
from onprem.config import Settings
from onprem.render import host_bundle, render
from onprem.sidecars import all_secret_names
from tests.unit.test_render import KIT, VARIANTS


def compose(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "--project-directory", str(bundle), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_docker_compose_accepts_the_rendered_bundle(
    variant: str, tmp_path: Path, docker_engine: None
) -> None:
    settings = Settings.model_validate(VARIANTS[variant])
    files = render(settings, kit=KIT)
    # Each host's bundle in its own directory beside secrets/ and certs/, as the state directory has them.
    bundles = {host.name: tmp_path / f"bundle-{host.name}" for host in settings.hosts}
    for host, directory in bundles.items():
        write_bundle(directory, host_bundle(settings, files, host))
    (tmp_path / "secrets").mkdir()
    for name in all_secret_names(settings):
        (tmp_path / "secrets" / name).write_text("placeholder")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "root.pem").write_text("placeholder")  # what `onprem certs issue` writes
    services: list[str] = []
    for directory in bundles.values():
        done = compose(directory, "config", "-q")
        assert done.returncode == 0, f"{directory.name}: {done.stderr}"
        listed = compose(directory, "--profile", "monitoring", "config", "--services")
        assert listed.returncode == 0, listed.stderr
        services += listed.stdout.split()
    assert "prometheus" in services
