"""Shared by the generator's parts: time units, compact event tuples, ids, small helpers."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

Row = dict[str, Any]

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = 1_000_000
_HOUR = 3600 * _US
_DAY = 24 * _HOUR

# ---------------------------------------------------------------------------
# Compact internal data
# ---------------------------------------------------------------------------

_GEN, _EMB, _SPAN, _TRACE = 0, 1, 2, 3
_EVENT_NAMES = ("$ai_generation", "$ai_embedding", "$ai_span", "$ai_trace")

# (ts_us, kind, trace_index, seq, cost|None, latency|None, input_tokens,
#  output_tokens, is_error, aux) — seq: unique number the event's uuid derives from;
#  aux: model index (generation) or span-name index (span). Input tokens are a float
#  (like 812.5, sent as the string "812.5") when the event carries a count HogQL's
#  toInt reads as no number.
_Ev = tuple[int, int, int, int, float | None, float | None, float, int, bool, int]

# One item's values inside a window: (active, cost, latency, tokens, has_error).
_Vals = tuple[bool, float, float, int, bool]


def _tokens(count: float) -> int:
    """A token count as toInt reads it: a fractional count is no Int, so nothing."""
    return int(count) if float(count).is_integer() else 0


@dataclass(frozen=True)
class _Eval:
    ts: int
    uuid: str
    trace: int
    cost: float
    latency: float
    tokens: int
    error: bool


@dataclass
class _Traffic:
    events: list[_Ev] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    trace_topic: list[int] = field(default_factory=list)
    trace_user: list[int] = field(default_factory=list)
    trace_events: list[list[_Ev]] = field(default_factory=list)
    trace_first: list[int] = field(default_factory=list)
    trace_last: list[int] = field(default_factory=list)
    max_duration: int = 0
    models: list[str] = field(default_factory=list)
    topic_models: list[list[int]] = field(default_factory=list)
    evals: list[_Eval] = field(default_factory=list)
    salt: int = 0
    next_seq: int = 0

    def uuid(self, ev: _Ev) -> str:
        return _uuid7(ev[0], _mix64(self.salt ^ ev[3]))

    def take_seq(self) -> int:
        self.next_seq += 1
        return self.next_seq - 1


@dataclass(frozen=True)
class _Edges:
    """The generations added exactly at one window's start and end."""

    start: _Ev | None = None
    end: _Ev | None = None


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _utc_ms(dt: datetime) -> datetime:
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _to_us(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a bijection on 64-bit ints that looks random."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _uuid7(ts_us: int, r: int) -> str:
    """A UUIDv7 (PostHog's event uuids): millisecond timestamp, then the 64 bits of
    `r` (distinct `r` → distinct uuid)."""
    ms = ts_us // 1000
    b = (0x2 << 62) | ((ms & 0x3FF) << 52) | (r & 0xFFFFFFFFFFFFF)
    h = f"{ms & 0xFFFFFFFFFFFF:012x}7{(r >> 52) & 0xFFF:03x}{b:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid4(bits: int) -> str:
    """A version-4-shaped UUID from 128 pseudo-random bits."""
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[bits & 3]}{h[17:20]}-{h[20:]}"


def _uuid4_rng(rng: random.Random) -> str:
    return _uuid4(rng.getrandbits(128))


class _Clock:
    """Formats epoch microseconds as PostHog row timestamps, fast."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def iso_us(self, us: int) -> str:
        day, rem = divmod(us, _DAY)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
            self._days[day] = prefix
        h, rem = divmod(rem, _HOUR)
        m, rem = divmod(rem, 60 * _US)
        s, f = divmod(rem, _US)
        return f"{prefix}{h:02d}:{m:02d}:{s:02d}.{f:06d}+00:00"


def iso_ms(dt: datetime) -> str:
    """`2026-11-15T00:15:03.104+00:00`: the format of `$ai_window_start/end`."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    pos = 0.95 * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def _cluster_metrics(values: Iterable[_Vals]) -> dict[str, float | int | None]:
    """PostHog's per-cluster aggregation of per-item values (see DESIGN §1)."""
    items = err_items = 0
    cost_n = lat_n = tok_n = 0
    cost_sum = lat_sum = 0.0
    tok_sum = 0
    lats: list[float] = []
    for active, cost, lat, tok, err in values:
        if not active:
            continue
        items += 1
        if err:
            err_items += 1
        if cost > 0:
            cost_sum += cost
            cost_n += 1
        if lat > 0:
            lat_sum += lat
            lat_n += 1
            lats.append(lat)
        if tok > 0:
            tok_sum += tok
            tok_n += 1
    return {
        "avg_cost": cost_sum / cost_n if cost_n else None,
        "avg_latency": lat_sum / lat_n if lat_n else None,
        "avg_tokens": tok_sum / tok_n if tok_n else None,
        "total_cost": cost_sum if cost_n else None,
        "error_rate": err_items / items if items else None,
        "error_count": err_items,
        "item_count": items,
        "p95_latency": _p95(lats),
    }


_BAKED_KEYS = (
    "avg_cost",
    "avg_latency",
    "avg_tokens",
    "total_cost",
    "error_rate",
    "error_count",
    "item_count",
)
