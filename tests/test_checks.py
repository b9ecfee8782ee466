"""checks.evaluate on hand-built runs: bounds, severity, confidence, selection, run-scope
metrics and baseline-relative changes, each expected value worked out by hand."""

from __future__ import annotations

import math
import textwrap
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llmc_checks.checks import Context, evaluate
from llmc_checks.config import Check, parse_config
from llmc_checks.matching import DEFAULT_TITLE_THRESHOLD, pair_runs
from llmc_checks.model import Cluster, ClusterStats, Run
from llmc_checks.results import CheckResult
from llmc_checks.stats import wilson_bounds

UTC = timezone.utc
END = datetime(2026, 11, 15, 0, 15, 3, 104000, tzinfo=UTC)
NOW = END + timedelta(hours=30)


def check(body: str) -> Check:
    """One check, parsed from the YAML of a `checks:` entry."""
    text = "version: 1\nsource:\n  snapshot: s.jsonl\nchecks:\n" + textwrap.indent(
        textwrap.dedent(body).strip() + "\n", "  "
    )
    return parse_config(text, filename="checks.yaml").checks[0]


def cl(cid: int, size: int, title: str | None = None, **stats: Any) -> Cluster:
    """A cluster; stats=None via `no_stats=True`, else ClusterStats(**stats)."""
    no_stats = stats.pop("no_stats", False)
    return Cluster(
        cluster_id=cid,
        title=title if title is not None else f"Topic {cid}",
        description="",
        size=size,
        stats=None if no_stats else ClusterStats(**stats),
    )


def run(
    clusters: list[Cluster], items: int | None = None, run_id: str = "r-latest", end: datetime = END
) -> Run:
    return Run(
        run_id=run_id,
        level="trace",
        job_id="job-a",
        job_name="Default - traces",
        window_start=end - timedelta(days=7),
        window_end=end,
        items_analyzed=items if items is not None else sum(c.size for c in clusters),
        clusters=tuple(clusters),
    )


def ev(body: str, latest: Run, **ctx: Any) -> CheckResult:
    return evaluate(check(body), Context(now=NOW, latest=latest, **ctx))


def rows(result: CheckResult) -> dict[int, tuple[str, float | None]]:
    return {r.cluster_id: (r.status, r.value) for r in result.clusters}


# --- min / max ---------------------------------------------------------------------------

COSTS = run(
    [
        cl(0, 40, item_count=40, avg_cost_usd=0.02, avg_tokens=150.0),
        cl(1, 30, item_count=30, avg_cost_usd=0.08, avg_tokens=90.0),
        cl(2, 10, item_count=10, avg_cost_usd=0.049, avg_tokens=300.0),
        cl(-1, 5, "Outliers", item_count=5, avg_cost_usd=0.5, avg_tokens=10.0),
    ]
)


def test_max_fails_on_the_cluster_above_and_reports_the_highest() -> None:
    r = ev("- metric: avg_cost_usd\n  max: 0.05", COSTS)
    assert r.status == "fail" and not r.passed
    assert r.scope == "cluster"
    # noise (0.5) is excluded by default; 0.08 > 0.05 fails; 0.049 and 0.02 pass
    assert rows(r) == {0: ("pass", 0.02), 1: ("fail", 0.08), 2: ("pass", 0.049)}
    assert r.observed == 0.08  # the highest under a max
    assert r.worst is not None and r.worst.cluster_id == 1
    assert r.expected == "≤ $0.05"
    assert r.message.splitlines() == [
        "1 of 3 clusters fails avg_cost_usd ≤ $0.05:",
        "  - 'Topic 1' (cluster 1, 30 items): $0.08",
    ]


def test_max_passes_and_still_reports_the_highest() -> None:
    r = ev("- metric: avg_cost_usd\n  max: 0.1", COSTS)
    assert r.status == "pass"
    assert r.observed == 0.08
    assert r.message == "3 clusters evaluated; worst: 'Topic 1' $0.08"


def test_min_fails_and_reports_the_lowest() -> None:
    r = ev("- metric: avg_tokens\n  min: 100", COSTS)
    assert r.status == "fail"
    assert rows(r) == {0: ("pass", 150.0), 1: ("fail", 90.0), 2: ("pass", 300.0)}
    assert r.observed == 90.0  # the lowest under a min
    passing = ev("- metric: avg_tokens\n  min: 50", COSTS)
    assert (passing.status, passing.observed) == ("pass", 90.0)


def test_value_on_the_bound_passes() -> None:
    r = ev("- metric: avg_cost_usd\n  max: 0.08", COSTS)
    assert (r.status, r.observed) == ("pass", 0.08)


def test_severity_warn_turns_fail_into_warn() -> None:
    r = ev("- metric: avg_cost_usd\n  max: 0.05\n  severity: warn", COSTS)
    assert r.status == "warn" and r.severity == "warn"
    assert r.passed
    assert r.observed == 0.08
    assert r.message.startswith("1 of 3 clusters fails ")
    # a passing warn-check is a plain pass
    assert ev("- metric: avg_cost_usd\n  max: 0.1\n  severity: warn", COSTS).status == "pass"


