"""The HogQL texts the live source sends (DESIGN §4).

Every text here is a constant assembled from fixed fragments: the builders take
only *shape* flags (level, which filters apply, whether metrics or item ids are
wanted, how many run-id placeholders) and never a user value. User values (run
ids, job, timestamps, lookback start) travel in the query's `values` and are
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
- `baked`: whether every selected cluster carries the baked metrics a gate
  needs; if so, the event aggregation below reads an empty time range.
- `members` → `ai` → `per_item` → `stats`: cluster membership unnested from the
  `traces` maps, joined to per-item totals over the AI events inside each run's
  window, aggregated per cluster with metrics.py's semantics (averages over
  values > 0, errors as JSON true or the string "true", numbers that may be
  strings, p95 interpolated exactly as `stats.quantile_inclusive`).

The HogQL subset used runs on real PostHog: `JSONExtract*` on `properties`
(never `properties.$x`), allow-listed functions only (no quantileExactInclusive,
no toInt64, no OFFSET), an explicit LIMIT on every outer SELECT.
"""

from __future__ import annotations

from typing import Literal

from llmc_checks.model import Level, Semantics

# Rows a per-cluster answer may hold; reaching it means the answer was cut.
CLUSTER_ROWS_LIMIT = 10_000
# Pages of the --llmc-record export (keyset pagination: OFFSET is refused).
EXPORT_CLUSTER_PAGE = 10  # whole clustering events, each up to a few MB
EXPORT_EVENT_PAGE = 10_000  # AI events reduced to six properties

# "none": no per-cluster stats; "baked": only whether baked metrics are complete
# (evaluation level has no AI events); "events": aggregate AI events if needed.
Metrics = Literal["none", "baked", "events"]

_CLUSTER_EVENTS = "('$ai_trace_clusters', '$ai_generation_clusters', '$ai_evaluation_clusters')"
_AI_EVENTS = "('$ai_generation', '$ai_embedding', '$ai_span')"
_COSTED = "('$ai_generation', '$ai_embedding')"

# Header columns carried from `heads` to the answer; `*_raw` are JSON texts
# Python parses exactly as runs.py parses a snapshot row.
_HEAD_COLUMNS = (
    "event_uuid, event, emitted_at, run_id, level, level_raw, job_id, job_name, "
    "window_start, window_end, window_start_raw, window_end_raw, items_raw, "
    "traces_analyzed_raw, params_raw, clusters_type, properties"
)
# The same without the (large) properties text: what each cluster row carries.
_CARRIED = _HEAD_COLUMNS.removesuffix(", properties")


def _runs(scan: str) -> str:
    """`runs` and `heads`: the last emission of every run id among the scanned events."""
    return f"""
runs AS (
    SELECT
        toString(uuid) AS event_uuid,
        event,
        timestamp AS emitted_at,
        properties,
        JSONExtractString(properties, '$ai_clustering_run_id') AS run_id
    FROM events
    WHERE event IN {_CLUSTER_EVENTS} AND {scan}
    ORDER BY run_id ASC, emitted_at DESC, event_uuid DESC
    LIMIT 1 BY run_id
),
heads AS (
    SELECT
        event_uuid, event, emitted_at, run_id, properties,
        multiIf(
            JSONExtractString(properties, '$ai_clustering_level') != '',
            JSONExtractString(properties, '$ai_clustering_level'),
            event = '$ai_trace_clusters', 'trace',
            event = '$ai_generation_clusters', 'generation',
            'evaluation'
        ) AS level,
        JSONExtractRaw(properties, '$ai_clustering_level') AS level_raw,
        JSONExtractString(properties, '$ai_clustering_job_id') AS job_id,
        JSONExtractString(properties, '$ai_clustering_job_name') AS job_name,
        JSONExtractString(properties, '$ai_window_start') AS window_start_raw,
        JSONExtractString(properties, '$ai_window_end') AS window_end_raw,
        parseDateTimeBestEffort(window_start_raw) AS window_start,
        parseDateTimeBestEffort(window_end_raw) AS window_end,
        JSONExtractRaw(properties, '$ai_total_items_analyzed') AS items_raw,
        JSONExtractRaw(properties, '$ai_total_traces_analyzed') AS traces_analyzed_raw,
        JSONExtractRaw(properties, '$ai_clustering_params') AS params_raw,
        toString(JSONType(properties, '$ai_clusters')) AS clusters_type
    FROM runs
    WHERE run_id != ''
),"""


