"""--llmc-record: the rows a gate used, saved as a snapshot that replays to the same results
and holds nothing the metrics do not read."""

from __future__ import annotations

import copy
import gzip
import itertools
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from standin import StandIn
from standin.checks import bounded_scans  # noqa: F401  (autouse: unbounded scans fail)

from llmc_checks import record as record_mod
from llmc_checks.config import PostHogSource as PostHogConfig
from llmc_checks.model import (
    CLUSTER_EVENTS,
    MEASURES,
    SEMANTICS,
    STAT_FIELDS,
    BaselineRequest,
    LlmcError,
    Loaded,
    Run,
    RunRequest,
    SourceError,
)
from llmc_checks.record import AI_PROPERTIES, DISTINCT_ID, ITEM_FIELDS, RUN_PROPERTIES, record
from llmc_checks.sources import _hogql
from llmc_checks.sources.posthog import PostHogSource
from llmc_checks.sources.snapshot import SNAPSHOT_MARKER, SnapshotSource
from llmc_checks.synth import Job, Scenario, Synth, generate, write_rows

KEY = "phx_record_SECRET_9876"
PREVIOUS = BaselineRequest("previous")
MEDIAN_3 = BaselineRequest("median_of", count=3)
ALL = frozenset(STAT_FIELDS)
SYNTH: Synth = generate(
    Scenario(
        seed=8,
        days=5,
        traces_per_day=120,
        max_samples=500,
        extra_jobs=(
            Job("generation", "gen-job", "Default - generations"),
            Job("evaluation", "eval-job", "Default - evaluations"),
        ),
        clusters_as_string=0.5,
        duplicate_emission=0.5,
    )
)
NOW = max(r.window_end for r in SYNTH.runs) + timedelta(hours=5)


def request(level: str = "trace", **kw: Any) -> RunRequest:
    base: dict[str, Any] = {
        "level": level,
        "job": None,
        "lookback": timedelta(days=14),
        "stats": ALL if level != "evaluation" else frozenset({"avg_cost_usd"}),
        "baselines": (PREVIOUS, MEDIAN_3),
        "need_items": True,
    }
    return RunRequest(**{**base, **kw})


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with StandIn(SYNTH.rows, api_key=KEY) as s:
        yield s


@pytest.fixture
def live(standin: StandIn) -> Iterator[PostHogSource]:
    config = PostHogConfig(host=standin.url, project_id=1, api_key=KEY)
    source = PostHogSource(config, clock=lambda: NOW, sleep=lambda s: None)
    yield source
    source.close()


def _same(va: float | None, vb: float | None) -> bool:
    return va == vb or (va is not None and vb is not None and math.isclose(va, vb, rel_tol=1e-12))


def assert_same_runs(a: Run, b: Run) -> None:
    """Equal, with stats and evidence values within 1e-12 (a recording holds the AI events
    in uuid order, so Python adds an item's costs in another order than ClickHouse)."""
    for ca, cb in zip(a.clusters, b.clusters, strict=True):
        assert [replace(m, values=None) for m in ca.candidates] == [
            replace(m, values=None) for m in cb.candidates
        ]
        for ma, mb in zip(ca.candidates, cb.candidates, strict=True):
            assert (ma.values is None) == (mb.values is None), ma.item_id
            if ma.values is not None and mb.values is not None:
                for measure in MEASURES:
                    assert _same(ma.values.of(measure), mb.values.of(measure)), ma.item_id
        assert (ca.stats is None) == (cb.stats is None)
        if ca.stats is None or cb.stats is None:
            continue
        for name in STAT_FIELDS:
            va, vb = ca.stats.value(name), cb.stats.value(name)
            assert _same(va, vb), (a.run_id, ca.cluster_id, name)
    no_stats = [
        replace(r, clusters=tuple(replace(c, stats=None, candidates=()) for c in r.clusters))
        for r in (a, b)
    ]
    assert no_stats[0] == no_stats[1]


def assert_same(a: Loaded, b: Loaded) -> None:
    assert a.now == b.now
    assert_same_runs(a.latest, b.latest)
    assert a.baselines.keys() == b.baselines.keys()
    for spec, runs in a.baselines.items():
        assert [r.run_id for r in runs] == [r.run_id for r in b.baselines[spec]]
        for ra, rb in zip(runs, b.baselines[spec], strict=True):
            assert_same_runs(ra, rb)
    # Trend runs carry baked stats only: equal exactly, not just within rounding.
    assert a.history == b.history


