"""The plugin: regressions found while writing its tests (node ids, strictness, xdist,
rootdir, record/replay, colours, record paths).
"""

from __future__ import annotations

import json
import re

import pytest
from plugin_helpers import (
    OK,
    PASSING,
    PASSING_NAMES,
    QUIET,
    RELATIVE,
    TESTS_FAILED,
    USAGE_ERROR,
    WARNING,
    WARNING_NAME,
    Snapshots,
    assert_no_traceback,
    output,
    run,
    table_header,
    table_status,
    write_config,
)

pytestmark = pytest.mark.usefixtures("_clean_env")


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
