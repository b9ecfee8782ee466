"""Clustering events → runs: every shape variant, deduplication, and run selection."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import llmc_cluster, llmc_event, llmc_run_event, llmc_write_jsonl

from llmc_checks.model import BaselineRequest, DataError, Loaded, Run, RunRequest
from llmc_checks.sources.snapshot import SnapshotSource

Row = dict[str, Any]
UTC = timezone.utc

JOB_A = ("job-a", "Default - traces")
JOB_B = ("job-b", "Nightly - trace")
GEN_JOB = ("job-g", "Default - generations")

CLUSTERS = [
    llmc_cluster(0, ["t1", "t2", "t3"], title="SQL query generation"),
    llmc_cluster(1, ["t4", "t5"], title="Refund requests"),
    llmc_cluster(-1, ["t6"], title="Outliers"),
]


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def run_row(
    run_id: str,
    end: datetime,
    *,
    job: tuple[str, str] = JOB_A,
    level: str = "trace",
    emitted: datetime | None = None,
    clusters: list[Row] | None = None,
    **extra: Any,
) -> Row:
    return llmc_run_event(
        run_id,
        clusters if clusters is not None else CLUSTERS,
        level=level,
        window_start=iso(end - timedelta(days=7)),
        window_end=iso(end),
        emitted=iso(emitted if emitted is not None else end + timedelta(minutes=5)),
        job_id=job[0],
        job_name=job[1],
        **extra,
    )


END = datetime(2026, 11, 15, 0, 15, 3, 104000, tzinfo=UTC)
A13, A14, A15 = (
    "1_trace_20261113_001503_job-a",
    "1_trace_20261114_001503_job-a",
    "1_trace_20261115_001503_job-a",
)
B15 = "1_trace_20261115_060000_job-b"
G15 = "1_generation_20261115_001503_job-g"

# Job A: daily trace runs ending Nov 13, 14, 15 00:15:03.104 (emitted 5 min later);
# job B: one trace run ending Nov 15 06:00 (emitted 06:05, the newest emission → `now`);
# one generation run.
SELECTION_ROWS = [
    run_row(A13, END - timedelta(days=2)),
    run_row(A14, END - timedelta(days=1)),
    run_row(A15, END),
    run_row(B15, datetime(2026, 11, 15, 6, 0, tzinfo=UTC), job=JOB_B),
    run_row(G15, END, job=GEN_JOB, level="generation"),
]
NOW = datetime(2026, 11, 15, 6, 5, tzinfo=UTC)


def load(path: Path, **request: Any) -> Loaded:
    request.setdefault("level", "trace")
    request.setdefault("job", None)
    request.setdefault("lookback", timedelta(days=30))
    return SnapshotSource(path).load(RunRequest(**request))


@pytest.fixture
def selection_file(tmp_path: Path) -> Path:
    return llmc_write_jsonl(tmp_path / "runs.jsonl", SELECTION_ROWS)


def data_error(path: Path, **request: Any) -> str:
    with pytest.raises(DataError) as info:
        load(path, **request)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- shape variants ----------------------------------------------------------------------


def test_clusters_as_array_and_as_json_string_read_the_same(tmp_path: Path) -> None:
    clusters = [
        llmc_cluster(0, ["t1", "t2"], title="A", metrics={"avg_cost": 0.5, "item_count": 2}),
        llmc_cluster(-1, ["t3"], title="Outliers", description="Did not fit"),
    ]
    as_list = llmc_write_jsonl(tmp_path / "list.jsonl", [run_row(A15, END, clusters=clusters)])
    text_row = run_row(A15, END, clusters=clusters)
    text_row["properties"]["$ai_clusters"] = orjson.dumps(clusters).decode()
    as_text = llmc_write_jsonl(tmp_path / "text.jsonl", [text_row])
    a, b = load(as_list).latest, load(as_text).latest
    assert a == b
    assert [(c.cluster_id, c.title, c.size, c.item_ids) for c in a.clusters] == [
        (0, "A", 2, ("t1", "t2")),
        (-1, "Outliers", 1, ("t3",)),
    ]
    assert a.clusters[0].baked == {"avg_cost_usd": 0.5, "item_count": 2.0}
    assert a.clusters[1].baked is None
    assert a.clusters[1].description == "Did not fit"
    assert a.noise is a.clusters[1]


def test_run_header_fields(selection_file: Path) -> None:
    run = load(selection_file, job="job-a").latest
    assert run.run_id == A15
    assert (run.level, run.job_id, run.job_name) == ("trace", "job-a", "Default - traces")
    assert run.window_start == datetime(2026, 11, 8, 0, 15, 3, 104000, tzinfo=UTC)
    assert run.window_end == END
    assert run.emitted_at == END + timedelta(minutes=5)
    assert run.items_analyzed == 6  # 3 + 2 + 1 (helpers: sum of sizes)


def legacy_row(event: str, run_id: str, **props: Any) -> Row:
    """An old-shape event: no level, no job fields, no params."""
    base: Row = {
        "$ai_clustering_run_id": run_id,
        "$ai_window_start": "2026-11-08T00:15:03.104+00:00",
        "$ai_window_end": "2026-11-15T00:15:03.104+00:00",
        "$ai_clusters": [llmc_cluster(0, ["g1", "g2"]), llmc_cluster(-1, ["g3"])],
    }
    base.update(props)
    return llmc_event(event, "2026-11-15T00:20:00+00:00", base, uuid=f"u-{run_id}")


def test_legacy_run_level_from_event_name_no_job_and_traces_analyzed(tmp_path: Path) -> None:
    path = llmc_write_jsonl(
        tmp_path / "legacy.jsonl",
        [
            legacy_row(
                "$ai_generation_clusters",
                "1_generation_20261115_001503",
                **{"$ai_total_traces_analyzed": 40},
            )
        ],
    )
    run = load(path, level="generation").latest
    assert run.level == "generation"  # from the event name
    assert (run.job_id, run.job_name) == ("", "")
    assert run.items_analyzed == 40  # $ai_total_traces_analyzed, not the 3 clustered
    assert run.params == {}
    # A job filter cannot match a run without a job.
    message = data_error(path, level="generation", job="Default - generations")
    assert "of job 'Default - generations'" in message


def test_items_analyzed_fallbacks(tmp_path: Path) -> None:
    rows = [
        legacy_row("$ai_trace_clusters", "r_none"),  # neither field: sum of sizes
        legacy_row("$ai_trace_clusters", "r_str", **{"$ai_total_items_analyzed": "12"}),
        legacy_row(
            "$ai_trace_clusters",
            "r_both",
            **{"$ai_total_items_analyzed": 30, "$ai_total_traces_analyzed": 99},
        ),
    ]
    for row in rows:
        path = llmc_write_jsonl(tmp_path / "one.jsonl", [row])
        run_id = row["properties"]["$ai_clustering_run_id"]
        run = load(path, run_id=run_id).latest
        assert run.level == "trace"
        expected = {"r_none": 3, "r_str": 12, "r_both": 30}[run_id]  # 2 + 1; "12"; the new name
        assert run.items_analyzed == expected, run_id


def test_explicit_level_wins_over_event_name(tmp_path: Path) -> None:
    row = run_row(A15, END)
    row["event"] = "$ai_generation_clusters"  # mislabelled event, explicit level "trace"
    path = llmc_write_jsonl(tmp_path / "x.jsonl", [row])
    assert load(path).latest.level == "trace"


def test_duplicate_emission_is_one_run_the_last_emitted(tmp_path: Path) -> None:
    first = run_row(A15, END, emitted=END + timedelta(minutes=5))
    retry_clusters = [
        llmc_cluster(0, ["t1", "t2", "t3"], title="Generating SQL queries"),
        *CLUSTERS[1:],
    ]
    retry = run_row(A15, END, emitted=END + timedelta(minutes=25), clusters=retry_clusters)
    retry["uuid"] = "uuid-retry"
    earlier = run_row(A14, END - timedelta(days=1))
    path = llmc_write_jsonl(
        tmp_path / "dup.jsonl", [retry, earlier, first]
    )  # file order irrelevant
    loaded = load(
        path,
        baselines=(BaselineRequest("previous"), BaselineRequest("median_of", count=5)),
    )
    assert loaded.latest.run_id == A15
    assert loaded.latest.cluster(0).title == "Generating SQL queries"  # the retry's payload
    # The retry is not its own "previous", and is not counted twice among earlier runs.
    assert [r.run_id for r in loaded.baselines[BaselineRequest("previous")]] == [A14]
    assert [r.run_id for r in loaded.baselines[BaselineRequest("median_of", count=5)]] == [A14]


# --- selection ----------------------------------------------------------------------------


def test_now_is_the_newest_emission(selection_file: Path) -> None:
    assert load(selection_file).now == NOW


def test_latest_of_any_job_and_by_job_name_or_id(selection_file: Path) -> None:
    assert load(selection_file).latest.run_id == B15  # newest window end of any trace job
    assert load(selection_file, job="Default - traces").latest.run_id == A15
    assert load(selection_file, job="job-a").latest.run_id == A15
    assert load(selection_file, job="Nightly - trace").latest.run_id == B15
    assert load(selection_file, level="generation").latest.run_id == G15


def test_lookback_bounds_the_latest_run(selection_file: Path) -> None:
    # now 06:05; a 6h lookback reaches back to 00:05, so A15 (00:15:03) is in, A14 not
    assert load(selection_file, job="job-a", lookback=timedelta(hours=6)).latest.run_id == A15
    message = data_error(selection_file, job="job-a", lookback=timedelta(hours=5))
    # since = 06:05 − 5h = 01:05
    assert message == (
        "no trace-level run of job 'job-a' with a window ending after 2026-11-15 01:05Z; "
        f"the newest is {A15} (window end 2026-11-15 00:15Z)"
    )


def test_pinned_run_ignores_lookback(selection_file: Path) -> None:
    loaded = load(selection_file, run_id=A13, lookback=timedelta(hours=1))
    assert loaded.latest.run_id == A13
    assert loaded.latest.window_end == END - timedelta(days=2)


def test_pinned_run_of_the_wrong_level(selection_file: Path) -> None:
    assert data_error(selection_file, run_id=G15) == (
        f"run {G15} is a generation-level run; the config asks for trace (run.level)"
    )


def test_pinned_run_not_found(selection_file: Path) -> None:
    assert data_error(selection_file, run_id="1_trace_nope") == "run 1_trace_nope not found"


def test_after_requires_a_window_ending_strictly_later(selection_file: Path) -> None:
    a14_end = END - timedelta(days=1)
    assert load(selection_file, job="job-a", after=a14_end).latest.run_id == A15
    message = data_error(selection_file, job="job-a", after=END)  # A15 ends exactly at END
    assert message == (
        "no trace-level run of job 'job-a' with a window ending after 2026-10-16 06:05Z "
        f"and after 2026-11-15 00:15:03Z; the newest is {A15} (window end 2026-11-15 00:15Z)"
    )


def test_previous_baseline_same_level_and_job(selection_file: Path) -> None:
    prev = BaselineRequest("previous")
    loaded = load(selection_file, job="job-a", baselines=(prev,))
    assert [r.run_id for r in loaded.baselines[prev]] == [A14]
    # Latest of any job is B15; job B has no earlier run, and job A's runs don't count.
    assert load(selection_file, baselines=(prev,)).baselines[prev] == ()
    # A pinned latest has its own previous.
    assert [
        r.run_id for r in load(selection_file, run_id=A14, baselines=(prev,)).baselines[prev]
    ] == [A13]


def test_median_of_baselines_oldest_first(selection_file: Path) -> None:
    two, many = BaselineRequest("median_of", count=2), BaselineRequest("median_of", count=5)
    loaded = load(selection_file, job="job-a", baselines=(two, many))
    assert [r.run_id for r in loaded.baselines[two]] == [A13, A14]
    assert [r.run_id for r in loaded.baselines[many]] == [A13, A14]  # only two exist
    one = BaselineRequest("median_of", count=1)
    assert [
        r.run_id for r in load(selection_file, job="job-a", baselines=(one,)).baselines[one]
    ] == [A14]


def test_run_id_baseline(selection_file: Path) -> None:
    spec = BaselineRequest("run_id", run_id=A13)
    loaded = load(selection_file, job="job-a", baselines=(spec,))
    (baseline,) = loaded.baselines[spec]
    assert isinstance(baseline, Run) and baseline.run_id == A13
    assert baseline.window_end == END - timedelta(days=2)
    # A baseline from another job of the same level is allowed (the user named it).
    other = BaselineRequest("run_id", run_id=B15)
    assert [
        r.run_id for r in load(selection_file, job="job-a", baselines=(other,)).baselines[other]
    ] == [B15]
    missing = BaselineRequest("run_id", run_id="nope")
    assert load(selection_file, baselines=(missing,)).baselines[missing] == ()
    wrong = BaselineRequest("run_id", run_id=G15)
    assert data_error(selection_file, job="job-a", baselines=(wrong,)) == (
        f"baseline run {G15} is generation-level; the latest run is trace-level"
    )


def test_nothing_found_names_the_jobs_seen(selection_file: Path) -> None:
    assert data_error(selection_file, job="Missing job") == (
        "no trace-level run of job 'Missing job' with a window ending after 2026-10-16 06:05Z; "
        "jobs seen: Default - traces (id job-a), Nightly - trace (id job-b)"
    )


def test_the_singular_default_job_name_gets_the_plural_suggested(selection_file: Path) -> None:
    # Older docs wrote "Default - trace"; PostHog names its job "Default - traces".
    message = data_error(selection_file, job="Default - trace")
    assert message.endswith(
        "jobs seen: Default - traces (id job-a), Nightly - trace (id job-b); "
        "did you mean 'Default - traces'?"
    )


def test_nothing_found_names_the_levels_seen(selection_file: Path) -> None:
    assert data_error(selection_file, level="evaluation") == (
        "no evaluation-level run with a window ending after 2026-10-16 06:05Z; "
        "levels seen: generation, trace"
    )


def test_legacy_runs_have_their_own_previous(tmp_path: Path) -> None:
    old = legacy_row("$ai_trace_clusters", "1_trace_20261114_001503")
    old["properties"]["$ai_window_end"] = "2026-11-14T00:15:03.104+00:00"
    new = legacy_row("$ai_trace_clusters", "1_trace_20261115_001503")
    path = llmc_write_jsonl(tmp_path / "legacy.jsonl", [old, new])
    prev = BaselineRequest("previous")
    loaded = load(path, baselines=(prev,))
    assert loaded.latest.run_id == "1_trace_20261115_001503"
    assert [r.run_id for r in loaded.baselines[prev]] == ["1_trace_20261114_001503"]


def test_legacy_runs_counted_are_those_that_would_be_earlier_runs(tmp_path: Path) -> None:
    """Loaded.legacy_runs: runs without a job id of the latest's level, window ending
    before its and within the lookback; none when the latest has no job either."""

    def legacy(run_id: str, end: datetime, event: str = "$ai_trace_clusters") -> Row:
        return legacy_row(event, run_id, **{"$ai_window_end": iso(end)})

    rows = [
        run_row(A15, END),
        legacy("1_trace_20261114_001503", END - timedelta(days=1)),  # counted
        legacy("1_trace_20261113_001503", END - timedelta(days=2)),  # counted
        legacy("1_trace_20261001_001503", END - timedelta(days=45)),  # before the lookback
        legacy("1_trace_20261116_001503", END + timedelta(days=1)),  # ends after the latest
        legacy("1_generation_20261114_001503", END - timedelta(1), "$ai_generation_clusters"),
    ]
    path = llmc_write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert load(path, job="job-a").legacy_runs == 2
    assert load(path, job="job-a", lookback=timedelta(hours=36)).legacy_runs == 1
    # A legacy latest run has legacy earlier runs of its own (test above): none to explain.
    only_legacy = llmc_write_jsonl(tmp_path / "legacy.jsonl", rows[1:3])
    assert load(only_legacy).latest.job_id == ""
    assert load(only_legacy).legacy_runs == 0
    no_legacy = llmc_write_jsonl(tmp_path / "jobs.jsonl", SELECTION_ROWS)
    assert load(no_legacy, job="job-a").legacy_runs == 0