# --- Wilson confidence --------------------------------------------------------------------

Z95 = 1.6448536269514722  # NormalDist().inv_cdf(0.95), one-sided


def wilson_by_quadratic(k: int, n: int, z: float) -> tuple[float, float]:
    """The continuity-corrected Wilson interval from its definition, solved for p:
    lower: (p̂ − 1/2n − p)² = z² p (1 − p) / n, the smaller root; upper: with p̂ + 1/2n, the
    larger root — i.e. (1 + z²/n) p² − (2q + z²/n) p + q² = 0. Independent of stats.py's
    closed form (Newcombe's method 4)."""

    def roots(q: float) -> tuple[float, float]:
        a, b, c = 1 + z * z / n, 2 * q + z * z / n, q * q
        root = math.sqrt(b * b - 4 * a * c)
        return (b - root) / (2 * a), (b + root) / (2 * a)

    ph = k / n
    lower = 0.0 if k == 0 else roots(ph - 1 / (2 * n))[0]
    upper = 1.0 if k == n else roots(ph + 1 / (2 * n))[1]
    return lower, upper


def test_wilson_bounds_by_hand() -> None:
    # 30 of 200 (p̂ = 0.15), z² = 2.705544, a = 1 + z²/200 = 1.0135277:
    #   lower, q = 0.1475: b = 0.3085277, c = 0.0217563; √(0.0951893 − 0.0882016) = 0.0835925
    #     → (0.3085277 − 0.0835925) / 2.0270554 = 0.110968
    #   upper, q = 0.1525: b = 0.3185277, c = 0.0232563; √(0.1014598 − 0.0942823) = 0.0847201
    #     → (0.3185277 + 0.0847201) / 2.0270554 = 0.198930
    lo, hi = wilson_bounds(30, 200, 0.95)
    assert (lo, hi) == pytest.approx((0.110968, 0.198930), abs=2e-6)
    assert (lo, hi) == pytest.approx(wilson_by_quadratic(30, 200, Z95), rel=1e-9)
    # 1 of 3: a = 1.901848; lower, q = 1/6: b = 1.235181, c = 0.027778;
    #   √(1.525672 − 0.211316) = 1.146454 → (1.235181 − 1.146454) / 3.803696 = 0.023327
    #   upper, q = 1/2: b = 1.901848, c = 0.25; √(3.617026 − 1.901848) = 1.309648 → 0.844308
    lo, hi = wilson_bounds(1, 3, 0.95)
    assert (lo, hi) == pytest.approx((0.023327, 0.844308), abs=2e-6)
    assert (lo, hi) == pytest.approx(wilson_by_quadratic(1, 3, Z95), rel=1e-9)
    # 1 of 10: a = 1.2705544; lower, q = 0.05: b = 0.3705544, c = 0.0025;
    #   √(0.1373105 − 0.0127055) = 0.352995 → 0.006910; upper, q = 0.15: b = 0.5705544,
    #   c = 0.0225; √(0.3255323 − 0.1143499) = 0.459546 → 0.405374
    lo, hi = wilson_bounds(1, 10, 0.95)
    assert (lo, hi) == pytest.approx((0.006910, 0.405374), abs=2e-6)
    # edges: no trials → no information; 0 successes → lower 0; all successes → upper 1
    assert wilson_bounds(0, 0, 0.95) == (0.0, 1.0)
    assert wilson_bounds(0, 5, 0.95)[0] == 0.0
    assert wilson_bounds(5, 5, 0.95)[1] == 1.0


def errors(k: int, n: int, cid: int = 0, title: str | None = None) -> Cluster:
    return cl(cid, n, title, item_count=n, error_count=k, error_rate=k / n)


def test_confidence_30_of_200_fails_max_5pct() -> None:
    r = ev("- metric: error_rate\n  max: 5%\n  confidence: 0.95", run([errors(30, 200)]))
    assert r.status == "fail"
    assert r.observed == 0.15  # 30 / 200
    assert r.expected == "≤ 5% @95%"
    # lower bound 11.0968% (hand value above) > 5%: shown with the value it was judged for
    assert r.message.splitlines()[1] == (
        "  - 'Topic 0' (cluster 0, 200 items): 15.0% (lower bound 11.1% @95%)"
    )


def test_confidence_1_of_3_does_not_fail_max_5pct() -> None:
    # observed 33% > 5%, but the lower bound is 2.33% (hand value above): no evidence
    r = ev("- metric: error_rate\n  max: 5%\n  confidence: 0.95", run([errors(1, 3)]))
    assert r.status == "pass"
    assert r.message == "1 cluster evaluated; worst: 'Topic 0' 33.3% (lower bound 2.3% @95%)"
    assert r.clusters[0].note == ""
    # without confidence the same cluster fails
    assert ev("- metric: error_rate\n  max: 5%", run([errors(1, 3)])).status == "fail"


