"""What to simulate: `Scenario` and its knobs (jobs, shifts, new topics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from llmc_checks.model import DEFAULT_JOB_NAMES, LEVELS, Level
from llmc_checks.synth._base import UTC, _utc_ms
from llmc_checks.synth.topics import DEFAULT_TOPICS, Topic

# ---------------------------------------------------------------------------
# Scenario
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A clustering job: one run per day at its level."""

    level: Level
    job_id: str
    job_name: str


@dataclass(frozen=True)
class Shift:
    """From day `from_day` on, `topic`'s traces change: factors multiply the topic's
    means, `error_rate` (when set) replaces its error rate."""

    topic: str
    from_day: int
    cost_factor: float = 1.0
    latency_factor: float = 1.0
    tokens_factor: float = 1.0
    error_rate: float | None = None


@dataclass(frozen=True)
class NewTopic:
    """From day `from_day` on, `topic` takes `share` of all new traces."""

    topic: Topic
    from_day: int
    share: float


@dataclass(frozen=True)
class NoiseShift:
    """From run `from_day` on, the clustering leaves `share` of the items as noise
    (a clustering outcome, so unlike traffic shifts it shows in full at once)."""

    from_day: int
    share: float


DEFAULT_END = datetime(2026, 11, 15, 0, 15, 3, 104000, tzinfo=UTC)
DEFAULT_JOB_ID = "019a3f2e-7c41-7d0b-9e52-4be8f1c06a11"


