"""The snapshot source: bad files give one actionable line, good variants read alike,
and the snapshot's clock is what the file says it is."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import llmc_cluster, llmc_event, llmc_run_event, llmc_write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

from llmc_checks._values import parse_timestamp
from llmc_checks.config import load_config
from llmc_checks.gate import Gate, Options
from llmc_checks.model import STAT_FIELDS, DataError, Loaded, RunRequest
from llmc_checks.sources import _blocks
from llmc_checks.sources.snapshot import SnapshotSource
from llmc_checks.synth import Scenario, generate, write_rows

Row = dict[str, Any]
UTC = timezone.utc
RUN = "1_trace_20261115_001503"
MID = "2026-11-12T10:00:00.000000+00:00"
ALL_STATS = frozenset(STAT_FIELDS)


@pytest.fixture(autouse=True, params=["plain", "numpy"])
def block_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with both block readers: the plain one small files get, and
    numpy's, which large files get (forced by making every file "large")."""
    if request.param == "numpy":
        monkeypatch.setattr(_blocks, "PLAIN_MAX", -1)
    return str(request.param)


def clusters() -> list[Row]:
    return [llmc_cluster(0, ["t1", "t2"]), llmc_cluster(-1, ["t3"], title="Outliers")]


def run_event(**props: Any) -> Row:
    return llmc_run_event(RUN, clusters(), **props)


def gen(trace: str, cost: float, latency: float, ts: str = MID, error: object = False) -> Row:
    return llmc_event(
        "$ai_generation",
        ts,
        {
            "$ai_trace_id": trace,
            "$ai_total_cost_usd": cost,
            "$ai_latency": latency,
            "$ai_is_error": error,
        },
    )


def good_rows() -> list[Row]:
    return [
        gen("t1", 0.01, 1.0),
        gen("t2", 0.03, 3.0, error="true"),
        gen("t3", 0.002, 0.5),
        run_event(),
    ]


def request(stats: frozenset[str] = ALL_STATS, **kw: Any) -> RunRequest:
    return RunRequest(level="trace", job=None, lookback=timedelta(days=30), stats=stats, **kw)


def load(path: Path, stats: frozenset[str] = ALL_STATS, **kw: Any) -> Loaded:
    return SnapshotSource(path).load(request(stats, **kw))


def jsonl_bytes(rows: list[Row]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def error_of(path: Path, stats: frozenset[str] = ALL_STATS, **kw: Any) -> str:
    with pytest.raises(DataError) as info:
        load(path, stats, **kw)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.strip() == message
    return message


def summary(loaded: Loaded) -> list[tuple[Any, ...]]:
    """What a gate reads from a load, comparable across file kinds."""
    return [(c.cluster_id, c.title, c.size, c.item_ids, c.stats) for c in loaded.latest.clusters]


# --- truncation and corruption ----------------------------------------------------------


def test_truncated_last_line_jsonl(tmp_path: Path) -> None:
    data = jsonl_bytes(good_rows())
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data[: len(data) - 40])  # the last line loses its end (and newline)
    assert error_of(path) == f"{path}:4: not a JSON object (truncated or corrupted line)"


def test_truncated_jsonl_gz(tmp_path: Path) -> None:
    data = gzip.compress(jsonl_bytes(good_rows()))
    for cut in (5, 30):  # inside the 8-byte trailer; inside the deflate stream
        path = tmp_path / f"cut{cut}.jsonl.gz"
        path.write_bytes(data[: len(data) - cut])
        assert error_of(path) == (
            f"{path}: cannot read snapshot (the gzip stream ends early: truncated file)"
        )


def test_truncated_ai_line_ending_in_a_brace_is_caught_when_read(tmp_path: Path) -> None:
    rows = good_rows()
    data = jsonl_bytes([rows[3], rows[0], rows[1], rows[2]])
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data[:-2])  # drop "}\n": the line still ends with the properties' "}"
    assert path.read_bytes().endswith(b"}")
    assert error_of(path) == f"{path}:4: not valid JSON (truncated or corrupted line)"


