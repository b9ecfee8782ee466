"""The plugin under pytest-xdist: the controller evaluates each gate once; the workers
only report their items' verdicts from that outcome.

Each test runs the same command serially and with `-n 2` / `-n 3` and compares what a
user sees: the table, the JSON and Markdown reports, pytest's outcomes and exit code.
Side effects are counted, not inferred: a conftest in the inner run logs every file
replace (the atomic writer's last step) with the process that did it, and the live
source's requests are counted by the stand-in.
"""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from plugin_helpers import (
    PASSING,
    QUIET,
    RELATIVE,
    TESTS_FAILED,
    WARNING,
    Snapshots,
    failing_check,
    output,
    write_config,
)
from standin import StandIn

from llmc_checks.synth import Scenario, generate

pytestmark = pytest.mark.usefixtures("_clean_env")

# Logs (pid, file name) of every os.replace in the inner pytest processes.
REPLACE_LOG = """\
import os

_replace = os.replace


def _logged(src, dst, *args, **kwargs):
    _replace(src, dst, *args, **kwargs)
    with open(os.environ["LLMC_TEST_REPLACE_LOG"], "a") as log:
        log.write(f"{os.getpid()} {os.path.basename(os.fspath(dst))}\\n")


os.replace = _logged
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*QUIET, *args)


def _tables(result: pytest.RunResult) -> list[str]:
    """Each gate's terminal section: from its `llmc-checks:` rule to the next rule."""
    sections, current = [], None
    for line in result.outlines:
        if re.match(r"^=+ llmc-checks: ", line):
            current = [line]
            sections.append(current)
        elif current is not None and re.match(r"^[=_]{5,}", line):
            current = None
        elif current is not None:
            current.append(line)
    return ["\n".join(s).rstrip() for s in sections]


def _counts(result: pytest.RunResult) -> dict[str, int]:
    outcomes = result.parseoutcomes()
    return {k: v for k, v in outcomes.items() if k != "seconds" and not k.startswith("warning")}


def _seen(pytester: pytest.Pytester, result: pytest.RunResult) -> dict[str, object]:
    """What a user sees from one run."""
    return {
        "exit": result.ret,
        "outcomes": _counts(result),
        "tables": _tables(result),
        "json": json.loads((pytester.path / "out.json").read_text()),
        "markdown": (pytester.path / "out.md").read_text(),
    }


