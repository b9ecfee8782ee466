"""report.terminal / report.gate_json / report.json_document on hand-built outcomes."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from llmc_checks import report
from llmc_checks.model import Cluster, Run
from llmc_checks.report import markdown as markdown_report
from llmc_checks.results import BaselineView, CheckResult, ClusterRow, Outcome

UTC = timezone.utc
LONG_TITLE = "Extremely long cluster title about refund requests for damaged parcels in transit"
HOST = "https://eu.posthog.example"


def make_run(run_id: str = "1_trace_20261115_001503_job", items: int = 1000) -> Run:
    clusters = (
        Cluster(0, LONG_TITLE, "", 400),
        Cluster(1, "SQL query generation", "", 350),
        Cluster(2, "Tiny topic", "", 10),
        Cluster(-1, "Outliers", "", 240),
    )
    return Run(
        run_id=run_id,
        level="trace",
        job_id="job",
        job_name="Default - traces",
        window_start=datetime(2026, 11, 8, 0, 15, 3, tzinfo=UTC),
        window_end=datetime(2026, 11, 15, 0, 15, 3, tzinfo=UTC),
        items_analyzed=items,
        clusters=clusters,
    )


def link(run: Run, cluster_id: int) -> str:
    return f"{HOST}/project/7/ai-observability/clusters/{run.run_id}/{cluster_id}"


def results() -> tuple[CheckResult, ...]:
    fail_rows = (
        ClusterRow(0, LONG_TITLE, 400, 0.08, "fail", url=link(make_run(), 0)),
        ClusterRow(1, "SQL query generation", 350, 0.02, "pass", url=link(make_run(), 1)),
        ClusterRow(2, "Tiny topic", 10, 0.5, "not_evaluated", note="size 10 < min_size 20"),
    )
    return (
        CheckResult(
            "items_analyzed min 100",
            "items_analyzed",
            "run",
            "pass",
            1000.0,
            "≥ 100",
            "items_analyzed = 1,000",
        ),
        CheckResult(
            "Costly clusters",
            "avg_cost_usd",
            "cluster",
            "fail",
            0.08,
            "≤ $0.05",
            "1 of 2 clusters fails",
            clusters=fail_rows,
            worst=fail_rows[0],
        ),
        CheckResult(
            "noise_share max 10%",
            "noise_share",
            "run",
            "warn",
            0.24,
            "≤ 10%",
            "noise_share = 24.0%",
            severity="warn",
        ),
        CheckResult(
            "title_stability min 80%",
            "title_stability",
            "run",
            "skip",
            None,
            "≥ 80%",
            "skipped: no baseline yet",
        ),
        CheckResult(
            "error_rate max 5%",
            "error_rate",
            "cluster",
            "error",
            None,
            "≤ 5%",
            "no cluster could be evaluated",
        ),
        CheckResult(
            "cluster_count min 2", "cluster_count", "run", "pass", 3.0, "≥ 2", "cluster_count = 3"
        ),
    )


def make_outcome(
    path: str = "checks.yaml", baseline: BaselineView | None = None, **kw: object
) -> Outcome:
    return Outcome(
        Path(path),
        "snapshot events.jsonl.gz",
        results(),
        make_run(),
        baseline,
        link=link,
        **kw,  # type: ignore[arg-type]
    )


ALL = range(len(results()))


def row_of(table: str, name: str) -> str:
    rows = [line for line in table.splitlines() if line.startswith(name + "  ")]
    assert len(rows) == 1, table
    return rows[0]


# ---------------------------------------------------------------------------
# The terminal table


def test_terminal_has_the_header_the_run_and_a_row_per_check() -> None:
    text = report.terminal(make_outcome(), ALL)
    lines = text.splitlines()
    assert lines[0].startswith("run 1_trace_20261115_001503_job (trace, window 2026-11-08 00:15")
    assert "1,000 items" in lines[0] and "3 clusters" in lines[0]  # noise is not a cluster
    assert "from snapshot events.jsonl.gz" in lines[0]
    header = r"^check\s+scope\s+observed\s+expected\s+margin\s+trend\s+status\s+worst cluster$"
    assert re.search(header, text, re.M)
    for r in results():
        assert r.name in text
    costly = row_of(text, "Costly clusters")
    assert re.search(r"\s+cluster\s+\$0\.08\s+≤ \$0\.05\s+.*FAIL\s", costly)
    assert re.search(r"\sWARN\s*$", row_of(text, "noise_share max 10%"))
    assert re.search(r"\s-\s.*SKIP", row_of(text, "title_stability min 80%"))
    assert re.search(r"\sERROR\s*$", row_of(text, "error_rate max 5%"))


def test_terminal_truncates_long_titles() -> None:
    text = report.terminal(make_outcome(), ALL)
    worst = row_of(text, "Costly clusters")
    assert LONG_TITLE not in text
    # Cut to 40 characters at the last word boundary that keeps two thirds of them.
    head = LONG_TITLE[:39]
    shown = head[: head.rfind(" ")] + "…"
    assert len(shown) <= 40
    assert shown in worst
    assert "(#0, n=400): $0.08" in worst


def test_terminal_counts_statuses_worst_first() -> None:
    text = report.terminal(make_outcome(), ALL)
    assert "1 fail, 1 error, 1 warn, 1 skip, 2 pass" in text.splitlines()
    only_two = report.terminal(make_outcome(), [0, 5])
    assert "2 pass" in only_two.splitlines()
    assert "Costly clusters" not in only_two  # deselected checks stay out of the table


def test_terminal_shows_the_baseline_and_a_gate_error() -> None:
    base = make_run("1_trace_20261114_001503_job")
    text = report.terminal(make_outcome(baseline=BaselineView("previous", (base,))), ALL)
    assert "baseline previous: 1_trace_20261114_001503_job" in text

    errored = Outcome(
        Path("checks.yaml"),
        "snapshot gone.jsonl",
        tuple(
            CheckResult(r.name, r.metric, r.scope, "error", None, r.expected, "gone")
            for r in results()
        ),
        error="gone.jsonl: snapshot file not found",
    )
    text = report.terminal(errored, ALL)
    assert "ERROR: gone.jsonl: snapshot file not found" in text
    assert not text.startswith("run ")
    assert f"{len(results())} error" in text.splitlines()


def test_a_gate_without_baseline_runs_says_why_and_that_changes_are_not_judged() -> None:
    # Checks with their own min/max are judged without a baseline: the header (terminal and
    # Markdown) says once that their change limits were not.
    reason = "no baseline yet: base.json does not exist (write it with --llmc-update-baseline)"
    outcome = make_outcome(baseline=BaselineView("file base.json", (), missing_reason=reason))
    expected = f"baseline file base.json: {reason}; change limits are not judged"
    assert report.terminal(outcome, ALL).splitlines()[1] == expected
    markdown = markdown_report.render([(outcome, ALL)])
    shown = markdown_report.cell(f"{reason}; change limits are not judged")  # escaped as cells are
    assert f"Baseline (file base.json): {shown}." in markdown
    # With its runs, the header names them and says nothing of the kind.
    base = make_run("1_trace_20261114_001503_job")
    with_runs = report.terminal(make_outcome(baseline=BaselineView("previous", (base,))), ALL)
    assert "not judged" not in with_runs


# ---------------------------------------------------------------------------
# JSON


def test_gate_json_shape() -> None:
    base = make_run("1_trace_20261114_001503_job")
    doc = report.gate_json(make_outcome(baseline=BaselineView("previous", (base,))), ALL)
    json.dumps(doc)  # serialisable as is
    assert doc["status"] == "error"  # error outranks fail and warn
    assert doc["run"] == {
        **doc["run"],
        "run_id": "1_trace_20261115_001503_job",
        "level": "trace",
        "window_start": "2026-11-08T00:15:03+00:00",
        "window_end": "2026-11-15T00:15:03+00:00",
        "items_analyzed": 1000,
        "url": f"{HOST}/project/7/ai-observability/clusters/1_trace_20261115_001503_job",
    }
    assert doc["baseline"]["run_id"] == "1_trace_20261114_001503_job"
    assert [c["name"] for c in doc["checks"]] == [r.name for r in results()]
    assert [c["status"] for c in doc["checks"]] == ["pass", "fail", "warn", "skip", "error", "pass"]
    costly = doc["checks"][1]
    assert costly["observed"] == 0.08
    assert costly["expected"] == "≤ $0.05"
    assert costly["clusters"][0] == {
        **costly["clusters"][0],
        "cluster_id": 0,
        "title": LONG_TITLE,  # never truncated in the JSON
        "size": 400,
        "value": 0.08,
        "status": "fail",
        "url": f"{HOST}/project/7/ai-observability/clusters/1_trace_20261115_001503_job/0",
    }
    assert [c["status"] for c in costly["clusters"]] == ["fail", "pass", "not_evaluated"]
    assert costly["clusters"][2]["url"] is None


def test_gate_json_without_baseline_or_run() -> None:
    doc = report.gate_json(make_outcome(), [0, 5])
    assert doc["baseline"] is None
    assert doc["status"] == "pass"
    assert len(doc["checks"]) == 2
    errored = Outcome(Path("c.yaml"), "snapshot x", results(), error="boom")
    doc = report.gate_json(errored, ALL)
    assert doc["run"] is None
    assert doc["error"] == "boom"


@pytest.mark.parametrize(
    ("indexes", "status"),
    [([0], "pass"), ([0, 2], "warn"), ([0, 1, 2], "fail"), ([0, 4], "error"), ([3], "pass")],
)
def test_overall_status(indexes: list[int], status: str) -> None:
    assert report.gate_json(make_outcome(), indexes)["status"] == status


def test_json_document_one_gate_is_the_gate_itself() -> None:
    outcome = make_outcome()
    assert report.json_document([(outcome, ALL)]) == report.gate_json(outcome, ALL)


def test_json_document_with_several_gates() -> None:
    a = make_outcome("a.yaml")
    b = make_outcome("b.yaml")
    doc = report.json_document([(a, [0, 2]), (b, [0, 1])])
    assert set(doc) >= {"status", "gates"}
    assert doc["status"] == "fail"  # the worst gate's status
    assert [g["config"] for g in doc["gates"]] == ["a.yaml", "b.yaml"]
    assert [g["status"] for g in doc["gates"]] == ["warn", "fail"]
    assert [len(g["checks"]) for g in doc["gates"]] == [2, 2]
    for gate in doc["gates"]:
        assert set(gate) >= {"run", "baseline", "checks"}


def test_a_non_finite_number_never_reaches_the_json_report(tmp_path: Path) -> None:
    # The sources refuse NaN and infinite data (tests/test_bad_data.py); should a value
    # slip through, no invalid JSON (`NaN`, bare `Infinity`) is written: the report is
    # named as not written instead (and the run fails).
    outcome = make_outcome()
    first = dataclasses.replace(outcome.results[0], observed=math.inf)
    bad = dataclasses.replace(outcome, results=(first, *outcome.results[1:]))
    target = tmp_path / "out.json"
    assert report.write_all([(bad, list(ALL))], [target]) == [
        f"cannot write report {target}: a value is not a finite number"
    ]
    assert not target.exists()


def test_write_all_writes_json_and_reports_problems(tmp_path: Path) -> None:
    outcomes = [(make_outcome(), list(ALL))]
    missing = tmp_path / "deep" / "dir" / "out.json"
    assert report.write_all(outcomes, [missing]) == [
        f"cannot write report {missing}: folder {missing.parent} does not exist"
    ]
    assert not (tmp_path / "deep").exists()  # no folder created on the quiet
    target = tmp_path / "out.json"
    assert report.write_all(outcomes, [target]) == []
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["checks"][1]["name"] == "Costly clusters"
    assert not list(target.parent.glob("*.tmp"))  # written atomically, no leftovers

    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    problems = report.write_all(outcomes, [blocker / "out.json"])
    assert len(problems) == 1
    assert "cannot write report" in problems[0] and "out.json" in problems[0]


def test_write_all_appends_to_the_github_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert report.write_all([(make_outcome(), list(ALL))], []) == []
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n")  # appended, not overwritten
    assert "Costly clusters" in text


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_every_report_names_the_semantics(semantics: str) -> None:
    outcome = make_outcome(semantics=semantics)
    first = report.terminal(outcome, ALL).splitlines()[0]
    assert first.endswith(report.cells.semantics_text(semantics))
    assert first.split("; ")[-1].startswith(f"{semantics} semantics")
    assert report.gate_json(outcome, ALL)["semantics"] == semantics
    assert f"Metrics: {semantics} semantics" in markdown_report.render([(outcome, ALL)])
    # A gate that failed before reading a run still says which numbers it meant.
    errored = Outcome(Path("c.yaml"), "snapshot x", results(), error="boom", semantics=semantics)
    assert f"{semantics} semantics" in report.terminal(errored, ALL).splitlines()[0]
    assert report.gate_json(errored, ALL)["semantics"] == semantics


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_an_evaluation_run_is_reported_in_the_jobs_numbers_under_either_semantics(
    tmp_path: Path, semantics: str
) -> None:
    """An evaluation run has no AI events: its numbers are its baked metrics, the
    clustering job's (workflow), whatever run.semantics says; the reports say so."""
    from helpers import llmc_cluster, llmc_run_event, llmc_write_jsonl

    from llmc_checks.config import parse_config
    from llmc_checks.gate import Gate, Options

    baked = {"avg_cost": 0.01, "avg_latency": 1.0, "avg_tokens": 10.0, "error_rate": 0.0}
    cluster = llmc_cluster(0, ["e1", "e2"], metrics=baked)
    row = llmc_run_event("1_evaluation_x", [cluster], level="evaluation")
    path = llmc_write_jsonl(tmp_path / "eval.jsonl", [row])
    text = (
        f"version: 1\nsource: {{snapshot: {path}}}\n"
        f"run: {{level: evaluation, semantics: {semantics}}}\n"
        "checks:\n  - {metric: avg_cost_usd, max: 0.05}\n  - {metric: avg_cost_usd, max: 0.001}\n"
    )
    outcome = Gate(parse_config(text, filename="c.yaml"), tmp_path / "c.yaml", Options()).outcome()
    assert outcome.error is None and outcome.results[0].status == "pass"
    # Its items have no numbers of their own: evidence names them, with no value to show.
    assert outcome.results[1].status == "fail"
    assert outcome.results[1].message.splitlines()[2:] == [
        "      representative · e1",
        "      representative · e2",
    ]
    said = (
        "workflow semantics (the clustering job's stored metrics: "
        "an evaluation run has no AI events to read, so under either semantics)"
    )
    assert report.terminal(outcome, [0]).splitlines()[0].endswith(f"; {said}")
    assert "ui semantics" not in report.terminal(outcome, [0])
    md = markdown_report.render([(outcome, [0, 1])])
    assert "Metrics: workflow semantics (the clustering job" in md
    assert "`e1` representative" in md and "no AI event in the window" not in md
    assert report.gate_json(outcome, [0])["semantics"] == "workflow"
