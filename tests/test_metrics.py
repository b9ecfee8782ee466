"""Per-cluster metrics from PostHog event rows, checked against hand arithmetic.

Every run here is small enough to compute by hand; each expected value carries its
arithmetic. Runs go through the whole snapshot path (file → SnapshotSource → stats),
so the traps are exercised where real data meets them: spans with costs, string
flags and numbers, window edges, phantom items, zero costs, embeddings, noise.
"""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from helpers import llmc_cluster, llmc_event, llmc_run_event, llmc_write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

from llmc_checks import metrics
from llmc_checks._values import integer, number
from llmc_checks.model import (
    BaselineRequest,
    ClusterStats,
    ItemValues,
    Level,
    Loaded,
    Run,
    RunRequest,
    Semantics,
)
from llmc_checks.sources.snapshot import SnapshotSource
from llmc_checks.stats import quantile_inclusive
from llmc_checks.synth import Scenario, generate, write_rows

Row = dict[str, Any]

# Every ClusterStats field, written out (and checked against the dataclass below).
ALL_STATS = frozenset(
    {
        "item_count",
        "avg_cost_usd",
        "total_cost_usd",
        "avg_latency_s",
        "p95_latency_s",
        "avg_tokens",
        "error_count",
        "error_rate",
    }
)
# What PostHog bakes into `metrics` (everything but p95).
BAKED_STATS = ALL_STATS - {"p95_latency_s"}

# Window of every hand-built run: [2026-11-08T00:15:03.104Z, 2026-11-15T00:15:03.104Z).
MID = "2026-11-12T10:00:00.000000+00:00"  # well inside the window
BEFORE = "2026-11-01T00:00:00.000000+00:00"  # well before it

_PROPS = {
    "cost": "$ai_total_cost_usd",
    "latency": "$ai_latency",
    "tin": "$ai_input_tokens",
    "tout": "$ai_output_tokens",
    "error": "$ai_is_error",
}


def ai(event: str, trace: str, ts: str = MID, uuid: str = "", **values: Any) -> Row:
    """An AI event of `trace`; values: cost, latency, tin, tout, error (only those given)."""
    props: Row = {"$ai_trace_id": trace}
    props.update({_PROPS[k]: v for k, v in values.items()})
    return llmc_event(f"$ai_{event}", ts, props, uuid=uuid)


def gen(trace: str, ts: str = MID, uuid: str = "", **values: Any) -> Row:
    return ai("generation", trace, ts, uuid, **values)


def span(trace: str, ts: str = MID, uuid: str = "", **values: Any) -> Row:
    return ai("span", trace, ts, uuid, **values)


def emb(trace: str, ts: str = MID, uuid: str = "", **values: Any) -> Row:
    return ai("embedding", trace, ts, uuid, **values)


def load(
    tmp_path: Path,
    clusters: list[Row],
    events: list[Row],
    *,
    level: Level = "trace",
    stats: frozenset[str] = ALL_STATS,
    name: str = "events.jsonl",
    semantics: Semantics = "workflow",
) -> Loaded:
    """Load a one-run snapshot; the hand computations below are the job's numbers
    ("workflow") unless a test asks for the page's."""
    run = llmc_run_event(f"1_{level}_20261115_001503", clusters, level=level)
    path = llmc_write_jsonl(tmp_path / name, [*events, run])
    request = RunRequest(
        level=level, job=None, lookback=timedelta(days=30), stats=stats, semantics=semantics
    )
    return SnapshotSource(path).load(request)


def stats_of(run: Run) -> dict[int, ClusterStats]:
    out = {}
    for c in run.clusters:
        assert c.stats is not None, f"cluster {c.cluster_id} has no stats"
        out[c.cluster_id] = c.stats
    return out


def expect(actual: ClusterStats, **expected: float | int | None) -> None:
    """Every field must be given; ints exactly, floats to 1e-12 relative, None as None."""
    assert set(expected) == ALL_STATS, "spell out every field"
    for name, want in expected.items():
        got = getattr(actual, name)
        if want is None:
            assert got is None, f"{name}: expected None, got {got!r}"
        elif name in ("item_count", "error_count"):
            assert got == want and isinstance(got, int), f"{name}: {got!r} != {want!r}"
        else:
            assert got == pytest.approx(want, rel=1e-12, abs=0), f"{name}: {got!r} != {want!r}"


def test_all_stats_is_every_cluster_stats_field() -> None:
    assert {f.name for f in dataclasses.fields(ClusterStats)} == ALL_STATS


# --- trace level -----------------------------------------------------------------------