def test_confidence_1_of_10_does_not_fail_max_5pct() -> None:
    r = ev("- metric: error_rate\n  max: 5%\n  confidence: 0.95", run([errors(1, 10)]))
    assert r.status == "pass"
    assert r.observed == 0.1
    # lower bound 0.6910% (by hand above)
    assert r.message == "1 cluster evaluated; worst: 'Topic 0' 10.0% (lower bound 0.7% @95%)"


def test_confidence_on_a_run_scope_proportion() -> None:
    # noise_share 8 / 100 = 8% > 5%; corrected Wilson at 95%, lower with q = 0.075:
    # a = 1.0270554, b = 0.1770554, c = 0.005625; √(0.0313486 − 0.0231087) = 0.0907738
    # → (0.1770554 − 0.0907738) / 2.0541108 = 4.200% < 5% → pass
    latest = run([cl(0, 92, item_count=92), cl(-1, 8, item_count=8)])
    r = ev("- metric: noise_share\n  max: 5%\n  confidence: 0.95", latest)
    assert r.status == "pass" and r.observed == 0.08
    assert r.message == "noise_share = 8.0% (lower bound 4.2% @95%)"
    assert ev("- metric: noise_share\n  max: 5%", latest).status == "fail"


# --- where: noise, min_size, title ------------------------------------------------------------


def test_noise_exclude_include_only() -> None:
    exclude = ev("- metric: avg_cost_usd\n  max: 0.1", COSTS)
    assert -1 not in rows(exclude)
    include = ev("- metric: avg_cost_usd\n  max: 0.1\n  where: {noise: include}", COSTS)
    assert rows(include)[-1] == ("fail", 0.5)
    assert include.status == "fail" and include.observed == 0.5
    only = ev("- metric: avg_cost_usd\n  max: 0.1\n  where: {noise: only}", COSTS)
    assert rows(only) == {-1: ("fail", 0.5)}


def test_min_size_lists_small_clusters_as_not_evaluated() -> None:
    # the smallest cluster has the highest value: it must be listed, not judged
    latest = run(
        [
            cl(0, 40, item_count=40, avg_cost_usd=0.02),
            cl(1, 30, item_count=30, avg_cost_usd=0.03),
            cl(2, 5, item_count=5, avg_cost_usd=0.9),  # too small, and the highest
        ]
    )
    r = ev("- metric: avg_cost_usd\n  max: 0.05\n  where: {min_size: 20}", latest)
    assert r.status == "pass"  # 0.9 is not evaluated, never failed
    assert rows(r) == {0: ("pass", 0.02), 1: ("pass", 0.03), 2: ("not_evaluated", 0.9)}
    assert r.clusters[2].note == "size 5 < min_size 20"
    assert r.observed == 0.03  # worst *evaluated* cluster
    assert r.message == "2 clusters evaluated, 1 not evaluated; worst: 'Topic 1' $0.03"
    # all too small: skipped, yet every cluster is listed
    all_small = ev("- metric: avg_cost_usd\n  max: 0.05\n  where: {min_size: 100}", latest)
    assert all_small.status == "skip"
    assert [r.status for r in all_small.clusters] == ["not_evaluated"] * 3
    assert all_small.message == (
        "no cluster could be evaluated: size 30 < min_size 100; size 40 < min_size 100; "
        "size 5 < min_size 100"
    )


def test_title_regex_selects_clusters() -> None:
    latest = run(
        [
            cl(0, 40, "SQL query generation", item_count=40, avg_cost_usd=0.2),
            cl(1, 30, "Refund requests", item_count=30, avg_cost_usd=0.01),
            cl(2, 20, "Generating SQL", item_count=20, avg_cost_usd=0.03),
        ]
    )
    r = ev("- metric: avg_cost_usd\n  max: 0.05\n  where: {title: '^SQL'}", latest)
    assert rows(r) == {0: ("fail", 0.2)}  # anchored: "Generating SQL" does not match
    anywhere = ev("- metric: avg_cost_usd\n  max: 0.05\n  where: {title: SQL}", latest)
    assert rows(anywhere) == {0: ("fail", 0.2), 2: ("pass", 0.03)}  # re.search
    case = ev("- metric: avg_cost_usd\n  max: 0.05\n  where: {title: '(?i)refund'}", latest)
    assert (case.status, rows(case)) == ("pass", {1: ("pass", 0.01)})


def test_no_cluster_matching_is_a_skip() -> None:
    r = ev("- metric: avg_cost_usd\n  max: 0.05\n  where: {title: nothing-like-this}", COSTS)
    assert r.status == "skip" and r.passed
    assert r.observed is None
    assert r.message == "no cluster matches `where`"


