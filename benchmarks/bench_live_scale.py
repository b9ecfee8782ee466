"""The gate's live queries at PostHog's scale, next to the cluster page's own query (DESIGN §6).

    python benchmarks/bench_live_scale.py [--sizes 1M,5M,10M] [--items 1500,10000] [--reps 3]
    python benchmarks/bench_live_scale.py --quick     # 1M events only (a few minutes)

For each size, AI events ($ai_trace, $ai_span, $ai_generation, $ai_embedding; eight per
trace, properties JSON shaped as PostHog stores them and as `llmc_checks/synth` writes
them) are generated inside chDB with SQL over 10 days, so a 7-day window holds 70% of
them. Each run size (1,500 and 10,000 items) is a clustering job of its own with four
daily trace-level runs (`$ai_trace_clusters`, `$ai_clusters` as PostHog emits it) whose
items are sampled from the traces of their window. The `events` table carries PostHog's
materialized `mat_$ai_trace_id` column (Nullable String, bloom-filter index).

Timed, per job, in one process and interleaved, each query `--reps` times (median):

* gate latest: the HogQL `PostHogSource` sends for the latest run with every metric
  (p95 included) and item ids;
* gate baselines: its second query, the previous run as baseline plus four trend runs;
* page: the cluster page's own metrics query for the same latest run
  (`clusterMetricsLoader.ts`, trace level: item ids inlined as its `hogql` template
  writes them), as PostHog runs it with `convertToProjectTimezone: false`;
* page previous: the same metrics query for the previous run, which the baselines query
  computes every metric for (the trend runs bring their baked metrics only), so the
  baselines query is compared with the page's query over the same data;
* page runs, page run: the two queries the page runs before that one
  (`clustersLogic.ts`: the run picker's list, then the run with its clusters). The gate's
  latest-run query does all three jobs in one request, so it is also compared with the
  three together ("page 3 queries").

The gate's texts are the ones the source really sends (captured from `PostHogSource.load`
against the test suite's stand-in). Every text is translated to ClickHouse SQL by the
stand-in's printer (PostHog's parser, PostHog's printing) twice: once reading
`properties.$ai_trace_id` from the JSON ("plain") and once from the materialized column
("mat", as PostHog prints it when the column exists). Only ClickHouse's execution is
timed (translation is not). Before any figure is printed, the gate's per-cluster item
counts and averages must equal the page's (aggregated as `aggregateClusterMetrics` does)
to rel 1e-9, and both variants must answer the same rows.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, print_machine

sys.path.insert(0, str(ROOT / "tests"))  # the stand-in lives with the tests

KEY = "phx_bench_key"
PROJECT = 1
UTC = timezone.utc
START = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_DAYS = 10  # events cover 10 days; each run's window is the last 7 of its day
WINDOW = timedelta(days=7)
RUNS = 4  # daily runs per job
EVENTS_PER_TRACE = 8
EVIDENCE = 3  # report.evidence's default
MATERIALIZED = frozenset({"$ai_trace_id"})
# A multiplicative hash (64-bit wrap, as ClickHouse's UInt64 arithmetic) for trace ids
# both SQL and Python can compute.
_MIX = 11400714819323198485


def trace_id(t: int) -> str:
    """The id of trace `t`, as the generating SQL writes it."""
    tail = ((t * _MIX) % 2**64) & (2**48 - 1)
    return f"{t:08x}-7e57-4d00-8a00-{tail:012x}"


_TRACE_ID_SQL = (
    "concat(lower(leftPad(hex(t), 8, '0')), '-7e57-4d00-8a00-', "
    f"lower(leftPad(hex(bitAnd(t * {_MIX}, {2**48 - 1})), 12, '0')))"
)


def _us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000 + dt.microsecond


def trace_start_us(t: int, traces: int) -> int:
    return _us(START) + (t * SPAN_DAYS * 86_400_000_000) // traces


def events_sql(n_events: int, prompt_chars: int) -> str:
    """INSERT ... SELECT generating `n_events` AI events, eight per trace."""
    traces = n_events // EVENTS_PER_TRACE
    span_us = SPAN_DAYS * 86_400_000_000
    cost = "toString(round((h % 20000) / 1e6, 6))"
    latency = "toString(round(if(p = 1, 3, 1) * (0.2 + (intDiv(h, 20000) % 8000) / 1000), 3))"
    in_tokens = "toString(intDiv(h, 160000000) % 3000)"
    out_tokens = "toString(intDiv(h, 480000000000) % 1500)"
    error = "if(intDiv(h, 1000000000000000) % 100 < 3, 'true', 'false')"
    # Optional prompt and reply texts (real generations carry them, often kilobytes).
    prompt = (
        f"""'"$ai_input":[{{"role":"user","content":"', repeat('lorem ', {prompt_chars // 12}),
        '"}}],"$ai_output_choices":[{{"role":"assistant","content":"',
        repeat('ipsum ', {prompt_chars // 12}), '"}}],', """
        if prompt_chars
        else ""
    )
    generation = (
        f"""concat('"$ai_model":"gpt-4o-mini","$ai_provider":"openai",', {prompt}"""
        f""" '"$ai_input_tokens":', {in_tokens}, ',"$ai_output_tokens":', {out_tokens},"""
        f""" ',"$ai_total_cost_usd":', {cost}, ',"$ai_latency":', {latency},"""
        f""" ',"$ai_is_error":', {error})"""
    )
    embedding = (
        """concat('"$ai_model":"text-embedding-3-small","$ai_provider":"openai",',"""
        f""" '"$ai_input_tokens":', {in_tokens},"""
        f""" ',"$ai_total_cost_usd":', {cost}, ',"$ai_latency":', {latency},"""
        f""" ',"$ai_is_error":', {error})"""
    )
    span = (
        """concat('"$ai_span_name":', if(p = 1, '"chat_turn"', '"retrieve_context"'),"""
        f""" ',"$ai_total_cost_usd":', {cost}, ',"$ai_latency":', {latency},"""
        f""" ',"$ai_is_error":', {error})"""
    )
    trace = (
        """concat('"$ai_trace_name":"chat_session","$ai_total_cost_usd":', """
        f"""{cost}, ',"$ai_latency":', {latency})"""
    )
    return f"""
INSERT INTO events (uuid, event, timestamp, distinct_id, properties, team_id)
SELECT
    generateUUIDv4(number) AS uuid,
    multiIf(p = 0, '$ai_trace', p = 1, '$ai_span', kind < 60, '$ai_generation',
            kind < 80, '$ai_embedding', '$ai_span') AS event,
    fromUnixTimestamp64Micro(toInt64({_us(START)} + intDiv(t * {span_us}, {traces})
        + p * 1500000 + h % 1000000), 'UTC') AS timestamp,
    concat('user-', toString(t % 5000)) AS distinct_id,
    concat('{{"$ai_trace_id":"', {_TRACE_ID_SQL}, '",',
        multiIf(p = 0, {trace}, event = '$ai_generation', {generation},
                event = '$ai_embedding', {embedding}, {span}), '}}') AS properties,
    {PROJECT} AS team_id
FROM (
    SELECT number, intDiv(number, {EVENTS_PER_TRACE}) AS t, number % {EVENTS_PER_TRACE} AS p,
           cityHash64(number) AS h, h % 100 AS kind
    FROM numbers({traces * EVENTS_PER_TRACE})
)
"""


def iso_ms(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Job:
    items: int
    job_id: str
    name: str
    latest_end: datetime


def cluster_rows(items: int, traces: int) -> tuple[Job, list[dict[str, Any]]]:
    """A job's daily runs over `items` traces sampled from each window, as PostHog emits them."""
    import orjson

    job = Job(
        items,
        f"019a3f2e-0000-7000-8000-{items:012d}",
        f"Bench {items} items",
        START + timedelta(days=SPAN_DAYS, minutes=15, seconds=3, milliseconds=104),
    )
    rows = []
    for r in range(RUNS):
        window_end = job.latest_end - timedelta(days=r)
        window_start = window_end - WINDOW
        lo, hi = _traces_between(window_start, window_end, traces)
        rng = random.Random(f"bench-live-scale:{items}:{r}")
        chosen = rng.sample(range(lo, hi), items)
        clusters: dict[int, dict[str, Any]] = {}
        for t in chosen:
            cid = -1 if rng.random() < 0.1 else rng.randrange(20)
            cluster = clusters.setdefault(
                cid,
                {
                    "cluster_id": cid,
                    "size": 0,
                    "title": "Outliers" if cid < 0 else f"Topic {cid}: support questions",
                    "description": f"Traces about topic {cid}, with retrieval and a reply.",
                    "traces": {},
                    "centroid": [round(rng.gauss(0, 0.1), 6) for _ in range(8)],
                    "centroid_x": round(rng.uniform(-9, 9), 5),
                    "centroid_y": round(rng.uniform(-9, 9), 5),
                },
            )
            tid = trace_id(t)
            cluster["traces"][tid] = {
                "distance_to_centroid": round(rng.random(), 6),
                "rank": len(cluster["traces"]),
                "x": round(rng.uniform(-12, 12), 5),
                "y": round(rng.uniform(-12, 12), 5),
                "timestamp": datetime.fromtimestamp(
                    trace_start_us(t, traces) / 1e6, UTC
                ).isoformat(),
                "trace_id": tid,
                "generation_id": None,
            }
            cluster["size"] += 1
        ordered = [clusters[c] for c in sorted(clusters, key=lambda c: (c < 0, c))]
        stamp = window_end.strftime("%Y%m%d_%H%M%S")
        rows.append(
            {
                "uuid": f"7e30e3a5-7d17-453b-a392-{items:06d}{r:06d}",
                "event": "$ai_trace_clusters",
                "timestamp": (window_end + timedelta(minutes=5)).isoformat(),
                "distinct_id": f"clustering_trace_{PROJECT}",
                "properties": {
                    "$ai_clustering_run_id": f"{PROJECT}_trace_{stamp}_{job.job_id}",
                    "$ai_clustering_level": "trace",
                    "$ai_clustering_job_id": job.job_id,
                    "$ai_clustering_job_name": job.name,
                    "$ai_window_start": iso_ms(window_start),
                    "$ai_window_end": iso_ms(window_end),
                    "$ai_total_items_analyzed": items,
                    "$ai_clusters": orjson.dumps(ordered).decode(),
                    "$ai_clustering_params": {"clustering_method": "hdbscan", "max_samples": items},
                },
            }
        )
    return job, rows


def _traces_between(start: datetime, end: datetime, traces: int) -> tuple[int, int]:
    """[lo, hi): the traces starting inside [start, end)."""
    per_us = traces / (SPAN_DAYS * 86_400_000_000)
    lo = max(0, int((_us(start) - _us(START)) * per_us) - 2)
    while trace_start_us(lo, traces) < _us(start):
        lo += 1
    hi = min(traces, int((_us(end) - _us(START)) * per_us) + 2)
    while hi > lo and trace_start_us(hi - 1, traces) >= _us(end):
        hi -= 1
    return lo, hi


def page_query(item_ids: Sequence[str], window_start: str, window_end: str) -> str:
    """clusterMetricsLoader.ts at trace level, as its `hogql` template formats it."""

    def literal(value: str) -> str:
        return f"'{value}'"

    ids = "[" + ", ".join(literal(i) for i in item_ids) + "]"
    return f"""
                SELECT
                    properties.$ai_trace_id as item_id,
                    sum(toFloat(properties.$ai_total_cost_usd)) as cost,
                    max(toFloat(properties.$ai_latency)) as latency,
                    sum(toInt(properties.$ai_input_tokens)) as input_tokens,
                    sum(toInt(properties.$ai_output_tokens)) as output_tokens,
                    countIf(properties.$ai_is_error = 'true') as error_count
                FROM events
                WHERE event IN ('$ai_generation', '$ai_embedding', '$ai_span')
                    AND timestamp >= parseDateTimeBestEffort({literal(window_start)})
                    AND timestamp <= parseDateTimeBestEffort({literal(window_end)})
                    AND properties.$ai_trace_id IN {ids}
                GROUP BY item_id
                LIMIT {len(item_ids)}
            """


# clustersLogic.ts: the run list looks back CLUSTERING_RUNS_LOOKBACK_DAYS (90) from now()
# and keeps MAX_CLUSTERING_RUNS (20). Here "now" is an hour after the latest run (the
# bench's data lies in November 2026), written as a literal bound.
PAGE_LOOKBACK = timedelta(days=90)
PAGE_MAX_RUNS = 20


def page_runs_query(now: datetime) -> str:
    """clustersLogic.ts `loadClusteringRuns` at trace level: the run picker's list."""
    since = (now - PAGE_LOOKBACK).strftime("%Y-%m-%d %H:%M:%S")
    return f"""
                            SELECT
                                properties.$ai_clustering_run_id as run_id,
                                properties.$ai_window_end as window_end,
                                timestamp
                            FROM events
                            WHERE event = '$ai_trace_clusters'
                                AND timestamp >= '{since}'
                            ORDER BY timestamp DESC
                            LIMIT {PAGE_MAX_RUNS}
                        """


def page_run_query(run_id: str) -> str:
    """clustersLogic.ts `loadClusteringRun`: one run with its clusters, bounded by the day its
    id carries (`getTimestampBoundsFromRunId`: `<team>_<level>_<YYYYMMDD>_<HHMMSS>`)."""
    day = datetime.strptime(run_id.split("_")[2], "%Y%m%d")
    day_start = day.strftime("%Y-%m-%d 00:00:00")
    day_end = day.strftime("%Y-%m-%d 23:59:59")
    return f"""
                            SELECT
                                properties.$ai_clustering_run_id as run_id,
                                properties.$ai_window_start as window_start,
                                properties.$ai_window_end as window_end,
                                toInt(properties.$ai_total_items_analyzed) as total_items,
                                properties.$ai_clusters as clusters,
                                timestamp,
                                properties.$ai_clustering_params as clustering_params,
                                properties.$ai_clustering_level as clustering_level
                            FROM events
                            WHERE event = '$ai_trace_clusters'
                                AND timestamp >= '{day_start}'
                                AND timestamp <= '{day_end}'
                                AND properties.$ai_clustering_run_id = '{run_id}'
                            LIMIT 1
                        """


def page_cluster_numbers(
    run: Any, rows: list[list[Any]]
) -> dict[int, tuple[int, float | None, float | None, float | None]]:
    """aggregateClusterMetrics: (items with data, avg cost, avg latency, avg tokens)."""
    by_item = {r[0]: r for r in rows}
    out = {}
    for cluster in run.clusters:
        n = 0
        sums = [0.0, 0.0, 0.0]
        counts = [0, 0, 0]
        for item in cluster.item_ids:
            row = by_item.get(item)
            if row is None:
                continue
            n += 1
            tokens = (row[3] or 0) + (row[4] or 0)
            for k, value in enumerate((row[1], row[2], tokens)):
                if value is not None and value > 0:
                    sums[k] += value
                    counts[k] += 1
        avgs = [sums[k] / counts[k] if counts[k] else None for k in range(3)]
        out[cluster.cluster_id] = (n, avgs[0], avgs[1], avgs[2])
    return out


def gate_cluster_numbers(
    run: Any,
) -> dict[int, tuple[int, float | None, float | None, float | None]]:
    return {
        c.cluster_id: (
            c.stats.item_count,
            c.stats.avg_cost_usd,
            c.stats.avg_latency_s,
            c.stats.avg_tokens,
        )
        for c in run.clusters
    }


def agree(a: dict[int, Any], b: dict[int, Any]) -> list[str]:
    problems = [f"cluster {k}: only on one side" for k in a.keys() ^ b.keys()]
    for key in a.keys() & b.keys():
        for x, y in zip(a[key], b[key], strict=True):
            if (x is None) != (y is None) or (
                x is not None and not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
            ):
                problems.append(f"cluster {key}: gate {a[key]} vs page {b[key]}")
                break
    return problems


def capture_gate(s: Any, job: Job) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    """Load the gate's request through PostHogSource; its runs and the (query, values) sent."""
    import httpx
    import orjson
    from pydantic import SecretStr

    from llmc_checks.config import PostHogSource as PostHogSettings
    from llmc_checks.model import STAT_FIELDS, BaselineRequest, RunRequest
    from llmc_checks.sources.posthog import PostHogSource

    sent: list[tuple[str, dict[str, Any]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        node = body["query"]
        sent.append((node["query"], node.get("values") or {}))
        return httpx.Response(
            200, json=s.run(node["query"], node.get("values"), node.get("modifiers"))
        )

    settings = PostHogSettings(
        host="http://127.0.0.1:9", project_id=PROJECT, api_key=SecretStr(KEY), timeout_s=600.0
    )
    request = RunRequest(
        level="trace",
        job=job.job_id,
        lookback=timedelta(days=7),
        baselines=(BaselineRequest("previous"),),
        stats=frozenset(STAT_FIELDS),
        need_items=True,
        history=RUNS,
        # What a gate with cost and latency checks asks for (report.evidence: 3).
        evidence=EVIDENCE,
        evidence_measures=frozenset({"cost", "latency"}),
    )
    now = job.latest_end + timedelta(hours=1)
    source = PostHogSource(settings, clock=lambda: now, transport=httpx.MockTransport(answer))
    try:
        loaded = source.load(request)
    finally:
        source.close()
    assert len(sent) == 2, f"the gate sent {len(sent)} queries"
    return loaded, sent


@dataclass
class Timed:
    label: str
    sql: dict[bool, str]  # materialized? -> ClickHouse SQL
    walls: dict[bool, list[float]]
    stats: dict[bool, dict[str, Any]]


def measure(engine: Any, queries: list[Timed], reps: int) -> None:
    """Each query in both variants, interleaved, `reps` times; checks the variants agree."""
    answers: dict[tuple[str, bool], Any] = {}
    for _ in range(reps):
        for q in queries:
            for mat in (False, True):
                t0 = time.perf_counter()
                result = engine.execute(q.sql[mat], max_execution_time=600)
                q.walls[mat].append(time.perf_counter() - t0)
                q.stats[mat] = dict(result.statistics)
                answers.setdefault((q.label, mat), result.rows)
    for q in queries:
        plain, mat = answers[(q.label, False)], answers[(q.label, True)]
        if q.label.startswith("page"):
            # GROUP BY order is not fixed, and the page's plain `sum` adds in whatever
            # order ClickHouse's threads deliver rows (the gate's sums add in time order).
            same = len(plain) == len(mat) and all(
                _close_row(a, b) for a, b in zip(sorted(plain), sorted(mat), strict=True)
            )
        else:
            same = plain == mat
        assert same, f"{q.label}: the materialized column changed the answer"


def _close_row(a: list[Any], b: list[Any]) -> bool:
    def close(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-9)
        return bool(x == y)

    return all(close(x, y) for x, y in zip(a, b, strict=True))


def parse_size(text: str) -> int:
    text = text.strip().upper().replace("_", "")
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * factor)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1M,5M,10M", help="AI events per dataset (1M,5M,10M)")
    ap.add_argument("--items", default="1500,10000", help="items per run (1500,10000)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions (median)")
    ap.add_argument("--quick", action="store_true", help="1M events only")
    ap.add_argument(
        "--prompt-chars",
        type=int,
        default=0,
        help="add $ai_input/$ai_output_choices of about this many characters to generations",
    )
    args = ap.parse_args(argv)
    sizes = [1_000_000] if args.quick else [parse_size(x) for x in args.sizes.split(",")]
    item_counts = [int(x) for x in args.items.split(",")]

    from importlib.metadata import version

    from standin import StandIn, translate
    from tabulate import tabulate

    print_machine(
        [
            ("chdb", version("chdb")),
            ("repetitions", str(args.reps)),
            ("prompt chars", str(args.prompt_chars)),
            ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ]
    )
    table = []
    detail = []
    for n_events in sizes:
        with StandIn(
            (), api_key=KEY, project_id=PROJECT, materialized=MATERIALIZED, max_execution_time=600
        ) as s:
            t0 = time.perf_counter()
            s.engine.write(events_sql(n_events, args.prompt_chars))
            traces = n_events // EVENTS_PER_TRACE
            jobs = []
            for items in item_counts:
                job, rows = cluster_rows(items, traces)
                s.engine.load_rows(rows)
                jobs.append(job)
            s.engine.write("OPTIMIZE TABLE events FINAL")
            # The page inlines its item ids: at 10,000 items its text is ~400 KB, past
            # ClickHouse's default max_query_size (256 KiB).
            s.engine.write("SET max_query_size = 8388608")
            load_s = time.perf_counter() - t0
            in_window = s.run(
                "SELECT count() FROM events WHERE event IN ('$ai_generation', '$ai_embedding', "
                "'$ai_span', '$ai_trace') AND timestamp >= parseDateTimeBestEffort({a}) "
                "AND timestamp <= parseDateTimeBestEffort({b})",
                {
                    "a": (jobs[0].latest_end - WINDOW).isoformat(),
                    "b": jobs[0].latest_end.isoformat(),
                },
                {"convertToProjectTimezone": False},
            )["results"][0][0]
            print(
                f"{n_events:,} AI events ({in_window:,} in the latest 7-day window), "
                f"{traces:,} traces: generated and loaded in {load_s:.0f} s"
            )
            for job in jobs:
                loaded, sent = capture_gate(s, job)
                latest = loaded.latest
                items = [i for c in latest.clusters for i in c.item_ids]
                assert len(items) == job.items
                window = [
                    iso_ms(latest.window_start),
                    iso_ms(latest.window_end),
                ]
                page_text = page_query(items, *window)
                # The baselines query computes every metric for one run, the previous
                # one (trend runs bring their baked metrics only): on the page, that is
                # the same metrics query for that run.
                ((previous,),) = loaded.baselines.values()
                previous_text = page_query(
                    [i for c in previous.clusters for i in c.item_ids],
                    iso_ms(previous.window_start),
                    iso_ms(previous.window_end),
                )
                texts: list[tuple[str, str, dict[str, Any]]] = [
                    ("gate latest", sent[0][0], sent[0][1]),
                    ("gate baselines", sent[1][0], sent[1][1]),
                    ("page", page_text, {}),
                    ("page previous", previous_text, {}),
                    # What the page runs before its metrics query: the run list and the run.
                    ("page runs", page_runs_query(job.latest_end + timedelta(hours=1)), {}),
                    ("page run", page_run_query(latest.run_id), {}),
                ]
                queries = []
                for label, text, values in texts:
                    sql = {
                        mat: translate(
                            text,
                            values,
                            convert_timezone=False,
                            materialized=MATERIALIZED if mat else frozenset(),
                        ).clickhouse
                        for mat in (False, True)
                    }
                    queries.append(Timed(label, sql, {False: [], True: []}, {}))
                problems = []
                for run, page_label in ((latest, "page"), (previous, "page previous")):
                    (query,) = (q for q in queries if q.label == page_label)
                    page_rows = s.engine.execute(query.sql[True], max_execution_time=600).rows
                    problems += agree(
                        gate_cluster_numbers(run), page_cluster_numbers(run, page_rows)
                    )
                if problems:
                    print(f"{job.items} items: the gate and the page DISAGREE:")
                    for line in problems[:10]:
                        print("  ", line)
                    return 1
                load = os.getloadavg()[0]
                measure(s.engine, queries, args.reps)
                for mat in (False, True):
                    med = {q.label: statistics.median(q.walls[mat]) for q in queries}
                    page = med["page"]
                    page_all = page + med["page runs"] + med["page run"]
                    table.append(
                        [
                            f"{n_events / 1e6:g}M",
                            f"{job.items:,}",
                            "mat" if mat else "plain",
                            f"{med['gate latest']:.2f}",
                            f"{med['gate baselines']:.2f}",
                            f"{page:.2f}",
                            f"{med['gate latest'] / page:.2f}",
                            f"{med['gate baselines'] / page:.2f}",
                            f"{med['gate baselines'] / med['page previous']:.2f}",
                            f"{page_all:.2f}",
                            f"{med['gate latest'] / page_all:.2f}",
                            f"{load:.1f}/{os.getloadavg()[0]:.1f}",
                        ]
                    )
                    for q in queries:
                        st = q.stats[mat]
                        detail.append(
                            [
                                f"{n_events / 1e6:g}M",
                                f"{job.items:,}",
                                "mat" if mat else "plain",
                                q.label,
                                " ".join(f"{w:.2f}" for w in q.walls[mat]),
                                f"{st.get('rows_read', 0):,}",
                                f"{st.get('bytes_read', 0) / 1e6:,.0f}",
                            ]
                        )
                for row in table[-2:]:
                    print("  " + " | ".join(row), flush=True)
    print()
    print(
        tabulate(
            table,
            headers=[
                "AI events",
                "items",
                "trace id",
                "gate latest s",
                "gate baselines s",
                "page s",
                "latest/page",
                "baselines/page",
                "baselines/page previous",
                "page 3 queries s",
                "latest/page 3",
                "load 1-min (before/after)",
            ],
        )
    )
    print()
    print(
        tabulate(
            detail,
            headers=["AI events", "items", "trace id", "query", "runs s", "rows read", "MB read"],
        )
    )
    print()
    print(
        "Medians of the repetitions, ClickHouse execution only (chDB, in process). The gate's "
        "per-cluster item counts and averages equal the page's at every size; the "
        "materialized column changes no answer."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
