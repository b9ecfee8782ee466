"""Snapshot source vs chDB on the same file: wall time, peak memory, identical numbers.

    python benchmarks/bench_snapshot.py [--reps 5] [--events 600000] [--items 10000]

Generates (once, cached in benchmarks/.data/) a seeded ~600k-event snapshot whose 7
daily trace-level runs each cluster 10k items, as `.jsonl.gz` and as plain `.jsonl`.
For each file, in a fresh interpreter per measurement (interleaved, `--reps` each):

* ours: `SnapshotSource(path).load(...)` for the latest run and the previous one as
  baseline, with every ClusterStats field (p95 included), so the per-item metrics are
  computed from the AI events;
* chDB: one `chdb.query` computing the same per-cluster numbers from the same file
  (`file(..., 'JSONEachRow')`, JSONExtract on properties, `$ai_clusters` unnested
  server-side, per-item aggregates joined within each run's window).

Both sides' numbers are compared cluster by cluster (relative 1e-9) before any time
is reported. Wall time is the load / query call alone (imports excluded, reported
apart); peak memory is the worker process's peak resident set size (VmHWM on Linux,
else ru_maxrss: the whole process, interpreter, libraries and data included). The
figures are min and median over the repetitions: on a shared machine the minimum is
the least disturbed run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, ROOT, peak_rss_mb, print_machine, run_worker, summary

from llmc_checks.model import STAT_FIELDS

# The per-cluster numbers of the latest trace-level run and the one before it, with
# PostHog's semantics (DESIGN §1; the default ui, or workflow: SEMANTICS_SQL), from the
# events of a JSONEachRow file. Tokens are read as HogQL's toInt reads them
# (accurateCastOrNull(text, 'Int64'): "12.5" is no count), cost and latency as floats.
CHDB_SQL = """
WITH
runs AS (
    SELECT run_id,
           argMax(ws, (emitted, uuid)) AS ws,
           argMax(we, (emitted, uuid)) AS we,
           argMax(clusters, (emitted, uuid)) AS clusters
    FROM (
        SELECT uuid,
               JSONExtractString(properties, '$ai_clustering_run_id') AS run_id,
               parseDateTime64BestEffort(
                   JSONExtractString(properties, '$ai_window_start'), 6, 'UTC') AS ws,
               parseDateTime64BestEffort(
                   JSONExtractString(properties, '$ai_window_end'), 6, 'UTC') AS we,
               parseDateTime64BestEffort(timestamp, 6, 'UTC') AS emitted,
               if(JSONType(properties, '$ai_clusters') = 'String',
                  JSONExtractString(properties, '$ai_clusters'),
                  JSONExtractRaw(properties, '$ai_clusters')) AS clusters
        FROM {file}
        WHERE event = '$ai_trace_clusters'
          AND coalesce(nullIf(JSONExtractString(properties, '$ai_clustering_level'), ''),
                       'trace') = 'trace'
    )
    GROUP BY run_id
    ORDER BY we DESC
    LIMIT 2
),
membership AS (
    SELECT run_id, ws, we,
           JSONExtractInt(cluster, 'cluster_id') AS cluster_id,
           arrayJoin(JSONExtractKeys(cluster, 'traces')) AS item
    FROM runs
    ARRAY JOIN JSONExtractArrayRaw(clusters) AS cluster
),
events AS (
    SELECT event,
           parseDateTime64BestEffort(timestamp, 6, 'UTC') AS ts,
           JSONExtractString(properties, '$ai_trace_id') AS item,
           toFloat64OrNull(replaceRegexpAll(
               JSONExtractRaw(properties, '$ai_total_cost_usd'), '^"|"$', '')) AS cost,
           toFloat64OrNull(replaceRegexpAll(
               JSONExtractRaw(properties, '$ai_latency'), '^"|"$', '')) AS latency,
           accurateCastOrNull(
               replaceRegexpAll(JSONExtractRaw(properties, '$ai_input_tokens'), '^"|"$', ''),
               'Int64') AS tokens_in,
           accurateCastOrNull(
               replaceRegexpAll(JSONExtractRaw(properties, '$ai_output_tokens'), '^"|"$', ''),
               'Int64') AS tokens_out,
           JSONExtractRaw(properties, '$ai_is_error') IN ('true', '"true"') AS is_error
    FROM {file}
    WHERE event IN ('$ai_generation', '$ai_embedding', '$ai_span')
),
per_item AS (
    SELECT m.run_id AS run_id, m.cluster_id AS cluster_id, m.item AS item,
           {per_item}
           countIf(e.is_error) AS errors
    FROM membership AS m
    INNER JOIN events AS e ON e.item = m.item
    WHERE e.ts >= m.ws AND {window_end}
    GROUP BY run_id, cluster_id, item
)
SELECT run_id, cluster_id,
       count() AS item_count,
       countIf(cost > 0) AS costed,
       avgIf(cost, cost > 0) AS avg_cost_usd,
       sumIf(cost, cost > 0) AS total_cost_usd,
       countIf(latency > 0) AS timed,
       avgIf(latency, latency > 0) AS avg_latency_s,
       quantileExactInclusiveIf(0.95)(latency, latency > 0) AS p95_latency_s,
       countIf(tokens > 0) AS tokened,
       avgIf(tokens, tokens > 0) AS avg_tokens,
       countIf(errors > 0) AS error_count,
       countIf(errors > 0) / count() AS error_rate