def _clusters(trend: bool = False) -> str:
    # An empty or unreadable `$ai_clusters` still yields one row (index 0), so the
    # run reaches Python and fails there with runs.py's message instead of vanishing.
    # With trend runs, the runs come from `fetched` and carry its `full` flag.
    carried, source = (f"{_CARRIED}, full", "fetched") if trend else (_CARRIED, "selected")
    return f"""
clusters AS (
    SELECT
        {carried},
        tupleElement(pair, 1) AS cluster_index,
        tupleElement(pair, 2) AS cluster_json
    FROM (
        SELECT
            {carried},
            arrayJoin(if(empty(raw), [(0, '')], arrayZip(arrayEnumerate(raw), raw))) AS pair
        FROM (
            SELECT
                {carried},
                JSONExtractArrayRaw(if(
                    JSONType(properties, '$ai_clusters') = 'String',
                    JSONExtractString(properties, '$ai_clusters'),
                    JSONExtractRaw(properties, '$ai_clusters')
                )) AS raw
            FROM {source}
        )
    )
),"""


def _baked(trend: bool) -> str:
    # Trend-only runs never take part in the baked-or-events decision (as in a snapshot).
    where = "\n    WHERE full = 1" if trend else ""
    return f"""
baked AS (
    SELECT min(
        JSONType(cluster_json, 'metrics') = 'Object'
        AND hasAll(JSONExtractKeys(cluster_json, 'metrics'), splitByChar(',', {{baked_keys}}))
    ) AS complete
    FROM clusters{where}
),"""


def _text(key: str) -> str:
    """A property's text as PostHog's materialized `$ai_*` columns hold it (a string's
    value, a number or bool as ClickHouse renders it, NULL when missing or null): what
    `properties.$key` reads."""
    return f"JSONExtract(properties, '{key}', 'Nullable(String)')"


def _float(key: str) -> str:
    """`toFloat(properties.$key)` (accurateCastOrNull: `_values.number`); missing → 0,
    which changes no sum and no max a cluster averages (only values > 0 count)."""
    return f"ifNull(toFloat({_text(key)}), 0)"


def _int(key: str) -> str:
    """`toInt(properties.$key)` (`_values.integer`: "12.5" is no Int); missing → 0."""
    return f"ifNull(toInt({_text(key)}), 0)"


# Per AI event, under each semantics (metrics.add_event): which events add cost and
# tokens, which add latency; and how an item's latencies combine and its window ends.
_SEMANTICS_PARTS: dict[Semantics, dict[str, str]] = {
    "ui": {
        "cost": _float("$ai_total_cost_usd"),
        "latency": _float("$ai_latency"),
        "tokens": f"{_int('$ai_input_tokens')} + {_int('$ai_output_tokens')}",
        "combine_latency": "max",
        "before_end": "<=",
    },
    "workflow": {
        "cost": f"if(event IN {_COSTED}, {_float('$ai_total_cost_usd')}, 0)",
        "latency": f"if(event = '$ai_generation', {_float('$ai_latency')}, 0)",
        "tokens": (
            f"if(event IN {_COSTED}, {_int('$ai_input_tokens')} + {_int('$ai_output_tokens')}, 0)"
        ),
        "combine_latency": "sum",
        "before_end": "<",
    },
}


def _item_events(level: Level) -> tuple[str, str]:
    """The item key of an AI event, and which AI events count, at this level."""
    if level == "generation":
        # Generation level: an item is one $ai_generation event, keyed by its uuid.
        return "toString(uuid) AS item", "event = '$ai_generation'"
    return "JSONExtractString(properties, '$ai_trace_id') AS item", f"event IN {_AI_EVENTS}"


def _events_part(level: Level, trend: bool, semantics: Semantics) -> str:
    item, which = _item_events(level)
    parts = _SEMANTICS_PARTS[semantics]
    end = parts["before_end"]
    full = " AND full = 1" if trend else ""
    return f"""
members AS (
    SELECT run_id, cluster_index, window_start, window_end,
        arrayJoin(JSONExtractKeys(cluster_json, 'traces')) AS item
    FROM clusters
    WHERE level = {{level}} AND ({{force_events}} = 1 OR (SELECT complete FROM baked) = 0){full}
),
ai AS (
    SELECT
        {item}, timestamp, event,
        {parts["cost"]} AS cost,
        {parts["latency"]} AS latency,
        {parts["tokens"]} AS tokens,
        JSONExtractRaw(properties, '$ai_is_error') IN ('true', '"true"') AS is_error
    FROM events
    WHERE {which}
        AND timestamp >= (SELECT min(window_start) FROM members)
        AND timestamp {end} (SELECT max(window_end) FROM members)
        AND item != '' AND item IN (SELECT item FROM members)
),
per_item AS (
    SELECT
        m.run_id AS run_id, m.cluster_index AS cluster_index, a.item AS item,
        sum(a.cost) AS cost, {parts["combine_latency"]}(a.latency) AS latency,
        sum(a.tokens) AS tokens, countIf(a.is_error) AS errors
    FROM ai AS a INNER JOIN members AS m ON a.item = m.item
    WHERE a.timestamp >= m.window_start AND a.timestamp {end} m.window_end
    GROUP BY m.run_id, m.cluster_index, a.item
),
stats AS (
    SELECT
        run_id, cluster_index,
        count() AS item_count,
        countIf(errors > 0) AS error_count,
        countIf(cost > 0) AS cost_n, sumIf(cost, cost > 0) AS cost_sum,
        countIf(latency > 0) AS latency_n, sumIf(latency, latency > 0) AS latency_sum,
        countIf(tokens > 0) AS tokens_n, sumIf(tokens, tokens > 0) AS tokens_sum,
        arraySort(groupArrayIf(latency, latency > 0)) AS latencies,
        (latency_n - 1) * 0.95 AS p95_pos,
        toInt(floor(p95_pos)) AS p95_lo,
        least(p95_lo + 1, latency_n - 1) AS p95_hi,
        if(latency_n = 0, NULL,
            arrayElement(latencies, p95_lo + 1)
            + (arrayElement(latencies, p95_hi + 1) - arrayElement(latencies, p95_lo + 1))
            * (p95_pos - p95_lo)
        ) AS p95_latency
    FROM per_item
    GROUP BY run_id, cluster_index
),"""


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
)