def test_spans_count_for_errors_but_never_for_cost_latency_or_tokens(tmp_path: Path) -> None:
    clusters = [llmc_cluster(0, ["t1", "t2"]), llmc_cluster(1, ["t3"])]
    events = [
        gen("t1", cost=0.01, latency=1.5, tin=100, tout=50),
        # a span repeating (and inflating) its child's numbers, flagged as an error
        span("t1", cost=0.25, latency=4.0, tin=999, tout=999, error=True),
        gen("t2", cost=0.02, latency=2.5, tin=200, tout=100, error=False),
        span("t2", cost=1.0, latency=9.0, error=False),
        # `$ai_trace` is not an AI event for metrics: its cost and error never count
        llmc_event(
            "$ai_trace",
            MID,
            {"$ai_trace_id": "t2", "$ai_total_cost_usd": 3.0, "$ai_is_error": True},
        ),
        # t3 has only a span: an item with an event (counted), an error, no cost
        span("t3", cost=0.5, latency=3.0, error="true"),
    ]
    s = stats_of(load(tmp_path, clusters, events).latest)
    expect(
        s[0],
        item_count=2,  # t1, t2
        avg_cost_usd=0.015,  # (0.01 + 0.02) / 2 — span costs 0.25 and 1.0 ignored
        total_cost_usd=0.03,  # 0.01 + 0.02
        avg_latency_s=2.0,  # (1.5 + 2.5) / 2 — span latencies 4.0 and 9.0 ignored
        p95_latency_s=2.45,  # [1.5, 2.5]: pos 0.95 → 1.5 + 1.0 * 0.95
        avg_tokens=225.0,  # (100+50 + 200+100) / 2 — span tokens 999+999 ignored
        error_count=1,  # t1 (by its span); t2's only error is on $ai_trace
        error_rate=0.5,  # 1 / 2
    )
    expect(
        s[1],
        item_count=1,  # t3: a span is an event
        avg_cost_usd=None,  # the span's 0.5 is not cost
        total_cost_usd=None,
        avg_latency_s=None,
        p95_latency_s=None,
        avg_tokens=None,
        error_count=1,  # the span's "true"
        error_rate=1.0,  # 1 / 1
    )


def test_is_error_bool_and_string_forms(tmp_path: Path) -> None:
    flags = {
        "e1": True,  # error
        "e2": "true",  # error (pipelines send strings)
        "e3": False,
        "e4": "false",
        "e5": "True",  # NOT an error: HogQL's `= 'true'` is case-sensitive
        "e6": "TRUE",  # NOT an error either
    }
    events = [gen(item, cost=0.01, latency=1.0, tin=10, error=flag) for item, flag in flags.items()]
    events += [
        gen("e7", cost=0.01, latency=1.0, tin=10),  # no flag at all
        # e8: two error events still make one item with errors
        gen("e8", cost=0.01, latency=1.0, tin=10, error=True),
        span("e8", error="true"),
    ]
    s = stats_of(load(tmp_path, [llmc_cluster(0, [*flags, "e7", "e8"])], events).latest)
    expect(
        s[0],
        item_count=8,
        avg_cost_usd=0.01,  # 8 × 0.01 / 8
        total_cost_usd=0.08,  # 8 × 0.01
        avg_latency_s=1.0,
        p95_latency_s=1.0,  # all equal
        avg_tokens=10.0,
        error_count=3,  # e1, e2, e8
        error_rate=0.375,  # 3 / 8
    )


def test_numbers_as_strings_are_parsed_and_junk_is_missing(tmp_path: Path) -> None:
    events = [
        gen("s1", cost="0.002", latency="0.75", tin="120", tout="30"),
        gen("s2", cost="abc", latency="1e-1", tin="7", tout=None),  # "abc" → no cost
        gen("s2", cost="0.004"),
    ]
    s = stats_of(load(tmp_path, [llmc_cluster(0, ["s1", "s2"])], events).latest)
    expect(
        s[0],
        item_count=2,
        avg_cost_usd=0.003,  # (0.002 + 0.004) / 2
        total_cost_usd=0.006,  # 0.002 + 0.004
        avg_latency_s=0.425,  # (0.75 + 0.1) / 2
        p95_latency_s=0.7175,  # [0.1, 0.75]: 0.1 + 0.65 * 0.95
        avg_tokens=78.5,  # (120+30 + 7) / 2
        error_count=0,
        error_rate=0.0,
    )


def test_window_edges_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    start = "2026-11-08T00:15:03.104000+00:00"  # == $ai_window_start
    end = "2026-11-15T00:15:03.104000+00:00"  # == $ai_window_end
    events = [
        gen("w1", ts=start, cost=0.001, error=True),  # exactly at start: counts
        gen("w1", ts=end, cost=0.5, error=True),  # exactly at end: does not
        gen("w2", ts=end, cost=0.1, error=True),  # only at end: w2 has no data
        gen("w3", ts="2026-11-15T00:15:03.103999+00:00", cost=0.002, error=True),  # end − 1 µs
        gen("w4", ts="2026-11-08T00:15:03.103999+00:00", cost=0.2, error=True),  # start − 1 µs
        gen("w5", ts="2026-11-15T01:15:03.104+01:00", cost=0.3, error=True),  # == end, +01:00
        gen("w6", ts="2026-11-15 00:15:03.103", cost=0.004),  # naive = UTC, end − 1 ms
    ]
    clusters = [llmc_cluster(0, ["w1", "w2", "w3"]), llmc_cluster(1, ["w4", "w5", "w6"])]
    s = stats_of(load(tmp_path, clusters, events).latest)
    expect(
        s[0],
        item_count=2,  # w1, w3
        avg_cost_usd=0.0015,  # (0.001 + 0.002) / 2
        total_cost_usd=0.003,  # 0.001 + 0.002 (w1's 0.5 at the end is out)
        avg_latency_s=None,
        p95_latency_s=None,
        avg_tokens=None,
        error_count=2,  # w1, w3
        error_rate=1.0,  # 2 / 2 (w2 is not in the denominator)
    )
    expect(
        s[1],
        item_count=1,  # w6 only
        avg_cost_usd=0.004,
        total_cost_usd=0.004,
        avg_latency_s=None,
        p95_latency_s=None,
        avg_tokens=None,
        error_count=0,  # w4, w5 errors are outside
        error_rate=0.0,  # 0 / 1
    )


