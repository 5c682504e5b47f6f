"""What the long-running processes (relay, exporter, emulator) share: listen addresses, reading a
sidecar's config file, and the event loop they run on.

Each sidecar reads back the YAML the renderer dumped from its section of onprem.yaml; an error names the
file and the field under that section (`relay.store.backend: ...`), as errors in onprem.yaml do.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import struct
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from onprem.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")


def split_listen(value: str) -> tuple[str, int]:
    """Split `HOST:PORT` (or `[V6]:PORT`) into host and port. Raises ValueError when malformed."""
    match = _HOST_PORT.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not HOST:PORT (use [ADDR]:PORT for IPv6)")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is outside 1-65535")
    host = match["v6"] or match["host"]
    if match["v6"]:
        ipaddress.IPv6Address(host)  # raises ValueError
    return host, port


CONTAINER_HOST = "container"


_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def interface_addresses() -> list[str]:
    """The IPv4 address of each network interface of this namespace that has one (Linux; [] elsewhere).

    A container's name resolves to its addresses on its named networks only; a Swarm task also has one
    on docker_gwbridge, where its host-mode published ports arrive."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Linux
        return []
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue  # no IPv4 address on this interface
            found.append(socket.inet_ntoa(answer[20:24]))
    return found


def listen_hosts(host: str) -> list[str]:
    """The addresses a listen HOST binds. `container` means this container's own addresses (on every
    interface of its namespace, and what its name resolves to) plus loopback, where its health check
    connects, rather than every address there is."""
    if host != CONTAINER_HOST:
        return [host]
    try:
        _, _, addresses = socket.gethostbyname_ex(socket.gethostname())
    except OSError:
        addresses = []
    return sorted({*addresses, *interface_addresses(), "127.0.0.1"})


def parse_section(model: type[M], section: str, data: Any, origin: str) -> M:
    """Validate a plain mapping (None means empty) as `model`. Raises ConfigError naming each bad field
    as `<origin>: <section>.<field>: <problem>`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: must be a mapping of {section} settings, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = "unknown key" if error["type"] == "extra_forbidden" else str(error["msg"])
            problems.append(f"{origin}: {section}.{field}: {message.removeprefix('Value error, ')}")
        raise ConfigError(problems) from None


def load_section(model: type[M], section: str, path: Path) -> M:
    """Read and validate the YAML file at `path` as `model`. Raises ConfigError if unreadable or invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {section} config ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_section(model, section, data, str(path))


def run_server(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` to completion on uvloop where available (Linux: the latency targets are measured with
    it), else on the default asyncio loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a Linux dependency
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)
