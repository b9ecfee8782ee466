"""Evidence from the live source: the items behind each cluster, ranked server-side.

Hand-built runs full of ties and odd `traces` entries are served both ways (the PostHog
stand-in and a snapshot file); the live source must hand back the same candidates, with
the same values, as the snapshot source, within the gate's two queries, in bytes that
grow with clusters x k and not with items.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import Capture
from standin import StandIn
from standin.checks import bounded_scans  # noqa: F401  (autouse: unbounded scans fail)

from llmc_checks.config import PostHogSource as PostHogConfig
from llmc_checks.config import parse_config
from llmc_checks.gate import Options, evaluate_gate, item_link_builder, link_builder
from llmc_checks.model import (
    MEASURES,
    STAT_FIELDS,
    BaselineRequest,
    ItemValues,
    Level,
    Loaded,
    Member,
    RunRequest,
    Semantics,
)
from llmc_checks.sources.posthog import PostHogSource
from llmc_checks.sources.snapshot import SNAPSHOT_MARKER, SnapshotSource
from llmc_checks.synth import write_rows

Row = dict[str, Any]
KEY = "phx_evidence_key"
START = "2026-11-08T00:00:00.000000+00:00"
END = "2026-11-15T00:00:00.000000+00:00"
INSIDE = "2026-11-10T10:00:00.000000+00:00"
BEFORE = "2026-11-07T23:00:00.000000+00:00"
NOW = datetime(2026, 11, 15, 6, 0, tzinfo=timezone.utc)
_seq = iter(range(1, 1_000_000))


def uid(n: int | None = None) -> str:
    """A uuid the stand-in's `events.uuid UUID` column takes (unique unless `n` is given)."""
    return str(uuid.UUID(int=n if n is not None else 0xE0000000 + next(_seq)))


def event(name: str, ts: str, props: Row, uuid_: str = "") -> Row:
    return {
        "uuid": uuid_ or uid(),
        "event": name,
        "timestamp": ts,
        "distinct_id": "user",
        "properties": props,
    }


def gen(trace: str, cost: object, latency: object, *, error: object = False, **kw: Any) -> Row:
    """A generation of `trace`; `uuid`, `ts`, `tokens` (input, output) as keywords."""
    tokens_in, tokens_out = kw.get("tokens", (10, 5))
    props = {
        "$ai_trace_id": trace,
        "$ai_total_cost_usd": cost,
        "$ai_latency": latency,
        "$ai_input_tokens": tokens_in,
        "$ai_output_tokens": tokens_out,
        "$ai_is_error": error,
    }
    return event("$ai_generation", kw.get("ts", INSIDE), props, kw.get("uuid", ""))


def span(trace: str, cost: object, *, error: object = False, ts: str = INSIDE) -> Row:
    props = {"$ai_trace_id": trace, "$ai_total_cost_usd": cost, "$ai_is_error": error}
    return event("$ai_span", ts, props)


def entry(rank: object = None, ts: object = INSIDE, trace: object = "", gen_id: object = "") -> Row:
    """A `traces` map entry; `rank=None` leaves the key out."""
    out: Row = {"distance_to_centroid": 0.1, "x": 1.0, "y": 2.0, "timestamp": ts}
    if rank is not None:
        out["rank"] = rank
    if trace:
        out["trace_id"] = trace
    if gen_id:
        out["generation_id"] = gen_id
    return out


def run_event(run_id: str, level: Level, clusters: list[Row], *, end: str = END) -> Row:
    props = {
        "$ai_clustering_run_id": run_id,
        "$ai_clustering_level": level,
        "$ai_clustering_job_id": f"job-{level}",
        "$ai_clustering_job_name": f"Default - {level}s",
        "$ai_window_start": START,
        "$ai_window_end": end,
        "$ai_total_items_analyzed": sum(len(c["traces"]) for c in clusters),
        "$ai_clusters": clusters,
    }
    emitted = (datetime.fromisoformat(end) + timedelta(minutes=5)).isoformat()
    return event(f"$ai_{level}_clusters", emitted, props)


def cluster(cid: int, traces: dict[str, Row | None]) -> Row:
    return {"cluster_id": cid, "size": len(traces), "title": f"Topic {cid}", "traces": traces}


# -- trace level: ties everywhere -----------------------------------------------------------
#
# Cluster 0, by what each item shows (ui = the page's numbers, workflow = the job's):
#   m  rank -1 (the centre: lowest rank)            a  rank 0, cost .25 + .5, latency 2 / 5
#   b  rank 0 (ties a: a first), cost .75, error     c  no rank, cost .75 (ties a, b), latency 5
#   d  rank 1.0 (whole: rank 1, as JSON knows it)  e  rank true (a bool: unranked)
#   f  rank 1, every value 0 (never "worst")        g  rank 2, no event at all (no values)
#   h  rank 3, its event before the window          i  rank 4, cost 2 at the window's end:
#   j  rank 5, a span: cost 1 + an error (ui only)     the worst under ui, absent under workflow
#   k  a null entry (unranked, no timestamp), cost .75, error
#   l  rank 6, a number as timestamp and trace id (read as absent)
#   x, y, z  ranks 1.5, 1e300 and 2**60 (unranked: a fraction, beyond exact), no events
TRACE_RUN = "1_trace_20261115_000000"


