"""Starter limits from a team's own history (`--llmc-init`): recent runs in, proposals out.

Pure: the runs (oldest first, per-cluster stats attached, item ids loaded) in, a tuple of
`Proposal`s out. Every limit is measured the way the gate will measure it (the same
metric functions, the same `previous` pairing), so gating any run of the history with
the proposed file passes, and a limit sits at the worst value seen plus headroom:

    ceiling = worst + max(K × spread, FLOOR[unit] × |worst|, ABSOLUTE[unit])   (a floor mirrored)

where spread is the sample standard deviation of the run-to-run values. The headroom
keeps a healthy next run inside the limits (the history's own scatter, twice over);
the floors cover what the history cannot show: consecutive runs share six days of
seven, so fourteen runs are barely two independent samples, and an average jumps
when one outlier item enters the window.
Then the limit is rounded outwards to a readable value.

Which limits (each only where the history has values for it):
- run scope: run freshness from the cadence, noise share, cluster count, items analysed
  (a warning), title stability against `previous`;
- every cluster: avg cost, p95 latency and error rate ceilings (the worst cluster of
  each run), to catch a new expensive or failing pattern;
- each stable usage pattern (a cluster paired run after run through the history):
  its own avg cost and error rate ceilings, selected by a title regex;
  a ×4 cost in a cheap pattern stays far below the worst cluster's ceiling;
- against `previous`: the largest rise of a cluster's avg cost and p95 latency.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import pairwise
from typing import Literal

from llmc_checks import formatting, safe_text
from llmc_checks._text import STOPWORDS
from llmc_checks.checks import cluster_value, pairing_value, run_value
from llmc_checks.matching import DEFAULT_TITLE_THRESHOLD, Pairing, pair_runs
from llmc_checks.metrics_catalog import metric as metric_info
from llmc_checks.model import Cluster, Run
from llmc_checks.stats import median
from llmc_checks.units import counted

# Fewer runs than this and a "worst value plus spread" is no honest estimate.
MIN_RUNS = 3
# How many run-to-run standard deviations of headroom a limit gets over the worst value.
SPREAD_FACTOR = 2.0
# Headroom at least this share of the worst value, by unit. Averages get the most: one
# runaway item (a trace 50x the usual cost) moves a cluster's average at once and stays
# in seven overlapping daily windows, yet two weeks of history rarely show one; so a
# pattern's cost ceiling sits at twice its worst (a x4 regression still fails it).
RELATIVE_FLOOR: Mapping[str, float] = {
    "usd": 1.0,
    "tokens": 1.0,
    "seconds": 0.5,
    "ratio": 0.25,
    "count": 0.1,
    "hours": 0.1,
}
# ... and at least this much in the metric's unit (a ratio that never moved from 0%).
ABSOLUTE_FLOOR: Mapping[str, float] = {"ratio": 0.01, "count": 1.0, "hours": 1.0}
# Averages over fewer items swing too much to bound: such clusters are not evaluated.
MIN_SIZE = 20
# Confidence of the proposed error-rate ceilings (the Wilson bound, DESIGN §2).
CONFIDENCE = 0.95
# At most this many usage patterns get their own limits (the largest in the newest run).
MAX_PATTERNS = 12
# The least rise against `previous` a relative limit allows.
MIN_INCREASE = 0.25

Bound = Literal["min", "max", "max_increase"]
Section = Literal["run", "clusters", "patterns", "relative"]


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposed check: a limit and the history it came from."""

    section: Section
    metric: str
    bound: Bound
    limit: float  # the metric's unit; for max_increase a fraction of the baseline value
    text: str  # the limit as the YAML file writes it ("12%", 0.043, "50%")
    what: str  # what the history values are ("noise share of each run")
    history: tuple[float, ...]  # in the metric's unit; for max_increase, fractions
    where: Mapping[str, int | str] = field(default_factory=dict)
    confidence: float | None = None
    severity: Literal["fail", "warn"] = "fail"
    titles: tuple[str, ...] = ()  # a pattern's titles through the history, newest first
    over: str = "runs"  # what the history values are counted in ("runs", "gaps", "pairs")

    def shown(self, value: float) -> str:
        """A history value or the limit as a person reads it."""
        if self.bound == "max_increase":
            return f"{value:+.0%}"
        return formatting.value(self.metric, value)

    @property
    def summary(self) -> tuple[str, str, str, int]:
        """(min, median, max, n) of the history, as shown in comments and the table."""
        values = sorted(self.history)
        mid = median(values)
        assert mid is not None
        return self.shown(values[0]), self.shown(mid), self.shown(values[-1]), len(values)

    @property
    def label(self) -> str:
        """A short name for the table: the metric and its selection."""
        parts = [self.metric]
        if "title" in self.where:
            parts.append(f"/{self.where['title']}/")
        if self.bound == "max_increase":
            parts.append("vs previous")
        return " ".join(parts)


