"""Starter limits (`llmc_checks.propose`): every number worked out by hand on small runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from llmc_checks.model import Cluster, ClusterStats, Run
from llmc_checks.propose import (
    MIN_RUNS,
    Proposal,
    TooFewRuns,
    headroom,
    propose,
    round_out,
    title_regex,
)

UTC = timezone.utc
DAY0 = datetime(2026, 11, 1, tzinfo=UTC)


def _stats(cost: float, latency: float, errors: int, items: int, p95: float) -> ClusterStats:
    return ClusterStats(
        item_count=items,
        avg_cost_usd=cost,
        total_cost_usd=cost * items,
        avg_latency_s=latency,
        p95_latency_s=p95,
        avg_tokens=1000.0,
        error_count=errors,
        error_rate=errors / items,
    )


# Per run: (SQL title, SQL avg cost, latency, errors of 50, p95), (refund title), noise size.
_RUNS = [
    ("SQL query generation", 0.030, 6.0, 1, 10.0, "Refund support", 10),
    ("Generating SQL queries", 0.032, 6.2, 2, 11.0, "Customer refunds", 12),
    ("SQL generation requests", 0.034, 6.1, 1, 12.0, "Refund requests", 8),
]


def _run(index: int, gap_hours: float = 24.0) -> Run:
    sql_title, cost, latency, errors, p95, refund_title, noise = _RUNS[index]
    end = DAY0 + timedelta(hours=gap_hours * index)
    sql = Cluster(
        0,
        sql_title,
        "",
        50,
        tuple(f"s{i}" for i in range(50)),
        stats=_stats(cost, latency, errors, 50, p95),
    )
    refund = Cluster(
        1,
        refund_title,
        "",
        40,
        tuple(f"r{i}" for i in range(40)),
        stats=_stats(0.008, 3.0, 0, 40, 5.0),
    )
    outliers = Cluster(-1, "Outliers", "", noise, tuple(f"n{index}-{i}" for i in range(noise)))
    return Run(
        run_id=f"1_trace_{index}",
        level="trace",
        job_id="job",
        job_name="Default - trace",
        window_start=end - timedelta(days=7),
        window_end=end,
        items_analyzed=100,
        clusters=(sql, refund, outliers),
    )


RUNS = [_run(i) for i in range(3)]


def _find(proposals: tuple[Proposal, ...], metric: str, bound: str, **where: object) -> Proposal:
    found = [
        p
        for p in proposals
        if p.metric == metric
        and p.bound == bound
        and all(p.where.get(k) == v for k, v in where.items())
        and ("title" in where or "title" not in p.where)
    ]
    assert len(found) == 1, (metric, bound, where, found)
    return found[0]


def test_round_out_rounds_away_from_the_history_to_two_digits() -> None:
    assert round_out(0.04213, "up") == Decimal("0.043")
    assert round_out(36.4, "up") == Decimal("37")
    assert round_out(0.0049, "up") == Decimal("0.0049")  # already readable: unchanged
    assert round_out(0.724, "down") == Decimal("0.72")
    assert round_out(0.12 + 0.04, "up") == Decimal("0.16")  # float noise is not a step
    assert round_out(-1.0, "down") == Decimal(0)


def test_headroom_is_twice_the_spread_or_the_unit_floor() -> None:
    # stdev of 0.1, 0.2, 0.3 is 0.1: 2σ = 0.2 beats 25% of 0.3 and the 1-point floor.
    assert headroom([0.1, 0.2, 0.3], "ratio") == pytest.approx(0.2)
    # A flat history: the floors decide (25% of 0.04 = 0.01 = the absolute floor).
    assert headroom([0.04, 0.04, 0.04], "ratio") == pytest.approx(0.01)
    # Costs: twice the worst (one outlier item can move an average that far).
    assert headroom([0.030, 0.032, 0.034], "usd") == pytest.approx(0.034)


def test_run_scope_limits_by_hand() -> None:
    proposals = propose(RUNS)
    # Noise 10%, 12%, 8%: stdev 2 points, so 12% + 4 points.
    noise = _find(proposals, "noise_share", "max")
    assert (noise.text, noise.limit) == ("16%", 0.16)
    assert noise.summary == ("8.0%", "10.0%", "12.0%", 3)
    # Two clusters every run: a flat history gets one cluster of room each way.
    assert _find(proposals, "cluster_count", "min").text == "1"
    assert _find(proposals, "cluster_count", "max").text == "3"
    # Daily runs: the longest gap plus half the usual one.
    age = _find(proposals, "run_age_hours", "max")
    assert (age.text, age.history) == ("36", (24.0, 24.0))
    items = _find(proposals, "items_analyzed", "min")
    assert (items.text, items.severity) == ("50", "warn")
    # Same items under reworded titles: stable, 100% each time; 25% below that.
    assert _find(proposals, "title_stability", "min").text == "75%"


def test_every_cluster_limits_by_hand() -> None:
    proposals = propose(RUNS)
    cost = _find(proposals, "avg_cost_usd", "max", min_size=20)
    assert cost.history == (0.030, 0.032, 0.034)
    assert cost.text == "0.068"  # 0.034 + 100% of it
    p95 = _find(proposals, "p95_latency_s", "max", min_size=20)
    assert p95.text == "18"  # 12 + max(2 × stdev 1, 50% of 12)
    errors = _find(proposals, "error_rate", "max")
    # Worst 4%; stdev of 2%, 4%, 2% is 1.1547 points: 4% + 2.3094 = 6.31% → 6.4%.
    assert (errors.text, errors.confidence, errors.where) == ("6.4%", 0.95, {})


def test_each_pattern_gets_its_own_limits_selected_by_a_shared_word() -> None:
    proposals = propose(RUNS)
    sql = _find(proposals, "avg_cost_usd", "max", title=r"(?i)\bsql\b")
    assert sql.where == {"title": r"(?i)\bsql\b", "min_size": 20}
    newest_first = ("SQL generation requests", "Generating SQL queries", "SQL query generation")
    assert sql.titles == newest_first
    assert sql.text == "0.068"
    assert not [p for p in proposals if p.metric == "avg_latency_s"]
    # "refunds" is no whole-word match for "refund": the shared word start is.
    refund = _find(proposals, "error_rate", "max", title=r"(?i)\brefund")
    assert (refund.text, refund.confidence) == ("1%", 0.95)  # never an error: the floor
    assert _find(proposals, "avg_cost_usd", "max", title=r"(?i)\brefund").text == "0.016"


def test_relative_limits_against_previous_by_hand() -> None:
    proposals = propose(RUNS)
    cost = _find(proposals, "avg_cost_usd", "max_increase", min_size=20)
    # SQL rose 6.67% then 6.25% (refunds 0%): far under the least allowed rise, 25%.
    assert cost.history == pytest.approx((0.032 / 0.030 - 1, 0.034 / 0.032 - 1))
    assert (cost.text, cost.limit) == ("25%", 0.25)
    assert cost.summary == ("+6%", "+6%", "+7%", 2)


def test_freshness_follows_the_cadence() -> None:
    runs = [_run(i, gap_hours=6.0) for i in range(3)]
    age = _find(propose(runs), "run_age_hours", "max")
    assert age.text == "9"  # a run every 6 h: 6 + 3


def test_too_few_runs_is_refused() -> None:
    with pytest.raises(TooFewRuns, match=f"2 runs found; at least {MIN_RUNS}"):
        propose(RUNS[:2])


def test_the_same_history_gives_the_same_proposals() -> None:
    assert propose(RUNS) == propose([_run(i) for i in range(3)])


@pytest.mark.parametrize(
    ("titles", "others", "expected"),
    [
        (["SQL query generation", "Generating SQL"], ["Document summaries"], r"(?i)\bsql\b"),
        # "sql" also names another pattern: the longest shared word start instead.
        (
            ["SQL query generation", "Generating SQL queries"],
            ["SQL schema design"],
            r"(?i)\bgenerati",
        ),
        # Rewordings sharing no word: the titles themselves, anchored.
        (["Small talk", "Greeting messages"], ["Refunds"], "^(?:Greeting messages|Small talk)$"),
        (["Cost (USD)?"], [], r"(?i)\bcost\b"),
        (["a+b", "c.d"], ["x"], r"^(?:a\+b|c\.d)$"),
        # Even the exact titles collide with another pattern's: no regex at all.
        (["Greeting"], ["Greeting"], None),
    ],
)
def test_title_regex(titles: list[str], others: list[str], expected: str | None) -> None:
    import re

    assert title_regex(titles, others) == expected
    if expected is not None:
        assert all(re.search(expected, t) for t in titles)
        assert not any(re.search(expected, o) for o in others)
