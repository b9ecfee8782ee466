"""The live source against the PostHog stand-in: request budget, faults, auth, injection.

Waits go through an injected `sleep` that records instead of sleeping, so retry and
backoff policies are asserted, not endured. Only client timeouts take real time.
"""

from __future__ import annotations

import copy
import email.utils
import json
import random
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import Capture
from pydantic import SecretStr
from standin import StandIn
from standin.checks import bounded_scans  # noqa: F401  (autouse: unbounded scans fail)

from llmc_checks.config import PostHogSource as PostHogConfig
from llmc_checks.model import (
    MEASURES,
    STAT_FIELDS,
    BaselineRequest,
    DataError,
    LlmcError,
    Loaded,
    NoRunFound,
    RunRequest,
    SourceError,
)
from llmc_checks.sources import _hogql
from llmc_checks.sources.posthog import MAX_RETRY_AFTER_S, PostHogSource
from llmc_checks.sources.snapshot import SnapshotSource
from llmc_checks.synth import DEFAULT_JOB_ID, Job, Scenario, generate, write_rows

KEY = "phx_live_SECRET_k3y_0123456789"
PID = 1
GEN_JOB = Job("generation", "gen-job-1", "Default - generations")
EVAL = Job("evaluation", "eval-job", "Default - evaluations")
JOBS = [
    {"id": DEFAULT_JOB_ID, "name": "Default - traces", "analysis_level": "trace"},
    {"id": "gen-job-1", "name": "Default - generations", "analysis_level": "generation"},
    {"id": "job-2", "name": "Nightly evals", "analysis_level": "evaluation"},
    {"id": "job-3", "name": "Support traces", "analysis_level": "trace"},
    {"id": "job-4", "name": "Old experiment", "analysis_level": "trace"},
]
PREVIOUS = BaselineRequest("previous")
MEDIAN_3 = BaselineRequest("median_of", count=3)
GATE = RunRequest(
    level="trace",
    job=None,
    lookback=timedelta(days=14),
    stats=frozenset(STAT_FIELDS),
    baselines=(PREVIOUS,),
)
# What a --llmc-wait poll asks: no stats, no baselines, cheap.
PLAIN = RunRequest(level="trace", job=None, lookback=timedelta(days=14))

SMALL = generate(
    Scenario(seed=2, days=4, traces_per_day=50, max_samples=100, extra_jobs=(GEN_JOB,))
)
NOW = max(r.window_end for r in SMALL.runs) + timedelta(hours=2)


class Sleeps(list[float]):
    """The injected sleep: records what it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_source(
    s: StandIn,
    *,
    key: str = KEY,
    # Generous: PostHog's parser takes about a second per new query text (the stand-in
    # runs it too), and these tests share the CPU; fault tests set their own.
    timeout_s: float = 60.0,
    now: datetime = NOW,
    transport: httpx.BaseTransport | None = None,
) -> tuple[PostHogSource, Sleeps]:
    sleeps = Sleeps()
    config = PostHogConfig(host=s.url, project_id=PID, api_key=key, timeout_s=timeout_s)
    source = PostHogSource(
        config, sleep=sleeps, clock=lambda: now, rng=random.Random(7), transport=transport
    )
    return source, sleeps


def assert_safe(exc: BaseException) -> None:
    """The key never shows, and no httpx exception (which holds the request) is chained."""
    assert KEY not in str(exc) and KEY not in repr(exc)
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A stand-in of its own, for tests that queue faults."""
    with StandIn(SMALL.rows, api_key=KEY, project_id=PID, clustering_jobs=JOBS) as s:
        yield s


@pytest.fixture(scope="module")
def _shared() -> Iterator[StandIn]:
    with StandIn(SMALL.rows, api_key=KEY, project_id=PID, clustering_jobs=JOBS) as s:
        yield s


@pytest.fixture
def shared(_shared: StandIn) -> StandIn:
    """One stand-in for the fault-free tests, its request log cleared for each."""
    assert _shared.pending_faults() == []
    _shared.clear_log()
    return _shared


@pytest.fixture(scope="module")
def expected() -> dict[RunRequest, Loaded]:
    """What a fault-free gate loads: every fault must end here or in an error."""
    with StandIn(SMALL.rows, api_key=KEY, project_id=PID) as s:
        source, _ = make_source(s)
        return {request: source.load(request) for request in (GATE, PLAIN)}


# -- the request budget --------------------------------------------------------------------

MEASURED: dict[tuple[int, bool], list[int]] = {}


