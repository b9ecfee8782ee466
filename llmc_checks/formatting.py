"""How numbers, limits and changes read to a person, by the metric's unit."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING

from llmc_checks.metrics_catalog import metric as metric_info
from llmc_checks.model import at_limit, measure_change
from llmc_checks.units import counted, format_limit, format_percent

if TYPE_CHECKING:
    from llmc_checks.config import Check
    from llmc_checks.model import Bound, Cluster, Evidence, Limits, Run


@dataclass(frozen=True, slots=True)
class _Style:
    """How a unit's numbers are written: scaled (a ratio in percent), rounded to nearest
    at the decimals `places` gives for the scaled number (with a flag: significant
    digits, whose trailing zeros are dropped, "$0.08" and "20s"), then affixed."""

    places: Callable[[Decimal], tuple[int, bool]]
    suffix: str = ""
    prefix: str = ""
    scale: int = 1
    grouped: bool = False


def _percent_places(x: Decimal) -> tuple[int, bool]:
    return (1 if abs(x) >= Decimal("0.1") or x == 0 else 3), False


def _significant(digits: int) -> Callable[[Decimal], tuple[int, bool]]:
    return lambda x: (digits - 1 - x.adjusted(), True)


def _usd_places(x: Decimal) -> tuple[int, bool]:
    return (2, False) if abs(x) >= 10 else _significant(4)(x)


def _seconds_places(x: Decimal) -> tuple[int, bool]:
    return (0, False) if abs(x) >= 100 else _significant(3)(x)


_RATIO = _Style(_percent_places, suffix="%", scale=100)
# An absolute change of a ratio, in percentage points (0.05 → "5.0 pp"): a measured
# change, rounded for reading; units.format_limit(v, "points") writes a configured
# limit exactly as the user wrote it.
_POINTS = _Style(_percent_places, suffix=" pp", scale=100)
# A change relative to its baseline value, in whole percent ("+34%").
_RELATIVE = _Style(lambda x: (0, False), suffix="%", scale=100)
_STYLES: dict[str, _Style] = {
    "ratio": _RATIO,
    "usd": _Style(_usd_places, prefix="$", grouped=True),
    "count": _Style(lambda x: (0 if x == x.to_integral_value() else 1, False), grouped=True),
    "seconds": _Style(_seconds_places, suffix="s", grouped=True),
    "hours": _Style(lambda x: (1, False), suffix="h"),
    "tokens": _Style(lambda x: (0, False), grouped=True),
}


def _apart(exact: Decimal, places: int, limits: Sequence[Decimal] = ()) -> Decimal:
    """`exact` rounded to nearest at `places` decimals (a half away from zero: the
    number as the JSON report writes it, 0.45h, reads 0.5h), with more digits while it would
    read as a limit it differs from, or past one on the wrong side: 10.016% over a 10%
    limit reads "10.02", not "10.0"; a number equal to its limit reads as it. Ends by
    `exact`'s own digits at the latest, which tell it from every limit it differs from.

    The one rule for every number shown next to a limit it was judged against (values,
    changes, bounds), so the text never contradicts the verdict."""
    while True:
        with localcontext() as context:  # a huge number's every digit, not "1.2E+30"
            context.prec = max(context.prec, exact.adjusted() + places + 2)
            shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if all((shown > e, shown < e) == (exact > e, exact < e) for e in limits):
            return shown
        places += 1


# Fixed-point digits for numbers (as shown: a ratio in percent) from 1e-12 up to 1e15,
# exponent notation outside ("$1e-300", "$1e+30"): fixed-point would print hundreds of
# zeros; no real cost, latency or token count comes near either end.
_FIXED_FROM, _FIXED_BELOW = -12, 15


def _text(style: _Style, v: float, limits: Iterable[float] = (), *, signed: bool = False) -> str:
    """`v` as `style` writes it, on its own side of each of `limits` (_apart); `signed`:
    a change, "+" before the unit of a rise ("+$0.012"). One sign placement, a minus
    before the unit as a limit reads ("-$0.5", "-5.0 pp"), and no sign on a number
    that reads as zero ("$0", "0.000 pp": -0.0, or a change rounded to 0)."""
    if not math.isfinite(v):
        sign = "-" if v < 0 else ("+" if signed else "")
        return f"{sign}{style.prefix}{abs(v)}{style.suffix}"
    exact = Decimal(repr(float(v))) * style.scale
    places, significant = style.places(exact)
    edges = [Decimal(repr(float(limit))) * style.scale for limit in limits]
    shown = _apart(exact, places, edges)
    sign = "-" if shown < 0 else ("+" if signed and shown > 0 else "")
    return f"{sign}{style.prefix}{_digits(abs(shown), style, significant)}{style.suffix}"


def _digits(shown: Decimal, style: _Style, significant: bool) -> str:
    """The digits of a rounded non-negative number: fixed-point (grouped where the style
    groups, trailing zeros dropped where its digits are significant), or in exponent
    notation far from 1 (_FIXED_FROM, _FIXED_BELOW) with the digits rounding kept."""
    if shown and not _FIXED_FROM <= shown.adjusted() < _FIXED_BELOW:
        return format(shown.normalize(), "e")
    digits = format(shown, ",f" if style.grouped else "f")
    if significant and "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return digits


def _usd(v: float) -> str:
    return _text(_STYLES["usd"], v)


def _seconds(v: float) -> str:
    return _text(_STYLES["seconds"], v)


def _style(metric: str) -> _Style:
    return _STYLES[metric_info(metric).unit]


def formatter(metric: str) -> Callable[[float], str]:
    """How a value of `metric` reads where no limit is beside it (a baseline, a trend)."""
    style = _style(metric)
    return lambda v: _text(style, v)


def _change_style(metric: str) -> _Style:
    """How an absolute change reads: a ratio's in points ('+5.0 pp', not '+5.0%', which
    would read as relative to the baseline), any other in the metric's unit."""
    return _POINTS if metric_info(metric).is_ratio else _style(metric)