def test_all_clusters_without_data_is_an_error() -> None:
    latest = run(
        [
            cl(0, 4, item_count=0),  # no events in the window
            cl(1, 3, no_stats=True),  # no per-item metrics at all
            cl(2, 2, item_count=2),  # events, but no cost > 0
        ]
    )
    r = ev("- metric: avg_cost_usd\n  max: 0.05", latest)
    assert r.status == "error" and not r.passed
    assert [row.status for row in r.clusters] == ["not_evaluated"] * 3
    assert r.message == (
        "no cluster could be evaluated: no AI events for its items in the run window; "
        "no item with cost > 0; no per-item metrics for this cluster"
    )


# --- run scope ------------------------------------------------------------------------------

RUN_SCOPE = run(
    [
        cl(0, 50, item_count=50, total_cost_usd=1.25),
        cl(1, 30, item_count=30, total_cost_usd=0.5),
        cl(2, 12, item_count=12, total_cost_usd=None),  # no cost > 0
        cl(-1, 8, "Outliers", item_count=8, total_cost_usd=0.25),
    ],
    items=100,
)


@pytest.mark.parametrize(
    ("body", "status", "observed"),
    [
        ("- metric: items_analyzed\n  min: 100", "pass", 100.0),  # on the bound
        ("- metric: items_analyzed\n  min: 101", "fail", 100.0),
        ("- metric: cluster_count\n  max: 3", "pass", 3.0),  # 0, 1, 2 — noise not counted
        ("- metric: cluster_count\n  max: 2", "fail", 3.0),
        ("- metric: noise_share\n  max: 10%", "pass", 0.08),  # 8 / 100
        ("- metric: noise_share\n  max: 5%", "fail", 0.08),
        ("- metric: run_age_hours\n  max: 36", "pass", 30.0),  # NOW − END = 30 h
        ("- metric: run_age_hours\n  max: 24", "fail", 30.0),
        ("- metric: run_cost_usd\n  max: 2", "pass", 2.0),  # 1.25 + 0.5 + 0 + 0.25 (noise)
        ("- metric: run_cost_usd\n  max: 1.99", "fail", 2.0),
    ],
)
def test_run_scope_metrics(body: str, status: str, observed: float) -> None:
    r = ev(body, RUN_SCOPE)
    assert r.scope == "run"
    assert (r.status, r.observed) == (status, pytest.approx(observed, rel=1e-12))


def test_run_scope_messages() -> None:
    assert ev("- metric: noise_share\n  max: 5%", RUN_SCOPE).message == (
        "noise_share = 8.0%, expected ≤ 5%"
    )
    assert ev("- metric: run_age_hours\n  max: 36", RUN_SCOPE).message == "run_age_hours = 30.0h"


def test_run_age_uses_the_context_clock() -> None:
    r = evaluate(
        check("- metric: run_age_hours\n  max: 36"),
        Context(now=END + timedelta(hours=36, minutes=30), latest=RUN_SCOPE),
    )
    assert (r.status, r.observed) == ("fail", 36.5)


def test_noise_share_without_noise_is_zero() -> None:
    r = ev("- metric: noise_share\n  max: 0%", run([cl(0, 10)]))
    assert (r.status, r.observed) == ("pass", 0.0)


def test_run_cost_without_per_item_metrics_is_an_error() -> None:
    latest = run([cl(0, 10, item_count=10, total_cost_usd=1.0), cl(1, 5, no_stats=True)])
    r = ev("- metric: run_cost_usd\n  max: 5", latest)
    assert r.status == "error"
    assert r.message == "run r-latest has no per-item metrics for run_cost_usd"


def test_run_cost_that_overflows_is_an_error_naming_the_run() -> None:
    # Each cluster's total is finite; their sum is not (a source refuses a cluster's own).
    latest = run([cl(0, 10, total_cost_usd=1e308), cl(1, 5, total_cost_usd=1e308)])
    r = ev("- metric: run_cost_usd\n  max: 5", latest)
    assert (r.status, r.observed) == ("error", None)
    assert r.message == (
        "run r-latest: run_cost_usd overflows: its clusters' total costs add up past the "
        "largest double (about 1.8e308)"
    )


# --- relative to a baseline --------------------------------------------------------------------


def relative_runs() -> tuple[Run, Run]:
    # Cluster ids differ between runs: only titles link them.
    latest = run(
        [
            cl(10, 30, "Refund requests", item_count=30, avg_cost_usd=0.04),
            cl(11, 40, "SQL query generation", item_count=40, avg_cost_usd=0.025),
            cl(12, 25, "Password reset emails", item_count=25, avg_cost_usd=0.03),
            cl(13, 10, "Brand new topic", item_count=10, avg_cost_usd=0.9),
            cl(-1, 5, "Outliers", item_count=5, avg_cost_usd=5.0),
        ],
        run_id="r-latest",
    )
    baseline = run(
        [
            cl(3, 28, "Refund requests", item_count=28, avg_cost_usd=0.01),
            cl(4, 42, "SQL query generation", item_count=42, avg_cost_usd=0.02),
            cl(5, 24, "Password reset emails", item_count=24, avg_cost_usd=0.02),
            cl(6, 9, "Vanished old stuff", item_count=9, avg_cost_usd=0.01),
            cl(-1, 6, "Outliers", item_count=6, avg_cost_usd=0.001),
        ],
        run_id="r-base",
        end=END - timedelta(days=1),
    )
    return latest, baseline