@pytest.fixture(scope="module", params=[100, 10_000], ids=["100-items", "10000-items"])
def sized(request: pytest.FixtureRequest) -> Iterator[tuple[int, StandIn, datetime]]:
    items = int(request.param)
    scenario = Scenario(
        seed=4, days=2, traces_per_day=max(40, items // 6), max_samples=items, baked_metrics=False
    )
    synth = generate(scenario)
    assert synth.latest().items_analyzed == items
    with StandIn(synth.iter_rows(), api_key=KEY, project_id=PID) as s:
        yield items, s, max(r.window_end for r in synth.runs) + timedelta(hours=1)


@pytest.mark.parametrize("need_items", [False, True], ids=["no-items", "items"])
def test_at_most_two_queries_per_gate_whatever_the_size(
    sized: tuple[int, StandIn, datetime], need_items: bool
) -> None:
    items, s, now = sized
    source, sleeps = make_source(s, now=now)
    request = RunRequest(
        level="trace",
        job="Default - traces",
        lookback=timedelta(days=14),
        stats=frozenset(STAT_FIELDS),
        baselines=(PREVIOUS, MEDIAN_3, BaselineRequest("run_id", run_id="nope")),
        need_items=need_items,
        # Evidence as a gate asks for it by default: it rides in query 1.
        evidence=3,
        evidence_measures=frozenset(MEASURES),
    )
    s.clear_log()
    loaded = source.load(request)
    assert loaded.latest.items_analyzed == items
    pools = [len(c.candidates) for c in loaded.latest.clusters]
    assert all(pools) and max(pools) <= 3 * (1 + len(MEASURES))
    queries = s.query_requests()
    assert [r.name for r in queries] == ["llmc-latest", "llmc-baselines"]
    assert all(r.status == 200 for r in queries) and sleeps == []
    assert s.requests == queries  # the job matched in the query: no jobs request
    MEASURED[(items, need_items)] = [r.response_bytes for r in queries]
    CANDIDATES[(items, need_items)] = sum(pools)


CANDIDATES: dict[tuple[int, bool], int] = {}


def test_response_bytes_follow_clusters_not_items() -> None:
    if len(MEASURED) < 4:
        pytest.skip("needs the request-budget tests of both sizes")
    small, big = MEASURED[(100, False)], MEASURED[(10_000, False)]
    # 100x the items, (about) the same bytes; query 1 also carries evidence, whose pools
    # the small run's clusters cannot all fill (bounded by clusters x kinds x k).
    more = CANDIDATES[(10_000, False)] - CANDIDATES[(100, False)]
    assert big[0] < small[0] * 1.1 + more * 250  # well under 250 bytes per candidate
    assert big[1] < small[1] * 1.1
    # Item ids cross the network only when matching needs them (each id is a
    # 36-character trace id; the answers also echo the query texts, a constant).
    assert MEASURED[(10_000, True)][0] - MEASURED[(10_000, False)][0] > 10_000 * 36


# History (trend lines) rides in query 2: headers and baked metrics of the recent runs.
HISTORY_MEASURED: dict[tuple[int, bool], list[int]] = {}


@pytest.mark.parametrize("baselines", [False, True], ids=["trends-only", "with-baselines"])
def test_history_costs_no_extra_query_whatever_the_size(
    sized: tuple[int, StandIn, datetime], baselines: bool
) -> None:
    items, s, now = sized
    source, sleeps = make_source(s, now=now)
    request = RunRequest(
        level="trace",
        job="Default - traces",
        lookback=timedelta(days=14),
        stats=frozenset(STAT_FIELDS),
        baselines=(PREVIOUS, MEDIAN_3) if baselines else (),
        need_items=True,  # the latest's (and baselines') item ids; never the trend runs'
        history=8,
    )
    s.clear_log()
    loaded = source.load(request)
    queries = s.query_requests()
    assert [r.name for r in queries] == ["llmc-latest", "llmc-baselines"]
    assert all(r.status == 200 for r in queries) and sleeps == []
    assert s.requests == queries
    assert len(loaded.history) == 2  # the scenario's two runs, oldest first
    assert loaded.history[-1].run_id == loaded.latest.run_id
    assert loaded.history[0].window_end < loaded.latest.window_end
    assert all(c.item_ids == () and c.stats is None for r in loaded.history for c in r.clusters)
    HISTORY_MEASURED[(items, baselines)] = [r.response_bytes for r in queries]


def test_history_bytes_follow_clusters_not_items() -> None:
    if len(HISTORY_MEASURED) < 4:
        pytest.skip("needs the history tests of both sizes")
    small, big = HISTORY_MEASURED[(100, False)], HISTORY_MEASURED[(10_000, False)]
    # Trends only: query 2 answers cluster headers, though the gate wants item ids.
    assert big[1] < small[1] * 1.1
    # Query 1 is the latest run with its item ids, as without history.
    assert big[0] - small[0] > 9_900 * 36


def test_no_history_no_trend_text(shared: StandIn) -> None:
    capture = Capture()
    source, _ = make_source(shared, transport=capture)
    assert source.load(GATE).history == ()
    assert len(capture.bodies) == 2
    for body in capture.bodies:
        assert "history" not in body["query"]["values"]
        assert "trend AS" not in body["query"]["query"]
    capture.bodies.clear()
    loaded = source.load(replace(GATE, history=3))
    assert len(capture.bodies) == 2 and capture.bodies[1]["query"]["values"]["history"] == 3
    assert [r.run_id for r in loaded.history] == [
        r.run_id for r in sorted(SMALL.runs, key=lambda r: r.window_end) if r.level == "trace"
    ][-3:]


def test_a_gate_without_baselines_is_one_query(shared: StandIn, expected: Any) -> None:
    source, _ = make_source(shared)
    assert source.load(PLAIN) == expected[PLAIN]
    assert [r.name for r in shared.requests] == ["llmc-latest"]


def test_loaded_now_is_the_clock(shared: StandIn) -> None:
    source, _ = make_source(shared, now=NOW + timedelta(minutes=3))
    assert source.load(PLAIN).now == NOW + timedelta(minutes=3)


# -- placeholders, never formatting --------------------------------------------------------

HOSTILE = [
    "x' OR '1'='1",
    "') OR ('1'='1",
    "'; SELECT 1; --",
    "a\\' OR 1=1 --",
    "\\",
    "{level}",
    "{x}",
    "*/ OR 1=1 /*",
    "-- comment",
    '" OR ""="',
    "Default - traces' OR job_name != '",
]


def test_user_values_travel_as_placeholders(shared: StandIn) -> None:
    capture = Capture()
    source, _ = make_source(shared, transport=capture)
    request = RunRequest(
        level="trace",
        job="Default - traces",
        lookback=timedelta(days=14),
        run_id=SMALL.latest("trace").run_id,
        baselines=(BaselineRequest("run_id", run_id="run-x"),),
    )
    source.load(request)
    assert len(capture.bodies) == 2
    for body in capture.bodies:
        text = body["query"]["query"]
        assert "run-x" not in text and SMALL.latest("trace").run_id not in text
        assert "Default - traces" not in text
    assert capture.bodies[0]["query"]["values"]["run_id"] == request.run_id
    assert capture.bodies[1]["query"]["values"]["baseline_0"] == "run-x"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_run_id_finds_nothing(shared: StandIn, value: str) -> None:
    source, _ = make_source(shared)
    with pytest.raises(NoRunFound, match="not found") as info:
        source.load(RunRequest(level="trace", job=None, lookback=timedelta(days=14), run_id=value))
    assert len(shared.requests) == 1
    assert_safe(info.value)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_job_matches_nothing(shared: StandIn, value: str) -> None:
    source, _ = make_source(shared)
    request = RunRequest(level="trace", job=value, lookback=timedelta(days=14))
    with pytest.raises(DataError, match="no clustering job named") as info:
        source.load(request)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_baseline_run_id_is_no_baseline(shared: StandIn, value: str, expected: Any) -> None:
    source, _ = make_source(shared)
    spec = BaselineRequest("run_id", run_id=value)
    loaded = source.load(
        RunRequest(level="trace", job=None, lookback=timedelta(14), baselines=(spec,))
    )
    assert loaded.baselines == {spec: ()}
    assert loaded.latest == expected[PLAIN].latest


# -- runs, jobs and "nothing yet" ----------------------------------------------------------


def test_no_run_yet_is_NoRunFound_after_one_request(shared: StandIn) -> None:
    source, _ = make_source(shared, now=NOW + timedelta(days=30))
    with pytest.raises(NoRunFound, match="no trace-level run with a window ending after"):
        source.load(RunRequest(level="trace", job=None, lookback=timedelta(days=1)))
    assert [r.name for r in shared.requests] == ["llmc-latest"]


def test_no_run_of_a_known_job_lists_jobs_once(shared: StandIn) -> None:
    source, _ = make_source(shared, now=NOW + timedelta(days=30))
    request = RunRequest(level="trace", job="Support traces", lookback=timedelta(days=1))
    for _ in range(2):  # as --llmc-wait polls: the job list is fetched once
        with pytest.raises(NoRunFound, match="of job 'Support traces'"):
            source.load(request)
    assert [r.name or r.path.split("/")[-2] for r in shared.requests] == [
        "llmc-latest",
        "clustering_jobs",
        "llmc-latest",
    ]


def test_an_unknown_job_is_a_data_error_naming_every_job() -> None:
    # A misspelt job must stop --llmc-wait at once (DataError), not poll for an hour.
    with StandIn(SMALL.rows, api_key=KEY, clustering_jobs=JOBS, jobs_page_size=2) as s:
        source, _ = make_source(s)
        with pytest.raises(DataError) as info:
            source.load(RunRequest(level="trace", job="Default - trcae", lookback=timedelta(14)))
    assert not isinstance(info.value, NoRunFound)
    for job in JOBS:  # three pages, all followed
        assert str(job["name"]) in str(info.value)


def test_an_unknown_job_names_the_jobs_with_ids_and_a_near_miss() -> None:
    with StandIn(SMALL.rows, api_key=KEY, clustering_jobs=JOBS) as s:
        source, _ = make_source(s)
        with pytest.raises(DataError) as info:
            source.load(RunRequest(level="trace", job="Default - trace", lookback=timedelta(14)))
    message = str(info.value)
    assert f"Default - traces (trace, id {DEFAULT_JOB_ID})" in message
    assert "Nightly evals (evaluation, id job-2)" in message
    assert message.endswith("; did you mean 'Default - traces'?")


def test_a_disabled_job_without_a_recent_run_says_so() -> None:
    paused = {"id": "job-9", "name": "Paused traces", "analysis_level": "trace", "enabled": False}
    with StandIn(SMALL.rows, api_key=KEY, clustering_jobs=[*JOBS, paused]) as s:
        source, _ = make_source(s, now=NOW + timedelta(days=30))
        request = RunRequest(level="trace", job="Paused traces", lookback=timedelta(days=1))
        with pytest.raises(NoRunFound) as info:  # still polled: it may be enabled meanwhile
            source.load(request)
        assert "clustering job 'Paused traces' is disabled in PostHog (enabled: false)" in str(
            info.value
        )
        # An enabled job without a recent run is just not there yet.
        request = RunRequest(level="trace", job="Support traces", lookback=timedelta(days=1))
        with pytest.raises(NoRunFound) as info:
            source.load(request)
        assert "disabled" not in str(info.value)
        # Listing it among the others marks it.
        with pytest.raises(DataError, match=r"Paused traces \(trace, id job-9, disabled\)"):
            source.load(RunRequest(level="trace", job="Nope", lookback=timedelta(days=1)))


def test_jobs_pages_are_read_from_the_configured_host_only(shared: StandIn) -> None:
    """A `next` link naming http (a self-hosted PostHog behind a TLS proxy builds
    such links) or another host: the page is read from the configured https host,
    so the key never travels in clear text or elsewhere, and the list is whole (it
    had stopped there, and a job on a later page was "no clustering job named")."""
    jobs_path = f"/api/projects/{PID}/llm_analytics/clustering_jobs/"
    pages = {
        "": {"results": JOBS[:2], "next": f"http://eu.posthog.com{jobs_path}?offset=2"},
        "offset=2": {
            "results": JOBS[2:4],
            "next": f"https://elsewhere.example{jobs_path}?offset=4",
        },
        "offset=4": {"results": JOBS[4:], "next": None},
    }
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.method == "POST":  # the query: the stand-in answers it
            headers = {**shared.auth_headers, "Content-Type": "application/json"}
            forwarded = httpx.post(shared.query_url, content=request.content, headers=headers)
            return httpx.Response(forwarded.status_code, content=forwarded.content)
        return httpx.Response(200, json=pages[request.url.query.decode()])

    config = PostHogConfig(host="https://eu.posthog.com", project_id=PID, api_key=KEY)
    source = PostHogSource(
        config,
        sleep=Sleeps(),
        clock=lambda: NOW + timedelta(days=30),
        transport=httpx.MockTransport(answer),
    )
    request = RunRequest(level="trace", job="Old experiment", lookback=timedelta(days=1))
    with pytest.raises(NoRunFound, match="no trace-level run of job 'Old experiment'"):
        source.load(request)  # the job is on the last page: it exists, with no recent run
    assert seen[1:] == [
        f"https://eu.posthog.com{jobs_path}",
        f"https://eu.posthog.com{jobs_path}?offset=2",
        f"https://eu.posthog.com{jobs_path}?offset=4",
    ]


def test_a_job_of_another_level_says_so(shared: StandIn) -> None:
    source, _ = make_source(shared)
    with pytest.raises(DataError, match=r"clusters at the generation level; run\.level is trace"):
        source.load(RunRequest(level="trace", job="Default - generations", lookback=timedelta(14)))


def test_jobs_not_listable_still_means_no_run_yet() -> None:
    with StandIn(SMALL.rows, api_key=KEY, scopes="query:read", clustering_jobs=JOBS) as s:
        source, _ = make_source(s, now=NOW + timedelta(days=30))
        request = RunRequest(level="trace", job="Support traces", lookback=timedelta(days=1))
        with pytest.raises(NoRunFound, match="llm_analytics:read") as info:
            source.load(request)
    assert_safe(info.value)


@pytest.mark.parametrize("job", ["Default - generations", "gen-job-1"])
def test_job_by_name_or_id(shared: StandIn, job: str) -> None:
    source, _ = make_source(shared)
    loaded = source.load(RunRequest(level="generation", job=job, lookback=timedelta(days=14)))
    assert loaded.latest.run_id == SMALL.latest("generation").run_id
    assert loaded.latest.job_id == "gen-job-1"


def test_pinned_run_of_another_level_is_a_data_error(shared: StandIn) -> None:
    source, _ = make_source(shared)
    run_id = SMALL.latest("generation").run_id
    with pytest.raises(DataError, match="is a generation-level run; the config asks for trace"):
        source.load(RunRequest(level="trace", job=None, lookback=timedelta(14), run_id=run_id))


def test_after_selects_only_later_windows(shared: StandIn) -> None:
    source, _ = make_source(shared)
    last = SMALL.latest("trace").window_end
    found = source.load(replace_after(PLAIN, last - timedelta(hours=1)))
    assert found.latest.window_end == last
    with pytest.raises(NoRunFound, match="and after"):
        source.load(replace_after(PLAIN, last))


def replace_after(request: RunRequest, after: datetime) -> RunRequest:
    return RunRequest(level=request.level, job=request.job, lookback=request.lookback, after=after)


# -- faults that recover -------------------------------------------------------------------

HTTP_DATE = email.utils.format_datetime(NOW + timedelta(seconds=30), usegmt=True)


@pytest.mark.parametrize(
    ("kind", "params", "expect_sleeps"),
    [
        ("429", {"retry_after": 7}, [7.0]),
        ("429", {"retry_after": HTTP_DATE}, [pytest.approx(30.0, abs=1.0)]),  # whole seconds
        ("429", {"retry_after": None}, "backoff"),
        ("500", {}, "backoff"),
        ("502", {}, "backoff"),
        ("503", {}, "backoff"),
        ("503", {"retry_after": 2}, [2.0]),
        ("drop", {}, "backoff"),
        ("malformed", {}, "backoff"),
        ("truncated", {}, "backoff"),
        ("truncated", {"full_length": False, "fraction": 0.4}, "backoff"),
        ("202", {"polls": 2}, [0.5, 1.0, 2.0]),
    ],
)
def test_transient_faults_end_in_the_right_result(
    standin: StandIn, expected: Any, kind: Any, params: dict[str, Any], expect_sleeps: Any
) -> None:
    source, sleeps = make_source(standin)
    standin.inject(kind, **params)
    assert source.load(GATE) == expected[GATE]
    assert standin.faults_fired and standin.pending_faults() == []
    if expect_sleeps == "backoff":  # first retry: 0.5-1 s (equal jitter on 1 s)
        assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0
    else:
        assert sleeps == expect_sleeps


def test_a_slow_answer_times_out_and_is_retried(standin: StandIn, expected: Any) -> None:
    source, sleeps = make_source(standin, timeout_s=1.0)
    standin.inject("slow", seconds=20)
    assert source.load(PLAIN) == expected[PLAIN]
    assert len(sleeps) == 1


def test_faults_on_the_second_query_and_on_polls(standin: StandIn, expected: Any) -> None:
    source, sleeps = make_source(standin)
    standin.inject("503", query_name="llmc-baselines")
    standin.inject("202", polls=1, query_name="llmc-baselines")
    standin.inject("502", endpoint="poll")
    assert source.load(GATE) == expected[GATE]
    assert standin.pending_faults() == [] and len(sleeps) == 4  # backoff, poll, backoff, poll

    statuses = [(r.method, r.status) for r in standin.query_requests()]
    assert statuses == [
        ("POST", 200),
        ("POST", 503),
        ("POST", 202),
        ("GET", 502),
        ("GET", 202),
        ("GET", 200),
    ]


# -- faults that do not: an error naming the cause, never a result ---------------------------


def test_retries_run_out_on_503(standin: StandIn) -> None:
    source, sleeps = make_source(standin)
    standin.inject("503", times=4)
    with pytest.raises(SourceError, match="PostHog answered 503 4 times") as info:
        source.load(GATE)
    assert_safe(info.value)
    assert len(standin.requests) == 4
    # Exponential ceilings 1, 2, 4 s with equal jitter: each in [ceiling / 2, ceiling].
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):
        assert 2**attempt / 2 <= slept <= 2**attempt


