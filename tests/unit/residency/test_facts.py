"""The readers of the probes' output: modes and owners, mounts and devices, and encryption at rest
detected from a crypt layer anywhere under the device (or the dm uuid), else "not detected, attest"."""

from __future__ import annotations

import json

import pytest

from onprem.errors import StateError
from onprem.residency import (
    DETECTED,
    NOT_DETECTED,
    block_device,
    container_facts,
    encryption_of,
    parse_docker_info,
    parse_files,
    parse_findmnt,
    parse_stat,
)
from tests.unit.residency.fakes import LUKS_UNDER_LVM, PLAIN_DISK, container


def test_a_crypt_layer_under_lvm_is_detected_and_named() -> None:
    found = encryption_of(json.dumps(LUKS_UNDER_LVM), None, "/dev/mapper/vg-data")
    assert found.detected is True
    assert found.status == DETECTED
    assert found.layer == "luks-1234 (crypt, LVM2_member)"
    assert "vg-data (lvm), luks-1234 (crypt), sdb1 (part)" in found.evidence


def test_a_luks_partition_is_detected_even_when_lsblk_lists_no_crypt_type() -> None:
    tree = {"blockdevices": [{"name": "sdc1", "type": "part", "fstype": "crypto_LUKS"}]}
    assert encryption_of(json.dumps(tree), None, "/dev/sdc1").detected is True


def test_a_plain_disk_says_not_detected_attest() -> None:
    found = encryption_of(json.dumps(PLAIN_DISK), None, "/dev/vda")
    assert (found.detected, found.status, found.layer) == (False, NOT_DETECTED, None)
    assert found.status == "not detected, attest"
    assert found.evidence == "/dev/vda: vda (disk); no crypt layer"


def test_a_dm_uuid_starting_with_crypt_is_enough_when_lsblk_is_missing() -> None:
    found = encryption_of(None, "CRYPT-LUKS2-0f1e2d-root\n", "/dev/dm-0")
    assert found.detected is True
    assert found.layer == "/dev/dm-0 (dm LUKS2)"
    assert encryption_of(None, "LVM-abcdef", "/dev/dm-1").detected is False


def test_garbage_from_lsblk_is_not_taken_for_encryption() -> None:
    assert encryption_of("not json", None, "/dev/vda").status == NOT_DETECTED


def test_stat_gives_a_four_digit_mode_and_owners_with_their_numbers() -> None:
    assert parse_stat("700|root|root|0|0\n") == ("0700", "root (uid 0)", "root (gid 0)")
    assert parse_stat("2750|mysql|_ssh|999|101") == ("2750", "mysql (uid 999)", "_ssh (gid 101)")
    with pytest.raises(StateError, match="unexpected stat output"):
        parse_stat("stat: missing operand")


def test_findmnt_gives_mount_source_type_and_numbers() -> None:
    out = json.dumps(
        {
            "filesystems": [
                {"target": "/var", "source": "/dev/vda[/var]", "fstype": "ext4", "maj:min": "254:0"}
            ]
        }
    )
    assert parse_findmnt(out) == ("/var", "/dev/vda[/var]", "ext4", "254:0")
    with pytest.raises(StateError):
        parse_findmnt("{}")


@pytest.mark.parametrize(
    ("source", "device"),
    [
        ("/dev/vda[/var/lib/docker]", "/dev/vda"),
        ("/dev/mapper/vg-data", "/dev/mapper/vg-data"),
        ("overlay", None),
        ("nfs.example:/export", None),
        ("tmpfs", None),
    ],
)
def test_only_dev_sources_are_block_devices(source: str, device: str | None) -> None:
    assert block_device(source) == device


def test_docker_info_gives_root_driver_and_version_and_tolerates_garbage() -> None:
    info = json.dumps({"DockerRootDir": "/srv/docker", "LoggingDriver": "journald", "ServerVersion": "27.0"})
    assert parse_docker_info(info) == ("/srv/docker", "journald", "27.0")
    assert parse_docker_info("oops") == (None, None, None)


def test_a_remote_logging_driver_names_its_address_and_never_a_token() -> None:
    log = {
        "Type": "splunk",
        "Config": {"splunk-url": "https://splunk.example:8088", "splunk-token": "tok-123-secret"},
    }
    found = container_facts(container("p", "wacore", log=log))
    assert found.log_destination == "splunk-url=https://splunk.example:8088"
    assert "tok-123-secret" not in repr(found)
    assert (found.name, found.service, found.log_driver) == ("p-wacore-1", "wacore", "splunk")


def test_json_file_rotation_options_are_read() -> None:
    log = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    found = container_facts(container("p", "relay", log=log))
    assert (found.log_max_size, found.log_max_file, found.log_destination) == ("10m", "3", None)
    assert found.log_path.endswith("-json.log")


def test_listed_files_come_sorted_with_four_digit_modes() -> None:
    assert parse_files("b|600\na|644\n\n") == (("a", "0644"), ("b", "0600"))
