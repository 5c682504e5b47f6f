"""Accumulating samples into Prometheus metric families, and encoding them as exposition text (0.0.4).

Collectors add samples one by one (many upstream nodes feed the same family); `FamilyBuilder.build`
returns immutable `Family` values, and `encode` writes any number of them as one exposition. Everything
is built per scrape: no registry, nothing global. Inconsistent input (a name reused with another type, a
duplicated series, a family name two collectors both produce) is dropped rather than allowed to produce
an exposition Prometheus would reject. The encoder is ours rather than prometheus_client's
`generate_latest`, so the exporter process does not import prometheus_client at all (memory budget:
bench/exporter reports RSS); `promtool check metrics` checks its output in the tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Kind = Literal["gauge", "counter", "summary"]
LabelSet = tuple[tuple[str, str], ...]
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
# Labels a family may not carry: reserved by Prometheus or by the summary type.
_RESERVED_LABELS = frozenset({"quantile", "le"})


@lru_cache(maxsize=4096)
def sanitize_name(name: str) -> str:
    """`name` with every character Prometheus forbids in names replaced by `_` ('' if nothing is left)."""
    cleaned = _INVALID.sub("_", name.strip())
    if not cleaned.strip("_"):
        return ""
    return "_" + cleaned if cleaned[0].isdigit() else cleaned


@lru_cache(maxsize=4096)
def _label_name(key: str) -> str:
    name = sanitize_name(key)
    return "" if name.startswith("__") or name in _RESERVED_LABELS else name


def clean_labels(labels: Mapping[str, object]) -> dict[str, str]:
    """String labels with valid names; reserved and `__`-prefixed names are dropped."""
    out: dict[str, str] = {}
    for key, value in labels.items():
        name = _label_name(str(key))
        if name:
            out[name] = value if isinstance(value, str) else json_scalar(value)
    return out


def json_scalar(value: object) -> str:
    """A label value for a non-string JSON scalar (true/false/null/number)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def number(value: object) -> float | None:
    """A float from a JSON number; None for anything else (bools and strings included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True)
class Family:
    """One metric family: name (without `_total`), type, help, and samples by (sample name, labels)."""

    name: str
    kind: Kind
    help: str
    samples: Mapping[tuple[str, LabelSet], float] = field(default_factory=dict)


class FamilyBuilder:
    """Collects samples by family name; `build` returns the families in insertion order."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[Kind, str, dict[tuple[str, LabelSet], float]]] = {}

    def _samples(self, name: str, kind: Kind, help_: str) -> dict[tuple[str, LabelSet], float] | None:
        family = self._families.get(name)
        if family is None:
            if not _NAME.match(name):
                return None
            family = self._families[name] = (kind, help_ or name.replace("_", " "), {})
        return family[2] if family[0] == kind else None

    def gauge(
        self,
        name: str,
        help_: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        accumulate: bool = False,
    ) -> None:
        """Set one gauge sample (the last value for a series wins; with `accumulate`, values add up)."""
        samples = self._samples(name, "gauge", help_)
        if samples is not None:
            _put(samples, (name, tuple(sorted(labels.items())) if labels else ()), value, accumulate)

    def counter(
        self,
        name: str,
        help_: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        accumulate: bool = False,
    ) -> None:
        """Set one counter sample; `name` is the family name without `_total`."""
        samples = self._samples(name, "counter", help_)
        if samples is not None:
            _put(
                samples, (name + "_total", tuple(sorted(labels.items())) if labels else ()), value, accumulate
            )

    def summary_part(
        self,
        name: str,
        help_: str,
        part: Literal["count", "sum"],
        value: float,
        labels: Mapping[str, str],
        *,
        accumulate: bool = False,
    ) -> None:
        """Set the `_count` or `_sum` of one summary series (the other part may come later)."""
        samples = self._samples(name, "summary", help_)
        if samples is not None:
            _put(samples, (f"{name}_{part}", tuple(sorted(labels.items()))), value, accumulate)

    def names(self) -> list[str]:
        """Family names added so far."""
        return list(self._families)

    def build(self) -> list[Family]:
        """The accumulated families."""
        return [
            Family(name, kind, help_, dict(samples))
            for name, (kind, help_, samples) in self._families.items()
        ]


def _put(
    samples: dict[tuple[str, LabelSet], float], key: tuple[str, LabelSet], value: float, accumulate: bool
) -> None:
    samples[key] = samples.get(key, 0.0) + value if accumulate else value


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_label(value: str) -> str:
    if "\\" not in value and '"' not in value and "\n" not in value:
        return value
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def encode(families: Iterable[Family]) -> bytes:
    """The text exposition (format 0.0.4) of `families`; a family name seen twice is written once."""
    out: list[str] = []
    seen: set[str] = set()
    for family in families:
        exposed = family.name + "_total" if family.kind == "counter" else family.name
        if exposed in seen:
            continue
        seen.add(exposed)
        help_ = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {exposed} {help_}\n# TYPE {exposed} {family.kind}\n")
        for (sample, labels), value in family.samples.items():
            if labels:
                pairs = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels)
                out.append(f"{sample}{{{pairs}}} {_value(value)}\n")
            else:
                out.append(f"{sample} {_value(value)}\n")
    return "".join(out).encode()
