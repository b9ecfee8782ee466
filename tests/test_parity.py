"""Parity: the live source (HogQL on ClickHouse, through the stand-in) and the snapshot
source (Python) read the same generated rows and must select the same runs and report
the same per-cluster numbers.

The data carries every trap synth knows (string numbers, "true" error flags, spans with
costs, events exactly on window edges, items without events, legacy runs, `$ai_clusters`
as a string, duplicate emissions), at thousands of items per run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from standin import StandIn
from standin.checks import bounded_scans  # noqa: F401  (autouse: unbounded scans fail)

from llmc_checks import metrics
from llmc_checks._values import parse_timestamp
from llmc_checks.config import PostHogSource as PostHogConfig
from llmc_checks.model import MEASURES, STAT_FIELDS, BaselineRequest, Loaded, Run, RunRequest
from llmc_checks.sources.posthog import PostHogSource
from llmc_checks.sources.snapshot import SNAPSHOT_MARKER, SnapshotSource
from llmc_checks.synth import DEFAULT_JOB_ID, Job, RunTruth, Scenario, Synth, generate, write_rows

KEY = "phx_parity_key"
GEN_JOB = Job("generation", "gen-job-1", "Default - generations")
EVAL_JOB = Job("evaluation", "eval-job-1", "Default - evaluations")
PREVIOUS = BaselineRequest("previous")
MEDIAN_3 = BaselineRequest("median_of", count=3)
ALL_STATS = frozenset(STAT_FIELDS)
BAKEABLE = frozenset({"avg_cost_usd", "error_rate", "item_count"})
# Evidence as a gate asks for it: 3 items of each kind, every measure a check can rank by.
EVIDENCE = {"evidence": 3, "evidence_measures": frozenset(MEASURES)}


class World:
    """One generated project served both ways: a stand-in and a snapshot file."""

    def __init__(self, synth: Synth, standin: StandIn, snapshot: Path, now: datetime) -> None:
        self.synth = synth
        self.standin = standin
        self.snapshot = SnapshotSource(snapshot)
        self.now = now
        self.live = PostHogSource(
            PostHogConfig(host=standin.url, project_id=1, api_key=KEY),
            clock=lambda: now,
            sleep=_no_sleep,
        )

    def both(self, request: RunRequest) -> tuple[Loaded, Loaded]:
        self.standin.clear_log()
        live = self.live.load(request)
        assert len(self.standin.query_requests()) <= 2
        return live, self.snapshot.load(request)

    def queries(self) -> list[str | None]:
        """The names of the queries the last `both` sent."""
        return [r.name for r in self.standin.query_requests()]

    def runs_of(self, level: str, job_id: str) -> list[str]:
        """Run ids of one level and job, oldest first (synth's ground truth)."""
        runs = [r for r in self.synth.runs if r.level == level and r.job_id == job_id]
        return [r.run_id for r in sorted(runs, key=lambda r: r.window_end)]


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"no retry expected here (asked to sleep {seconds} s)")


def _world(tmp: Path, scenario: Scenario) -> Iterator[World]:
    synth = generate(scenario)
    rows = synth.rows
    # The snapshot's clock is its marker; the live source gets the same instant.
    now = max(parse_timestamp(r["timestamp"]) for r in rows) + timedelta(hours=1)
    marker = {
        "uuid": "00000000-0000-4000-8000-000000000000",
        "event": SNAPSHOT_MARKER,
        "timestamp": now.isoformat(),
        "distinct_id": "llmc",
        "properties": {},
    }
    path = tmp / "events.jsonl.gz"
    write_rows([*rows, marker], path)
    with StandIn(path, api_key=KEY, project_id=1) as standin:
        world = World(synth, standin, path, now)
        yield world
        world.live.close()


@pytest.fixture(scope="module")
def traps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Trace + generation + evaluation jobs, baked metrics, every shape variant."""
    scenario = Scenario(
        seed=11,
        days=6,
        traces_per_day=420,
        max_samples=2500,
        extra_jobs=(GEN_JOB, EVAL_JOB),
        legacy_runs=1,
        clusters_as_string=0.3,
        duplicate_emission=0.3,
    )
    yield from _world(tmp_path_factory.mktemp("traps"), scenario)


@pytest.fixture(scope="module")
def unbaked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Runs without baked metrics: every stat comes from events."""
    scenario = Scenario(seed=5, days=4, traces_per_day=500, max_samples=3000, baked_metrics=False)
    yield from _world(tmp_path_factory.mktemp("unbaked"), scenario)