@pytest.mark.parametrize("needs_events", [False, True])
def test_truncated_line_ending_in_a_brace_always_fails(tmp_path: Path, needs_events: bool) -> None:
    rows = good_rows()
    trace_event = llmc_event("$ai_trace", MID, {"$ai_trace_id": "t1", "$ai_trace_name": "chat"})
    data = jsonl_bytes([*rows, trace_event])
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data[:-2])  # the `$ai_trace` row loses its final "}"
    stats = ALL_STATS if needs_events else frozenset()
    assert error_of(path, stats).startswith(f"{path}:5: ")


def test_non_object_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl_bytes(good_rows()[:1]) + b"[1, 2]\n" + jsonl_bytes(good_rows()[1:]))
    assert error_of(path) == f"{path}:2: not a JSON object (truncated or corrupted line)"


@pytest.mark.parametrize("name", ["bom.jsonl", "bom.jsonl.gz"])
@pytest.mark.parametrize("stats", [ALL_STATS, frozenset()], ids=["events", "no-events"])
def test_a_byte_order_mark_is_named_not_called_corruption(
    tmp_path: Path, name: str, stats: frozenset[str]
) -> None:
    """A file saved "UTF-8 with BOM" is not damaged: the message says what it is."""
    path = tmp_path / name
    data = b"\xef\xbb\xbf" + jsonl_bytes(good_rows())
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    assert error_of(path, stats) == (
        f"{path}:1: the file starts with a UTF-8 byte order mark (BOM); save it without one"
    )
    # Files saved with one and joined: the mark is inside, where a line starts.
    joined = jsonl_bytes(good_rows()[:2]) + data
    path.write_bytes(gzip.compress(joined) if name.endswith(".gz") else joined)
    assert error_of(path, stats) == (
        f"{path}:3: the line starts with a UTF-8 byte order mark (BOM), as where files saved "
        "with one are joined; save them without one"
    )


def test_a_json_array_with_a_byte_order_mark_says_so(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(good_rows()))
    assert error_of(path) == (
        f"{path}: the file starts with a UTF-8 byte order mark (BOM); save it without one"
    )


def test_blank_lines_are_ignored_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n" + jsonl_bytes(good_rows()[:2]) + b"  \n" + b'{"x": \n')
    assert error_of(path) == f"{path}:5: not a JSON object (truncated or corrupted line)"