def test_phantom_items_and_zero_costs(tmp_path: Path) -> None:
    clusters = [
        llmc_cluster(0, ["z1", "z2", "z3", "z4", "z5"]),
        llmc_cluster(1, ["y1", "y2"]),
        llmc_cluster(2, ["p1"]),
    ]
    events = [
        gen("z1", cost=0, latency=0.5, tin=5, tout=5, error=True),
        gen("z2", latency=1.5),  # no cost property at all
        gen("z3", cost=0.004, latency=0, tin=0, tout=0),
        # z4: no event anywhere; z5: only before the window
        gen("z5", ts=BEFORE, cost=0.9, latency=9.0, tin=9, error=True),
        gen("y1", cost=0),
        gen("y2", cost="0"),
        gen("p1", ts=BEFORE, cost=1.0, error=True),
    ]
    s = stats_of(load(tmp_path, clusters, events).latest)
    expect(
        s[0],
        item_count=3,  # z1, z2, z3 (z4, z5 have no event in the window)
        avg_cost_usd=0.004,  # only z3's cost is > 0
        total_cost_usd=0.004,
        avg_latency_s=1.0,  # (0.5 + 1.5) / 2, z3's 0 excluded
        p95_latency_s=1.45,  # [0.5, 1.5]: 0.5 + 1.0 * 0.95
        avg_tokens=10.0,  # z1: 5 + 5; z3's 0 excluded
        error_count=1,  # z1 (z5's error is outside the window)
        error_rate=1 / 3,  # 1 / 3, not 1 / 5
    )
    expect(
        s[1],
        item_count=2,
        avg_cost_usd=None,  # no cost > 0
        total_cost_usd=None,  # None, not 0
        avg_latency_s=None,
        p95_latency_s=None,
        avg_tokens=None,
        error_count=0,
        error_rate=0.0,
    )
    expect(
        s[2],
        item_count=0,
        avg_cost_usd=None,
        total_cost_usd=None,
        avg_latency_s=None,
        p95_latency_s=None,
        avg_tokens=None,
        error_count=0,
        error_rate=None,  # 0 / 0
    )


def test_embeddings_add_cost_and_tokens_but_not_latency(tmp_path: Path) -> None:
    events = [
        emb("m1", cost=0.0003, tin=20, latency=2.5),
        gen("m2", cost=0.001, latency=1.0, tin=10, tout=5),
        emb("m2", cost=0.0001, tin=8, latency=9.0),
    ]
    s = stats_of(load(tmp_path, [llmc_cluster(0, ["m1", "m2"])], events).latest)
    expect(
        s[0],
        item_count=2,
        avg_cost_usd=0.0007,  # (0.0003 + (0.001 + 0.0001)) / 2
        total_cost_usd=0.0014,  # 0.0003 + 0.0011
        avg_latency_s=1.0,  # m1: none (embedding latency ignored); m2: 1.0 (not 10.0)
        p95_latency_s=1.0,
        avg_tokens=21.5,  # (20 + (10+5+8)) / 2
        error_count=0,
        error_rate=0.0,
    )


def test_noise_cluster_gets_stats(tmp_path: Path) -> None:
    clusters = [llmc_cluster(0, ["a1"]), llmc_cluster(-1, ["n1", "n2"], title="Outliers")]
    events = [
        gen("a1", cost=0.001, latency=0.2, tin=1, tout=1),
        gen("n1", cost=0.006, latency=0.9, tin=60, tout=40, error="true"),
        gen("n2", cost=0.002, latency=0.3, tin=20, tout=0),
    ]
    run = load(tmp_path, clusters, events).latest
    assert run.noise is not None and run.noise.cluster_id == -1
    assert run.noise.stats is not None
    expect(
        run.noise.stats,
        item_count=2,
        avg_cost_usd=0.004,  # (0.006 + 0.002) / 2
        total_cost_usd=0.008,
        avg_latency_s=0.6,  # (0.9 + 0.3) / 2
        p95_latency_s=0.87,  # [0.3, 0.9]: 0.3 + 0.6 * 0.95
        avg_tokens=60.0,  # (100 + 20) / 2
        error_count=1,
        error_rate=0.5,
    )