def test_retries_run_out_on_timeouts(standin: StandIn) -> None:
    source, _ = make_source(standin, timeout_s=0.25)
    standin.inject("slow", times=4, seconds=20)
    with pytest.raises(SourceError, match=r"timed out after 0\.25 s, 4 attempts") as info:
        source.load(PLAIN)
    assert_safe(info.value)


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("drop", "connection failed"),
        ("malformed", "malformed or truncated JSON 4 times"),
        ("truncated", "connection failed"),
        ("429", "rate-limited the query \\(429\\) 4 times"),
    ],
)
def test_retries_run_out(standin: StandIn, kind: Any, cause: str) -> None:
    source, sleeps = make_source(standin)
    standin.inject(kind, times=4)
    with pytest.raises(SourceError, match=cause) as info:
        source.load(PLAIN)
    assert_safe(info.value)
    assert len(sleeps) == 3


def test_mixed_failures_are_all_named(standin: StandIn) -> None:
    source, _ = make_source(standin)
    for kind in ("500", "drop", "malformed", "502"):
        standin.inject(kind)
    with pytest.raises(
        SourceError, match="latest failed 4 times: PostHog answered 500; the"
    ) as info:
        source.load(PLAIN)
    assert str(info.value).endswith("malformed or truncated JSON; PostHog answered 502")


