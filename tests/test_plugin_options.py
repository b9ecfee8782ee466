"""The plugin's options: --llmc-snapshot, --llmc-run, several configs, env vars, inertness."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import (
    OK,
    PASSING,
    PASSING_NAMES,
    QUIET,
    RELATIVE,
    RELATIVE_NAMES,
    TESTS_FAILED,
    Snapshots,
    assert_no_traceback,
    failing_check,
    output,
    run,
    table_header,
    write_config,
)

pytestmark = pytest.mark.usefixtures("_clean_env")


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