def test_empty_file_and_no_clustering_events(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert error_of(empty) == f"{empty}: no clustering events ($ai_*_clusters) in the snapshot"
    only_ai = llmc_write_jsonl(tmp_path / "ai.jsonl", good_rows()[:3])
    assert error_of(only_ai) == f"{only_ai}: no clustering events ($ai_*_clusters) in the snapshot"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    assert error_of(path) == f"{path}: snapshot file not found"


# --- bad clustering events ------------------------------------------------------------------


def one_bad(tmp_path: Path, row: Row) -> tuple[Path, str]:
    path = llmc_write_jsonl(tmp_path / "bad.jsonl", [*good_rows()[:3], row])
    return path, error_of(path)


def test_clusters_not_json(tmp_path: Path) -> None:
    _, message = one_bad(tmp_path, run_event(**{"$ai_clusters": '[{"cluster_id": 0, '}))
    assert message == f"bad.jsonl ({RUN}): run {RUN}: $ai_clusters is not valid JSON"


@pytest.mark.parametrize("empty", [[], "[]"])
def test_run_with_no_clusters(tmp_path: Path, empty: object) -> None:
    _, message = one_bad(tmp_path, run_event(**{"$ai_clusters": empty}))
    assert message == f"bad.jsonl ({RUN}): run {RUN} has no clusters"


@pytest.mark.parametrize("value", [None, {"0": {}}, 3])
def test_clusters_missing_or_not_a_list(tmp_path: Path, value: object) -> None:
    row = run_event()
    if value is None:
        del row["properties"]["$ai_clusters"]
    else:
        row["properties"]["$ai_clusters"] = value
    _, message = one_bad(tmp_path, row)
    assert message == f"bad.jsonl ({RUN}): run {RUN}: $ai_clusters is missing or not a list"


def test_unknown_level(tmp_path: Path) -> None:
    _, message = one_bad(tmp_path, run_event(**{"$ai_clustering_level": "session"}))
    assert message == (
        f"bad.jsonl:4: run {RUN} has unknown level 'session' "
        "(expected one of trace, generation, evaluation)"
    )


def test_missing_run_id(tmp_path: Path) -> None:
    row = run_event()
    del row["properties"]["$ai_clustering_run_id"]
    _, message = one_bad(tmp_path, row)
    assert message == "bad.jsonl:4: $ai_trace_clusters event has no $ai_clustering_run_id"


@pytest.mark.parametrize("name", ["$ai_window_start", "$ai_window_end"])
def test_missing_window(tmp_path: Path, name: str) -> None:
    row = run_event()
    del row["properties"][name]
    _, message = one_bad(tmp_path, row)
    assert message == f"bad.jsonl:4: run {RUN} has no {name}"


@pytest.mark.parametrize("end", ["yesterday", "0001-01-01T00:30:00+01:00"])
def test_unreadable_window(tmp_path: Path, end: str) -> None:
    _, message = one_bad(tmp_path, run_event(window_end=end))
    assert message == f"bad.jsonl:4: run {RUN} has an unreadable $ai_window_end {end!r}"


@pytest.mark.parametrize("cluster_id", ["missing", "3", True, 1.5, None])
def test_cluster_without_integer_cluster_id(tmp_path: Path, cluster_id: object) -> None:
    bad = llmc_cluster(3, ["t4"])
    if cluster_id == "missing":
        del bad["cluster_id"]
    else:
        bad["cluster_id"] = cluster_id
    _, message = one_bad(tmp_path, run_event(**{"$ai_clusters": [*clusters(), bad]}))
    assert message == f"bad.jsonl ({RUN}): run {RUN}: $ai_clusters[2] has no integer cluster_id"


def test_duplicate_cluster_ids(tmp_path: Path) -> None:
    twice = [*clusters(), llmc_cluster(0, ["t9"])]
    _, message = one_bad(tmp_path, run_event(**{"$ai_clusters": twice}))
    assert message == f"bad.jsonl ({RUN}): run {RUN}: cluster_id 0 appears twice"


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("size", -1, "$ai_clusters[0].size is not a non-negative integer"),
        ("size", "2", "$ai_clusters[0].size is not a non-negative integer"),
        ("traces", ["t1"], "$ai_clusters[0].traces is not an object"),
        ("metrics", [0.1], "$ai_clusters[0].metrics is not an object"),
    ],
)
def test_bad_cluster_fields(tmp_path: Path, field: str, value: object, what: str) -> None:
    cs = clusters()
    cs[0][field] = value
    _, message = one_bad(tmp_path, run_event(**{"$ai_clusters": cs}))
    assert message == f"bad.jsonl ({RUN}): run {RUN}: {what}"


def test_cluster_entry_not_an_object(tmp_path: Path) -> None:
    _, message = one_bad(tmp_path, run_event(**{"$ai_clusters": [*clusters(), "x"]}))
    assert message == f"bad.jsonl ({RUN}): run {RUN}: $ai_clusters[2] is not an object"


def test_properties_not_json(tmp_path: Path) -> None:
    row = run_event()
    row["properties"] = '{"$ai_clustering_run_id": '
    _, message = one_bad(tmp_path, row)
    assert message == "bad.jsonl:4: properties is not valid JSON"


def test_ai_event_without_timestamp(tmp_path: Path) -> None:
    row = gen("t1", 0.01, 1.0)
    del row["timestamp"]
    path = llmc_write_jsonl(tmp_path / "bad.jsonl", [row, run_event()])
    assert error_of(path) == f"{path}:1: event has no timestamp"
    row["timestamp"] = "soon"
    path = llmc_write_jsonl(tmp_path / "bad.jsonl", [row, run_event()])
    assert error_of(path) == f"{path}:1: unreadable timestamp 'soon'"