# -- comparison ----------------------------------------------------------------------------


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def assert_same_run(live: Run, snap: Run, *, items: bool) -> None:
    """Same headers and clusters; same stats to 1e-9 (ClickHouse adds in another order)."""
    assert len(live.clusters) == len(snap.clusters)
    for lc, sc in zip(live.clusters, snap.clusters, strict=True):
        assert (lc.stats is None) == (sc.stats is None), lc.cluster_id
        if lc.stats is not None and sc.stats is not None:
            for name in STAT_FIELDS:
                lv, sv = lc.stats.value(name), sc.stats.value(name)
                assert _close(lv, sv), (live.run_id, lc.cluster_id, name, lv, sv)
        if not items:
            assert lc.item_ids == ()
    strip = replace(live, clusters=tuple(replace(c, stats=None) for c in live.clusters))
    other = replace(
        snap,
        clusters=tuple(
            replace(c, stats=None, item_ids=c.item_ids if items else ()) for c in snap.clusters
        ),
    )
    assert strip == other


def assert_same(live: Loaded, snap: Loaded, request: RunRequest) -> None:
    assert live.now == snap.now
    # Evidence (the latest run's candidates) is compared exactly by assert_same_run:
    # the same items, ranks, timestamps, ids and per-item values, bit for bit.
    pools = [c.candidates for c in live.latest.clusters]
    assert all(pools) if request.evidence else not any(pools)
    assert_same_run(live.latest, snap.latest, items=request.need_items)
    assert live.baselines.keys() == snap.baselines.keys() == set(request.baselines)
    for spec in request.baselines:
        lruns, sruns = live.baselines[spec], snap.baselines[spec]
        assert [r.run_id for r in lruns] == [r.run_id for r in sruns], spec
        for lr, sr in zip(lruns, sruns, strict=True):
            assert_same_run(lr, sr, items=request.need_items)
    assert_same_history(live, snap, request)


def assert_same_history(live: Loaded, snap: Loaded, request: RunRequest) -> None:
    """The trend runs: identical, bit for bit (both read the same baked JSON numbers)."""
    assert [r.run_id for r in live.history] == [r.run_id for r in snap.history]
    assert live.history == snap.history
    assert len(live.history) <= request.history
    for run in live.history:
        for cluster in run.clusters:
            assert cluster.item_ids == ()
            usable = cluster.baked is not None and (
                request.semantics == "workflow" or run.level == "evaluation"
            )
            expected = metrics.baked_stats(cluster.baked) if usable and cluster.baked else None
            # Baked stats only, never event stats; under "ui" none (baked are the job's).
            assert cluster.stats == expected
    if request.history:
        assert live.history[-1].run_id == live.latest.run_id


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _request(level: str = "trace", **kw: object) -> RunRequest:
    base: dict[str, object] = {"level": level, "job": None, "lookback": timedelta(days=14)}
    return RunRequest(**{**base, **kw})  # type: ignore[arg-type]


# -- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_trace_level_every_stat_from_events_with_all_baseline_kinds(
    traps: World, semantics: str
) -> None:
    legacy = next(r.run_id for r in traps.synth.runs if r.legacy)
    request = _request(
        stats=ALL_STATS,  # p95 is never baked: events for every run
        baselines=(PREVIOUS, MEDIAN_3, BaselineRequest("run_id", run_id=legacy)),
        semantics=semantics,
        **EVIDENCE,
    )
    live, snap = traps.both(request)
    assert_same(live, snap, request)
    assert live.latest.items_analyzed >= 2000
    assert len(live.baselines[MEDIAN_3]) == 3
    assert live.baselines[BaselineRequest("run_id", run_id=legacy)][0].job_id == ""
    assert all(c.stats is not None and c.stats.p95_latency_s for c in live.latest.clusters)


def test_baked_metrics_are_used_when_they_suffice(traps: World) -> None:
    # Evidence still values its items from events (query 1 reads them anyway).
    request = _request(stats=BAKEABLE, baselines=(PREVIOUS,), semantics="workflow", **EVIDENCE)
    live, snap = traps.both(request)
    assert_same(live, snap, request)
    assert all(m.values is not None for m in live.latest.clusters[0].candidates[:1])
    baked, stats = live.latest.clusters[0].baked, live.latest.clusters[0].stats
    assert baked is not None and stats is not None
    assert stats.avg_cost_usd == baked["avg_cost_usd"]
    assert stats.p95_latency_s is None  # never baked: proof no event was read


