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
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import heapq
import math
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from llmc_checks.model import LEVELS, NOISE_CLUSTER_ID, Level

Row = dict[str, Any]

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = 1_000_000
_HOUR = 3600 * _US
_DAY = 24 * _HOUR

# ---------------------------------------------------------------------------
# Topics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """What one kind of traffic looks like, and how the clustering LLM names it.

    `cost` (USD), `latency` (s) and `tokens` are per-trace means (summed over the
    trace's generations); `error_rate` is the share of traces with an error event;
    `weight` the topic's relative share of traffic. Titles and descriptions are the
    pools each run draws its label from: rewordings of one another.
    """

    key: str
    titles: tuple[str, ...]
    descriptions: tuple[str, ...]
    cost: float
    latency: float
    tokens: int
    error_rate: float
    weight: float = 1.0
    generations: float = 2.0  # mean generations per trace
    embedding_rate: float = 0.25  # share of traces that also embed something
    models: tuple[str, ...] = ("gpt-4o-mini",)


NOISE_TITLE = "Outliers"
NOISE_DESCRIPTION = "Items that did not fit into any cluster"

DEFAULT_TOPICS: tuple[Topic, ...] = (
    Topic(
        key="auth",
        titles=(
            "User login and authentication failures",
            "Authentication and sign-in troubleshooting",
            "Login authentication failures and password resets",
            "Sign-in and login authentication problems",
        ),
        descriptions=(
            "Users unable to log in: expired passwords, rejected MFA challenges and "
            "locked accounts awaiting a reset.",
            "Authentication troubleshooting for failed sign-ins, two-factor challenges "
            "and account lockouts.",
            "Login failures such as password resets, MFA challenges and locked accounts.",
        ),
        cost=0.004,
        latency=2.5,
        tokens=1800,
        error_rate=0.04,
        weight=1.0,
        generations=1.5,
        models=("gpt-4o-mini",),
    ),
    Topic(
        key="sql",
        titles=(
            "SQL query generation",
            "Generating SQL queries",
            "SQL generation requests",
            "Writing SQL queries for analysts",
        ),
        descriptions=(
            "Requests to write SQL for the analytics warehouse: joins, aggregations and "
            "window functions.",
            "Generating SQL queries over warehouse tables, with joins, filters and "
            "grouped aggregates.",
            "SQL generation for ad-hoc analyst requests against the warehouse.",
        ),
        cost=0.03,
        latency=6.0,
        tokens=5200,
        error_rate=0.06,
        weight=1.4,
        generations=2.5,
        models=("gpt-4o", "claude-sonnet-4"),
    ),
    Topic(
        key="refunds",
        titles=(
            "Customer refund inquiries",
            "Refund and return support",
            "Handling customer refunds",
            "Refund status for customers",
        ),
        descriptions=(
            "Customers asking about refunds for damaged or late orders and when the money arrives.",
            "Support conversations about refund eligibility, return labels and order "
            "cancellations.",
            "Handling refund and return tickets from customers, including partial refunds.",
        ),
        cost=0.008,
        latency=3.5,
        tokens=2600,
        error_rate=0.02,
        weight=1.6,
        generations=2.0,
        models=("gpt-4o-mini", "claude-haiku-3.5"),
    ),
    Topic(
        key="code_review",
        titles=(
            "Code review feedback",
            "Reviewing code changes",
            "Automated code reviews",
            "Code review comments on diffs",
        ),
        descriptions=(
            "Reviewing diffs, flagging bugs, style nits and missing tests.",
            "Automated feedback on code changes: potential bugs, readability and test coverage.",
            "Code review comments suggesting fixes and refactors for proposed changes.",
        ),
        cost=0.06,
        latency=14.0,
        tokens=12000,
        error_rate=0.03,
        weight=0.8,
        generations=3.0,
        models=("claude-sonnet-4", "gpt-4.1"),
    ),
    Topic(
        key="summarization",
        titles=(
            "Document summarization",
            "Summarizing lengthy documents",
            "Document summaries",
            "Summaries of reports and PDFs",
        ),
        descriptions=(
            "Condensing lengthy documents, reports and PDFs into short summaries with key points.",
            "Summarizing memos, minutes and contracts into a few bullet points.",
            "Document summaries that highlight the main points of each report.",
        ),
        cost=0.02,
        latency=8.0,
        tokens=9000,
        error_rate=0.01,
        weight=1.0,
        generations=1.5,
        models=("gpt-4o", "gemini-2.0-flash"),
    ),
    Topic(
        key="translation",
        titles=(
            "Text translation between languages",
            "Translating product copy",
            "Multilingual translation",
            "Language translation tasks",
        ),
        descriptions=(
            "Translating product copy, UI strings and help articles between languages.",
            "Multilingual translation of marketing text into Spanish, German and Japanese.",
            "Language translation tasks that must keep tone and markup intact.",
        ),
        cost=0.005,
        latency=3.0,
        tokens=2200,
        error_rate=0.01,
        weight=0.9,
        generations=1.2,
        models=("gpt-4o-mini", "gemini-2.0-flash"),
    ),
    Topic(
        key="rag_search",
        titles=(
            "Knowledge base search",
            "Searching the knowledge base",
            "Knowledge retrieval from internal docs",
            "Knowledge base retrieval and search",
        ),
        descriptions=(
            "Answering employee questions by retrieving snippets from the internal wiki.",
            "Semantic search over the knowledge base with cited sources.",
            "Retrieval-augmented answers backed by internal wiki pages.",
        ),
        cost=0.012,
        latency=4.5,
        tokens=6000,
        error_rate=0.03,
        weight=1.3,
        generations=1.8,
        embedding_rate=0.95,
        models=("gpt-4o-mini", "claude-haiku-3.5"),
    ),
    Topic(
        key="extraction",
        titles=(
            "Structured data extraction",
            "Extracting fields from invoices",
            "Invoice field extraction",
            "Parsing structured fields from receipts",
        ),
        descriptions=(
            "Pulling structured fields such as totals, dates and vendor names out of invoices.",
            "Extracting line items and amounts from receipts into JSON.",
            "Parsing scanned paperwork into structured data records.",
        ),
        cost=0.009,
        latency=5.0,
        tokens=4000,
        error_rate=0.05,
        weight=0.7,
        generations=1.5,
        models=("gpt-4o", "gpt-4o-mini"),
    ),
)

# Topics that appear in none of the default pools: for "a new topic appears" and
# "the topics change entirely" scenarios. Distinct from the defaults and each other.
ALT_TOPICS: tuple[Topic, ...] = (
    Topic(
        key="email_drafting",
        titles=(
            "Email drafting assistance",
            "Drafting outbound emails",
            "Composing email drafts",
        ),
        descriptions=(
            "Composing outbound emails and follow-ups for sales reps.",
            "Drafting polite replies and cold outreach emails.",
        ),
        cost=0.006,
        latency=3.0,
        tokens=2400,
        error_rate=0.02,
        weight=1.0,
        generations=1.3,
    ),
    Topic(
        key="image_captioning",
        titles=(
            "Image captioning",
            "Captioning uploaded photos",
            "Photo and image captions",
        ),
        descriptions=(
            "Captioning uploaded photos for accessibility alt tags.",
            "Image captions describing the scene in each photo.",
        ),
        cost=0.015,
        latency=4.0,
        tokens=3000,
        error_rate=0.03,
        weight=1.0,
        generations=1.1,
        models=("gpt-4o",),
    ),
    Topic(
        key="sentiment",
        titles=(
            "Sentiment classification",
            "Classifying survey sentiment",
            "Sentiment scoring of survey responses",
        ),
        descriptions=(
            "Scoring survey responses and store ratings as positive, neutral or negative.",
            "Sentiment classification of survey responses and ratings.",
        ),
        cost=0.002,
        latency=1.2,
        tokens=900,
        error_rate=0.01,
        weight=1.0,
        generations=1.0,
    ),
    Topic(
        key="scheduling",
        titles=(
            "Meeting scheduling",
            "Scheduling calendar meetings",
            "Calendar invite scheduling",
        ),
        descriptions=(
            "Finding free calendar slots and sending meeting invites across time zones.",
            "Rescheduling meetings and resolving calendar conflicts.",
        ),
        cost=0.004,
        latency=2.2,
        tokens=1500,
        error_rate=0.04,
        weight=1.0,
        generations=2.0,
    ),
)

_PROVIDERS = {"gpt": "openai", "claude": "anthropic", "gemini": "gemini"}
_SPAN_NAMES = ("tool_call", "retrieve_context", "validate_output", "agent_step", "rerank")
_EMBED_MODEL = "text-embedding-3-small"

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
    job_name: str | None = None  # None → "Default - <level>"
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

    def _all_topics(self) -> list[Topic]:
        return [*self.topics, *self.topics_after, *(n.topic for n in self.new_topics)]

    @property
    def jobs(self) -> tuple[Job, ...]:
        name = self.job_name if self.job_name is not None else f"Default - {self.level}"
        return (Job(self.level, self.job_id, name), *self.extra_jobs)

    @property
    def window_ends(self) -> tuple[datetime, ...]:
        end = _utc_ms(self.end)
        return tuple(end - timedelta(days=self.days - 1 - r) for r in range(self.days))


# ---------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterTruth:
    cluster_id: int
    topic: str | None  # None for the noise cluster
    title: str
    description: str
    size: int
    item_ids: tuple[str, ...]  # in rank order, as in the emitted `traces` map
    # PostHog's per-cluster numbers for this run (the keys of baked `metrics`), plus
    # "p95_latency" (linear interpolation over items with latency > 0). Present
    # whether or not the run carries them baked.
    metrics: Mapping[str, float | int | None]


@dataclass(frozen=True)
class RunTruth:
    run_id: str
    level: Level
    job_id: str  # "" for legacy runs
    job_name: str
    window_start: datetime
    window_end: datetime
    items_analyzed: int
    clusters: tuple[ClusterTruth, ...]
    event_uuids: tuple[str, ...]  # two when the run was emitted twice
    legacy: bool
    clusters_as_string: bool
    baked: bool
    # Items forced into the sample that have an event exactly at window_start (counts)
    # or exactly at window_end (must not count).
    edge_items: tuple[str, ...]
    # Clustered items with no AI event inside the window.
    phantom_items: tuple[str, ...]

    @property
    def cluster_topics(self) -> dict[int, str | None]:
        return {c.cluster_id: c.topic for c in self.clusters}

    def cluster_for(self, topic: str) -> ClusterTruth | None:
        return next((c for c in self.clusters if c.topic == topic), None)

    def cluster(self, cluster_id: int) -> ClusterTruth:
        for c in self.clusters:
            if c.cluster_id == cluster_id:
                return c
        raise KeyError(cluster_id)


# ---------------------------------------------------------------------------
# Compact internal data
# ---------------------------------------------------------------------------

_GEN, _EMB, _SPAN, _TRACE = 0, 1, 2, 3
_EVENT_NAMES = ("$ai_generation", "$ai_embedding", "$ai_span", "$ai_trace")

# (ts_us, kind, trace_index, seq, cost|None, latency|None, input_tokens,
#  output_tokens, is_error, aux) — seq: unique number the event's uuid derives from;
#  aux: model index (generation) or span-name index (span).
_Ev = tuple[int, int, int, int, float | None, float | None, int, int, bool, int]

# One item's values inside a window: (active, cost, latency, tokens, has_error).
_Vals = tuple[bool, float, float, int, bool]


@dataclass(frozen=True)
class _Eval:
    ts: int
    uuid: str
    trace: int
    cost: float
    latency: float
    tokens: int
    error: bool


@dataclass
class _Traffic:
    events: list[_Ev] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    trace_topic: list[int] = field(default_factory=list)
    trace_user: list[int] = field(default_factory=list)
    trace_events: list[list[_Ev]] = field(default_factory=list)
    trace_first: list[int] = field(default_factory=list)
    trace_last: list[int] = field(default_factory=list)
    max_duration: int = 0
    models: list[str] = field(default_factory=list)
    topic_models: list[list[int]] = field(default_factory=list)
    evals: list[_Eval] = field(default_factory=list)
    salt: int = 0
    next_seq: int = 0

    def uuid(self, ev: _Ev) -> str:
        return _uuid7(ev[0], _mix64(self.salt ^ ev[3]))

    def take_seq(self) -> int:
        self.next_seq += 1
        return self.next_seq - 1


@dataclass(frozen=True)
class _Edges:
    """The generations added exactly at one window's start and end."""

    start: _Ev | None = None
    end: _Ev | None = None


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _utc_ms(dt: datetime) -> datetime:
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _to_us(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a bijection on 64-bit ints that looks random."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _uuid7(ts_us: int, r: int) -> str:
    """A UUIDv7 (PostHog's event uuids): millisecond timestamp, then the 64 bits of
    `r` (distinct `r` → distinct uuid)."""
    ms = ts_us // 1000
    b = (0x2 << 62) | ((ms & 0x3FF) << 52) | (r & 0xFFFFFFFFFFFFF)
    h = f"{ms & 0xFFFFFFFFFFFF:012x}7{(r >> 52) & 0xFFF:03x}{b:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid4(bits: int) -> str:
    """A version-4-shaped UUID from 128 pseudo-random bits."""
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[bits & 3]}{h[17:20]}-{h[20:]}"


def _uuid4_rng(rng: random.Random) -> str:
    return _uuid4(rng.getrandbits(128))


class _Clock:
    """Formats epoch microseconds as PostHog row timestamps, fast."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def iso_us(self, us: int) -> str:
        day, rem = divmod(us, _DAY)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
            self._days[day] = prefix
        h, rem = divmod(rem, _HOUR)
        m, rem = divmod(rem, 60 * _US)
        s, f = divmod(rem, _US)
        return f"{prefix}{h:02d}:{m:02d}:{s:02d}.{f:06d}+00:00"


def iso_ms(dt: datetime) -> str:
    """`2026-11-15T00:15:03.104+00:00`: the format of `$ai_window_start/end`."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    pos = 0.95 * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def _cluster_metrics(values: Iterable[_Vals]) -> dict[str, float | int | None]:
    """PostHog's per-cluster aggregation of per-item values (see DESIGN §1)."""
    items = err_items = 0
    cost_n = lat_n = tok_n = 0
    cost_sum = lat_sum = 0.0
    tok_sum = 0
    lats: list[float] = []
    for active, cost, lat, tok, err in values:
        if not active:
            continue
        items += 1
        if err:
            err_items += 1
        if cost > 0:
            cost_sum += cost
            cost_n += 1
        if lat > 0:
            lat_sum += lat
            lat_n += 1
            lats.append(lat)
        if tok > 0:
            tok_sum += tok
            tok_n += 1
    return {
        "avg_cost": cost_sum / cost_n if cost_n else None,
        "avg_latency": lat_sum / lat_n if lat_n else None,
        "avg_tokens": tok_sum / tok_n if tok_n else None,
        "total_cost": cost_sum if cost_n else None,
        "error_rate": err_items / items if items else None,
        "error_count": err_items,
        "item_count": items,
        "p95_latency": _p95(lats),
    }


_BAKED_KEYS = (
    "avg_cost",
    "avg_latency",
    "avg_tokens",
    "total_cost",
    "error_rate",
    "error_count",
    "item_count",
)

# ---------------------------------------------------------------------------
# Traffic simulation
# ---------------------------------------------------------------------------


class _Regimes:
    """Which topics (with which parameters) a trace starting at a given time gets."""

    def __init__(self, s: Scenario, topics: list[Topic], first_end_us: int) -> None:
        self.s = s
        self.topics = topics
        self.index = {t.key: i for i, t in enumerate(topics)}
        self.first_end_us = first_end_us
        self._mix: dict[int, tuple[list[float], list[int], list[tuple[float, int]]]] = {}
        self._params: dict[tuple[int, int], tuple[float, float, float, float]] = {}

    def mix(self, day: int) -> tuple[list[float], list[int], list[tuple[float, int]]]:
        got = self._mix.get(day)
        if got is None:
            s = self.s
            switched = s.topics_change_day is not None and day >= s.topics_change_day
            base = s.topics_after if switched and s.topics_after else s.topics
            cum: list[float] = []
            total = 0.0
            for t in base:
                total += t.weight
                cum.append(total)
            idx = [self.index[t.key] for t in base]
            news: list[tuple[float, int]] = []
            acc = 0.0
            for n in s.new_topics:
                if day >= n.from_day:
                    acc += n.share
                    news.append((acc, self.index[n.topic.key]))
            got = (cum, idx, news)
            self._mix[day] = got
        return got

    def params(self, topic: int, day: int) -> tuple[float, float, float, float]:
        got = self._params.get((topic, day))
        if got is None:
            t = self.topics[topic]
            cost, lat, tok, err = t.cost, t.latency, float(t.tokens), t.error_rate
            for sh in self.s.shifts:
                if sh.topic == t.key and day >= sh.from_day:
                    cost *= sh.cost_factor
                    lat *= sh.latency_factor
                    tok *= sh.tokens_factor
                    if sh.error_rate is not None:
                        err = sh.error_rate
            got = (cost, lat, tok, err)
            self._params[(topic, day)] = got
        return got


def _simulate(s: Scenario, topics: list[Topic], start_us: int, stop_us: int) -> _Traffic:
    rng = random.Random(f"llmc-synth:{s.seed}:traffic")
    rnd = rng.random
    gauss = rng.gauss
    expo = rng.expovariate
    exp = math.exp
    first_end_us = _to_us(s.window_ends[0])
    regimes = _Regimes(s, topics, first_end_us)
    tr = _Traffic(salt=rng.getrandbits(64))
    getrandbits = rng.getrandbits
    events = tr.events
    n_users = max(20, s.traces_per_day // 3)
    model_index: dict[str, int] = {}
    for t in topics:
        for m in t.models:
            model_index.setdefault(m, len(model_index))
    tr.models = list(model_index)
    tr.topic_models = [[model_index[m] for m in t.models] for t in topics]
    span_rate, span_cost_rate = s.span_rate, s.span_cost_rate
    missing_cost_rate, trace_event_rate = s.missing_cost_rate, s.trace_event_rate
    n_span_names = len(_SPAN_NAMES)
    seq = 0
    cur_day: int | None = None
    cum: list[float] = []
    idx: list[int] = []
    news: list[tuple[float, int]] = []
    params: list[tuple[float, float, float, float]] = []

    chunk = start_us
    while chunk < stop_us:
        chunk_end = min(chunk + _DAY, stop_us)
        width = chunk_end - chunk
        n = round(s.traces_per_day * width / _DAY)
        starts = sorted([chunk + int(rnd() * width) for _ in range(n)])
        for t0 in starts:
            day = (t0 - first_end_us) // _DAY + 1
            if day != cur_day:
                cur_day = day
                cum, idx, news = regimes.mix(day)
                params = [regimes.params(t, day) for t in range(len(topics))]
            topic = -1
            if news:
                r = rnd()
                for share, nt in news:
                    if r < share:
                        topic = nt
                        break
            if topic < 0:
                topic = idx[bisect.bisect_right(cum, rnd() * cum[-1])]
            tp = topics[topic]
            cost_m, lat_m, tok_m, err_p = params[topic]
            trace = len(tr.trace_ids)
            long_trace = rnd() < s.long_trace_rate
            free = rnd() < s.zero_cost_rate
            # Tokens drive cost (with some spread for the model mix); latency varies alone.
            f_tok = exp(0.3 * gauss(0.0, 1.0))
            trace_tok = tok_m * f_tok
            trace_cost = 0.0 if free else cost_m * f_tok * (0.8 + 0.4 * rnd())
            trace_lat = lat_m * exp(0.3 * gauss(0.0, 1.0))
            g = tp.generations
            n_gen = min(8, 1 + int(expo(1.0 / (g - 1.0)))) if g > 1.0 else 1
            ws = [rnd() + 0.3 for _ in range(n_gen)]
            wsum = sum(ws)
            models = tr.topic_models[topic]
            model = models[int(rnd() * len(models))]
            # Errors are decided up front: which generation, and where the flag lands.
            err_gen = err_span = -1
            err_emb = False
            if rnd() < err_p:
                k_err = int(rnd() * n_gen)
                r = rnd()
                if r < 0.2:
                    err_span = k_err  # a failing step whose generation succeeded
                elif r < 0.3:
                    err_emb = True
                else:
                    err_gen = k_err
                    if r < 0.65:
                        err_span = k_err  # the wrapping span fails with it
            evs: list[_Ev] = []
            cur = t0
            has_emb = rnd() < tp.embedding_rate
            if has_emb:
                for _ in range(2 if rnd() < 0.3 else 1):
                    etok = 150 + int(rnd() * 1200)
                    ecost = 0.0 if free else round(etok * 2e-8, 10)
                    elat = round(0.05 + rnd() * 0.3, 3)
                    evs.append((cur, _EMB, trace, seq, ecost, elat, etok, 0, err_emb, 0))
                    seq += 1
                    err_emb = False
                    cur += int(elat * _US) + int(rnd() * 20_000)
            elif err_emb:
                err_gen = int(rnd() * n_gen)
            last = cur
            for k in range(n_gen):
                w = ws[k] / wsum
                lat = round(max(0.05, trace_lat * w), 3)
                tok = max(8, int(trace_tok * w))
                itok = int(tok * (0.55 + 0.35 * rnd()))
                otok = tok - itok
                cost: float | None = round(trace_cost * w, 8)
                if rnd() < missing_cost_rate:
                    cost = None
                if k:
                    gap = expo(1.0 / 7200.0) if long_trace else 0.02 + rnd() * 0.4
                    cur += int((gap + lat) * _US)
                gen_err = k == err_gen
                if gen_err:
                    otok = 0
                    cost = None if cost is None else round(cost * 0.3, 8)
                evs.append((cur, _GEN, trace, seq, cost, lat, itok, otok, gen_err, model))
                seq += 1
                last = cur
                if rnd() < span_rate or k == err_span:
                    span_ts = cur + 1000 + int(rnd() * 20_000)
                    if rnd() < span_cost_rate:
                        scost, slat = cost, round(lat + 0.01 + rnd() * 0.2, 3)
                    else:
                        scost, slat = None, None
                    name = int(rnd() * n_span_names)
                    evs.append((span_ts, _SPAN, trace, seq, scost, slat, 0, 0, k == err_span, name))
                    seq += 1
                    last = span_ts
            if rnd() < trace_event_rate:
                # The root event shares the last event's timestamp, so any window that
                # holds it also holds a counting event: it never decides activity.
                dur = round((last - t0) / _US + 0.05, 3)
                tcost = round(trace_cost, 8)
                evs.append((last, _TRACE, trace, seq, tcost, dur, 0, 0, False, 0))
                seq += 1
            tr.trace_ids.append(_uuid4(getrandbits(128)))
            tr.trace_topic.append(topic)
            tr.trace_user.append(int(rnd() * n_users))
            tr.trace_events.append(evs)
            tr.trace_first.append(t0)
            tr.trace_last.append(last)
            if last - t0 > tr.max_duration:
                tr.max_duration = last - t0
            events.extend(evs)
        chunk = chunk_end
    tr.next_seq = seq
    return tr


def _simulate_evals(s: Scenario, topics: list[Topic], tr: _Traffic) -> None:
    """Evaluation items (no AI events of their own): about one per two traces."""
    rng = random.Random(f"llmc-synth:{s.seed}:evals")
    rnd = rng.random
    for i, last in enumerate(tr.trace_last):
        if rnd() >= 0.5:
            continue
        ts = last + int((60 + rnd() * 1800) * _US)
        cost = round(0.0006 * rng.lognormvariate(0.0, 0.3), 8) if rnd() >= 0.05 else 0.0
        lat = round(1.2 * rng.lognormvariate(0.0, 0.3), 3)
        tok = int(900 * rng.lognormvariate(0.0, 0.3))
        err = rnd() < 0.02 + topics[tr.trace_topic[i]].error_rate / 2
        tr.evals.append(_Eval(ts, _uuid4_rng(rng), i, cost, lat, tok, err))
    tr.evals.sort(key=lambda e: e.ts)


def _add_edges(s: Scenario, tr: _Traffic, windows: Sequence[tuple[int, int]]) -> list[_Edges]:
    """Per window: a generation exactly at window_start, on a trace that otherwise
    ended just before it (it is active only through that event), and one exactly at
    window_end, on a trace active earlier in the window (it must not count)."""
    rng = random.Random(f"llmc-synth:{s.seed}:edges")
    used: set[int] = set()
    out: list[_Edges] = []

    def pick(lo_us: int, hi_us: int) -> int | None:
        lo = bisect.bisect_left(tr.trace_first, lo_us)
        hi = bisect.bisect_left(tr.trace_first, hi_us)
        cands = [i for i in range(lo, hi) if tr.trace_last[i] < hi_us and i not in used]
        if not cands:
            return None
        got = cands[int(rng.random() * len(cands))]
        used.add(got)
        return got

    def add(trace: int, ts: int, cost: float, lat: float, itok: int, otok: int) -> _Ev:
        model = tr.topic_models[tr.trace_topic[trace]][0]
        ev: _Ev = (ts, _GEN, trace, tr.take_seq(), cost, lat, itok, otok, True, model)
        tr.trace_events[trace].append(ev)
        tr.events.append(ev)
        tr.trace_last[trace] = max(tr.trace_last[trace], ts)
        tr.max_duration = max(tr.max_duration, tr.trace_last[trace] - tr.trace_first[trace])
        return ev

    for ws, we in windows:
        t1 = pick(ws - 2 * _HOUR, ws)
        t2 = pick(we - 2 * _HOUR, we)
        start = None if t1 is None else add(t1, ws, 0.0123, 1.5, 700, 300)
        end = None if t2 is None else add(t2, we, 0.25, 9.0, 9000, 3000)
        out.append(_Edges(start, end))
    return out


# ---------------------------------------------------------------------------
# Clustering runs
# ---------------------------------------------------------------------------


def _trace_vals(evs: list[_Ev], ws: int, we: int) -> _Vals:
    active = err = False
    cost = lat = 0.0
    tok = 0
    for ev in evs:
        ts = ev[0]
        if ts < ws or ts >= we:
            continue
        kind = ev[1]
        if kind == _TRACE:
            continue
        active = True
        if ev[8]:
            err = True
        if kind != _SPAN:
            c = ev[4]
            if c is not None:
                cost += c
            tok += ev[6] + ev[7]
            if kind == _GEN:
                lat += ev[5] or 0.0
    return active, cost, lat, tok, err


def _gen_vals(ev: _Ev, ws: int, we: int) -> _Vals:
    return (ws <= ev[0] < we, ev[4] or 0.0, ev[5] or 0.0, ev[6] + ev[7], ev[8])


# An item to cluster: (item_id, topic index, trace_id, generation_id, first ts, values)
_Item = tuple[str, int, str, str | None, int, _Vals]


@dataclass
class _World:
    s: Scenario
    topics: list[Topic]
    tr: _Traffic
    gens: list[_Ev]
    gen_ts: list[int]
    eval_ts: list[int]
    clock: _Clock


def _sample_items(
    w: _World, level: Level, ws: int, we: int, edges: _Edges, rng: random.Random
) -> tuple[list[_Item], tuple[str, ...], tuple[str, ...]]:
    """The run's items: a random sample of the items active in `[ws, we)` (edge items
    forced in) plus phantoms; returns (items, edge item ids, phantom item ids)."""
    if level == "trace":
        return _sample_traces(w, ws, we, edges, rng)
    if level == "generation":
        return _sample_generations(w, ws, we, edges, rng)
    return _sample_evaluations(w, ws, we, rng)


def _quota(limit: int, active: int, forced: int, population: int) -> int:
    """How many to draw at random: up to `limit` items in all, forced ones included
    (edge and phantom items are always kept, even past `max_samples`)."""
    return max(0, min(limit, active, population + forced) - forced)


def _sample_traces(
    w: _World, ws: int, we: int, edges: _Edges, rng: random.Random
) -> tuple[list[_Item], tuple[str, ...], tuple[str, ...]]:
    s, tr = w.s, w.tr
    ids, first, last, tev = tr.trace_ids, tr.trace_first, tr.trace_last, tr.trace_events

    def item(i: int) -> _Item:
        return (ids[i], tr.trace_topic[i], ids[i], None, first[i], _trace_vals(tev[i], ws, we))

    def is_active(i: int) -> bool:
        if first[i] >= ws and last[i] < we:
            return True
        return last[i] >= ws and first[i] < we and _trace_vals(tev[i], ws, we)[0]

    forced = [e[2] for e in (edges.start, edges.end) if e is not None and is_active(e[2])]
    forced_set = set(forced)
    phantoms: list[_Item] = []
    if s.phantom_items:
        plo = bisect.bisect_left(first, ws - _DAY)
        phi = bisect.bisect_left(first, ws)
        cands = [i for i in range(plo, phi) if last[i] < ws and i not in forced_set]
        phantoms = [item(i) for i in rng.sample(cands, min(s.phantom_items, len(cands)))]
    lo = bisect.bisect_left(first, ws - tr.max_duration)
    hi = bisect.bisect_left(first, we)
    active = [i for i in range(lo, hi) if is_active(i)]
    pop = [i for i in active if i not in forced_set]
    k = _quota(s.max_samples - len(phantoms), len(active), len(forced), len(pop))
    items = [item(i) for i in rng.sample(pop, k) + forced]
    edge_ids = tuple(ids[i] for i in forced)
    return items + phantoms, edge_ids, tuple(p[0] for p in phantoms)


def _sample_generations(
    w: _World, ws: int, we: int, edges: _Edges, rng: random.Random
) -> tuple[list[_Item], tuple[str, ...], tuple[str, ...]]:
    s, tr = w.s, w.tr

    def item(e: _Ev) -> _Item:
        uid = tr.uuid(e)
        return (uid, tr.trace_topic[e[2]], tr.trace_ids[e[2]], uid, e[0], _gen_vals(e, ws, we))

    lo = bisect.bisect_left(w.gen_ts, ws)
    hi = bisect.bisect_left(w.gen_ts, we)
    phantoms: list[_Ev] = []
    if s.phantom_items:
        # The generation exactly at window_end is clustered but outside the window.
        phantoms = [edges.end] if edges.end is not None else []
        cands = w.gens[bisect.bisect_left(w.gen_ts, ws - _DAY) : lo]
        phantoms += rng.sample(cands, min(max(0, s.phantom_items - len(phantoms)), len(cands)))
    active = w.gens[lo:hi]
    forced = [edges.start] if edges.start is not None else []
    forced_ids = {e[3] for e in forced}
    pop = [e for e in active if e[3] not in forced_ids]
    k = _quota(s.max_samples - len(phantoms), len(active), len(forced), len(pop))
    items = [item(e) for e in rng.sample(pop, k) + forced]
    edges_out = forced + [e for e in phantoms[:1] if e[0] == we]
    phantom_items = [item(e) for e in phantoms]
    edge_ids = tuple(tr.uuid(e) for e in edges_out)
    return items + phantom_items, edge_ids, tuple(p[0] for p in phantom_items)


def _sample_evaluations(
    w: _World, ws: int, we: int, rng: random.Random
) -> tuple[list[_Item], tuple[str, ...], tuple[str, ...]]:
    s, tr = w.s, w.tr

    def item(ev: _Eval) -> _Item:
        vals: _Vals = (ws <= ev.ts < we, ev.cost, ev.latency, ev.tokens, ev.error)
        return (ev.uuid, tr.trace_topic[ev.trace], tr.trace_ids[ev.trace], None, ev.ts, vals)

    lo = bisect.bisect_left(w.eval_ts, ws)
    hi = bisect.bisect_left(w.eval_ts, we)
    phantoms: list[_Item] = []
    if s.phantom_items:
        cands = tr.evals[bisect.bisect_left(w.eval_ts, ws - _DAY) : lo]
        phantoms = [item(ev) for ev in rng.sample(cands, min(s.phantom_items, len(cands)))]
    k = _quota(s.max_samples - len(phantoms), hi - lo, 0, hi - lo)
    items = [item(ev) for ev in rng.sample(tr.evals[lo:hi], k)]
    return items + phantoms, (), tuple(p[0] for p in phantoms)


@dataclass(frozen=True)
class _RunPlan:
    job: Job
    index: int
    legacy: bool
    as_string: bool
    duplicate: bool


def _make_cluster(
    w: _World,
    rng: random.Random,
    cid: int,
    topic_i: int | None,
    members: list[_Item],
    legacy: bool,
    baked: bool,
) -> tuple[Row, ClusterTruth]:
    """One entry of `$ai_clusters` (PostHog's shape) and its ground truth."""
    rnd = rng.random
    if topic_i is None:
        title, desc, topic_key = NOISE_TITLE, NOISE_DESCRIPTION, None
        dist = [round(0.35 + rnd() * 0.6, 6) for _ in members]
        xs = [round(rng.uniform(-12.0, 12.0), 5) for _ in members]
        ys = [round(rng.uniform(-12.0, 12.0), 5) for _ in members]
        centroid: list[float] = []
        cx = round(sum(xs) / len(xs), 5)
        cy = round(sum(ys) / len(ys), 5)
        # Like PostHog: noise is ranked most anomalous first.
        order = sorted(range(len(members)), key=lambda j: -dist[j])
    else:
        tp = w.topics[topic_i]
        title = tp.titles[int(rnd() * len(tp.titles))]
        desc = tp.descriptions[int(rnd() * len(tp.descriptions))]
        topic_key = tp.key
        cx = round(rng.uniform(-9.0, 9.0), 5)
        cy = round(rng.uniform(-9.0, 9.0), 5)
        dist = [round(0.04 + abs(rng.gauss(0.0, 0.18)), 6) for _ in members]
        xs = [round(cx + rng.gauss(0.0, 1.1), 5) for _ in members]
        ys = [round(cy + rng.gauss(0.0, 1.1), 5) for _ in members]
        centroid = [round(rng.gauss(0.0, 0.12), 6) for _ in range(8)]
        order = sorted(range(len(members)), key=lambda j: dist[j])
    iso = w.clock.iso_us
    traces: Row = {}
    for rank, j in enumerate(order):
        it = members[j]
        entry: Row = {
            "distance_to_centroid": dist[j],
            "rank": rank,
            "x": xs[j],
            "y": ys[j],
            "timestamp": iso(it[4]),
        }
        if not legacy:
            entry["trace_id"] = it[2]
            entry["generation_id"] = it[3]
        traces[it[0]] = entry
    m = _cluster_metrics(it[5] for it in members)
    cluster: Row = {
        "cluster_id": cid,
        "size": len(members),
        "title": title,
        "description": desc,
        "traces": traces,
        "centroid": centroid,
        "centroid_x": cx,
        "centroid_y": cy,
    }
    if baked:
        cluster["metrics"] = {k: m[k] for k in _BAKED_KEYS}
    truth = ClusterTruth(
        cluster_id=cid,
        topic=topic_key,
        title=title,
        description=desc,
        size=len(members),
        item_ids=tuple(members[j][0] for j in order),
        metrics=m,
    )
    return cluster, truth


def _build_run(
    w: _World, plan: _RunPlan, we_dt: datetime, edges: _Edges
) -> tuple[list[tuple[int, Row]], RunTruth]:
    s, job = w.s, plan.job
    level = job.level
    ws_dt = we_dt - timedelta(days=s.lookback_days)
    ws, we = _to_us(ws_dt), _to_us(we_dt)
    rng = random.Random(f"llmc-synth:{s.seed}:run:{level}:{job.job_id}:{plan.index}")
    rnd = rng.random
    items, edge_ids, phantom_ids = _sample_items(w, level, ws, we, edges, rng)

    # Cluster by topic; a share of items (and every too-small topic) is noise.
    by_topic: dict[int, list[_Item]] = {}
    noise: list[_Item] = []
    for it in items:
        if rnd() < s.noise_share:
            noise.append(it)
        else:
            by_topic.setdefault(it[1], []).append(it)
    present: list[int] = []
    for t in sorted(by_topic):
        if len(by_topic[t]) < s.min_cluster_size:
            noise.extend(by_topic[t])
        else:
            present.append(t)
    rng.shuffle(present)

    legacy = plan.legacy
    baked = s.baked_metrics and not legacy
    groups: list[tuple[int, int | None, list[_Item]]] = [
        (cid, t, by_topic[t]) for cid, t in enumerate(present)
    ]
    if noise:
        groups.append((NOISE_CLUSTER_ID, None, noise))
    clusters: list[Row] = []
    truths: list[ClusterTruth] = []
    for cid, topic_i, members in sorted(groups, key=lambda g: (g[0] < 0, g[0])):
        cluster, truth_c = _make_cluster(w, rng, cid, topic_i, members, legacy, baked)
        clusters.append(cluster)
        truths.append(truth_c)

    stamp = we_dt.strftime("%Y%m%d_%H%M%S")
    total = len(items)
    props: Row
    if legacy:
        run_id = f"{s.team_id}_{stamp}"
        props = {
            "$ai_clustering_run_id": run_id,
            "$ai_window_start": ws_dt.isoformat(),
            "$ai_window_end": we_dt.isoformat(),
            "$ai_total_traces_analyzed": total,
            "$ai_clusters": clusters,
        }
        event, distinct_id = "$ai_trace_clusters", f"trace_clustering_{s.team_id}"
    else:
        run_id = f"{s.team_id}_{level}_{stamp}" + (f"_{job.job_id}" if job.job_id else "")
        props = {
            "$ai_clustering_run_id": run_id,
            "$ai_clustering_level": level,
            "$ai_clustering_job_id": job.job_id,
            "$ai_clustering_job_name": job.job_name,
            "$ai_window_start": iso_ms(ws_dt),
            "$ai_window_end": iso_ms(we_dt),
            "$ai_total_items_analyzed": total,
            "$ai_clusters": clusters,
            "$ai_clustering_params": {
                "clustering_method": "hdbscan",
                "min_cluster_size_fraction": 0.02,
                "hdbscan_min_samples": 5,
                "umap_n_components": 100,
                "umap_n_neighbors": 15,
                "umap_min_dist": 0.0,
                "max_samples": s.max_samples,
                "visualization_method": "umap",
            },
        }
        event, distinct_id = f"$ai_{level}_clusters", f"clustering_{level}_{s.team_id}"
    if plan.as_string:
        props["$ai_clusters"] = orjson.dumps(clusters).decode()
    clock = w.clock
    emitted = we + int((120 + rnd() * 600) * _US)
    rows: list[tuple[int, Row]] = []
    uuids: list[str] = []
    for n in range(2 if plan.duplicate else 1):
        ts = emitted + n * 60 * _US
        uid = _uuid4_rng(rng)
        p = props if n == 0 else orjson.loads(orjson.dumps(props))
        row = {
            "uuid": uid,
            "event": event,
            "timestamp": clock.iso_us(ts),
            "distinct_id": distinct_id,
            "properties": p,
        }
        rows.append((ts, row))
        uuids.append(uid)
    truth = RunTruth(
        run_id=run_id,
        level=level,
        job_id="" if legacy else job.job_id,
        job_name="" if legacy else job.job_name,
        window_start=ws_dt,
        window_end=we_dt,
        items_analyzed=total,
        clusters=tuple(truths),
        event_uuids=tuple(uuids),
        legacy=legacy,
        clusters_as_string=plan.as_string,
        baked=baked,
        edge_items=edge_ids,
        phantom_items=phantom_ids,
    )
    return rows, truth


# ---------------------------------------------------------------------------
# Result, rendering, entry points
# ---------------------------------------------------------------------------


@dataclass
class Synth:
    """Generated rows (rendered on demand) and the ground truth of every run.

    AI-event rows are fresh dicts on every iteration; clustering-event rows are the
    same objects each time (do not mutate them).
    """

    scenario: Scenario
    runs: list[RunTruth]
    _traffic: _Traffic = field(repr=False)
    _cluster_rows: list[tuple[int, Row]] = field(repr=False)

    def __len__(self) -> int:
        return len(self._traffic.events) + len(self._cluster_rows)

    @property
    def n_ai_events(self) -> int:
        return len(self._traffic.events)

    @cached_property
    def rows(self) -> list[Row]:
        """All rows in timestamp order (materialised once; prefer `iter_rows` when big)."""
        return list(self.iter_rows())

    def iter_rows(self) -> Iterator[Row]:
        """All rows in timestamp order, rendered afresh (same rows on every call)."""
        merged = heapq.merge(self._render_ai(), self._cluster_rows, key=itemgetter(0))
        for _, row in merged:
            yield row

    def run(self, run_id: str) -> RunTruth:
        for r in self.runs:
            if r.run_id == run_id:
                return r
        raise KeyError(run_id)

    def latest(self, level: Level | None = None) -> RunTruth:
        """The newest run (of `level`, when given)."""
        cands = [r for r in self.runs if level is None or r.level == level]
        if not cands:
            raise LookupError(f"no run of level {level!r}")
        return max(cands, key=lambda r: r.window_end)

    def _render_ai(self) -> Iterator[tuple[int, Row]]:
        s, tr = self.scenario, self._traffic
        rng = random.Random(f"llmc-synth:{s.seed}:render")
        rnd = rng.random
        clock = _Clock()
        iso = clock.iso_us
        trace_ids = tr.trace_ids
        users = [f"user-{n:05d}" for n in range(max(tr.trace_user, default=0) + 1)]
        trace_user = tr.trace_user
        models = tr.models
        providers = [_PROVIDERS.get(m.split("-")[0], "openai") for m in models]
        snr = s.string_number_rate
        esr = s.error_flag_string_rate
        emr = s.error_flag_missing_rate
        salt = tr.salt
        for ev in tr.events:
            ts, kind, ti, seq, cost, lat, itok, otok, err, aux = ev
            as_str = rnd() < snr
            props: Row = {"$ai_trace_id": trace_ids[ti]}
            if kind == _GEN:
                props["$ai_model"] = models[aux]
                props["$ai_provider"] = providers[aux]
                props["$ai_input_tokens"] = str(itok) if as_str else itok
                props["$ai_output_tokens"] = str(otok) if as_str else otok
                if cost is not None:
                    props["$ai_total_cost_usd"] = str(cost) if as_str else cost
                props["$ai_latency"] = str(lat) if as_str else lat
            elif kind == _EMB:
                props["$ai_model"] = _EMBED_MODEL
                props["$ai_provider"] = "openai"
                props["$ai_input_tokens"] = str(itok) if as_str else itok
                props["$ai_total_cost_usd"] = str(cost) if as_str else cost
                props["$ai_latency"] = str(lat) if as_str else lat
            elif kind == _SPAN:
                props["$ai_span_name"] = _SPAN_NAMES[aux]
                if cost is not None:
                    props["$ai_total_cost_usd"] = str(cost) if as_str else cost
                if lat is not None:
                    props["$ai_latency"] = str(lat) if as_str else lat
            else:
                props["$ai_trace_name"] = "chat_session"
                props["$ai_total_cost_usd"] = str(cost) if as_str else cost
                props["$ai_latency"] = str(lat) if as_str else lat
            if kind != _TRACE:
                r = rnd()
                if err:
                    props["$ai_is_error"] = "true" if r < esr else True
                elif r >= emr:
                    props["$ai_is_error"] = "false" if r < emr + esr else False
            yield (
                ts,
                {
                    "uuid": _uuid7(ts, _mix64(salt ^ seq)),
                    "event": _EVENT_NAMES[kind],
                    "timestamp": iso(ts),
                    "distinct_id": users[trace_user[ti]],
                    "properties": props,
                },
            )


# AI events per trace with the default topics and rates (measured, ±2%).
EVENTS_PER_TRACE = 3.06


def scenario_for_size(events: int, items: int, days: int = 7, seed: int = 0) -> Scenario:
    """A default scenario sized to about `events` AI events in all, whose runs each
    cluster `items` items (`max_samples`): for benchmarks (600k events / 10k items)."""
    span_days = days - 1 + Scenario.lookback_days + 1 + Scenario.tail_hours / 24
    per_day = max(1, round(events / EVENTS_PER_TRACE / span_days))
    return Scenario(seed=seed, days=days, traces_per_day=per_day, max_samples=items)


def _pick_runs(rng: random.Random, n: int, share: float) -> set[int]:
    return set(rng.sample(range(n), round(share * n))) if n else set()


def generate(s: Scenario | None = None) -> Synth:
    """Simulate traffic and daily clustering runs for scenario `s` (default: `Scenario()`)."""
    s = Scenario() if s is None else s
    topics: list[Topic] = []
    seen: set[str] = set()
    for t in s._all_topics():
        if t.key not in seen:
            seen.add(t.key)
            topics.append(t)
    ends = s.window_ends
    lookback = timedelta(days=s.lookback_days)
    windows = [(_to_us(e - lookback), _to_us(e)) for e in ends]
    start_us = windows[0][0] - _DAY
    stop_us = windows[-1][1] + int(s.tail_hours * _HOUR)
    tr = _simulate(s, topics, start_us, stop_us)
    jobs = s.jobs
    if any(j.level == "evaluation" for j in jobs):
        _simulate_evals(s, topics, tr)
    edges = _add_edges(s, tr, windows) if s.edge_events else [_Edges() for _ in windows]
    tr.events.sort(key=itemgetter(0))
    gens = [e for e in tr.events if e[1] == _GEN]
    world = _World(
        s=s,
        topics=topics,
        tr=tr,
        gens=gens,
        gen_ts=[e[0] for e in gens],
        eval_ts=[e.ts for e in tr.evals],
        clock=_Clock(),
    )
    vrng = random.Random(f"llmc-synth:{s.seed}:variants")
    n_runs = len(jobs) * s.days
    as_string = _pick_runs(vrng, n_runs, s.clusters_as_string)
    dup = _pick_runs(vrng, n_runs, s.duplicate_emission)
    cluster_rows: list[tuple[int, Row]] = []
    truths: list[RunTruth] = []
    for r, we_dt in enumerate(ends):
        for j, job in enumerate(jobs):
            n = r * len(jobs) + j
            plan = _RunPlan(
                job=job,
                index=r,
                legacy=j == 0 and r < s.legacy_runs,
                as_string=n in as_string,
                duplicate=n in dup,
            )
            rows, truth = _build_run(world, plan, we_dt, edges[r])
            cluster_rows.extend(rows)
            truths.append(truth)
    cluster_rows.sort(key=itemgetter(0))
    return Synth(scenario=s, runs=truths, _traffic=tr, _cluster_rows=cluster_rows)


def write_rows(rows: Iterable[Row], path: str | Path) -> int:
    """Write rows as `.jsonl`, `.jsonl.gz`, `.json` or `.json.gz` (an array), streaming.

    Output is byte-for-byte deterministic (gzip header without name or mtime).
    Returns the number of rows written.
    """
    p = Path(path)
    name = p.name
    if name.endswith((".jsonl", ".jsonl.gz")):
        array = False
    elif name.endswith((".json", ".json.gz")):
        array = True
    else:
        raise ValueError(f"{p}: expected a .jsonl, .jsonl.gz, .json or .json.gz path")
    with p.open("wb") as raw:
        if name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                return _write_stream(rows, gz.write, array)
        return _write_stream(rows, raw.write, array)


def _write_stream(rows: Iterable[Row], write: Callable[[bytes], object], array: bool) -> int:
    n = 0
    buf: list[bytes] = [b"[\n"] if array else []
    dumps = orjson.dumps
    for row in rows:
        if array and n:
            buf.append(b",\n")
        buf.append(dumps(row))
        if not array:
            buf.append(b"\n")
        n += 1
        if len(buf) >= 4096:
            write(b"".join(buf))
            buf.clear()
    if array:
        buf.append(b"\n]\n")
    write(b"".join(buf))
    return n


def _parse_end(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m llmc_checks.synth",
        description="Write a synthetic PostHog LLM-analytics snapshot (event rows).",
    )
    ap.add_argument("--out", required=True, help=".jsonl, .jsonl.gz, .json or .json.gz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--days", type=int, default=3, help="daily runs per job")
    ap.add_argument("--traces-per-day", type=int, default=300)
    ap.add_argument(
        "--events", type=int, help="size the traffic to about this many AI events in all"
    )
    ap.add_argument("--level", choices=LEVELS, default="trace", help="the primary job's level")
    ap.add_argument(
        "--extra-level",
        choices=LEVELS,
        action="append",
        default=[],
        help="add a 'Default - <level>' job (repeatable)",
    )
    ap.add_argument("--max-samples", type=int, default=1500)
    ap.add_argument("--team-id", type=int, default=1)
    ap.add_argument("--end", type=_parse_end, default=DEFAULT_END, help="last window end, ISO")
    ap.add_argument("--noise-share", type=float, default=0.08)
    ap.add_argument("--no-baked-metrics", action="store_true")
    ap.add_argument("--legacy-runs", type=int, default=0)
    ap.add_argument("--clusters-as-string", type=float, default=0.0, metavar="SHARE")
    ap.add_argument("--duplicate-emission", type=float, default=0.0, metavar="SHARE")
    a = ap.parse_args(argv)
    extra = tuple(
        Job(lvl, f"{DEFAULT_JOB_ID[:-2]}{n + 2:02d}", f"Default - {lvl}")
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
        )
    except ValueError as exc:
        ap.error(str(exc))
    synth = generate(s)
    n = write_rows(synth.iter_rows(), a.out)
    print(f"wrote {n} rows ({synth.n_ai_events} AI events, {len(synth.runs)} runs) to {a.out}")
    for r in synth.runs:
        print(f"  {r.run_id}: {r.items_analyzed} items, {len(r.clusters)} clusters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