def test_p95_linear_interpolation_by_hand_and_numpy(tmp_path: Path) -> None:
    clusters = [
        llmc_cluster(0, ["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"]),
        llmc_cluster(1, ["r1"]),
        llmc_cluster(2, ["u1", "u2"]),
    ]
    events = [
        gen("q1", latency=5.0),
        gen("q1", latency=2.0),  # q1 = 7.0 (latency sums per trace)
        gen("q2", latency=0.4),
        gen("q3", latency=1.1),
        gen("q4", latency=2.0),
        gen("q5", latency=2.5),
        gen("q6", latency=3.3),
        gen("q7", latency=12.0),
        gen("q8", latency=0),  # excluded: latency 0
        gen("r1", latency=4.2),
        gen("u1", latency=1.0),
        gen("u2", latency=3.0),
    ]
    s = stats_of(load(tmp_path, clusters, events).latest)
    latencies = [7.0, 0.4, 1.1, 2.0, 2.5, 3.3, 12.0]
    # sorted [0.4, 1.1, 2.0, 2.5, 3.3, 7.0, 12.0], n = 7: pos = 6 × 0.95 = 5.7
    # → v[5] + (v[6] − v[5]) × 0.7 = 7.0 + 5.0 × 0.7 = 10.5
    assert s[0].p95_latency_s == pytest.approx(10.5, rel=1e-12)
    assert s[0].p95_latency_s == pytest.approx(float(np.percentile(latencies, 95)), rel=1e-12)
    assert s[0].avg_latency_s == pytest.approx(28.3 / 7, rel=1e-12)  # sum 28.3, 7 items > 0
    assert s[0].item_count == 8
    assert s[1].p95_latency_s == pytest.approx(4.2, rel=1e-12)  # a single value
    # [1.0, 3.0]: pos 0.95 → 1.0 + 2.0 × 0.95 = 2.9
    assert s[2].p95_latency_s == pytest.approx(2.9, rel=1e-12)
    assert s[2].p95_latency_s == pytest.approx(float(np.percentile([1.0, 3.0], 95)), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 21, 101])
def test_quantile_inclusive_agrees_with_numpy(n: int) -> None:
    rng = random.Random(n)
    values = [rng.lognormvariate(0, 1) for _ in range(n)]
    for q in (0.0, 0.5, 0.9, 0.95, 0.99, 1.0):
        assert quantile_inclusive(values, q) == pytest.approx(
            float(np.percentile(values, q * 100)), rel=1e-12
        )
    assert quantile_inclusive([], 0.95) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.002", 0.002), ("1e3", 1000.0), (".5", 0.5), ("+1", 1.0), ("abc", None), ("", None)],
)
def test_number_parses_what_clickhouse_parses(text: str, value: float | None) -> None:
    # toFloat64OrNull / accurateCastOrNull(x, 'Float64') in ClickHouse give the same values
    assert number(text) == value


@pytest.mark.parametrize("text", ["1_000", " 0.5", "0.5 "])
def test_number_rejects_what_clickhouse_rejects(text: str) -> None:
    assert number(text) is None


# --- generation level -------------------------------------------------------------------


def test_generation_level_item_is_the_generation_event(tmp_path: Path) -> None:
    events = [
        gen("T1", uuid="gen-1", cost=0.01, latency=1.2, tin=100, tout=20, error=False),
        gen("T1", uuid="gen-2", cost="0.03", latency=0.8, tin=300, tout=60, error="true"),
        # same trace, other kinds: ignored at generation level
        span("T1", uuid="span-1", cost=0.5, latency=2.0, error=True),
        emb("T1", uuid="emb-1", cost=0.2, tin=999),
        # a span whose *trace id* is a clustered generation uuid: still ignored
        span("gen-4", uuid="span-2", cost=1.0, error=True),
        gen("T2", uuid="gen-3", ts=BEFORE, cost=0.002, latency=0.4, tin=10, tout=10),
        gen("T2", uuid="gen-4", cost=0, latency=3.0, tin=50, tout=50, error=True),
        gen("T2", uuid="gen-5", cost=9.0, latency=9.0, error=True),  # not clustered
    ]
    clusters = [llmc_cluster(0, ["gen-1", "gen-2", "gen-3"]), llmc_cluster(1, ["gen-4"])]
    s = stats_of(load(tmp_path, clusters, events, level="generation").latest)
    expect(
        s[0],
        item_count=2,  # gen-1, gen-2 (gen-3 is before the window)
        avg_cost_usd=0.02,  # (0.01 + 0.03) / 2 — not the trace's span/embedding costs
        total_cost_usd=0.04,
        avg_latency_s=1.0,  # (1.2 + 0.8) / 2
        p95_latency_s=1.18,  # [0.8, 1.2]: 0.8 + 0.4 × 0.95
        avg_tokens=240.0,  # (120 + 360) / 2
        error_count=1,  # gen-2 ("true"); the span's error is not gen-1's
        error_rate=0.5,
    )
    expect(
        s[1],
        item_count=1,
        avg_cost_usd=None,  # cost 0
        total_cost_usd=None,
        avg_latency_s=3.0,
        p95_latency_s=3.0,
        avg_tokens=100.0,  # 50 + 50
        error_count=1,
        error_rate=1.0,
    )


