"""Lenient readers for values as PostHog pipelines deliver them.

SDKs send JSON numbers and bools; some pipelines send the same values as strings.
These helpers give both the meaning PostHog's own queries give them.
"""

from __future__ import annotations

from datetime import datetime, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def number(value: object) -> float | None:
    """A float from a JSON number or numeric string; None for anything else.

    Mirrors ClickHouse's toFloat64OrNull: unparseable text counts as missing.
    """
    if value.__class__ is float:  # the common case, first: finite unless inf or nan
        return value if value - value == 0.0 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
    elif isinstance(value, str):
        # Python's float() also takes "1_000" and surrounding spaces; ClickHouse doesn't,
        # and the live source must read the same numbers as this one.
        if "_" in value or value != value.strip():
            return None
        try:
            f = float(value)
        except ValueError:
            return None
    else:
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


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
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


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