def read_rows(path: Path) -> list[dict[str, Any]]:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    assert KEY.encode() not in data
    return [orjson.loads(line) for line in data.splitlines()]


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
@pytest.mark.parametrize("level", ["trace", "generation", "evaluation"])
def test_a_live_recording_replays_to_the_same_results(
    live: PostHogSource, standin: StandIn, tmp_path: Path, level: str, semantics: str
) -> None:
    # Evidence too: the recording replays each cluster's candidates, values included.
    req = request(level, semantics=semantics, evidence=3, evidence_measures=frozenset(MEASURES))
    loaded = live.load(req)
    assert all(c.candidates for c in loaded.latest.clusters)
    standin.clear_log()
    path = tmp_path / "gate.jsonl.gz"
    written = record(live, req, loaded, path)
    names = [r.name for r in standin.requests]
    assert names[0] == "llmc-export-runs" and all(n and n.startswith("llmc-export") for n in names)
    rows = read_rows(path)
    assert written == len(rows)
    replayed = SnapshotSource(path).load(req)
    assert_same(loaded, replayed)
    # run_age_hours replays: the marker carries the live clock.
    assert rows[-1]["event"] == SNAPSHOT_MARKER and replayed.now == NOW
    # Without item ids (no matching), the same numbers.
    lean = replace(req, need_items=False)
    assert_same(_without_items(live.load(lean)), _without_items(SnapshotSource(path).load(lean)))
    # A recording keeps what either semantics reads (spans, events at the window end).
    other = replace(req, semantics="workflow" if semantics == "ui" else "ui")
    assert_same(live.load(other), SnapshotSource(path).load(other))


@pytest.mark.parametrize("level", ["trace", "generation"])
def test_an_ai_event_stored_twice_replays_as_live_counts_it(tmp_path: Path, level: str) -> None:
    """PostHog's events table can hold one event twice (one uuid, two rows, until
    ClickHouse merges them); the live queries, like PostHog's own page, count both. The
    recording had kept one copy (LIMIT 1 BY uuid), so the replay's costs, latencies and
    tokens differed from the live gate's for that event's cluster."""
    run = SYNTH.latest(level)
    members = {item for cluster in run.clusters for item in cluster.item_ids}
    key = "$ai_trace_id" if level == "trace" else None

    def member(row: dict[str, Any]) -> bool:
        item = row["properties"].get(key) if key else row["uuid"]
        window = run.window_start.isoformat() < row["timestamp"] < run.window_end.isoformat()
        return row["event"] == "$ai_generation" and item in members and window

    twice = [r for r in SYNTH.rows if member(r)][:3]
    assert len(twice) == 3
    rows = [*SYNTH.rows, *(copy.deepcopy(r) for r in twice)]
    req = request(level, baselines=(PREVIOUS,))
    with StandIn(rows, api_key=KEY) as s:
        config = PostHogConfig(host=s.url, project_id=1, api_key=KEY)
        live = PostHogSource(config, clock=lambda: NOW, sleep=lambda s: None)
        for semantics in ("ui", "workflow"):
            loaded = live.load(replace(req, semantics=semantics))
            path = tmp_path / f"{semantics}.jsonl.gz"
            record(live, req, loaded, path)
            recorded = [r["uuid"] for r in read_rows(path)]
            assert all(recorded.count(r["uuid"]) == 2 for r in twice)
            assert_same(loaded, SnapshotSource(path).load(replace(req, semantics=semantics)))
        live.close()


def _without_items(loaded: Loaded) -> Loaded:
    def strip(run: Run) -> Run:
        return replace(run, clusters=tuple(replace(c, item_ids=()) for c in run.clusters))

    return Loaded(
        now=loaded.now,
        latest=strip(loaded.latest),
        baselines={k: tuple(strip(r) for r in v) for k, v in loaded.baselines.items()},
        history=loaded.history,
    )


def test_a_recording_holds_only_what_the_metrics_read(live: PostHogSource, tmp_path: Path) -> None:
    req = request()
    loaded = live.load(req)
    path = tmp_path / "gate.jsonl"
    record(live, req, loaded, path)
    text = path.read_text()
    private_texts = ("$ai_model", "$ai_provider", "$ai_span_name", "user-0", "gpt-4o")
    for private in (*private_texts, '"centroid"', '"centroid_x"'):
        assert private not in text
    rows = read_rows(path)
    selected = {loaded.latest.run_id, *(r.run_id for v in loaded.baselines.values() for r in v)}
    seen_runs = set()
    for row in rows:
        assert row["distinct_id"] == DISTINCT_ID
        props = row["properties"]
        if row["event"] in CLUSTER_EVENTS:
            assert set(props) <= RUN_PROPERTIES
            seen_runs.add(props["$ai_clustering_run_id"])
            for cluster in props["$ai_clusters"]:
                for entry in cluster["traces"].values():
                    # What evidence replays (rank, timestamp, trace and generation ids).
                    assert set(entry) <= ITEM_FIELDS
        elif row["event"] != SNAPSHOT_MARKER:
            assert set(props) <= AI_PROPERTIES
    assert seen_runs == selected  # the gate's runs, and no others


