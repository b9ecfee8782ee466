"""Arities of the HogQL functions the gate (and these tests) call, as PostHog checks them.

Source: PostHog/posthog, ``posthog/hogql/functions/mapping.py`` (the older single-file
catalog), ``posthog/hogql/functions/clickhouse/{json,arrays,conversions}.py`` and
``posthog/hogql/functions/aggregations.py`` (the newer split catalog), with the argument
check of ``posthog/hogql/functions/core.py::validate_function_args``. Facts only; the
table is written for the stand-in.

The two catalog generations disagree on some JSON functions: the older accepts
``JSONExtractArrayRaw(json)`` (min 1 argument, no max), the newer requires a path
(``JSONExtractArrayRaw(json, path...)``, 2 to 6 arguments). A query must pass both, so
each entry is the *intersection*: the larger minimum and the smaller maximum.

A function the names allow-list (:mod:`standin.functions`) accepts but this table does not
list is run unchecked, and the stand-in records it (``StandIn.unchecked_calls``): the
live tests require that list to stay empty, so every call the gate makes is checked here.
"""

from __future__ import annotations

from collections.abc import Mapping

#: name -> (min args, max args or None); the intersection of both catalog generations.
ARITY: Mapping[str, tuple[int, int | None]] = {
    # json (older: mapping.py; newer: clickhouse/json.py)
    "JSONType": (1, 6),
    "JSONHas": (2, 6),
    "JSONLength": (1, 6),
    "JSONExtract": (2, 7),
    "JSONExtractString": (2, 6),
    "JSONExtractFloat": (2, 6),
    "JSONExtractInt": (2, 6),
    "JSONExtractUInt": (2, 6),
    "JSONExtractBool": (2, 6),
    "JSONExtractRaw": (2, 6),
    "JSONExtractArrayRaw": (2, 6),
    "JSONExtractKeys": (1, 5),
    "JSONExtractKeysAndValues": (1, 3),
    "JSONExtractKeysAndValuesRaw": (2, 6),
    # arrays (clickhouse/arrays.py)
    "empty": (1, 1),
    "notEmpty": (1, 1),
    "length": (1, 1),
    "range": (1, 3),
    "arrayElement": (2, 2),
    "has": (2, 2),
    "indexOf": (2, 2),
    "hasAll": (2, 2),
    "arrayEnumerate": (1, 1),
    "arraySort": (1, None),
    "arrayJoin": (1, 1),
    "arraySum": (1, 2),
    "arrayZip": (2, None),
    "arrayMap": (2, None),
    "arrayFilter": (2, None),
    "arraySlice": (2, 3),
    "arrayConcat": (2, None),
    "arrayDistinct": (1, 1),
    # conditional, tuples, misc (mapping.py)
    "if": (3, 3),
    "multiIf": (3, None),
    "tuple": (0, None),
    "tupleElement": (2, 3),
    "isFinite": (1, 1),
    "least": (2, 2),
    "greatest": (2, 2),
    "floor": (1, 2),
    "concat": (2, None),
    "splitByChar": (2, 3),
    "replaceRegexpAll": (3, 3),
    "lower": (1, 1),
    "upper": (1, 1),
    # conversions and nullability (clickhouse/conversions.py)
    "toString": (1, 2),
    "toInt": (1, 1),
    "toFloat": (1, 1),
    "toUUID": (1, 1),
    "parseDateTimeBestEffort": (1, 2),
    "toDateTime64": (1, 3),
    "toDateTime": (1, 2),
    "isnull": (1, 1),
    "isNotNull": (1, 1),
    "ifnull": (2, 2),
    "nullif": (2, 2),
    "coalesce": (1, None),
    "now": (0, 1),
    "toTimeZone": (2, 2),
    # aggregations (aggregations.py)
    "count": (0, 1),
    "countIf": (1, 2),
    "sum": (1, 1),
    "sumIf": (2, 2),
    "min": (1, 1),
    "max": (1, 1),
    "any": (1, 1),
    "avg": (1, 1),
    "groupArray": (1, 1),
    "groupArrayIf": (2, 2),
    "quantile": (1, 1),
}

#: Functions PostHog prints with the project's timezone appended when the caller leaves the
#: last argument out (``tz_aware=True``); some also get a precision of 6 before it.
TZ_AWARE: Mapping[str, int] = {  # name -> max args (a call with max args names its own zone)
    "parseDateTimeBestEffort": 2,
    "toDateTime64": 3,
    "toDateTime": 2,
    "now": 1,
}
#: ClickHouse functions that take a precision before the timezone (printer.py).
NEEDS_PRECISION = frozenset(
    {
        "now64",
        "parseDateTime64BestEffortOrNull",
        "parseDateTime64BestEffortUSOrNull",
        "parseDateTime64BestEffort",
        "toDateTime64",
    }
)


def arity(name: str) -> tuple[int, int | None] | None:
    """(min, max) for ``name`` (case-insensitively for the names PostHog folds), or None."""
    found = ARITY.get(name)
    if found is None:
        found = ARITY.get(name.lower())
    return found


def arity_error(name: str, found: int, bounds: tuple[int, int | None]) -> str | None:
    """PostHog's message for a call with the wrong number of arguments, or None."""
    low, high = bounds
    too_few = found < low
    too_many = high is not None and found > high
    if low == high and (too_few or too_many):
        return f"Function '{name}' expects {low} argument{_s(low)}, found {found}"
    if too_few:
        return f"Function '{name}' expects at least {low} argument{_s(low)}, found {found}"
    if too_many and high is not None:
        return f"Function '{name}' expects at most {high} argument{_s(high)}, found {found}"
    return None


def _s(n: int) -> str:
    return "" if n == 1 else "s"