def test_a_long_retry_after_fails_now(standin: StandIn) -> None:
    source, sleeps = make_source(standin)
    standin.inject("429", retry_after=3600)
    with pytest.raises(SourceError, match="asks to retry in 3600 s") as info:
        source.load(PLAIN)
    assert sleeps == [] and len(standin.requests) == 1
    assert str(int(MAX_RETRY_AFTER_S)) in str(info.value)


def test_an_endless_async_query_gives_up(standin: StandIn) -> None:
    source, sleeps = make_source(standin)
    standin.inject("202", polls=1000)
    with pytest.raises(SourceError, match="still running after"):
        source.load(PLAIN)
    assert 150 <= sum(sleeps) <= 200 and max(sleeps) <= 5.0


# -- errors no retry can fix ------------------------------------------------------------------


def test_a_wrong_key_is_401_naming_where_to_fix_it(shared: StandIn) -> None:
    wrong = "phx_wrong_but_also_secret"
    source, sleeps = make_source(shared, key=wrong)
    with pytest.raises(SourceError, match="rejected the personal API key \\(401\\)") as info:
        source.load(PLAIN)
    message = str(info.value)
    assert "POSTHOG_PERSONAL_API_KEY" in message and "query:read" in message
    assert wrong not in message and sleeps == [] and len(shared.requests) == 1


