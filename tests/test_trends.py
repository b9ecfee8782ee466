"""Trend lines: the values behind the sparklines, and how they are drawn."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import retitled

from llmc_checks.config import parse_config
from llmc_checks.gate import Gate, Options
from llmc_checks.model import Cluster, ClusterStats, Run
from llmc_checks.report.cells import sparkline
from llmc_checks.synth import Scenario, generate, write_rows
from llmc_checks.trends import HISTORY_RUNS, all_series


def test_sparkline_scales_between_min_and_max() -> None:
    # 8 bars over [1, 5]: bar index = int((v - 1) / 4 * 8), capped at 7.
    # 1 → 0 "▁", 2 → 2 "▃", 3 → 4 "▅", None → " ", 5 → 8 → 7 "█"
    assert sparkline([1, 2, 3, None, 5]) == "▁▃▅ █"
    assert sparkline([2.0, 2.0, 2.0]) == "▅▅▅"  # flat: the middle bar
    assert sparkline([None, 4.0]) == ""  # one value draws no line


def test_trend_values_are_each_recent_runs_own_numbers(tmp_path: Path) -> None:
    synth = generate(Scenario(seed=31, days=10, traces_per_day=80, max_samples=300))
    snapshot = tmp_path / "events.jsonl.gz"
    write_rows(synth.rows, snapshot)
    text = (
        f"version: 1\nsource: {{snapshot: {snapshot.name}}}\nrun: {{lookback: 30d}}\n"
        "checks:\n  - metric: items_analyzed\n    min: 1\n"
        "  - metric: noise_share\n    max: 90%\n"
        "  - metric: run_age_hours\n    max: 48\n"
    )
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    outcome = Gate(config, tmp_path / "checks.yaml", Options()).outcome()
    recent = synth.runs[-HISTORY_RUNS:]
    assert list(outcome.history) == [r.run_id for r in recent]
    # Independent: the generator's own sizes for each run.
    assert outcome.trends[0] == tuple(float(r.items_analyzed) for r in recent)
    noise = [next(c.size for c in r.clusters if c.topic is None) / r.items_analyzed for r in recent]
    assert outcome.trends[1] == pytest.approx(noise, rel=1e-12)
    assert outcome.trends[2] == ()  # a run's age says nothing over time


def test_a_run_whose_cost_overflows_has_no_point_on_the_trend_line() -> None:
    # The check on it errors (tests/test_checks.py); the line just has no point there.
    def one(run_id: str, costs: tuple[float, ...]) -> Run:
        clusters = tuple(
            Cluster(i, f"Topic {i}", "", 10, stats=ClusterStats(item_count=10, total_cost_usd=c))
            for i, c in enumerate(costs)
        )
        end = datetime(2026, 11, 15, tzinfo=timezone.utc)
        return Run(run_id, "trace", "job", "job", end - timedelta(days=7), end, 20, clusters)

    history = [one("a", (1.0, 2.0)), one("b", (1e308, 1e308)), one("c", (0.5, 0.5))]
    series = all_series(["run_cost_usd"], history, history[-1].window_end, 0.5)
    assert series == {"run_cost_usd": (3.0, None, 1.0)}


def test_the_latest_point_of_a_cross_run_trend_is_the_value_its_check_judged(
    tmp_path: Path,
) -> None:
    # The LLM retitled every cluster of the latest run in words sharing nothing with the
    # day before, while each cluster kept its items: the same usage patterns. The gate's
    # own pairing (shared items) judges them stable; the trend's last point compares the
    # same two runs, so it must read the same, not a text-only guess beside the verdict.
    synth = generate(Scenario(seed=7, days=4, traces_per_day=120))
    rows = retitled(synth.rows, synth.latest().run_id)
    snapshot = tmp_path / "events.jsonl"
    write_rows(rows, snapshot)
    text = (
        f"version: 1\nsource: {{snapshot: {snapshot.name}}}\nbaseline: previous\n"
        "checks:\n  - metric: title_stability\n    min: 80%\n"
        "  - metric: new_cluster_share\n    max: 10%\n"
    )
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    outcome = Gate(config, tmp_path / "checks.yaml", Options()).outcome()
    # Independent: every topic kept its items, so all of the baseline is stable and
    # nothing of the latest run is new.
    assert [r.observed for r in outcome.results] == [1.0, 0.0]
    assert outcome.trends[0][-1] == 1.0
    assert outcome.trends[1][-1] == 0.0
    # The earlier points still compare each run with the one before it by text.
    assert outcome.trends[0][0] is None and len(outcome.trends[0]) == 4
