"""The HogQL texts the live source sends (DESIGN §4).

Every text here is a constant assembled from fixed fragments: the builders take
only *shape* flags (level, which filters apply, whether metrics or item ids are
wanted, how many run-id placeholders) and never a user value. User values (run
ids, job, timestamps, scan bounds) travel in the query's `values` and are
referenced as `{name}` placeholders, which PostHog substitutes as literals.

The work happens in ClickHouse, so a gate costs at most two queries whatever
the run size, and the answer is one row per cluster:

- `runs`/`heads`: clustering events, deduplicated by run id keeping the last
  emission (ties broken by uuid, as `runs.deduplicate` does), with their header
  fields; the level of old runs is inferred from the event name.
- `selected`: the latest run (query 1) or the baseline runs (query 2).
- `trend` (query 2, when trend lines are wanted): the last N runs of the latest
  run's level and job, the latest included, as `runs._history` picks them;
  `fetched` adds those not already selected (nor the latest, which query 1
  brought) with `full = 0`: only their cluster headers and baked metrics are
  answered, never item ids or event stats, so their bytes do not grow with items.
- `clusters`: `$ai_clusters` (an array, or a string holding one) unnested to one
  row per cluster with its position, so Python rebuilds them in order.
- `members` → `per_item` → `per_cluster`: cluster membership joined to the AI
  events inside each run's window (the members are the join's small, hashed
  side), aggregated per item, then per cluster with metrics.py's semantics
  (averages over values > 0, p95 interpolated exactly as `stats.quantile_inclusive`).
  Whether baked metrics suffice is decided in Python, as the snapshot source does.
- `evidence` (query 1, when the gate shows evidence): per cluster, the `{evidence}`
  best items of each kind, ranked in `per_cluster` from `per_item` (without AI events,
  from `members` alone); the `traces` entries are read in `members`, from the one parse.

How PostHog runs HogQL shapes these texts (DESIGN §4, "Reading PostHog the way
PostHog reads itself"):

- AI-event properties are read by property access (`properties.$ai_latency`),
  which reaches PostHog's materialized columns; `JSONExtract*` is used only on
  clustering events, whose raw JSON texts runs.py must see as they are.
- Every scan of `events` names its events and has a lower `timestamp` bound
  (clustering events: the lookback or the date a run id carries; AI events: the
  runs' windows). PostHog stops API queries at 10 s.
- ClickHouse evaluates a CTE once per reference: `clusters` (the one place
  `$ai_clusters` is parsed) is referenced exactly once in every query.
- Calls take the forms both generations of PostHog's function catalog accept
  (`JSONExtractArrayRaw(json, path)`, never the one-argument form), and time
  functions get an explicit 'UTC' so the project's timezone never shifts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

from llmc_checks._values import LARGEST_EXACT_WHOLE
from llmc_checks.model import MEASURES, Level, Measure, Semantics

# Rows a per-cluster answer may hold; reaching it means the answer was cut.
CLUSTER_ROWS_LIMIT = 10_000
# Pages of the --llmc-record export (keyset pagination: OFFSET is refused).
EXPORT_CLUSTER_PAGE = 10  # whole clustering events, each up to a few MB
EXPORT_EVENT_PAGE = 10_000  # AI events reduced to six properties

# "none": no per-cluster stats; "baked": baked metrics only (evaluation level has
# no AI events); "events": aggregate the AI events too.
Metrics = Literal["none", "baked", "events"]


class Query(NamedTuple):
    """A HogQL text and the columns its answer has, named from the one select list (what
    the live source checks every answer for before reading a row)."""

    text: str
    columns: tuple[str, ...]


_CLUSTER_EVENTS = "('$ai_trace_clusters', '$ai_generation_clusters', '$ai_evaluation_clusters')"
_AI_EVENTS = "('$ai_generation', '$ai_embedding', '$ai_span')"
_COSTED = "('$ai_generation', '$ai_embedding')"


def _utc(name: str) -> str:
    """A `values` timestamp ("YYYY-MM-DD hh:mm:ss.ffffff", UTC) as a DateTime64."""
    return f"toDateTime64({{{name}}}, 6, 'UTC')"


# -- per-item metrics: the one place saying how an item's numbers come from its events --------
#
# PostHog parses every query with its own HogQL parser, whose time grows steeply with
# how deeply calls nest (one five-deep expression: ~0.3 s): expressions stay shallow,
# built up through aliases.
#
# Per AI event, read as PostHog reads them (toFloat/toInt = accurateCastOrNull on the
# text), under each semantics (DESIGN §1; metrics.add_event is the Python side):
# name -> (the events it counts for, how it is read). A value that is missing or not a
# number counts as 0: every use adds it to a sum or takes a max of values > 0, where 0
# changes nothing. One that is not finite counts as 0 too, and is counted apart
# (NONFINITE below): the source refuses the run.
_COST = "toFloat(properties.$ai_total_cost_usd)"
_LATENCY = "toFloat(properties.$ai_latency)"
_INPUT_TOKENS = "toInt(properties.$ai_input_tokens)"
_OUTPUT_TOKENS = "toInt(properties.$ai_output_tokens)"
_EVENT_VALUES: Mapping[Semantics, Mapping[str, tuple[str, str]]] = {
    # The cluster page: every AI event adds cost and tokens and bounds the latency.
    "ui": {
        "cost": (_AI_EVENTS, _COST),
        "latency": (_AI_EVENTS, _LATENCY),
        "input_tokens": (_AI_EVENTS, _INPUT_TOKENS),
        "output_tokens": (_AI_EVENTS, _OUTPUT_TOKENS),
    },
    # The clustering job: spans add no cost or tokens; latency sums generations only.
    "workflow": {
        "cost": (_COSTED, _COST),
        "latency": ("('$ai_generation')", _LATENCY),
        "input_tokens": (_COSTED, _INPUT_TOKENS),
        "output_tokens": (_COSTED, _OUTPUT_TOKENS),
    },
}
# A float value that reads as NaN or an infinity (toFloat('NaN') is nan in ClickHouse)
# counts as 0 above, and is counted here per event (`<name>_bad`: 1 when it counts for
# the event and is not finite), so the source can refuse the run: PostHog's own sums
# over it would be NaN. Tokens are read as Int64, never NaN.
NONFINITE = {"cost": "$ai_total_cost_usd", "latency": "$ai_latency"}
_EVENT_VALUES = {
    semantics: {
        **values,
        **{f"{name}_bad": (values[name][0], f"NOT isFinite({name}_read)") for name in NONFINITE},
    }
    for semantics, values in _EVENT_VALUES.items()
}
_EVENT_ERROR = "ifNull(properties.$ai_is_error, '') = 'true'"  # JSON true or "true"
# An item's events count inside its run's window (`e`: the event, `m`: the member):
# the page includes the window's end, the job excludes it.
_IN_WINDOW: Mapping[Semantics, str] = {
    "ui": "e.timestamp >= m.window_start AND e.timestamp <= m.window_end",
    "workflow": "e.timestamp >= m.window_start AND e.timestamp < m.window_end",
}
# Per item, over its joined events (`ev_<name>`, `ev_time`, `ev_error`; `w`: inside the
# window), in order: (alias, expression); later ones may use earlier aliases.
# Sums add in time order (`<name>_seq`): a plain sum adds in whatever order
# ClickHouse's threads deliver rows, and floating point then differs in the last bits
# from one run to the next. `n_events` = 0: the item has no event in the window.
_ITEM_SUMS = (
    ("n_events", "countIf(w)"),
    ("cost_seq", "arraySort(groupArrayIf((ev_time, ev_cost), w))"),
    ("cost", "arraySum(tupleElement(cost_seq, 2))"),
    ("tokens_seq", "arraySort(groupArrayIf((ev_time, ev_input_tokens + ev_output_tokens), w))"),
    ("tokens", "arraySum(tupleElement(tokens_seq, 2))"),
    ("errors", "countIf(w AND ev_error)"),
    *((f"{name}_bad", f"sumIf(ev_{name}_bad, w)") for name in NONFINITE),
)
_ITEM_VALUES: Mapping[Semantics, tuple[tuple[str, str], ...]] = {
    "ui": (*_ITEM_SUMS, ("latency", "max(if(w, ev_latency, 0))")),
    "workflow": (
        *_ITEM_SUMS,
        ("latency_seq", "arraySort(groupArrayIf((ev_time, ev_latency), w))"),
        ("latency", "arraySum(tupleElement(latency_seq, 2))"),
    ),
}


# -- clustering events ---------------------------------------------------------------------------

# Header columns carried from `heads` to the answer; `*_raw` are JSON texts
# Python parses exactly as runs.py parses a snapshot row.
_HEAD_COLUMNS = (
    "event_uuid, event, emitted_at, run_id, level, level_raw, job_id, job_name, "
    "window_start, window_end, window_start_raw, window_end_raw, items_raw, "
    "traces_analyzed_raw, params_raw, clusters_type, clusters_text"
)
# The same without the (large) clusters text: what each cluster row carries.
_CARRIED = _HEAD_COLUMNS.removesuffix(", clusters_text")
# What `clusters` adds per cluster (`items` stays out of `members`' rows).
_CLUSTER_COLUMNS = (
    "cluster_index, cluster_type, cluster_id_raw, size_raw, title, description, metrics_raw"
)


# What `runs` reads from a clustering event's properties, each a JSON text as
# JSONExtractRaw gives it (`*_json`): the string fields are then read as HogQL's
# property access reads them (unquoted; NULL, here '', when absent or null), the others
# kept raw for runs.py to validate. name -> (property, read as a string?).
_RUN_FIELDS = {
    "run_id": ("$ai_clustering_run_id", True),
    "level_text": ("$ai_clustering_level", True),
    "job_id": ("$ai_clustering_job_id", True),
    "job_name": ("$ai_clustering_job_name", True),
    "window_start_raw": ("$ai_window_start", True),
    "window_end_raw": ("$ai_window_end", True),
    "items_raw": ("$ai_total_items_analyzed", False),
    "traces_analyzed_raw": ("$ai_total_traces_analyzed", False),
    "params_raw": ("$ai_clustering_params", False),
    "clusters_json": ("$ai_clusters", False),
}


def _run_reads() -> str:
    """`runs`' reads of a clustering event's properties, from its one parse (`prop_*`)."""
    lines = []
    for name, (key, text) in _RUN_FIELDS.items():
        raw = f"arrayElement(prop_values, indexOf(prop_keys, '{key}'))"
        if not text:
            lines.append(f"{raw} AS {name}")
            continue
        lines += [
            f"{raw} AS {name}_json",
            f"nullIf(nullIf({name}_json, ''), 'null') AS {name}_present",
            f"ifNull(replaceRegexpAll({name}_present, '^\"|\"$', ''), '') AS {name}",
        ]
    return ",\n            ".join(lines)


def _emissions(where: str) -> str:
    """Clustering events (`where` bounds the scan) with their header fields.

    A clustering event's properties hold `$ai_clusters` (megabytes at 10,000 items),
    and every JSONExtract* call or property access parses the whole text again, so
    they are parsed once (JSONExtractKeysAndValuesRaw: each property's JSON text) and
    the fields read from that: the strings as property access reads them, the JSON
    texts runs.py validates (level, counts, params) and `$ai_clusters` as they are.
    """
    return f"""SELECT
        event_uuid, event, emitted_at, run_id, level_text,
        level_text_json AS level_raw,
        job_id, job_name, window_start_raw, window_end_raw, items_raw,
        traces_analyzed_raw, params_raw,
        toString(JSONType(concat('[', clusters_json, ']'), 1)) AS clusters_type,
        if(
            clusters_type = 'String',
            JSONExtractString(concat('[', clusters_json, ']'), 1),
            clusters_json
        ) AS clusters_text
    FROM (
        SELECT
            toString(uuid) AS event_uuid,
            event,
            timestamp AS emitted_at,
            JSONExtractKeysAndValuesRaw(concat('[', properties, ']'), 1) AS props,
            tupleElement(props, 1) AS prop_keys,
            tupleElement(props, 2) AS prop_values,
            {_run_reads()}
        FROM events
        WHERE event IN {_CLUSTER_EVENTS} AND {where}
    )"""


# A run's header as `heads` (and `picked`) give it, from `_emissions`' columns.
_HEAD_SELECT = """event_uuid, event, emitted_at, run_id,
        multiIf(
            level_text != '', level_text,
            event = '$ai_trace_clusters', 'trace',
            event = '$ai_generation_clusters', 'generation',
            'evaluation'
        ) AS level,
        level_raw, job_id, job_name,
        parseDateTimeBestEffort(window_start_raw, 'UTC') AS window_start,
        parseDateTimeBestEffort(window_end_raw, 'UTC') AS window_end,
        window_start_raw, window_end_raw, items_raw, traces_analyzed_raw, params_raw,
        clusters_type, clusters_text"""


def _runs(scan: str) -> str:
    """`runs` and `heads`: the last emission of every run id among the scanned events."""
    return f"""
runs AS (
    {_emissions(scan)}
    ORDER BY run_id ASC, emitted_at DESC, event_uuid DESC
    LIMIT 1 BY run_id
),
heads AS (
    SELECT
        {_HEAD_SELECT}
    FROM runs
    WHERE run_id != ''
),"""


def _chosen(trend: bool, scan: str) -> str:
    """`chosen`: which runs were picked; `picked`: their emissions with every field.

    ClickHouse runs a CTE again for every reference, and a scalar subquery once per
    query whatever the number of times its text appears. So the runs are picked in
    one scalar subquery (`runs` parses the clustering events once), which answers only
    each picked emission's uuid, level, window and `full` flag (a small constant:
    ClickHouse names every expression after the constants in it); `chosen` unpacks
    it, and `picked` reads those few emissions again (the same scan, the same one
    parse each) for their clusters. With trend runs the picks come from `fetched`.
    """
    columns = ["event_uuid", "level", "window_start", "window_end"]
    columns += ["full"] if trend else []
    packed = f"groupArray(tuple({', '.join(columns)}))"
    unpacked = ",\n        ".join(
        f"tupleElement(chosen_run, {i}) AS {c}" for i, c in enumerate(columns, 1)
    )
    full = (
        ",\n        event_uuid IN (SELECT event_uuid FROM chosen WHERE full = 1) AS full"
        if trend
        else ""
    )
    where = f"{scan} AND toString(uuid) IN (SELECT event_uuid FROM chosen)"
    return f"""