# --- baked metrics vs events --------------------------------------------------------------


BAKED_CLUSTERS = [
    llmc_cluster(
        0,
        ["b1", "b2"],
        metrics={
            "avg_cost": 0.5,
            "total_cost": 1.0,
            "avg_latency": 10.0,
            "avg_tokens": 1000,
            "error_rate": 0.5,
            "error_count": 1,
            "item_count": 2,
        },
    ),
    llmc_cluster(
        -1,
        ["b3"],
        metrics={
            "avg_cost": None,
            "total_cost": None,
            "avg_latency": "2.5",  # a string, like the events' numbers
            "avg_tokens": 7,
            "error_rate": 0,
            "error_count": 0,
            "item_count": 1,
        },
    ),
]
BAKED_EVENTS = [
    gen("b1", cost=0.01, latency=1.0, tin=5, tout=5),
    gen("b2", cost=0.03, latency=3.0, tin=15, tout=5, error=True),
    gen("b3", cost=0.002, latency=0.5, tin=3, tout=4),
]


def test_baked_metrics_are_used_when_they_suffice(tmp_path: Path) -> None:
    s = stats_of(load(tmp_path, BAKED_CLUSTERS, BAKED_EVENTS, stats=BAKED_STATS).latest)
    # The baked numbers, although the events say otherwise.
    expect(
        s[0],
        item_count=2,
        avg_cost_usd=0.5,
        total_cost_usd=1.0,
        avg_latency_s=10.0,
        p95_latency_s=None,  # never baked
        avg_tokens=1000.0,
        error_count=1,
        error_rate=0.5,
    )
    expect(
        s[-1],
        item_count=1,
        avg_cost_usd=None,
        total_cost_usd=None,
        avg_latency_s=2.5,
        p95_latency_s=None,
        avg_tokens=7.0,
        error_count=0,
        error_rate=0.0,
    )
    # A single baked stat suffices too.
    one = stats_of(
        load(tmp_path, BAKED_CLUSTERS, BAKED_EVENTS, stats=frozenset({"avg_cost_usd"})).latest
    )
    assert one[0].avg_cost_usd == 0.5


def test_events_are_used_when_p95_is_needed(tmp_path: Path) -> None:
    s = stats_of(load(tmp_path, BAKED_CLUSTERS, BAKED_EVENTS, stats=ALL_STATS).latest)
    expect(
        s[0],
        item_count=2,
        avg_cost_usd=0.02,  # (0.01 + 0.03) / 2
        total_cost_usd=0.04,
        avg_latency_s=2.0,  # (1.0 + 3.0) / 2
        p95_latency_s=2.9,  # [1.0, 3.0]: 1.0 + 2.0 × 0.95
        avg_tokens=15.0,  # (10 + 20) / 2
        error_count=1,
        error_rate=0.5,
    )
    expect(
        s[-1],
        item_count=1,
        avg_cost_usd=0.002,
        total_cost_usd=0.002,
        avg_latency_s=0.5,
        p95_latency_s=0.5,
        avg_tokens=7.0,  # 3 + 4
        error_count=0,
        error_rate=0.0,
    )


def test_events_are_used_when_a_cluster_lacks_a_baked_stat(tmp_path: Path) -> None:
    partial = [
        BAKED_CLUSTERS[0],
        llmc_cluster(-1, ["b3"], metrics={"avg_cost": 0.7}),  # no avg_tokens baked
    ]
    s = stats_of(load(tmp_path, partial, BAKED_EVENTS, stats=frozenset({"avg_tokens"})).latest)
    assert s[0].avg_tokens == 15.0  # events: (10 + 20) / 2, not the baked 1000
    assert s[-1].avg_tokens == 7.0  # events: 3 + 4
    # No stats asked for: none are attached (and no event pass is needed).
    bare = load(tmp_path, partial, BAKED_EVENTS, stats=frozenset()).latest
    assert all(c.stats is None for c in bare.clusters)


# --- a larger cross-check against the seeded generator -------------------------------------