def _answer(metrics: Metrics, level: Level, need_items: bool, trend: bool) -> str:
    """One row per cluster; run headers only on each run's first cluster row.

    With `trend`, a `full` column: 0 for trend-only runs, whose item ids are left out.
    """
    first = "c.cluster_index <= 1"
    head = ",\n    ".join(
        f"if({first}, c.{col}, '') AS {col}"
        for col in (
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
    )
    columns = [
        "c.run_id AS run_id",
        "c.cluster_index AS cluster_index",
        "c.emitted_at AS emitted_at",
        head,
        "toString(JSONType(c.cluster_json)) AS cluster_type",
        "JSONExtractRaw(c.cluster_json, 'cluster_id') AS cluster_id_raw",
        "JSONExtractRaw(c.cluster_json, 'size') AS size_raw",
        "length(JSONExtractKeys(c.cluster_json, 'traces')) AS traces_count",
        "JSONExtractString(c.cluster_json, 'title') AS title",
        "JSONExtractString(c.cluster_json, 'description') AS description",
        "JSONExtractRaw(c.cluster_json, 'metrics') AS metrics_raw",
    ]
    if trend:
        columns.append("c.full AS full")
    if need_items:
        keys = "JSONExtractKeys(c.cluster_json, 'traces')"
        if trend:
            keys = f"if(c.full = 1, {keys}, [])"
        columns.append(f"{keys} AS item_ids")
    joins = ""
    if metrics != "none":
        columns.append("(SELECT complete FROM baked) AS baked_complete")
    if metrics == "events":
        columns.extend(f"s.{col} AS {col}" for col in STAT_COLUMNS)
        joins = (
            "\nLEFT JOIN stats AS s ON c.run_id = s.run_id AND c.cluster_index = s.cluster_index"
        )
    body = ",\n    ".join(columns)
    return f"""
SELECT
    {body}
FROM clusters AS c{joins}
ORDER BY run_id ASC, cluster_index ASC
LIMIT {CLUSTER_ROWS_LIMIT}"""


def _assemble(
    ctes: str,
    metrics: Metrics,
    level: Level,
    need_items: bool,
    trend: bool = False,
    semantics: Semantics = "ui",
) -> str:
    parts = [ctes, _clusters(trend)]
    if metrics != "none":
        parts.append(_baked(trend))
    if metrics == "events":
        parts.append(_events_part(level, trend, semantics))
    text = "WITH" + "".join(parts)
    return text.rstrip(",") + _answer(metrics, level, need_items, trend) + "\n"


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
) -> str:
    """Query 1: the latest run (or the pinned one) with its per-cluster numbers.

    Values: level, job ("" = any), scan_from, since, now, [after], [run_id],
    and with metrics: baked_keys, force_events.
    """
    if pinned:
        scan = "JSONExtractString(properties, '$ai_clustering_run_id') = {run_id}"
        selected = f"""
selected AS (
    SELECT {_HEAD_COLUMNS} FROM heads
),"""
    else:
        # Emissions follow their window's end, so events older than the lookback
        # (with a day of slack, in scan_from) cannot be the newest emission of a
        # run in range: skipping them keeps the scan to the lookback's partitions.
        scan = "timestamp >= toDateTime64({scan_from}, 6, 'UTC')"
        after = " AND window_end > toDateTime64({after}, 6, 'UTC')" if has_after else ""
        selected = f"""
selected AS (
    SELECT {_HEAD_COLUMNS} FROM heads
    WHERE level = {{level}}
        AND ({{job}} = '' OR job_id = {{job}} OR job_name = {{job}})
        AND window_end >= toDateTime64({{since}}, 6, 'UTC')
        AND window_end <= toDateTime64({{now}}, 6, 'UTC'){after}
    ORDER BY window_end DESC, emitted_at DESC, run_id DESC
    LIMIT 1
),"""
    return _assemble(_runs(scan) + selected, metrics, level, need_items, semantics=semantics)