def test_max_increase_fails_on_the_quadrupled_cluster() -> None:
    latest, baseline = relative_runs()
    pairing = pair_runs(latest, baseline)
    assert {(p.latest.cluster_id, p.baseline.cluster_id) for p in pairing.pairs} == {
        (10, 3),
        (11, 4),
        (12, 5),
    }
    r = ev(
        "- metric: avg_cost_usd\n  max_increase: 50%",
        latest,
        baselines=(baseline,),
        pairings=(pairing,),
    )
    assert r.status == "fail"
    # 10: 0.01 → 0.04, +300% > 50% fail; 11: 0.02 → 0.025, +25% pass;
    # 12: 0.02 → 0.03, +50% exactly, on the bound: pass; 13: new, not evaluated
    assert rows(r) == {
        10: ("fail", 0.04),
        11: ("pass", 0.025),
        12: ("pass", 0.03),
        13: ("not_evaluated", 0.9),
    }
    assert r.worst is not None and r.worst.cluster_id == 10
    assert r.worst.baseline_value == 0.01 and r.worst.baseline_title == "Refund requests"
    assert r.baseline_value == 0.01
    assert r.observed == pytest.approx(0.03, rel=1e-12)  # the worst change: 0.04 − 0.01
    assert r.message.splitlines() == [
        "1 of 3 clusters fails avg_cost_usd increase ≤ 50%:",
        "  - 'Refund requests' (cluster 10, 30 items): $0.04 (baseline $0.01, +$0.03 (+300%))",
    ]
    new = next(row for row in r.clusters if row.cluster_id == 13)
    assert new.note == "new cluster: no baseline to compare"


def test_a_worst_cluster_failing_its_value_limit_shows_that_value_beside_its_change() -> None:
    # max and max_increase in one check: cluster 10 ($0.04, +300%) fails max 0.035 while
    # every change is within +1000%. The margin (-14%) is the value's, so the observed
    # cell must show the value it was measured on, not only a change far inside its limit.
    from llmc_checks.report.cells import observed_text

    latest, baseline = relative_runs()
    r = ev(
        "- metric: avg_cost_usd\n  max: 0.035\n  max_increase: 1000%\n"
        "  where: {title: '^(?!Brand new)'}",  # the new cluster fails max by more
        latest,
        baselines=(baseline,),
        pairings=(pair_runs(latest, baseline),),
    )
    assert r.status == "fail" and r.worst is not None and r.worst.cluster_id == 10
    assert r.margin == pytest.approx((0.035 - 0.04) / 0.035, rel=1e-12)
    assert observed_text(r) == "+$0.03 (+300%), $0.04"
    # Decided by the change: the change alone, as before.
    r = ev(
        "- metric: avg_cost_usd\n  max: 1\n  max_increase: 100%",
        latest,
        baselines=(baseline,),
        pairings=(pair_runs(latest, baseline),),
    )
    assert r.worst is not None and r.worst.cluster_id == 10
    assert observed_text(r) == "+$0.03 (+300%)"


def test_max_increase_absolute() -> None:
    latest, baseline = relative_runs()
    pairing = pair_runs(latest, baseline)
    # allowed +0.02 USD: 10 rose 0.03 → fail; 11 rose 0.005, 12 rose 0.01 → pass
    r = ev(
        "- metric: avg_cost_usd\n  max_increase: 0.02",
        latest,
        baselines=(baseline,),
        pairings=(pairing,),
    )
    assert r.status == "fail"
    assert [row.cluster_id for row in r.clusters if row.status == "fail"] == [10]


def test_relative_check_without_baseline_is_skipped_or_required() -> None:
    latest, _ = relative_runs()
    body = "- metric: avg_cost_usd\n  max_increase: 50%"
    skipped = ev(body, latest)
    assert (skipped.status, skipped.message) == ("skip", "no baseline run")
    required = ev(body, latest, require_baseline=True)
    assert required.status == "error"
    assert required.message == "no baseline run (--llmc-require-baseline)"