def test_a_missing_scope_is_403_naming_it() -> None:
    with StandIn(SMALL.rows, api_key=KEY, scopes="llm_analytics:read") as s:
        source, sleeps = make_source(s)
        with pytest.raises(SourceError, match="lacks the query:read scope") as info:
            source.load(PLAIN)
    assert "POSTHOG_PERSONAL_API_KEY" in str(info.value) and sleeps == []
    assert_safe(info.value)


def test_a_wrong_project_is_404(shared: StandIn) -> None:
    config = PostHogConfig(host=shared.url, project_id=99, api_key=KEY)
    with pytest.raises(SourceError, match="project_id"):
        PostHogSource(config, sleep=Sleeps()).load(PLAIN)


def test_a_refused_query_shows_the_hogql_message(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        _hogql, "latest_query", lambda *a, **k: _hogql.Query("SELECT nope() FROM events", ())
    )
    source, sleeps = make_source(standin)
    with pytest.raises(SourceError, match=r"\(400\): Unsupported function call 'nope\(...\)'"):
        source.load(PLAIN)
    standin.inject("202", polls=1)  # the same refusal, arriving through a poll
    with pytest.raises(SourceError, match=r"Unsupported function call 'nope\(...\)'"):
        source.load(PLAIN)
    assert sleeps == [0.5, 1.0]


def test_a_result_at_its_limit_is_refused_not_cut(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_hogql, "CLUSTER_ROWS_LIMIT", 3)
    source, _ = make_source(standin)
    with pytest.raises(SourceError, match="returned 3 rows, its limit"):
        source.load(PLAIN)


def test_evaluation_runs_leave_unbaked_stats_unknown() -> None:
    # No AI events to compute p95 from: the load succeeds and p95 stays unknown, so only
    # a check needing it errors (the config refuses such a check up front anyway).
    synth = generate(Scenario(seed=3, days=2, traces_per_day=30, extra_jobs=(EVAL,)))
    with StandIn(synth.rows, api_key=KEY) as s:
        source, _ = make_source(s, now=max(r.window_end for r in synth.runs))
        request = RunRequest(
            level="evaluation", job=None, lookback=timedelta(14), stats=frozenset({"p95_latency_s"})
        )
        loaded = source.load(request)
    stats = [c.stats for c in loaded.latest.clusters]
    assert stats and all(s is None or s.p95_latency_s is None for s in stats)


# -- the key stays secret; http only on loopback ----------------------------------------------


def test_the_key_is_in_no_repr_or_description(shared: StandIn) -> None:
    source, _ = make_source(shared)
    source.load(PLAIN)
    for text in (repr(source), source.describe(), str(vars(source))):
        assert KEY not in text
    assert source.describe() == f"PostHog {shared.url.removeprefix('http://')} project 1"


def test_https_is_required_off_loopback() -> None:
    config = PostHogConfig.model_construct(
        host="http://posthog.example.com",
        project_id=1,
        api_key=SecretStr(KEY),
        timeout_s=30.0,
    )
    with pytest.raises(SourceError, match="https is required") as info:
        PostHogSource(config)
    assert_safe(info.value)


def test_an_unreachable_host_is_a_source_error() -> None:
    config = PostHogConfig(host="http://127.0.0.1:9", project_id=1, api_key=KEY, timeout_s=1)
    sleeps = Sleeps()
    with pytest.raises(SourceError, match="connection failed") as info:
        PostHogSource(config, sleep=sleeps, clock=lambda: NOW).load(PLAIN)
    assert isinstance(info.value, LlmcError) and len(sleeps) == 3
    assert_safe(info.value)


# -- HogQL as PostHog runs it ---------------------------------------------------------------


