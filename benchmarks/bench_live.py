"""The live source against PostHog's query API (the test suite's stand-in: real chDB
behind HTTP on loopback), next to the documented manual approach, on the same data.

    python benchmarks/bench_live.py [--reps 3] [--sizes 100 1500 10000] [--evidence 3]

For runs of 100, 1,500 and 10,000 items (seeded generator: two daily trace-level runs,
traffic sized so each 7-day window holds more traces than the run samples), one gate —
the latest run plus the previous one as baseline, every per-cluster metric (p95
included, so computed from events), with evidence as a gate asks for it by default
(`--evidence 3`: 3 items of each kind per cluster, every measure ranked; 0 = none) —
costs, as the stand-in counts them:

* llmc-checks: `PostHogSource(settings).load(request)`;
* manual: what PostHog's docs and its own `fetch_item_metrics` do — fetch the runs'
  `$ai_trace_clusters` events (their `traces` maps included), then per run per-item
  metrics with `IN`-style batches of 500 item ids, then aggregate per cluster in
  Python. Implemented here, over the same HTTP API.

Both sides' per-cluster numbers are compared (relative 1e-9) before anything is
reported. Columns: query requests, bytes sent (request bodies), bytes received
(response bodies), wall time (min and median of `--reps`).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, print_machine

sys.path.insert(0, str(ROOT / "tests"))  # the stand-in lives with the tests

from llmc_checks.model import STAT_FIELDS

KEY = "phx_bench_key"
PROJECT = 1
BATCH = 500
COSTED = "('$ai_generation', '$ai_embedding')"


def number(key: str) -> str:
    """A JSON number or numeric string as Float64, anything else 0 (PostHog's reading)."""
    return (
        f"if(JSONType(properties, '{key}') = 'Bool', 0, "
        f"ifNull(JSONExtract(properties, '{key}', 'Nullable(Float64)'), 0))"
    )


def integer(key: str) -> str:
    """A token count as PostHog's toInt reads the property's text (a fraction: 0)."""
    return f"ifNull(toInt(properties.{key}), 0)"


RUNS_SQL = """
SELECT uuid, timestamp, properties
FROM events
WHERE event = '$ai_trace_clusters'
  AND timestamp >= toDateTime64({since}, 6, 'UTC')
  AND timestamp <= toDateTime64({now}, 6, 'UTC')
ORDER BY timestamp DESC
LIMIT 2
"""

ITEMS_SQL = f"""
SELECT JSONExtractString(properties, '$ai_trace_id') AS item,
       sum(if(event IN {COSTED}, {number("$ai_total_cost_usd")}, 0)) AS cost,
       sum(if(event = '$ai_generation', {number("$ai_latency")}, 0)) AS latency,
       sum(if(event IN {COSTED},
              {integer("$ai_input_tokens")} + {integer("$ai_output_tokens")}, 0)) AS tokens,
       countIf(JSONExtractRaw(properties, '$ai_is_error') IN ('true', '"true"')) AS errors
FROM events
WHERE event IN ('$ai_generation', '$ai_embedding', '$ai_span')
  AND timestamp >= toDateTime64({{start}}, 6, 'UTC')
  AND timestamp < toDateTime64({{end}}, 6, 'UTC')
  AND has({{ids}}, JSONExtractString(properties, '$ai_trace_id'))
GROUP BY item
LIMIT 50000
"""


def ch_time(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class ManualClient:
    """The documented manual approach, over the same query API."""

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60.0
        )

    def close(self) -> None:
        self.http.close()

    def query(self, sql: str, values: dict[str, Any], name: str) -> list[list[Any]]:
        body = {"query": {"kind": "HogQLQuery", "query": sql, "values": values}, "name": name}
        response = self.http.post(f"/api/projects/{PROJECT}/query/", json=body)
        response.raise_for_status()
        payload = response.json()
        assert not payload.get("hasMore"), "truncated answer"
        rows: list[list[Any]] = payload["results"]
        return rows

    def gate(self, now: datetime, lookback: timedelta) -> dict[str, dict[str, Any]]:
        import orjson

        from llmc_checks import metrics
        from llmc_checks.runs import build_run, read_run_event

        values = {"since": ch_time(now - lookback), "now": ch_time(now)}
        out: dict[str, dict[str, Any]] = {}
        for uuid, timestamp, props in self.query(RUNS_SQL, values, "manual-runs"):
            row = {"uuid": uuid, "event": "$ai_trace_clusters", "timestamp": timestamp}
            row["properties"] = orjson.loads(props) if isinstance(props, str) else props
            run = build_run(read_run_event(row, "manual"), "manual")
            items = [item for cluster in run.clusters for item in cluster.item_ids]
            totals: dict[str, list[float]] = {}
            for at in range(0, len(items), BATCH):
                batch = {
                    "start": ch_time(run.window_start),
                    "end": ch_time(run.window_end),
                    "ids": items[at : at + BATCH],
                }
                for item, cost, latency, tokens, errors in self.query(
                    ITEMS_SQL, batch, "manual-item-metrics"
                ):
                    totals[item] = [float(cost), float(latency), float(tokens), float(errors)]
            for cluster in run.clusters:
                stats = metrics.cluster_stats(cluster.item_ids, totals)
                out[f"{run.run_id}/{cluster.cluster_id}"] = {
                    f: getattr(stats, f) for f in STAT_FIELDS
                }
        return out


def ours(url: str, now: datetime, lookback: timedelta, evidence: int) -> dict[str, dict[str, Any]]:
    from pydantic import SecretStr

    from llmc_checks.config import PostHogSource as PostHogSettings
    from llmc_checks.model import MEASURES, BaselineRequest, RunRequest
    from llmc_checks.sources.posthog import PostHogSource

    settings = PostHogSettings(host=url, project_id=PROJECT, api_key=SecretStr(KEY), timeout_s=60.0)
    previous = BaselineRequest("previous")
    request = RunRequest(
        level="trace",
        job=None,
        lookback=lookback,
        baselines=(previous,),
        stats=frozenset(STAT_FIELDS),
        # The manual approach computes the job's numbers (fetch_item_metrics): compare
        # like with like.
        semantics="workflow",
        evidence=evidence,
        evidence_measures=frozenset(MEASURES),
    )
    source = PostHogSource(settings, clock=lambda: now)
    try:
        loaded = source.load(request)
    finally:
        source.close()
    out: dict[str, dict[str, Any]] = {}
    for run in (*loaded.baselines[previous], loaded.latest):
        for cluster in run.clusters:
            stats = cluster.stats
            assert stats is not None
            out[f"{run.run_id}/{cluster.cluster_id}"] = {f: getattr(stats, f) for f in STAT_FIELDS}
    return out


def compare(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> list[str]:
    problems = [f"{k}: only on one side" for k in a.keys() ^ b.keys()]
    for key in a.keys() & b.keys():
        for field in STAT_FIELDS:
            x, y = a[key][field], b[key][field]
            if (x is None) != (y is None) or (
                x is not None and not math.isclose(x, y, rel_tol=1e-9, abs_tol=0.0)
            ):
                problems.append(f"{key}.{field}: {x!r} vs {y!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1500, 10_000])
    ap.add_argument("--evidence", type=int, default=3, help="evidence items per kind (0: none)")
    args = ap.parse_args(argv)

    from importlib.metadata import version

    from standin import StandIn
    from tabulate import tabulate

    from llmc_checks.synth import Scenario, generate

    print_machine(
        [
            ("chdb", version("chdb")),
            ("repetitions", str(args.reps)),
            ("evidence", str(args.evidence)),
        ]
    )
    lookback = timedelta(days=30)
    table = []
    for items in args.sizes:
        per_day = max(60, math.ceil(items * 1.5 / 7))
        synth = generate(Scenario(seed=1, days=2, traces_per_day=per_day, max_samples=items))
        latest = synth.latest()
        now = latest.window_end + timedelta(hours=1)
        with StandIn(synth.iter_rows(), api_key=KEY, project_id=PROJECT) as s:
            results: dict[str, dict[str, dict[str, Any]]] = {}
            costs: dict[str, list[tuple[int, int, int, float]]] = {"llmc": [], "manual": []}
            manual = ManualClient(s.url)
            try:
                for _ in range(args.reps):
                    for side in ("llmc", "manual"):
                        s.clear_log()
                        t0 = time.perf_counter()
                        if side == "llmc":
                            results[side] = ours(s.url, now, lookback, args.evidence)
                        else:
                            results[side] = manual.gate(now, lookback)
                        elapsed = time.perf_counter() - t0
                        sent = s.query_requests()
                        costs[side].append(
                            (
                                len(sent),
                                sum(r.request_bytes for r in sent),
                                sum(r.response_bytes for r in sent),
                                elapsed,
                            )
                        )
            finally:
                manual.close()
        problems = compare(results["llmc"], results["manual"])
        if problems:
            print(f"{items} items: llmc-checks and the manual approach DISAGREE:")
            for line in problems[:20]:
                print("  ", line)
            return 1
        clusters = len(results["llmc"])
        for side, label in (
            ("llmc", "llmc-checks PostHogSource"),
            ("manual", "manual (runs + IN batches)"),
        ):
            requests, sent_b, recv_b, _ = costs[side][0]
            walls = [c[3] for c in costs[side]]
            table.append(
                [
                    f"{items:,}",
                    f"{synth.n_ai_events:,}",
                    clusters,
                    label,
                    requests,
                    f"{sent_b:,}",
                    f"{recv_b:,}",
                    f"{min(walls):.2f}",
                    f"{statistics.median(walls):.2f}",
                ]
            )
    print(
        tabulate(
            table,
            headers=[
                "items/run",
                "AI events",
                "clusters (2 runs)",
                "approach",
                "query requests",
                "bytes sent",
                "bytes received",
                "min s",
                "median s",
            ],
        )
    )
    print()
    print(
        "Both approaches' per-cluster numbers agree (rel 1e-9) at every size; requests and "
        "bytes are per gate (latest + previous, all metrics)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