_TRUTH_KEYS = {
    "item_count": "item_count",
    "avg_cost_usd": "avg_cost",
    "total_cost_usd": "total_cost",
    "avg_latency_s": "avg_latency",
    "p95_latency_s": "p95_latency",
    "avg_tokens": "avg_tokens",
    "error_count": "error_count",
    "error_rate": "error_rate",
}


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_event_stats_equal_the_generators_independent_numbers(
    tmp_path: Path, semantics: Semantics
) -> None:
    synth = generate(Scenario(seed=3, days=2, traces_per_day=120, max_samples=200))
    path = tmp_path / "synth.jsonl.gz"
    write_rows(synth.iter_rows(), path)
    request = RunRequest(
        level="trace",
        job=None,
        lookback=timedelta(days=30),
        stats=ALL_STATS,  # p95 is never baked: forces the event pass
        baselines=(BaselineRequest("previous"),),
        semantics=semantics,
    )
    loaded = SnapshotSource(path).load(request)
    (previous,) = loaded.baselines[BaselineRequest("previous")]
    runs = [loaded.latest, previous]
    assert [r.run_id for r in runs] == [synth.runs[1].run_id, synth.runs[0].run_id]
    checked = 0
    for run in runs:
        truth = synth.run(run.run_id)
        assert truth.baked  # so the event pass was forced, not skipped
        # the traps are in the data: window-edge events and clustered items without events
        assert truth.edge_items and truth.phantom_items
        assert {c.cluster_id for c in run.clusters} == {c.cluster_id for c in truth.clusters}
        for cluster in run.clusters:
            want = truth.cluster(cluster.cluster_id).metrics_for(semantics)
            assert cluster.stats is not None
            for ours, theirs in _TRUTH_KEYS.items():
                got, exp = getattr(cluster.stats, ours), want[theirs]
                where = f"{run.run_id} cluster {cluster.cluster_id} {ours}"
                if exp is None:
                    assert got is None, where
                else:
                    assert got == pytest.approx(exp, rel=1e-9, abs=0), where
                checked += 1
    assert checked >= 2 * 4 * len(_TRUTH_KEYS)  # several clusters per run, all compared


# --- the two semantics, rule by rule ("ui": the cluster page; "workflow": the job) -----

END = "2026-11-15T00:15:03.104000+00:00"  # == $ai_window_end of every hand-built run


def both(tmp_path: Path, events: list[Row], level: Level = "trace") -> dict[str, ClusterStats]:
    """Cluster 0 of a one-cluster run (items t1, t2) under each semantics."""
    clusters = [llmc_cluster(0, ["t1", "t2"])]
    return {
        sem: stats_of(load(tmp_path, clusters, events, level=level, semantics=sem).latest)[0]
        for sem in ("ui", "workflow")
    }


def test_span_cost_counts_on_the_page_only(tmp_path: Path) -> None:
    s = both(tmp_path, [gen("t1", cost=0.01), span("t1", cost=0.04), gen("t2", cost=0.02)])
    assert s["ui"].total_cost_usd == pytest.approx(0.07)  # 0.01 + 0.04 + 0.02
    assert s["ui"].avg_cost_usd == pytest.approx(0.035)  # t1 0.05, t2 0.02
    assert s["workflow"].total_cost_usd == pytest.approx(0.03)  # the span's cost is not the job's
    assert s["workflow"].avg_cost_usd == pytest.approx(0.015)


def test_latency_is_the_max_on_the_page_and_the_sum_of_generations_in_the_job(
    tmp_path: Path,
) -> None:
    events = [
        gen("t1", latency=1.0),
        gen("t1", latency=2.0),
        span("t1", latency=2.5),  # a root span: longer than either generation
        emb("t2", latency=0.4),  # embeddings have latency on the page only
    ]
    s = both(tmp_path, events)
    # page: t1 max(1.0, 2.0, 2.5) = 2.5, t2 0.4 → avg 1.45, p95 0.4 + 2.1 × 0.95
    assert s["ui"].avg_latency_s == pytest.approx(1.45)
    assert s["ui"].p95_latency_s == pytest.approx(0.4 + 2.1 * 0.95)
    # job: t1 1.0 + 2.0 = 3.0; t2 has no generation latency (0, not averaged)
    assert s["workflow"].avg_latency_s == pytest.approx(3.0)
    assert s["workflow"].p95_latency_s == pytest.approx(3.0)


def test_an_event_at_the_window_end_counts_on_the_page_only(tmp_path: Path) -> None:
    events = [gen("t1", cost=0.01), gen("t2", ts=END, cost=0.5, latency=2.0, error=True)]
    s = both(tmp_path, events)
    expect(
        s["ui"],
        item_count=2,
        avg_cost_usd=0.255,  # (0.01 + 0.5) / 2
        total_cost_usd=0.51,
        avg_latency_s=2.0,
        p95_latency_s=2.0,
        avg_tokens=None,
        error_count=1,
        error_rate=0.5,
    )
    expect(
        s["workflow"],
        item_count=1,  # t2's only event is outside [start, end)
        avg_cost_usd=0.01,
        total_cost_usd=0.01,
        avg_latency_s=None,
        p95_latency_s=None,
        avg_tokens=None,
        error_count=0,
        error_rate=0.0,
    )


def test_numbers_as_strings_count_in_both(tmp_path: Path) -> None:
    events = [gen("t1", cost="0.5", latency="1.5", tin="10", tout="5"), gen("t2", cost=" 0.5")]
    for stats in both(tmp_path, events).values():
        assert stats.total_cost_usd == 0.5  # " 0.5" is no number for accurateCastOrNull
        assert stats.avg_latency_s == 1.5
        assert stats.avg_tokens == 15.0