chosen AS (
    SELECT
        arrayJoin((SELECT {packed} FROM {"fetched" if trend else "selected"})) AS chosen_run,
        {unpacked}
),
picked AS (
    SELECT
        {_HEAD_SELECT}{full}
    FROM (
    {_emissions(where)}
    )
    LIMIT 1 BY event_uuid
),"""


def _clusters(trend: bool, evidence: bool = False, source: str = "picked") -> str:
    """`clusters`: one row per cluster; the only place `$ai_clusters` is parsed.

    An empty or unreadable `$ai_clusters` still yields one row (index 0), so the
    run reaches Python and fails there with runs.py's message instead of vanishing.
    The runs come from `source`: `picked` (with trend runs carrying `full`), or for
    the export, `selected`.
    With `evidence`, each item's entry of the `traces` map comes along as its raw
    JSON text (`infos`, beside `items`), for `members` to read.
    """
    carried = f"{_CARRIED}, full" if trend else _CARRIED
    if evidence:
        items = """JSONExtractKeysAndValuesRaw(cluster_json, 'traces') AS entries,
        tupleElement(entries, 1) AS items,
        tupleElement(entries, 2) AS infos"""
    else:
        items = "JSONExtractKeys(cluster_json, 'traces') AS items"
    # Wrapping the text in [...] and taking element 1 reads an array and a string
    # holding one alike, with the path argument both catalog generations require.
    return f"""
