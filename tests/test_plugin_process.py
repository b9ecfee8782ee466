"""What a gate run does to the process it runs in: the cyclic GC, the modules it imports."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys

import pytest
from plugin_helpers import (
    OK,
    PASSING,
    PASSING_NAMES,
    QUIET,
    RELATIVE,
    Snapshots,
    output,
    run,
    write_config,
)

pytestmark = pytest.mark.usefixtures("_clean_env")

# A plain test that reports the GC's state while the session runs (after configure).
PROBE = """\
import gc

def test_probe():
    print(f"FROZEN={gc.get_freeze_count()} ENABLED={gc.isenabled()}")
"""


def _probe_line(text: str) -> str:
    found = re.search(r"FROZEN=\d+ ENABLED=\w+", text)
    assert found is not None, text
    return found.group()


def test_a_gate_keeps_the_gc_off_what_existed_before_the_tests_ran(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    """The objects built at start-up (pytest, pydantic, the config) are frozen while the
    session runs, so no collection walks them; the session gives them back at its end."""
    write_config(pytester, PASSING, snapshot=snaps.events)
    pytester.makepyfile(test_probe=PROBE)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    result = run(pytester, "-s", "--llmc-config", "checks.yaml", "test_probe.py")
    text = output(result)
    assert result.ret == OK, text
    result.assert_outcomes(passed=len(PASSING_NAMES) + 1)
    frozen, enabled = _probe_line(text).split()
    assert int(frozen.removeprefix("FROZEN=")) > 10_000
    assert enabled == "ENABLED=True"
    # Given back: an in-process caller (pytester, pytest.main) keeps collecting them.
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_without_a_config_the_gc_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_probe=PROBE)
    result = run(pytester, "-s")
    assert result.ret == OK
    assert _probe_line(output(result)) == "FROZEN=0 ENABLED=True"


def test_a_process_that_froze_objects_itself_keeps_them_frozen(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    gc.freeze()
    try:
        result = run(pytester, "--llmc-config", "checks.yaml")
        assert result.ret == OK, output(result)
        # Not given back by the gate (the count drops a little as frozen objects die).
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_config_usage_error_restores_the_gc(pytester: pytest.Pytester) -> None:
    (pytester.path / "checks.yaml").write_text("version: 2\n", encoding="utf-8")
    result = run(pytester, "--llmc-config", "checks.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


# A conftest that leaves a buffered file in a reference cycle, alive until exit: only the
# collection at interpreter shutdown flushes and closes it.
CYCLE_CONFTEST = """\
import pathlib

class Holder:
    def __init__(self) -> None:
        self.me = self
        self.out = open(pathlib.Path(__file__).with_name("cycle.txt"), "w")
        self.out.write("written by a fixture\\n")

KEPT = Holder()
"""


def _pytest_process(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m pytest` in the pytester folder, as a user's command line runs it: passing."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *QUIET, "-q", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=pytester.path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.parametrize("gate", [True, False], ids=["gate", "no-gate"])
def test_a_gate_process_leaves_the_exit_collection_alone(
    pytester: pytest.Pytester, snaps: Snapshots, gate: bool
) -> None:
    """Nothing is frozen at exit, so the shutdown's collection still flushes a file that a
    user's conftest left in a reference cycle."""
    write_config(pytester, PASSING, snapshot=snaps.events)
    pytester.makeconftest(CYCLE_CONFTEST)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    args = ["--llmc-config", "checks.yaml"] if gate else ["test_plain.py"]
    _pytest_process(pytester, *args)
    assert (pytester.path / "cycle.txt").read_text(encoding="utf-8") == "written by a fixture\n"


# A session fixture that keeps its open file on pytest's config (a stash, for a later hook)
# and never closes it: only the collection at interpreter exit flushes it.
STASHED_FILE_CONFTEST = """\
import pytest

KEY = pytest.StashKey()


@pytest.fixture(scope="session", autouse=True)
def log(request):
    out = open("stashed.txt", "w")
    out.write("written by a session fixture\\n")
    request.config.stash[KEY] = out
    yield out
"""


@pytest.mark.parametrize("gate", [True, False], ids=["gate", "no-gate"])
def test_a_gate_process_flushes_a_file_kept_on_pytests_config(
    pytester: pytest.Pytester, snaps: Snapshots, gate: bool
) -> None:
    """pytest's config outlives the session in reference cycles: with its objects frozen
    through exit, a file a fixture hung on it came out empty (a review reproduced it)."""
    write_config(pytester, PASSING, snapshot=snaps.events)
    pytester.makeconftest(STASHED_FILE_CONFTEST)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    args = ["--llmc-config", "checks.yaml", "test_plain.py"] if gate else ["test_plain.py"]
    _pytest_process(pytester, *args)
    written = (pytester.path / "stashed.txt").read_text(encoding="utf-8")
    assert written == "written by a session fixture\n"


def test_a_snapshot_gate_imports_no_live_or_numeric_libraries(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    """A snapshot gate on a small file needs neither the HTTP client nor numpy (nor, without
    a `confidence` check, the statistics module)."""
    write_config(pytester, PASSING, snapshot=snaps.events)
    modules = _gate_modules(pytester)
    assert "llmc_checks.gate" in modules  # it did run a gate
    heavy = {"httpx", "numpy", "jsonschema", "llmc_checks.sources.posthog", "scipy"}
    assert modules & heavy == set()
    # No check asks for a confidence bound: the normal quantile's module is not needed.
    assert "statistics" not in modules


def test_a_gate_imports_the_markdown_and_baseline_file_code_only_when_used(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    """A gate with a JSON report, comparing with the previous run, needs neither the
    Markdown renderer nor the baseline-file reader; one with a `.md` report and a
    `baseline: {file: ...}` imports both (so their absence above means something)."""
    config = write_config(pytester, PASSING + RELATIVE, snapshot=snaps.events)
    modules = _gate_modules(pytester, "--llmc-report", "out.json")
    assert json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))["checks"]
    assert "llmc_checks.gate" in modules
    assert {"llmc_checks.report.markdown", "llmc_checks.baseline_file"} & modules == set()

    with config.open("a", encoding="utf-8") as fh:
        fh.write("baseline:\n  file: baseline.json\n")
    modules = _gate_modules(pytester, "--llmc-report", "out.md")
    assert (pytester.path / "out.md").read_text(encoding="utf-8").strip()
    assert {"llmc_checks.report.markdown", "llmc_checks.baseline_file"} <= modules


def _gate_modules(pytester: pytest.Pytester, *args: str) -> set[str]:
    """The modules a whole gate process (`pytest --llmc-config checks.yaml`) imported."""
    code = (
        "import json, sys, pytest\n"
        "rc = pytest.main(sys.argv[1:])\n"
        "print('MODULES=' + json.dumps(sorted(sys.modules)))\n"
        "sys.exit(rc)\n"
    )
    # CI sets GITHUB_STEP_SUMMARY, which asks for a Markdown summary of every gate.
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    done = subprocess.run(
        [sys.executable, "-c", code, *QUIET, "-q", "--llmc-config", "checks.yaml", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=pytester.path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))