FROM per_item
GROUP BY run_id, cluster_id
ORDER BY run_id, cluster_id
SETTINGS input_format_json_read_objects_as_strings = 1,
         input_format_json_read_numbers_as_strings = 1
"""

# Per item, the two definitions of DESIGN §1: the cluster page's (ui) and the job's.
SEMANTICS_SQL = {
    "ui": {
        "per_item": """sum(ifNull(e.cost, 0)) AS cost,
           max(ifNull(e.latency, 0)) AS latency,
           sum(ifNull(e.tokens_in, 0) + ifNull(e.tokens_out, 0)) AS tokens,""",
        "window_end": "e.ts <= m.we",
    },
    "workflow": {
        "per_item": """sumIf(ifNull(e.cost, 0), e.event != '$ai_span') AS cost,
           sumIf(ifNull(e.latency, 0), e.event = '$ai_generation') AS latency,
           sumIf(ifNull(e.tokens_in, 0) + ifNull(e.tokens_out, 0),
                 e.event != '$ai_span') AS tokens,""",
        "window_end": "e.ts < m.we",
    },
}

FILE_SCHEMA = "uuid String, event String, timestamp String, distinct_id String, properties String"


def chdb_sql(path: Path, semantics: str = "ui") -> str:
    literal = str(path).replace("\\", "\\\\").replace("'", "\\'")
    return CHDB_SQL.format(
        file=f"file('{literal}', 'JSONEachRow', '{FILE_SCHEMA}')", **SEMANTICS_SQL[semantics]
    )


# --- workers (one per fresh interpreter) ------------------------------------------------


def worker_ours(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    from datetime import timedelta

    from llmc_checks.model import BaselineRequest, RunRequest
    from llmc_checks.sources.snapshot import SnapshotSource

    imported = time.perf_counter()
    rss_before = peak_rss_mb()
    previous = BaselineRequest("previous")
    request = RunRequest(
        level="trace",
        job=None,
        lookback=timedelta(days=30),
        baselines=(previous,),
        stats=frozenset(STAT_FIELDS),
    )
    t0 = time.perf_counter()
    loaded = SnapshotSource(path).load(request)
    elapsed = time.perf_counter() - t0
    rows: dict[str, dict[str, Any]] = {}
    for run in (*loaded.baselines[previous], loaded.latest):
        for cluster in run.clusters:
            stats = cluster.stats
            assert stats is not None
            rows[f"{run.run_id}/{cluster.cluster_id}"] = {f: getattr(stats, f) for f in STAT_FIELDS}
    return {
        "seconds": elapsed,
        "import_seconds": imported - started,
        "rss_after_import_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "rows": rows,
    }


def worker_chdb(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    import chdb

    imported = time.perf_counter()
    rss_before = peak_rss_mb()
    sql = chdb_sql(path)
    t0 = time.perf_counter()
    result = chdb.query(sql, "JSONCompact")
    elapsed = time.perf_counter() - t0
    doc = json.loads(result.bytes())
    names = [m["name"] for m in doc["meta"]]
    rows: dict[str, dict[str, Any]] = {}
    for values in doc["data"]:
        rec = dict(zip(names, values, strict=True))
        count = int(rec["item_count"])

        def avg(value: Any, n: Any) -> float | None:
            return float(value) if int(n) else None

        rows[f"{rec['run_id']}/{rec['cluster_id']}"] = {
            "item_count": count,
            "avg_cost_usd": avg(rec["avg_cost_usd"], rec["costed"]),
            "total_cost_usd": avg(rec["total_cost_usd"], rec["costed"]),
            "avg_latency_s": avg(rec["avg_latency_s"], rec["timed"]),
            "p95_latency_s": avg(rec["p95_latency_s"], rec["timed"]),
            "avg_tokens": avg(rec["avg_tokens"], rec["tokened"]),
            "error_count": int(rec["error_count"]),
            "error_rate": float(rec["error_rate"]) if count else None,
        }
    return {
        "seconds": elapsed,
        "import_seconds": imported - started,
        "rss_after_import_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "rows": rows,
    }


# --- driver -----------------------------------------------------------------------------


def ensure_data(events: int, items: int, seed: int) -> tuple[Path, Path]:
    """The cached `.jsonl.gz` and `.jsonl` (same rows), generated on first use."""
    import gzip
    import shutil

    DATA.mkdir(parents=True, exist_ok=True)
    stem = f"snapshot-{events // 1000}k-{items // 1000}k-items-seed{seed}"
    gz, plain = DATA / f"{stem}.jsonl.gz", DATA / f"{stem}.jsonl"
    if not gz.exists():
        from llmc_checks.synth import generate, scenario_for_size, write_rows

        print(f"generating {gz.name} (once; cached in {DATA.relative_to(ROOT)}/) ...", flush=True)
        synth = generate(scenario_for_size(events, items, days=7, seed=seed))
        tmp = gz.with_name("tmp-" + gz.name)  # write_rows picks the format by suffix
        write_rows(synth.iter_rows(), tmp)
        tmp.replace(gz)
    if not plain.exists():
        tmp = plain.with_suffix(".tmp")
        with gzip.open(gz, "rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(plain)
    return gz, plain


def compare(ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]]) -> list[str]:
    """Differences between the two sides' per-cluster numbers (empty: they agree)."""
    problems: list[str] = []
    if not ours:
        problems.append("ours returned no clusters")
    for key, mine in ours.items():
        other = theirs.get(key)
        if other is None:  # chDB has no row for a cluster none of whose items has an event
            if mine["item_count"] != 0:
                problems.append(f"{key}: missing from chDB")
            continue
        for field in STAT_FIELDS:
            a, b = mine[field], other[field]
            if a is None or b is None:
                if a is not b:
                    problems.append(f"{key}.{field}: ours {a!r}, chDB {b!r}")
            elif not math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0):
                problems.append(f"{key}.{field}: ours {a!r}, chDB {b!r}")
    problems.extend(f"{key}: only in chDB" for key in theirs.keys() - ours.keys())
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5, help="measurements per side and file")
    ap.add_argument("--events", type=int, default=600_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", nargs=2, metavar=("SIDE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        side, path = args.worker
        result = (worker_ours if side == "ours" else worker_chdb)(Path(path))
        print(json.dumps(result))
        return 0

    from importlib.metadata import version

    from tabulate import tabulate

    gz, plain = ensure_data(args.events, args.items, args.seed)
    print_machine([("chdb", version("chdb")), ("repetitions", str(args.reps))])
    table = []
    verdicts = []
    for path in (gz, plain):
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "chdb": []}
        for _ in range(args.reps):
            for side in ("ours", "chdb"):
                runs[side].append(run_worker(Path(__file__), [side, str(path)]))
        problems = compare(runs["ours"][0]["rows"], runs["chdb"][0]["rows"])
        if problems:
            print(f"{path.name}: ours and chDB DISAGREE ({len(problems)} differences):")
            for line in problems[:20]:
                print("  ", line)
            return 1
        clusters = len(runs["ours"][0]["rows"])
        size_mb = path.stat().st_size / 1e6
        ours_t = summary([r["seconds"] for r in runs["ours"]])
        chdb_t = summary([r["seconds"] for r in runs["chdb"]])
        for side, times in (("ours", ours_t), ("chdb", chdb_t)):
            results = runs[side]
            table.append(
                [
                    path.name.split(".", 1)[1],
                    f"{size_mb:.0f}",
                    "llmc-checks SnapshotSource" if side == "ours" else "chDB query",
                    f"{times[0]:.2f}",
                    f"{times[1]:.2f}",
                    f"{min(r['import_seconds'] for r in results):.2f}",
                    f"{max(r['peak_rss_mb'] for r in results):.0f}",
                    f"{min(r['rss_after_import_mb'] for r in results):.0f}",
                ]
            )
        ratio_min, ratio_median = ours_t[0] / chdb_t[0], ours_t[1] / chdb_t[1]
        peak = max(r["peak_rss_mb"] for r in runs["ours"])
        table.append(
            ["", "", f"ratio ours/chDB: {ratio_min:.2f} (min), {ratio_median:.2f} (median)"]
            + [""] * 5
        )
        verdicts.append(
            f"{path.name}: {clusters} clusters (latest + previous) agree to rel 1e-9; "
            f"ratio {ratio_median:.2f} (median) / {ratio_min:.2f} (min) "
            f"{'≤' if ratio_median <= 1.0 else '>'} 1.0; our peak {peak:.0f} MB "
            f"{'<' if peak < 500 else '≥'} 500 MB"
        )
    print(
        tabulate(
            table,
            headers=[
                "file",
                "MB",
                "what",
                "min s",
                "median s",
                "import s",
                "peak RSS MB",
                "RSS after import MB",
            ],
        )
    )
    print()
    for verdict in verdicts:
        print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
