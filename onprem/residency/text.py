"""The residency report as text (pure): a table for the terminal, and Markdown for a compliance review."""

from __future__ import annotations

from onprem.residency.model import DataClass, Location, Report


def _where(location: Location) -> str:
    if location.path is None:
        return location.detail or location.volume or "-"
    prefix = f"{location.volume}: " if location.volume else ""
    missing = "" if location.exists else (" (missing)" if location.exists is False else " (not looked at)")
    return f"{prefix}{location.path}{missing}"


def _device(location: Location) -> str:
    if location.device is None:
        return "-"
    return f"{location.device} {location.filesystem or ''}".strip()


def _access(location: Location) -> str:
    access = location.access
    return "-" if access is None else f"{access.mode} {access.owner}:{access.group}"


def _encryption(location: Location) -> str:
    if location.exists is False or (location.exists is None and location.path is not None):
        return "-"  # nothing there to be encrypted, or not looked at
    return location.encryption.status


def _egress(entry: DataClass) -> str:
    return "; ".join(f"{e.to}" + (f" {e.endpoint}" if e.endpoint else "") for e in entry.egress) or "-"


def rows(report: Report) -> list[list[str]]:
    """One row per location of each data class (one row for a class without locations)."""
    out = []
    for entry in report.data_classes:
        locations = entry.locations or ()
        if not locations:
            out.append([entry.name, "-", "(none)" if entry.present else "(not present)", "-", "-", "-"])
        for location in locations:
            out.append(
                [
                    entry.name,
                    location.host,
                    _where(location) + (f" [{location.error}]" if location.error else ""),
                    _device(location),
                    _encryption(location),
                    _access(location),
                ]
            )
    return out


HEADER = ["CLASS", "HOST", "WHERE", "DEVICE", "ENCRYPTION AT REST", "ACCESS"]


def table(report: Report) -> str:
    """The human table, then each class's retention and egress, then hosts that did not answer."""
    body = rows(report)
    widths = [max(len(r[i]) for r in [HEADER, *body]) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [HEADER, *body]]
    lines.append("")
    for entry in report.data_classes:
        lines.append(f"{entry.name}: retention: {entry.retention.summary}; leaves via: {_egress(entry)}")
    lines += _problems(report)
    return "\n".join(lines)


def _problems(report: Report) -> list[str]:
    lines = [f"host {h.name} did not answer: {h.error}" for h in report.hosts if not h.reachable]
    if report.api.get("error"):
        lines.append(f"the client's API did not answer: {report.api['error']}")
    return ["", *lines] if lines else []


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Report) -> str:
    """A Markdown document: a table of locations, then retention, readers and egress per class."""
    lines = [
        f"# Data residency: {report.deployment}",
        "",
        f"Schema {report.schema_version}, generated {report.generated_at}, state directory "
        f'`{report.state_dir}`. Encryption "not detected, attest" means onprem found no dm-crypt/LUKS '
        "layer under the path: attest how that disk is encrypted (or that it is not).",
        "",
        "| " + " | ".join(h.title() for h in HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows(report)]
    lines += ["", "| Class | Retention | Readers | Leaves the site via |", "|---|---|---|---|"]
    for entry in report.data_classes:
        users = entry.readers.api_users
        readers = list(entry.readers.notes)
        if users:
            readers.insert(0, "API users: " + ", ".join(f"{u['username']} ({u['role']})" for u in users))
        lines.append(
            f"| {entry.name} | {_cell(entry.retention.summary)} | {_cell('; '.join(readers) or '-')} "
            f"| {_cell(_egress(entry))} |"
        )
    problems = _problems(report)
    if problems:
        lines += ["", *(f"- {line}" for line in problems if line)]
    return "\n".join(lines) + "\n"
