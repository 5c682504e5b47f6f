"""The data-residency report (`onprem residency`), pure: settings and live facts in, a typed report out.

`facts` holds what the workflow learns (and the pure readers of `stat`, `findmnt`, `lsblk`, `docker
inspect` output), `report` builds the report, `retention` reads how long each class is kept, `model`
is the shape, `text` the table and Markdown.

The JSON document (`onprem residency --json`), schema_version 1. Keys are sorted at every level; lists
keep a fixed order (data classes in the order below, hosts in config order), so two reviews diff:

    schema_version   1 (bumped when a key is renamed, removed or changes meaning)
    generated_at     ISO 8601 UTC time of the run (the only timestamp in the document)
    deployment, target ("compose" | "swarm"), state_dir (on the machine that ran onprem)
    hosts[]          name, address, reachable, error, docker_root, logging_driver, server_version
    api              {reachable, error}: the client's API, read for settings and users
    migration        null, or {phone_number_id, region, state} from the state's migration.json
    data_classes[]   one per class: messages_contacts, media, callback_queue, relay_events,
                     relay_dead_letters, backups, container_logs, prometheus_data, secrets, cloud_region
      name, description
      present        false when the deployment has no such data (no relay, monitoring off, not migrated)
      locations[]    host ("this-machine" = the state directory's machine; "?" for a volume no
                     host that answered has, with `error` naming the hosts asked), engine ("docker",
                     "docker-swarm" or null), kind (volume | directory | file | log_files |
                     external_service | cloud), volume, path (the volume's Mountpoint on the host),
                     exists, mount, device, filesystem,
                     encryption {detected, status ("dm-crypt/LUKS detected" | "not detected, attest"),
                                 layer, evidence},
                     access {mode, owner, group} (null when not looked at), files ["NAME (mode)" or
                     "container: log path"], detail, error
      retention      {summary, settings}: settings by their names in the client API or onprem.yaml
      readers        {api_users: [{username, role}] or null, notes[]}
      egress[]       {to, endpoint (an origin scheme://host:port: never a path, which may hold a
                     token), note}: where the data leaves the site
      notes[]

No value in the document is a secret: secret files are listed by name and mode, URLs by origin.
"""

from onprem.residency.facts import (
    DETECTED,
    DOCKER_INFO_ARGV,
    NOT_DETECTED,
    ClientFacts,
    ContainerFacts,
    Encryption,
    Facts,
    HostFacts,
    LocalFacts,
    PathFacts,
    VolumeFacts,
    block_device,
    container_facts,
    container_list_argv,
    dm_uuid_argv,
    encryption_of,
    findmnt_argv,
    list_files_argv,
    logical_volume,
    lsblk_argv,
    not_detected,
    parse_docker_info,
    parse_files,
    parse_findmnt,
    parse_stat,
    stat_argv,
    volume_list_argv,
)
from onprem.residency.model import DATA_CLASSES, SCHEMA_VERSION, THIS_MACHINE, Report, report_document
from onprem.residency.report import build_report, origin
from onprem.residency.text import markdown, table

__all__ = [
    "DATA_CLASSES",
    "DETECTED",
    "DOCKER_INFO_ARGV",
    "NOT_DETECTED",
    "SCHEMA_VERSION",
    "THIS_MACHINE",
    "ClientFacts",
    "ContainerFacts",
    "Encryption",
    "Facts",
    "HostFacts",
    "LocalFacts",
    "PathFacts",
    "Report",
    "VolumeFacts",
    "block_device",
    "build_report",
    "container_facts",
    "container_list_argv",
    "dm_uuid_argv",
    "encryption_of",
    "findmnt_argv",
    "list_files_argv",
    "logical_volume",
    "lsblk_argv",
    "markdown",
    "not_detected",
    "origin",
    "parse_docker_info",
    "parse_files",
    "parse_findmnt",
    "parse_stat",
    "report_document",
    "stat_argv",
    "table",
    "volume_list_argv",
]
