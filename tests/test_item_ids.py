"""An AI event belongs to the item its `$ai_trace_id` names as HogQL reads it.

The live query reads `properties.$ai_trace_id` from PostHog's materialized column where
the project has one (JSONExtract as a string: a string as itself), else as ClickHouse
renders the JSON value (`JSONExtractRaw`, quotes taken off: a string with the escapes
ClickHouse writes); a number or bool by its text either way. The clustering job wrote its
items' ids from that same text, so a snapshot must match either spelling, or it silently
drops the item's events.
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import LLMC_EMITTED, llmc_cluster, llmc_event, llmc_run_event, llmc_write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st
from standin import StandIn

from llmc_checks._values import Inexact, exact_loads, parse_timestamp, text
from llmc_checks.config import PostHogSource as PostHogConfig
from llmc_checks.model import STAT_FIELDS, ClusterStats, DataError, RunRequest, Semantics
from llmc_checks.sources import _blocks
from llmc_checks.sources.posthog import PostHogSource
from llmc_checks.sources.snapshot import SnapshotSource

chdb = pytest.importorskip("chdb")

KEY = "phx_item_ids_key"
MID = "2026-11-12T10:00:00.000000+00:00"
_uuids = (str(uuid.UUID(int=n)) for n in itertools.count(1))  # the stand-in wants real ones


def _clickhouse_texts(docs: list[str]) -> list[str | None]:
    """HogQL's `properties.v` for each JSON document, as ClickHouse computes it."""
    literal = ", ".join("'" + d.replace("\\", "\\\\").replace("'", "\\'") + "'" for d in docs)
    read = "replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(d, 'v'), ''), 'null'), '^\"|\"$', '')"
    query = (
        f"SELECT {read} FROM (SELECT arrayJoin([{literal}]) AS d, rowNumberInAllBlocks() AS n) "
        "ORDER BY n FORMAT JSONCompact"
    )
    return [row[0] for row in json.loads(chdb.query(query).bytes())["data"]]


_ODD_VALUES = [
    "12345",
    "1500.0",
    "1E+2",
    "0.1",
    "-0.0",
    "1e20",
    "1e21",
    "9.999e20",
    "1e-6",
    "1.5e-7",
    "2.5e-5",
    "5e-324",
    "1.7976931348623157e308",
    "123456789.123",
    "9223372036854775807",
    "18446744073709551615",
    "true",
    "false",
    "null",
    '""',
    '"abc"',
    r'"a\"b"',
    r'"a\\b"',
    r'"a\nb\tc\rd\be\ff"',
    r'"a\u0001b\u001fc\u007fd"',
    r'"a\u2028b\u2029c"',
    r'"a\/b"',
    r'"\u00e9\ud83d\ude00"',
    "[]",
    "{}",
    '[true, 1e2, "x", null]',
    '{"a": [1, 2.0, "q\\""], "b": {"c": -1.5e-10}}',
]


def test_text_reads_json_values_as_clickhouse_renders_them() -> None:
    docs = ['{"v": ' + raw + "}" for raw in _ODD_VALUES]
    expected = _clickhouse_texts(docs)
    assert expected[0] == "12345" and expected[1] == "1500"  # not vacuous
    for raw, doc, want in zip(_ODD_VALUES, docs, expected, strict=True):
        assert text(orjson.loads(doc)["v"]) == want, raw


_json_scalars = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
    | st.booleans()
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_json_scalars, min_size=1, max_size=40))
def test_text_matches_clickhouse_on_any_number_or_string(values: list[Any]) -> None:
    docs = [orjson.dumps({"v": v}).decode() for v in values]
    for value, want in zip(values, _clickhouse_texts(docs), strict=True):
        assert text(value) == want, value


