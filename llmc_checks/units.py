"""Percents and durations as users write them, and as they are shown back.

parse_percent("12.5%") → 0.125     parse_duration("1d12h") → timedelta(hours=36)
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

__all__ = [
    "DURATION_HELP",
    "DURATION_PATTERN",
    "NUMBER_RE",
    "PERCENT_PATTERN",
    "counted",
    "format_duration",
    "format_limit",
    "format_number",
    "format_percent",
    "parse_duration",
    "parse_percent",
]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PERCENT_RE = re.compile(rf"\s*({_NUMBER})\s*%\s*")
NUMBER_RE = re.compile(rf"\s*{_NUMBER}\s*")
PERCENT_PATTERN = rf"^\s*{_NUMBER}\s*%\s*$"


def parse_percent(text: str) -> float:
    """'5%' → 0.05, '12.5%' → 0.125; ValueError otherwise.

    Goes through Decimal so '0.1%' is the float nearest 0.001, not 0.1/100's rounding.
    """
    m = _PERCENT_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"invalid percent {text!r}; write a number followed by %, like '5%'")
    return float(Decimal(m.group(1)) / 100)


_DURATION_UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
DURATION_PATTERN = r"^(\d+(\.\d+)?[wdhms])+$"
DURATION_HELP = "use a number and a unit (s, m, h, d, w), e.g. 90s, 30m, 36h, 14d, 2w or 1d12h"


def parse_duration(text: str) -> timedelta:
    """'14d' → 14 days; parts combine largest unit first ('1d12h'). ValueError otherwise."""
    s = text.strip()
    if NUMBER_RE.fullmatch(s):
        raise ValueError(f"a duration needs a unit; {DURATION_HELP}")
    parts = _DURATION_PART.findall(s)
    units = [u for _, u in parts]
    ranks = [list(_DURATION_UNITS).index(u) for u in units]
    if not parts or "".join(n + u for n, u in parts) != s or ranks != sorted(set(ranks)):
        raise ValueError(f"invalid duration {text!r}; {DURATION_HELP}")
    seconds = sum(Decimal(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    try:
        return timedelta(seconds=float(seconds))
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def format_duration(td: timedelta) -> str:
    """The inverse of parse_duration for whole seconds: 14 days → '14d', 36 hours → '1d12h'."""
    rest = td.total_seconds()
    if rest <= 0 or rest != int(rest):
        return f"{rest:g}s"
    out = []
    for unit in "dhms":  # days, not weeks: '14d' reads better than '2w'
        n, rest = divmod(int(rest), _DURATION_UNITS[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def _exact(v: Decimal, grouped: bool = False) -> str:
    """A decimal as written by a person: no exponent for ordinary magnitudes, no
    trailing zeros ("12.5", not "12.50" or "1.25E+1")."""
    if v == 0:
        return "0"
    v = v.normalize()
    if not -12 <= v.adjusted() < 21:
        return str(v)  # "1E+25": still read back by float() and by the config loader
    return format(v, ",f" if grouped else "f")


def counted(n: int | str, noun: str) -> str:
    """A count with its noun in the number it takes: "1 cluster", "1,500 clusters"; `n`
    a whole number or the text a number reads as ("1", "2.5")."""
    text = n if isinstance(n, str) else f"{n:,}"
    return f"{text} {noun if text == '1' else noun + 's'}"


def format_number(v: float) -> str:
    """The shortest decimal that reads back as `v`: 0.1 → '0.1', 1e-05 → '0.00001'."""
    return _exact(Decimal(repr(float(v))))


def format_percent(v: float) -> str:
    """`v` as the percent that parses back to it: 0.125 → '12.5%', 0.005 → '0.5%'.

    repr gives the shortest decimal that reads back as `v`; scaling it by 100 in
    Decimal is exact, so parse_percent(format_percent(v)) == v for every finite v.
    """
    return _exact(Decimal(repr(float(v))) * 100) + "%"


# How a limit is written next to its metric's unit ("usd" → "$0.08", "seconds" → "2.5s").
_LIMIT_AFFIXES: dict[str, tuple[str, str, bool]] = {
    "ratio": ("", "%", False),
    "usd": ("$", "", True),
    "count": ("", "", True),
    "tokens": ("", "", True),
    "seconds": ("", "s", False),
    "hours": ("", "h", False),
}


def format_limit(v: float, unit: str | None = None) -> str:
    """The one way a configured limit is shown (table, names, messages, reports): exactly
    the value configured, in the metric's unit, never rounded ('0.5%', not '0%').

    `unit`: a metric unit of metrics_catalog ("ratio" shows a percent), "points" for an
    absolute change of a ratio (0.05 → '5 pp': five percentage points, not 5% of the
    baseline), or None for a plain number.
    """
    if unit is None:
        return format_number(v)
    if unit == "ratio":
        return format_percent(v)
    if unit == "points":
        return _exact(Decimal(repr(float(v))) * 100) + " pp"
    prefix, suffix, grouped = _LIMIT_AFFIXES[unit]
    exact = Decimal(repr(float(v)))
    sign = "-" if exact < 0 else ""
    return f"{sign}{prefix}{_exact(abs(exact), grouped)}{suffix}"