def test_the_request_body_asks_for_a_fresh_utc_answer(shared: StandIn) -> None:
    capture = Capture()
    source, _ = make_source(shared, transport=capture)
    source.load(replace(GATE, history=3))
    assert len(capture.bodies) == 2
    for body in capture.bodies:
        # PostHog forbids unknown top-level fields; a gate never reads a cached answer.
        assert set(body) == {"query", "refresh", "name"} and body["refresh"] == "force_blocking"
        assert body["query"]["modifiers"] == {"convertToProjectTimezone": False}
        assert body["query"]["kind"] == "HogQLQuery"
    assert [(r.refresh, r.modifiers) for r in shared.requests] == [
        ("force_blocking", {"convertToProjectTimezone": False})
    ] * 2


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_a_project_in_another_timezone_gives_the_same_answer(expected: Any, zone: str) -> None:
    with StandIn(SMALL.rows, api_key=KEY, project_id=PID, timezone=zone) as s:
        source, _ = make_source(s)
        assert source.load(GATE) == expected[GATE]
        assert source.load(PLAIN) == expected[PLAIN]
        pinned = SMALL.latest("trace").run_id
        found = source.load(replace(PLAIN, run_id=pinned)).latest
    assert found == expected[PLAIN].latest


def test_posthogs_materialized_trace_id_column_is_read_and_changes_nothing(expected: Any) -> None:
    # PostHog keeps $ai_trace_id in a bloom-indexed `mat_$ai_trace_id` column; property
    # access reads it there (JSONExtract* on properties would not): same answers.
    with StandIn(SMALL.rows, api_key=KEY, project_id=PID, materialized=["$ai_trace_id"]) as s:
        source, _ = make_source(s)
        assert source.load(GATE) == expected[GATE]
        assert source.load(PLAIN) == expected[PLAIN]
        printed = [s.run(text, values)["clickhouse"] for text, values in _gate_texts(s)]
    assert all("events.`mat_$ai_trace_id`" in sql for sql in printed[:2])


def _gate_texts(s: StandIn) -> list[tuple[str, dict[str, Any]]]:
    """The (query, values) of GATE's two requests, sent again to read their SQL."""
    capture = Capture()
    source, _ = make_source(s, transport=capture)
    source.load(GATE)
    return [(b["query"]["query"], b["query"]["values"]) for b in capture.bodies]


@pytest.mark.parametrize(
    ("kind", "params", "cause"),
    [
        ("504", {}, "504: Query has hit the max execution time"),
        ("504", {"cause": "memory"}, "504: Query has reached the max memory limit"),
        ("512", {}, "512: Estimated query execution time is too long"),
        ("513", {}, "513: Query has reached the max memory limit"),
    ],
)
def test_a_query_too_expensive_for_posthog_is_not_retried(
    standin: StandIn, kind: Any, params: dict[str, Any], cause: str
) -> None:
    source, sleeps = make_source(standin)
    standin.inject(kind, **params)
    with pytest.raises(SourceError) as info:
        source.load(GATE)
    message = str(info.value)
    assert f"PostHog stopped query latest ({cause}" in message
    assert "a retry would fail the same way; shorten run.lookback" in message
    assert sleeps == [] and len(standin.requests) == 1
    assert_safe(info.value)


def test_an_exhausted_query_quota_is_a_clear_error(standin: StandIn) -> None:
    source, sleeps = make_source(standin)
    standin.inject("402", query_name="llmc-baselines")
    with pytest.raises(SourceError, match=r"query quota is used up \(402: .*query quota") as info:
        source.load(GATE)
    assert sleeps == [] and [r.status for r in standin.requests] == [200, 402]
    assert_safe(info.value)


def test_a_pinned_run_is_found_by_the_date_its_id_carries(shared: StandIn) -> None:
    capture = Capture()
    run = SMALL.latest("trace")
    # Long after the lookback: the scan is bounded around the id's date, not by it.
    source, _ = make_source(shared, now=NOW + timedelta(days=90), transport=capture)
    loaded = source.load(
        RunRequest(level="trace", job=None, lookback=timedelta(1), run_id=run.run_id)
    )
    assert loaded.latest.run_id == run.run_id
    values = capture.bodies[0]["query"]["values"]
    end = run.window_end.replace(microsecond=0, second=run.window_end.second)
    assert values["scan_from"] <= end.strftime("%Y-%m-%d %H:%M:%S") <= values["scan_to"]
    assert values["scan_from"].startswith((end - timedelta(days=1)).strftime("%Y-%m-%d"))
    assert values["scan_to"].startswith((end + timedelta(days=7)).strftime("%Y-%m-%d"))


def test_run_id_dates() -> None:
    from llmc_checks.sources.posthog import run_id_time

    utc = timezone.utc
    assert run_id_time("2_trace_20261115_001503_job-1") == datetime(
        2026, 11, 15, 0, 15, 3, tzinfo=utc
    )
    assert run_id_time("2_20261115_001503") == datetime(2026, 11, 15, 0, 15, 3, tzinfo=utc)
    assert run_id_time("2_trace_20261115_001503_job_20250101_000000") == datetime(
        2026, 11, 15, 0, 15, 3, tzinfo=utc
    )
    for no_date in ("nope", "2_trace_20261315_001503", "x' OR '1'='1", "2_trace_2026111_001503"):
        assert run_id_time(no_date) is None


def test_baselines_and_trends_look_back_one_lookback_from_the_latest(shared: StandIn) -> None:
    capture = Capture()
    source, _ = make_source(shared, transport=capture)
    loaded = source.load(replace(GATE, history=3, lookback=timedelta(days=2)))
    values = capture.bodies[1]["query"]["values"]
    start = loaded.latest.window_end - timedelta(days=3)
    assert values["scan_from"] == start.strftime("%Y-%m-%d %H:%M:%S.%f")
    # The previous run (a day earlier) is inside it; the scenario's first runs are not.
    assert [r.run_id for r in loaded.baselines[PREVIOUS]] == [
        r.run_id for r in sorted(SMALL.runs, key=lambda r: r.window_end) if r.level == "trace"
    ][-2:-1]
    assert len(loaded.history) == 3