def test_evaluation_run_without_baked_metrics_leaves_the_stats_unknown(tmp_path: Path) -> None:
    # No AI events to fall back on: the load succeeds, the stats stay unknown, and only
    # the checks that need them error (a gate's other checks still judge the run).
    row = llmc_run_event("1_evaluation_x", clusters(), level="evaluation")
    path = llmc_write_jsonl(tmp_path / "eval.jsonl", [row])
    loaded = SnapshotSource(path).load(
        RunRequest(
            level="evaluation",
            job=None,
            lookback=timedelta(days=30),
            stats=frozenset({"avg_cost_usd"}),
        )
    )
    assert all(c.stats is None for c in loaded.latest.clusters)


def test_one_uncomputable_check_errors_alone(tmp_path: Path) -> None:
    from llmc_checks.config import parse_config
    from llmc_checks.gate import Gate, Options

    row = llmc_run_event("1_evaluation_x", clusters(), level="evaluation")
    path = llmc_write_jsonl(tmp_path / "eval.jsonl", [row])
    text = (
        f"version: 1\nsource: {{snapshot: {path}}}\nrun: {{level: evaluation}}\nchecks:\n"
        "  - {metric: noise_share, max: 90%}\n  - {metric: avg_cost_usd, max: 0.05}\n"
        "  - {metric: run_cost_usd, max: 10}\n"
    )
    outcome = Gate(parse_config(text, filename="c.yaml"), tmp_path / "c.yaml", Options()).outcome()
    assert outcome.error is None
    assert [r.status for r in outcome.results] == ["pass", "error", "error"]
    reason = (
        "run 1_evaluation_x: evaluation-level runs have no AI events to compute {} from, "
        "and this run's clusters carry no baked value for it"
    )
    assert outcome.results[1].message == (
        "no cluster could be evaluated: " + reason.format("avg_cost_usd")
    )
    assert outcome.results[2].message == reason.format("run_cost_usd")


# --- variants that must read alike ----------------------------------------------------------


def test_json_array_file_reads_like_jsonl(tmp_path: Path) -> None:
    rows = good_rows()
    jsonl = llmc_write_jsonl(tmp_path / "events.jsonl", rows)
    array = tmp_path / "events.json"
    array.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    gz = tmp_path / "events.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    array_gz = tmp_path / "events.json.gz"
    array_gz.write_bytes(gzip.compress(array.read_bytes()))
    a, b, c, d = load(jsonl), load(array), load(gz), load(array_gz)
    assert summary(a) == summary(b) == summary(c) == summary(d)
    assert a.now == b.now == c.now == d.now
    assert a.latest.cluster(0).stats is not None
    # cluster 0: t1 (0.01) and t2 (0.03) → avg 0.02; errors: t2 → 1 of 2
    assert a.latest.cluster(0).stats.avg_cost_usd == pytest.approx(0.02, rel=1e-12)
    assert a.latest.cluster(0).stats.error_rate == 0.5


def test_json_file_errors(tmp_path: Path) -> None:
    obj = tmp_path / "obj.json"
    obj.write_bytes(orjson.dumps({"rows": good_rows()}))
    assert error_of(obj) == f"{obj}: a .json snapshot must hold an array of event rows"
    cut = tmp_path / "cut.json"
    cut.write_bytes(orjson.dumps(good_rows())[:-10])
    assert error_of(cut).startswith(f"{cut}: not valid JSON (")


def test_json_array_with_a_non_object_row_fails_like_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_bytes(orjson.dumps([*good_rows(), 5]))
    assert error_of(path).startswith(f"{path}:5: ")


def test_properties_as_json_string(tmp_path: Path) -> None:
    rows = good_rows()
    plain = load(llmc_write_jsonl(tmp_path / "plain.jsonl", rows))
    stringly = []
    for row in rows:
        row = dict(row)
        row["properties"] = orjson.dumps(row["properties"]).decode()
        stringly.append(row)
    text = load(llmc_write_jsonl(tmp_path / "text.jsonl", stringly))
    assert summary(text) == summary(plain)
    assert text.latest.run_id == RUN
    assert text.latest.cluster(-1).stats is not None
    assert text.latest.cluster(-1).stats.total_cost_usd == pytest.approx(0.002, rel=1e-12)


