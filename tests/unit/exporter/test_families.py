"""The exposition encoder: escaping, special values, and input Prometheus would reject is dropped."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from onprem.exporter.families import FamilyBuilder, encode


def test_label_values_and_help_are_escaped_and_parse_back() -> None:
    builder = FamilyBuilder()
    builder.gauge("x", 'line1\nsays "hi" \\', 1.0, {"path": 'C:\\dir "q"\nz'})
    text = encode(builder.build()).decode()
    assert '# HELP x line1\\nsays "hi" \\\\\n' in text
    [family] = text_string_to_metric_families(text)
    assert family.samples[0].labels == {"path": 'C:\\dir "q"\nz'}


def test_special_float_values_use_prometheus_spelling() -> None:
    builder = FamilyBuilder()
    for index, value in enumerate((math.inf, -math.inf, math.nan, 0.5)):
        builder.gauge("x", "h", value, {"i": str(index)})
    lines = [line for line in encode(builder.build()).decode().splitlines() if not line.startswith("#")]
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["+Inf", "-Inf", "NaN", "0.5"]


def test_counters_and_summaries_get_their_suffixes() -> None:
    builder = FamilyBuilder()
    builder.counter("c", "h", 3)
    builder.summary_part("s_seconds", "h", "count", 2, {})
    builder.summary_part("s_seconds", "h", "sum", 0.25, {})
    text = encode(builder.build()).decode()
    assert "# TYPE c_total counter\nc_total 3.0\n" in text
    assert "# TYPE s_seconds summary\ns_seconds_count 2.0\ns_seconds_sum 0.25\n" in text


def test_a_name_reused_with_another_type_or_invalid_is_dropped() -> None:
    builder = FamilyBuilder()
    builder.gauge("x", "h", 1)
    builder.counter("x", "h", 2)
    builder.gauge("bad-name", "h", 1)
    assert builder.names() == ["x"]
    assert encode(builder.build()).decode().count("\nx ") == 1


def test_a_family_produced_by_two_collectors_is_written_once() -> None:
    first, second = FamilyBuilder(), FamilyBuilder()
    first.gauge("dup", "h", 1)
    second.gauge("dup", "h", 2)
    text = encode([*first.build(), *second.build()]).decode()
    assert text.count("# TYPE dup gauge") == 1
    assert "dup 1.0" in text
