"""Domain objects shared by the sources, the metrics and the checks.

Both sources (snapshot file, live PostHog) produce these; everything downstream
is pure functions over them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Level = Literal["trace", "generation", "evaluation"]
LEVELS: tuple[Level, ...] = ("trace", "generation", "evaluation")

NOISE_CLUSTER_ID = -1

# Which of PostHog's two definitions of the per-item metrics (DESIGN §1): the cluster
# page's ("ui") or the clustering job's stored `metrics` ("workflow").
Semantics = Literal["ui", "workflow"]
SEMANTICS: tuple[Semantics, ...] = ("ui", "workflow")

# What --llmc-record can write (and what a snapshot reads line by line).
RECORD_SUFFIXES = (".jsonl", ".jsonl.gz")

# The jobs PostHog creates for every project (`ClusteringJob`'s DEFAULT_LEVEL_SPECS).
DEFAULT_JOB_NAMES: Mapping[str, str] = {
    "trace": "Default - traces",
    "generation": "Default - generations",
    "evaluation": "Default - evaluations",
}

# Event names PostHog's clustering workflow emits, one per level.
CLUSTER_EVENTS: Mapping[str, Level] = {
    "$ai_trace_clusters": "trace",
    "$ai_generation_clusters": "generation",
    "$ai_evaluation_clusters": "evaluation",
}

# The per-cluster numbers a check can read; names are the metric names of the config.
STAT_FIELDS: tuple[str, ...] = (
    "item_count",
    "avg_cost_usd",
    "total_cost_usd",
    "avg_latency_s",
    "p95_latency_s",
    "avg_tokens",
    "error_count",
    "error_rate",
)

# PostHog's baked `metrics` keys → our stat names. p95 is never baked.
BAKED_KEYS: Mapping[str, str] = {
    "avg_cost": "avg_cost_usd",
    "total_cost": "total_cost_usd",
    "avg_latency": "avg_latency_s",
    "avg_tokens": "avg_tokens",
    "error_rate": "error_rate",
    "error_count": "error_count",
    "item_count": "item_count",
}


# What one item contributes under the gate's semantics, by measure (metrics_catalog's
# `item_measure`): the evidence kinds besides "representative" rank by these.
Measure = Literal["cost", "latency", "tokens", "errors"]
MEASURES: tuple[Measure, ...] = ("cost", "latency", "tokens", "errors")
# Why an item is shown as evidence, by the measure it was ranked on.
WHY: Mapping[Measure, str] = {
    "cost": "most expensive",
    "latency": "slowest",
    "tokens": "most tokens",
    "errors": "errored",
}
REPRESENTATIVE = "representative"


class LlmcError(Exception):
    """A problem the user must act on; its message is one line, safe to print."""


class DataError(LlmcError):
    """The clustering data is malformed or missing (never a passing check)."""


class NoRunFound(DataError):
    """No run matches the request (yet): `--llmc-wait` polls on this one."""


class SourceError(LlmcError):
    """The source could not be read (unreachable, unauthorised, timed out)."""


@dataclass(frozen=True, slots=True)
class ClusterStats:
    """Per-cluster aggregates with PostHog's semantics.

    `item_count` counts items with at least one AI event in the run's window;
    averages cover only items whose value is > 0 (None when there are none);
    `error_count` counts items with at least one error event.
    """

    item_count: int = 0
    avg_cost_usd: float | None = None
    total_cost_usd: float | None = None
    avg_latency_s: float | None = None
    p95_latency_s: float | None = None
    avg_tokens: float | None = None
    error_count: int = 0
    error_rate: float | None = None

    def value(self, name: str) -> float | None:
        v: float | int | None = getattr(self, name)
        return None if v is None else float(v)


@dataclass(frozen=True, slots=True)
class ItemValues:
    """One item's numbers under the gate's semantics (metrics.py); 0 = none."""

    cost: float = 0.0
    latency: float = 0.0
    tokens: float = 0.0
    errors: int = 0

    def of(self, measure: Measure) -> float:
        return float(getattr(self, measure))


@dataclass(frozen=True, slots=True)
class Member:
    """One item of a cluster's `traces` map, as evidence shows and links it."""

    item_id: str
    rank: int | None = None  # 0 = the cluster's centre (PostHog shows #rank+1)
    timestamp: str = ""  # the map's ISO timestamp, "" when PostHog found none
    trace_id: str = ""  # the item's own trace (generation level: the generation's)
    generation_id: str = ""
    # None: no AI event of the item in the run's window (or none read).
    values: ItemValues | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """An item shown behind a cluster's verdict: why it was picked, its value, a link."""

    item_id: str
    why: str  # "representative", "errored", "most expensive", "slowest", "most tokens"
    value: float | None  # under the check's metric; None where it has no per-item value
    timestamp: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Bound:
    """The score bound a `confidence` verdict judged instead of the raw number: the
    lower bound under a ceiling, the upper one under a floor."""

    side: Literal["lower", "upper"]
    value: float
    confidence: float
    # A bound on the change against the baseline (a difference of proportions), not
    # on the value itself.
    on_change: bool = False
    # The limit the bound was compared with, in the bound's own terms (a change's is
    # signed: a fall's allowed change is negative), so its text rounds away from it.
    against: float | None = None