# --- the snapshot clock ------------------------------------------------------------------------


def test_now_is_the_newest_event_of_any_kind(tmp_path: Path) -> None:
    older = llmc_run_event(
        "1_trace_20261114_001503",
        clusters(),
        window_start="2026-11-07T00:15:03.104+00:00",
        window_end="2026-11-14T00:15:03.104+00:00",
        emitted="2026-11-14T00:21:00.000000+00:00",
    )
    late_ai = gen("t1", 0.01, 1.0, ts="2026-11-15T05:00:00.000000+00:00")
    rows = [*good_rows(), older, late_ai]  # run_event(): emitted 2026-11-15T00:20:00Z
    for stats in (ALL_STATS, frozenset()):  # with and without the AI-event pass
        loaded = load(llmc_write_jsonl(tmp_path / "events.jsonl", rows), stats)
        assert loaded.now == datetime(2026, 11, 15, 5, 0, tzinfo=UTC)
        assert loaded.latest.run_id == RUN


def test_now_counts_events_the_gate_never_reads(tmp_path: Path) -> None:
    # A pageview three days after the run: the export says it is three days later.
    pageview = llmc_event("$pageview", "2026-11-18T00:20:00Z", {"$current_url": "/"})
    path = llmc_write_jsonl(tmp_path / "events.jsonl", [*good_rows(), pageview])
    assert load(path, frozenset()).now == datetime(2026, 11, 18, 0, 20, tzinfo=UTC)


def test_now_ignores_a_timestamp_nested_in_properties(tmp_path: Path) -> None:
    # Only a row's own timestamp counts; a property that happens to be called so doesn't.
    nested = llmc_event("$pageview", "2026-11-15T01:00:00Z", {"timestamp": "2030-01-01T00:00:00Z"})
    path = llmc_write_jsonl(tmp_path / "events.jsonl", [*good_rows(), nested])
    assert load(path, frozenset()).now == datetime(2026, 11, 15, 1, 0, tzinfo=UTC)


