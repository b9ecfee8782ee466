"""The PostHog query-API stand-in: real ClickHouse (chDB) answers, PostHog's shapes and faults."""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from standin import OFFENCES, HogQLError, StandIn, property_access, translate

PID = 1
KEY = "phx_test"
CLIENT = httpx.Client()  # one connection pool: a fresh httpx client costs ~30 ms


@pytest.fixture(scope="module", autouse=True)
def _close_client() -> Iterator[None]:
    yield
    CLIENT.close()


@pytest.fixture(autouse=True)
def _forget_offences() -> Iterator[None]:
    """These tests scan `events` unbounded on purpose: keep it out of the live tests' check."""
    yield
    OFFENCES.clear()


def make_rows(n_traces: int = 80, seed: int = 7) -> list[dict[str, Any]]:
    """AI events with the awkward encodings PostHog really sends (bools as strings, ...)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for t in range(n_traces):
        trace = f"trace-{t:03d}"
        for g in range(rng.randint(1, 4)):
            kind = rng.choice(["$ai_generation", "$ai_generation", "$ai_embedding", "$ai_span"])
            cost = round(rng.uniform(0, 0.02), 6)
            props: dict[str, Any] = {
                "$ai_trace_id": trace,
                "$ai_total_cost_usd": str(cost) if g % 3 == 2 else cost,
                "$ai_latency": round(rng.uniform(0.1, 3.0), 3),
                "$ai_is_error": rng.choice([True, False, "true", "false"]),
                "note": "it's {not} a placeholder \\ ok",
            }
            rows.append(
                {
                    "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "event": kind,
                    "timestamp": f"2026-11-{10 + g:02d}T{t % 24:02d}:15:03.104000+00:00",
                    "distinct_id": f"user-{t % 5}",
                    "properties": props,
                }
            )
    return rows


ROWS = make_rows()
JOBS = [
    {"id": f"job-{i}", "name": f"Default - {level}s", "analysis_level": level}
    for i, level in enumerate(["trace", "generation", "evaluation", "trace", "trace"])
]


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with StandIn(ROWS, api_key=KEY, project_id=PID, clustering_jobs=JOBS) as s:
        yield s


@pytest.fixture
def fresh() -> Iterator[StandIn]:
    """A stand-in of its own, for tests that queue faults or read the request log."""
    with StandIn(ROWS[:30], api_key=KEY, project_id=PID) as s:
        yield s


def hogql(query: str, values: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "HogQLQuery", "query": query}
    if values is not None:
        node["values"] = values
    return {"query": node, **extra}


def post(s: StandIn, query: str, values: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    return CLIENT.post(s.query_url, headers=s.auth_headers, json=hogql(query, values, **kw))


# -- real queries ------------------------------------------------------------------------


def test_aggregates_match_a_python_computation(standin: StandIn) -> None:
    response = post(
        standin,
        """
        SELECT JSONExtractString(properties, '$ai_trace_id') AS trace,
               sumIf(JSONExtractFloat(properties, '$ai_total_cost_usd'),
                     event IN ('$ai_generation', '$ai_embedding')) AS cost,
               countIf(JSONExtractRaw(properties, '$ai_is_error') IN ('true', '"true"')) AS errors,
               count() AS events
        FROM events
        GROUP BY trace
        ORDER BY trace
        """,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == ["trace", "cost", "errors", "events"]
    assert body["types"] == [
        ["trace", "String"],
        ["cost", "Float64"],
        ["errors", "UInt64"],
        ["events", "UInt64"],
    ]
    assert body["hasMore"] is False and body["limit"] == 100 and body["offset"] == 0

    expected: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0])
    for row in ROWS:
        props = row["properties"]
        acc = expected[props["$ai_trace_id"]]
        if row["event"] in ("$ai_generation", "$ai_embedding"):
            acc[0] += float(props["$ai_total_cost_usd"])
        acc[1] += props["$ai_is_error"] in (True, "true")
        acc[2] += 1
    assert [r[0] for r in body["results"]] == sorted(expected)
    for trace, cost, errors, events in body["results"]:
        assert cost == pytest.approx(expected[trace][0], abs=1e-12)
        assert [errors, events] == expected[trace][1:]


def test_rows_come_back_typed_like_posthog(standin: StandIn) -> None:
    first = min(ROWS, key=lambda r: (r["timestamp"], r["uuid"]))
    body = post(
        standin,
        "SELECT uuid, event, timestamp, properties, team_id FROM events "
        "ORDER BY timestamp, toString(uuid) LIMIT 1",
    ).json()
    uuid_, event, timestamp, properties, team_id = body["results"][0]
    assert (uuid_, event, team_id) == (first["uuid"], first["event"], PID)
    assert timestamp == first["timestamp"].replace("+00:00", "Z")
    assert orjson.loads(properties) == first["properties"]
    assert dict(body["types"])["timestamp"] == "DateTime64(6, 'UTC')"
    assert body["hasMore"] is None  # explicit LIMIT: no paginator, as in PostHog
    assert "SELECT uuid" in body["hogql"]


def test_in_process_run_gives_the_http_body(standin: StandIn) -> None:
    assert standin.run("SELECT count() FROM events")["results"] == [[len(ROWS)]]
    with pytest.raises(HogQLError, match="Unsupported function call"):
        standin.run("SELECT evil() FROM events")


# -- HogQL limits ------------------------------------------------------------------------


def test_default_limit_is_100_with_has_more(standin: StandIn) -> None:
    assert len(ROWS) > 100
    body = post(standin, "SELECT uuid FROM events ORDER BY uuid").json()
    assert len(body["results"]) == 100
    assert (body["hasMore"], body["limit"], body["offset"]) == (True, 100, 0)

    exactly = post(standin, "SELECT number FROM (SELECT arrayJoin(range(100)) AS number)").json()
    assert len(exactly["results"]) == 100 and exactly["hasMore"] is False


def test_limit_inside_subqueries_and_limit_by_are_left_alone(standin: StandIn) -> None:
    sub = post(standin, "SELECT * FROM (SELECT uuid FROM events LIMIT 500) ORDER BY uuid").json()
    assert len(sub["results"]) == 100 and sub["hasMore"] is True
    by = post(standin, "SELECT event, uuid FROM events ORDER BY uuid LIMIT 1 BY event").json()
    assert len(by["results"]) == len({r["event"] for r in ROWS}) and by["hasMore"] is False


def test_explicit_limit_above_the_cap_is_lowered_silently() -> None:
    with StandIn(ROWS, max_limit=50) as s:
        body = post(s, "SELECT uuid FROM events LIMIT 1000").json()
        assert len(body["results"]) == 50 and body["hasMore"] is None
        assert len(post(s, "SELECT uuid FROM events LIMIT {n}", {"n": 7}).json()["results"]) == 7
        union = post(s, "SELECT 1 FROM events UNION ALL SELECT 2 FROM events").json()
        assert len(union["results"]) == 100  # each SELECT of a set capped at 50
    with StandIn(ROWS, max_limit=50, flag_capped_limit=True) as s:
        body = post(s, "SELECT uuid FROM events LIMIT 1000").json()
        assert len(body["results"]) == 50 and (body["hasMore"], body["limit"]) == (True, 50)


def test_real_cap_is_50000() -> None:
    rows = [
        {"uuid": str(uuid.UUID(int=i)), "event": "e", "timestamp": "2026-01-01T00:00:00Z"}
        for i in range(50_010)
    ]
    with StandIn(rows) as s:
        body = post(s, "SELECT toString(uuid) FROM events LIMIT 60000").json()
        assert len(body["results"]) == 50_000


# -- placeholders ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["' OR 1=1 --", "x\\' OR '1'='1", "{trace} } {", "back\\slash\\", "new\nline\ttab", "ünï"],
)
def test_placeholder_values_are_literals(standin: StandIn, value: str) -> None:
    matched = post(
        standin,
        "SELECT count() FROM events WHERE JSONExtractString(properties, '$ai_trace_id') = {t}",
        {"t": value},
    ).json()
    assert matched["results"] == [[0]]
    echoed = post(standin, "SELECT {v} AS v, length({v}) AS n", {"v": value}).json()
    assert echoed["results"] == [[value, len(value.encode())]]


def test_placeholder_types(standin: StandIn) -> None:
    traces = ["trace-001", "trace-002", "nope"]
    body = post(
        standin,
        "SELECT {i} AS i, {f} AS f, {b} AS b, {n} AS n, countIf("
        "JSONExtractString(properties, '$ai_trace_id') IN {traces}) AS c FROM events",
        {"i": 3, "f": 0.25, "b": True, "n": None, "traces": traces},
    ).json()
    expected = sum(r["properties"]["$ai_trace_id"] in traces for r in ROWS)
    assert body["results"] == [[3, 0.25, True, None, expected]]


def test_braces_in_strings_and_comments_are_not_placeholders(standin: StandIn) -> None:
    query = "SELECT '{x}' AS a, 'it''s {y}' AS b -- {z}\n/* {w} */"
    assert post(standin, query).json()["results"] == [["{x}", "it's {y}"]]


def test_unknown_or_unresolved_placeholder_is_a_400(standin: StandIn) -> None:
    missing = post(standin, "SELECT {a}, {b}", {"a": 1})
    assert missing.status_code == 400
    assert missing.json()["detail"] == (
        "Placeholder {b} is not available in this context. You can use the following: a"
    )
    unresolved = post(standin, "SELECT {a}")
    assert unresolved.status_code == 400
    assert unresolved.json()["detail"] == "Unresolved placeholder: {a}"


# -- the allow-list and other refusals ---------------------------------------------------


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("SELECT file('/etc/passwd')", "Unsupported function call 'file(...)'"),
        ("SELECT * FROM url('http://x', 'CSV')", "Unsupported table function 'url(...)'"),
        ("SELECT * FROM numbers(10)", "Unsupported table function 'numbers(...)'"),
        ("SELECT count() FROM remote('h', 'db.t')", "Unsupported table function 'remote(...)'"),
        ("SELECT name FROM system.tables", 'Unknown table "system.tables".'),
        ("SELECT 1 WHERE 1 IN `system`.`one`", 'Unknown table "system.one".'),
        ("SELECT 1 FROM persons", 'Unknown table "persons".'),
        ("SELECT toInt64(1)", "Unsupported function call 'toInt64(...)'"),
        ("SELECT quantileExactInclusive(0.9)(1)", "Unsupported function call 'quantileExactInc"),
        ("SELECT uuid FROM events ORDER BY uuid LIMIT 5 OFFSET 5", "OFFSET is not supported"),
        ("SELECT uuid FROM events ORDER BY uuid LIMIT 5, 10", "OFFSET is not supported"),
        ("SELECT event FROM events LIMIT 1 OFFSET 2 BY event", "OFFSET is not supported"),
        ("SELECT 1; SELECT 2", "mismatched input 'SELECT' expecting <EOF>"),
        ("SELECT 1 SETTINGS max_execution_time = 100", "Unsupported: SelectStmt.settingsClause"),
        ("INSERT INTO events VALUES (1)", "Syntax error at position 0: mismatched input 'INSERT'"),
        ("SELECT 1 +", "Syntax error"),
        # arities from PostHog's catalog, the intersection of both generations
        (
            "SELECT JSONExtractArrayRaw(properties) FROM events",
            "Function 'JSONExtractArrayRaw' expects at least 2 arguments, found 1",
        ),
        ("SELECT JSONExtractRaw('{}') FROM events", "'JSONExtractRaw' expects at least 2"),
        ("SELECT if(1, 2)", "Function 'if' expects 3 arguments, found 2"),
        ("SELECT toFloat('1', '2')", "Function 'toFloat' expects 1 argument, found 2"),
        ("SELECT countIf(1, 2, 3)", "Function 'countIf' expects at most 2 arguments, found 3"),
    ],
)
def test_refused_queries(standin: StandIn, query: str, detail: str) -> None:
    response = post(standin, query)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert detail in body["detail"]


def test_unknown_function_suggests_a_near_name(standin: StandIn) -> None:
    body = post(standin, "SELECT JSONExtractStrin(properties, 'a') FROM events").json()
    assert body["code"] == "hogql_query_error"
    assert body["detail"] == (
        "Unsupported function call 'JSONExtractStrin(...)'. "
        "Perhaps you meant 'JSONExtractString(...)'?"
    )


def test_hogql_renamed_functions_run_as_posthog_prints_them(standin: StandIn) -> None:
    body = post(
        standin,
        "SELECT toFloat('1.5'), toFloat('x'), toInt('42'), toInt('12.5'), "
        "parseDateTimeBestEffort('2026-11-15T00:15:03.104+02:00'), COUNT(), isnull(NULL)",
    ).json()
    assert body["results"] == [[1.5, None, 42, None, "2026-11-14T22:15:03.104000Z", 1, 1]]
    assert "accurateCastOrNull('1.5', 'Float64')" in body["clickhouse"]
    assert (
        "parseDateTime64BestEffortOrNull('2026-11-15T00:15:03.104+02:00', 6, 'UTC')"
        in (body["clickhouse"])
    )


def test_property_access_prints_as_posthog_does(standin: StandIn) -> None:
    body = post(
        standin,
        "SELECT uuid, properties.$ai_trace_id AS trace, properties.$ai_is_error AS error, "
        "toFloat(properties.$ai_total_cost_usd) AS cost, properties.$nope AS missing "
        "FROM events ORDER BY uuid",
    ).json()
    assert property_access("events.properties", ["$ai_trace_id"]) == (
        "replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, '$ai_trace_id'), ''), "
        "'null'), '^\"|\"$', '')"
    )
    assert property_access("events.properties", ["$ai_trace_id"]) in body["clickhouse"]
    assert "accurateCastOrNull(replaceRegexpAll(" in body["clickhouse"]
    by_uuid = {r["uuid"]: r["properties"] for r in ROWS}
    assert len(body["results"]) == 100
    for uuid_, trace, error, cost, missing in body["results"]:
        props = by_uuid[uuid_]
        assert trace == props["$ai_trace_id"]
        # the JSON text without its quotes: JSON true and the string "true" read alike
        assert error == str(props["$ai_is_error"]).lower()
        assert cost == float(props["$ai_total_cost_usd"]) and missing is None


def test_events_are_stored_as_posthogs_sharded_events(standin: StandIn) -> None:
    # posthog/models/event/sql.py (EVENTS_TABLE_SQL): bounds on timestamp and event
    # prune granules through this key, as they do in PostHog.
    table = standin.engine.execute(
        "SELECT partition_key, sorting_key FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'events'",
        max_execution_time=10,
    ).rows
    assert table == [
        [
            "toYYYYMM(timestamp)",
            "team_id, toDate(timestamp), event, cityHash64(distinct_id), cityHash64(uuid)",
        ]
    ]
    codecs = standin.engine.execute(
        "SELECT compression_codec FROM system.columns "
        "WHERE database = currentDatabase() AND table = 'events' AND name = 'properties'",
        max_execution_time=10,
    ).rows
    assert codecs == [["CODEC(ZSTD(3))"]]


def test_a_materialized_property_is_read_from_its_column() -> None:
    query = (
        "SELECT properties.$ai_trace_id AS t, properties.$ai_latency AS l FROM events "
        "WHERE properties.$ai_trace_id IN ('trace-001', 'trace-002') ORDER BY t, l LIMIT 1000"
    )
    with StandIn(ROWS, materialized=["$ai_trace_id"]) as s:
        body = s.run(query)
    sql = body["clickhouse"]
    # read bare, as PostHog reads its Nullable, bloom-indexed $ai_* columns
    assert "(events.`mat_$ai_trace_id` IN tuple(" in sql and "'$ai_trace_id'" not in sql
    assert property_access("events.properties", ["$ai_latency"]) in sql
    wanted = [
        r["properties"]
        for r in ROWS
        if r["properties"]["$ai_trace_id"] in {"trace-001", "trace-002"}
    ]
    assert body["results"] == sorted([p["$ai_trace_id"], str(p["$ai_latency"])] for p in wanted)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT e.properties.$ai_trace_id AS t FROM events AS e ORDER BY t",
        "SELECT t FROM (SELECT properties.$ai_trace_id AS t FROM events) ORDER BY t",
    ],
)
def test_property_access_through_aliases_and_subqueries(standin: StandIn, query: str) -> None:
    body = post(standin, query + " LIMIT 1000").json()
    assert [r[0] for r in body["results"]] == sorted(r["properties"]["$ai_trace_id"] for r in ROWS)


def test_timestamps_in_the_project_timezone_unless_told_not_to() -> None:
    first = min(ROWS, key=lambda r: r["timestamp"])
    instant = dt.datetime.fromisoformat(first["timestamp"])
    cutoff = "2026-11-12 00:00:00.000000"
    after = sum(dt.datetime.fromisoformat(r["timestamp"]) >= CUTOFF for r in ROWS)
    query = (
        "SELECT min(timestamp) AS first, countIf(timestamp >= toDateTime64({cutoff}, 6, 'UTC')) "
        "AS n, parseDateTimeBestEffort('2026-11-15 00:00:00') AS local, "
        "parseDateTimeBestEffort('2026-11-15 00:00:00', 'UTC') AS utc FROM events"
    )
    with StandIn(ROWS, timezone="Asia/Kolkata") as s:
        converted = post(s, query, {"cutoff": cutoff}).json()
        kept = CLIENT.post(
            s.query_url,
            headers=s.auth_headers,
            json={
                "query": {
                    "kind": "HogQLQuery",
                    "query": query,
                    "values": {"cutoff": cutoff},
                    "modifiers": {"convertToProjectTimezone": False},
                }
            },
        ).json()
    assert converted["timezone"] == "Asia/Kolkata"
    assert "toTimeZone(events.timestamp, 'Asia/Kolkata')" in converted["clickhouse"]
    assert "toTimeZone" not in kept["clickhouse"]
    kolkata = ZoneInfo("Asia/Kolkata")
    (first_local, n, local, utc), (first_utc, n_utc, local2, utc2) = (
        converted["results"][0],
        kept["results"][0],
    )
    # the same instants, written in the project's zone or in UTC
    assert first_local == instant.astimezone(kolkata).isoformat()
    assert first_utc == instant.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    assert n == n_utc == after
    # a time without an offset is read in the project's timezone unless one is named
    assert local == local2 == "2026-11-15T00:00:00+05:30"
    assert utc == utc2 == "2026-11-15T00:00:00.000000Z"


CUTOFF = dt.datetime(2026, 11, 12, tzinfo=dt.timezone.utc)


def test_extra_functions_opt_in() -> None:
    with StandIn(ROWS[:5], extra_functions={"quantileExactInclusive"}) as s:
        body = post(
            s, "SELECT quantileExactInclusive(0.5)(x) FROM (SELECT arrayJoin([1.0, 2.0, 4.0]) AS x)"
        ).json()
        assert body["results"] == [[2.0]]


def test_clickhouse_errors_are_400_with_the_message(standin: StandIn) -> None:
    syntax = post(standin, "SELECT 1 +").json()
    assert syntax["code"] == "hogql_syntax_error" and "Syntax error" in syntax["detail"]
    typed = post(standin, "SELECT JSONExtractString(42, 'a')").json()
    assert typed["code"] == "illegal_type_of_argument"
    assert not typed["detail"].startswith("Code:")


def test_max_execution_time_is_enforced() -> None:
    with StandIn(ROWS, max_execution_time=0.3) as s:
        response = post(
            s,
            "SELECT count() FROM events a CROSS JOIN events b CROSS JOIN events c "
            "CROSS JOIN events d WHERE a.uuid != b.uuid AND c.uuid != d.uuid",
        )
    assert response.status_code == 400
    assert response.json()["code"] == "timeout_exceeded"


# -- auth --------------------------------------------------------------------------------


def test_auth_errors(standin: StandIn) -> None:
    body = hogql("SELECT 1")
    missing = CLIENT.post(standin.query_url, json=body)
    assert missing.status_code == 401
    assert missing.json()["type"] == "authentication_error"
    wrong = CLIENT.post(standin.query_url, json=body, headers={"Authorization": "Bearer phx_no"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "authentication_failed")
    other = CLIENT.post(
        f"{standin.url}/api/projects/999/query/", json=body, headers=standin.auth_headers
    )
    assert other.status_code == 404


def test_missing_scope_is_a_403_naming_it() -> None:
    with StandIn(ROWS[:5], scopes=["llm_analytics:read"]) as s:
        denied = post(s, "SELECT 1")
        assert denied.status_code == 403
        assert denied.json()["detail"] == "API key missing required scope 'query:read'"
        assert CLIENT.get(s.jobs_url, headers=s.auth_headers).status_code == 200
    with StandIn(ROWS[:5], scopes=["query:read"]) as s:
        denied = CLIENT.get(s.jobs_url, headers=s.auth_headers)
        assert denied.status_code == 403
        assert "'llm_analytics:read'" in denied.json()["detail"]


def test_environments_path_and_method_checks(standin: StandIn) -> None:
    url = f"{standin.url}/api/environments/{PID}/query/"
    assert CLIENT.post(url, headers=standin.auth_headers, json=hogql("SELECT 1")).status_code == 200
    assert CLIENT.get(standin.query_url, headers=standin.auth_headers).status_code == 405
    bad_json = CLIENT.post(standin.query_url, headers=standin.auth_headers, content=b"{nope")
    assert (bad_json.status_code, bad_json.json()["code"]) == (400, "parse_error")


# -- faults ------------------------------------------------------------------------------


def test_429_carries_retry_after_and_is_consumed(fresh: StandIn) -> None:
    fresh.inject("429", times=2, retry_after=7)
    for _ in range(2):
        response = post(fresh, "SELECT 1")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert response.json()["type"] == "throttled_error"
    assert post(fresh, "SELECT 1").status_code == 200
    assert fresh.faults_fired == [("429", f"/api/projects/{PID}/query/")] * 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(fresh: StandIn, status: int) -> None:
    fresh.inject(status)
    response = post(fresh, "SELECT 1")
    assert response.status_code == status
    if status == 500:
        assert response.json()["type"] == "server_error"
    else:  # what a load balancer sends: not JSON
        assert response.headers["content-type"] == "text/html"
    assert post(fresh, "SELECT 1").status_code == 200


def test_slow_answer_trips_a_client_timeout(fresh: StandIn) -> None:
    fresh.inject("slow", seconds=30)
    with pytest.raises(httpx.ReadTimeout):
        CLIENT.post(
            fresh.query_url, headers=fresh.auth_headers, json=hogql("SELECT 1"), timeout=0.2
        )
    assert fresh.pending_faults() == []
    # closing the stand-in (fixture teardown) wakes the sleeping handler


def test_dropped_connection(fresh: StandIn) -> None:
    fresh.inject("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        post(fresh, "SELECT 1")
    assert fresh.requests[-1].status == 0
    assert post(fresh, "SELECT 1").status_code == 200


def test_malformed_body(fresh: StandIn) -> None:
    fresh.inject("malformed")
    response = post(fresh, "SELECT 1")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_truncated_body(fresh: StandIn) -> None:
    fresh.inject("truncated")  # Content-Length promises more than arrives
    with pytest.raises(httpx.RemoteProtocolError):
        post(fresh, "SELECT uuid FROM events")
    fresh.inject("truncated", full_length=False, fraction=0.3)  # a complete, cut body
    response = post(fresh, "SELECT uuid FROM events")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_faults_target_endpoints_and_query_names(fresh: StandIn) -> None:
    fresh.inject("500", query_name="baseline")
    fresh.inject("503", endpoint="jobs")
    assert post(fresh, "SELECT 1", name="latest").status_code == 200
    assert CLIENT.get(fresh.jobs_url, headers=fresh.auth_headers).status_code == 503
    assert post(fresh, "SELECT 1", name="baseline").status_code == 500
    assert fresh.pending_faults() == []
    with pytest.raises(ValueError, match="unknown fault"):
        fresh.inject("418")  # type: ignore[arg-type]


# -- async -------------------------------------------------------------------------------


def test_202_then_poll_until_complete(fresh: StandIn) -> None:
    sync = post(fresh, "SELECT count() FROM events").json()
    fresh.inject("202", polls=2)
    started = post(fresh, "SELECT count() FROM events")
    assert started.status_code == 202
    status = started.json()["query_status"]
    assert status["complete"] is False
    poll_url = f"{fresh.query_url}{status['id']}/"
    for _ in range(2):
        waiting = CLIENT.get(poll_url, headers=fresh.auth_headers)
        assert waiting.status_code == 202 and waiting.json()["query_status"]["complete"] is False
    done = CLIENT.get(poll_url, headers=fresh.auth_headers)
    assert done.status_code == 200
    final = done.json()["query_status"]
    assert final["complete"] is True and final["error"] is False
    assert final["results"]["results"] == sync["results"] == [[30]]
    assert final["results"]["columns"] == sync["columns"]


def test_refresh_async_and_failed_async_query(fresh: StandIn) -> None:
    started = post(fresh, "SELECT 1", refresh="async", client_query_id="mine")
    assert started.status_code == 202
    assert started.json()["query_status"]["id"] == "mine"
    poll_url = f"{fresh.query_url}mine/"
    assert CLIENT.get(poll_url, headers=fresh.auth_headers).status_code == 202
    assert CLIENT.get(poll_url, headers=fresh.auth_headers).json()["query_status"]["results"][
        "results"
    ] == [[1]]

    failed = post(fresh, "SELECT nope()", refresh="force_async")
    poll_url = f"{fresh.query_url}{failed.json()['query_status']['id']}/"
    CLIENT.get(poll_url, headers=fresh.auth_headers)
    result = CLIENT.get(poll_url, headers=fresh.auth_headers)
    assert result.status_code == 400
    status = result.json()["query_status"]
    assert status["error"] is True and "Unsupported function call" in status["error_message"]
    assert CLIENT.get(f"{fresh.query_url}nope/", headers=fresh.auth_headers).status_code == 404


# -- clustering jobs ---------------------------------------------------------------------


def test_clustering_jobs_paginate(standin: StandIn) -> None:
    url: str | None = f"{standin.jobs_url}?limit=2"
    seen: list[dict[str, Any]] = []
    pages = 0
    while url:
        page = CLIENT.get(url, headers=standin.auth_headers).json()
        assert page["count"] == len(JOBS)
        seen.extend(page["results"])
        url = page["next"]
        pages += 1
        assert url is None or url.startswith(standin.url)
    assert seen == JOBS and pages == 3
    last = CLIENT.get(f"{standin.jobs_url}?limit=2&offset=4", headers=standin.auth_headers).json()
    assert last["previous"] == f"{standin.jobs_url}?limit=2&offset=2"
    default = CLIENT.get(standin.jobs_url, headers=standin.auth_headers).json()
    assert default["results"] == JOBS and default["next"] is None


def test_small_default_page_size() -> None:
    with StandIn([], clustering_jobs=JOBS, jobs_page_size=2) as s:
        page = CLIENT.get(s.jobs_url, headers=s.auth_headers).json()
        assert len(page["results"]) == 2
        assert page["next"] == f"{s.jobs_url}?limit=2&offset=2"


# -- the request log, threads, coexistence -----------------------------------------------


def test_request_log_counts_bytes(fresh: StandIn) -> None:
    fresh.clear_log()
    response = post(fresh, "SELECT uuid FROM events", name="llmc-latest")
    jobs = CLIENT.get(fresh.jobs_url, headers=fresh.auth_headers)
    assert len(fresh.requests) == 2
    method, path, sent, received, status, name, refresh, modifiers = fresh.requests[0]
    assert (method, path, status, name, refresh, modifiers) == (
        "POST",
        f"/api/projects/{PID}/query/",
        200,
        "llmc-latest",
        None,
        None,
    )
    assert sent == len(response.request.content) and received == len(response.content)
    assert fresh.requests[1].response_bytes == len(jobs.content)
    assert fresh.query_requests() == fresh.requests[:1]


def test_concurrent_requests_and_two_stand_ins(standin: StandIn) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            body = post(standin, "SELECT {i} + count() FROM events", {"i": i}).json()
            results.append(body["results"][0][0] - i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    with StandIn(ROWS[:3]) as other:  # a second stand-in while the first one serves
        assert post(other, "SELECT count() FROM events").json()["results"] == [[3]]
    for t in threads:
        t.join()
    assert not errors and results == [len(ROWS)] * 8


# -- the translator directly -------------------------------------------------------------


def test_translate_adds_the_default_limit_to_the_outer_select_only() -> None:
    tr = translate("SELECT 1 FROM (SELECT 2 LIMIT 3) -- a comment", None)
    assert tr.clickhouse == "SELECT 1 FROM (SELECT 2 LIMIT 3) LIMIT 101"
    assert tr.page_size == 100


def test_translate_wraps_a_non_constant_limit() -> None:
    tr = translate("SELECT 1 FROM events LIMIT 10 * 10000", None, max_limit=50_000)
    assert tr.clickhouse.endswith("LIMIT min2(50000, (10 * 10000))")


# -- bounded scans -------------------------------------------------------------------------

BOUND = "timestamp >= toDateTime64('2026-11-01 00:00:00', 6, 'UTC')"


@pytest.mark.parametrize(
    ("query", "bounded"),
    [
        ("SELECT count() FROM events", [False]),
        (f"SELECT count() FROM events WHERE {BOUND}", [False]),  # no event filter
        ("SELECT count() FROM events WHERE event = '$ai_span'", [False]),  # no time bound
        (f"SELECT count() FROM events WHERE event = '$ai_span' AND {BOUND}", [True]),
        (f"SELECT count() FROM events AS e WHERE e.event IN ('a', 'b') AND e.{BOUND}", [True]),
        # an upper bound alone still reads all history
        (
            "SELECT count() FROM events WHERE event = 'a' "
            "AND timestamp < toDateTime64('2026-11-01 00:00:00', 6, 'UTC')",
            [False],
        ),
        (
            "SELECT count() FROM events WHERE event = 'a' "
            f"AND ({BOUND} OR (timestamp > now() AND uuid = uuid))",
            [True],
        ),
        (
            f"SELECT count() FROM events WHERE event = 'a' AND ({BOUND} OR uuid = uuid)",
            [False],
        ),
        # every SELECT reading events counts, wherever it is
        (
            f"WITH b AS (SELECT uuid FROM events WHERE event = 'a' AND {BOUND}) "
            "SELECT count() FROM b WHERE uuid IN (SELECT uuid FROM events)",
            [True, False],
        ),
    ],
)
def test_scans_of_events_are_recorded_bounded_or_not(query: str, bounded: list[bool]) -> None:
    assert [scan.bounded for scan in translate(query, None).scans] == bounded


def test_an_unbounded_scan_is_logged_by_name(fresh: StandIn) -> None:
    post(fresh, "SELECT count() FROM events", name="llmc-bad")
    post(fresh, f"SELECT count() FROM events WHERE event = 'a' AND {BOUND}", name="llmc-good")
    assert fresh.unbounded_scans == [
        "llmc-bad: a scan of events without a timestamp bound and an event filter"
    ]
    assert fresh.unbounded_scans == OFFENCES


def test_calls_without_a_known_arity_are_logged(fresh: StandIn) -> None:
    post(fresh, "SELECT lcm(4, 6)", name="llmc-q")
    assert fresh.unchecked_calls == ["llmc-q: lcm(...) has no arity in standin.catalog"]


# -- the request body, as PostHog's QueryRequest validates it ----------------------------


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ({"cache": True}, "QueryRequest\ncache\n  Extra inputs are not permitted"),
        ({"refresh": "sometimes"}, "refresh\n  Input should be one of"),
        ({"modifiers": {"convertToProjectTimezone": False}}, "modifiers\n  Extra inputs"),
    ],
)
def test_unknown_request_fields_are_refused(
    standin: StandIn, extra: dict[str, Any], detail: str
) -> None:
    response = post(standin, "SELECT 1", **extra)
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error" and detail in response.json()["detail"]


@pytest.mark.parametrize(
    ("node", "detail"),
    [
        ({"refresh": "force_blocking"}, "HogQLQuery\nrefresh\n  Extra inputs"),
        ({"modifiers": {"convertToUTC": False}}, "HogQLQueryModifiers\nconvertToUTC"),
        ({"modifiers": {"convertToProjectTimezone": "no"}}, "Input should be a valid boolean"),
    ],
)
def test_unknown_query_fields_and_modifiers_are_refused(
    standin: StandIn, node: dict[str, Any], detail: str
) -> None:
    body = hogql("SELECT 1")
    body["query"].update(node)
    response = CLIENT.post(standin.query_url, headers=standin.auth_headers, json=body)
    assert response.status_code == 400 and detail in response.json()["detail"]


def test_the_fields_a_gate_sends_are_accepted_and_logged(fresh: StandIn) -> None:
    body = hogql("SELECT 1", refresh="force_blocking", name="llmc-x")
    body["query"]["modifiers"] = {"convertToProjectTimezone": False}
    response = CLIENT.post(fresh.query_url, headers=fresh.auth_headers, json=body)
    assert response.status_code == 200 and response.json()["modifiers"] == {
        "convertToProjectTimezone": False
    }
    record = fresh.requests[-1]
    assert (record.refresh, record.modifiers) == (
        "force_blocking",
        {"convertToProjectTimezone": False},
    )


# -- PostHog's refusals of expensive queries ----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "status", "text"),
    [
        ("504", {}, 504, "Query has hit the max execution time"),
        ("504", {"cause": "memory"}, 504, "Query has reached the max memory limit"),
        ("512", {}, 512, "Estimated query execution time is too long"),
        ("513", {}, 513, "Query has reached the max memory limit"),
        ("402", {}, 402, "query quota"),
    ],
)
def test_expensive_query_refusals(
    fresh: StandIn, kind: Any, params: dict[str, Any], status: int, text: str
) -> None:
    fresh.inject(kind, **params)
    response = post(fresh, "SELECT 1")
    assert response.status_code == status and text in response.json()["detail"]
    assert post(fresh, "SELECT 1").status_code == 200
