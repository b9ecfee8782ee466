"""Lenient readers for values as PostHog pipelines deliver them.

SDKs send JSON numbers and bools; some pipelines send the same values as strings.
These helpers give both the meaning PostHog's own queries give them.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


# The texts ClickHouse's accurateCastOrNull(text, 'Float64') reads as finite-looking
# numbers (ASCII only, no spaces, no hex, no digit separators; too large reads as an
# infinity), and those it reads as NaN or an infinity: strtod's words in any case, signed
# ("-nan" is NaN; "nan(...)" takes letters, digits and underscores). Int64 takes digits alone.
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NONFINITE_TEXT = re.compile(r"[+-]?(?:nan(?:\([0-9A-Za-z_]*\))?|inf(?:inity)?)", re.I | re.A)
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(2**63), 2**63 - 1)
# Every whole number of at most this size is a double exactly (2**53 + 1 is not), as
# JavaScript's safe integers are: a rank read from JSON (runs) or by the live query
# (sources._hogql) counts only within it.
LARGEST_EXACT_WHOLE = 2**53


def number(value: object) -> float | None:
    """HogQL's `toFloat(properties.$x)`: accurateCastOrNull on the property's text.

    The text of a JSON string is the string; of a JSON number, ClickHouse's rendering
    of it, which reads back as the same double. A bool, null, object or array is no
    number (None). As in ClickHouse, "NaN", "Infinity", "-inf" and an overflowing
    "1e400" read as NaN or an infinity: what such a value means is the caller's to say
    (metrics: a data error, since PostHog's sums over it would be NaN or infinite).
    """
    if value.__class__ is float:  # the common case, first
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # ClickHouse reads the digits as an infinity
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        if _FLOAT_TEXT.fullmatch(value) is not None:
            return float(value)
        if _NONFINITE_TEXT.fullmatch(value) is not None:
            word = value.lstrip("+-")[:3].lower()
            return math.nan if word == "nan" else -math.inf if value[0] == "-" else math.inf
        return None
    return None


def integer(value: object) -> int | None:
    """HogQL's `toInt(properties.$x)`: accurateCastOrNull(text, 'Int64').

    A string must be digits ("12.5" and "12.0" are no Int). A JSON number's text is
    ClickHouse's rendering of it: 12.0 renders "12" and counts, 12.5 does not; a
    float too large for Int64 renders as digits that overflow, or with an exponent.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        whole = value
    elif isinstance(value, float):
        if value - value != 0.0 or not value.is_integer():
            return None
        whole = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value) is not None:
        whole = int(value)
    else:
        return None
    return whole if _INT64[0] <= whole <= _INT64[1] else None


def is_true(value: object) -> bool:
    """`$ai_is_error`: JSON true or the string "true" (what `= 'true'` matches in HogQL)."""
    return value is True or value == "true"


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 with or without offset ("Z", "+00:00", naive = UTC), any sub-second digits.

    Python 3.10's fromisoformat accepts only 3 or 6 fraction digits and no "Z",
    so normalise before trying it.
    """
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        dt = datetime.fromisoformat(_normalise_iso(text))
    if dt.tzinfo is _UTC:  # the common case ("Z", "+00:00"): astimezone would change nothing
        return dt
    return dt.replace(tzinfo=_UTC) if dt.tzinfo is None else dt.astimezone(_UTC)


def _normalise_iso(text: str) -> str:
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    date_part, sep, rest = s[:10], s[10:11], s[11:]
    if not sep:
        return s
    # Split off the offset, then pad or trim the fraction to 6 digits.
    offset = ""
    for i in range(len(rest) - 1, -1, -1):
        if rest[i] in "+-":
            offset, rest = rest[i:], rest[:i]
            break
    if "." in rest:
        whole, frac = rest.split(".", 1)
        rest = f"{whole}.{(frac + '000000')[:6]}"
    if offset and ":" not in offset and len(offset) == 5:
        offset = f"{offset[:3]}:{offset[3:]}"
    return f"{date_part}T{rest}{offset}"


def epoch_us(dt: datetime) -> int:
    """Exact integer microseconds since the epoch (floats lose the last digit)."""
    return (dt - _EPOCH) // _ONE_US


_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc) - _EPOCH
