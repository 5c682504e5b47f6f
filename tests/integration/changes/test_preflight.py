"""Pre-flight on the real engine: an image that is neither built here nor pullable is refused before
anything is touched, naming the tags there are; a registry that does not answer is named as such."""

from __future__ import annotations

from tests.integration.changes.conftest import Stack
from tests.integration.changes.snapshot import engine_state


def test_a_version_that_is_not_built_here_is_refused_before_anything_is_touched(stack: Stack) -> None:
    stack.write_config(version="2.99.0")
    before = engine_state(stack.name)
    done = stack.run("deploy")
    assert done.returncode == 2, done.stderr
    assert "onprem-emulator/coreapp:v2.99.0 is not on the host and no registry serves it" in done.stderr
    assert "v2.53.2" in done.stderr
    assert "v2.57.2" in done.stderr
    assert "registry-1.docker.io" not in done.stderr
    assert engine_state(stack.name) == before
    planned = stack.run("plan")
    assert planned.returncode == 1
    assert "v2.99.0 is not on the host" in planned.stdout


def test_a_private_registry_that_does_not_answer_is_named_and_nothing_starts(stack: Stack) -> None:
    # A loopback port nothing listens on stands for a registry that is down.
    config = stack.workdir / "onprem.yaml"
    text = config.read_text().replace(
        '  version: "2.57.2"\n', '  version: "2.53.1"\n  image_registry: 127.0.0.1:1/whatsapp\n'
    )
    config.write_text(text)
    planned = stack.run("plan")
    assert (
        "images the host pulls" in planned.stdout or "image to pull: 127.0.0.1:1/whatsapp" in planned.stdout
    )
    done = stack.run("deploy")
    assert done.returncode == 3, done.stderr
    assert "cannot pull 127.0.0.1:1/whatsapp/coreapp:v2.53.1" in done.stderr
    assert "docker login 127.0.0.1:1" in done.stderr
    assert "nothing was started" in done.stderr
    running = [c for c in engine_state(stack.name)["containers"] if '"running"' in c["State.Status"]]
    assert not [c for c in running if "whatsapp" in c["Image"]]
