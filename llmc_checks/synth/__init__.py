"""A seeded generator of realistic PostHog LLM-analytics data.

It simulates what a team's PostHog project holds: a stream of LLM traffic
(`$ai_generation`, `$ai_embedding`, `$ai_span` and `$ai_trace` events grouped in
traces, each trace about one *topic*) and the daily clustering runs PostHog emits
over it (`$ai_trace_clusters`, `$ai_generation_clusters`, `$ai_evaluation_clusters`):
7-day windows, random sampling up to `max_samples`, one cluster per topic with
LLM-style reworded titles, a noise cluster, and optionally baked `metrics`
computed with PostHog's semantics (DESIGN §1).

The data carries the traps real data has, each controllable and on by default at
modest rates (see `Scenario`), and scenario knobs for regressions (a topic whose
cost jumps, a new topic, a topic set that changes entirely). `generate()` returns
the rows and the ground truth of every run (which cluster is which topic, the
expected per-cluster numbers), so tests know the right answers.

Deterministic (same scenario → byte-identical rows, whatever PYTHONHASHSEED), stdlib
only (plus orjson for writing), and fast enough for benchmarks: AI events are kept
in a compact form and rendered to dicts on demand (`Synth.iter_rows()` streams
them; `write_rows` writes a snapshot file). Event uuids are UUIDv7-shaped like
PostHog's; trace ids are uuid4-shaped like the SDKs'.

    python -m llmc_checks.synth --out demo.jsonl.gz --days 3 --seed 7 --traces-per-day 300

    topics.py    the topic catalogue          scenario.py  what to simulate (Scenario)
    traffic.py   AI events over time          runs.py      clustering runs over them
    truth.py     the ground truth of each run build.py     generate(), Synth, write_rows
    cli.py       the command line             _base.py     shared units, ids, helpers
"""

from __future__ import annotations

from llmc_checks.synth._base import UTC, Row, iso_ms
from llmc_checks.synth.build import EVENTS_PER_TRACE, Synth, generate, scenario_for_size, write_rows
from llmc_checks.synth.cli import main
from llmc_checks.synth.scenario import (
    DEFAULT_END,
    DEFAULT_JOB_ID,
    Job,
    NewTopic,
    NoiseShift,
    Scenario,
    Shift,
)
from llmc_checks.synth.topics import (
    ALT_TOPICS,
    DEFAULT_TOPICS,
    NOISE_DESCRIPTION,
    NOISE_TITLE,
    Topic,
)
from llmc_checks.synth.truth import ClusterTruth, RunTruth

__all__ = [
    "ALT_TOPICS",
    "DEFAULT_END",
    "DEFAULT_JOB_ID",
    "DEFAULT_TOPICS",
    "EVENTS_PER_TRACE",
    "NOISE_DESCRIPTION",
    "NOISE_TITLE",
    "UTC",
    "ClusterTruth",
    "Job",
    "NewTopic",
    "NoiseShift",
    "Row",
    "RunTruth",
    "Scenario",
    "Shift",
    "Synth",
    "Topic",
    "generate",
    "iso_ms",
    "main",
    "scenario_for_size",
    "write_rows",
]