def trace_rows() -> list[Row]:
    traces: dict[str, Row | None] = {
        "a": entry(0, "2026-11-10T10:00:00.123456+00:00", "a"),
        "b": entry(0, trace="b"),
        "c": entry(None, trace="c"),
        "d": entry(1.0, trace="d"),
        "e": entry(True, trace="e"),
        "f": entry(1, trace="f"),
        "g": entry(2, trace="g"),
        "h": entry(3, trace="h"),
        "i": entry(4, trace="i"),
        "j": entry(5, trace="j"),
        "k": None,
        "l": entry(6, ts=5, trace=7),
        "m": entry(-1, trace="m"),
        "x": entry(1.5, trace="x"),
        "y": entry(1e300, trace="y"),
        "z": entry(2**60, trace="z"),
    }
    events = [
        gen("a", 0.25, 2.0),
        gen("a", "0.5", 5.0, error="true", tokens=("20", 5)),
        gen("b", 0.75, 1.0, error=True, tokens=(30, 10)),
        gen("c", 0.75, 5.0, tokens=(40, 0)),
        gen("d", 0.5, 9.0),
        gen("e", "0.125", 0.5),
        gen("f", 0, 0, tokens=(0, 0)),
        gen("h", 9.0, 9.0, ts=BEFORE),
        gen("i", 2.0, 3.0, ts=END),
        span("j", 1.0, error=True),
        gen("k", 0.75, 5.0, error="true"),
        gen("l", 0.01, 0.2),
        gen("m", 0.01, 0.1),
        gen("n0", 0.001, 1.0),
        gen("n1", 0.002, 1.0),
    ]
    clusters = [
        cluster(0, traces),
        cluster(1, {"n0": entry(0, trace="n0"), "n1": entry(1, trace="n1")}),
        cluster(-1, {"o": entry(0, trace="o")}),
    ]
    earlier = run_event(
        "1_trace_20261108_000000",
        "trace",
        [cluster(0, {"a": entry(0, trace="a")})],
        end="2026-11-08T00:00:00.000000+00:00",
    )
    return [*events, earlier, run_event(TRACE_RUN, "trace", clusters)]


# -- generation level: items are generation uuids, linked through their trace ---------------
G = {name: uid(0x1000 + n) for n, name in enumerate("pqrstu")}  # uuid order = name order


def generation_rows() -> list[Row]:
    traces: dict[str, Row | None] = {
        G["p"]: entry(0, trace="trace-1", gen_id=G["p"]),
        G["q"]: entry(0, trace="trace-1", gen_id=G["q"]),
        G["r"]: entry(None, trace="trace-2", gen_id=G["r"]),
        G["s"]: entry(1, trace="trace-2", gen_id=G["s"]),
        G["t"]: entry(2, trace="trace-3", gen_id=G["t"]),
        G["u"]: None,
    }
    events = [
        gen("trace-1", 0.5, 2.0, error=True, uuid=G["p"]),
        gen("trace-1", 0.5, 2.0, error="true", uuid=G["q"]),
        span("trace-1", 3.0, error=True),  # not an item at generation level
        gen("trace-2", 0.5, 3.0, uuid=G["r"]),
        gen("trace-3", 4.0, 1.0, ts=END, uuid=G["t"]),  # s: no event
        gen("trace-4", 0.25, 8.0, tokens=(100, 100), uuid=G["u"]),
    ]
    return [*events, run_event("1_generation_20261115_000000", "generation", [cluster(0, traces)])]


class Both:
    """The same rows served live (stand-in) and as a snapshot file."""

    def __init__(self, rows: list[Row], tmp: Path) -> None:
        marker = event(SNAPSHOT_MARKER, NOW.isoformat(), {})
        path = tmp / "events.jsonl"
        write_rows([*rows, marker], path)
        self.snapshot = SnapshotSource(path)
        self.standin = StandIn(path, api_key=KEY, project_id=1).start()
        self.capture = Capture()
        self.live = PostHogSource(
            PostHogConfig(host=self.standin.url, project_id=1, api_key=KEY),
            clock=lambda: NOW,
            sleep=_no_sleep,
            transport=self.capture,
        )

    def load(self, request: RunRequest) -> tuple[Loaded, Loaded]:
        self.standin.clear_log()
        self.capture.bodies.clear()
        live = self.live.load(request)
        assert len(self.standin.query_requests()) <= 2
        return live, self.snapshot.load(request)

    def close(self) -> None:
        self.live.close()
        self.standin.close()


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"no retry expected (asked to sleep {seconds} s)")


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    both = Both(trace_rows(), tmp_path_factory.mktemp("traces"))
    yield both
    both.close()


