"""Pure evaluation: (check, runs) → CheckResult. No I/O, no clock: `now` comes in."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal, NamedTuple

from llmc_checks import formatting, metrics
from llmc_checks.metrics_catalog import BASELINE_ONLY_METRICS, DEFAULT_TITLE_THRESHOLD
from llmc_checks.model import (
    Bound,
    Cluster,
    Evidence,
    Limits,
    Measure,
    Member,
    Run,
    at_limit,
    measure_change,
    over,
    under,
)
from llmc_checks.results import NEAR_MISS_MARGIN, CheckResult, ClusterRow, RowStatus, Status
from llmc_checks.safe_text import quoted
from llmc_checks.stats import difference_bounds, median, wilson_bounds
from llmc_checks.units import counted, format_number

if TYPE_CHECKING:
    from llmc_checks.config import Change, Check
    from llmc_checks.matching import Pairing

# A failure message lists at most this many failing clusters, worst first, then how
# many more fail: a CI log stays readable with 10,000 (the JSON report keeps them all).
MESSAGE_CLUSTERS = 10


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a check reads, gathered once per gate."""

    now: datetime
    latest: Run
    # Baseline runs per check are resolved by the gate; this is the default set.
    baselines: tuple[Run, ...] = ()
    no_baseline_reason: str = "no baseline run"
    # An explicitly named baseline run that doesn't exist is an error, not a first run.
    missing_baseline_is_error: bool = False
    require_baseline: bool = False
    pairings: tuple[Pairing, ...] = ()
    title_threshold: float = DEFAULT_TITLE_THRESHOLD
    link: Callable[[Run, int], str | None] = field(default=lambda run, cid: None)
    # Evidence: items shown per failing, warning or near-miss cluster (0: none), and
    # the link to an item's trace page (None without a PostHog host).
    evidence: int = 0
    item_link: Callable[[Run, Member], str | None] = field(default=lambda run, member: None)


class NoData(Exception):
    """A metric has no value to judge; the check errors with this reason."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    ok: bool
    note: str = ""


# ---------------------------------------------------------------------------
# Metric values


def run_value(metric: str, run: Run, now: datetime) -> float | None:
    if metric == "items_analyzed":
        return float(run.items_analyzed)
    if metric == "cluster_count":
        return float(sum(1 for c in run.clusters if not c.is_noise))
    if metric == "noise_share":
        noise = run.noise
        return (noise.size if noise else 0) / run.items_analyzed if run.items_analyzed else None
    if metric == "run_age_hours":
        return (now - run.window_end).total_seconds() / 3600
    if metric == "run_cost_usd":
        if any(c.stats is None for c in run.clusters):
            return None
        total = sum((c.stats.total_cost_usd or 0.0) for c in run.clusters if c.stats is not None)
        if not math.isfinite(total):  # each cluster's total is finite (the sources see to it)
            raise NoData(
                f"run {run.run_id}: run_cost_usd overflows: its clusters' total costs add up "
                "past the largest double (about 1.8e308)"
            )
        return total
    raise ValueError(f"not a run-scope metric: {metric}")


def run_counts(metric: str, run: Run) -> tuple[int, int] | None:
    """(successes, trials) behind a run-scope proportion, for confidence bounds."""
    if metric == "noise_share":
        noise = run.noise
        return (noise.size if noise else 0), run.items_analyzed
    return None


def cluster_value(metric: str, cluster: Cluster, run: Run) -> float | None:
    if metric == "size":
        return float(cluster.size)
    if metric == "size_share":
        return cluster.size / run.items_analyzed if run.items_analyzed else None
    return cluster.stats.value(metric) if cluster.stats is not None else None


def cluster_counts(metric: str, cluster: Cluster, run: Run) -> tuple[int, int] | None:
    if metric == "error_rate" and cluster.stats is not None:
        stats = cluster.stats
        # Baked metrics may lack a count: counts that don't give back the rate say
        # nothing, and a confidence bound built on them would be vacuous.
        if stats.item_count <= 0 or stats.error_rate is None:
            return None
        if abs(stats.error_count / stats.item_count - stats.error_rate) > 1e-9:
            return None
        return stats.error_count, stats.item_count
    if metric == "size_share":
        return cluster.size, run.items_analyzed
    return None


PAIRING_METRICS = frozenset(BASELINE_ONLY_METRICS)


def pairing_value(
    metric: str,
    pairings: Sequence[Pairing],
    latest: Run,
    baselines: Sequence[Run],
    title_threshold: float,
) -> float | None:
    """A cross-run metric; against several baselines, the median over them."""
    values = pairing_values(metric, pairings, latest, baselines, title_threshold)
    return median([v for v in values if v is not None])


def pairing_values(
    metric: str,
    pairings: Sequence[Pairing],
    latest: Run,
    baselines: Sequence[Run],
    title_threshold: float,
) -> list[float | None]:
    """A cross-run metric against each baseline, in the baselines' order."""
    from llmc_checks import matching

    values: list[float | None] = []
    for pairing, baseline in zip(pairings, baselines, strict=True):
        if metric == "title_stability":
            values.append(matching.title_stability(pairing, title_threshold))
        elif metric == "new_cluster_share":
            values.append(matching.new_cluster_share(pairing, latest))
        else:
            values.append(matching.size_drift(pairing, latest, baseline))
    return values


