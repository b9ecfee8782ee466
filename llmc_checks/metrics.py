"""Per-item metrics from AI events, and their per-cluster aggregation.

PostHog defines an item's numbers two ways (DESIGN §1); `Semantics` picks one:

- "ui", the cluster page: events in `[window_start, window_end]`; trace cost = Σ
  `$ai_total_cost_usd` and tokens = Σ input + output over generations, embeddings and
  spans; trace latency = the **max** `$ai_latency` over all three.
- "workflow", the clustering job's stored `metrics`: events in `[window_start,
  window_end)`; cost and tokens over generations + embeddings; latency = Σ over
  generations.

In both, errors are events (spans too) whose `$ai_is_error` reads `true`, and at
generation level an item is one `$ai_generation` event with its own values. Values
are read as HogQL's toFloat / toInt read them (`_values.number`, `_values.integer`).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Container, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from llmc_checks._values import Inexact, exact_loads, integer, is_true, number, text
from llmc_checks.model import (
    REPRESENTATIVE,
    WHY,
    ClusterStats,
    DataError,
    ItemValues,
    Level,
    Measure,
    Member,
    Run,
    RunRequest,
    Semantics,
)
from llmc_checks.stats import quantile_inclusive

AI_EVENTS = ("$ai_generation", "$ai_embedding", "$ai_span")
# Under "workflow", the events whose cost and tokens count (latency: generations only).
_COSTED = frozenset({"$ai_generation", "$ai_embedding"})

# Running totals of one item: [cost, latency, tokens, error events, then per property of
# NONFINITE_PROPERTIES the events that read it as NaN or an infinity]. A value no event
# carries stays 0, which no per-cluster number counts (only values > 0 do).
Totals = list[float]
# The metric properties read as floats (tokens are Int64: never NaN or infinite), with
# where their non-finite readings are counted in Totals.
NONFINITE_PROPERTIES = ("$ai_total_cost_usd", "$ai_latency")
_BAD_COST, _BAD_LATENCY = 4, 5


def item_key(
    level: Level, event: str, row: Mapping[str, Any], props: Mapping[str, Any]
) -> str | None:
    """The id an AI event names its item by, as PostHog's materialized column reads it
    (`item_key_reader`), or None if it names none."""
    return item_key_reader(level)(event, row, props)


def owned_key(
    level: Level,
    owners: Container[str],
    event: str,
    row: Mapping[str, Any],
    props: Mapping[str, Any],
    line: bytes,
) -> str | None:
    """The item among `owners` (a run's item ids) an AI event belongs to, or None.

    PostHog reads `$ai_trace_id` from its materialized column (JSONExtract as a string:
    `a"b` reads `a"b`) where it has one, else from the JSON properties with ClickHouse's
    escapes kept (`a"b` reads `a\\"b`); the clustering job wrote its items' ids in the
    spelling its project reads. So either spelling names the item. When both are items
    of the run, the materialized spelling wins, as PostHog (which materializes the
    column) reads it. An id orjson read inexactly is read again from the event's JSON
    `line` (`exact_trace_key`). The snapshot's pass 2 inlines this rule (`_fold_visitor`).
    """
    key = item_key_reader(level)(event, row, props)
    if key.__class__ is Inexact:
        key = exact_trace_key(line, key)
    if key is None or key in owners:
        return key
    escaped = escaped_key_reader(level)(props)
    return escaped if escaped is not None and escaped in owners else None


ItemKeyReader = Callable[[str, Mapping[str, Any], Mapping[str, Any]], str | None]


def item_key_reader(level: Level) -> ItemKeyReader:
    """`item_key` for one level, decided once (the snapshot's pass 2 asks per event)."""
    return _generation_key if level == "generation" else _trace_key


def _generation_key(event: str, row: Mapping[str, Any], props: Mapping[str, Any]) -> str | None:
    if event != "$ai_generation":
        return None
    uuid = row.get("uuid")
    return str(uuid) if uuid else None


def _trace_key(event: str, row: Mapping[str, Any], props: Mapping[str, Any]) -> str | None:
    # As PostHog's materialized column reads it (`owned_key`): a string as itself, a
    # number or bool by ClickHouse's text of it (as the clustering job wrote its items).
    value = props.get("$ai_trace_id")
    if value.__class__ is str:  # the common case, first
        return value or None
    return text(value) or None


def exact_trace_key(line: bytes, inexact: str | None) -> str | None:
    """`_trace_key` read from the event's JSON `line` itself, for an id `_trace_key` read
    `Inexact`ly (an integer past 64 bits, which ClickHouse keeps digit for digit); the
    `inexact` reading when the line nests too deep for Python's reader."""
    try:
        props = exact_loads(line).get("properties")
        if isinstance(props, str):
            props = exact_loads(props)
    except RecursionError:
        return inexact
    if not isinstance(props, dict):
        return inexact
    return text(props.get("$ai_trace_id")) or None


EscapedKeyReader = Callable[[Mapping[str, Any]], str | None]


def escaped_key_reader(level: Level) -> EscapedKeyReader:
    """`props -> id`: the id an AI event names its item by as plain JSON properties read
    it (JSONExtractRaw, ClickHouse's escapes kept), when that differs from `item_key`'s;
    else None (`owned_key`)."""
    return _no_other_key if level == "generation" else _escaped_trace_key


def _no_other_key(props: Mapping[str, Any]) -> None:
    return None  # a generation is named by its event's uuid, which has no escapes


def _escaped_trace_key(props: Mapping[str, Any]) -> str | None:
    value = props.get("$ai_trace_id")
    if not isinstance(value, str):
        return None  # a number, bool, object or array reads the same both ways
    escaped = text(value)
    return escaped if escaped != value else None


def in_window(semantics: Semantics, at: datetime, start: datetime, end: datetime) -> bool:
    """The page counts an event at the window's end; the job does not."""
    return window_test(semantics)(at, start, end)


def window_test(semantics: Semantics) -> Callable[[datetime, datetime, datetime], bool]:
    """`in_window` for one semantics: `(at, start, end) -> bool`."""
    return _in_closed_window if semantics == "ui" else _in_half_open_window


def _in_closed_window(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at <= end


def _in_half_open_window(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at < end


def new_totals() -> Totals:
    return [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


EventAdder = Callable[[Totals, str, Mapping[str, Any]], None]


def add_event(totals: Totals, semantics: Semantics, event: str, props: Mapping[str, Any]) -> None:
    """Fold one of an item's AI events (inside its window) into the item's totals."""
    event_adder(semantics)(totals, event, props)


def event_adder(semantics: Semantics) -> EventAdder:
    """`add_event` for one semantics, `(totals, event, props)`: decided once, since the
    snapshot's pass 2 folds tens of thousands of events (benchmarks/README.md §6)."""
    return _add_page_event if semantics == "ui" else _add_job_event


# The properties read, and the Int64 range `_values.integer` keeps.
_COST, _LATENCY, _ERROR = "$ai_total_cost_usd", "$ai_latency", "$ai_is_error"
_TOKENS_IN, _TOKENS_OUT = "$ai_input_tokens", "$ai_output_tokens"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _add_cost_and_tokens(totals: Totals, get: Callable[[str], Any]) -> None:
    cost = get(_COST)
    if cost is not None:
        if cost.__class__ is not float:  # a float reads as itself (`number`)
            cost = number(cost)
        if cost is not None:
            if cost - cost == 0.0:  # finite (inf - inf and nan - nan are nan)
                totals[0] += cost
            else:
                totals[_BAD_COST] += 1
    # None (absent) and a plain int inside Int64 read as themselves.
    tokens_in = get(_TOKENS_IN)
    if tokens_in is not None and (
        tokens_in.__class__ is not int or not _INT64_MIN <= tokens_in <= _INT64_MAX
    ):
        tokens_in = integer(tokens_in)
    tokens_out = get(_TOKENS_OUT)
    if tokens_out is not None and (
        tokens_out.__class__ is not int or not _INT64_MIN <= tokens_out <= _INT64_MAX
    ):
        tokens_out = integer(tokens_out)
    totals[2] += (tokens_in or 0) + (tokens_out or 0)


def _add_page_event(totals: Totals, event: str, props: Mapping[str, Any]) -> None:
    """ "ui": every AI event's cost, tokens and errors; latency the max over them."""
    get = props.get
    _add_cost_and_tokens(totals, get)
    # The latency reading is written out here and in _add_job_event, not shared: a call
    # per AI event cost ~6% of this function (40-50 ns an event, measured), and pass 2
    # folds every AI event of a snapshot through it.
    latency = get(_LATENCY)
    if latency is not None and latency.__class__ is not float:
        latency = number(latency)
    if latency is not None:
        if latency - latency != 0.0:
            totals[_BAD_LATENCY] += 1
        elif latency > totals[1]:
            totals[1] = latency
    if is_true(get(_ERROR)):
        totals[3] += 1


def _add_job_event(totals: Totals, event: str, props: Mapping[str, Any]) -> None:
    """ "workflow": cost and tokens of generations and embeddings; latency the sum over
    generations; errors of every AI event."""
    get = props.get
    if event in _COSTED:
        _add_cost_and_tokens(totals, get)
        if event == "$ai_generation":
            latency = get(_LATENCY)
            if latency is not None and latency.__class__ is not float:
                latency = number(latency)
            if latency is not None:
                if latency - latency != 0.0:
                    totals[_BAD_LATENCY] += 1
                else:
                    totals[1] += latency
    if is_true(get(_ERROR)):
        totals[3] += 1


def value_of_item(
    semantics: Semantics, events: Iterable[tuple[str, Mapping[str, Any]]]
) -> ItemValues | None:
    """The value of one item under `semantics`: its AI events (name, properties) that
    fall inside the run's window by `in_window`; None when it has none (no data)."""
    totals: Totals | None = None
    for event, props in events:
        if totals is None:
            totals = new_totals()
        add_event(totals, semantics, event, props)
    return item_values(totals) if totals is not None else None


def cluster_stats(item_ids: Iterable[str], totals: Mapping[str, Totals]) -> ClusterStats:
    """Aggregate the items of one cluster; items with no event in the window don't count."""
    costs: list[float] = []
    latencies: list[float] = []
    tokens: list[float] = []
    with_data = with_errors = 0
    for item in item_ids:
        t = totals.get(item)
        if t is None:
            continue
        with_data += 1
        if t[3] > 0:
            with_errors += 1
        if t[0] > 0:
            costs.append(t[0])
        if t[1] > 0:
            latencies.append(t[1])
        if t[2] > 0:
            tokens.append(t[2])
    return ClusterStats(
        item_count=with_data,
        avg_cost_usd=_mean(costs),
        total_cost_usd=sum(costs) if costs else None,
        avg_latency_s=_mean(latencies),
        p95_latency_s=quantile_inclusive(latencies, 0.95),
        avg_tokens=_mean(tokens),
        error_count=with_errors,
        error_rate=with_errors / with_data if with_data else None,
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def baked_stats(baked: Mapping[str, float | None]) -> ClusterStats:
    count = baked.get("item_count")
    errors = baked.get("error_count")
    rate = baked.get("error_rate")
    if errors is None and rate is not None and count is not None:
        # "any may be null": rebuild the count the rate was computed from.
        errors = round(rate * count)
    return ClusterStats(
        item_count=int(count) if count is not None else 0,
        avg_cost_usd=baked.get("avg_cost_usd"),
        total_cost_usd=baked.get("total_cost_usd"),
        avg_latency_s=baked.get("avg_latency_s"),
        p95_latency_s=None,
        avg_tokens=baked.get("avg_tokens"),
        error_count=int(errors) if errors is not None else 0,
        error_rate=baked.get("error_rate"),
    )


def baked_suffices(run: Run, needed: frozenset[str]) -> bool:
    """True when every cluster carries baked metrics covering every needed stat."""
    return all(c.baked is not None and needed <= c.baked.keys() for c in run.clusters)


def baked_allowed(request: RunRequest) -> bool:
    """Whether baked `metrics` may stand in for events at all (the one rule, both sources).

    Only under "workflow": the baked numbers are the job's, and the page's differ;
    at evaluation level, where they are the only numbers, under both.
    """
    return request.semantics == "workflow" or request.level == "evaluation"


def baked_stands_in(request: RunRequest, runs: Iterable[Run]) -> bool:
    """Whether the runs' baked `metrics` replace computing from events: when allowed,
    and every cluster of every run carries every stat the gate needs."""
    return baked_allowed(request) and all(baked_suffices(r, request.stats) for r in runs)


def with_event_stats(run: Run, totals: Mapping[str, Totals]) -> Run:
    """The run with its clusters' stats from its items' totals; a DataError (naming the
    run, without the source's location) when a number would be NaN or infinite."""
    for prop, slot in zip(NONFINITE_PROPERTIES, (_BAD_COST, _BAD_LATENCY), strict=True):
        bad = {item: t[slot] for item, t in totals.items() if t[slot]}
        if bad:
            raise DataError(nonfinite_text(run.run_id, prop, int(sum(bad.values())), min(bad)))
    clusters = []
    for cluster in run.clusters:
        stats = cluster_stats(cluster.item_ids, totals)
        sums = (stats.total_cost_usd, stats.avg_latency_s)  # a sum, and a sum's mean
        for prop, value in zip(NONFINITE_PROPERTIES, sums, strict=True):
            if value is not None and not math.isfinite(value):
                raise DataError(overflow_text(run.run_id, cluster.cluster_id, prop))
        clusters.append(replace(cluster, stats=stats))
    return replace(run, clusters=tuple(clusters))


def nonfinite_text(run_id: str, prop: str, events: int, item: str) -> str:
    """A run whose AI events read a metric property as NaN or an infinity (both sources'
    words; `item`: the smallest id among the items concerned)."""
    s = "" if events == 1 else "s"
    return (
        f"run {run_id}: {prop} is NaN or infinite in {events} AI event{s} of its window "
        f"(e.g. item {item}), so PostHog's sums over them are too; fix or drop those events"
    )


def overflow_text(run_id: str, cluster_id: int, prop: str) -> str:
    """Finite values whose sum is not (both sources' words)."""
    return (
        f"run {run_id}: cluster {cluster_id}: its items' {prop} add up past the largest "
        "double (about 1.8e308): the sum is infinite"
    )


def trend_run(run: Run, semantics: Semantics) -> Run:
    """A run as trend lines see it: baked stats only, no item ids (what the live source
    can afford to send for every recent run), so both sources draw the same lines.

    Baked stats are the job's numbers: under "ui" a trend line has no per-item stats
    rather than numbers of the other semantics (evaluation runs have no others).
    """
    usable = semantics == "workflow" or run.level == "evaluation"
    clusters = tuple(
        replace(
            c,
            item_ids=(),
            stats=baked_stats(c.baked) if usable and c.baked is not None else None,
        )
        for c in run.clusters
    )
    return replace(run, clusters=clusters)


def with_baked_stats(run: Run) -> Run:
    clusters = tuple(
        replace(c, stats=baked_stats(c.baked) if c.baked is not None else None)
        for c in run.clusters
    )
    return replace(run, clusters=clusters)


# ---------------------------------------------------------------------------
# Evidence: the items behind a cluster's number (DESIGN §3 "Evidence")


def item_values(totals: Totals) -> ItemValues:
    """One item's numbers, as `cluster_stats` reads them."""
    return ItemValues(cost=totals[0], latency=totals[1], tokens=totals[2], errors=int(totals[3]))


def _by_rank(m: Member) -> tuple[bool, int, str]:
    # The cluster's centre first, as PostHog lists them; unranked items last.
    return (m.rank is None, m.rank if m.rank is not None else 0, m.item_id)


def _worst_key(measure: Measure) -> Callable[[Member], tuple[float, str]]:
    def key(m: Member) -> tuple[float, str]:
        # Ties by item id, so both sources (and every rerun) pick the same items.
        return (-(m.values.of(measure) if m.values is not None else 0.0), m.item_id)

    return key


def representatives(members: Iterable[Member], k: int) -> list[Member]:
    """The `k` lowest-rank items (ties by item id)."""
    return heapq.nsmallest(k, members, key=_by_rank)


def worst(members: Iterable[Member], measure: Measure, k: int) -> list[Member]:
    """The `k` items with the largest `measure` > 0 (ties by item id)."""
    scored = (m for m in members if m.values is not None and m.values.of(measure) > 0)
    return heapq.nsmallest(k, scored, key=_worst_key(measure))


def evidence_pool(
    members: Collection[Member], measures: Iterable[Measure], k: int
) -> tuple[Member, ...]:
    """The union of the `k` best items of each kind: all any check can pick from.

    Picking from the pool gives what picking from every member would, so a source
    need only keep (or fetch) the pool: bytes grow with clusters × k, not items.
    """
    chosen = {m.item_id: m for m in representatives(members, k)}
    for measure in measures:
        chosen.update((m.item_id, m) for m in worst(members, measure, k))
    return tuple(sorted(chosen.values(), key=_by_rank))


def with_values(members: Iterable[Member], totals: Mapping[str, Totals]) -> list[Member]:
    """The members with their numbers from the folded AI events."""
    out = []
    for m in members:
        t = totals.get(m.item_id)
        out.append(replace(m, values=item_values(t)) if t is not None else m)
    return out


def pick_evidence(
    pool: Collection[Member], measure: Measure | None, k: int
) -> list[tuple[Member, str]]:
    """Up to `k` items and why: the worst for `measure` first (the larger half), then
    the most representative; either kind fills what the other cannot."""
    if k <= 0 or not pool:
        return []
    bad = worst(pool, measure, k) if measure is not None else []
    reps = representatives(pool, k)
    take_bad = k - k // 2 if bad else 0
    picked: dict[str, tuple[Member, str]] = {}
    why = WHY[measure] if measure is not None else REPRESENTATIVE
    for m in bad[:take_bad]:
        picked[m.item_id] = (m, why)
    for group, label in ((reps, REPRESENTATIVE), (bad, why)):
        for m in group:
            if len(picked) >= k:
                break
            picked.setdefault(m.item_id, (m, label))
    return list(picked.values())


def with_candidates(
    run: Run, totals: Mapping[str, Totals] | None, measures: Iterable[Measure], k: int
) -> Run:
    """The run with each cluster's members (from runs.build_run) cut to its evidence pool,
    valued from `totals` (None: no AI events read, so no values)."""
    wanted = tuple(measures)
    clusters = tuple(
        replace(
            c,
            candidates=evidence_pool(
                with_values(c.candidates, totals) if totals is not None else c.candidates,
                wanted,
                k,
            ),
        )
        for c in run.clusters
    )
    return replace(run, clusters=clusters)