clusters AS (
    SELECT
        {carried},
        tupleElement(pair, 1) AS cluster_index,
        tupleElement(pair, 2) AS cluster_json,
        toString(JSONType(cluster_json)) AS cluster_type,
        JSONExtractRaw(cluster_json, 'cluster_id') AS cluster_id_raw,
        JSONExtractRaw(cluster_json, 'size') AS size_raw,
        JSONExtractString(cluster_json, 'title') AS title,
        JSONExtractString(cluster_json, 'description') AS description,
        JSONExtractRaw(cluster_json, 'metrics') AS metrics_raw,
        {items}
    FROM (
        SELECT
            {carried},
            concat('[', clusters_text, ']') AS wrapped,
            JSONExtractArrayRaw(wrapped, 1) AS raw,
            arrayZip(arrayEnumerate(raw), raw) AS numbered,
            arrayJoin(if(empty(raw), [(0, '')], numbered)) AS pair
        FROM {source}
    )
),"""


def _item_events(level: Level) -> tuple[str, str]:
    """The item key of an AI event, and which AI events count, at this level."""
    if level == "generation":
        # Generation level: an item is one $ai_generation event, keyed by its uuid.
        return "toString(uuid) AS item", "event = '$ai_generation'"
    return "ifNull(properties.$ai_trace_id, '') AS item", f"event IN {_AI_EVENTS}"


def _members_columns(trend: bool) -> list[str]:
    columns = [c.strip() for c in f"{_CARRIED}, {_CLUSTER_COLUMNS}".split(",")]
    columns.append("items_count")
    return [*columns, "full"] if trend else columns


# -- evidence (DESIGN §3): the items behind a cluster's number, ranked server-side -------------
#
# Which clusters show evidence is decided after evaluation, so query 1 answers, for every
# cluster, the `{evidence}` (k) best items of each kind the gate wants: the lowest ranks,
# and the largest value > 0 of each measure a check ranks by; ties by item id, as
# metrics.representatives / metrics.worst break them. One array per cluster, at most
# kinds × k entries: the answer grows with clusters × k, never with items. Python turns
# them into Members and metrics.evidence_pool / pick_evidence choose, as from a snapshot.
#
# What `members` reads from an item's entry of the `traces` map (`info`), as runs.member
# reads it: a field of the wrong type reads as absent. Rank: a whole number within
# ±2**53 (ClickHouse hands the entry back re-serialised, 1.0 as 1: runs._rank reads 1.0
# as 1 too), not a bool, a fraction or anything larger.


def _json_type(key: str) -> str:
    # JSONExtractString reads a number as its text: only strings count, as in runs._text.
    return f"toString(JSONType(info, '{key}'))"


_MEMBER_FIELDS = (
    ("rank_read", f"if({_json_type('rank')} = 'Int64', JSONExtractInt(info, 'rank'), NULL)"),
    (
        "item_rank",
        f"if(rank_read >= -{LARGEST_EXACT_WHOLE} AND rank_read <= {LARGEST_EXACT_WHOLE}, "
        "rank_read, NULL)",
    ),
    *(
        (f"item_{key}", f"if({_json_type(key)} = 'String', JSONExtractString(info, '{key}'), '')")
        for key in ("timestamp", "trace_id", "generation_id")
    ),
)
_MEMBER_NAMES = tuple(name for name, _ in _MEMBER_FIELDS if name != "rank_read")
# One candidate, as the answer's `evidence` arrays carry it: the item, its map entry and,
# with AI events read, its numbers (`n_events` = 0: no event in the window, no values).
EVIDENCE_FIELDS = ("item", *_MEMBER_NAMES)
EVIDENCE_VALUES = ("n_events", "cost", "latency", "tokens", "errors")


def _evidence_columns(measures: tuple[Measure, ...]) -> str:
    """`per_cluster`'s evidence: the candidates of every kind, each item once.

    Sorting tuples whose first fields are the kind's key and then the item id breaks
    ties as the Python pick does; `ev_detail` (the candidate) rides last.
    """
    kinds = [("rank", "(unranked, rank_key, item, ev_detail)", "item_pos > 0", 4)]
    kinds += [(m, f"(-{m}, item, ev_detail)", f"item_pos > 0 AND {m} > 0", 3) for m in measures]
    lines = []
    for name, key, keep, at in kinds:
        lines += [
            f"arraySort(groupArrayIf({key}, {keep})) AS by_{name}",
            f"arraySlice(by_{name}, 1, {{evidence}}) AS top_{name}",
            f"tupleElement(top_{name}, {at}) AS picked_{name}",
        ]
    tops = [f"picked_{name}" for name, *_ in kinds]
    union = f"arrayConcat({', '.join(tops)})" if len(tops) > 1 else tops[0]
    lines.append(f"arrayDistinct({union}) AS evidence")
    return ",\n        ".join(lines)


def _members(trend: bool, evidence: bool) -> str:
    """`members`: one row per item of every wanted cluster (a placeholder at position 0
    when it has no items, or is a trend-only run), with its `traces` entry's fields
    when evidence is wanted. Reads `clusters` once."""
    carried = _members_columns(trend)
    wanted = _listed_runs(trend)
    zipped, empty, read = "items", "(0, '')", ""
    if evidence:
        zipped, empty = "items, infos", "(0, '', '')"
        read = ",\n        tupleElement(member, 3) AS info,\n        " + ",\n        ".join(
            f"{expr} AS {name}" for name, expr in _MEMBER_FIELDS
        )
    return f"""