# Ids of every kind PostHog may hold: (the event's value, the id as plain JSON properties
# read it, as PostHog's materialized column reads it). The clustering job wrote its
# items' ids in the spelling its project reads.
_IDS: list[tuple[Any, str, str]] = [
    ("t-plain", "t-plain", "t-plain"),
    (12345, "12345", "12345"),
    (1500.0, "1500", "1500"),
    (True, "true", "true"),
    ('q"id', 'q\\"id', 'q"id'),
    ("back\\slash", "back\\\\slash", "back\\slash"),
    # JSON may hold these two raw (orjson writes them so): no backslash on the line
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c", "a\u2028b\u2029c"),
]
_COSTS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64]  # item k's only generation costs _COSTS[k]
_PLAIN, _MATERIALIZED = 1, 2  # which spelling of _IDS


def _rows(spelling: int) -> list[dict[str, Any]]:
    events = [_generation(ids[0], cost) for ids, cost in zip(_IDS, _COSTS, strict=True)]
    cluster = llmc_cluster(0, [ids[spelling] for ids in _IDS])
    run = llmc_run_event("1_trace_20261115_001503", [cluster], uuid=next(_uuids))
    return [*events, run]


def _generation(trace_id: Any, cost: float) -> dict[str, Any]:
    props = {"$ai_trace_id": trace_id, "$ai_total_cost_usd": cost, "$ai_latency": 1.0}
    return llmc_event("$ai_generation", MID, props, uuid=next(_uuids))


def _clusters(
    source: SnapshotSource | PostHogSource, semantics: Semantics
) -> dict[int, ClusterStats | None]:
    request = RunRequest(
        level="trace",
        job=None,
        lookback=timedelta(days=30),
        stats=frozenset(STAT_FIELDS),
        semantics=semantics,
    )
    return {c.cluster_id: c.stats for c in source.load(request).latest.clusters}


def _both_sources(
    tmp_path: Path, rows: list[dict[str, Any]], semantics: Semantics, materialized: bool
) -> dict[str, dict[int, ClusterStats | None]]:
    """Each cluster's stats from a snapshot of `rows` and from the stand-in holding them
    (with PostHog's materialized `$ai_trace_id` column, or the JSON properties alone)."""
    snapshot = SnapshotSource(_write_jsonl(tmp_path / "ids.jsonl", rows))
    now = parse_timestamp(LLMC_EMITTED) + timedelta(hours=1)
    columns = ["$ai_trace_id"] if materialized else []
    with StandIn(rows, api_key=KEY, project_id=1, materialized=columns) as standin:
        live = PostHogSource(
            PostHogConfig(host=standin.url, project_id=1, api_key=KEY), clock=lambda: now
        )
        try:
            return {"snapshot": _clusters(snapshot, semantics), "live": _clusters(live, semantics)}
        finally:
            live.close()


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """`rows` one a line; properties given as JSON text (what orjson cannot write: 255
    levels or more, integers past 64 bits) written as the object they hold."""
    lines = [
        orjson.dumps({**row, "properties": "@"}).replace(b'"@"', row["properties"].encode())
        if isinstance(row["properties"], str)
        else orjson.dumps(row)
        for row in rows
    ]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _generation_json(trace_id_json: str, cost: float) -> dict[str, Any]:
    """A generation whose properties are JSON text, its id `trace_id_json` as written
    (the stand-in takes properties so)."""
    props = f'{{"$ai_trace_id": {trace_id_json}, "$ai_total_cost_usd": {cost}, "$ai_latency": 1.0}}'
    return llmc_event("$ai_generation", MID, {}, uuid=next(_uuids)) | {"properties": props}


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
@pytest.mark.parametrize("materialized", [False, True], ids=["plain-json", "materialized"])
@pytest.mark.parametrize("reader", ["plain", "numpy"])
def test_ids_of_every_kind_count_in_both_sources_in_either_spelling(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    semantics: Semantics,
    materialized: bool,
    reader: str,
) -> None:
    if reader == "numpy":  # the snapshot's block reader for large files, forced
        monkeypatch.setattr(_blocks, "PLAIN_MAX", -1)
    rows = _rows(_MATERIALIZED if materialized else _PLAIN)
    for name, clusters in _both_sources(tmp_path, rows, semantics, materialized).items():
        stats = clusters[0]
        assert stats is not None, name
        # By hand: every item has its one generation, so all count.
        assert stats.item_count == len(_IDS), name
        assert stats.total_cost_usd == pytest.approx(sum(_COSTS), rel=1e-12), name
        assert stats.avg_cost_usd == pytest.approx(sum(_COSTS) / len(_IDS), rel=1e-12), name


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_when_both_spellings_are_items_the_materialized_one_wins(
    tmp_path: Path, semantics: Semantics
) -> None:
    # Item `q"id` (cluster 0) and item `q\"id` (cluster 1); an event names each, as the
    # materialized column reads them. Read from the JSON, event `q"id` would name item
    # `q\"id` and the other (`q\\\"id`) none: the snapshot reads as PostHog does.
    rows = [
        _generation('q"id', 0.01),
        _generation('q\\"id', 0.02),
        llmc_run_event(
            "1_trace_20261115_001503",
            [llmc_cluster(0, ['q"id']), llmc_cluster(1, ['q\\"id'])],
            uuid=next(_uuids),
        ),
    ]
    got = _both_sources(tmp_path, rows, semantics, materialized=True)
    plain = _both_sources(tmp_path, rows, semantics, materialized=False)["live"]
    for name, clusters in [*got.items(), ("live from JSON", plain)]:
        costs = {i: None if c is None else c.total_cost_usd for i, c in clusters.items()}
        if name == "live from JSON":
            assert costs[1] == pytest.approx(0.01, rel=1e-12), costs
        else:
            assert costs == {0: pytest.approx(0.01), 1: pytest.approx(0.02)}, name


