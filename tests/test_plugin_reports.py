"""The plugin's JSON report: its shape and statuses, and an unwritable report path."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from plugin_helpers import (
    OK,
    PASSING,
    PASSING_NAMES,
    POSTHOG_SOURCE,
    QUIET,
    RELATIVE,
    TESTS_FAILED,
    WARNING,
    WARNING_NAME,
    Snapshots,
    assert_no_traceback,
    failing_check,
    junit_outcomes,
    output,
    run,
    table_header,
    write_config,
)

pytestmark = pytest.mark.usefixtures("_clean_env")


# ---------------------------------------------------------------------------
# The JSON report

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["run", "baseline", "checks", "semantics"],
    "properties": {
        "semantics": {"enum": ["ui", "workflow"]},
        "run": {
            "type": "object",
            "required": [
                "run_id",
                "level",
                "window_start",
                "window_end",
                "items_analyzed",
                "url",
            ],
            "properties": {
                "run_id": {"type": "string", "minLength": 1},
                "level": {"enum": ["trace", "generation", "evaluation"]},
                "window_start": {"type": "string", "format": "date-time"},
                "window_end": {"type": "string", "format": "date-time"},
                "items_analyzed": {"type": "integer", "minimum": 0},
                "url": {"type": ["string", "null"]},
            },
        },
        "baseline": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["run_id"],
                    "properties": {"run_id": {"type": "string", "minLength": 1}},
                },
            ]
        },
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "metric",
                    "status",
                    "observed",
                    "expected",
                    "message",
                    "clusters",
                ],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "metric": {"type": "string"},
                    "status": {"enum": ["pass", "fail", "warn", "error", "skip"]},
                    "observed": {"type": ["number", "null"]},
                    "expected": {"type": "string"},
                    "message": {"type": "string"},
                    "clusters": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["cluster_id", "title", "size", "value", "status", "url"],
                            "properties": {
                                "cluster_id": {"type": "integer"},
                                "title": {"type": "string"},
                                "size": {"type": "integer", "minimum": 0},
                                "value": {"type": ["number", "null"]},
                                "status": {"type": "string"},
                                "url": {"type": ["string", "null"]},
                            },
                        },
                    },
                },
            },
        },
    },
}

# report status → junit outcome of the pytest item
PYTEST_OUTCOME = {
    "pass": "passed",
    "warn": "passed",
    "fail": "failure",
    "error": "error",
    "skip": "skipped",
}


def test_json_report_shape_statuses_and_observed(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    failing, top, _ = failing_check(snaps)
    cheapest = min(float(c.metrics_ui["avg_cost"] or 0) for c in snaps.topics if c.size >= 100)
    min_check = (
        "- name: Big clusters cost something\n  metric: avg_cost_usd\n"
        f"  min: {cheapest / 2:.6f}\n  where: {{min_size: 100}}\n"
    )
    write_config(
        pytester, PASSING + failing + min_check + WARNING + RELATIVE, source=POSTHOG_SOURCE
    )
    (pytester.path / "reports").mkdir()  # a report's folder must exist (none is created)
    result = run(
        pytester,
        "--llmc-config",
        "checks.yaml",
        "--llmc-snapshot",
        snaps.events,
        "--llmc-report",
        "reports/out.json",
        "--junitxml",
        "junit.xml",
    )
    assert result.ret == TESTS_FAILED
    doc = json.loads((pytester.path / "reports" / "out.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, REPORT_SCHEMA, format_checker=jsonschema.FormatChecker())

    assert doc["run"]["run_id"] == snaps.latest.run_id
    assert doc["run"]["items_analyzed"] == snaps.latest.items_analyzed
    assert doc["run"]["level"] == "trace"
    assert doc["run"]["url"] == (
        "https://example.invalid/project/1/ai-observability/clusters/"
        + quote(snaps.latest.run_id, safe="")
    )
    assert doc["baseline"]["run_id"] == snaps.previous.run_id

    checks = {c["name"]: c for c in doc["checks"]}
    cases = junit_outcomes(pytester.path / "junit.xml")
    assert sorted(checks) == sorted(cases)
    for name, check in checks.items():
        assert PYTEST_OUTCOME[check["status"]] == cases[name][0], name
    assert checks["Costly clusters"]["status"] == "fail"
    assert checks[WARNING_NAME]["status"] == "warn"

    # Cluster scope: observed is the worst *evaluated* cluster's value.
    for name, pick in (
        ("Clusters stay under a dollar", max),
        ("Costly clusters", max),
        ("Big clusters cost something", min),
    ):
        rows = checks[name]["clusters"]
        evaluated = [r["value"] for r in rows if r["status"] in ("pass", "fail")]
        assert evaluated, name
        assert checks[name]["observed"] == pytest.approx(pick(evaluated)), name
    costly = checks["Costly clusters"]
    failing_rows = [r for r in costly["clusters"] if r["status"] == "fail"]
    assert [(r["cluster_id"], r["title"], r["size"]) for r in failing_rows] == [
        (top.cluster_id, top.title, top.size)
    ]
    assert failing_rows[0]["url"].endswith(f"/{top.cluster_id}")
    # Clusters under min_size are listed as not evaluated, never dropped.
    big = checks["Big clusters cost something"]["clusters"]
    assert len(big) == len(snaps.topics)
    small = {r["cluster_id"] for r in big if r["status"] not in ("pass", "fail")}
    assert small == {c.cluster_id for c in snaps.topics if c.size < 100}
    assert small  # the test would be vacuous otherwise


def test_an_unwritable_report_path_fails_the_run(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    (pytester.path / "blocker").write_text("a file, not a directory")
    result = run(pytester, "--llmc-config", "checks.yaml", "--llmc-report", "blocker/out.json")
    text = output(result)
    result.assert_outcomes(passed=len(PASSING_NAMES))
    assert result.ret != OK
    assert re.search(r"cannot write report .*blocker/out\.json", text), text
    assert_no_traceback(text)


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_report_not_written_is_a_line_of_its_own_and_the_last_line_agrees(
    pytester: pytest.Pytester, snaps: Snapshots, workers: tuple[str, ...]
) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    result = pytester.runpytest_subprocess(
        *QUIET, *workers, "--llmc-config", "checks.yaml", "--llmc-report", "missing/out.json"
    )
    lines = result.stdout.lines
    problem = "llmc-checks: cannot write report missing/out.json: folder missing does not exist"
    # Its own line (under xdist pytest's progress line used to swallow it), after the
    # gate's table, where a reader of the log's end finds it.
    assert problem in lines, output(result)
    assert lines.index(problem) > lines.index(table_header(result.stdout.str())[0])
    assert not (pytester.path / "missing").exists()  # no folder created for it
    # Exit code 1, and pytest's last line says why: not "4 passed" alone.
    assert result.ret == TESTS_FAILED
    assert re.fullmatch(r"=+ \d+ passed, 1 report not written in [\d.]+s =+", lines[-1]), lines[-1]
    assert_no_traceback(output(result))