def _shapes() -> list[str]:
    texts = [
        _hogql.latest_query(
            level, pinned=pinned, has_after=True, metrics=metrics, need_items=items
        ).text
        for level in ("trace", "generation")
        for pinned in (False, True)
        for metrics in ("none", "events")
        for items in (False, True)
    ]
    texts += [
        _hogql.baselines_query(
            "trace", earlier=True, run_ids=2, metrics=metrics, need_items=True, trend=trend
        ).text
        for metrics in ("none", "events")
        for trend in (False, True)
    ]
    texts += [_hogql.export_clusters_query(3), _hogql.export_events_query("trace", 3)]
    # Evidence: the `traces` entries are read from that one parse too.
    texts += [
        _hogql.latest_query(
            level, pinned=False, has_after=False, metrics=metrics, need_items=True, evidence=kinds
        ).text
        for level in ("trace", "generation", "evaluation")
        for metrics in ("none", "baked", "events")
        for kinds in ((), ("cost", "errors"), MEASURES)
    ]
    return texts


@pytest.mark.parametrize("text", _shapes())
def test_clusters_are_unnested_once_per_query(text: str) -> None:
    # ClickHouse evaluates a CTE once per reference: `clusters` (the only place
    # `$ai_clusters` is parsed) must be read by exactly one FROM or JOIN.
    refs = re.findall(r"\b(?:FROM|JOIN)\s+clusters\b", text)
    once = 1 if "clusters AS" in text else 0
    assert text.count("JSONExtractArrayRaw(") == len(refs) == once
    # A clustering event's properties are parsed once, in `runs`, and the picked runs'
    # once more in `picked` (the traces entries, with evidence, once in `clusters`).
    runs = "\nruns AS (" in text
    picked = "\npicked AS (" in text
    assert text.count("JSONExtractKeysAndValuesRaw(") == runs + picked + ("evidence" in text)
    # The runs are picked once: `selected` (or `fetched`) is read only by `chosen`'s
    # scalar subquery, which ClickHouse evaluates once per query.
    if "\nchosen AS (" in text:
        picked = "fetched" if "\nfetched AS (" in text else "selected"
        assert len(re.findall(rf"\b(?:FROM|JOIN)\s+{picked}\b", text)) == 1
        assert re.search(rf"arrayJoin\(\(SELECT groupArray\(.*?\) FROM {picked}\)\)", text)
    for cte in ("members", "per_item"):  # each read once
        assert len(re.findall(rf"\b(?:FROM|JOIN)\s+{cte}\b", text)) <= 1
    # AI events are read by property access only (it reaches PostHog's materialized
    # columns); JSONExtract* reads clustering events and clusters.
    for select in text.split("SELECT")[1:]:
        if "FROM events" in select and "'$ai_generation'" in select:
            assert "JSONExtract" not in select and "properties." in select


@pytest.mark.parametrize("text", [t for t in _shapes() if "\nai AS (" in t])
def test_ai_events_are_scanned_in_the_computed_runs_windows_once(text: str) -> None:
    # The AI-event scan's bounds: one scalar subquery text (ClickHouse evaluates it, and
    # the clustering events under it, once) over the runs whose numbers are computed;
    # trend-only runs (`full = 0`) widen nothing.
    ai = text.split("\nai AS (", 1)[1].split("\n),", 1)[0]
    bounds = re.findall(r"timestamp ([<>]=) tupleElement\((\(SELECT .*?\)), ([12])\)", ai)
    assert [(op, n) for op, _, n in bounds] == [(">=", "1"), ("<=", "2")]
    assert bounds[0][1] == bounds[1][1]
    # `chosen`: the picked runs (trend runs flagged `full = 0`), picked once.
    trend = "\nfetched AS (" in text
    wanted = " WHERE level = {level}" + (" AND full = 1" if trend else "")
    assert bounds[0][1] == (
        f"(SELECT tuple(min(window_start), max(window_end)) FROM chosen{wanted})"
    )


def _leaks(text: str, key: str = KEY, fragment: int = 8) -> list[str]:
    """Every fragment of `key` (any case) at least `fragment` long that `text` holds."""
    low, k = text.lower(), key.lower()
    return [k[i : i + fragment] for i in range(len(k) - fragment + 1) if k[i : i + fragment] in low]


@pytest.mark.parametrize("status", [400, 403, 418])
def test_the_key_echoed_in_another_case_or_in_pieces_is_redacted(status: int) -> None:
    """A server (or a proxy in front of it) echoing the key upper-cased, cut short, or a
    middle piece of it, in its error text: none of it reaches the message."""
    echo = f"token {KEY.upper()} / prefix {KEY[:14]}… / middle {KEY[6:20]} / {KEY.swapcase()}"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"detail": echo})

    config = PostHogConfig(host="https://eu.posthog.com", project_id=PID, api_key=KEY)
    source = PostHogSource(
        config, sleep=Sleeps(), clock=lambda: NOW, transport=httpx.MockTransport(answer)
    )
    with pytest.raises(SourceError) as info:
        source.load(PLAIN)
    message = str(info.value)
    assert not _leaks(message), message
    assert "token *** / prefix ***… / middle *** / ***" in message  # the rest is kept
    assert_safe(info.value)


# -- an answer in another shape ------------------------------------------------------------

EVERY_COLUMN = replace(
    GATE, need_items=True, history=3, evidence=2, evidence_measures=frozenset({"cost"})
)


class _Recording(httpx.BaseTransport):
    """Forwards to the stand-in and keeps each query's answer by its name."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.answers: dict[str, dict[str, Any]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        content = response.read()
        if request.method == "POST":
            self.answers.setdefault(json.loads(request.content)["name"], json.loads(content))
        return httpx.Response(response.status_code, headers=response.headers, content=content)


@pytest.fixture(scope="module")
def recorded(_shared: StandIn) -> dict[str, dict[str, Any]]:
    """Every query's first answer for a gate reading every kind of column, and its record."""
    recording = _Recording()
    source, _ = make_source(_shared, transport=recording)
    list(source.export_rows(source.load(EVERY_COLUMN)))
    assert set(recording.answers) == {
        "llmc-latest",
        "llmc-baselines",
        "llmc-export-runs",
        "llmc-export-events",
    }
    return recording.answers