def test_a_cluster_without_a_baseline_is_still_judged_by_its_own_min_and_max() -> None:
    # max 0.05 with max_increase 1000%: the brand-new cluster ($0.90) has no baseline to
    # measure a change against, but its value is past max, which holds regardless.
    latest, baseline = relative_runs()
    body = "- metric: avg_cost_usd\n  max: 0.05\n  max_increase: 1000%"
    r = ev(body, latest, baselines=(baseline,), pairings=(pair_runs(latest, baseline),))
    assert r.status == "fail" and r.worst is not None and r.worst.cluster_id == 13
    new = next(c for c in r.clusters if c.cluster_id == 13)
    assert (new.status, new.value, new.baseline_value) == ("fail", 0.9, None)
    assert new.note == "new cluster: no baseline to compare; the change is not judged"
    assert r.margin == pytest.approx((0.05 - 0.9) / 0.05, rel=1e-12)
    assert r.observed == 0.9  # no change to show: the value that failed
    # Without a value limit there is nothing to judge it by: not evaluated, as before.
    r = ev(
        "- metric: avg_cost_usd\n  max_increase: 1000%",
        latest,
        baselines=(baseline,),
        pairings=(pair_runs(latest, baseline),),
    )
    assert rows(r)[13] == ("not_evaluated", 0.9)
    # The noise cluster a `where` includes never pairs: judged by max alone too.
    r = ev(
        "- metric: avg_cost_usd\n  max: 1\n  max_increase: 1000%\n  where: {noise: only}",
        latest,
        baselines=(baseline,),
        pairings=(pair_runs(latest, baseline),),
    )
    assert rows(r) == {-1: ("fail", 5.0)}


def test_a_first_run_is_judged_by_a_checks_own_min_and_max() -> None:
    # No baseline run at all: a check with a value limit besides its change limit judges
    # the value (a first run that costs too much fails); --llmc-require-baseline still
    # makes the missing baseline an error, and a check with change limits only skips.
    latest, _ = relative_runs()
    cluster = ev("- metric: avg_cost_usd\n  max: 0.05\n  max_increase: 20%", latest)
    assert cluster.status == "fail"
    assert {c.cluster_id: c.status for c in cluster.clusters} == {
        10: "pass",
        11: "pass",
        12: "pass",
        13: "fail",
    }
    assert all(c.note == "no baseline run; the change is not judged" for c in cluster.clusters)
    assert cluster.message.splitlines()[-1] == "(no baseline run; the change is not judged)"
    passing_cluster = ev("- metric: avg_cost_usd\n  max: 1\n  max_increase: 20%", latest)
    assert passing_cluster.status == "pass"
    assert passing_cluster.message.endswith("(no baseline run; the change is not judged)")
    run_scope = ev("- metric: items_analyzed\n  min: 200\n  max_decrease: 10%", latest)
    assert run_scope.status == "fail"
    assert "no baseline run; the change is not judged" in run_scope.message
    passing = ev("- metric: items_analyzed\n  min: 100\n  max_decrease: 10%", latest)
    assert passing.status == "pass" and passing.baseline_value is None
    required = ev(
        "- metric: avg_cost_usd\n  max: 0.05\n  max_increase: 20%", latest, require_baseline=True
    )
    assert (required.status, required.message) == (
        "error",
        "no baseline run (--llmc-require-baseline)",
    )
    # Metrics that only exist against a baseline have nothing to judge without one.
    stability = ev("- metric: title_stability\n  min: 80%", latest)
    assert (stability.status, stability.message) == ("skip", "no baseline run")


def test_a_cluster_with_no_limit_measurable_shows_its_change_alone() -> None:
    # max_increase 50% on clusters that cost $0 then and now: no margin can be measured
    # (a change from 0 has no relative size), and no value limit decided anything.
    from llmc_checks.report.cells import observed_text

    latest = run([cl(10, 30, "Refund requests", item_count=30, avg_cost_usd=0.0)], run_id="now")
    base = run(
        [cl(3, 28, "Refund requests", item_count=28, avg_cost_usd=0.0)],
        run_id="then",
        end=END - timedelta(days=1),
    )
    r = ev(
        "- metric: avg_cost_usd\n  max_increase: 50%",
        latest,
        baselines=(base,),
        pairings=(pair_runs(latest, base),),
    )
    assert r.status == "pass" and not r.value_decided
    assert observed_text(r) == "$0"  # not '$0, $0'


def test_context_title_threshold_defaults_to_the_tuned_value() -> None:
    assert Context(now=NOW, latest=COSTS).title_threshold == DEFAULT_TITLE_THRESHOLD


# --- regressions from review ----------------------------------------------------------------


def test_baked_metrics_with_a_null_error_count_still_fail_a_confident_ceiling() -> None:
    from llmc_checks.metrics import baked_stats

    # PostHog may leave any baked metric null: 50% of 200 items errored, count missing.
    stats = baked_stats({"error_rate": 0.5, "error_count": None, "item_count": 200.0})
    assert stats.error_count == 100  # rebuilt: round(0.5 × 200)
    latest = run([Cluster(0, "Topic 0", "", 200, stats=stats)])
    r = ev("- metric: error_rate\n  max: 5%\n  confidence: 0.95", latest)
    assert r.status == "fail"
    # With no item count either, there are no counts to bound: judged on the raw rate.
    bare = baked_stats({"error_rate": 0.5, "error_count": None, "item_count": None})
    latest = run([Cluster(0, "Topic 0", "", 200, stats=bare)])
    r = ev("- metric: error_rate\n  max: 5%\n  confidence: 0.95", latest)
    assert r.status == "fail"
    assert r.clusters[0].note == "counts unknown: judged on the raw value"