@pytest.fixture(scope="module")
def generations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    both = Both(generation_rows(), tmp_path_factory.mktemp("generations"))
    yield both
    both.close()


def gate_request(level: Level = "trace", **kw: Any) -> RunRequest:
    base: dict[str, Any] = {
        "level": level,
        "job": None,
        "lookback": timedelta(days=14),
        "stats": frozenset(STAT_FIELDS),
        "evidence": 3,
        "evidence_measures": frozenset(MEASURES),
    }
    return RunRequest(**{**base, **kw})


def pools(loaded: Loaded) -> list[tuple[Member, ...]]:
    return [c.candidates for c in loaded.latest.clusters]


# -- parity with the snapshot source --------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 20])
@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_trace_level_candidates_equal_the_snapshots_ties_and_odd_entries(
    traces: Both, semantics: Semantics, k: int
) -> None:
    request = gate_request(
        semantics=semantics, evidence=k, baselines=(BaselineRequest("previous"),)
    )
    live, snap = traces.load(request)
    assert pools(live) == pools(snap)
    assert all(pools(live))
    assert len(traces.standin.query_requests()) == 2  # evidence rides in the gate's two


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_generation_level_candidates_equal_the_snapshots(
    generations: Both, semantics: Semantics, k: int
) -> None:
    live, snap = generations.load(gate_request("generation", semantics=semantics, evidence=k))
    assert pools(live) == pools(snap) and all(pools(live))


def test_the_ui_pool_by_hand(traces: Both) -> None:
    # k = 2, ranked by cost: representatives m (rank -1), a (rank 0, before b);
    # most expensive i (2.0, on the window's end, which the page counts), j (a span's 1.0).
    request = gate_request(evidence=2, evidence_measures=frozenset({"cost"}))
    live, _ = traces.load(request)
    pool = {m.item_id: m for m in live.latest.clusters[0].candidates}
    assert list(pool) == ["m", "a", "i", "j"]  # rank order
    # a: 0.25 + "0.5"; latency the max (ui); tokens 10 + 5 + "20" + 5; one error event.
    assert pool["a"].values == ItemValues(cost=0.75, latency=5.0, tokens=40.0, errors=1)
    assert pool["j"].values == ItemValues(cost=1.0, latency=0.0, tokens=0.0, errors=1)
    assert pool["a"].timestamp == "2026-11-10T10:00:00.123456+00:00"
    assert pool["a"].rank == 0 and pool["a"].trace_id == "a"


def test_the_workflow_pool_by_hand(traces: Both) -> None:
    # The job excludes the window's end (i) and spans' cost (j): the most expensive are
    # a, b, c, k at 0.75 each; ties go to the smaller ids, a and b.
    request = gate_request(evidence=2, evidence_measures=frozenset({"cost"}), semantics="workflow")
    live, _ = traces.load(request)
    pool = {m.item_id: m for m in live.latest.clusters[0].candidates}
    assert list(pool) == ["m", "a", "b"]
    # a: latency sums the generations under workflow.
    assert pool["a"].values == ItemValues(cost=0.75, latency=7.0, tokens=40.0, errors=1)


def test_odd_entries_read_as_absent(traces: Both) -> None:
    request = gate_request(evidence=20)
    live, _ = traces.load(request)
    pool = {m.item_id: m for m in live.latest.clusters[0].candidates}
    # No rank, true, a null entry, 1.5, 1e300, 2**60: unranked; 1.0 is rank 1.
    assert [pool[x].rank for x in "cekxyz"] == [None] * 6
    assert pool["d"].rank == 1
    assert pool["k"] == Member("k", values=pool["k"].values)  # null entry: only its values
    assert pool["l"].timestamp == "" and pool["l"].trace_id == ""  # numbers, not strings
    assert pool["g"].values is None and pool["h"].values is None  # no event in the window
    assert pool["f"].values == ItemValues()  # events, every value 0


def test_without_stats_the_pool_is_representatives_without_values(traces: Both) -> None:
    request = gate_request(stats=frozenset(), evidence_measures=frozenset(), evidence=2)
    live, snap = traces.load(request)
    assert pools(live) == pools(snap)
    assert [m.item_id for m in live.latest.clusters[0].candidates] == ["m", "a"]
    assert all(m.values is None for p in pools(live) for m in p)


# -- links ----------------------------------------------------------------------------------

