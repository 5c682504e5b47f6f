"""onprem/redis:7 (Debian's redis-server): the password from a 0600 secret file, durable AOF, not root."""

from __future__ import annotations

import secrets
import time

from tests.integration.images.conftest import Sandbox, docker, need_image

REDIS_IMAGE = "onprem/redis:7"


def cli(container: str, *args: str, password: bool = True) -> str:
    auth = 'REDISCLI_AUTH="$(cat /run/secrets/RELAY_REDIS_PASSWORD)" ' if password else ""
    script = auth + "redis-cli " + " ".join(args)
    return docker("exec", container, "sh", "-c", script, check=False).stdout.strip()


def test_redis_needs_the_secret_password_keeps_an_aof_and_runs_as_redis(sandbox: Sandbox) -> None:
    need_image(REDIS_IMAGE)
    password = secrets.token_urlsafe(24)
    secret = sandbox.workdir / f"{sandbox.prefix}-redis-password"
    secret.touch(mode=0o600)  # as compose mounts it: owned by root, 0600
    secret.write_text(password + "\n")
    data = sandbox.volume("redis")
    name = sandbox.start(
        "redis",
        "-e", "REDIS_PASSWORD_FILE=/run/secrets/RELAY_REDIS_PASSWORD",
        "-v", f"{secret}:/run/secrets/RELAY_REDIS_PASSWORD:ro",
        "-v", f"{data}:/data",
        REDIS_IMAGE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while cli(name, "ping") != "PONG":
        assert time.monotonic() < deadline, docker("logs", name, check=False).stderr
        time.sleep(0.3)
    assert cli(name, "ping", password=False).startswith("NOAUTH")
    assert cli(name, "CONFIG", "GET", "appendfsync").split() == ["appendfsync", "always"]
    assert cli(name, "CONFIG", "GET", "appendonly").split() == ["appendonly", "yes"]
    cli(name, "SET", "k", "v")
    docker("restart", "-t", "10", name)
    deadline = time.monotonic() + 30
    while cli(name, "ping") != "PONG":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert cli(name, "GET", "k") == "v", "the AOF on the volume survives a restart"
    top = docker("top", name, "-o", "pid,uid,args").stdout
    uid = docker("exec", name, "id", "-u", "redis").stdout.strip()
    assert uid != "0"
    assert any(line.split()[1:2] == [uid] and "redis-server" in line for line in top.splitlines()), top
    assert password not in top, "the password is in no process argument"
    conf = docker("exec", name, "stat", "-c", "%a %U", "/run/redis/redis.conf").stdout.split()
    assert conf == ["600", "redis"]