def test_with_two_limits_the_worst_cluster_is_the_failing_one() -> None:
    # A breaks the ceiling with a small change; B passes both limits with the largest
    # relative change. Ranked by change alone, B would be shown as the worst.
    latest = run(
        [
            cl(0, 50, "Refund requests", item_count=50, avg_cost_usd=0.05),  # base 0.045: +11%
            cl(1, 50, "SQL generation", item_count=50, avg_cost_usd=0.01),  # base 0.002: +400%
        ]
    )
    base = run(
        [
            cl(5, 50, "Refund requests", item_count=50, avg_cost_usd=0.045),
            cl(6, 50, "SQL generation", item_count=50, avg_cost_usd=0.002),
        ],
        run_id="r-base",
    )
    r = ev(
        "- metric: avg_cost_usd\n  max: 0.04\n  max_increase: 500%",
        latest,
        baselines=(base,),
        pairings=(pair_runs(latest, base),),
    )
    assert rows(r) == {0: ("fail", 0.05), 1: ("pass", 0.01)}
    assert r.worst is not None and r.worst.cluster_id == 0


def test_the_noise_cluster_of_a_relative_check_is_not_called_new() -> None:
    # Noise never pairs across runs (DESIGN §2): both runs have their outliers, so the
    # latest run's are no "new cluster"; the note says why there is nothing to compare.
    latest, baseline = relative_runs()
    r = ev(
        "- metric: avg_cost_usd\n  max_increase: 50%\n  where: {noise: include}",
        latest,
        baselines=(baseline,),
        pairings=(pair_runs(latest, baseline),),
    )
    notes = {c.cluster_id: (c.status, c.note) for c in r.clusters}
    assert notes[-1] == (
        "not_evaluated",
        "noise cluster: never paired across runs, no baseline to compare",
    )
    assert notes[13] == ("not_evaluated", "new cluster: no baseline to compare")


def test_a_paired_baseline_cluster_without_a_value_is_named_not_called_new() -> None:
    latest, baseline = relative_runs()
    blank = tuple(
        replace(c, stats=replace(c.stats, avg_cost_usd=None)) if c.stats is not None else c
        for c in baseline.clusters
    )
    baseline = replace(baseline, clusters=blank)
    pairing = pair_runs(latest, baseline)
    r = ev(
        "- metric: avg_cost_usd\n  max_increase: 50%",
        latest,
        baselines=(baseline,),
        pairings=(pairing,),
    )
    notes = {c.cluster_id: c.note for c in r.clusters}
    assert notes[10].startswith("its baseline cluster ") and "has no avg_cost_usd" in notes[10]
    assert notes[13] == "new cluster: no baseline to compare"


def test_a_passing_confident_relative_check_has_no_negative_margin() -> None:
    # noise 10/100 → 14/100: +4 points against max_increase 0.02 (two points), but at 95%
    # the difference interval reaches below +2 points, so the check passes.
    latest = run([cl(0, 86, item_count=86), cl(-1, 14, item_count=14)])
    base = run([cl(0, 90, item_count=90), cl(-1, 10, item_count=10)], run_id="r-base")
    r = ev(
        "- metric: noise_share\n  max: 50%\n  max_increase: 0.02\n  confidence: 0.95",
        latest,
        baselines=(base,),
        pairings=(pair_runs(latest, base),),
    )
    assert r.status == "pass"
    assert r.margin is not None and r.margin >= 0


def test_margins_by_hand() -> None:
    # max 0.05, worst cluster 0.049 (cluster 2 is the closest to the limit):
    # (0.05 − 0.049) / 0.05 = 2%; cluster 1 (0.08) is past it: (0.05 − 0.08) / 0.05 = −60%
    r = ev("- metric: avg_cost_usd\n  max: 0.05", COSTS)
    margins = {c.cluster_id: c.margin for c in r.clusters}
    assert margins[0] == pytest.approx(0.6)  # (0.05 − 0.02) / 0.05
    assert margins[1] == pytest.approx(-0.6)
    assert margins[2] == pytest.approx(0.02)
    assert r.margin == pytest.approx(-0.6)  # the smallest over evaluated clusters
    # min 80 tokens, lowest 90: (90 − 80) / 80 = 12.5%
    assert ev("- metric: avg_tokens\n  min: 80", COSTS).margin == pytest.approx(0.125)
    # With confidence the bound is measured: 1 of 10 errors, lower bound 0.006910 (by hand
    # above) against max 5%: (0.05 − 0.006910) / 0.05 = 86.18%
    r = ev("- metric: error_rate\n  max: 5%\n  confidence: 0.95", run([errors(1, 10)]))
    assert r.margin == pytest.approx(0.8618, abs=1e-4)


