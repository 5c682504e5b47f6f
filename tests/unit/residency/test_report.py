"""The report's shape is pinned: every data class, in order, with the same keys every time (a golden
JSON), and what each class says about where its data lives, how long it stays, and where it goes;
URLs appear as origins only, so a token in a webhook path is never printed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from onprem.config import LoadedConfig, load_settings
from onprem.residency import (
    DATA_CLASSES,
    NOT_DETECTED,
    SCHEMA_VERSION,
    ClientFacts,
    ContainerFacts,
    Facts,
    HostFacts,
    LocalFacts,
    PathFacts,
    VolumeFacts,
    build_report,
    encryption_of,
    markdown,
    origin,
    report_document,
    table,
)
from onprem.residency.model import Report
from tests.unit.residency.fakes import LUKS_UNDER_LVM, PLAIN_DISK

GOLDEN = Path(__file__).parent.parent / "golden" / "residency" / "report.json"
TOKEN = "pathtoken0123456789abcdef"
CONFIG = """\
deployment:
  name: shop
client:
  mode: multiconnect
hosts:
  - name: wa1
    roles: [web, db, relay, exporter, monitoring, masters, coreapps]
    advertise_address: 10.0.0.1
  - name: wa2
    address: ssh://ops@wa2.example
    roles: [coreapps]
    advertise_address: 10.0.0.2
monitoring:
  enabled: true
relay:
  delivery:
    endpoints:
      - name: crm
        url: https://crm.example:9443/hooks/secret-path-here?key=abc
        secret_file: /run/secrets/RELAY_SINK_SECRET