def test_fractional_tokens_count_nothing_in_both(tmp_path: Path) -> None:
    events = [
        gen("t1", tin="12.5", tout=4),  # "12.5" is no Int: only the 4 output tokens
        gen("t2", tin=12.0, tout="12.0"),  # JSON 12.0 reads "12" (counts); "12.0" does not
    ]
    for stats in both(tmp_path, events).values():
        assert stats.avg_tokens == pytest.approx(8.0)  # (4 + 12) / 2


def test_several_errored_events_make_one_errored_item(tmp_path: Path) -> None:
    events = [
        gen("t1", error=True),
        span("t1", error="true"),
        emb("t1", error=True),
        gen("t2", error=False),
    ]
    for stats in both(tmp_path, events).values():
        # The page would show 3 error events / 2 items, capped at 100%; we count items.
        assert (stats.error_count, stats.error_rate) == (1, 0.5)


def test_generation_level_reads_the_generation_event_in_both(tmp_path: Path) -> None:
    clusters = [llmc_cluster(0, ["g1", "g2"])]
    events = [
        gen("T", uuid="g1", cost=0.2, latency=3.0, tin=10, tout="2"),
        span("T", uuid="s1", cost=9.0, latency=99.0),  # not an item at generation level
        gen("T", uuid="g2", ts=END, cost=0.4, latency=1.0),
    ]
    got = {
        sem: stats_of(load(tmp_path, clusters, events, level="generation", semantics=sem).latest)
        for sem in ("ui", "workflow")
    }
    assert (got["ui"][0].item_count, got["ui"][0].total_cost_usd) == (2, pytest.approx(0.6))
    assert (got["workflow"][0].item_count, got["workflow"][0].total_cost_usd) == (1, 0.2)
    assert got["ui"][0].avg_latency_s == pytest.approx(2.0)  # g1 3.0, g2 1.0
    assert got["workflow"][0].avg_tokens == 12.0


def test_value_of_item_is_the_value_of_one_item_under_a_semantics() -> None:
    events = [
        ("$ai_generation", {"$ai_total_cost_usd": 0.1, "$ai_latency": 1.0, "$ai_input_tokens": 5}),
        ("$ai_span", {"$ai_total_cost_usd": "0.2", "$ai_latency": 4.0, "$ai_is_error": True}),
        ("$ai_generation", {"$ai_latency": 2.0, "$ai_output_tokens": "3", "$ai_is_error": "true"}),
    ]
    ui = metrics.value_of_item("ui", events)
    job = metrics.value_of_item("workflow", events)
    assert ui == ItemValues(cost=pytest.approx(0.3), latency=4.0, tokens=8.0, errors=2)
    assert job == ItemValues(cost=0.1, latency=3.0, tokens=8.0, errors=2)
    assert metrics.value_of_item("ui", []) is None


def test_baked_metrics_stand_in_only_under_workflow(tmp_path: Path) -> None:
    page = stats_of(
        load(tmp_path, BAKED_CLUSTERS, BAKED_EVENTS, stats=BAKED_STATS, semantics="ui").latest
    )
    assert page[0].avg_cost_usd == pytest.approx(0.02)  # from the events, not the baked 0.5
    job = stats_of(load(tmp_path, BAKED_CLUSTERS, BAKED_EVENTS, stats=BAKED_STATS).latest)
    assert job[0].avg_cost_usd == 0.5


# --- values as HogQL reads them: the casts against ClickHouse itself ------------------

_ODD_TEXTS = [
    "12",
    "12.0",
    "12.",
    "12.5",
    "1e3",
    "1E3",
    "+12",
    "-12",
    " 12",
    "12 ",
    "012",
    "0x1A",
    "1_000",
    "12abc",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-0",
    "inf",
    "-inf",
    "nan",
    "Infinity",
    "NaN",
    "-nan",
    "+INF",
    "-Infinity",
    "inFiNiTy",
    "nan(abc_1)",
    "nan(a b)",
    "infi",
    "nan ",
    "ınf",
    "1.797693134862316e308",
    "-1e400",
    "0.5",
    ".5",
    "5.",
    "+.5",
    "-.5e1",
    "0x1p3",
    "1,5",
    "",
    "true",
    "false",
    "null",
    "1e400",
    "1e-400",
    "１２",
    "12\n",
    "-",
    ".",
    "e3",
    "1e",
    "1e+",
    "1.5E+3",
    "0.50000000000000001",
    "99999999999999999999",
]


