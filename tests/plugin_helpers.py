"""Shared by the plugin tests (test_plugin_*.py): the generated snapshots, configs, and
readers of pytester output.

One seeded snapshot (3 daily runs) and one single-run snapshot are generated per module
by `llmc_checks.synth` (the `snaps` fixture); every config is written into `pytester.path`.
Limits that decide pass/fail are derived from the generator's ground truth, so the tests
say *why* a check passes or fails instead of relying on magic numbers.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import os
import pkgutil
import re
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import llmc_checks
from llmc_checks.sources.snapshot import SNAPSHOT_MARKER
from llmc_checks.synth import ClusterTruth, RunTruth, Scenario, generate, write_rows

# pytester's in-process runs restore sys.modules afterwards, so whatever an inner run
# imports lazily is imported afresh by the next one (slow, and numpy refuses to load
# twice). Import the package's modules here, once; the subprocess tests check laziness.
_PRELOAD = [m.name for m in pkgutil.walk_packages(llmc_checks.__path__, "llmc_checks.")]
for _name in [*_PRELOAD, "numpy", "scipy.optimize", "Stemmer"]:  # + matching's
    with contextlib.suppress(ImportError):  # an inner run reports it if it matters
        importlib.import_module(_name)

SECRET = "phx_SECRET123"
USAGE_ERROR = pytest.ExitCode.USAGE_ERROR
TESTS_FAILED = pytest.ExitCode.TESTS_FAILED
OK = pytest.ExitCode.OK
# A live source with a secret key, for configs whose source is never reached.
POSTHOG_SOURCE = (
    f"  posthog:\n    host: https://example.invalid\n    project_id: 1\n    api_key: {SECRET}\n"
)


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
        ranked = sorted(self.topics, key=lambda c: float(c.metrics_ui["avg_cost"] or 0.0))
        top, second = ranked[-1], ranked[-2]
        top_cost, second_cost = (
            float(top.metrics_ui["avg_cost"] or 0),
            float(second.metrics_ui["avg_cost"] or 0),
        )
        limit = round((top_cost + second_cost) / 2, 4)
        assert second_cost < limit < top_cost
        return top, limit

    @property
    def noise_share(self) -> float:
        noise = next(c for c in self.latest.clusters if c.cluster_id == -1)
        return noise.size / self.latest.items_analyzed


def make_snapshots(root: Path) -> Snapshots:
    """The seeded snapshots the plugin tests share (the `snaps` fixture, conftest.py)."""
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