"""
PLAIN = encryption_of(json.dumps(PLAIN_DISK), None, "/dev/vda")
LUKS = encryption_of(json.dumps(LUKS_UNDER_LVM), None, "/dev/mapper/vg-data")


def settings(tmp_path: Path, text: str = CONFIG) -> LoadedConfig:
    (tmp_path / "onprem.yaml").write_text(text)
    return load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path)


def on_disk(path: str, mode: str = "0755", encrypted: bool = False, **extra: object) -> PathFacts:
    return PathFacts(
        path=path,
        exists=True,
        mode=mode,
        owner="root (uid 0)",
        group="root (gid 0)",
        mount="/srv" if encrypted else "/",
        device="/dev/mapper/vg-data" if encrypted else "/dev/vda",
        filesystem="ext4",
        encryption=LUKS if encrypted else PLAIN,
        **extra,  # type: ignore[arg-type]
    )


def volume(logical: str, encrypted: bool = False) -> VolumeFacts:
    root = "/srv/docker" if encrypted else "/var/lib/docker"
    path = on_disk(f"{root}/volumes/shop_{logical}/_data", encrypted=encrypted)
    return VolumeFacts(name=f"shop_{logical}", logical=logical, driver="local", path=path)


def sample_facts() -> Facts:
    wa1 = HostFacts(
        name="wa1",
        address="local",
        reachable=True,
        docker_root="/var/lib/docker",
        logging_driver="json-file",
        server_version="27.0.1",
        volumes=(
            volume("mysqlData", encrypted=True),
            volume("whatsappMedia", encrypted=True),
            volume("waentData"),
            volume("relayData"),
            volume("prometheusData"),
        ),
        containers=(
            ContainerFacts(
                "shop-prometheus-1",
                "prometheus",
                "json-file",
                "/l/p.log",
                "10m",
                "3",
                None,
                ("--storage.tsdb.retention.time=30d",),
            ),
            ContainerFacts(
                "shop-waweb-1", "waweb", "syslog", "", None, None, "syslog-address=udp://logs:514"
            ),
        ),
        log_dir=on_disk("/var/lib/docker/containers", mode="0710"),
    )
    wa2 = HostFacts(
        name="wa2", address="ssh://ops@wa2.example", reachable=False, error="cannot reach wa2.example"
    )
    local = LocalFacts(
        state_dir="/srv/ops/.onprem/shop",
        secrets=on_disk("/srv/ops/.onprem/shop/secrets", "0700", files=(("WA_API_KEY", "0600"),)),
        certs=on_disk("/srv/ops/.onprem/shop/certs", "0700", files=(("web.key", "0600"),)),
        backups=on_disk(
            "/srv/ops/.onprem/shop/backups",
            "0700",
            files=(
                ("shop-20260101T000000Z.onprem-backup", "0600"),
                ("shop-20260101T000000Z.onprem-backup.sha256", "0600"),
            ),
        ),
        migration_file=on_disk("/srv/ops/.onprem/shop/migration.json", "0600"),
        # As `onprem migrate cloud` writes it: the register step records the region.
        migration={
            "phone_number_id": "1064",
            "number": "+16315550000",
            "steps": {"backup": {"at": "2026-11-30T10:00:00+00:00"}, "register": {"region": "DE"}},
            "completed": "2026-11-30T10:00:30+00:00",
        },
    )
    application = {
        "garbagecollector_enable": {"media": False, "messages": True},
        "callback_persist": True,
        "callback_backoff_delay_ms": 3000,
        "max_callback_backoff_delay_ms": 900000,
        "webhooks": {"url": f"https://relay:8443/webhooks/onprem/{TOKEN}"},
    }
    client = ClientFacts(application, None, (("admin", "ADMIN"), ("alice", "USER")))
    return Facts(hosts=(wa1, wa2), client=client, local=local)


def report(tmp_path: Path, facts: Facts | None = None, text: str = CONFIG) -> Report:
    return build_report(
        settings(tmp_path, text).settings, facts or sample_facts(), "2026-01-01T00:00:00+00:00"
    )


def test_the_document_matches_the_golden_file(tmp_path: Path) -> None:
    text = json.dumps(report_document(report(tmp_path)), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDENS"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_every_data_class_is_there_in_order_with_the_same_keys(tmp_path: Path) -> None:
    document = report_document(report(tmp_path))
    assert document["schema_version"] == SCHEMA_VERSION == 1
    assert list(document) == sorted(document)
    assert [c["name"] for c in document["data_classes"]] == [name for name, _ in DATA_CLASSES]
    assert [c["name"] for c in document["data_classes"]] == [
        "messages_contacts", "media", "callback_queue", "relay_events", "relay_dead_letters",
        "backups", "container_logs", "prometheus_data", "secrets", "cloud_region",
    ]  # fmt: skip
    for entry in document["data_classes"]:
        assert list(entry) == [
            "description", "egress", "locations", "name", "notes", "present", "readers", "retention",
        ]  # fmt: skip
        for location in entry["locations"]:
            assert list(location) == [
                "access", "detail", "device", "encryption", "engine", "error", "exists", "files",
                "filesystem", "host", "kind", "mount", "path", "volume",
            ]  # fmt: skip
            assert list(location["encryption"]) == ["detected", "evidence", "layer", "status"]


def test_no_timestamp_but_generated_at_and_no_token_or_url_path_in_the_document(tmp_path: Path) -> None:
    text = json.dumps(report_document(report(tmp_path)))
    assert text.count("2026-01-01T00:00:00") == 1
    assert TOKEN not in text
    assert "secret-path-here" not in text
    assert "key=abc" not in text
    entry = {c.name: c for c in report(tmp_path).data_classes}
    assert [(e.to, e.endpoint) for e in entry["relay_events"].egress] == [
        ("relay endpoint crm", "https://crm.example:9443")
    ]


def test_encryption_is_per_location_and_the_unencrypted_ones_say_attest(tmp_path: Path) -> None:
    entry = {c.name: c for c in report(tmp_path).data_classes}
    assert entry["messages_contacts"].locations[0].encryption.detected is True
    assert entry["media"].locations[0].encryption.layer == "luks-1234 (crypt, LVM2_member)"
    assert entry["relay_events"].locations[0].encryption.status == NOT_DETECTED


def test_retention_is_read_from_the_client_relay_logs_prometheus_and_backups(tmp_path: Path) -> None:
    entry = {c.name: c for c in report(tmp_path).data_classes}
    assert entry["messages_contacts"].retention.settings == {"garbagecollector_enable.messages": True}
    assert "off for media" in entry["media"].retention.summary
    assert entry["callback_queue"].retention.settings["callback_persist"] is True
    assert entry["relay_events"].retention.settings["relay.store.retention_seconds"] == 7 * 86400
    assert "never purged" in entry["relay_dead_letters"].retention.summary
    assert entry["prometheus_data"].retention.summary == "--storage.tsdb.retention.time=30d"
    assert entry["backups"].retention.settings == {"count": 1}
    assert "json-file: rotated at 10m, 3 file(s)" in entry["container_logs"].retention.summary
    assert entry["container_logs"].egress[0].endpoint == "syslog-address=udp://logs:514"


def test_a_host_that_does_not_answer_is_in_the_report_not_an_error(tmp_path: Path) -> None:
    document = report_document(report(tmp_path))
    assert document["hosts"][1] == {
        "address": "ssh://ops@wa2.example",
        "docker_root": None,
        "error": "cannot reach wa2.example",
        "logging_driver": None,
        "name": "wa2",
        "reachable": False,
        "server_version": None,
    }
    assert "host wa2 did not answer: cannot reach wa2.example" in table(report(tmp_path))


def test_after_a_migration_the_cloud_region_and_the_cloud_api_are_named(tmp_path: Path) -> None:
    entry = {c.name: c for c in report(tmp_path).data_classes}
    cloud = entry["cloud_region"]
    assert cloud.present is True
    assert cloud.locations[0].detail == "data_localization_region DE"
    assert cloud.retention.settings == {"region": "DE"}
    assert cloud.notes[0] == "migration state: completed 2026-11-30T10:00:30+00:00"
    assert ("Cloud API", "https://graph.facebook.com") in [
        (e.to, e.endpoint) for e in entry["messages_contacts"].egress
    ]


def test_before_a_migration_cloud_region_is_absent_and_names_the_file_it_would_read(tmp_path: Path) -> None:
    facts = sample_facts()
    local = LocalFacts(**{**facts.local.__dict__, "migration": None})
    entry = {c.name: c for c in report(tmp_path, Facts(facts.hosts, facts.client, local)).data_classes}
    assert entry["cloud_region"].present is False
    assert entry["cloud_region"].notes == (
        "not migrated: no migration.json in the state directory",
        "host wa2 did not answer: what it holds is not listed",
    )
    assert all(e.to != "Cloud API" for e in entry["messages_contacts"].egress)


def test_an_external_database_and_redis_are_outside_services_that_must_be_attested(tmp_path: Path) -> None:
    text = (
        "deployment:\n  name: shop\ndb:\n  engine: external\n  external:\n    host: db.example\n    port: 3307\n"
        "    username: whatsapp\n"
        "relay:\n  store:\n    backend: redis\n    redis:\n      url: rediss://cache.example:6380/0\n"
    )
    entry = {c.name: c for c in report(tmp_path, text=text).data_classes}
    assert (
        "database account whatsapp (password in secrets: WA_DB_PASSWORD)"
        in entry["messages_contacts"].readers.notes
    )
    db = entry["messages_contacts"].locations[0]
    assert (db.host, db.kind, db.path, db.detail) == (
        "db.example",
        "external_service",
        None,
        "mysql at db.example:3307 (db.external)",
    )
    assert db.encryption.status == NOT_DETECTED
    redis = entry["relay_events"].locations[0]
    assert (redis.host, redis.detail) == ("cache.example", "Redis at rediss://cache.example:6380")


def test_without_relay_or_monitoring_those_classes_are_absent(tmp_path: Path) -> None:
    text = "deployment:\n  name: shop\nrelay:\n  enabled: false\n"
    facts = sample_facts()
    wa1 = HostFacts(**{**facts.hosts[0].__dict__, "volumes": facts.hosts[0].volumes[:3], "containers": ()})
    entry = {c.name: c for c in report(tmp_path, Facts((wa1,), facts.client, facts.local), text).data_classes}
    assert (entry["relay_events"].present, entry["relay_events"].locations) == (False, ())
    assert (entry["prometheus_data"].present, entry["prometheus_data"].locations) == (False, ())
    assert entry["prometheus_data"].notes == ("monitoring.enabled is false: no Prometheus runs",)


def test_a_volume_no_host_has_is_named_with_the_hosts_that_were_asked(tmp_path: Path) -> None:
    facts = sample_facts()
    wa1 = HostFacts(**{**facts.hosts[0].__dict__, "volumes": ()})
    entry = {
        c.name: c
        for c in report(tmp_path, Facts((wa1, facts.hosts[1]), facts.client, facts.local)).data_classes
    }
    missing = entry["media"].locations[0]
    assert (missing.volume, missing.exists, missing.error) == (
        "shop_whatsappMedia",
        False,
        "not found on wa1",
    )


def test_markdown_has_a_row_per_location_and_a_retention_table(tmp_path: Path) -> None:
    text = markdown(report(tmp_path))
    assert text.startswith("# Data residency: shop\n")
    assert "| messages_contacts | wa1 | shop_mysqlData: /srv/docker/volumes/shop_mysqlData/_data |" in text
    assert "| Class | Retention | Readers | Leaves the site via |" in text
    assert "API users: admin (ADMIN), alice (USER)" in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://relay:8443/webhooks/onprem/tok", "https://relay:8443"),
        ("http://[::1]:80/x?y=z", "http://[::1]:80"),
        ("https://crm.example/hook", "https://crm.example"),
        ("not a url", None),
    ],
)
def test_origin_drops_path_and_query(url: str, expected: str | None) -> None:
    assert origin(url) == expected


def test_a_bundled_redis_store_is_its_volume(tmp_path: Path) -> None:
    text = "deployment:\n  name: shop\nrelay:\n  replicas: 2\n  store:\n    backend: redis\n"
    facts = sample_facts()
    redis = volume("redisData")
    wa1 = HostFacts(**{**facts.hosts[0].__dict__, "volumes": (*facts.hosts[0].volumes, redis)})
    entry = {c.name: c for c in report(tmp_path, Facts((wa1,), facts.client, facts.local), text).data_classes}
    locations = entry["relay_dead_letters"].locations
    assert [(loc.volume, loc.path) for loc in locations] == [
        ("shop_redisData", "/var/lib/docker/volumes/shop_redisData/_data")
    ]