members AS (
    SELECT
        {", ".join(carried)},
        tupleElement(member, 1) AS item_pos,
        tupleElement(member, 2) AS item{read}
    FROM (
        SELECT
            {", ".join(c for c in carried if c != "items_count")},
            length(items) AS items_count,
            arrayZip(arrayEnumerate(items), {zipped}) AS numbered,
            if({wanted} AND notEmpty(items), numbered, [{empty}]) AS listed,
            arrayJoin(listed) AS member
        FROM clusters
    )
),"""


def _listed_runs(trend: bool) -> str:
    """The runs whose members are listed: the requested level's (and not trend-only)."""
    return "level = {level}" + (" AND full = 1" if trend else "")


def _grouped_part(
    level: Level,
    trend: bool,
    semantics: Semantics,
    events: bool,
    evidence: tuple[Measure, ...] | None,
) -> str:
    """`members`, [`ai`], `per_item`, `per_cluster`: per-cluster stats from AI events
    (`events`) and/or evidence candidates (`evidence`, measures besides rank).

    Every cluster keeps at least one member row, so the answer has every cluster even
    when none of its items has events.
    """
    carried = _members_columns(trend)
    kept = [c for c in carried if c not in _ITEM_KEYS]
    wanted_members = evidence is not None
    detail = [*EVIDENCE_FIELDS, *(EVIDENCE_VALUES if events else ())]
    ranked = ""
    if wanted_members:
        ranked = (
            ",\n        isNull(item_rank) AS unranked,\n        ifNull(item_rank, 0) AS rank_key,"
            f"\n        ({', '.join(detail)}) AS ev_detail"
        )
    members = _members(trend, wanted_members)
    if not events:
        # No AI events: the members themselves are the items (one row each).
        measures: tuple[Measure, ...] = ()
        per_item = f"""
per_item AS (
    SELECT
        {", ".join(carried)}, item_pos, item,
        {", ".join(_MEMBER_NAMES)}{ranked}
    FROM members
),"""
        stats = ""
    else:
        measures = evidence or ()
        per_item = _per_item_from_events(
            level, carried, kept, semantics, ranked, wanted_members, trend
        )
        stats = ",\n        " + _CLUSTER_STATS
    ev = ",\n        " + _evidence_columns(measures) if wanted_members else ""
    return f"""{members}{per_item}
per_cluster AS (
    SELECT
        run_id, cluster_index,
        {", ".join(f"any({c}) AS {c}" for c in kept)},
        arraySort(groupArrayIf((item_pos, item), item_pos > 0)) AS member_seq,
        tupleElement(member_seq, 2) AS member_ids{stats}{ev}
    FROM per_item
    GROUP BY run_id, cluster_index
),"""