def _replaces(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    rows = [line.split(" ", 1) for line in log.read_text().splitlines()]
    log.unlink()
    # verdicts.json: the controller's hand-off to its workers, not a user's file.
    return [(int(pid), name) for pid, name in rows if name != "verdicts.json"]


@pytest.fixture
def replace_log(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makeconftest(REPLACE_LOG)
    log = pytester.path / "replaces.log"
    monkeypatch.setenv("LLMC_TEST_REPLACE_LOG", str(log))
    return log


def test_xdist_shows_what_a_serial_run_shows(
    pytester: pytest.Pytester, snaps: Snapshots, replace_log: Path
) -> None:
    failing, _, _ = failing_check(snaps)
    write_config(pytester, PASSING + WARNING + RELATIVE + failing, snapshot=snaps.events)
    # A second gate whose data is bad: every check an error, never a pass.
    write_config(pytester, PASSING, name="broken.yaml", snapshot=snaps.broken["negative_items"])
    args = ("--llmc-config", "checks.yaml", "--llmc-config", "broken.yaml")
    reports = ("--llmc-report", "out.json", "--llmc-report", "out.md")
    serial = _run(pytester, *args, *reports)
    assert serial.ret == TESTS_FAILED, output(serial)
    expected = _seen(pytester, serial)
    assert expected["outcomes"] == {"passed": 6, "failed": 1, "errors": 3}
    assert len(expected["tables"]) == 2  # type: ignore[arg-type]
    _replaces(replace_log)
    for workers in ("2", "3"):
        result = _run(pytester, *args, *reports, "-n", workers)
        assert _seen(pytester, result) == expected, output(result)
        # The reports are written once, by the controller (the process that is no worker).
        writes = _replaces(replace_log)
        assert sorted(name for _, name in writes) == ["out.json", "out.md"]
        assert len({pid for pid, _ in writes}) == 1


def test_baseline_and_recording_are_written_once_and_judged_as_serially(
    pytester: pytest.Pytester, snaps: Snapshots, replace_log: Path
) -> None:
    checks = PASSING + RELATIVE
    text = "version: 1\nsource:\n  snapshot: " + json.dumps(str(snaps.events)) + "\n"
    text += "baseline: {file: base.json}\nchecks:\n" + textwrap.indent(checks, "  ")
    (pytester.path / "checks.yaml").write_text(text)
    args = (
        "--llmc-config", "checks.yaml", "--llmc-update-baseline", "--llmc-record", "rec.jsonl",
        "--llmc-report", "out.json", "--llmc-report", "out.md",
    )  # fmt: skip
    seen = {}
    for workers in ((), ("-n", "3")):
        for leftover in ("base.json", "rec.jsonl"):
            (pytester.path / leftover).unlink(missing_ok=True)
        result = _run(pytester, *args, *workers)
        seen[workers] = _seen(pytester, result), (pytester.path / "base.json").read_text()
        # No baseline file yet: the relative checks skip, in the items and the reports alike.
        assert _counts(result) == {"passed": 3, "skipped": 2}, output(result)
        statuses = [c["status"] for c in seen[workers][0]["json"]["checks"]]  # type: ignore[index]
        assert statuses == ["pass", "pass", "pass", "skip", "skip"]
        writes = _replaces(replace_log)
        names = sorted(name for _, name in writes)
        assert names == ["base.json", "out.json", "out.md", "rec.jsonl"], writes
        assert len({pid for pid, _ in writes}) == 1
        assert output(result).count("baseline base.json updated") <= 1
    assert seen[()] == seen[("-n", "3")]


def test_a_deselected_gate_is_not_read_under_xdist_either(
    pytester: pytest.Pytester, snaps: Snapshots, replace_log: Path
) -> None:
    write_config(pytester, PASSING, snapshot=snaps.events)
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    for workers in ((), ("-n", "2")):
        result = _run(
            pytester, "--llmc-config", "checks.yaml", "--llmc-record", "rec.jsonl",
            "-k", "test_other", "test_other.py", *workers,
        )  # fmt: skip
        assert _counts(result)["passed"] == 1, output(result)  # xdist counts no deselected
        assert result.ret == 0
        assert _tables(result) == []
        assert _replaces(replace_log) == []  # nothing recorded: the source was never read


# -- live: the request budget holds across processes ----------------------------------------

KEY = "phx_xdist_SECRET_key"
LIVE_CHECKS = """\
- metric: items_analyzed
  min: 1
- metric: noise_share
  max: 60%
- name: Clusters stay under a dollar
  metric: avg_cost_usd
  max: 1.0
- metric: title_stability
  min: 10%
"""


def test_live_xdist_sends_at_most_two_requests_and_agrees_with_serial(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs ending two hours ago, so the real clock finds them inside the lookback.
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    synth = generate(Scenario(seed=5, days=2, traces_per_day=40, end=end))
    monkeypatch.setenv("XDIST_TEST_POSTHOG_KEY", KEY)
    with StandIn(synth.rows, api_key=KEY, project_id=1) as standin:
        source = (
            f"  posthog:\n    host: {standin.url}\n    project_id: 1\n"
            "    api_key: ${XDIST_TEST_POSTHOG_KEY}\n"
        )
        write_config(pytester, LIVE_CHECKS, source=source)
        args = ("--llmc-config", "checks.yaml", "--llmc-report", "out.json",
                "--llmc-report", "out.md")  # fmt: skip
        serial = _run(pytester, *args)
        assert serial.ret == 0, output(serial)
        expected = _seen(pytester, serial)
        assert expected["outcomes"] == {"passed": 4}
        assert 1 <= len(standin.requests) <= 2
        # Four requests answered normally, then malformed answers: before, every process
        # loaded the gate (up to 8 requests), so the later ones failed while the first
        # passed. Now the two runs below send at most 2 requests each.
        standin.inject("slow", times=4, endpoint="any", seconds=0)
        standin.inject("malformed", times=8, endpoint="any")
        for workers in ("2", "3"):
            standin.clear_log()
            result = _run(pytester, *args, "-n", workers)
            assert len(standin.requests) <= 2, standin.requests
            assert _seen(pytester, result) == expected, output(result)
            assert KEY not in output(result)
        assert [f.kind for f in standin.pending_faults()] == ["malformed"] * 8