CHECKS = """
version: 1
source:
  posthog: {host: https://eu.posthog.com, project_id: 42, api_key: phx_unused}
run: {level: LEVEL, lookback: 14d}
report: {evidence: 2}
checks:
  - {metric: avg_cost_usd, max: 0.0001}
  - {metric: error_rate, max: 0%}
  - {metric: p95_latency_s, max: 0.01}
  - {metric: avg_tokens, max: 1}
  - {metric: size, max: 1}
"""


@pytest.mark.parametrize("level", ["trace", "generation"])
def test_the_evidence_shown_and_its_links_equal_the_snapshots(
    traces: Both, generations: Both, tmp_path: Path, level: Level
) -> None:
    config = parse_config(CHECKS.replace("LEVEL", level), filename="checks.yaml")
    both = traces if level == "trace" else generations
    live, snap = both.load(gate_request(level, evidence=2))
    shown = []
    for loaded in (live, snap):
        outcome = evaluate_gate(
            config,
            tmp_path / "checks.yaml",
            loaded,
            Options(),
            "source",
            link_builder(config),
            {},
            item_link_builder(config),
        )
        shown.append([(r.cluster_id, r.evidence) for res in outcome.results for r in res.clusters])
    assert shown[0] == shown[1]
    urls = [e.url for _, evidence in shown[0] for e in evidence]
    assert len(urls) >= 4
    base = "https://eu.posthog.com/project/42/ai-observability/traces/"
    if level == "generation":
        assert f"{base}trace-1?tab=summary&event={G['p']}&timestamp=" in str(urls)
    else:
        assert f"{base}a?tab=summary&timestamp=2026-11-10T10%3A00%3A00.123Z" in urls


# -- what the query carries -----------------------------------------------------------------


_TRACES_ENTRIES = "JSONExtractKeysAndValuesRaw(cluster_json, 'traces')"


def test_evidence_off_the_query_carries_none_of_it(traces: Both) -> None:
    for request in (gate_request(evidence=0), gate_request(evidence=0, stats=frozenset())):
        live, _ = traces.load(request)
        assert not any(pools(live))
        (body,) = traces.capture.bodies
        assert "evidence" not in body["query"]["values"]
        text = body["query"]["query"]
        # the `traces` entries (rank, timestamp, ids) are not read
        assert "evidence" not in text and _TRACES_ENTRIES not in text
    traces.load(gate_request(evidence=3))
    (body,) = traces.capture.bodies
    assert body["query"]["values"]["evidence"] == 3  # k travels as a value
    assert _TRACES_ENTRIES in body["query"]["query"]


# -- bytes: clusters x k, never items -------------------------------------------------------


def sized_rows(per_cluster: int) -> list[Row]:
    """Three clusters of `per_cluster` items, one generation each (fixed-width ids and
    values, so bytes compare), one item in seven errored."""
    rows: list[Row] = []
    clusters = []
    for c in range(3):
        traces: dict[str, Row | None] = {}
        for i in range(per_cluster):
            item = f"t{c}-{i:06d}"
            traces[item] = entry(i, trace=item)
            cost = 0.1 + ((i * 7919) % 1000) / 100_000
            rows.append(gen(item, round(cost, 5), 1.5, error=i % 7 == 0))
        clusters.append(cluster(c, traces))
    return [*rows, run_event(TRACE_RUN, "trace", clusters)]


def evidence_bytes(per_cluster: int, tmp: Path) -> int:
    """How many more bytes the live answer takes with k = 3 than with k = 0."""
    tmp.mkdir()
    both = Both(sized_rows(per_cluster), tmp)
    try:
        sizes, texts = [], []
        for k in (0, 3):
            live, snap = both.load(gate_request(evidence=k))
            assert pools(live) == pools(snap)
            (query,) = both.standin.query_requests()
            sizes.append(query.response_bytes)
            texts.append(len(both.capture.bodies[0]["query"]["query"]))
        assert all(len(p) <= 3 * (1 + len(MEASURES)) for p in pools(live))
    finally:
        both.close()
    added = sizes[1] - sizes[0]
    # 3 clusters x (rank + 4 measures) x 3 items, each well under 200 bytes, plus the
    # longer query text the answer echoes (PostHog echoes its HogQL and ClickHouse texts).
    assert 0 < added < 3 * 5 * 3 * 200 + 3 * (texts[1] - texts[0])
    return added


def test_evidence_bytes_follow_clusters_times_k(tmp_path: Path) -> None:
    # Both sizes in one test, so the comparison runs whole under -k and any xdist split.
    added = {n: evidence_bytes(n, tmp_path / f"{n}-items") for n in (100, 1500)}
    # 15x the items, the same evidence bytes (give or take a digit).
    assert abs(added[1500] - added[100]) < 0.01 * added[100]