def test_relative_margin_by_hand() -> None:
    latest, baseline = relative_runs()
    r = ev(
        "- metric: avg_cost_usd\n  max_increase: 50%",
        latest,
        baselines=(baseline,),
        pairings=(pair_runs(latest, baseline),),
    )
    margins = {c.cluster_id: c.margin for c in r.clusters if c.status != "not_evaluated"}
    # 11: 0.02 → 0.025, allowed 0.01, change 0.005: (0.01 − 0.005) / 0.01 = 50%
    # 12: 0.02 → 0.03, allowed 0.01, change 0.01: 0%; 10: 0.01 → 0.04, allowed 0.005,
    # change 0.03: (0.005 − 0.03) / 0.005 = −500%
    assert margins == pytest.approx({10: -5.0, 11: 0.5, 12: 0.0})


# --- one worst cluster: its value, its margin, under the limit's own kind --------------------


def rate(cid: int, title: str, errors: int, items: int = 100) -> Cluster:
    return cl(cid, items, title, item_count=items, error_count=errors, error_rate=errors / items)


def _rates(pairs: list[tuple[str, int, int]]) -> tuple[Run, Run]:
    """(title, baseline errors, latest errors) per cluster, 100 items each."""
    latest = run([rate(i, t, new) for i, (t, _, new) in enumerate(pairs)])
    base = run([rate(i + 10, t, old) for i, (t, old, _) in enumerate(pairs)], run_id="r-base")
    return latest, base


def _relative(body: str, pairs: list[tuple[str, int, int]]) -> CheckResult:
    latest, base = _rates(pairs)
    return ev(body, latest, baselines=(base,), pairings=(pair_runs(latest, base),))


SHIFTS = [("Refund requests", 1, 4), ("SQL query generation", 30, 34)]


def test_an_absolute_change_limit_ranks_clusters_by_absolute_change() -> None:
    # Refunds 1% → 4%: +3 points (+300%); SQL 30% → 34%: +4 points (+13%). Against an
    # absolute +5 points, SQL is the closer: margin (0.05 − 0.04) / 0.05 = 20%; refunds
    # (0.05 − 0.03) / 0.05 = 40%. Worst, observed and margin all name SQL.
    r = _relative("- metric: error_rate\n  max_increase: 0.05", SHIFTS)
    assert r.status == "pass"
    assert r.worst is not None and r.worst.title == "SQL query generation"
    assert r.observed == pytest.approx(0.04) and r.baseline_value == pytest.approx(0.30)
    assert r.margin == pytest.approx(0.2) == r.worst.margin


def test_a_relative_change_limit_ranks_clusters_by_relative_change() -> None:
    # Against +400%: refunds may rise 4 points and rose 3: (0.04 − 0.03) / 0.04 = 25%;
    # SQL may rise 120 points and rose 4: 96.7%. Refunds is the worst.
    r = _relative("- metric: error_rate\n  max_increase: 400%", SHIFTS)
    assert r.worst is not None and r.worst.title == "Refund requests"
    assert r.observed == pytest.approx(0.03) and r.margin == pytest.approx(0.25)


def test_a_cluster_at_zero_before_and_after_is_no_near_miss() -> None:
    # 0 → 0 under +50% has no headroom to measure (any rise from 0 fails); the margin is
    # the other cluster's: 10% → 12% may rise 5 points, rose 2: (0.05 − 0.02) / 0.05 = 60%.
    r = _relative(
        "- metric: error_rate\n  max_increase: 50%",
        [("Refund requests", 0, 0), ("SQL query generation", 10, 12)],
    )
    assert r.status == "pass"
    zero = next(c for c in r.clusters if c.title == "Refund requests")
    assert zero.status == "pass" and zero.margin is None
    assert r.margin == pytest.approx(0.6)
    assert r.worst is not None and r.worst.title == "SQL query generation"
    # A rise from 0 still fails, and is the worst.
    r = _relative(
        "- metric: error_rate\n  max_increase: 50%",
        [("Refund requests", 0, 1), ("SQL query generation", 10, 30)],
    )
    assert r.status == "fail"
    assert r.worst is not None and r.worst.title == "Refund requests"


def test_an_all_noise_run_says_so_rather_than_blaming_where() -> None:
    noise_only = run([cl(-1, 40, "Outliers", item_count=40, avg_cost_usd=0.5)])
    r = ev("- metric: avg_cost_usd\n  max: 0.05", noise_only)
    assert (r.status, r.message) == (
        "skip",
        "run r-latest has no clusters besides noise (all 40 items are noise)",
    )
    one = run([cl(-1, 1, "Outliers", item_count=1, avg_cost_usd=0.5)])
    assert ev("- metric: avg_cost_usd\n  max: 0.05", one).message == (
        "run r-latest has no clusters besides noise (its one item is noise)"
    )
    # With a `where`, the selection is what left nothing.
    r = ev("- metric: avg_cost_usd\n  max: 0.05\n  where: {title: Refund}", COSTS)
    assert (r.status, r.message) == ("skip", "no cluster matches `where`")