def test_baked_metrics_never_stand_in_for_the_pages_numbers(traps: World) -> None:
    request = _request(stats=BAKEABLE, baselines=(PREVIOUS,), semantics="ui")
    live, snap = traps.both(request)
    assert_same(live, snap, request)
    truth = traps.synth.run(live.latest.run_id)
    for cluster in live.latest.clusters:
        stats, expected = cluster.stats, truth.cluster(cluster.cluster_id)
        assert stats is not None and stats.p95_latency_s is not None  # read from events
        assert _close(stats.avg_cost_usd, _float(expected.metrics_ui["avg_cost"]))
        assert stats.avg_cost_usd != (cluster.baked or {})["avg_cost_usd"]


def test_one_unbaked_baseline_moves_every_run_to_events(traps: World) -> None:
    # The legacy run has no baked metrics: the snapshot source then computes every
    # run from events, the latest too; the live source must follow (query 2 re-reads it).
    legacy = next(r.run_id for r in traps.synth.runs if r.legacy)
    request = _request(
        stats=BAKEABLE,
        baselines=(BaselineRequest("run_id", run_id=legacy),),
        semantics="workflow",
    )
    live, snap = traps.both(request)
    assert_same(live, snap, request)
    stats = live.latest.clusters[0].stats
    assert stats is not None and stats.p95_latency_s is not None  # computed from events


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_generation_level(traps: World, semantics: str) -> None:
    request = _request(
        "generation",
        stats=ALL_STATS,
        baselines=(PREVIOUS, MEDIAN_3),
        semantics=semantics,
        **EVIDENCE,
    )
    live, snap = traps.both(request)
    assert_same(live, snap, request)
    assert live.latest.level == "generation" and live.latest.items_analyzed >= 1000


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_evaluation_level_reads_baked_metrics_only(traps: World, semantics: str) -> None:
    # Evidence: representatives only (no AI events, so no per-item values).
    request = _request(
        "evaluation", stats=BAKEABLE, baselines=(PREVIOUS,), semantics=semantics, evidence=2
    )
    live, snap = traps.both(request)
    assert_same(live, snap, request)
    assert all(m.values is None for c in live.latest.clusters for m in c.candidates)
    for cluster in live.latest.clusters:
        assert cluster.stats == metrics.baked_stats(cluster.baked or {})


def test_item_ids_and_job_by_name_and_id(traps: World) -> None:
    for job in ("Default - generations", "gen-job-1"):
        request = _request("generation", job=job, need_items=True, baselines=(PREVIOUS,))
        live, snap = traps.both(request)
        assert_same(live, snap, request)
        assert sum(len(c.item_ids) for c in live.latest.clusters) == live.latest.items_analyzed


def test_pinned_run_and_after(traps: World) -> None:
    runs = sorted((r for r in traps.synth.runs if r.level == "trace"), key=lambda r: r.window_end)
    pinned = _request(
        run_id=runs[2].run_id, stats=ALL_STATS, baselines=(PREVIOUS, MEDIAN_3), **EVIDENCE
    )
    live, snap = traps.both(pinned)
    assert_same(live, snap, pinned)
    assert live.latest.run_id == runs[2].run_id
    after = _request(after=runs[-2].window_end, stats=ALL_STATS)
    live, snap = traps.both(after)
    assert_same(live, snap, after)
    assert live.latest.run_id == runs[-1].run_id


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_unbaked_runs_every_stat_and_matching_items(unbaked: World, semantics: str) -> None:
    request = _request(
        stats=ALL_STATS,
        need_items=True,
        baselines=(PREVIOUS, MEDIAN_3),
        semantics=semantics,
        **EVIDENCE,
    )
    live, snap = unbaked.both(request)
    assert_same(live, snap, request)
    assert live.latest.items_analyzed == 3000
    assert all(c.baked is None for c in live.latest.clusters)
    # The ground truth agrees too (synth computes PostHog's numbers independently).
    truth = unbaked.synth.latest()
    for cluster in live.latest.clusters:
        expected = truth.cluster(cluster.cluster_id).metrics_for(request.semantics)
        assert cluster.stats is not None
        assert cluster.stats.item_count == expected["item_count"]
        assert _close(cluster.stats.p95_latency_s, expected["p95_latency"])
        assert _close(cluster.stats.total_cost_usd, expected["total_cost"])


def test_no_stats_requested_reads_no_metrics(unbaked: World) -> None:
    # Evidence without stats: representatives, without per-item values.
    request = _request(baselines=(PREVIOUS,), evidence=3)
    live, snap = unbaked.both(request)
    assert_same(live, snap, request)
    assert all(m.values is None for c in live.latest.clusters for m in c.candidates)
    assert all(c.stats is None for c in live.latest.clusters)