def _without(query: str, column: str, answers: dict[str, dict[str, Any]]) -> httpx.MockTransport:
    """The recorded answers, `query`'s without `column` (as a proxy or a changed API might)."""

    def answer(request: httpx.Request) -> httpx.Response:
        name = json.loads(request.content)["name"]
        payload = copy.deepcopy(answers[name])
        if name == f"llmc-{query}":
            at = payload["columns"].index(column)
            del payload["columns"][at]
            for row in payload["results"]:
                del row[at]
        return httpx.Response(200, json=payload)

    return httpx.MockTransport(answer)


@pytest.mark.parametrize("query", ["latest", "baselines", "export-runs", "export-events"])
def test_an_answer_lacking_a_column_names_the_query_and_the_column(
    _shared: StandIn, recorded: dict[str, dict[str, Any]], query: str
) -> None:
    """Every column the source reads is checked up front: one clear line, never a KeyError."""
    columns = recorded[f"llmc-{query}"]["columns"]
    assert len(columns) >= 4
    for column in columns:
        source, _ = make_source(_shared, transport=_without(query, column, recorded))
        with pytest.raises(SourceError) as info:
            list(source.export_rows(source.load(EVERY_COLUMN)))
        message = str(info.value)
        assert f"query {query}: the answer lacks 1 column the gate reads ({column}; " in message
        assert f"it has {len(columns) - 1:,} columns)" in message
        assert_safe(info.value)


@pytest.mark.parametrize("copies", ["2", 0, 1.5, True, None])
def test_an_export_row_whose_copies_is_no_count_is_an_error(
    _shared: StandIn, recorded: dict[str, dict[str, Any]], copies: object
) -> None:
    """How many rows PostHog holds under an event's uuid: a positive whole number, or
    the recording would silently hold the wrong events."""
    at = recorded["llmc-export-events"]["columns"].index("copies")

    def answer(request: httpx.Request) -> httpx.Response:
        payload = copy.deepcopy(recorded[json.loads(request.content)["name"]])
        if json.loads(request.content)["name"] == "llmc-export-events":
            payload["results"][0][at] = copies
        return httpx.Response(200, json=payload)

    source, _ = make_source(_shared, transport=httpx.MockTransport(answer))
    with pytest.raises(SourceError, match="query export-events: an event's copies is not a count"):
        list(source.export_rows(source.load(EVERY_COLUMN)))


def test_an_answer_of_other_columns_names_every_missing_one() -> None:
    """A 200 with valid JSON of other columns (the review's repro): the key it echoes
    in a cell stays out, and so do the answer's own column names."""

    def answer(request: httpx.Request) -> httpx.Response:
        auth = request.headers["Authorization"]
        return httpx.Response(200, json={"results": [[auth]], "columns": [auth], "hasMore": False})

    config = PostHogConfig(host="https://eu.posthog.com", project_id=PID, api_key=KEY)
    source = PostHogSource(
        config, sleep=Sleeps(), clock=lambda: NOW, transport=httpx.MockTransport(answer)
    )
    with pytest.raises(SourceError) as info:
        source.load(PLAIN)
    # What query 1 answers without stats, items or evidence, by hand.
    expected = (
        "run_id, cluster_index, emitted_at, event_uuid, event, level_raw, job_id, job_name, "
        "window_start_raw, window_end_raw, items_raw, traces_analyzed_raw, params_raw, "
        "clusters_type, cluster_type, cluster_id_raw, size_raw, traces_count, title, "
        "description, metrics_raw"
    )
    assert str(info.value) == (
        f"PostHog eu.posthog.com project {PID}: query latest: the answer lacks 21 columns "
        f"the gate reads ({expected}; it has 1 column): a proxy, or a PostHog version "
        "answering in another shape?"
    )
    assert not _leaks(str(info.value))


def test_runs_from_before_clustering_jobs_are_no_jobs_earlier_run(tmp_path: Path) -> None:
    """Legacy runs (no job id) before a job's first run: no `previous`, no `median_of`
    runs, as from a snapshot, and the trend holds the latest only."""
    synth = generate(Scenario(seed=9, days=3, traces_per_day=30, legacy_runs=2))
    *earlier, latest = synth.runs
    assert [r.job_id for r in earlier] == ["", ""] and latest.job_id
    request = replace(GATE, baselines=(PREVIOUS, MEDIAN_3), history=3)
    now = latest.window_end + timedelta(hours=1)
    with StandIn(synth.rows, api_key=KEY, project_id=PID) as s:
        source, _ = make_source(s, now=now)
        loaded = source.load(request)
    path = tmp_path / "legacy.jsonl.gz"
    write_rows(synth.rows, path)
    offline = SnapshotSource(path).load(request)
    for got in (loaded, offline):
        assert got.latest.run_id == latest.run_id
        assert got.baselines == {PREVIOUS: (), MEDIAN_3: ()}
        assert [r.run_id for r in got.history] == [latest.run_id]


def test_the_latest_trend_point_pairs_by_shared_items_live_as_offline(tmp_path: Path) -> None:
    """The latest run and its `previous` baseline come with their item ids from both
    sources, so the trend's last step pairs them as the gate does, live as offline."""
    from helpers import retitled

    from llmc_checks.trends import all_series

    synth = generate(Scenario(seed=7, days=3, traces_per_day=40, max_samples=300))
    rows = retitled(synth.rows, synth.latest().run_id)
    request = replace(GATE, need_items=True, history=3)
    now = synth.latest().window_end + timedelta(hours=1)
    with StandIn(rows, api_key=KEY, project_id=PID) as s:
        source, _ = make_source(s, now=now)
        live = source.load(request)
    path = tmp_path / "retitled.jsonl.gz"
    write_rows(rows, path)
    offline = SnapshotSource(path).load(request)
    series = []
    for got in (live, offline):
        whole = (got.latest, *got.baselines[PREVIOUS])
        metrics = ["title_stability", "new_cluster_share"]
        series.append(all_series(metrics, got.history, now, 0.8, whole))
    # Every topic kept its items: the last step is all stable, nothing new.
    assert series[0] == series[1]
    assert series[0]["title_stability"][-1] == 1.0
    assert series[0]["new_cluster_share"][-1] == 0.0