@dataclass(frozen=True)
class Scenario:
    """Everything that decides the generated data. Same scenario → same bytes.

    Time: `days` daily runs per job; run r's window is `[end_r − lookback_days, end_r)`
    with `end_r = end − (days − 1 − r) days`, so the last run ends at `end`. Traffic
    covers all windows, plus one day before the first (traces straddling its start,
    clustered items without events in it) and `tail_hours` after `end`.

    Days for the regression knobs are numbered by run: day k is the 24 h ending at
    run k's window end, so a change "from day k" is first seen by run k (in the last
    seventh of its window) and never by run k − 1. Negative days are earlier.
    """

    seed: int = 0
    days: int = 3
    traces_per_day: int = 300
    # The primary job; `extra_jobs` add more (another level, or a second job).
    level: Level = "trace"
    job_id: str = DEFAULT_JOB_ID
    job_name: str | None = None  # None → PostHog's default job name, "Default - traces"
    extra_jobs: tuple[Job, ...] = ()
    team_id: int = 1
    end: datetime = DEFAULT_END  # window end of the last run (truncated to ms)
    lookback_days: int = 7
    tail_hours: float = 6.0
    max_samples: int = 1500
    noise_share: float = 0.08
    min_cluster_size: int = 5  # a topic with fewer sampled items goes to noise
    baked_metrics: bool = True
    topics: tuple[Topic, ...] = DEFAULT_TOPICS
    # --- traps (on by default, modest rates) ---
    error_flag_string_rate: float = 0.15  # `$ai_is_error` as "true"/"false"
    error_flag_missing_rate: float = 0.05  # non-error events without `$ai_is_error`
    string_number_rate: float = 0.05  # events whose numbers are JSON strings
    zero_cost_rate: float = 0.03  # traces on a free model: every cost is 0
    missing_cost_rate: float = 0.03  # generations without `$ai_total_cost_usd`
    span_cost_rate: float = 0.5  # spans repeating their child's cost and latency
    span_rate: float = 0.5  # generations wrapped in a span
    trace_event_rate: float = 0.3  # traces with a root `$ai_trace` event
    # traces with a root `$ai_span` carrying the trace's cost and its whole duration
    # (the cluster page counts its cost and its latency, the job neither)
    root_span_rate: float = 0.2
    fractional_token_rate: float = 0.02  # generations whose input tokens read "812.5"
    long_trace_rate: float = 0.03  # traces whose turns spread over hours
    edge_events: bool = True  # per window: a generation exactly at start and at end
    phantom_items: int = 2  # per run: clustered items with no event in the window
    # --- shape variants (off by default) ---
    legacy_runs: int = 0  # the primary job's oldest N runs in the legacy shape
    clusters_as_string: float = 0.0  # share of runs whose `$ai_clusters` is a string
    duplicate_emission: float = 0.0  # share of runs emitted twice (a retry)
    # --- regressions ---
    shifts: tuple[Shift, ...] = ()
    new_topics: tuple[NewTopic, ...] = ()
    topics_after: tuple[Topic, ...] = ()  # the whole topic set, from `topics_change_day`
    topics_change_day: int | None = None
    noise_shifts: tuple[NoiseShift, ...] = ()

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if self.traces_per_day < 0 or self.max_samples < 1 or self.lookback_days < 1:
            raise ValueError("traces_per_day >= 0, max_samples >= 1, lookback_days >= 1")
        for job in self.jobs:
            if job.level not in LEVELS:
                raise ValueError(f"unknown level {job.level!r}")
        if len({(j.level, j.job_id) for j in self.jobs}) < len(self.jobs):
            raise ValueError("two jobs share a level and job id (their run ids would clash)")
        if self.tail_hours < 0 or self.phantom_items < 0 or self.legacy_runs < 0:
            raise ValueError("tail_hours, phantom_items and legacy_runs must be >= 0")
        if self.legacy_runs and self.level != "trace":
            raise ValueError("legacy runs exist only at trace level")
        rates = {
            "noise_share": self.noise_share,
            "error_flag_string_rate": self.error_flag_string_rate,
            "error_flag_missing_rate": self.error_flag_missing_rate,
            "string_number_rate": self.string_number_rate,
            "zero_cost_rate": self.zero_cost_rate,
            "missing_cost_rate": self.missing_cost_rate,
            "span_cost_rate": self.span_cost_rate,
            "span_rate": self.span_rate,
            "trace_event_rate": self.trace_event_rate,
            "root_span_rate": self.root_span_rate,
            "fractional_token_rate": self.fractional_token_rate,
            "long_trace_rate": self.long_trace_rate,
            "clusters_as_string": self.clusters_as_string,
            "duplicate_emission": self.duplicate_emission,
        }
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.error_flag_string_rate + self.error_flag_missing_rate > 1.0:
            raise ValueError("error_flag_string_rate + error_flag_missing_rate must be <= 1")
        if not self.topics:
            raise ValueError("at least one topic")
        if any(not 0.0 <= n.share <= 1.0 for n in self.noise_shifts):
            raise ValueError("a noise shift's share must be within [0, 1]")
        if sum(n.share for n in self.new_topics) > 1.0:
            raise ValueError("new topic shares must sum to <= 1")
        if self.topics_after and self.topics_change_day is None:
            raise ValueError("topics_after needs topics_change_day")
        keys: dict[str, Topic] = {}
        for t in self._all_topics():
            if keys.setdefault(t.key, t) != t:
                raise ValueError(f"two different topics share the key {t.key!r}")
        for sh in self.shifts:
            if sh.topic not in keys:
                raise ValueError(f"shift of unknown topic {sh.topic!r}")

    def noise_share_of(self, run: int) -> float:
        """The noise share of run `run`: the latest noise shift begun by then, if any."""
        share = self.noise_share
        for shift in sorted(self.noise_shifts, key=lambda n: n.from_day):
            if run >= shift.from_day:
                share = shift.share
        return share

    def _all_topics(self) -> list[Topic]:
        return [*self.topics, *self.topics_after, *(n.topic for n in self.new_topics)]

    @property
    def jobs(self) -> tuple[Job, ...]:
        name = self.job_name if self.job_name is not None else DEFAULT_JOB_NAMES[self.level]
        return (Job(self.level, self.job_id, name), *self.extra_jobs)

    @property
    def window_ends(self) -> tuple[datetime, ...]:
        end = _utc_ms(self.end)
        return tuple(end - timedelta(days=self.days - 1 - r) for r in range(self.days))