@pytest.mark.parametrize("spelling", [_PLAIN, _MATERIALIZED])
def test_a_recording_keeps_the_events_of_items_in_either_spelling(
    tmp_path: Path, spelling: int
) -> None:
    rows = _rows(spelling)
    snapshot = SnapshotSource(llmc_write_jsonl(tmp_path / "ids.jsonl", rows))
    request = RunRequest(
        level="trace",
        job=None,
        lookback=timedelta(days=30),
        stats=frozenset(STAT_FIELDS),
        semantics="ui",
    )
    exported = list(snapshot.export_rows(snapshot.load(request)))
    assert [r["uuid"] for r in exported if r["event"] == "$ai_generation"] == [
        r["uuid"] for r in rows[: len(_IDS)]
    ]


_DEEP_ARRAY = "[" * 1000 + "]" * 1000
_DEEP_IDS = [_DEEP_ARRAY, '{"a":' * 1000 + "1" + "}" * 1000, '[{"k":' * 500 + '"q\\""' + "}]" * 500]


def test_text_reads_ids_nested_as_deep_as_json_allows() -> None:
    # orjson reads up to 1,024 levels, past Python's recursion limit
    docs = ['{"v": ' + raw + "}" for raw in _DEEP_IDS]
    expected = _clickhouse_texts(docs)
    assert expected[0] == _DEEP_ARRAY  # not vacuous
    for doc, want in zip(docs, expected, strict=True):
        assert text(orjson.loads(doc)["v"]) == want


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_an_id_nested_1000_deep_names_its_item(tmp_path: Path, semantics: Semantics) -> None:
    rows = [
        _generation_json(_DEEP_ARRAY, 0.01),
        _generation_json('"t-plain"', 0.02),
        _generation_json(_DEEP_IDS[1], 0.04),  # an item of no run: passed over
        llmc_run_event(
            "1_trace_20261115_001503",
            [llmc_cluster(0, [_DEEP_ARRAY, "t-plain"])],
            uuid=next(_uuids),
        ),
    ]
    for name, clusters in _both_sources(tmp_path, rows, semantics, materialized=False).items():
        stats = clusters[0]
        assert stats is not None, name
        # By hand: the two items' generations count, the third id's does not.
        assert stats.item_count == 2, name
        assert stats.total_cost_usd == pytest.approx(0.03, rel=1e-12), name