def bound_text(metric: str, bound: Bound) -> str:
    """ "lower bound 6.8% @95%" (a value's) or "lower bound +1.2 pp @95%" (a change's),
    on the side of the limit it was compared with that the verdict says (_apart)."""
    limits = () if bound.against is None else (bound.against,)
    style = _change_style(metric) if bound.on_change else _style(metric)
    shown = _text(style, _as_limit(bound.value, limits), limits, signed=bound.on_change)
    return f"{bound.side} bound {shown} @{format_percent(bound.confidence)}"


def value(
    metric: str, v: float | None, bound: Bound | None = None, limits: Limits | None = None
) -> str:
    """ "13.5%", or with the bound a confident verdict judged: "13.5% (lower bound 6.8% @95%)".
    Beside its check's `limits`, on its own side of its min and max (_apart): 10.04%
    failing `max: 10%` reads "10.04%", not "10.0%"."""
    if v is None:
        return "-"
    edges = () if limits is None else [x for x in (limits.min, limits.max) if x is not None]
    text = _text(_style(metric), _as_limit(v, edges), edges)
    if bound is not None and not bound.on_change:
        text += f" ({bound_text(metric, bound)})"
    return text


def _as_limit(v: float, limits: Iterable[float]) -> float:
    """A value (or bound) the verdict takes for one of its `limits` (model.at_limit) is
    that limit, and reads so: $0.08000000000000002 passing `max: 0.08` reads "$0.08"."""
    return next((limit for limit in limits if at_limit(v, limit)), v)


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


def change(
    metric: str,
    new: float,
    base: float,
    bound: Bound | None = None,
    limits: Limits | None = None,
) -> str:
    """ "+$0.012 (+34%)": the absolute change in the metric's unit (a ratio's in points,
    "+5.0 pp (+50%)"), relative to base, and the bound a confident verdict judged the
    change on ("+5.0 pp (+50%; lower bound +1.2 pp @95%)"). Beside `limits`, each part
    on its own side of the limits of its kind (_apart): the absolute change of an
    absolute max_increase/max_decrease, the relative one of a relative limit. Each part
    measured as the verdict measures it (model.measure_change): at a limit up to float
    rounding it reads as the limit, and within float rounding of no change it reads 0
    ("$0 (0%)", not "+$2.22e-16")."""
    diff, scale = measure_change(new, base, False)
    relative, relative_scale = measure_change(new, base, True) if base else (None, 0.0)
    if at_limit(diff, 0.0, scale):
        diff, relative = 0.0, None if relative is None else 0.0
    absolute_edges: list[float] = []
    relative_edges: list[float] = []
    for amount, direction in ((limits.increase, 1), (limits.decrease, -1)) if limits else ():
        if amount is None:
            continue
        size, is_relative = amount
        edge = direction * size
        if not is_relative:
            absolute_edges.append(edge)
            diff = edge if at_limit(diff, edge, scale) else diff
        elif relative is not None:
            relative_edges.append(edge)
            relative = edge if at_limit(relative, edge, relative_scale) else relative
    text = _text(_change_style(metric), diff, absolute_edges, signed=True)
    extras = [] if relative is None else [_text(_RELATIVE, relative, relative_edges, signed=True)]
    if bound is not None and bound.on_change:
        extras.append(bound_text(metric, bound))
    return f"{text} ({'; '.join(extras)})" if extras else text


def margin(share: float) -> str:
    """Headroom to a limit as a share of it, in whole percent ("+24%", "-12%") with more
    digits near 0 to read on its side (_apart): a near miss reads "+0.4%", not "+0%"."""
    return _text(_RELATIVE, share, (0.0,), signed=True)


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
    # The noun agrees with the number as shown (1.4 tokens read "1 token").
    "tokens": lambda v: counted(_text(_STYLES["tokens"], v), "token"),
    "errors": lambda v: counted(_text(_STYLES["count"], v), "error event"),
}


# An item with no AI event in the window (under the gate's semantics) has no number: it
# counts towards no average, and a bare id would read as a value left out.
NO_ITEM_VALUE = "(no AI event in the window)"


def item_value(metric: str, v: float | None, level: str | None = None) -> str:
    """An item's own number for `metric` ("$0.41", "12.3s", "2 error events"); NO_ITEM_VALUE
    when it has none; "" where items have no numbers: size checks, and evaluation-level
    runs (no AI events at all, only baked metrics)."""
    measure = metric_info(metric).item_measure
    if measure is None or level == "evaluation":
        return ""
    return NO_ITEM_VALUE if v is None else _MEASURE_FORMATS[measure](v)


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


def evidence_line(metric: str, ev: Evidence, level: str | None = None) -> str:
    """ "most expensive $0.41 · 3f2a9c1e… · 2026-11-14 09:12Z · <url>"."""
    shown = item_value(metric, ev.value, level)
    parts = [f"{ev.why} {shown}" if shown else ev.why, short_id(ev.item_id, linked=bool(ev.url))]
    when = item_time(ev.timestamp)
    if when:
        parts.append(when)
    if ev.url:
        parts.append(ev.url)
    return " · ".join(parts)
