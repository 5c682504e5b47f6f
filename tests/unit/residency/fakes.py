"""A scripted host for residency tests: answers the read-only probes (`docker info`, volume and container
listings and inspects, `stat`, `findmnt`, `lsblk`, the dm uuid, `find`) from a small model of its disks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from onprem.errors import EngineError

PLAIN_DISK = {"blockdevices": [{"name": "vda", "type": "disk", "fstype": None}]}
LUKS_UNDER_LVM = {
    "blockdevices": [
        {
            "name": "vg-data",
            "type": "lvm",
            "fstype": "ext4",
            "children": [
                {
                    "name": "luks-1234",
                    "type": "crypt",
                    "fstype": "LVM2_member",
                    "children": [{"name": "sdb1", "type": "part", "fstype": "crypto_LUKS"}],
                }
            ],
        }
    ]
}


@dataclass
class Disk:
    mount: str
    source: str
    fstype: str = "ext4"
    maj_min: str = "254:0"
    lsblk: dict[str, Any] = field(default_factory=lambda: PLAIN_DISK)


@dataclass
class FakeHost:
    """`paths`: path -> (mode, owner, group, uid, gid); `disks`: the mounts, longest prefix wins;
    `files`: directory -> [(name, mode)]; `volumes` and `containers`: docker inspect documents."""

    paths: dict[str, tuple[str, str, str, int, int]] = field(default_factory=dict)
    disks: list[Disk] = field(default_factory=lambda: [Disk("/", "/dev/vda")])
    files: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    containers: list[dict[str, Any]] = field(default_factory=list)
    root: str = "/var/lib/docker"
    down: str | None = None
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def run(
        self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None, timeout: float = 900
    ) -> tuple[int, bytes, bytes]:
        self.calls.append(tuple(argv))
        if self.down is not None:
            raise EngineError(self.down)
        code, out, err = self._answer(list(argv))
        return code, out.encode(), err.encode()

    def _disk(self, path: str) -> Disk:
        return max((d for d in self.disks if path.startswith(d.mount)), key=lambda d: len(d.mount))

    def _answer(self, argv: list[str]) -> tuple[int, str, str]:
        match argv:
            case ["docker", "info", *_]:
                info = {"DockerRootDir": self.root, "LoggingDriver": "json-file", "ServerVersion": "27.0.1"}
                return 0, json.dumps(info), ""
            case ["docker", "volume", "ls", *rest]:
                compose = "com.docker.compose.project" in rest[-1]
                return 0, "\n".join(v["Name"] for v in self.volumes) if compose else "", ""
            case ["docker", "volume", "inspect", *names]:
                return 0, json.dumps([v for v in self.volumes if v["Name"] in names]), ""
            case ["docker", "ps", *rest]:
                compose = "com.docker.compose.project" in rest[-1]
                return 0, "\n".join(c["Id"] for c in self.containers) if compose else "", ""
            case ["docker", "inspect", *ids]:
                return 0, json.dumps([c for c in self.containers if c["Id"] in ids]), ""
            case ["stat", "-c", _, path]:
                if path not in self.paths:
                    return 1, "", f"stat: cannot statx '{path}': No such file or directory"
                mode, owner, group, uid, gid = self.paths[path]
                return 0, f"{mode}|{owner}|{group}|{uid}|{gid}\n", ""
            case ["findmnt", "-J", "-T", path, *_]:
                disk = self._disk(path)
                found = {"target": disk.mount, "source": disk.source, "fstype": disk.fstype}
                return 0, json.dumps({"filesystems": [found | {"maj:min": disk.maj_min}]}), ""
            case ["lsblk", *rest]:
                disk = next(d for d in self.disks if d.source.split("[")[0] == rest[-1])
                return 0, json.dumps(disk.lsblk), ""
            case ["cat", path]:
                return 1, "", f"cat: {path}: No such file or directory"
            case ["find", directory, *_]:
                return 0, "".join(f"{n}|{m}\n" for n, m in self.files.get(directory, [])), ""
        raise AssertionError(f"unexpected probe {argv}")


def volume(project: str, logical: str, root: str = "/var/lib/docker") -> dict[str, Any]:
    name = f"{project}_{logical}"
    return {
        "Name": name,
        "Driver": "local",
        "Mountpoint": f"{root}/volumes/{name}/_data",
        "Labels": {"com.docker.compose.project": project, "com.docker.compose.volume": logical},
    }


def container(
    project: str, service: str, *, log: dict[str, Any] | None = None, args: Sequence[str] = ()
) -> dict[str, Any]:
    cid = f"{service}0123456789"
    return {
        "Id": cid,
        "Name": f"/{project}-{service}-1",
        "LogPath": f"/var/lib/docker/containers/{cid}/{cid}-json.log",
        "Args": list(args),
        "Config": {"Labels": {"com.docker.compose.project": project, "com.docker.compose.service": service}},
        "HostConfig": {"LogConfig": log or {"Type": "json-file", "Config": {}}},
    }