def baselines_query(
    level: Level,
    *,
    earlier: bool,
    run_ids: int,
    include_latest: bool,
    metrics: Metrics,
    need_items: bool,
    trend: bool = False,
    semantics: Semantics = "ui",
) -> str:
    """Query 2: every baseline run (and, when asked, the latest again) with its numbers.

    `earlier`: the runs before the latest with its level and job id, newest first,
    at most {earlier} of them (previous / median_of). `run_ids`: how many
    `{baseline_N}` run-id placeholders. `include_latest`: also `{latest_run_id}`,
    so the baked-or-events decision covers every run as the snapshot source's does.
    `trend`: also the trend runs (the last {history} runs of the latest run's level
    and job id, the latest included), headers and baked metrics only, flagged
    `full = 0`; with no baseline kind at all, the query answers only those.
    """
    branches = []
    if earlier:
        branches.append(f"""SELECT {_HEAD_COLUMNS} FROM (
            SELECT {_HEAD_COLUMNS} FROM heads
            WHERE level = {{level}} AND job_id = {{job_id}}
                AND window_end < parseDateTimeBestEffort({{latest_window_end}})
            ORDER BY window_end DESC, emitted_at DESC, run_id DESC
            LIMIT {{earlier}}
        )""")
    if run_ids:
        names = ", ".join(f"{{baseline_{i}}}" for i in range(run_ids))
        branches.append(f"SELECT {_HEAD_COLUMNS} FROM heads WHERE run_id IN ({names})")
    if include_latest:
        branches.append(f"SELECT {_HEAD_COLUMNS} FROM heads WHERE run_id = {{latest_run_id}}")
    if not branches and not trend:
        raise ValueError("a baselines query needs at least one kind of run")
    ctes = _runs("1 = 1")
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
        AND window_end <= parseDateTimeBestEffort({{latest_window_end}})
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
    return _assemble(ctes, metrics, level, need_items, trend, semantics)


def _run_list(count: int) -> str:
    return ", ".join(f"{{run_{i}}}" for i in range(count))


def export_clusters_query(run_count: int) -> str:
    """Every emission of the given runs, a page at a time (keyset on the uuid)."""
    return f"""SELECT toString(uuid) AS event_uuid, event, timestamp, properties
FROM events
WHERE event IN {_CLUSTER_EVENTS}
    AND JSONExtractString(properties, '$ai_clustering_run_id') IN ({_run_list(run_count)})
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


def export_events_query(level: Level, run_count: int) -> str:
    """The AI events of the given runs' items inside their windows, a page at a time.

    Only the six properties the metrics read leave PostHog, as raw JSON texts.
    """
    item, which = _item_events(level)
    selected = f"""
selected AS (
    SELECT {_HEAD_COLUMNS} FROM heads WHERE run_id IN ({_run_list(run_count)})
),"""
    members = """
members AS (
    SELECT window_start, window_end, arrayJoin(JSONExtractKeys(cluster_json, 'traces')) AS item
    FROM clusters
)"""
    props = ",\n        ".join(
        f"JSONExtractRaw(properties, '{key}') AS p{i}" for i, key in enumerate(EXPORT_PROPERTIES)
    )
    prop_columns = ", ".join(f"e.p{i} AS p{i}" for i in range(len(EXPORT_PROPERTIES)))
    return f"""WITH{_runs(_scan_runs(run_count))}{selected}{_clusters()}{members}
SELECT e.event_uuid AS event_uuid, e.event AS event, e.timestamp AS timestamp, {prop_columns}
FROM (
    SELECT
        toString(uuid) AS event_uuid, event, timestamp, {item},
        {props}
    FROM events
    WHERE {which}
        AND timestamp >= (SELECT min(window_start) FROM members)
        AND timestamp <= (SELECT max(window_end) FROM members)
        AND toString(uuid) > {{after_uuid}}
) AS e
INNER JOIN members AS m ON e.item = m.item
WHERE e.item != '' AND e.timestamp >= m.window_start AND e.timestamp <= m.window_end
ORDER BY event_uuid ASC
LIMIT 1 BY event_uuid
LIMIT {EXPORT_EVENT_PAGE}
"""


def _scan_runs(run_count: int) -> str:
    return f"JSONExtractString(properties, '$ai_clustering_run_id') IN ({_run_list(run_count)})"