# -- history: the recent runs trend lines draw ---------------------------------------------

HISTORY = 8


@pytest.mark.parametrize("level", ["trace", "generation", "evaluation"])
@pytest.mark.parametrize(
    ("history", "semantics"), [(3, "ui"), (HISTORY, "ui"), (HISTORY, "workflow")]
)
def test_history_matches_the_snapshot_in_the_same_two_queries(
    traps: World, level: str, history: int, semantics: str
) -> None:
    stats = BAKEABLE if level == "evaluation" else ALL_STATS
    job_id = {"trace": DEFAULT_JOB_ID, "generation": GEN_JOB.job_id}.get(level, EVAL_JOB.job_id)
    for kw in (
        {},  # trends only: query 2 loads just the trend runs
        {"stats": stats, "baselines": (PREVIOUS, MEDIAN_3), "need_items": True},
        {"stats": stats},
        {"baselines": (PREVIOUS,)},
    ):
        request = _request(level, history=history, semantics=semantics, **kw)
        live, snap = traps.both(request)
        assert traps.queries() == ["llmc-latest", "llmc-baselines"], kw
        assert_same(live, snap, request)
        assert [r.run_id for r in live.history] == traps.runs_of(level, job_id)[-history:]


def test_history_of_a_pinned_run_ends_at_it(traps: World) -> None:
    runs = traps.runs_of("trace", DEFAULT_JOB_ID)
    request = _request(
        run_id=runs[2], stats=ALL_STATS, baselines=(PREVIOUS,), need_items=True, history=HISTORY
    )
    live, snap = traps.both(request)
    assert_same(live, snap, request)
    assert [r.run_id for r in live.history] == runs[:3]


def test_history_of_a_legacy_run_and_next_to_an_unbaked_baseline(traps: World) -> None:
    legacy = next(r.run_id for r in traps.synth.runs if r.legacy)
    # The legacy run (no job id) pinned: its history is the runs without a job id.
    pinned = _request(run_id=legacy, stats=ALL_STATS, history=HISTORY)
    live, snap = traps.both(pinned)
    assert_same(live, snap, pinned)
    assert [r.run_id for r in live.history] == [legacy]
    # An unbaked baseline moves every selected run to events; trend runs keep baked stats.
    request = _request(
        stats=BAKEABLE,
        baselines=(BaselineRequest("run_id", run_id=legacy),),
        history=HISTORY,
        semantics="workflow",
    )
    live, snap = traps.both(request)
    assert traps.queries() == ["llmc-latest", "llmc-baselines"]
    assert_same(live, snap, request)
    latest_stats = live.latest.clusters[0].stats
    assert latest_stats is not None and latest_stats.p95_latency_s is not None  # events
    assert live.history[-1].clusters[0].stats == metrics.baked_stats(
        live.latest.clusters[0].baked or {}
    )


def test_history_of_unbaked_runs_has_no_stats(unbaked: World) -> None:
    request = _request(stats=ALL_STATS, need_items=True, baselines=(PREVIOUS,), history=HISTORY)
    live, snap = unbaked.both(request)
    assert_same(live, snap, request)
    assert len(live.history) == len(unbaked.synth.runs)
    assert all(c.stats is None for r in live.history for c in r.clusters)


@pytest.mark.parametrize(
    "lookback",
    # Daily runs: the run two days back ends exactly on the horizon (counted), one
    # microsecond less leaves it out; three days plus an hour takes one run more.
    [timedelta(days=2), timedelta(days=2, microseconds=-1), timedelta(days=3, hours=1)],
)
def test_baselines_and_history_look_back_one_lookback_from_the_latest(
    traps: World, lookback: timedelta
) -> None:
    request = _request(
        lookback=lookback,
        stats=BAKEABLE,
        baselines=(PREVIOUS, MEDIAN_3),
        history=HISTORY,
        semantics="workflow",
    )
    live, snap = traps.both(request)
    assert_same(live, snap, request)
    runs = [r for r in traps.synth.runs if r.level == "trace" and r.job_id == DEFAULT_JOB_ID]
    latest = max(runs, key=lambda r: r.window_end)
    horizon = latest.window_end - lookback
    inside = [r.run_id for r in sorted(runs, key=lambda r: r.window_end) if r.window_end >= horizon]
    assert [r.run_id for r in snap.history] == inside
    assert [r.run_id for r in snap.baselines[MEDIAN_3]] == inside[-4:-1]
    assert len(inside) < len(runs)  # the horizon leaves runs out


