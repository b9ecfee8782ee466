"""How numbers, limits and changes read to a person, by the metric's unit."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llmc_checks.metrics_catalog import metric as metric_info
from llmc_checks.units import format_limit, format_percent

if TYPE_CHECKING:
    from llmc_checks.config import Check
    from llmc_checks.model import Cluster, Evidence, Run


def _ratio(v: float) -> str:
    return f"{v:.1%}" if abs(v) >= 0.001 or v == 0 else f"{v:.3%}"


def _usd(v: float) -> str:
    if v == 0:
        return "$0"
    return f"${v:,.2f}" if abs(v) >= 10 else f"${v:.4g}"


def _count(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _seconds(v: float) -> str:
    return f"{v:.3g}s" if abs(v) < 100 else f"{v:,.0f}s"


def _hours(v: float) -> str:
    return f"{v:.1f}h"


def _tokens(v: float) -> str:
    return f"{v:,.0f}"


_FORMATS: dict[str, Callable[[float], str]] = {
    "ratio": _ratio,
    "usd": _usd,
    "count": _count,
    "seconds": _seconds,
    "hours": _hours,
    "tokens": _tokens,
}


def formatter(metric: str) -> Callable[[float], str]:
    return _FORMATS[metric_info(metric).unit]


def value(metric: str, v: float | None) -> str:
    return "-" if v is None else formatter(metric)(v)


def expected(check: Check) -> str:
    """The limits of a check in words: "≤ 5%", "0.5–0.9", "increase ≤ 20%", each
    exactly as configured (units.format_limit)."""
    unit = metric_info(check.metric).unit
    parts: list[str] = []
    if check.min is not None and check.max is not None:
        parts.append(f"{format_limit(check.min, unit)}–{format_limit(check.max, unit)}")
    elif check.max is not None:
        parts.append(f"≤ {format_limit(check.max, unit)}")
    elif check.min is not None:
        parts.append(f"≥ {format_limit(check.min, unit)}")
    for word, limit in (("increase", check.max_increase), ("decrease", check.max_decrease)):
        if limit is not None:
            shown = format_limit(limit.value, "ratio" if limit.relative else unit)
            parts.append(f"{word} ≤ {shown}")
    text = ", ".join(parts)
    if check.confidence is not None:
        text += f" @{format_percent(check.confidence)}"
    return text


def change(metric: str, new: float, base: float) -> str:
    """ "+0.012 (+34%)": the absolute change in the metric's unit, and relative to base."""
    fmt = formatter(metric)
    diff = new - base
    sign = "+" if diff >= 0 else "-"
    text = f"{sign}{fmt(abs(diff))}"
    if base:
        text += f" ({diff / abs(base):+.0%})"
    return text


def no_value_reason(metric: str, run: Run, cluster: Cluster | None = None) -> str:
    """Why a metric has no value, in words a user can act on."""
    if metric == "noise_share" and not run.items_analyzed:
        return f"run {run.run_id} analysed no items"
    if run.level == "evaluation" and metric_info(metric).stats:
        # One text whichever cluster lacks it, so a cluster check states it once.
        return (
            f"run {run.run_id}: evaluation-level runs have no AI events to compute {metric} "
            "from, and this run's clusters carry no baked value for it"
        )
    target = cluster if cluster is not None else None
    if target is not None:
        stats = target.stats
        if stats is None:
            return "no per-item metrics for this cluster"
        if stats.item_count == 0:
            return "no AI events for its items in the run window"
        return f"no item with {_what(metric)} > 0"
    if any(c.stats is None for c in run.clusters):
        return f"run {run.run_id} has no per-item metrics for {metric}"
    return f"no value for {metric} in run {run.run_id}"


def _what(metric: str) -> str:
    return {
        "avg_cost_usd": "cost",
        "total_cost_usd": "cost",
        "avg_latency_s": "latency",
        "p95_latency_s": "latency",
        "avg_tokens": "tokens",
    }.get(metric, metric)


# ---------------------------------------------------------------------------
# Evidence: one line per item a cluster's verdict rests on

_MEASURE_FORMATS: dict[str, Callable[[float], str]] = {
    "cost": _usd,
    "latency": _seconds,
    "tokens": lambda v: f"{v:,.0f} tokens",
    "errors": lambda v: f"{v:,.0f} error event{'' if v == 1 else 's'}",
}


def item_value(metric: str, v: float | None) -> str:
    """An item's own number for `metric` ("$0.41", "12.3s", "2 error events"); "" if none."""
    measure = metric_info(metric).item_measure
    if v is None or measure is None:
        return ""
    return _MEASURE_FORMATS[measure](v)


def printable(text: str) -> str:
    """Untrusted text (ids come from the data) without control characters."""
    return "".join(ch for ch in text if ch.isprintable())


def short_id(item_id: str, *, linked: bool) -> str:
    """An item id for a log line: 8 characters when a link carries the whole id; else
    whole up to a UUID's length (it is the only way to find the item)."""
    text = printable(item_id)
    width = 8 if linked else 36
    return text if len(text) <= width + 1 else text[:width] + "…"


def item_time(timestamp: str) -> str:
    """ "2026-11-14 09:12Z" from the item's ISO timestamp; "" when absent or unreadable."""
    from llmc_checks._values import parse_timestamp

    try:
        return f"{parse_timestamp(timestamp):%Y-%m-%d %H:%M}Z" if timestamp else ""
    except ValueError:
        return ""


def evidence_line(metric: str, ev: Evidence) -> str:
    """ "most expensive $0.41 · 3f2a9c1e… · 2026-11-14 09:12Z · <url>"."""
    shown = item_value(metric, ev.value)
    parts = [f"{ev.why} {shown}" if shown else ev.why, short_id(ev.item_id, linked=bool(ev.url))]
    when = item_time(ev.timestamp)
    if when:
        parts.append(when)
    if ev.url:
        parts.append(ev.url)
    return " · ".join(parts)