def _per_item_from_events(
    level: Level,
    carried: list[str],
    kept: list[str],
    semantics: Semantics,
    ranked: str,
    with_members: bool,
    trend: bool,
) -> str:
    """`ai`, `per_item`: each item's numbers from its AI events inside its run's window."""
    item, which = _item_events(level)
    event_values = _EVENT_VALUES[semantics]
    reads = ",\n            ".join(
        f"ifNull({read}, 0) AS {name}_read" for name, (_, read) in event_values.items()
    )
    finite = ",\n        ".join(
        f"if(event IN {events} AND isFinite({name}_read), {name}_read, 0) AS ev_{name}"
        for name, (events, _) in event_values.items()
    )
    joined = ", ".join(f"e.ev_{name} AS ev_{name}" for name in event_values)
    per_item = ",\n        ".join(f"{expr} AS {name}" for name, expr in _ITEM_VALUES[semantics])
    fields = _MEMBER_NAMES if with_members else ()
    member_cols = "".join(f", m.{c} AS {c}" for c in fields)
    member_any = "".join(f",\n        any({c}) AS {c}" for c in fields)
    # The AI events to read: inside the windows of the runs whose members are listed
    # (never the trend-only runs'). One scalar subquery text for both bounds:
    # ClickHouse evaluates it (and the clustering events under it) once, not twice.
    window = (
        "(SELECT tuple(min(window_start), max(window_end)) "
        f"FROM chosen WHERE {_listed_runs(trend)})"
    )
    return f"""
ai AS (
    SELECT
        item, timestamp,
        {finite},
        ev_error
    FROM (
        SELECT
            {item}, timestamp, event,
            {reads},
            {_EVENT_ERROR} AS ev_error
        FROM events
        WHERE {which}
            AND timestamp >= tupleElement({window}, 1)
            AND timestamp <= tupleElement({window}, 2)
    )
    WHERE item != ''
),
per_item AS (
    SELECT
        run_id, cluster_index, item_pos, item,
        {", ".join(f"any({c}) AS {c}" for c in kept)}{member_any},
        {per_item}{ranked}
    FROM (
        SELECT
            {", ".join(f"m.{c} AS {c}" for c in carried)},
            m.item_pos AS item_pos, m.item AS item{member_cols},
            e.timestamp AS ev_time, {joined}, e.ev_error AS ev_error,
            ifNull({_IN_WINDOW[semantics]}, 0) AS w
        FROM ai AS e RIGHT JOIN members AS m ON e.item = m.item
    )
    GROUP BY run_id, cluster_index, item_pos, item
),"""