def test_no_history_asked_costs_what_it_did(traps: World) -> None:
    live, snap = traps.both(_request())
    assert traps.queries() == ["llmc-latest"] and live.history == snap.history == ()
    live, snap = traps.both(_request(baselines=(PREVIOUS,)))
    assert traps.queries() == ["llmc-latest", "llmc-baselines"]
    assert live.history == snap.history == ()


# -- both semantics against independent SQL on the same chDB table --------------------------

_TEXT = "JSONExtract(properties, '{key}', 'Nullable(String)')"  # the property's text


def _cast(key: str, kind: str) -> str:
    return f"accurateCastOrNull({_TEXT.format(key=key)}, '{kind}')"


def _independent_sql(run: RunTruth, semantics: str) -> str:
    """PostHog's two per-item queries (DESIGN §1), written out for ClickHouse, then the
    per-cluster arithmetic of the page and the job, p95 by quantileExactInclusive."""
    ui = semantics == "ui"
    costed = "1" if ui else "event IN ('$ai_generation', '$ai_embedding')"
    latency = (
        f"max({_cast('$ai_latency', 'Float64')})"
        if ui
        else f"sumIf({_cast('$ai_latency', 'Float64')}, event = '$ai_generation')"
    )
    before_end = "<=" if ui else "<"
    members = ", ".join(f"('{item}', {c.cluster_id})" for c in run.clusters for item in c.item_ids)
    start = run.window_start.strftime("%Y-%m-%d %H:%M:%S.%f")
    end = run.window_end.strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"""
WITH per_item AS (
    SELECT
        JSONExtractString(properties, '$ai_trace_id') AS item_id,
        sumIf({_cast("$ai_total_cost_usd", "Float64")}, {costed}) AS cost,
        {latency} AS latency,
        ifNull(sumIf({_cast("$ai_input_tokens", "Int64")}, {costed}), 0)
            + ifNull(sumIf({_cast("$ai_output_tokens", "Int64")}, {costed}), 0) AS tokens,
        countIf({_TEXT.format(key="$ai_is_error")} = 'true') AS errors
    FROM events
    WHERE event IN ('$ai_generation', '$ai_embedding', '$ai_span')
        AND timestamp >= toDateTime64('{start}', 6, 'UTC')
        AND timestamp {before_end} toDateTime64('{end}', 6, 'UTC')
    GROUP BY item_id
),
members AS (
    SELECT tupleElement(m, 1) AS item_id, tupleElement(m, 2) AS cluster_id
    FROM (SELECT arrayJoin([{members}]) AS m)
)
SELECT
    cluster_id,
    count() AS item_count,
    countIf(errors > 0) AS error_count,
    avgIf(cost, cost > 0) AS avg_cost,
    sumIf(cost, cost > 0) AS total_cost,
    avgIf(latency, latency > 0) AS avg_latency,
    quantileExactInclusiveIf(0.95)(latency, latency > 0) AS p95_latency,
    avgIf(tokens, tokens > 0) AS avg_tokens
FROM members INNER JOIN per_item USING (item_id)
GROUP BY cluster_id
ORDER BY cluster_id
"""


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_both_sources_equal_independent_sql_under_both_semantics(
    traps: World, semantics: str
) -> None:
    request = _request(stats=ALL_STATS, semantics=semantics)
    live, snap = traps.both(request)
    truth = traps.synth.run(live.latest.run_id)
    result = traps.standin.engine.execute(
        _independent_sql(truth, semantics), max_execution_time=120
    )
    rows = {int(r[0]): dict(zip(result.columns, r, strict=True)) for r in result.rows}
    assert len(rows) == len(live.latest.clusters)
    for loaded in (live, snap):
        for cluster in loaded.latest.clusters:
            stats, want = cluster.stats, rows[cluster.cluster_id]
            assert stats is not None
            assert (stats.item_count, stats.error_count) == (
                want["item_count"],
                want["error_count"],
            )
            assert stats.error_rate == want["error_count"] / want["item_count"]
            pairs = {
                "avg_cost_usd": want["avg_cost"],
                "total_cost_usd": want["total_cost"] if want["avg_cost"] is not None else None,
                "avg_latency_s": want["avg_latency"],
                "p95_latency_s": want["p95_latency"],
                "avg_tokens": want["avg_tokens"],
            }
            for name, value in pairs.items():
                got = stats.value(name)
                assert _close(got, None if value is None else float(value)), (name, got, value)
