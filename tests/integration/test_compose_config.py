"""Every rendered variant is accepted by the real `docker compose config -q`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from onprem.bundle import write_bundle
from onprem.config import Settings
from onprem.render import all_secret_names, render
from tests.unit.test_render import KIT, VARIANTS


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_docker_compose_accepts_the_rendered_bundle(
    variant: str, tmp_path: Path, docker_engine: None
) -> None:
    settings = Settings.model_validate(VARIANTS[variant])
    write_bundle(tmp_path / "bundle", render(settings, kit=KIT))
    (tmp_path / "secrets").mkdir()
    for name in all_secret_names(settings):
        (tmp_path / "secrets" / name).write_text("placeholder")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "root.pem").write_text("placeholder")  # what `onprem certs issue` writes
    done = subprocess.run(
        ["docker", "compose", "--project-directory", str(tmp_path / "bundle"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    profiles = subprocess.run(
        [
            "docker",
            "compose",
            "--project-directory",
            str(tmp_path / "bundle"),
            "--profile",
            "monitoring",
            "config",
            "--services",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "prometheus" in profiles