# Per cluster: how many events read each float property as NaN or an infinity, the
# smallest item id among them, and which sum (if any) overflowed to infinity.
_NONFINITE_COLUMNS = "".join(
    f""",
        sum({name}_bad) AS {name}_bad_n,
        arraySort(groupArrayIf(item, {name}_bad > 0)) AS {name}_bad_items,
        arrayElement({name}_bad_items, 1) AS {name}_bad_item"""
    for name in NONFINITE
) + (
    """,
        multiIf("""
    + ", ".join(f"NOT isFinite({name}_sum), '{prop}'" for name, prop in NONFINITE.items())
    + """, '') AS overflow"""
)

_CLUSTER_STATS = (
    """countIf(n_events > 0) AS item_count,
        countIf(errors > 0) AS error_count,
        countIf(cost > 0) AS cost_n,
        arraySort(groupArrayIf((item_pos, cost), cost > 0)) AS cost_items,
        arraySum(tupleElement(cost_items, 2)) AS cost_sum,
        countIf(latency > 0) AS latency_n,
        arraySort(groupArrayIf((item_pos, latency), latency > 0)) AS latency_items,
        arraySum(tupleElement(latency_items, 2)) AS latency_sum,
        countIf(tokens > 0) AS tokens_n,
        arraySort(groupArrayIf((item_pos, tokens), tokens > 0)) AS tokens_items,
        arraySum(tupleElement(tokens_items, 2)) AS tokens_sum,
        arraySort(groupArrayIf(latency, latency > 0)) AS latencies,
        (latency_n - 1) * 0.95 AS p95_pos,
        floor(p95_pos) AS p95_floor,
        toInt(p95_floor) AS p95_lo,
        least(p95_lo + 1, latency_n - 1) AS p95_hi,
        arrayElement(latencies, p95_lo + 1) AS p95_low_value,
        arrayElement(latencies, p95_hi + 1) AS p95_high_value,
        p95_low_value + (p95_high_value - p95_low_value) * (p95_pos - p95_lo) AS p95_value,
        if(latency_n = 0, NULL, p95_value) AS p95_latency"""
    + _NONFINITE_COLUMNS
)


_ITEM_KEYS = frozenset({"run_id", "cluster_index"})

# The stats columns of the answer (0 / NULL for a cluster without items in window).
STAT_COLUMNS = (
    "item_count",
    "error_count",
    "cost_n",
    "cost_sum",
    "latency_n",
    "latency_sum",
    "tokens_n",
    "tokens_sum",
    "p95_latency",
    *(f"{name}_bad_{what}" for name in NONFINITE for what in ("n", "item")),
    "overflow",
)

_RUN_HEADER = (
    "event_uuid",
    "event",
    "level_raw",
    "job_id",
    "job_name",
    "window_start_raw",
    "window_end_raw",
    "items_raw",
    "traces_analyzed_raw",
    "params_raw",
    "clusters_type",
)


def _answer_select(metrics: Metrics, need_items: bool, trend: bool, evidence: bool) -> list[str]:
    """The answer's select list, one entry per column."""
    grouped = metrics == "events" or evidence
    columns = [
        "run_id",
        "cluster_index",
        "emitted_at",
        *(f"if(cluster_index <= 1, {col}, '') AS {col}" for col in _RUN_HEADER),
        "cluster_type",
        "cluster_id_raw",
        "size_raw",
        "items_count AS traces_count" if grouped else "length(items) AS traces_count",
        "title",
        "description",
        "metrics_raw",
    ]
    if trend:
        columns.append("full")
    if need_items:
        # The grouped part rebuilds each cluster's item ids in their original order.
        keys = "member_ids" if grouped else "items"
        columns.append(f"if(full = 1, {keys}, []) AS item_ids" if trend else f"{keys} AS item_ids")
    if metrics == "events":
        columns.extend(STAT_COLUMNS)
    if evidence:
        columns.append("evidence")
    return columns


def _answer(metrics: Metrics, need_items: bool, trend: bool, evidence: bool) -> Query:
    """The answer part: one row per cluster; run headers only on each run's first cluster row.

    With `trend`, a `full` column: 0 for trend-only runs, whose item ids are left out.
    With `evidence`, the cluster's candidates (`EVIDENCE_FIELDS`, then `EVIDENCE_VALUES`
    when AI events were read). Its columns are named from the same select list.
    """
    grouped = metrics == "events" or evidence
    select = _answer_select(metrics, need_items, trend, evidence)
    body = ",\n    ".join(select)
    text = f"""
SELECT
    {body}
FROM {"per_cluster" if grouped else "clusters"}
ORDER BY run_id ASC, cluster_index ASC
LIMIT {CLUSTER_ROWS_LIMIT}"""
    return Query(text, tuple(column.rsplit(" AS ", 1)[-1] for column in select))