def _clickhouse_casts(texts: list[str]) -> list[tuple[float | None, int | None]]:
    chdb = pytest.importorskip("chdb")
    import json

    literal = ", ".join("'" + t.replace("\\", "\\\\").replace("'", "\\'") + "'" for t in texts)
    # toString: JSON would render NaN and the infinities as null, hiding what they read as.
    query = (
        f"SELECT toString(accurateCastOrNull(t, 'Float64')), accurateCastOrNull(t, 'Int64') "
        f"FROM (SELECT arrayJoin([{literal}]) AS t, rowNumberInAllBlocks() AS n) ORDER BY n "
        "FORMAT JSONCompact"
    )
    rows = json.loads(chdb.query(query).bytes())["data"]
    # "nan", "inf", "-inf" or the shortest digits: read back as the double it is.
    return [(None if f is None else float(f), None if i is None else int(i)) for f, i in rows]


def test_number_reads_non_finite_values_as_clickhouse_does() -> None:
    # accurateCastOrNull reads these as NaN or an infinity (what PostHog's sums then
    # become); `number` keeps them so the caller can refuse them (tests/test_bad_data.py).
    assert math.isnan(number("NaN") or 0.0)
    assert number("-Infinity") == -math.inf
    assert number("1e400") == math.inf
    assert number(10**400) == math.inf  # digits too many for a double (json module ints)
    assert number(-(10**400)) == -math.inf
    assert number("ınf") is None  # ASCII words only


def _same(a: float | None, b: float | None) -> bool:
    """Equal, NaN included (NaN != NaN)."""
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def test_casts_of_strings_match_clickhouse() -> None:
    expected = _clickhouse_casts(_ODD_TEXTS)
    assert any(f is not None and math.isnan(f) for f, _ in expected)  # not vacuous
    assert any(f == -math.inf for f, _ in expected)
    for text, (as_float, as_int) in zip(_ODD_TEXTS, expected, strict=True):
        assert _same(number(text), as_float), text
        assert integer(text) == as_int, text


@pytest.mark.parametrize(
    "raw",
    [
        "12.0",
        "1E3",
        "12.5",
        "9.2e18",
        "1e20",
        "1e21",
        "-0.0",
        "0.1",
        "123456789012345678901234",
        "9223372036854775808",
        "true",
        "null",
        '"7"',
        '"NaN"',
        '"-Infinity"',
        "[1]",
        '{"a": 1}',
    ],
)
def test_casts_of_json_values_match_clickhouse(raw: str) -> None:
    """A JSON value's text is what HogQL's property access reads: ClickHouse's rendering."""
    chdb = pytest.importorskip("chdb")
    import json

    doc = '{"v": ' + raw + "}"
    text = "replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(d, 'v'), ''), 'null'), '^\"|\"$', '')"
    query = (
        f"SELECT toString(accurateCastOrNull({text}, 'Float64')), "
        f"accurateCastOrNull({text}, 'Int64') FROM (SELECT '{doc}' AS d) FORMAT JSONCompact"
    )
    as_float, as_int = json.loads(chdb.query(query).bytes())["data"][0]
    value = orjson.loads(doc)["v"]
    assert _same(number(value), None if as_float is None else float(as_float))
    assert integer(value) == (None if as_int is None else int(as_int))


# --- the per-event fold: each semantics' adder against the rule written out plainly -----


def _plain_add(totals: list[float], semantics: str, event: str, props: Row) -> None:
    """DESIGN §1 read straight from `_values`' casts, without fast paths."""
    page = semantics == "ui"
    if page or event in ("$ai_generation", "$ai_embedding"):
        cost = number(props.get("$ai_total_cost_usd"))
        if cost is not None:
            if math.isfinite(cost):
                totals[0] += cost
            else:
                totals[4] += 1
        tokens_in = integer(props.get("$ai_input_tokens"))
        tokens_out = integer(props.get("$ai_output_tokens"))
        totals[2] += (tokens_in or 0) + (tokens_out or 0)
    if page or event == "$ai_generation":
        latency = number(props.get("$ai_latency"))
        if latency is not None:
            if not math.isfinite(latency):
                totals[5] += 1
            elif page:
                totals[1] = max(totals[1], latency)
            else:
                totals[1] += latency
    if props.get("$ai_is_error") is True or props.get("$ai_is_error") == "true":
        totals[3] += 1


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0, 12.0, 12.5, 1e300]),
    st.sampled_from(["7", "12.5", "1e400", "-inf", "NaN", "true", "false", "", " 3", "x"]),
)
_EVENT_PROPS = st.fixed_dictionaries(
    {},
    optional={
        name: _JSON_VALUES
        for name in (
            "$ai_total_cost_usd",
            "$ai_latency",
            "$ai_input_tokens",
            "$ai_output_tokens",
            "$ai_is_error",
        )
    },
)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(metrics.AI_EVENTS), _EVENT_PROPS), min_size=1, max_size=6
    )
)
def test_each_semantics_adder_folds_as_the_rule_reads(events: list[tuple[str, Row]]) -> None:
    for semantics in ("ui", "workflow"):
        add = metrics.event_adder(semantics)
        got, want = metrics.new_totals(), metrics.new_totals()
        for event, props in events:
            add(got, event, props)
            _plain_add(want, semantics, event, props)
        assert repr(got) == repr(want)  # bit for bit (NaN too, from overflowing sums)