def median_index(values: Sequence[float | None]) -> int | None:
    """Which baseline is the median one: the middle of the known values (of an even
    number, the lower of the two middle ones).
    A verdict that needs one baseline's counts (`confidence`) or clusters (a
    title_stability failure) reads this one, so what it shows and what it judged agree."""
    known = [i for i, v in enumerate(values) if v is not None]
    if not known:
        return None
    # Sorted by value; equal values keep the baselines' order.
    order = sorted(known, key=lambda i: (values[i], i))
    return order[(len(order) - 1) // 2]


def new_cluster_counts(pairing: Pairing, latest: Run) -> tuple[int, int]:
    """(items in new clusters, items) behind new_cluster_share, for confidence bounds."""
    total = max(latest.items_analyzed, sum(c.size for c in latest.clusters))
    return sum(c.size for c in pairing.new), total


def evidence_measure(check: Check) -> Measure | None:
    """What a check's worst items rank by: its metric's per-item number, when the check
    has a ceiling (max, max_increase) that large values break. Floors only: none (the
    smallest items are not fetched), so its evidence is representative items alone."""
    if check.max is None and check.max_increase is None:
        return None
    return check.metric_info.item_measure


def _evidence(check: Check, ctx: Context, cluster: Cluster, floor: bool) -> tuple[Evidence, ...]:
    shown = check.metric_info.item_measure
    # A cluster judged against a floor (also in a check with a ceiling) was broken by
    # small values: its largest items would point the wrong way.
    measure = None if floor else evidence_measure(check)
    picked = metrics.pick_evidence(cluster.candidates, measure, ctx.evidence)
    return tuple(
        Evidence(
            item_id=m.item_id,
            why=why,
            value=m.values.of(shown) if shown is not None and m.values is not None else None,
            timestamp=m.timestamp,
            url=ctx.item_link(ctx.latest, m),
        )
        for m, why in picked
    )


def _with_evidence(
    check: Check, ctx: Context, rows: list[ClusterRow], floors: Collection[int] = ()
) -> list[ClusterRow]:
    """Evidence under the failing clusters, else under the near misses; representative
    only under those whose nearest limit is a floor (`floors`, by cluster id)."""
    if ctx.evidence <= 0:
        return rows
    failing = any(r.status == "fail" for r in rows)

    def named(r: ClusterRow) -> bool:
        if failing:
            return r.status == "fail"
        return r.status == "pass" and r.margin is not None and r.margin < NEAR_MISS_MARGIN

    by_id = {c.cluster_id: c for c in ctx.latest.clusters}
    return [
        replace(r, evidence=_evidence(check, ctx, by_id[r.cluster_id], r.cluster_id in floors))
        if named(r)
        else r
        for r in rows
    ]


# ---------------------------------------------------------------------------
# Bounds


def judge_bounds(
    value: float,
    lo: float | None,
    hi: float | None,
    counts: tuple[int, int] | None,
    confidence: float | None,
) -> _Verdict:
    """min/max; with `confidence`, a proportion fails only when its score bound is out.
    A value or bound equal to its limit up to float rounding passes (model.at_limit)."""
    if lo is None and hi is None:
        return _Verdict(True)
    low_b = high_b = value
    note = ""
    if confidence is not None and counts is None:
        note = "counts unknown: judged on the raw value"
    elif confidence is not None and counts is not None:
        # The bound judged is shown with the value (`margin_and_bound` returns it).
        low_b, high_b = wilson_bounds(counts[0], counts[1], confidence)
    failed = (hi is not None and over(low_b, hi)) or (lo is not None and under(high_b, lo))
    return _Verdict(not failed, note)


def tested_change(
    check: Check,
    new: float,
    base: float,
    direction: int,
    counts: tuple[int, int] | None,
    base_counts: tuple[int, int] | None,
) -> float:
    """The change a limit is judged on, in the limit's direction: the raw change, or
    with `confidence` its least extreme plausible value (Newcombe's interval)."""
    if check.confidence is not None and counts is not None and base_counts is not None:
        lower, upper = difference_bounds(*counts, *base_counts, check.confidence)
        return lower if direction == 1 else -upper
    return (new - base) * direction


def _limits(check: Check) -> list[tuple[Change, int]]:
    pairs = ((check.max_increase, 1), (check.max_decrease, -1))
    return [(limit, direction) for limit, direction in pairs if limit is not None]


def judge_change(
    check: Check,
    new: float,
    base: float,
    counts: tuple[int, int] | None,
    base_counts: tuple[int, int] | None,
) -> _Verdict:
    """max_increase / max_decrease against a baseline value."""
    counted = check.confidence is not None and counts is not None and base_counts is not None
    for limit, direction in _limits(check):
        change = tested_change(check, new, base, direction, counts, base_counts)
        if counted:
            if over(change, limit.allowed(base)):  # a bound at the limit up to rounding passes
                # The bound judged is shown with the change (`margin_and_bound` returns it), except
                # from 0, where a relative limit has no headroom to measure.
                zero = limit.relative and base == 0
                return _Verdict(False, "baseline was 0" if zero else "")
            continue
        if limit.relative and base == 0:
            if change > 0:
                return _Verdict(False, "baseline was 0")
            continue
        # Judged as measured (model.measure_change): at the limit up to float rounding
        # passes, and a relative limit compares the very change its text shows.
        measured, scale = measure_change(new, base, limit.relative)
        if over(measured * direction, limit.value, scale):
            return _Verdict(False)
    return _Verdict(True)


class Nearest(NamedTuple):
    """The limit a value is nearest (or furthest past): its margin and bound as
    `margin_and_bound` gives them, whether it is a floor (`min`, `max_decrease`: small
    values break it, not large ones) and whether it limits the change, not the value."""

    room: float | None
    bound: Bound | None
    floor: bool = False
    on_change: bool = False


def margin_and_bound(
    check: Check,
    value: float,
    counts: tuple[int, int] | None,
    base: float | None,
    base_counts: tuple[int, int] | None = None,
) -> tuple[float | None, Bound | None]:
    """Distance to the nearest limit as a share of that limit: 0.25 = a quarter of the
    limit left, negative = past it. With `confidence`, measured on the score bound the
    verdict used, so a passing check never shows a negative margin; that bound is the
    second value (None when the raw value was judged)."""
    nearest = nearest_limit(check, value, counts, base, base_counts)
    return nearest.room, nearest.bound


def nearest_limit(
    check: Check,
    value: float,
    counts: tuple[int, int] | None,
    base: float | None,
    base_counts: tuple[int, int] | None = None,
) -> Nearest:
    rooms: list[tuple[float, Nearest]] = []  # each limit's room, to take the least
    confidence = check.confidence
    low_b = high_b = value
    if confidence is not None and counts is not None:
        low_b, high_b = wilson_bounds(counts[0], counts[1], confidence)

    def bound(side: Literal["lower", "upper"], v: float, limit: float) -> Bound | None:
        if confidence is None or not counts:
            return None
        return Bound(side, v, confidence, against=limit)

    if check.max is not None:
        room = _room(check.max - low_b, low_b, check.max)
        rooms.append((room, Nearest(room, bound("lower", low_b, check.max))))
    if check.min is not None:
        room = _room(high_b - check.min, high_b, check.min)
        rooms.append((room, Nearest(room, bound("upper", high_b, check.min), floor=True)))
    if base is not None:
        counted = confidence is not None and counts is not None and base_counts is not None
        for limit, direction in _limits(check):
            if limit.relative and base == 0:
                if judge_change(check, value, base, counts, base_counts).note:
                    # Failed by a rise from 0, which no limit measures: no margin, no
                    # bound (another limit's would read as the reason); it sorts worst.
                    return Nearest(None, None, on_change=True)
                continue  # no headroom to measure: any change from 0 is infinitely relative
            allowed = limit.allowed(base)
            change = tested_change(check, value, base, direction, counts, base_counts)
            # The change's bound in the limit's direction: a rise's lower, a fall's upper.
            on_change = (
                Bound(
                    "lower" if direction == 1 else "upper",
                    change * direction,
                    confidence,
                    True,
                    against=allowed * direction,
                )
                if counted and confidence is not None
                else None
            )
            if on_change is None:
                # Measured as the verdict judges it: none left at the limit up to rounding.
                measured, scale = measure_change(value, base, limit.relative)
                change = measured * direction
                room = _room(limit.value - change, change, limit.value, scale)
                rooms.append((room, Nearest(room, None, direction == -1, on_change=True)))
            else:
                room = _room(allowed - change, change, allowed)
                rooms.append((room, Nearest(room, on_change, direction == -1, on_change=True)))
    if not rooms:
        return Nearest(None, None)
    return min(rooms, key=lambda room: room[0])[1]


def limits_of(check: Check) -> Limits:
    """The check's limits, for the text of what it judged against them."""

    def amount(change: Change | None) -> tuple[float, bool] | None:
        return None if change is None else (change.value, change.relative)

    return Limits(check.min, check.max, amount(check.max_increase), amount(check.max_decrease))


def _room(room: float, value: float, limit: float, scale: float = 0.0) -> float:
    """The margin of a value, bound or change to its limit: none at all when the verdict
    takes it for the limit (model.at_limit), not a rounding error's worth either side."""
    return 0.0 if at_limit(value, limit, scale) else _share(room, limit)


def _share(room: float, limit: float) -> float:
    return room / abs(limit) if limit else room


# ---------------------------------------------------------------------------
# Evaluation


def evaluate(check: Check, ctx: Context) -> CheckResult:
    """One check against the latest run (and, for relative checks, its baselines)."""
    try:
        if check.needs_baseline and not ctx.baselines and not _judged_alone(check, ctx):
            return _no_baseline(check, ctx)
        if check.scope == "cluster":
            return _cluster_check(check, ctx, ctx.baselines, ctx.pairings)
        return _run_check(check, ctx, ctx.baselines, ctx.pairings)
    except NoData as exc:
        return _result(check, "error", None, str(exc))


def _judged_alone(check: Check, ctx: Context) -> bool:
    """Whether a check without a baseline still has a limit of its own to judge: its
    `min`/`max` hold whether or not the change can be measured (a first run that costs
    too much must fail), unless a missing baseline is to be an error."""
    if ctx.missing_baseline_is_error or ctx.require_baseline:
        return False
    own_limits = check.min is not None or check.max is not None
    return own_limits and not check.metric_info.baseline_only


def _change_not_judged(reason: str) -> str:
    """The note of a check judged by its own min/max alone: why there is no baseline."""
    return f"{reason}; the change is not judged"


def _no_baseline(check: Check, ctx: Context) -> CheckResult:
    if ctx.missing_baseline_is_error:
        return _result(check, "error", None, ctx.no_baseline_reason)
    if ctx.require_baseline:
        return _result(check, "error", None, f"{ctx.no_baseline_reason} (--llmc-require-baseline)")
    return _result(check, "skip", None, ctx.no_baseline_reason)


def _result(
    check: Check,
    status: Status,
    observed: float | None,
    message: str,
    *,
    clusters: tuple[ClusterRow, ...] = (),
    clusters_run_id: str | None = None,
    worst: ClusterRow | None = None,
    baseline_value: float | None = None,
    margin: float | None = None,
    bound: Bound | None = None,
    value_decided: bool = False,
) -> CheckResult:
    if status == "fail" and check.severity == "warn":
        status = "warn"
    return CheckResult(
        name=check.display_name,
        metric=check.metric,
        scope=check.scope,
        status=status,
        observed=observed,
        expected=formatting.expected(check),
        message=message,
        severity=check.severity,
        clusters=clusters,
        clusters_run_id=clusters_run_id,
        worst=worst,
        baseline_value=baseline_value,
        margin=margin,
        bound=bound,
        limits=limits_of(check),
        value_decided=value_decided,
    )


def _run_check(
    check: Check, ctx: Context, baselines: Sequence[Run], pairings: Sequence[Pairing]
) -> CheckResult:
    metric = check.metric
    run = ctx.latest
    # The baseline a verdict on one baseline's counts or clusters reads (median_index).
    picked: int | None = None
    if metric in PAIRING_METRICS:
        per_baseline = pairing_values(metric, pairings, run, baselines, ctx.title_threshold)
        value = median([v for v in per_baseline if v is not None])
        picked = median_index(per_baseline)
        counts = None
        if metric == "new_cluster_share" and picked is not None:
            counts = new_cluster_counts(pairings[picked], run)
            if check.confidence is not None:
                # Judged on one baseline's counts: the value shown is that baseline's,
                # so the bound and the value come from the same items.
                value = per_baseline[picked]
    else:
        value = run_value(metric, run, ctx.now)
        counts = run_counts(metric, run)
    if value is None:
        raise NoData(formatting.no_value_reason(metric, run))
    fmt = formatting.formatter(metric)
    verdicts = [judge_bounds(value, check.min, check.max, counts, check.confidence)]
    base_value: float | None = None
    base_counts: tuple[int, int] | None = None
    if not baselines and check.needs_baseline:
        # Judged by its own min/max alone (_judged_alone): say the change was not.
        verdicts.append(_Verdict(True, _change_not_judged(ctx.no_baseline_reason)))
    elif check.max_increase is not None or check.max_decrease is not None:
        base_values = [run_value(metric, b, ctx.now) for b in baselines]
        known = [v for v in base_values if v is not None]
        base_value = median(known)
        median_run = median_index(base_values)
        if base_value is None or median_run is None:
            raise NoData(f"the baseline has no {metric} value")
        base_counts = run_counts(metric, baselines[median_run])
        if check.confidence is not None and base_counts is not None:
            # The change's bound is on the median baseline's own counts: the baseline
            # shown is that run's value, so the bound never contradicts the change.
            base_value = known_value(base_values, median_run)
        verdicts.append(judge_change(check, value, base_value, counts, base_counts))
    failed = [v for v in verdicts if not v.ok]
    notes = "; ".join(v.note for v in verdicts if v.note)
    room, bound = margin_and_bound(check, value, counts, base_value, base_counts)
    limits = limits_of(check)
    shown = formatting.value(metric, value, bound, limits)
    if base_value is not None:
        change = formatting.change(metric, value, base_value, bound, limits)
        shown += f" (baseline {fmt(base_value)}, {change})"
    clusters: tuple[ClusterRow, ...] = ()
    clusters_run_id: str | None = None
    if failed:
        msg = f"{metric} = {shown}, expected {formatting.expected(check)}"
        msg += f" ({notes})" if notes else ""
        if metric == "title_stability" and picked is not None:
            clusters = _unstable_clusters(pairings[picked], baselines[picked], ctx)
            clusters_run_id = baselines[picked].run_id
            if clusters:
                own = per_baseline[picked] if len(baselines) > 1 else None
                msg += "\n" + _unstable_lines(clusters, pairings[picked], fmt, own, len(baselines))
        return _result(
            check,
            "fail",
            value,
            msg,
            clusters=clusters,
            clusters_run_id=clusters_run_id,
            baseline_value=base_value,
            margin=room,
            bound=bound,
        )
    msg = f"{metric} = {shown}" + (f" ({notes})" if notes else "")
    return _result(check, "pass", value, msg, baseline_value=base_value, margin=room, bound=bound)


def known_value(values: Sequence[float | None], index: int) -> float:
    value = values[index]
    assert value is not None  # median_index picks known values only
    return value


def _selected(check: Check, run: Run) -> list[Cluster]:
    return [c for c in run.clusters if check.selection.selects(c)]


def _cluster_check(
    check: Check, ctx: Context, baselines: Sequence[Run], pairings: Sequence[Pairing]
) -> CheckResult:
    run = ctx.latest
    metric = check.metric
    fmt = formatting.formatter(metric)
    min_size = check.selection.min_size
    relative = check.max_increase is not None or check.max_decrease is not None
    limits = limits_of(check)
    selected = _selected(check, run)
    if not selected:
        return _result(check, "skip", None, _none_selected(check, run))
    rows: list[ClusterRow] = []
    scored: list[ClusterRow] = []
    floors: set[int] = set()
    on_value: set[int] = set()  # whose nearest limit is the value's own (min, max)
    for cluster in selected:
        url = ctx.link(run, cluster.cluster_id)
        value = cluster_value(metric, cluster, run)
        if check.selection.too_small(cluster):
            note = f"size {cluster.size} < min_size {min_size}"
            rows.append(_row(cluster, url, value, "not_evaluated", note))
            continue
        if value is None:
            note = formatting.no_value_reason(metric, run, cluster)
            rows.append(_row(cluster, url, None, "not_evaluated", note))
            continue
        counts = cluster_counts(metric, cluster, run)
        verdicts = [judge_bounds(value, check.min, check.max, counts, check.confidence)]
        base_value: float | None = None
        base_title: str | None = None
        base_counts = None
        if relative:
            matched = (
                _baseline_values(metric, cluster, pairings, baselines, check.confidence)
                if baselines
                else ctx.no_baseline_reason
            )
            if isinstance(matched, str) and check.min is None and check.max is None:
                rows.append(_row(cluster, url, value, "not_evaluated", matched))
                continue
            if isinstance(matched, str):
                # No baseline for this cluster (new, noise, none at all): its own
                # min/max still judge it; the change is not judged, and the note says so.
                verdicts.append(_Verdict(True, _change_not_judged(matched)))
            else:
                base_value, base_title, base_counts = matched
                verdicts.append(judge_change(check, value, base_value, counts, base_counts))
        failed = any(not v.ok for v in verdicts)
        note = "; ".join(v.note for v in verdicts if v.note)
        nearest = nearest_limit(check, value, counts, base_value, base_counts)
        room, bound = nearest.room, nearest.bound
        if nearest.floor:
            floors.add(cluster.cluster_id)
        if room is not None and not nearest.on_change:
            on_value.add(cluster.cluster_id)
        if base_value is not None:
            change = formatting.change(metric, value, base_value, bound, limits)
            note = "; ".join(p for p in (f"baseline {fmt(base_value)}, {change}", note) if p)
        row = _row(cluster, url, value, "fail" if failed else "pass", note, base_value, base_title)
        row = replace(row, margin=room, bound=bound)
        rows.append(row)
        scored.append(row)
    # Worst first (failing clusters by how far past the limit), so every renderer and
    # the JSON report list them in the order to read; those not evaluated last.
    scored = sorted(scored, key=_badness, reverse=True)
    rows = scored + [r for r in rows if r.status == "not_evaluated"]
    rows = _with_evidence(check, ctx, rows, floors)
    by_id = {r.cluster_id: r for r in rows}
    scored = [by_id[row.cluster_id] for row in scored]
    if not scored:
        reasons = {r.note for r in rows}
        return _result(
            check,
            "skip" if all("min_size" in r for r in reasons) else "error",
            None,
            f"no cluster could be evaluated: {'; '.join(sorted(reasons))}",
            clusters=tuple(rows),
        )
    # One cluster is the worst, and its value and margin are the check's: ranked by the
    # margin, which measures each limit in its own kind (an absolute limit by absolute
    # change, a relative one by relative change, a bound on the bound the verdict used).
    worst = scored[0]
    room = worst.margin
    observed = (
        worst.value - worst.baseline_value
        if relative and worst.value is not None and worst.baseline_value is not None
        else worst.value
    )
    failing = [r for r in rows if r.status == "fail"]
    evaluated = len(scored)
    # Judged by min/max alone (_judged_alone): the message says the change was not.
    unjudged = (
        f"({_change_not_judged(ctx.no_baseline_reason)})" if relative and not baselines else ""
    )
    if failing:
        verb = "fails" if len(failing) == 1 else "fail"
        lines = [
            f"{len(failing):,} of {counted(evaluated, 'cluster')} {verb} {metric} "
            f"{formatting.expected(check)}:"
        ]
        for r in failing[:MESSAGE_CLUSTERS]:
            lines.append(_row_line(r, metric, limits))
            lines += [
                f"      {formatting.evidence_line(metric, ev, run.level)}" for ev in r.evidence
            ]
        if len(failing) > MESSAGE_CLUSTERS:
            lines.append(f"  … and {len(failing) - MESSAGE_CLUSTERS:,} more")
        lines += [unjudged] if unjudged else []
        return _result(
            check,
            "fail",
            observed,
            "\n".join(lines),
            clusters=tuple(rows),
            worst=worst,
            baseline_value=worst.baseline_value,
            margin=room,
            bound=worst.bound,
            value_decided=relative and worst.cluster_id in on_value,
        )
    skipped = len(rows) - evaluated
    extra = f", {skipped:,} not evaluated" if skipped else ""
    msg = (
        f"{counted(evaluated, 'cluster')} evaluated{extra}; worst: {quoted(worst.title)} "
        f"{formatting.value(metric, worst.value, worst.bound, limits)}"
    ) + (f" {unjudged}" if unjudged else "")
    return _result(
        check,
        "pass",
        observed,
        msg,
        clusters=tuple(rows),
        worst=worst,
        baseline_value=worst.baseline_value,
        margin=room,
        bound=worst.bound,
        value_decided=relative and worst.cluster_id in on_value,
    )


def _row(
    cluster: Cluster,
    url: str | None,
    value: float | None,
    status: RowStatus,
    note: str,
    baseline_value: float | None = None,
    baseline_title: str | None = None,
) -> ClusterRow:
    return ClusterRow(
        cluster.cluster_id,
        cluster.title,
        cluster.size,
        value,
        status,
        note,
        baseline_value,
        baseline_title,
        url,
    )


def _row_line(row: ClusterRow, metric: str, limits: Limits) -> str:
    return _row_line_fmt(row, lambda v: formatting.value(metric, v, row.bound, limits))


def _row_line_fmt(row: ClusterRow, fmt: Callable[[float], str]) -> str:
    value = fmt(row.value) if row.value is not None else "-"
    note = f" ({row.note})" if row.note else ""
    link = f" {row.url}" if row.url else ""
    where = f"cluster {row.cluster_id}, {counted(row.size, 'item')}"
    return f"  - {quoted(row.title)} ({where}): {value}{note}{link}"


def _unstable_clusters(pairing: Pairing, baseline: Run, ctx: Context) -> tuple[ClusterRow, ...]:
    """The baseline clusters title_stability counts against: paired below the threshold
    (changed) or unpaired (vanished), largest first. Each one's value is its share of
    the weight title_stability divides by (the baseline's paired and vanished sizes),
    so they add up to what the run lost."""
    threshold = ctx.title_threshold
    weighed = [p.baseline for p in pairing.pairs] + list(pairing.vanished)
    total = sum(c.size for c in weighed)

    def share(cluster: Cluster) -> float:
        return cluster.size / total if total else 1 / len(weighed)

    unstable: list[tuple[Cluster, str]] = [
        (
            p.baseline,
            f"changed: paired with {quoted(p.latest.title)} (cluster {p.latest.cluster_id}) at "
            f"similarity {formatting.similarity(p.similarity, threshold)} < "
            f"{format_number(threshold)}",
        )
        for p in pairing.pairs
        if p.similarity < threshold
    ]
    unstable += [(c, "vanished: no cluster of the latest run matches") for c in pairing.vanished]
    unstable.sort(key=lambda u: (-u[0].size, u[0].cluster_id))
    return tuple(
        _row(c, ctx.link(baseline, c.cluster_id), share(c), "fail", note) for c, note in unstable
    )


def _unstable_lines(
    rows: Sequence[ClusterRow],
    pairing: Pairing,
    fmt: Callable[[float], str],
    own: float | None = None,
    baselines: int = 1,
) -> str:
    # Against several baselines, the clusters listed are the median baseline's: name
    # it and its own value, which an even number of baselines does not average into.
    which = (
        f" (the median of {baselines} baselines, title_stability {fmt(own)})"
        if own is not None
        else ""
    )
    lines = [
        f"clusters of baseline run {pairing.baseline_run_id}{which} judged changed or "
        "vanished (their share of its items), largest first:"
    ]
    lines += [_row_line_fmt(r, fmt) for r in rows[:MESSAGE_CLUSTERS]]
    if len(rows) > MESSAGE_CLUSTERS:
        lines.append(f"  … and {len(rows) - MESSAGE_CLUSTERS:,} more")
    return "\n".join(lines)


def _none_selected(check: Check, run: Run) -> str:
    """Why a cluster check found nothing to judge: the run, or the user's `where`."""
    if check.where is not None:
        return "no cluster matches `where`"
    if not run.clusters:
        return f"run {run.run_id} has no clusters"
    noise = run.noise
    items = ""
    if noise is not None:
        many = f" (all {noise.size:,} items are noise)"
        items = " (its one item is noise)" if noise.size == 1 else many
    return f"run {run.run_id} has no clusters besides noise{items}"


def _badness(row: ClusterRow) -> tuple[bool, float]:
    """Larger = worse: failing rows first, then the least headroom. A failing row with
    no measurable headroom (a rise from a baseline of 0) is the worst of all."""
    failed = row.status == "fail"
    if row.margin is None:
        return failed, math.inf if failed else -math.inf
    return failed, -row.margin


def _baseline_values(
    metric: str,
    cluster: Cluster,
    pairings: Sequence[Pairing],
    baselines: Sequence[Run],
    confidence: float | None = None,
) -> tuple[float, str, tuple[int, int] | None] | str:
    """The paired baseline cluster's value (median over several baselines) and the
    counts of the median one (median_index), or why there is none. With `confidence`
    the change is bounded on those counts, so the value returned is that baseline's own."""
    values: list[float | None] = []
    counts: list[tuple[int, int] | None] = []
    titles: list[str] = []
    title: str | None = None
    paired_title: str | None = None
    for pairing, run in zip(pairings, baselines, strict=True):
        pair = pairing.for_latest(cluster.cluster_id)
        if pair is None:
            continue
        paired_title = pair.baseline.title
        value = cluster_value(metric, pair.baseline, run)
        if value is None:
            continue
        values.append(value)
        counts.append(cluster_counts(metric, pair.baseline, run))
        titles.append(pair.baseline.title)
        title = pair.baseline.title
    base = median([v for v in values if v is not None])
    picked = median_index(values)
    if base is None or title is None or picked is None:
        if paired_title is None and cluster.is_noise:
            # Noise never pairs (DESIGN §2), though the baseline has its outliers too.
            return "noise cluster: never paired across runs, no baseline to compare"
        if paired_title is None:
            return "new cluster: no baseline to compare"
        return f"its baseline cluster {quoted(paired_title)} has no {metric} value"
    if confidence is not None and counts[picked] is not None:
        return known_value(values, picked), titles[picked], counts[picked]
    return base, title, counts[picked]
