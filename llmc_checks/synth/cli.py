"""`python -m llmc_checks.synth`: write a generated snapshot file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from llmc_checks.model import DEFAULT_JOB_NAMES, LEVELS
from llmc_checks.synth.build import generate, scenario_for_size, write_rows
from llmc_checks.synth.scenario import DEFAULT_END, DEFAULT_JOB_ID, Job, Scenario, Shift
from llmc_checks.units import counted

_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")


def _parse_end(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 time: {text!r} (e.g. 2026-11-22T00:00:00Z)"
        ) from None


def _out_path(text: str) -> Path:
    # Checked before generating: a typo must not cost the whole generation, then a traceback.
    path = Path(text)
    if not path.name.endswith(_SUFFIXES):
        raise argparse.ArgumentTypeError(f"{text}: expected a {', '.join(_SUFFIXES)} file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: the folder {path.parent} does not exist")
    return path


def _parse_slower(text: str) -> Shift:
    try:
        topic, day, factor = text.split(":")
        return Shift(topic, int(day), latency_factor=float(factor))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TOPIC:DAY:FACTOR, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m llmc_checks.synth",
        description="Write a synthetic PostHog LLM-analytics snapshot (event rows).",
    )
    ap.add_argument(
        "--out",
        required=True,
        type=_out_path,
        metavar="PATH",
        help="the file to write: .jsonl, .jsonl.gz, .json or .json.gz (a JSON array)",
    )
    ap.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes")
    ap.add_argument("--days", type=int, default=3, help="daily runs per job")
    ap.add_argument(
        "--traces-per-day", type=int, default=300, help="traces a day (each run clusters a day)"
    )
    ap.add_argument(
        "--events", type=int, help="size the traffic to about this many AI events in all"
    )
    ap.add_argument("--level", choices=LEVELS, default="trace", help="the primary job's level")
    ap.add_argument(
        "--extra-level",
        choices=LEVELS,
        action="append",
        default=[],
        help="add the level's default job, e.g. 'Default - generations' (repeatable)",
    )
    ap.add_argument(
        "--max-samples",
        type=int,
        default=1500,
        help="most items one clustering run analyses (PostHog samples at most this many)",
    )
    ap.add_argument("--team-id", type=int, default=1, help="the PostHog team id in the rows")
    ap.add_argument("--end", type=_parse_end, default=DEFAULT_END, help="last window end, ISO")
    ap.add_argument(
        "--noise-share", type=float, default=0.08, help="share of items in the noise cluster"
    )
    ap.add_argument(
        "--no-baked-metrics",
        action="store_true",
        help="runs carry no per-cluster metrics (older PostHog): computed from AI events",
    )
    ap.add_argument(
        "--legacy-runs",
        type=int,
        default=0,
        help="how many of the primary job's oldest runs use the legacy event shape",
    )
    ap.add_argument(
        "--clusters-as-string",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of runs whose $ai_clusters is a JSON string, not a list",
    )
    ap.add_argument(
        "--duplicate-emission",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of runs whose clustering event is emitted twice",
    )
    ap.add_argument(
        "--slower",
        type=_parse_slower,
        action="append",
        default=[],
        metavar="TOPIC:DAY:FACTOR",
        help="from run DAY on, TOPIC's latency times FACTOR, e.g. summarization:3:2 (repeatable)",
    )
    a = ap.parse_args(argv)
    extra = tuple(
        Job(lvl, f"{DEFAULT_JOB_ID[:-2]}{n + 2:02d}", DEFAULT_JOB_NAMES[lvl])
        for n, lvl in enumerate(a.extra_level)
    )
    traces_per_day = a.traces_per_day
    if a.events is not None:
        traces_per_day = scenario_for_size(a.events, a.max_samples, a.days).traces_per_day
    try:
        s = Scenario(
            seed=a.seed,
            days=a.days,
            traces_per_day=traces_per_day,
            level=a.level,
            extra_jobs=extra,
            max_samples=a.max_samples,
            team_id=a.team_id,
            end=a.end,
            noise_share=a.noise_share,
            baked_metrics=not a.no_baked_metrics,
            legacy_runs=a.legacy_runs,
            clusters_as_string=a.clusters_as_string,
            duplicate_emission=a.duplicate_emission,
            shifts=tuple(a.slower),
        )
    except ValueError as exc:
        ap.error(str(exc))
    synth = generate(s)
    try:
        n = write_rows(synth.iter_rows(), a.out)
    except OSError as exc:
        print(f"{ap.prog}: error: cannot write {a.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    events, runs = counted(synth.n_ai_events, "AI event"), counted(len(synth.runs), "run")
    print(f"wrote {counted(n, 'row')} ({events}, {runs}) to {a.out}")
    for r in synth.runs:
        clusters = counted(len(r.clusters), "cluster")
        print(f"  {r.run_id}: {counted(r.items_analyzed, 'item')}, {clusters}")
    return 0
