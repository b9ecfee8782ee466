"""Lenient readers for values as PostHog pipelines deliver them.

SDKs send JSON numbers and bools; some pipelines send the same values as strings.
These helpers give both the meaning PostHog's own queries give them.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timezone
from typing import Any

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


# What ClickHouse escapes when it renders a JSON string (JSONExtractRaw): the quote, the
# backslash, the C0 controls (short forms where JSON has them, else \u00XX in upper-case
# hex) and the two JavaScript line separators. Everything else is written as itself.
_ESCAPED = re.compile('["\\\\\x00-\x1f\u2028\u2029]')
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "\r": "\\r",
}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04X}"


def text(value: object) -> str | None:
    """HogQL's `properties.$x` as text: ClickHouse's rendering of the JSON value
    (JSONExtractRaw) with the quotes of a string taken off; None for null or absent.

    A string keeps the escapes ClickHouse writes (`a"b` reads `a\\"b`); a number reads
    as ClickHouse writes an integer or a double (`1500.0` reads `1500`, `1e-7` reads
    `1e-7`); a bool reads `true`/`false`; an object or array as compact JSON. An integer
    past 64 bits ClickHouse keeps digit for digit, as a string (`18446744073709551617`;
    in an array `["18446744073709551617"]`), but orjson reads it as a double: a rendering
    holding a double that may have been one is `Inexact`, and `exact_loads` reads the
    JSON again to settle it.
    """
    if isinstance(value, str):  # the common case, first
        if value.isprintable() and '"' not in value and "\\" not in value:
            return value  # nothing to escape (quicker to rule out than the regex)
        return _ESCAPED.sub(_escape, value)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return _json_text(value)
    return _scalar_text(value)


class Inexact(str):
    """`text` of a value holding a double at or past the 64-bit integers' ends (below
    -2**63 + 1 or from 2**64): orjson's reading of an integer past 64 bits, whose digits
    ClickHouse keeps and the double lost (or of a number written as a double)."""

    __slots__ = ()


# orjson reads an integer in [-2**63, 2**64 - 1] as an int, any other as a double; a
# double strictly between these ends cannot have been such an integer.
_INEXACT_ENDS = (-(2.0**63), 2.0**64)
_UINT64_MAX = 2**64 - 1


def exact_loads(json_text: bytes | str) -> Any:
    """The JSON value, an integer past 64 bits kept as the string of its digits, as
    ClickHouse reads it (`text` renders it so). RecursionError past ~1,000 levels."""
    return json.loads(json_text, parse_int=_int_or_digits)


def _int_or_digits(digits: str) -> int | str:
    whole = int(digits)
    return whole if _INT64[0] <= whole <= _UINT64_MAX else digits


def _scalar_text(value: object) -> str:
    """ClickHouse's rendering of a JSON bool or number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        rendered = _double_text(value)
        low, high = _INEXACT_ENDS
        return rendered if low < value < high else Inexact(rendered)
    raise TypeError(f"not a JSON value: {type(value).__name__}")


class _Token(str):
    """JSON punctuation (or a member's `"key":`) on `_json_text`'s stack, written as is."""

    __slots__ = ()


_OPEN_ARRAY, _CLOSE_ARRAY = _Token("["), _Token("]")
_OPEN_OBJECT, _CLOSE_OBJECT, _COMMA = _Token("{"), _Token("}"), _Token(",")


def _json_text(value: object) -> str:
    # With a stack, not recursion: an id may nest as deep as the JSON parser allows
    # (orjson: 1,024 levels, past Python's recursion limit), and ClickHouse renders it.
    parts: list[str] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            parts.append(item)
        elif isinstance(item, str):
            parts.append('"' + _ESCAPED.sub(_escape, item) + '"')
        elif isinstance(item, (dict, list)):
            # Pushed last first: "{", '"k1":', v1, ",", '"k2":', v2, "}" pop in order.
            members = list(item.items()) if isinstance(item, dict) else list(enumerate(item))
            stack.append(_CLOSE_OBJECT if isinstance(item, dict) else _CLOSE_ARRAY)
            for n, (key, member) in enumerate(reversed(members)):
                if n:
                    stack.append(_COMMA)
                stack.append(member)
                if isinstance(item, dict):
                    stack.append(_Token('"' + _ESCAPED.sub(_escape, str(key)) + '":'))
            stack.append(_OPEN_OBJECT if isinstance(item, dict) else _OPEN_ARRAY)
        else:
            parts.append("null" if item is None else _scalar_text(item))
    rendered = "".join(parts)
    return Inexact(rendered) if any(part.__class__ is Inexact for part in parts) else rendered


def _double_text(value: float) -> str:
    """A double as ClickHouse writes it: the shortest digits that read back as it,
    positional from 1e-6 up to below 1e21, else `d.ddde-7` (JavaScript's rule, without
    the `+` of a positive exponent)."""
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(digits) + int(exponent or 0) - len(fraction)  # where the "." goes in digits
    digits = digits.rstrip("0")
    if not -6 <= point - 1 < 21:
        rest = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{rest}e{point - 1}"
    if point <= 0:
        return sign + "0." + "0" * -point + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]


def is_true(value: object) -> bool:
    """`$ai_is_error`: JSON true or the string "true" (what `= 'true'` matches in HogQL)."""
    return value is True or value == "true"


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 with or without offset ("Z", "+00:00", naive = UTC), any sub-second digits.

    Python 3.10's fromisoformat accepts only 3 or 6 fraction digits and no "Z",
    so normalise before trying it.
    """
    dt = _read_iso(text)
    if dt.tzinfo is _UTC:  # the common case ("Z", "+00:00"): astimezone would change nothing
        return dt
    if dt.tzinfo is None:
        return dt.replace(tzinfo=_UTC)
    try:
        return dt.astimezone(_UTC)
    except OverflowError:  # in UTC before year 1 or after 9999: no time Python holds
        raise ValueError(f"not an ISO-8601 timestamp in range: {text!r}") from None


def has_offset(text: str) -> bool:
    """Whether an ISO-8601 text `parse_timestamp` reads names its UTC offset (or Z)."""
    return _read_iso(text).tzinfo is not None


def date_only(text: str) -> date | None:
    """The date of a text that is an ISO-8601 date and nothing more, an offset aside
    ("2026-11-22", "2026-11-22Z", "2026-11-22+01:00"): no time of day. Else None."""
    s = text.strip()
    for candidate in (s, _TRAILING_OFFSET.sub("", s)):
        try:
            return date.fromisoformat(candidate)
        except ValueError:
            pass
    return None


_TRAILING_OFFSET = re.compile(r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")

# What a text read without an offset may hold: a date (calendar or week, basic or
# extended), then perhaps "T" or a space and a time. Python's fromisoformat takes any
# character between date and time, so it reads "2026-11-22+01:00" as 01:00 (the offset
# taken for a time) and "2026-11-22-05:00" or "2026-11-22-0500" as 05:00; neither is a
# time of day, so the date's part is spelt out exactly.
_NAIVE_FORM = re.compile(r"\d{4}(?:-\d{2}-\d{2}|\d{4}|-?W\d{2}(?:-?\d)?)(?:[Tt ][0-9:.,]+)?")


def _read_iso(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        dt = datetime.fromisoformat(_normalise_iso(text))
    if dt.tzinfo is None and not _NAIVE_FORM.fullmatch(text.strip()):
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    return dt


def _normalise_iso(text: str) -> str:
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    date_part, sep, rest = s[:10], s[10:11], s[11:]
    if sep not in ("T", "t", " "):  # no time of day ("" too): none is made up from an offset
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
