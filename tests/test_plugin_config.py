"""The plugin on bad configs: usage errors with file:line:col, and secrets never shown."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from plugin_helpers import (
    PASSING,
    PASSING_NAMES,
    POSTHOG_SOURCE,
    RELATIVE,
    RELATIVE_NAMES,
    SECRET,
    TESTS_FAILED,
    USAGE_ERROR,
    WARNING,
    Snapshots,
    assert_no_traceback,
    failing_check,
    output,
    run,
    write_config,
)

pytestmark = pytest.mark.usefixtures("_clean_env")


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