# A value within this share of its min or max (of the larger of the two) counts as
# equal to it: a mean of floats is not exact (eighteen items of $0.08 average
# $0.08000000000000002; three of 0.1s, 0.10000000000000002s).
LIMIT_TOLERANCE = 1e-12


def at_limit(value: float, limit: float, scale: float = 0.0) -> bool:
    """Whether `value` is `limit` up to float rounding: the one rule for every verdict
    against a limit (min/max: a value or a confidence bound, run or cluster scope;
    max_increase/max_decrease: a change or its bound) and for its text, which then reads
    as the limit.

    Relative, not absolute: the rounding error of a sum or a mean grows with the size of
    its numbers (one ulp of 0.08 is 1.4e-17, of 20,000 tokens 3.6e-12), so an absolute
    tolerance would be too loose for tiny limits (a max of 1e-13 would pass 1e-12, ten
    times it) and narrower than one ulp for large ones. 1e-12 of the larger number is
    thousands of ulps (a sum of that many items rounds by at most that much, and in
    practice by far less) yet nothing a user writes: 12 significant digits; a limit of 0
    only equals 0.

    `scale`: for a value that is a difference (a change, measure_change), the size of
    the numbers it is the difference of, whose rounding error it carries."""
    return abs(value - limit) <= LIMIT_TOLERANCE * max(abs(value), abs(limit), scale)


def over(value: float, limit: float, scale: float = 0.0) -> bool:
    """`value` exceeds a max: above it by more than float rounding (at_limit)."""
    return value > limit and not at_limit(value, limit, scale)


def under(value: float, limit: float) -> bool:
    """`value` falls short of a min: below it by more than float rounding (at_limit)."""
    return value < limit and not at_limit(value, limit)


def measure_change(new: float, base: float, relative: bool) -> tuple[float, float]:
    """The change from `base` to `new` as a limit of its kind judges it, with the scale
    of its rounding error (at_limit): the one rule for max_increase/max_decrease
    verdicts, their margins and their text, which reads as the limit at it.

    Absolute: new - base, whose error is that of the larger of the two, not of the
    change (one ulp of $2,097,030.47 is 4.7e-10: $1,000 more reads 1000.0000000002).
    Relative (`base` not 0): (new - base) / |base|, the very number the text shows as
    "(+20%)", compared with the limit itself rather than the change with |base| x limit,
    which rounds differently: the verdict and the text can never disagree."""
    diff, scale = new - base, max(abs(new), abs(base))
    return (diff / abs(base), scale / abs(base)) if relative else (diff, scale)


