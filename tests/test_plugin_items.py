"""The plugin's items: what runs, one item per check, names, -k, --collect-only, junit."""

from __future__ import annotations

import pytest
from plugin_helpers import (
    OK,
    PASSING,
    PASSING_NAMES,
    TESTS_FAILED,
    WARNING,
    WARNING_NAME,
    Snapshots,
    failing_check,
    junit_outcomes,
    output,
    run,
    table_header,
    table_row,
    write_config,
)

pytestmark = pytest.mark.usefixtures("_clean_env")


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


def test_a_config_given_as_a_path_through_a_symlink_of_another_name_runs(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    """pytest asks the plugin about every file it visits; one named unlike any config
    may still be a symlink to one, and then it is that config's checks."""
    write_config(pytester, PASSING, name="prod.yaml", snapshot=snaps.events)
    (pytester.path / "checks.yaml").symlink_to("prod.yaml")
    result = run(pytester, "checks.yaml", "--llmc-config", "prod.yaml", "-v")
    assert result.ret == OK, output(result)
    result.assert_outcomes(passed=len(PASSING_NAMES))
    for name in PASSING_NAMES:
        result.stdout.fnmatch_lines([f"checks.yaml::{name} PASSED*"])


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