# Integers past 64 bits (orjson reads them as doubles; ClickHouse keeps their digits, as
# a string), beside doubles as large (which both read as doubles).
_WIDE_NUMBERS = [
    "18446744073709551617",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "[18446744073709551617, 1.5]",
    "1.8446744073709552e19",
    "-9.223372036854776e18",
    "1e19",
]


def test_text_of_an_exact_reading_keeps_the_digits_of_integers_past_64_bits() -> None:
    docs = ['{"v": ' + raw + "}" for raw in _WIDE_NUMBERS]
    expected = _clickhouse_texts(docs)
    assert expected[:2] == ["18446744073709551617", "-9223372036854775809"]  # not vacuous
    for raw, doc, want in zip(_WIDE_NUMBERS, docs, expected, strict=True):
        assert text(exact_loads(doc)["v"]) == want, raw
        # orjson's reading is marked whenever it may have lost digits
        assert isinstance(text(orjson.loads(doc)["v"]), Inexact) == (raw != "1e19"), raw


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
@pytest.mark.parametrize("materialized", [False, True], ids=["plain-json", "materialized"])
def test_integers_past_64_bits_name_items_by_all_their_digits(
    tmp_path: Path, semantics: Semantics, materialized: bool
) -> None:
    # Each item's one generation costs _COSTS[k]; the two wide integers' doubles read
    # 18446744073709552000 and -9223372036854776000, which the last two ids are.
    ids = [*_WIDE_NUMBERS[:2], "1.8446744073709552e19", "-9.223372036854776e18"]
    items = [*_WIDE_NUMBERS[:2], "18446744073709552000", "-9223372036854776000"]
    rows = [
        *(_generation_json(i, cost) for i, cost in zip(ids, _COSTS, strict=False)),
        llmc_run_event("1_trace_20261115_001503", [llmc_cluster(0, items)], uuid=next(_uuids)),
    ]
    for name, clusters in _both_sources(tmp_path, rows, semantics, materialized).items():
        stats = clusters[0]
        assert stats is not None, name
        assert stats.item_count == 4, name
        assert stats.total_cost_usd == pytest.approx(sum(_COSTS[:4]), rel=1e-12), name


def test_a_recording_keeps_the_events_of_integers_past_64_bits(tmp_path: Path) -> None:
    rows = [
        _generation_json(_WIDE_NUMBERS[0], 0.01),
        _generation_json(_WIDE_NUMBERS[1], 0.02),
        llmc_run_event(
            "1_trace_20261115_001503",
            [llmc_cluster(0, _WIDE_NUMBERS[:2])],
            uuid=next(_uuids),
        ),
    ]
    snapshot = SnapshotSource(_write_jsonl(tmp_path / "wide.jsonl", rows))
    request = RunRequest(
        level="trace",
        job=None,
        lookback=timedelta(days=30),
        stats=frozenset(STAT_FIELDS),
        semantics="ui",
    )
    exported = list(snapshot.export_rows(snapshot.load(request)))
    assert [r["uuid"] for r in exported if r["event"] == "$ai_generation"] == [
        r["uuid"] for r in rows[:2]
    ]


def test_a_json_array_row_nested_past_what_it_can_read_is_named(tmp_path: Path) -> None:
    # A .json array is re-written row by row (orjson: 254 levels); a 1,000-deep id is
    # a data error naming the row, not an internal one.
    event = _generation_json(_DEEP_ARRAY, 0.01)
    row = orjson.dumps({**event, "properties": "@"}).replace(b'"@"', event["properties"].encode())
    run = llmc_run_event(
        "1_trace_20261115_001503", [llmc_cluster(0, [_DEEP_ARRAY])], uuid=next(_uuids)
    )
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" + orjson.dumps(run) + b"," + row + b"]")
    with pytest.raises(DataError) as caught:
        _clusters(SnapshotSource(path), "ui")
    assert str(caught.value) == (
        f"{path}:2: an event row nested too deep for a .json snapshot (more than 254 levels; "
        "a .jsonl snapshot reads up to 1,024)"
    )