# Ways the same instant is written in exports (PostHog, ClickHouse, hand-made files).
_WRITINGS = [
    lambda t: t.isoformat(),  # +00:00, microseconds when non-zero
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],  # ClickHouse, naive = UTC
    lambda t: t.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
    lambda t: t.astimezone(timezone(timedelta(hours=-7))).strftime("%Y-%m-%dT%H:%M:%S%z"),
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z",  # 2 fraction digits
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5 * 86_400 * 1000),  # ms after the run was emitted
            st.integers(0, len(_WRITINGS) - 1),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([".jsonl", ".jsonl.gz"]),
    st.sampled_from([64, 1 << 20]),  # tiny blocks: the newest may be in any of them
)
def test_now_is_the_newest_time_however_it_is_written(
    tmp_path_factory: pytest.TempPathFactory,
    later: list[tuple[int, int]],
    suffix: str,
    read_size: int,
) -> None:
    emitted = datetime(2026, 11, 15, 0, 20, tzinfo=UTC)
    rows, times = list(good_rows()), [emitted]
    for ms, how in later:
        at = emitted + timedelta(milliseconds=ms)
        if how == len(_WRITINGS) - 1:
            at = at.replace(microsecond=at.microsecond // 10_000 * 10_000)
        elif how == 4:
            at = at.replace(microsecond=0)
        rows.append(llmc_event("$pageview", _WRITINGS[how](at), {}))
        times.append(at)
    path = tmp_path_factory.mktemp("now") / f"events{suffix}"
    write_rows(rows, path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_blocks, "_READ_SIZE", read_size)
        patch.setattr(_blocks, "_GZIP_READ_SIZE", read_size)
        assert load(path, frozenset()).now == max(times)


def test_a_stale_run_fails_run_age_on_a_snapshot_without_marker(tmp_path: Path) -> None:
    # The export's traffic runs three days past the last run: the run is 3 days old.
    synth = generate(Scenario(days=1, traces_per_day=40, tail_hours=72))
    path = tmp_path / "events.jsonl.gz"
    write_rows(synth.rows, path)
    newest = max(parse_timestamp(r["timestamp"]) for r in synth.rows)
    text = (
        "version: 1\nsource:\n  snapshot: events.jsonl.gz\n"
        "checks:\n  - metric: run_age_hours\n    max: 36\n"
    )
    (tmp_path / "checks.yaml").write_text(text)
    gate = Gate(load_config(tmp_path / "checks.yaml"), tmp_path / "checks.yaml", Options())
    (result,) = gate.outcome().results
    age = (newest - synth.latest().window_end).total_seconds() / 3600
    assert age > 48  # most of the 72 h tail
    assert result.status == "fail"
    assert result.observed == pytest.approx(age)


def test_marker_event_sets_now(tmp_path: Path) -> None:
    marker = llmc_event("$llmc_snapshot", "2026-11-16T09:30:00.000000+00:00", {"version": 1})
    loaded = load(llmc_write_jsonl(tmp_path / "events.jsonl", [marker, *good_rows()]))
    assert loaded.now == datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def test_marker_before_a_run_hides_it(tmp_path: Path) -> None:
    older = llmc_run_event(
        "1_trace_20261114_001503",
        clusters(),
        window_start="2026-11-07T00:15:03.104+00:00",
        window_end="2026-11-14T00:15:03.104+00:00",
        emitted="2026-11-14T00:21:00.000000+00:00",
    )
    # Recorded at 2026-11-15 00:10, before RUN's window end (00:15:03.104): RUN is "future".
    marker = llmc_event("$llmc_snapshot", "2026-11-15T00:10:00+00:00", {})
    path = llmc_write_jsonl(tmp_path / "events.jsonl", [*good_rows(), older, marker])
    loaded = load(path)
    assert loaded.now == datetime(2026, 11, 15, 0, 10, tzinfo=UTC)
    assert loaded.latest.run_id == "1_trace_20261114_001503"


def test_marker_is_found_whatever_its_properties(tmp_path: Path) -> None:
    marker = llmc_event(
        "$llmc_snapshot", "2026-11-16T09:30:00.000000+00:00", {"selected_clusters": 2}
    )
    loaded = load(llmc_write_jsonl(tmp_path / "events.jsonl", [*good_rows(), marker]))
    assert loaded.now == datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def test_marker_without_timestamp(tmp_path: Path) -> None:
    marker = llmc_event("$llmc_snapshot", "", {})
    del marker["timestamp"]
    path = llmc_write_jsonl(tmp_path / "events.jsonl", [marker, *good_rows()])
    assert error_of(path) == f"{path}:1: event has no timestamp"


# --- keeping a .gz file's text between the passes ---------------------------------------------


def test_whether_gz_text_is_kept_is_decided_from_the_file_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = jsonl_bytes(good_rows())
    single = tmp_path / "single.jsonl.gz"
    single.write_bytes(gzip.compress(text))
    multi = tmp_path / "multi.jsonl.gz"  # two members: read alike, kept or not
    multi.write_bytes(gzip.compress(text[:100]) + gzip.compress(text[100:]))
    wrapped = tmp_path / "wrapped.jsonl.gz"  # a trailer smaller than the file: not trusted
    wrapped.write_bytes(gzip.compress(text)[:-4] + b"\0\0\0\0")
    assert _blocks.gzip_text_size(single) == len(text)
    assert _blocks.worth_keeping(_blocks.gzip_text_size(single))
    assert _blocks.gzip_text_size(wrapped) is None
    assert not _blocks.worth_keeping(_blocks.gzip_text_size(wrapped))
    assert _blocks.gzip_text_size(tmp_path / "missing.jsonl.gz") is None
    monkeypatch.setattr(_blocks, "_KEEP_MAX", len(text) - 1)  # one byte too big to keep
    assert not _blocks.worth_keeping(_blocks.gzip_text_size(single))
    # Kept or not, the same numbers.
    assert (
        summary(load(single))
        == summary(load(multi))
        == summary(load(llmc_write_jsonl(tmp_path / "plain.jsonl", good_rows())))
    )


# --- pass 2's hint: which lines are parsed ------------------------------------------------


def props_first(event: str, props: Row) -> bytes:
    """A row written with its properties before its event name: the first '"$ai_' in the
    line is a property's name, not the event's."""
    return orjson.dumps({"properties": props, "timestamp": MID, "uuid": "u", "event": event})


@pytest.mark.parametrize(
    ("semantics", "costs", "latencies"),
    # t1: a generation (0.01, 1 s) and a span (0.02, 2 s) written properties first; t2 a
    # generation (0.03, 3 s). The page counts the span's cost and takes the max latency,
    # the job counts generations only and sums their latency.
    [("ui", (0.03, 0.03), (2.0, 3.0)), ("workflow", (0.01, 0.03), (1.0, 3.0))],
)
def test_ai_events_are_read_wherever_their_name_sits_in_the_line(
    tmp_path: Path, semantics: str, costs: tuple[float, float], latencies: tuple[float, float]
) -> None:
    cost_props = {"$ai_trace_id": "t1", "$ai_total_cost_usd": 0.01, "$ai_latency": 1.0}
    lines = [
        props_first("$ai_generation", cost_props),
        props_first("$ai_span", {**cost_props, "$ai_total_cost_usd": 0.02, "$ai_latency": 2.0}),
        jsonl_bytes([gen("t2", 0.03, 3.0)]).strip(),
        jsonl_bytes([run_event()]).strip(),
    ]
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    stats = load(path, semantics=semantics).latest.clusters[0].stats
    assert stats is not None
    assert stats.item_count == 2
    assert stats.total_cost_usd == pytest.approx(sum(costs), rel=1e-12)
    assert stats.avg_latency_s == pytest.approx(sum(latencies) / 2, rel=1e-12)


def test_a_damaged_line_of_a_selected_item_is_reported_only_when_it_holds_an_ai_event_name(
    tmp_path: Path,
) -> None:
    # Neither line parses. The first holds no AI event's name ('"$ai_trace_id"' and
    # '"$ai_x"' are no hint), so pass 2 never parses it: it cannot be an AI event. The
    # second holds '"$ai_span"' past its first '"$ai_', so it is parsed, and reported.
    quiet = b'{"properties":{"$ai_trace_id":"t1","k":"$ai_x"},"event":"$ai_feedback",}'
    loud = b'{"properties":{"$ai_trace_id":"t2","k":"$ai_x"},"event":"$ai_span",}'
    tail = [jsonl_bytes([r]).strip() for r in good_rows()]
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join([quiet, *tail]) + b"\n")
    assert load(path).latest.clusters[0].stats is not None
    path.write_bytes(b"\n".join([quiet, loud, *tail]) + b"\n")
    assert error_of(path) == f"{path}:2: not valid JSON (truncated or corrupted line)"


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-22+01:00",  # a date then an offset: Python's fromisoformat reads 01:00
        "2026-11-22Z",
        "2026-11-22-05:00",
        "2026-11-22-0500",  # an offset without its colon, read as 05:00 too
        "2026-11-22-05",
        "20261122-05",
        "2026-W47-7-0500",
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC: OverflowError, not ValueError
        "9999-12-31T23:30:00-01:00",  # past year 9999 in UTC
    ],
)
def test_an_unreadable_timestamp_is_named_at_its_line(tmp_path: Path, stamp: str) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 timestamp"):
        parse_timestamp(stamp)
    row = gen("t1", 0.01, 1.0)
    row["timestamp"] = stamp
    path = llmc_write_jsonl(tmp_path / "bad.jsonl", [row, run_event()])
    assert error_of(path) == f"{path}:1: unreadable timestamp {stamp!r}"


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-22T09:30:00",
        "2026-11-22 09:30:00,5",
        "20261122T093000",
        "2026-11-22T09",
        "2026-W47-7T09:30",
        "2026W477T09:30",
    ],
)
def test_a_timestamp_without_an_offset_reads_as_utc(stamp: str) -> None:
    read = parse_timestamp(stamp)
    assert read.utcoffset() is not None and read.utcoffset().total_seconds() == 0
    assert (read.hour, read.day) == (9, 22)
