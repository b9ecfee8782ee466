"""The plugin's verdicts: exit codes, the table, messages, source errors, no baseline yet."""

from __future__ import annotations

import re

import pytest
from plugin_helpers import (
    OK,
    PASSING,
    PASSING_NAMES,
    RELATIVE,
    RELATIVE_NAMES,
    TESTS_FAILED,
    WARNING,
    WARNING_NAME,
    Snapshots,
    assert_no_traceback,
    failing_check,
    output,
    run,
    table_header,
    table_row,
    table_status,
    write_config,
)

from llmc_checks import formatting
from llmc_checks.units import format_limit

pytestmark = pytest.mark.usefixtures("_clean_env")


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
    value = formatting.value("avg_cost_usd", float(top.metrics_ui["avg_cost"] or 0))
    # The failure section: limit, then one line per offending cluster.
    result.stdout.fnmatch_lines(
        [
            "*llmc: Costly clusters*",
            f"Costly clusters failed: 1 of * clusters fails avg_cost_usd "
            f"≤ {format_limit(limit, 'usd')}:",  # the limit exactly as configured
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
