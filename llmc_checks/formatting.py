"""How numbers, limits and changes read to a person, by the metric's unit."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from llmc_checks.metrics_catalog import metric as metric_info
from llmc_checks.units import format_limit, format_percent

if TYPE_CHECKING:
    from llmc_checks.config import Check
    from llmc_checks.model import Bound, Cluster, Evidence, Run


def _ratio(v: float) -> str:
    return f"{v:.1%}" if abs(v) >= 0.001 or v == 0 else f"{v:.3%}"


def _points(v: float) -> str:
    """An absolute change of a ratio, in percentage points: 0.05 → '5.0 pp'.

    A measured change, rounded for reading; units.format_limit(v, "points") writes a
    configured limit, exactly as the user wrote it, and never rounds."""
    return f"{v * 100:.1f} pp" if abs(v) >= 0.001 or v == 0 else f"{v * 100:.3f} pp"


def _percent_apart(v: float, limit: float) -> str:
    """A ratio in percent ("18.0", no sign) at _ratio's precision, to nearest, with
    digits added while it would read as the limit or past it on the wrong side: a bound
    of 10.016% over a 10% limit shows "10.02", not "10.0". Ends by the bound's own
    digits at the latest, which differ from the limit's when the two differ."""
    exact, edge = Decimal(repr(float(v))) * 100, Decimal(repr(float(limit))) * 100
    places = 1 if abs(v) >= 0.001 or v == 0 else 3
    while True:
        shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        if (shown > edge) if exact > edge else (shown < edge) if exact < edge else True:
            return f"{shown:f}"  # never "1E-7"
        places += 1


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


def _change_formatter(metric: str) -> Callable[[float], str]:
    """How an absolute change reads: a ratio's in points ('+5.0 pp', not '+5.0%', which
    would read as relative to the baseline), any other in the metric's unit."""
    return _points if metric_info(metric).is_ratio else formatter(metric)


def _signed(fmt: Callable[[float], str], v: float) -> str:
    return f"{'+' if v >= 0 else '-'}{fmt(abs(v))}"


def bound_text(metric: str, bound: Bound) -> str:
    """ "lower bound 6.8% @95%" (a value's) or "lower bound +1.2 pp @95%" (a change's).
    A proportion's bound (the only kind `confidence` gives) takes the digits it needs to
    read on the side of the limit it was compared with that the verdict says."""
    if bound.against is not None and metric_info(metric).is_ratio:
        apart = _percent_apart(bound.value, bound.against)
        signed = f"{'-' if bound.value < 0 else '+'}{apart.lstrip('-')} pp"
        shown = signed if bound.on_change else f"{apart}%"
    elif bound.on_change:
        shown = _signed(_change_formatter(metric), bound.value)
    else:
        shown = formatter(metric)(bound.value)
    return f"{bound.side} bound {shown} @{format_percent(bound.confidence)}"


def value(metric: str, v: float | None, bound: Bound | None = None) -> str:
    """ "13.5%", or with the bound a confident verdict judged: "13.5% (lower bound 6.8% @95%)"."""
    if v is None:
        return "-"
    text = formatter(metric)(v)
    if bound is not None and not bound.on_change:
        text += f" ({bound_text(metric, bound)})"
    return text


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
            kind = "ratio" if limit.relative else ("points" if unit == "ratio" else unit)
            shown = format_limit(limit.value, kind)
            parts.append(f"{word} ≤ {shown}")
    text = ", ".join(parts)
    if check.confidence is not None:
        text += f" @{format_percent(check.confidence)}"
    return text


def change(metric: str, new: float, base: float, bound: Bound | None = None) -> str:
    """ "+$0.012 (+34%)": the absolute change in the metric's unit (a ratio's in points,
    "+5.0 pp (+50%)"), relative to base, and the bound a confident verdict judged the
    change on ("+5.0 pp (+50%; lower bound +1.2 pp @95%)")."""
    diff = new - base
    text = _signed(_change_formatter(metric), diff)
    extras = [f"{diff / abs(base):+.0%}"] if base else []
    if bound is not None and bound.on_change:
        extras.append(bound_text(metric, bound))
    return f"{text} ({'; '.join(extras)})" if extras else text


def similarity(score: float, threshold: float) -> str:
    """A pairing score rounded down to the threshold's decimals, at least 2 (0.8 → 2,
    0.875 → 3): the threshold is written exactly at those decimals, so a score under it
    never shows it (0.7999 → 0.79) and one at or over it never shows less (0.8769 →
    0.876, not 0.87)."""
    exponent = int(Decimal(repr(float(threshold))).normalize().as_tuple().exponent)
    places = Decimal(1).scaleb(min(-2, exponent))
    return f"{Decimal(repr(float(score))).quantize(places, rounding=ROUND_FLOOR):f}"


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