def _assemble(
    ctes: str,
    scan: str,
    metrics: Metrics,
    level: Level,
    need_items: bool,
    trend: bool = False,
    semantics: Semantics = "ui",
    evidence: tuple[Measure, ...] | None = None,
) -> Query:
    """`evidence`: None, no evidence; else the measures ranked besides rank. Below
    evaluation level only AI events give measures; at evaluation level, none."""
    events = metrics == "events"
    if not events:
        evidence = None if evidence is None else ()
    parts = [ctes, _chosen(trend, scan), _clusters(trend, evidence is not None)]
    if events or evidence is not None:
        parts.append(_grouped_part(level, trend, semantics, events, evidence))
    answer = _answer(metrics, need_items, trend, evidence is not None)
    text = "WITH" + "".join(parts)
    return Query(text.rstrip(",") + answer.text + "\n", answer.columns)


def metrics_mode(level: Level, wants_stats: bool) -> Metrics:
    if not wants_stats:
        return "none"
    return "baked" if level == "evaluation" else "events"


def latest_query(
    level: Level,
    *,
    pinned: bool,
    has_after: bool,
    metrics: Metrics,
    need_items: bool,
    semantics: Semantics = "ui",
    evidence: tuple[Measure, ...] | None = None,
) -> Query:
    """Query 1: the latest run (or the pinned one) with its per-cluster numbers.

    Values: level, job ("" = any), scan_from, since, now, [after],
    pinned: run_id, scan_from, scan_to (around the date the run id carries),
    evidence: k, with `evidence` (the measures worst items rank by; () = rank only).
    """
    if pinned:
        scan = (
            f"properties.$ai_clustering_run_id = {{run_id}} "
            f"AND timestamp >= {_utc('scan_from')} AND timestamp < {_utc('scan_to')}"
        )
        selected = f"""
selected AS (
    SELECT {_HEAD_COLUMNS} FROM heads
),"""
    else:
        # Emissions follow their window's end, so events older than the lookback
        # (with a day of slack, in scan_from) cannot be the newest emission of a
        # run in range: skipping them keeps the scan to the lookback's partitions.
        scan = f"timestamp >= {_utc('scan_from')}"
        after = f" AND window_end > {_utc('after')}" if has_after else ""
        selected = f"""
selected AS (
    SELECT {_HEAD_COLUMNS} FROM heads
    WHERE level = {{level}}
        AND ({{job}} = '' OR job_id = {{job}} OR job_name = {{job}})
        AND window_end >= {_utc("since")}
        AND window_end <= {_utc("now")}{after}
    ORDER BY window_end DESC, emitted_at DESC, run_id DESC
    LIMIT 1
),"""
    if evidence is not None:
        evidence = tuple(m for m in MEASURES if m in evidence)
    return _assemble(
        _runs(scan) + selected,
        scan,
        metrics,
        level,
        need_items,
        semantics=semantics,
        evidence=evidence,
    )


def baselines_query(
    level: Level,
    *,
    earlier: bool,
    run_ids: int,
    metrics: Metrics,
    need_items: bool,
    trend: bool = False,
    semantics: Semantics = "ui",
) -> Query:
    """Query 2: every baseline run with its numbers, and the trend runs' headers.

    `earlier`: the runs before the latest with its level and job id, newest first,
    at most {earlier} of them (previous / median_of). `run_ids`: how many
    `{baseline_N}` run-id placeholders, each with `{baseline_N_from}` and
    `{baseline_N_to}` bounding the scan around the date its id carries.
    `trend`: also the trend runs (the last {history} runs of the latest run's level
    and job id, the latest included), headers and baked metrics only, flagged
    `full = 0`; with no baseline kind at all, the query answers only those.
    Earlier and trend runs are those whose window ends at {since} or later (one
    lookback before the latest run's window end, runs.horizon); their emissions are
    scanned from {scan_from} (a day earlier).
    """
    branches = []
    if earlier:
        branches.append(f"""SELECT {_HEAD_COLUMNS} FROM (
            SELECT {_HEAD_COLUMNS} FROM heads
            WHERE level = {{level}} AND job_id = {{job_id}}
                AND window_end < parseDateTimeBestEffort({{latest_window_end}}, 'UTC')
                AND window_end >= {_utc("since")}
            ORDER BY window_end DESC, emitted_at DESC, run_id DESC
            LIMIT {{earlier}}
        )""")
    scans = [f"timestamp >= {_utc('scan_from')}"]
    if run_ids:
        names = ", ".join(f"{{baseline_{i}}}" for i in range(run_ids))
        branches.append(f"SELECT {_HEAD_COLUMNS} FROM heads WHERE run_id IN ({names})")
        scans.extend(
            f"(timestamp >= {_utc(f'baseline_{i}_from')} "
            f"AND timestamp < {_utc(f'baseline_{i}_to')})"
            for i in range(run_ids)
        )
    if not branches and not trend:
        raise ValueError("a baselines query needs at least one kind of run")
    scan = scans[0] if len(scans) == 1 else "(" + "\n        OR ".join(scans) + ")"
    ctes = _runs(scan)
    if branches:
        union = "\n        UNION ALL\n        ".join(branches)
        ctes += f"""
selected AS (
    SELECT {_HEAD_COLUMNS} FROM (
        {union}
    )
    LIMIT 1 BY run_id
),"""
    if trend:
        if metrics != "none" and not branches:
            raise ValueError("stats need baseline runs to compute them for")
        # runs._history: same level and job id, window ending no later than the latest's.
        ctes += f"""
trend AS (
    SELECT {_HEAD_COLUMNS} FROM heads
    WHERE level = {{level}} AND job_id = {{job_id}}
        AND window_end <= parseDateTimeBestEffort({{latest_window_end}}, 'UTC')
        AND window_end >= {_utc("since")}
    ORDER BY window_end DESC, emitted_at DESC, run_id DESC
    LIMIT {{history}}
),"""
        # Trend runs already fetched in full (or by query 1: the latest) are not repeated.
        only = f"SELECT {_HEAD_COLUMNS}, 0 AS full FROM trend WHERE run_id != {{latest_run_id}}"
        if branches:
            only += " AND run_id NOT IN (SELECT run_id FROM selected)"
            only = f"""SELECT {_HEAD_COLUMNS}, full FROM (
        SELECT {_HEAD_COLUMNS}, 1 AS full FROM selected
        UNION ALL
        {only}
    )"""
        ctes += f"""
fetched AS (
    {only}
),"""
    return _assemble(ctes, scan, metrics, level, need_items, trend, semantics)