class TooFewRuns(ValueError):
    """The history is too short to propose anything honest."""


def propose(
    runs: Sequence[Run], *, title_threshold: float = DEFAULT_TITLE_THRESHOLD
) -> tuple[Proposal, ...]:
    """The starter limits for the newest of `runs` (oldest first, one level and job)."""
    if len(runs) < MIN_RUNS:
        raise TooFewRuns(f"{counted(len(runs), 'run')} found; at least {MIN_RUNS} are needed")
    pairings = [pair_runs(new, old, title_threshold=title_threshold) for old, new in pairwise(runs)]
    out: list[Proposal] = []
    out += _run_scope(runs, pairings, title_threshold)
    out += _every_cluster(runs)
    out += _patterns(runs, pairings)
    out += _relative(runs, pairings)
    return tuple(out)


# ---------------------------------------------------------------------------
# Limits from values


def headroom(values: Sequence[float], unit: str) -> float:
    """How far past the worst of `values` a limit sits (see the module docstring)."""
    worst = max(abs(v) for v in values)
    spread = _stdev(values)
    floor = RELATIVE_FLOOR.get(unit, 0.1) * worst
    return max(SPREAD_FACTOR * spread, floor, ABSOLUTE_FLOOR.get(unit, 0.0))


def _stdev(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def round_out(value: float, direction: Literal["up", "down"], digits: int = 2) -> Decimal:
    """`value` rounded away from the history to `digits` significant digits."""
    if value <= 0:
        return Decimal(0)
    # Twelve digits drop float noise (0.12 + 0.04 is 0.16000000000000003), which would
    # otherwise round 16% up to 17%.
    exact = Decimal(f"{value:.12g}")
    step = Decimal(1).scaleb(math.floor(math.log10(value)) - digits + 1)
    mode = ROUND_CEILING if direction == "up" else ROUND_FLOOR
    return ((exact / step).to_integral_value(rounding=mode) * step).normalize()


def _ceil(value: float) -> int:
    return math.ceil(round(value, 9))  # float noise must not add a whole step


def _floor(value: float) -> int:
    return math.floor(round(value, 9))


def _decimal_text(d: Decimal) -> str:
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _limit(metric: str, values: Sequence[float], bound: Literal["min", "max"]) -> tuple[float, str]:
    """A min or max for `metric` from its history, rounded outwards, and its YAML text."""
    info = metric_info(metric)
    room = headroom(values, info.unit)
    if info.is_ratio:
        raw = max(values) + room if bound == "max" else min(values) - room
        pct = round_out(min(max(raw, 0.0), 1.0) * 100, "up" if bound == "max" else "down")
        pct = min(pct, Decimal(100))
        return float(pct / 100), f"{_decimal_text(pct)}%"
    if bound == "max":
        raw = max(values) + room
        limit = Decimal(_ceil(raw)) if info.unit in ("count", "hours") else round_out(raw, "up")
    else:
        raw = min(values) - room
        limit = Decimal(max(_floor(raw), 0)) if info.unit == "count" else round_out(raw, "down")
    return float(limit), _decimal_text(limit)


def _bounded(
    section: Section,
    metric: str,
    bound: Literal["min", "max"],
    values: Sequence[float],
    what: str,
    *,
    where: Mapping[str, int | str] | None = None,
    confidence: float | None = None,
    titles: tuple[str, ...] = (),
    over: str = "runs",
    least: int = MIN_RUNS,
) -> Proposal | None:
    """A min or max from `values`; None when there are fewer than `least`."""
    if len(values) < least:
        return None
    limit, text = _limit(metric, values, bound)
    return Proposal(
        section,
        metric,
        bound,
        limit,
        text,
        what,
        tuple(values),
        where=where or {},
        confidence=confidence,
        titles=titles,
        over=over,
    )


# ---------------------------------------------------------------------------
# Run scope


def _run_scope(
    runs: Sequence[Run], pairings: Sequence[Pairing], title_threshold: float
) -> list[Proposal]:
    out: list[Proposal | None] = [_freshness(runs)]
    noise = [v for r in runs if (v := run_value("noise_share", r, r.window_end)) is not None]
    out.append(_bounded("run", "noise_share", "max", noise, "noise share of each run"))
    counts = [run_value("cluster_count", r, r.window_end) or 0.0 for r in runs]
    out.append(_bounded("run", "cluster_count", "min", counts, "clusters in each run"))
    out.append(_bounded("run", "cluster_count", "max", counts, "clusters in each run"))
    items = [float(r.items_analyzed) for r in runs]
    low = _items_floor(items)
    out.append(low)
    stability = [
        v
        for (old, new), pairing in zip(pairwise(runs), pairings, strict=True)
        if (v := pairing_value("title_stability", [pairing], new, [old], title_threshold))
        is not None
    ]
    out.append(
        _bounded(
            "run",
            "title_stability",
            "min",
            stability,
            "title stability of each run vs the one before",
            over="run pairs",
            least=MIN_RUNS - 1,
        )
    )
    return [p for p in out if p is not None]


def _freshness(runs: Sequence[Run]) -> Proposal | None:
    """run_age_hours: the longest gap between runs plus half the usual one."""
    gaps = [(b.window_end - a.window_end).total_seconds() / 3600 for a, b in pairwise(runs)]
    gaps = [g for g in gaps if g > 0]
    if len(gaps) < MIN_RUNS - 1:
        return None
    usual = median(gaps)
    assert usual is not None
    limit = _ceil(max(gaps) + usual / 2)
    return Proposal(
        "run",
        "run_age_hours",
        "max",
        float(limit),
        str(limit),
        "hours between consecutive window ends",
        tuple(gaps),
        over="gaps",
    )


def _items_floor(items: Sequence[float]) -> Proposal | None:
    """items_analyzed: half the smallest run, as a warning (traffic has seasons)."""
    if len(items) < MIN_RUNS or min(items) < 2:
        return None
    limit = _floor(min(items) / 2)
    return Proposal(
        "run",
        "items_analyzed",
        "min",
        float(limit),
        str(limit),
        "items analysed by each run",
        tuple(items),
        severity="warn",
    )


# ---------------------------------------------------------------------------
# Cluster scope: every cluster, each usage pattern


def _evaluated(run: Run, metric: str) -> list[float]:
    """The values a cluster check with `where: {min_size: MIN_SIZE}` evaluates."""
    values = []
    for c in run.clusters:
        if c.is_noise or c.size < MIN_SIZE:
            continue
        v = cluster_value(metric, c, run)
        if v is not None:
            values.append(v)
    return values


def _every_cluster(runs: Sequence[Run]) -> list[Proposal]:
    out: list[Proposal | None] = []
    for metric in ("avg_cost_usd", "p95_latency_s", "error_rate"):
        worst = [max(vs) for r in runs if (vs := _evaluated(r, metric))]
        rate = metric == "error_rate"
        out.append(
            _bounded(
                "clusters",
                metric,
                "max",
                worst,
                f"worst cluster of each run (clusters of {MIN_SIZE}+ items)",
                # With confidence, a small cluster with a few errors does not fail:
                # no min_size needed, and a new small failing pattern still counts.
                where={} if rate else {"min_size": MIN_SIZE},
                confidence=CONFIDENCE if rate else None,
            )
        )
    return [p for p in out if p is not None]


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A usage pattern: one cluster per run, linked by the `previous` pairing."""

    clusters: tuple[tuple[int, Cluster], ...]  # (run index, cluster), oldest first

    @property
    def titles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.title for _, c in reversed(self.clusters)))


def patterns(runs: Sequence[Run], pairings: Sequence[Pairing]) -> list[_Pattern]:
    """The patterns of the newest run followed back through the history, largest first."""
    chains: dict[tuple[int, int], list[tuple[int, Cluster]]] = {}
    for c in runs[0].clusters:
        if not c.is_noise:
            chains[(0, c.cluster_id)] = [(0, c)]
    for index, pairing in enumerate(pairings, start=1):
        for c in runs[index].clusters:
            if c.is_noise:
                continue
            pair = pairing.for_latest(c.cluster_id)
            before = chains.pop((index - 1, pair.baseline.cluster_id), None) if pair else None
            chains[(index, c.cluster_id)] = [*(before or []), (index, c)]
    last = len(runs) - 1
    found = [_Pattern(tuple(chain)) for (i, _), chain in chains.items() if i == last]
    found.sort(key=lambda p: (-p.clusters[-1][1].size, p.clusters[-1][1].cluster_id))
    return found


# A shared word is cut down to no fewer letters than this ("summar" for summaries,
# summarizing and summarization): shorter stems match unrelated words.
_MIN_STEM = 5


def title_regex(titles: Sequence[str], others: Sequence[str]) -> str | None:
    """A regex matching every one of `titles` and none of `others` (the rest of the
    history's titles): a word (or else the longest word start) all the titles share,
    so the next LLM rewording that keeps it still matches; else the titles themselves;
    None when even they collide."""
    candidates = {
        (w[:k], whole)
        for w in _content_words(titles[0])
        for k in range(len(w), min(_MIN_STEM, len(w)) - 1, -1)
        for whole in ((True, False) if k == len(w) else (False,))
    }
    # Whole words first (they read as the topic: "sql", not "generati"), longest first.
    for start, whole in sorted(candidates, key=lambda c: (not c[1], -len(c[0]), c[0])):
        regex = rf"(?i)\b{start}" + (r"\b" if whole else "")
        if all(re.search(regex, t) for t in titles) and not any(
            re.search(regex, o) for o in others
        ):
            return regex
    exact = "^(?:" + "|".join(_escape(t) for t in sorted(titles)) + ")$"
    if any(re.search(exact, o) for o in others):
        return None
    return exact


def _escape(title: str) -> str:
    # re.escape also escapes spaces, which reads badly in a YAML file and needs no escape.
    # A control or invisible character, which a config's title may not hold (the loader
    # refuses it), is written as the regex escape \uXXXX, which matches it.
    return "".join(
        f"\\u{ord(ch):04x}" if safe_text.unsafe_character(ch) else re.escape(ch).replace("\\ ", " ")
        for ch in title
    )


def _content_words(title: str) -> set[str]:
    return {w for w in re.findall(r"[^\W_]+", title.lower()) if len(w) > 2 and w not in STOPWORDS}


_PATTERN_WHAT = {
    "avg_cost_usd": f"its avg cost (when {MIN_SIZE}+ items)",
    "avg_latency_s": f"its avg latency (when {MIN_SIZE}+ items)",
    "error_rate": "its error rate",
}


def _patterns(runs: Sequence[Run], pairings: Sequence[Pairing]) -> list[Proposal]:
    found = [p for p in patterns(runs, pairings) if len(p.clusters) >= MIN_RUNS]
    out: list[Proposal | None] = []
    for pattern in found[:MAX_PATTERNS]:
        mine = {(i, c.cluster_id) for i, c in pattern.clusters}
        others = sorted(
            {
                c.title
                for i, r in enumerate(runs)
                for c in r.clusters
                if (i, c.cluster_id) not in mine
            }
        )
        regex = title_regex(pattern.titles, others)
        if regex is None:
            continue
        # No avg latency per pattern: under ui semantics a trace's latency is its longest
        # event, and one long-running trace (hours) lifts an average past any honest
        # ceiling; latency is bounded by p95 over every cluster and against previous.
        for metric in ("avg_cost_usd", "error_rate"):
            rate = metric == "error_rate"
            values = [
                v
                for i, c in pattern.clusters
                if (rate or c.size >= MIN_SIZE)
                and (v := cluster_value(metric, c, runs[i])) is not None
            ]
            where: dict[str, int | str] = {"title": regex}
            if not rate:
                where["min_size"] = MIN_SIZE
            out.append(
                _bounded(
                    "patterns",
                    metric,
                    "max",
                    values,
                    _PATTERN_WHAT[metric],
                    where=where,
                    confidence=CONFIDENCE if rate else None,
                    titles=pattern.titles,
                )
            )
    return [p for p in out if p is not None]


# ---------------------------------------------------------------------------
# Against `previous`


def _relative(runs: Sequence[Run], pairings: Sequence[Pairing]) -> list[Proposal]:
    out = []
    for metric in ("avg_cost_usd", "p95_latency_s"):
        steps = [
            s
            for (_, new), p in zip(pairwise(runs), pairings, strict=True)
            if (s := _worst_rise(metric, new, p, runs)) is not None
        ]
        if len(steps) < MIN_RUNS - 1:
            continue
        raw = max(max(steps) + headroom(steps, "ratio"), MIN_INCREASE)
        pct = _ceil(raw * 100 / 5) * 5
        out.append(
            Proposal(
                "relative",
                metric,
                "max_increase",
                pct / 100,
                f"{pct}%",
                f"largest rise of a cluster vs its paired cluster the run before "
                f"(clusters of {MIN_SIZE}+ items)",
                tuple(steps),
                where={"min_size": MIN_SIZE},
                over="run pairs",
            )
        )
    return out


def _worst_rise(metric: str, new: Run, pairing: Pairing, runs: Sequence[Run]) -> float | None:
    """The largest relative rise of a cluster of `new` against its paired cluster, as a
    relative max_increase check with `where: {min_size: MIN_SIZE}` measures it."""
    old = next(r for r in runs if r.run_id == pairing.baseline_run_id)
    rises = []
    for pair in pairing.pairs:
        if pair.latest.size < MIN_SIZE:
            continue
        value = cluster_value(metric, pair.latest, new)
        base = cluster_value(metric, pair.baseline, old)
        if value is None or base is None or base <= 0:
            continue
        rises.append((value - base) / base)
    return max(rises) if rises else None