@dataclass(frozen=True, slots=True)
class Limits:
    """A check's limits as configured, for the text of what was judged against them: a
    value or change shown beside its limit reads on its own side of it (formatting)."""

    min: float | None = None
    max: float | None = None
    # max_increase / max_decrease: (amount, relative: a fraction of the baseline value).
    increase: tuple[float, bool] | None = None
    decrease: tuple[float, bool] | None = None


@dataclass(frozen=True, slots=True)
class Cluster:
    cluster_id: int
    title: str
    description: str
    size: int
    # Item ids (trace ids or generation uuids); empty when the source did not fetch them.
    item_ids: tuple[str, ...] = ()
    # PostHog's baked `metrics`, translated to our stat names; None when the run has none.
    baked: Mapping[str, float | None] | None = None
    # Filled by a source once per-item metrics are known.
    stats: ClusterStats | None = None
    # The items evidence may show (latest run only, when asked): for each wanted kind,
    # its `RunRequest.evidence` best items (metrics.evidence_pool), in no set order.
    candidates: tuple[Member, ...] = ()

    @property
    def is_noise(self) -> bool:
        return self.cluster_id == NOISE_CLUSTER_ID


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    level: Level
    job_id: str
    job_name: str
    window_start: datetime
    window_end: datetime
    items_analyzed: int
    clusters: tuple[Cluster, ...]
    emitted_at: datetime | None = None
    params: Mapping[str, object] = field(default_factory=dict)

    def header(self) -> dict[str, str | int]:
        """The run's identity as reports and baseline files write it (JSON-ready)."""
        return {
            "run_id": self.run_id,
            "level": self.level,
            "job_id": self.job_id,
            "job_name": self.job_name,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "items_analyzed": self.items_analyzed,
        }

    @property
    def noise(self) -> Cluster | None:
        return next((c for c in self.clusters if c.is_noise), None)

    def cluster(self, cluster_id: int) -> Cluster:
        for c in self.clusters:
            if c.cluster_id == cluster_id:
                return c
        raise KeyError(cluster_id)


# ---------------------------------------------------------------------------
# The contract between the gate and a source: a request in, the selected runs out


@dataclass(frozen=True, slots=True)
class BaselineRequest:
    """Which earlier runs to load next to the latest one.

    kind "previous": the run before the latest with the same level and job;
    "run_id": that run; "median_of": the `count` runs before the latest.
    (A baseline `{file: ...}` is read by the gate, not by a source.)
    """

    kind: Literal["previous", "run_id", "median_of"]
    run_id: str | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class RunRequest:
    level: Level
    job: str | None  # a job name or id; None = any job of that level
    lookback: timedelta
    # How per-item metrics are computed (and whether baked `metrics` may stand in).
    semantics: Semantics = "ui"
    run_id: str | None = None  # pin the "latest" run (--llmc-run)
    # Every baseline some check asks for; loaded in the same read as the latest run.
    baselines: tuple[BaselineRequest, ...] = ()
    # ClusterStats fields some check needs; empty → no per-item metrics needed at all.
    stats: frozenset[str] = frozenset()
    # Cross-run matching uses shared items: only then must item ids be loaded.
    need_items: bool = False
    # --llmc-after: only runs whose window ends after this instant count as "latest".
    after: datetime | None = None
    # How many recent runs (the latest included) to return for trend lines; their
    # clusters come without item ids and with baked stats only.
    history: int = 0
    # Evidence: per cluster of the latest run, the `evidence` best items of each kind
    # (representative always, plus these measures) as `Cluster.candidates`; 0 = none.
    evidence: int = 0
    evidence_measures: frozenset[Measure] = frozenset()


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a source hands back: the clock it measured against and the runs."""

    now: datetime
    latest: Run
    # For each requested baseline, its runs oldest first (empty: none exists yet).
    baselines: Mapping[BaselineRequest, tuple[Run, ...]] = field(default_factory=dict)
    # The last `RunRequest.history` runs of the latest run's level and job, oldest first.
    history: tuple[Run, ...] = ()
    # Runs without a job id that would otherwise be the latest's earlier runs
    # (runs.count_legacy_runs); None: the source did not look (the live queries).
    legacy_runs: int | None = None