def _run_list(count: int) -> str:
    return ", ".join(f"{{run_{i}}}" for i in range(count))


def _scan_runs(run_count: int) -> str:
    """The given runs' emissions, between {runs_from} and {runs_to}."""
    return (
        f"properties.$ai_clustering_run_id IN ({_run_list(run_count)}) "
        f"AND timestamp >= {_utc('runs_from')} AND timestamp < {_utc('runs_to')}"
    )


def export_clusters_query(run_count: int) -> str:
    """Every emission of the given runs, a page at a time (keyset on the uuid)."""
    return f"""SELECT toString(uuid) AS event_uuid, event, timestamp, properties
FROM events
WHERE event IN {_CLUSTER_EVENTS}
    AND {_scan_runs(run_count)}
    AND toString(uuid) > {{after_uuid}}
ORDER BY event_uuid ASC
LIMIT {EXPORT_CLUSTER_PAGE}
"""


# The only properties a recorded AI event keeps: what metrics.py reads.
EXPORT_PROPERTIES = (
    "$ai_trace_id",
    "$ai_total_cost_usd",
    "$ai_latency",
    "$ai_input_tokens",
    "$ai_output_tokens",
    "$ai_is_error",
)

# What the export queries answer with, in order.
EXPORT_CLUSTER_COLUMNS = ("event_uuid", "event", "timestamp", "properties")
EXPORT_EVENT_COLUMNS = (
    "event_uuid",
    "event",
    "timestamp",
    *(f"p{i}" for i in range(len(EXPORT_PROPERTIES))),
    "copies",
)


def export_events_query(level: Level, run_count: int) -> str:
    """The AI events of the given runs' items inside their windows, a page at a time.

    Only the six properties the metrics read leave PostHog, as the texts HogQL's
    property access gives (what the live metrics read). Values: run_i, runs_from,
    runs_to, events_from, events_to (the runs' windows), after_uuid.

    One row per uuid with `copies`, the rows PostHog holds under it: its events table
    keeps a duplicate until ClickHouse merges it, and the live metrics (like PostHog's
    page) count every copy, so the replay must too. Each item's windows are gathered
    into one row first, so the join repeats no event.
    """
    item, which = _item_events(level)
    selected = f"""
selected AS (
    SELECT {_HEAD_COLUMNS} FROM heads WHERE run_id IN ({_run_list(run_count)})
),"""
    members = """
members AS (
    SELECT item, groupArray(tuple(window_start, window_end)) AS windows
    FROM (SELECT window_start, window_end, arrayJoin(items) AS item FROM clusters)
    GROUP BY item
)"""
    props = ",\n        ".join(
        f"properties.{key} AS p{i}" for i, key in enumerate(EXPORT_PROPERTIES)
    )
    prop_columns = ", ".join(f"any(e.p{i}) AS p{i}" for i in range(len(EXPORT_PROPERTIES)))
    # Inside a window of a run listing the item (ui: both ends included).
    in_window = (
        "notEmpty(arrayFilter(w -> e.timestamp >= tupleElement(w, 1) "
        "AND e.timestamp <= tupleElement(w, 2), m.windows))"
    )
    clusters = _clusters(False, source="selected")
    return f"""WITH{_runs(_scan_runs(run_count))}{selected}{clusters}{members}
SELECT e.event_uuid AS event_uuid, any(e.event) AS event, any(e.timestamp) AS timestamp,
    {prop_columns}, count() AS copies
FROM (
    SELECT
        toString(uuid) AS event_uuid, event, timestamp, {item},
        {props}
    FROM events
    WHERE {which}
        AND timestamp >= {_utc("events_from")}
        AND timestamp <= {_utc("events_to")}
        AND toString(uuid) > {{after_uuid}}
) AS e
INNER JOIN members AS m ON e.item = m.item
WHERE e.item != '' AND {in_window}
GROUP BY e.event_uuid
ORDER BY event_uuid ASC
LIMIT {EXPORT_EVENT_PAGE}
"""
