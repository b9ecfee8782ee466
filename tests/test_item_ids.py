"""An AI event belongs to the item its `$ai_trace_id` names as HogQL reads it.

The live query reads `properties.$ai_trace_id` as ClickHouse renders the JSON value
(`JSONExtractRaw`, quotes taken off): a number or bool by its text, a string with the
escapes ClickHouse writes. The clustering job wrote its items' ids from that same text,
so a snapshot must read ids the same way, or it silently drops the item's events.
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

from llmc_checks._values import parse_timestamp, text
from llmc_checks.config import PostHogSource as PostHogConfig
from llmc_checks.model import STAT_FIELDS, ClusterStats, RunRequest, Semantics
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


# Ids of every kind PostHog may hold, with the text the job wrote into the run's items.
_IDS: list[tuple[Any, str]] = [
    ("t-plain", "t-plain"),
    (12345, "12345"),
    (1500.0, "1500"),
    (True, "true"),
    ('q"id', 'q\\"id'),
]
_COSTS = [0.01, 0.02, 0.04, 0.08, 0.16]  # item k's only generation costs _COSTS[k]


def _rows() -> list[dict[str, Any]]:
    events = [
        llmc_event(
            "$ai_generation",
            MID,
            {"$ai_trace_id": raw, "$ai_total_cost_usd": cost, "$ai_latency": 1.0},
            uuid=next(_uuids),
        )
        for (raw, _), cost in zip(_IDS, _COSTS, strict=True)
    ]
    cluster = llmc_cluster(0, [item for _, item in _IDS])
    run = llmc_run_event("1_trace_20261115_001503", [cluster], uuid=next(_uuids))
    return [*events, run]


def _stats(source: SnapshotSource | PostHogSource, semantics: Semantics) -> ClusterStats:
    request = RunRequest(
        level="trace",
        job=None,
        lookback=timedelta(days=30),
        stats=frozenset(STAT_FIELDS),
        semantics=semantics,
    )
    (cluster,) = source.load(request).latest.clusters
    assert cluster.stats is not None
    return cluster.stats


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_numbers_bools_and_escaped_strings_as_ids_count_in_both_sources(
    tmp_path: Path, semantics: Semantics
) -> None:
    rows = _rows()
    snapshot = SnapshotSource(llmc_write_jsonl(tmp_path / "ids.jsonl", rows))
    now = parse_timestamp(LLMC_EMITTED) + timedelta(hours=1)
    with StandIn(rows, api_key=KEY, project_id=1) as standin:
        live = PostHogSource(
            PostHogConfig(host=standin.url, project_id=1, api_key=KEY), clock=lambda: now
        )
        try:
            got = {"snapshot": _stats(snapshot, semantics), "live": _stats(live, semantics)}
        finally:
            live.close()
    for name, stats in got.items():
        # By hand: every item has its one generation, so all five count.
        assert stats.item_count == 5, name
        assert stats.total_cost_usd == pytest.approx(sum(_COSTS), rel=1e-12), name
        assert stats.avg_cost_usd == pytest.approx(sum(_COSTS) / 5, rel=1e-12), name