def test_recording_pages_through_large_answers(
    live: PostHogSource, standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = request()
    loaded = live.load(req)
    monkeypatch.setattr(_hogql, "EXPORT_CLUSTER_PAGE", 1)
    monkeypatch.setattr(_hogql, "EXPORT_EVENT_PAGE", 400)
    standin.clear_log()
    path = tmp_path / "paged.jsonl.gz"
    record(live, req, loaded, path)
    names = [r.name for r in standin.requests]
    assert names.count("llmc-export-runs") >= 4 and names.count("llmc-export-events") >= 3
    assert_same(loaded, SnapshotSource(path).load(req))


@pytest.mark.parametrize(("run_page", "event_page"), [(3, 400), (2, 250)])
def test_a_recording_costs_one_request_per_page_and_one_more(
    live: PostHogSource,
    standin: StandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_page: int,
    event_page: int,
) -> None:
    """The README's count: floor(R / 10) + 1 run pages and floor(E / 10,000) + 1 event
    pages (R clustering events, E AI events), here with small pages."""
    req = request()
    loaded = live.load(req)
    monkeypatch.setattr(_hogql, "EXPORT_CLUSTER_PAGE", run_page)
    monkeypatch.setattr(_hogql, "EXPORT_EVENT_PAGE", event_page)
    standin.clear_log()
    rows = read_rows(record_to(live, req, loaded, tmp_path / "paged.jsonl"))
    names = [r.name for r in standin.requests]
    # R counted from the generator: every emission of the gate's runs, trend runs included.
    runs = {loaded.latest.run_id, *(r.run_id for v in loaded.baselines.values() for r in v)}
    runs |= {r.run_id for r in loaded.history}
    emissions = sum(
        1
        for row in SYNTH.rows
        if row["event"] in CLUSTER_EVENTS and row["properties"]["$ai_clustering_run_id"] in runs
    )
    assert emissions == sum(1 for r in rows if r["event"] in CLUSTER_EVENTS)
    ai_events = sum(1 for r in rows if r["event"] not in (*CLUSTER_EVENTS, SNAPSHOT_MARKER))
    assert ai_events > 2 * event_page
    assert names.count("llmc-export-runs") == emissions // run_page + 1
    assert names.count("llmc-export-events") == ai_events // event_page + 1
    assert len(names) == emissions // run_page + ai_events // event_page + 2


def record_to(live: PostHogSource, req: RunRequest, loaded: Loaded, path: Path) -> Path:
    record(live, req, loaded, path)
    return path


@pytest.mark.parametrize("history", [0, 3, 8])
def test_a_snapshot_recording_replays_exactly(tmp_path: Path, history: int) -> None:
    source_path = tmp_path / "all.jsonl"
    write_rows(SYNTH.rows, source_path)
    source = SnapshotSource(source_path)
    for level, semantics in itertools.product(("trace", "generation", "evaluation"), SEMANTICS):
        for req in (
            request(level, history=history, semantics=semantics),
            request(level, history=history, baselines=(), semantics=semantics),
        ):
            loaded = source.load(req)
            assert len(loaded.history) == min(history, 5)
            path = tmp_path / f"{level}.jsonl.gz"
            assert record(source, req, loaded, path) < len(SYNTH.rows)
            assert SnapshotSource(path).load(req) == loaded


def test_a_recording_replays_the_same_evidence(tmp_path: Path) -> None:
    source_path = tmp_path / "all.jsonl"
    write_rows(SYNTH.rows, source_path)
    source = SnapshotSource(source_path)
    for level in ("trace", "generation", "evaluation"):
        req = request(level, evidence=3, evidence_measures=frozenset(MEASURES))
        loaded = source.load(req)
        pools = [c.candidates for c in loaded.latest.clusters]
        assert all(pools) and all(len(p) <= 3 * (1 + len(MEASURES)) for p in pools)
        valued = [m.values is not None for p in pools for m in p]
        assert any(valued) == (level != "evaluation")
        path = tmp_path / f"{level}.jsonl.gz"
        record(source, req, loaded, path)
        assert SnapshotSource(path).load(req) == loaded


# -- history: trend runs are recorded, headers and baked metrics are all they need ----------


def _recorded_runs(rows: list[dict[str, Any]]) -> set[str]:
    return {r["properties"]["$ai_clustering_run_id"] for r in rows if r["event"] in CLUSTER_EVENTS}


def _ai_uuids(rows: list[dict[str, Any]]) -> set[str]:
    return {
        r["uuid"]
        for r in rows
        if r["event"] not in CLUSTER_EVENTS and r["event"] != SNAPSHOT_MARKER
    }


@pytest.mark.parametrize("level", ["trace", "generation"])
def test_a_live_recording_replays_the_same_history(
    live: PostHogSource, standin: StandIn, tmp_path: Path, level: str
) -> None:
    plain = request(level, baselines=(PREVIOUS,))
    with_history = replace(plain, history=8)
    loaded = live.load(with_history)
    assert len(loaded.history) == 5  # every run of the job, oldest first
    selected = {loaded.latest.run_id, *(r.run_id for v in loaded.baselines.values() for r in v)}
    history_ids = {r.run_id for r in loaded.history}
    assert history_ids - selected  # some trend runs are not gate runs
    standin.clear_log()
    path = tmp_path / "history.jsonl.gz"
    record(live, with_history, loaded, path)
    names = [r.name for r in standin.requests]
    assert set(names) == {"llmc-export-runs", "llmc-export-events"}
    rows = read_rows(path)
    assert _recorded_runs(rows) == selected | history_ids
    replayed = SnapshotSource(path).load(with_history)
    assert_same(loaded, replayed)
    assert [r.run_id for r in replayed.history] == [r.run_id for r in loaded.history]
    # AI events: those of the gate's runs only, as a recording without history holds.
    plain_path = tmp_path / "plain.jsonl.gz"
    record(live, plain, live.load(plain), plain_path)
    assert _ai_uuids(rows) == _ai_uuids(read_rows(plain_path))


def test_a_snapshot_recording_keeps_ai_events_of_gate_runs_only(tmp_path: Path) -> None:
    source_path = tmp_path / "all.jsonl"
    write_rows(SYNTH.rows, source_path)
    source = SnapshotSource(source_path)
    plain = request(baselines=())
    with_history = replace(plain, history=8)
    loaded = source.load(with_history)
    rows: dict[int, list[dict[str, Any]]] = {}
    for history, req in ((0, plain), (8, with_history)):
        path = tmp_path / f"h{history}.jsonl"
        record(source, req, source.load(req), path)
        rows[history] = read_rows(path)
    assert _recorded_runs(rows[8]) == {r.run_id for r in loaded.history}
    assert _recorded_runs(rows[0]) == {loaded.latest.run_id}
    assert _ai_uuids(rows[8]) == _ai_uuids(rows[0])


def test_a_failed_recording_leaves_no_file(
    live: PostHogSource, standin: StandIn, tmp_path: Path
) -> None:
    req = request()
    loaded = live.load(req)
    standin.inject("503", times=4, query_name="llmc-export-events")
    with pytest.raises(SourceError, match="answered 503 4 times"):
        record(live, req, loaded, tmp_path / "gate.jsonl.gz")
    assert list(tmp_path.iterdir()) == []


def test_only_jsonl_paths(live: PostHogSource, tmp_path: Path) -> None:
    loaded = live.load(request(baselines=()))
    with pytest.raises(LlmcError, match=r"expected a \.jsonl or \.jsonl\.gz path"):
        record(live, request(), loaded, tmp_path / "gate.csv")


def test_trim_row_keeps_the_replayable_shape() -> None:
    row = {
        "uuid": "u",
        "event": "$ai_generation",
        "timestamp": "2026-11-15T00:00:00Z",
        "distinct_id": "alice@example.com",
        "properties": orjson.dumps({"$ai_input": "secret prompt", "$ai_latency": "1.5"}).decode(),
    }
    assert record_mod.trim_row(row) == {
        "uuid": "u",
        "event": "$ai_generation",
        "timestamp": "2026-11-15T00:00:00Z",
        "distinct_id": "llmc",
        "properties": {"$ai_latency": "1.5"},
    }
    marker = record_mod.marker(Loaded(now=NOW, latest=_any_run()))
    assert marker["event"] == SNAPSHOT_MARKER and marker["timestamp"] == NOW.isoformat()


def _any_run() -> Run:
    return Run(
        run_id="r",
        level="trace",
        job_id="",
        job_name="",
        window_start=datetime(2026, 11, 1),
        window_end=datetime(2026, 11, 8),
        items_analyzed=0,
        clusters=(),
    )
