"""The plugin as a user meets it: pytester runs of `pytest --llmc-config checks.yaml`.

One seeded snapshot (3 daily runs) and one single-run snapshot are generated per module
by `llmc_checks.synth`; every config is written into `pytester.path`. Limits that decide
pass/fail are derived from the generator's ground truth, so the tests say *why* a check
passes or fails instead of relying on magic numbers.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema  # type: ignore[import-untyped]
import pytest

import llmc_checks
from llmc_checks import formatting
from llmc_checks.sources.snapshot import SNAPSHOT_MARKER
from llmc_checks.synth import ClusterTruth, RunTruth, Scenario, generate, write_rows

# pytester's in-process runs restore sys.modules afterwards, so whatever an inner run
# imports lazily is imported afresh by the next one (slow, and numpy refuses to load
# twice). Import the package's modules here, once; the subprocess tests check laziness.
_PRELOAD = [m.name for m in pkgutil.walk_packages(llmc_checks.__path__, "llmc_checks.")]
for _name in [*_PRELOAD, "numpy", "scipy.optimize", "snowballstemmer"]:  # + matching's
    with contextlib.suppress(ImportError):  # an inner run reports it if it matters
        importlib.import_module(_name)

SECRET = "phx_SECRET123"
USAGE_ERROR = pytest.ExitCode.USAGE_ERROR
TESTS_FAILED = pytest.ExitCode.TESTS_FAILED
OK = pytest.ExitCode.OK


# ---------------------------------------------------------------------------
# The shared data


@dataclass(frozen=True)
class Snapshots:
    events: Path  # 3 daily runs: a latest run and a previous one to compare with
    single: Path  # 1 run: no baseline exists
    broken: dict[str, Path]  # source-error variants of `events`
    latest: RunTruth
    previous: RunTruth

    @property
    def topics(self) -> list[ClusterTruth]:
        return [c for c in self.latest.clusters if c.cluster_id != -1]

    def costliest(self) -> tuple[ClusterTruth, float]:
        """The most expensive cluster and a `max` that only it exceeds."""
        ranked = sorted(self.topics, key=lambda c: float(c.metrics["avg_cost"] or 0.0))
        top, second = ranked[-1], ranked[-2]
        top_cost, second_cost = (
            float(top.metrics["avg_cost"] or 0),
            float(second.metrics["avg_cost"] or 0),
        )
        limit = round((top_cost + second_cost) / 2, 4)
        assert second_cost < limit < top_cost
        return top, limit

    @property
    def noise_share(self) -> float:
        noise = next(c for c in self.latest.clusters if c.cluster_id == -1)
        return noise.size / self.latest.items_analyzed


@pytest.fixture(scope="module")
def snaps(tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    root = tmp_path_factory.mktemp("llmc-snapshots")
    synth = generate(Scenario(days=3, traces_per_day=150))
    rows = synth.rows
    events = root / "events.jsonl.gz"
    write_rows(rows, events)
    single = root / "single.jsonl.gz"
    write_rows(generate(Scenario(days=1, traces_per_day=150)).rows, single)

    latest = synth.latest()
    previous = max(
        (r for r in synth.runs if r.window_end < latest.window_end), key=lambda r: r.window_end
    )

    broken: dict[str, Path] = {}
    # A truncated download: the gzip stream stops early.
    data = events.read_bytes()
    broken["truncated_gz"] = root / "truncated.jsonl.gz"
    broken["truncated_gz"].write_bytes(data[: len(data) // 2])
    # A truncated plain file: the last line is cut in the middle.
    plain = root / "plain.jsonl"
    write_rows(rows, plain)
    text = plain.read_bytes().rstrip(b"\n")
    last_line = text.rfind(b"\n") + 1
    broken["truncated_jsonl"] = root / "truncated.jsonl"
    broken["truncated_jsonl"].write_bytes(text[: last_line + (len(text) - last_line) // 2])
    # The latest run's `$ai_clusters` is a string that is not JSON.
    bad = [
        _with_props(r, {"$ai_clusters": "[{not json"}) if _is_latest(r, latest) else r for r in rows
    ]
    broken["clusters_not_json"] = root / "clusters_not_json.jsonl"
    write_rows(bad, broken["clusters_not_json"])
    # Recorded a month after the newest run: no run inside the default lookback.
    marker = {
        "uuid": "00000000-0000-0000-0000-000000000001",
        "event": SNAPSHOT_MARKER,
        "timestamp": "2026-12-20T00:00:00+00:00",
        "distinct_id": "llmc",
        "properties": {},
    }
    broken["no_run_in_lookback"] = root / "stale.jsonl"
    write_rows([*rows, marker], broken["no_run_in_lookback"])
    # Corrupt data: a negative item count.
    negative = [
        _with_props(r, {"$ai_total_items_analyzed": -5}) if _is_latest(r, latest) else r
        for r in rows
    ]
    broken["negative_items"] = root / "negative_items.jsonl"
    write_rows(negative, broken["negative_items"])
    return Snapshots(events, single, broken, latest, previous)


def _is_latest(row: dict[str, Any], latest: RunTruth) -> bool:
    props = row.get("properties") or {}
    return row["event"].endswith("_clusters") and (
        props.get("$ai_clustering_run_id") == latest.run_id
    )


def _with_props(row: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(row)  # synth's clustering rows are shared: never mutate them
    new["properties"].update(changes)
    return new


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs must not see the outer CI's LLMC_* settings or step summary."""
    for name in list(os.environ):
        if name.startswith("LLMC_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


# ---------------------------------------------------------------------------
# Helpers


def write_config(
    pytester: pytest.Pytester,
    checks: str,
    *,
    name: str = "checks.yaml",
    source: str | None = None,
    snapshot: Path | str | None = None,
) -> Path:
    """A config file in pytester.path; `checks` is the YAML list under `checks:`."""
    if source is None:
        source = f"  snapshot: {json.dumps(str(snapshot))}\n"
    body = textwrap.indent(textwrap.dedent(checks), "  ")
    text = "version: 1\nsource:\n" + source + "checks:\n" + body
    path = pytester.path / name
    path.write_text(text, encoding="utf-8")
    return path


# hypothesis' plugin imports all of hypothesis at the end of every inner run.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def run(pytester: pytest.Pytester, *args: str | os.PathLike[str]) -> pytest.RunResult:
    return pytester.runpytest_inprocess(*(str(a) for a in args), *QUIET)


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text
    assert not re.search(r"^\s*>?\s*raise\b", text, re.M), text
    assert not re.search(r"^E {3}", text, re.M), text  # pytest's exception lines
    assert "site-packages" not in text


def table_header(text: str) -> list[str]:
    pattern = r"^check\s+scope\s+observed\s+expected\s+margin\s+trend\s+status\s+worst cluster\s*$"
    return re.findall(pattern, text, re.M)


def table_row(text: str, check: str) -> str:
    rows = [
        line
        for line in text.splitlines()
        if re.match(re.escape(check) + r"\s{2,}(run|cluster)\s", line)
    ]
    assert len(rows) == 1, f"no single table row for {check!r} in:\n{text}"
    return rows[0]


def table_status(text: str, check: str) -> str:
    """The status column of a check's row, read at the header's column offset (cells such
    as margin and trend may be empty, so splitting on spaces would misalign)."""
    header = next(line for line in text.splitlines() if table_header(line))
    start = header.index("status")
    return table_row(text, check)[start:].split()[0]


def junit_outcomes(path: Path) -> dict[str, tuple[str, str]]:
    """testcase name → (outcome, message) from a junit XML file."""
    cases: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = tag
                message = (child.get("message") or "") + "\n" + (child.text or "")
        cases[case.get("name", "")] = (outcome, message)
    return cases


# Checks that pass on the generated data and need no baseline.
PASSING = """\
- metric: items_analyzed
  min: 100
- name: Clusters stay under a dollar
  metric: avg_cost_usd
  max: 1.0
  where: {min_size: 20}
- metric: noise_share
  max: 50%
"""
PASSING_NAMES = ["items_analyzed min 100", "Clusters stay under a dollar", "noise_share max 50%"]

# Relative checks: they compare the latest run with the previous one.
RELATIVE = """\
- metric: title_stability
  min: 10%
- metric: p95_latency_s
  max_increase: 500%
"""
RELATIVE_NAMES = ["title_stability min 10%", "p95_latency_s max_increase 500%"]


def failing_check(snaps: Snapshots) -> tuple[str, ClusterTruth, float]:
    top, limit = snaps.costliest()
    yaml = f"- name: Costly clusters\n  metric: avg_cost_usd\n  max: {limit}\n"
    return yaml, top, limit


WARNING = """\
- metric: noise_share
  max: 1%
  severity: warn
"""
WARNING_NAME = "noise_share max 1%"


# ---------------------------------------------------------------------------
# What runs


def test_no_paths_runs_only_the_checks(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    pytester.makepyfile(test_other="def test_must_not_run():\n    raise AssertionError\n")
    result = run(pytester, "--llmc-config", "checks.yaml", "-v")
    assert result.ret == OK, output(result)
    result.assert_outcomes(passed=len(PASSING_NAMES))
    assert "test_must_not_run" not in output(result)
    for name in PASSING_NAMES:
        result.stdout.fnmatch_lines([f"checks.yaml::{name} PASSED*"])


def test_with_a_path_runs_those_tests_and_the_checks(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    tests_dir = pytester.mkdir("tests_dir")
    (tests_dir / "test_app.py").write_text("def test_app():\n    assert True\n")
    pytester.makepyfile(test_elsewhere="def test_elsewhere():\n    raise AssertionError\n")
    result = run(pytester, "tests_dir", "--llmc-config", "checks.yaml", "-v")
    assert result.ret == OK, output(result)
    result.assert_outcomes(passed=1 + len(PASSING_NAMES))
    result.stdout.fnmatch_lines(["*tests_dir/test_app.py::test_app PASSED*"])
    assert "test_elsewhere" not in output(result)


# ---------------------------------------------------------------------------
# Items: names, -k, --collect-only, junit


def test_collect_only_lists_one_item_per_check_without_reading_the_source(
    pytester: pytest.Pytester,
) -> None:
    write_config(pytester, PASSING, snapshot="no/such/snapshot.jsonl.gz")
    result = run(pytester, "--llmc-config", "checks.yaml", "--collect-only", "-q")
    assert result.ret == OK, output(result)
    result.stdout.fnmatch_lines([f"checks.yaml::{name}" for name in PASSING_NAMES])
    text = output(result)
    assert "not found" not in text
    assert "ERROR" not in text
    assert not table_header(text)
    assert f"{len(PASSING_NAMES)} tests collected" in text


def test_dash_k_selects_checks_by_name(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml", "-k", "dollar or noise_share", "-v")
    assert result.ret == OK, output(result)
    result.assert_outcomes(passed=2, deselected=1)
    text = output(result)
    table_row(text, "Clusters stay under a dollar")
    table_row(text, "noise_share max 50%")
    assert "items_analyzed min 100" not in text


def test_junitxml_has_one_testcase_per_check_with_messages(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    failing, top, _ = failing_check(snaps)
    write_config(pytester, PASSING + failing + WARNING, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml", "--junitxml", "junit.xml")
    assert result.ret == TESTS_FAILED
    cases = junit_outcomes(pytester.path / "junit.xml")
    assert sorted(cases) == sorted([*PASSING_NAMES, "Costly clusters", WARNING_NAME])
    assert {n: o for n, (o, _) in cases.items()} == {
        **{n: "passed" for n in PASSING_NAMES},
        "Costly clusters": "failure",
        WARNING_NAME: "passed",
    }
    message = cases["Costly clusters"][1]
    assert top.title in message
    assert f"{top.size} items" in message

    # A source error: every testcase is an <error> with the cause.
    result = run(
        pytester,
        "--llmc-config",
        "checks.yaml",
        "--junitxml",
        "junit2.xml",
        "--llmc-snapshot",
        "missing.jsonl.gz",
    )
    assert result.ret == TESTS_FAILED
    cases = junit_outcomes(pytester.path / "junit2.xml")
    assert len(cases) == len(PASSING_NAMES) + 2
    for outcome, message in cases.values():
        assert outcome == "error"
        assert "missing.jsonl.gz" in message and "not found" in message


# ---------------------------------------------------------------------------
# Exit codes, the table, messages


def test_all_pass_exits_0_and_prints_the_table(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    write_config(pytester, PASSING + RELATIVE, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml")
    text = output(result)
    assert result.ret == OK, text
    result.assert_outcomes(passed=len(PASSING_NAMES) + len(RELATIVE_NAMES))
    assert len(table_header(text)) == 1
    for name in [*PASSING_NAMES, *RELATIVE_NAMES]:
        assert table_status(text, name) == "PASS"
    assert f"run {snaps.latest.run_id} (" in text
    assert snaps.previous.run_id in text  # the baseline the relative checks used
    assert re.search(r"^=+ llmc-checks: checks\.yaml =+$", text, re.M)
    assert_no_traceback(text)


def test_a_failing_check_exits_1_and_names_the_offending_clusters(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    failing, top, limit = failing_check(snaps)
    write_config(pytester, PASSING + failing, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml")
    text = output(result)
    assert result.ret == TESTS_FAILED
    result.assert_outcomes(passed=len(PASSING_NAMES), failed=1)
    value = formatting.value("avg_cost_usd", float(top.metrics["avg_cost"] or 0))
    # The failure section: limit, then one line per offending cluster.
    result.stdout.fnmatch_lines(
        [
            "*llmc: Costly clusters*",
            f"Costly clusters failed: 1 of * clusters fail avg_cost_usd "
            f"≤ {formatting.value('avg_cost_usd', limit)}:",
            f"*{top.title!r} (cluster {top.cluster_id}, {top.size} items): {value}*",
        ]
    )
    assert table_status(text, "Costly clusters") == "FAIL"
    assert top.title in table_row(text, "Costly clusters")  # worst cluster column
    assert_no_traceback(text)


def test_warn_passes_with_a_warning_and_fails_under_strict(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    assert snaps.noise_share > 0.01  # the warn check is over its limit
    write_config(pytester, PASSING + WARNING, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml")
    text = output(result)
    assert result.ret == OK, text
    result.assert_outcomes(passed=len(PASSING_NAMES) + 1, warnings=1)
    assert table_status(text, WARNING_NAME) == "WARN"
    assert "LlmcCheckWarning" in text
    assert "1 warn" in text

    result = run(pytester, "--llmc-config", "checks.yaml", "--llmc-strict")
    text = output(result)
    assert result.ret == TESTS_FAILED
    result.assert_outcomes(passed=len(PASSING_NAMES), failed=1)
    assert "--llmc-strict" in text
    assert_no_traceback(text)


SOURCE_ERRORS = {
    "missing": "snapshot file not found",
    "truncated_gz": "truncated",
    "truncated_jsonl": "truncated",
    "clusters_not_json": "$ai_clusters is not valid JSON",
    "no_run_in_lookback": "no trace-level run",
}


@pytest.mark.parametrize("case", sorted(SOURCE_ERRORS))
def test_a_source_error_is_an_error_of_every_check(
    pytester: pytest.Pytester, snaps: Snapshots, case: str
) -> None:
    path = pytester.path / "missing.jsonl.gz" if case == "missing" else snaps.broken[case]
    write_config(pytester, PASSING + RELATIVE, snapshot=path)
    result = run(pytester, "--llmc-config", "checks.yaml", "-rA")
    text = output(result)
    names = [*PASSING_NAMES, *RELATIVE_NAMES]
    assert result.ret == TESTS_FAILED, text
    result.assert_outcomes(errors=len(names))
    assert SOURCE_ERRORS[case] in text
    for name in names:
        assert table_status(text, name) == "ERROR"
    # One clear line per check: "[llmc] <check>: <cause>", then the next section.
    lines = text.splitlines()
    messages = [i for i, line in enumerate(lines) if line.startswith("[llmc] ")]
    assert len(messages) == len(names)
    for i in messages:
        assert SOURCE_ERRORS[case] in lines[i]
        assert lines[i + 1].startswith(("_", "=")), lines[i : i + 3]
    assert_no_traceback(text)


# ---------------------------------------------------------------------------
# Config errors and secrets


def test_a_typo_is_a_usage_error_with_file_line_column(pytester: pytest.Pytester) -> None:
    write_config(pytester, "- metric: noise_share\n  mx: 25%\n", snapshot="events.jsonl.gz")
    # version, source, snapshot, checks, "  - metric", "    mx" → line 6, column 5
    result = run(pytester, "--llmc-config", "checks.yaml")
    assert result.ret == USAGE_ERROR
    text = output(result)
    assert "checks.yaml:6:5: checks[0]: unknown key 'mx'; did you mean 'max'?" in text
    assert_no_traceback(text)


def test_a_missing_config_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--llmc-config", "nowhere.yaml")
    assert result.ret == USAGE_ERROR
    text = output(result)
    assert "nowhere.yaml" in text
    assert_no_traceback(text)


def test_a_missing_env_var_names_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMC_TEST_PROJECT_ID", raising=False)
    source = (
        "  posthog:\n"
        "    host: https://example.invalid\n"
        "    project_id: ${LLMC_TEST_PROJECT_ID}\n"
        f"    api_key: {SECRET}\n"
    )
    write_config(pytester, PASSING, source=source)
    result = run(pytester, "--llmc-config", "checks.yaml")
    assert result.ret == USAGE_ERROR
    text = output(result)
    assert "LLMC_TEST_PROJECT_ID" in text
    assert "not set" in text
    assert SECRET not in text
    assert_no_traceback(text)


POSTHOG_SOURCE = (
    f"  posthog:\n    host: https://example.invalid\n    project_id: 1\n    api_key: {SECRET}\n"
)


def test_the_api_key_never_appears(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    failing, top, _ = failing_check(snaps)
    write_config(pytester, PASSING + failing + WARNING + RELATIVE, source=POSTHOG_SOURCE)
    result = run(
        pytester,
        "--llmc-config",
        "checks.yaml",
        "--llmc-snapshot",
        snaps.events,
        "-vv",
        "-rA",
        "-l",
        "--llmc-report",
        "report.json",
        "--junitxml",
        "junit.xml",
    )
    assert result.ret == TESTS_FAILED
    result.assert_outcomes(passed=len(PASSING_NAMES) + 1 + len(RELATIVE_NAMES), failed=1)
    # The failing cluster links to PostHog (the host is shown, the key never).
    run_id = quote(snaps.latest.run_id, safe="")
    link = f"https://example.invalid/project/1/ai-observability/clusters/{run_id}/{top.cluster_id}"
    assert link in output(result)
    assert SECRET not in output(result)
    assert SECRET not in (pytester.path / "report.json").read_text()
    assert SECRET not in (pytester.path / "junit.xml").read_text()
    # Nor on a collect-only, nor in a config error.
    result = run(pytester, "--llmc-config", "checks.yaml", "--collect-only", "-vv")
    assert SECRET not in output(result)
    write_config(pytester, PASSING + "- metric: noise_share\n  mxa: 1\n", source=POSTHOG_SOURCE)
    result = run(pytester, "--llmc-config", "checks.yaml")
    assert result.ret == USAGE_ERROR
    assert SECRET not in output(result)


# ---------------------------------------------------------------------------
# Options


def test_llmc_snapshot_overrides_the_configured_source(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING, snapshot="no/such/file.jsonl.gz")
    result = run(pytester, "--llmc-config", "checks.yaml", "--llmc-snapshot", snaps.events)
    text = output(result)
    assert result.ret == OK, text
    result.assert_outcomes(passed=len(PASSING_NAMES))
    assert f"from snapshot {snaps.events.name}" in text


def test_llmc_run_pins_a_run(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml", "--llmc-run", snaps.previous.run_id)
    text = output(result)
    assert result.ret == OK, text
    assert f"run {snaps.previous.run_id} (" in text
    assert f"run {snaps.latest.run_id} (" not in text


def test_an_unknown_run_id_is_an_error(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml", "--llmc-run", "1_trace_19990101_000000")
    text = output(result)
    assert result.ret == TESTS_FAILED
    result.assert_outcomes(errors=len(PASSING_NAMES))
    assert "1_trace_19990101_000000" in text and "not found" in text
    assert_no_traceback(text)


def test_the_source_is_read_once_per_gate(
    pytester: pytest.Pytester, snaps: Snapshots, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmc_checks.sources.snapshot import SnapshotSource

    calls: list[Path] = []
    load = SnapshotSource.load

    def counting(self: SnapshotSource, request: Any) -> Any:
        calls.append(self.path)
        return load(self, request)

    monkeypatch.setattr(SnapshotSource, "load", counting)
    failing, _, _ = failing_check(snaps)
    write_config(pytester, PASSING + failing + RELATIVE, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml", "--llmc-report", "out.json")
    result.assert_outcomes(passed=len(PASSING_NAMES) + len(RELATIVE_NAMES), failed=1)
    assert calls == [snaps.events]


def test_several_configs_make_several_gates(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    failing, _, _ = failing_check(snaps)
    write_config(pytester, PASSING, name="a.yaml", snapshot=snaps.events)
    write_config(pytester, failing, name="b.yaml", snapshot=snaps.events)
    result = run(
        pytester,
        "--llmc-config",
        "a.yaml",
        "--llmc-config",
        "b.yaml",
        "--llmc-report",
        "out.json",
    )
    text = output(result)
    assert result.ret == TESTS_FAILED
    result.assert_outcomes(passed=len(PASSING_NAMES), failed=1)
    assert len(table_header(text)) == 2
    assert re.search(r"^=+ llmc-checks: a\.yaml =+$", text, re.M)
    assert re.search(r"^=+ llmc-checks: b\.yaml =+$", text, re.M)
    doc = json.loads((pytester.path / "out.json").read_text())
    assert doc["status"] == "fail"
    assert [len(g["checks"]) for g in doc["gates"]] == [len(PASSING_NAMES), 1]
    assert [g["status"] for g in doc["gates"]] == ["pass", "fail"]


def test_llmc_config_env_var_works_like_the_option(
    pytester: pytest.Pytester, snaps: Snapshots, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing, _, _ = failing_check(snaps)
    a = write_config(pytester, PASSING, name="a.yaml", snapshot=snaps.events)
    b = write_config(pytester, failing, name="b.yaml", snapshot=snaps.events)
    pytester.makepyfile(test_other="def test_must_not_run():\n    raise AssertionError\n")
    monkeypatch.setenv("LLMC_CONFIG", os.pathsep.join([str(a), str(b)]))
    result = pytester.runpytest_subprocess(*QUIET)
    text = output(result)
    assert result.ret == TESTS_FAILED, text
    result.assert_outcomes(passed=len(PASSING_NAMES), failed=1)
    assert "test_must_not_run" not in text
    assert len(table_header(text)) == 2


def test_without_llmc_config_the_plugin_is_inert(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run(pytester, "-rA")
    assert result.ret == OK
    result.assert_outcomes(passed=1)
    text = output(result).replace(str(pytester.path), "<tmp>")
    mentions = [
        line
        for line in text.splitlines()
        if "llmc" in line.lower() and not line.startswith("plugins:")
    ]
    assert mentions == []


HEAVY = ("pydantic", "yaml", "httpx", "orjson", "tabulate", "jsonschema", "llmc_checks.config")


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import json, sys, llmc_checks.plugin\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


def test_pytest_start_without_config_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    """A whole pytest run without --llmc-config, with and without the plugin: same imports."""
    test = pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    code = (
        "import json, sys, pytest\n"
        "rc = pytest.main(sys.argv[1:])\n"
        f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))\n"
        "print('HEAVY=' + json.dumps(heavy))\n"
    )

    def heavy(*extra: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-c", code, "-q", "-p", "no:cacheprovider", *extra, str(test)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=pytester.path,
        )
        line = next(x for x in done.stdout.splitlines() if x.startswith("HEAVY="))
        return set(json.loads(line.removeprefix("HEAVY=")))

    assert heavy() - heavy("-p", "no:llmc_checks") == set()


# ---------------------------------------------------------------------------
# The JSON report

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["run", "baseline", "checks"],
    "properties": {
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
    cheapest = min(float(c.metrics["avg_cost"] or 0) for c in snaps.topics if c.size >= 100)
    min_check = (
        "- name: Big clusters cost something\n  metric: avg_cost_usd\n"
        f"  min: {cheapest / 2:.6f}\n  where: {{min_size: 100}}\n"
    )
    write_config(
        pytester, PASSING + failing + min_check + WARNING + RELATIVE, source=POSTHOG_SOURCE
    )
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


# ---------------------------------------------------------------------------
# No baseline yet


def test_relative_checks_without_a_baseline_are_skipped(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING + RELATIVE, snapshot=snaps.single)
    result = run(pytester, "--llmc-config", "checks.yaml", "-rs")
    text = output(result)
    assert result.ret == OK, text
    result.assert_outcomes(passed=len(PASSING_NAMES), skipped=len(RELATIVE_NAMES))
    assert "no baseline yet" in text
    for name in RELATIVE_NAMES:
        assert table_status(text, name) == "SKIP"

    result = run(pytester, "--llmc-config", "checks.yaml", "--llmc-require-baseline")
    text = output(result)
    assert result.ret == TESTS_FAILED
    result.assert_outcomes(passed=len(PASSING_NAMES), errors=len(RELATIVE_NAMES))
    assert "--llmc-require-baseline" in text
    for name in RELATIVE_NAMES:
        assert table_status(text, name) == "ERROR"
    assert_no_traceback(text)


# ---------------------------------------------------------------------------
# Regressions found while writing these tests


def test_a_node_id_selects_a_single_check(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    # The node id pytest prints in "FAILED checks.yaml::name" must select just that check.
    write_config(pytester, PASSING, snapshot=snaps.events)
    node = f"checks.yaml::{PASSING_NAMES[2]}"
    result = run(pytester, "--llmc-config", "checks.yaml", node)
    assert result.ret == OK, output(result)
    result.assert_outcomes(passed=1)


def test_a_warn_check_passes_when_warnings_are_errors(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING + WARNING, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml", "-W", "error")
    text = output(result)
    assert result.ret == OK, text
    result.assert_outcomes(passed=len(PASSING_NAMES) + 1, warnings=1)
    assert table_status(text, WARNING_NAME) == "WARN"
    assert_no_traceback(text)
    # The warnings summary points at the check in checks.yaml, not at the plugin.
    assert re.search(r"checks\.yaml:\d+: LlmcCheckWarning", text), text


def test_strict_report_statuses_match_the_exit_code(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING + WARNING, snapshot=snaps.events)
    result = run(
        pytester, "--llmc-config", "checks.yaml", "--llmc-strict", "--llmc-report", "out.json"
    )
    assert result.ret == TESTS_FAILED
    result.assert_outcomes(passed=len(PASSING_NAMES), failed=1)
    doc = json.loads((pytester.path / "out.json").read_text())
    assert doc["status"] == "fail"
    assert {c["name"]: c["status"] for c in doc["checks"]}[WARNING_NAME] == "fail"
    assert table_status(output(result), WARNING_NAME) == "FAIL"


def test_a_negative_item_count_is_bad_data_not_a_pass(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, "- metric: noise_share\n  max: 25%\n", snapshot=snaps.events)
    result = run(
        pytester, "--llmc-config", "checks.yaml", "--llmc-snapshot", snaps.broken["negative_items"]
    )
    assert result.ret == TESTS_FAILED, output(result)
    result.assert_outcomes(errors=1)
    assert "items" in output(result)


def test_under_xdist_the_controller_prints_one_table_and_writes_the_report(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING + WARNING, snapshot=snaps.events)
    result = pytester.runpytest_subprocess(
        *QUIET, "--llmc-config", "checks.yaml", "-n", "2", "--llmc-report", "out.json"
    )
    text = output(result)
    assert result.ret == OK, text
    assert len(table_header(text)) == 1  # workers print nothing
    assert table_status(text, WARNING_NAME) == "WARN"
    doc = json.loads((pytester.path / "out.json").read_text())
    assert sorted(c["name"] for c in doc["checks"]) == sorted([*PASSING_NAMES, WARNING_NAME])


def test_a_config_outside_the_rootdir_still_gets_its_table_and_report(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    pytester.mkdir("elsewhere")
    result = run(
        pytester,
        "--rootdir",
        "elsewhere",
        "--llmc-config",
        "checks.yaml",
        "--llmc-report",
        "out.json",
    )
    text = output(result)
    assert result.ret == OK, text
    assert len(table_header(text)) == 1
    doc = json.loads((pytester.path / "out.json").read_text())
    assert [c["name"] for c in doc["checks"]] == PASSING_NAMES


def test_record_then_replay_gives_the_same_report(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING + WARNING + RELATIVE, snapshot=snaps.events)
    first = run(
        pytester,
        "--llmc-config",
        "checks.yaml",
        "--llmc-record",
        "rec.jsonl.gz",
        "--llmc-report",
        "first.json",
    )
    assert first.ret == OK, output(first)
    assert "recorded " in output(first)
    second = run(
        pytester,
        "--llmc-config",
        "checks.yaml",
        "--llmc-snapshot",
        "rec.jsonl.gz",
        "--llmc-report",
        "second.json",
    )
    assert second.ret == OK, output(second)
    one = json.loads((pytester.path / "first.json").read_text())
    two = json.loads((pytester.path / "second.json").read_text())
    for doc in (one, two):
        doc.pop("source"), doc.pop("notes")
    assert one == two


@pytest.mark.parametrize(
    ("env", "args", "coloured"),
    [
        ({}, (), False),  # not a terminal: plain
        ({"PY_COLORS": "1"}, (), True),
        ({}, ("--color=yes",), True),
        ({"NO_COLOR": "1"}, ("--color=yes",), False),  # NO_COLOR wins
    ],
)
def test_statuses_are_coloured_only_when_the_terminal_wants_it(
    pytester: pytest.Pytester,
    snaps: Snapshots,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    args: tuple[str, ...],
    coloured: bool,
) -> None:
    for name in ("PY_COLORS", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write_config(pytester, PASSING, snapshot=snaps.events)
    result = pytester.runpytest_subprocess(*QUIET, "--llmc-config", "checks.yaml", *args)
    table = [line for line in result.outlines if PASSING_NAMES[0] in line and " run " in line]
    assert len(table) == 1, output(result)
    assert ("\x1b[" in table[0]) is coloured


def test_a_bad_record_path_is_a_usage_error_before_anything_runs(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    result = run(pytester, "--llmc-config", "checks.yaml", "--llmc-record", "rec.txt")
    assert result.ret == USAGE_ERROR
    assert "rec.txt: a recording is .jsonl or .jsonl.gz" in output(result)
    assert_no_traceback(output(result))
