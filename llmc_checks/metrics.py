"""Per-item metrics from AI events, and their per-cluster aggregation.

The semantics are PostHog's (the numbers its clustering UI shows):
trace level: cost = Σ `$ai_total_cost_usd` over generations + embeddings,
latency = Σ `$ai_latency` over generations, tokens = Σ input + output tokens over
generations + embeddings, errors = events (incl. spans) whose `$ai_is_error` is true.
Generation level: the generation event's own values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from llmc_checks._values import is_true, number
from llmc_checks.model import ClusterStats, DataError, Level, Run
from llmc_checks.stats import quantile_inclusive

AI_EVENTS = ("$ai_generation", "$ai_embedding", "$ai_span")
_COSTED = frozenset({"$ai_generation", "$ai_embedding"})

# Running totals of one item: [cost, latency, tokens, error events].
Totals = list[float]


def item_key(
    level: Level, event: str, row: Mapping[str, Any], props: Mapping[str, Any]
) -> str | None:
    """Which clustered item an AI event belongs to, or None if it belongs to none."""
    if level == "generation":
        if event != "$ai_generation":
            return None
        uuid = row.get("uuid")
        return str(uuid) if uuid else None
    trace_id = props.get("$ai_trace_id")
    return trace_id if isinstance(trace_id, str) and trace_id else None


def add_event(totals: Totals, event: str, props: Mapping[str, Any]) -> None:
    """Fold one AI event into its item's totals (spans add errors, never cost)."""
    if event in _COSTED:
        cost = number(props.get("$ai_total_cost_usd"))
        if cost is not None:
            totals[0] += cost
        tokens_in = number(props.get("$ai_input_tokens"))
        tokens_out = number(props.get("$ai_output_tokens"))
        totals[2] += (tokens_in or 0.0) + (tokens_out or 0.0)
        if event == "$ai_generation":
            latency = number(props.get("$ai_latency"))
            if latency is not None:
                totals[1] += latency
    if is_true(props.get("$ai_is_error")):
        totals[3] += 1


def new_totals() -> Totals:
    return [0.0, 0.0, 0.0, 0.0]


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


def no_events_to_compute(run_id: str, stats: frozenset[str]) -> DataError:
    """Stats a run's baked metrics lack, at evaluation level: no AI events to fall back on."""
    missing = ", ".join(sorted(stats))
    return DataError(
        f"run {run_id}: evaluation-level runs have no AI events to compute "
        f"{missing} from, and this run's clusters carry no baked metrics for them"
    )


def with_event_stats(run: Run, totals: Mapping[str, Totals]) -> Run:
    clusters = tuple(replace(c, stats=cluster_stats(c.item_ids, totals)) for c in run.clusters)
    return replace(run, clusters=clusters)


def trend_run(run: Run) -> Run:
    """A run as trend lines see it: baked stats only, no item ids (what the live source
    can afford to send for every recent run), so both sources draw the same lines."""
    clusters = tuple(
        replace(c, item_ids=(), stats=baked_stats(c.baked) if c.baked is not None else None)
        for c in run.clusters
    )
    return replace(run, clusters=clusters)


def with_baked_stats(run: Run) -> Run:
    clusters = tuple(
        replace(c, stats=baked_stats(c.baked) if c.baked is not None else None)
        for c in run.clusters
    )
    return replace(run, clusters=clusters)
