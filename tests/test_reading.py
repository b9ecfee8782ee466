"""Reading the output (issue 14): the bound a confident verdict judged, absolute changes
of ratios in points, failing clusters worst first and cut with a count, the clusters
behind a title_stability failure, and a pairing score that never rounds up to its
threshold. Hand-built runs; every expected string is worked out by hand here.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pytest

from llmc_checks import report, safe_text
from llmc_checks.checks import Context, evaluate
from llmc_checks.config import Check, parse_config
from llmc_checks.matching import Evidence as MatchEvidence
from llmc_checks.matching import Pair, Pairing, pair_runs
from llmc_checks.model import Cluster, ClusterStats, Run
from llmc_checks.report import markdown
from llmc_checks.report.cells import run_summary
from llmc_checks.results import BaselineView, CheckResult, Outcome
from llmc_checks.units import format_limit

UTC = timezone.utc
END = datetime(2026, 11, 15, 0, 15, 3, tzinfo=UTC)
NOW = END + timedelta(hours=6)
HOST = "https://eu.posthog.example"
Z95 = NormalDist().inv_cdf(0.95)


def check(body: str) -> Check:
    text = "version: 1\nsource:\n  snapshot: s.jsonl\nchecks:\n" + textwrap.indent(
        textwrap.dedent(body).strip() + "\n", "  "
    )
    return parse_config(text, filename="checks.yaml").checks[0]


def rate(cid: int, title: str, errors: int, items: int) -> Cluster:
    stats = ClusterStats(item_count=items, error_count=errors, error_rate=errors / items)
    return Cluster(cid, title, "", items, stats=stats)


def cost(cid: int, usd: float, size: int = 30, title: str | None = None) -> Cluster:
    stats = ClusterStats(item_count=size, avg_cost_usd=usd)
    return Cluster(cid, title or f"Topic {cid}", "", size, stats=stats)


def run(clusters: list[Cluster], run_id: str = "r-latest", items: int | None = None) -> Run:
    return Run(
        run_id=run_id,
        level="trace",
        job_id="job",
        job_name="Default - traces",
        window_start=END - timedelta(days=7),
        window_end=END if run_id == "r-latest" else END - timedelta(days=1),
        items_analyzed=items if items is not None else sum(c.size for c in clusters),
        clusters=tuple(clusters),
    )


def link(r: Run, cluster_id: int) -> str:
    return f"{HOST}/project/7/ai-observability/clusters/{r.run_id}/{cluster_id}"


def judge(
    body: str, latest: Run, base: Run | None = None, **ctx: Any
) -> tuple[Outcome, CheckResult]:
    """The check's result, and the outcome every renderer reads."""
    baselines = (base,) if base is not None else ()
    pairings = ctx.pop("pairings", (pair_runs(latest, base),) if base is not None else ())
    result = evaluate(
        check(body),
        Context(now=NOW, latest=latest, baselines=baselines, pairings=pairings, link=link, **ctx),
    )
    view = BaselineView("previous", baselines, pairings) if base is not None else None
    outcome = Outcome(Path("checks.yaml"), "snapshot s.jsonl", (result,), latest, view, link=link)
    return outcome, result


def observed_cell(outcome: Outcome) -> str:
    """The terminal table's observed column, read off the rendered table."""
    lines = report.terminal(outcome, [0]).splitlines()
    header = next(line for line in lines if line.startswith("check "))
    row = lines[lines.index(header) + 2]
    start, end = header.index("observed"), header.index("expected")
    return row[start:end].strip()


def markdown_rows(text: str, first_cell: str) -> list[list[str]]:
    """The cells of the Markdown table rows whose first cell starts with `first_cell`."""
    return [
        [c.strip() for c in line.strip("|").split(" | ")]
        for line in text.splitlines()
        if line.startswith(f"| {first_cell}")
    ]


# --- the bound a confident verdict judged -----------------------------------------------------


def wilson(k: int, n: int) -> tuple[float, float]:
    """Continuity-corrected Wilson bounds at 95% (one-sided), from the quadratic that
    defines them: (p̂ ∓ 1/2n − p)² = z² p (1 − p) / n; independent of stats.py."""

    def roots(q: float) -> tuple[float, float]:
        a, b, c = 1 + Z95**2 / n, 2 * q + Z95**2 / n, q * q
        root = math.sqrt(b * b - 4 * a * c)
        return (b - root) / (2 * a), (b + root) / (2 * a)

    return roots(k / n - 1 / (2 * n))[0], roots(k / n + 1 / (2 * n))[1]


def test_a_confident_ceiling_shows_the_lower_bound_it_judged_everywhere() -> None:
    # 27 of 200 = 13.5%; its lower bound 9.7931% is over 9%: a failure on the bound.
    assert wilson(27, 200)[0] == pytest.approx(0.0979306, abs=1e-7)
    latest = run([rate(0, "SQL generation", 27, 200), rate(1, "Refunds", 1, 100)])
    outcome, r = judge("- metric: error_rate\n  max: 9%\n  confidence: 0.95", latest)
    assert r.status == "fail"
    shown = "13.5% (lower bound 9.8% @95%)"
    assert r.message.splitlines() == [
        "1 of 2 clusters fails error_rate ≤ 9% @95%:",
        f"  - 'SQL generation' (cluster 0, 200 items): {shown} {link(latest, 0)}",
    ]
    assert r.bound is not None
    assert (r.bound.side, r.bound.value, r.bound.confidence, r.bound.on_change) == (
        "lower",
        pytest.approx(wilson(27, 200)[0]),
        0.95,
        False,
    )
    assert observed_cell(outcome) == shown
    md = markdown.render([(outcome, [0])])
    cell = safe_text.markdown(shown)  # escaped as any text in a cell ("\\@95%")
    assert markdown_rows(md, "❌ fail")[0][3] == cell  # the checks table's observed
    assert markdown_rows(md, "[SQL generation]")[0][2] == cell  # the failing clusters
    doc = report.gate_json(outcome, [0])
    expected_bound = {
        "side": "lower",
        "value": pytest.approx(0.0979306, abs=1e-7),
        "confidence": 0.95,
        "of": "value",
    }
    assert doc["checks"][0]["bound"] == expected_bound
    assert doc["checks"][0]["clusters"][0]["bound"] == expected_bound
    # Refunds passes: its own bound, 1 of 100 → lower 0.0518% (by the quadratic)
    assert doc["checks"][0]["clusters"][1]["bound"]["value"] == pytest.approx(wilson(1, 100)[0])


def test_a_confident_floor_shows_the_upper_bound() -> None:
    # 50 of 200 items = 25.0%: upper bound 30.610% < 31%, so the floor fails on it.
    assert wilson(50, 200)[1] == pytest.approx(0.3061036, abs=1e-7)
    latest = run([Cluster(0, "Refunds", "", 50), Cluster(1, "SQL", "", 150)])
    outcome, r = judge("- metric: size_share\n  min: 31%\n  confidence: 0.95", latest)
    assert r.status == "fail"
    assert r.message.splitlines()[1] == (
        f"  - 'Refunds' (cluster 0, 50 items): 25.0% (upper bound 30.6% @95%) {link(latest, 0)}"
    )
    assert observed_cell(outcome) == "25.0% (upper bound 30.6% @95%)"


def newcombe(new: tuple[int, int], old: tuple[int, int]) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_new − p_old (his method 10/11)."""
    p1, p0 = new[0] / new[1], old[0] / old[1]
    (l1, h1), (l0, h0) = wilson(*new), wilson(*old)
    diff = p1 - p0
    return diff - math.hypot(p1 - l1, h0 - p0), diff + math.hypot(h1 - p1, p0 - l0)


def test_a_confident_relative_check_shows_the_bound_on_the_change() -> None:
    # 10 of 200 (5%) → 30 of 200 (15%): +10 points, +200%; the difference's lower bound
    # 4.7625 points is over the 2 allowed.
    assert newcombe((30, 200), (10, 200))[0] == pytest.approx(0.0476254, abs=1e-7)
    latest = run([rate(0, "SQL generation", 30, 200)])
    base = run([rate(5, "SQL generation", 10, 200)], run_id="r-base")
    body = "- metric: error_rate\n  max_increase: 0.02\n  confidence: 0.95"
    outcome, r = judge(body, latest, base)
    assert r.status == "fail"
    assert r.expected == "increase ≤ 2 pp @95%"
    change = "+10.0 pp (+200%; lower bound +4.8 pp @95%)"
    assert r.message.splitlines()[1] == (
        f"  - 'SQL generation' (cluster 0, 200 items): 15.0% (baseline 5.0%, {change}) "
        f"{link(latest, 0)}"
    )
    assert observed_cell(outcome) == change
    assert report.gate_json(outcome, [0])["checks"][0]["bound"]["of"] == "change"
    md = markdown.render([(outcome, [0])])
    assert markdown_rows(md, "❌ fail")[0][3:5] == [
        safe_text.markdown(change),
        safe_text.markdown("increase ≤ 2 pp @95%"),
    ]


def test_a_confident_run_scope_change_shows_a_negative_bound() -> None:
    # noise 10 of 100 → 14 of 100: +4 points (+40%); the lower bound is −4.40 points, far
    # under +2: a pass, and the bound says why.
    assert newcombe((14, 100), (10, 100))[0] == pytest.approx(-0.0440099, abs=1e-7)
    latest = run([Cluster(0, "Topic", "", 86), Cluster(-1, "Outliers", "", 14)])
    base = run([Cluster(0, "Topic", "", 90), Cluster(-1, "Outliers", "", 10)], run_id="r-base")
    _, r = judge("- metric: noise_share\n  max_increase: 0.02\n  confidence: 0.95", latest, base)
    assert r.status == "pass"
    assert (
        r.message
        == "noise_share = 14.0% (baseline 10.0%, +4.0 pp (+40%; lower bound -4.4 pp @95%))"
    )


@pytest.mark.parametrize(
    ("body", "k", "n", "status", "shown"),
    [
        # 9 of 50 = 18.0%: lower bound 10.016% > 10%, a failure; at one decimal it would
        # read "10.0%", the limit itself. Two decimals show it over.
        ("max: 10%", 9, 50, "fail", "18.0% (lower bound 10.02% @95%)"),
        # 12 of 73 = 16.4%: lower bound 9.982% ≤ 10%, a pass that "10.0%" would hide.
        ("max: 10%", 12, 73, "pass", "16.4% (lower bound 9.98% @95%)"),
        # 17 of 81 = 21.0%: upper bound 29.978% < 30%, a floor's failure.
        ("min: 30%", 17, 81, "fail", "21.0% (upper bound 29.98% @95%)"),
        # 22 of 100 = 22.0%: upper bound 30.041% ≥ 30%, a pass.
        ("min: 30%", 22, 100, "pass", "22.0% (upper bound 30.04% @95%)"),
        # 27 of 200: lower bound 9.793%, far from 9% at one decimal: no digit added.
        ("max: 9%", 27, 200, "fail", "13.5% (lower bound 9.8% @95%)"),
    ],
)
def test_a_bound_near_its_limit_shows_the_digits_that_put_it_on_its_side(
    body: str, k: int, n: int, status: str, shown: str
) -> None:
    low, high = wilson(k, n)
    bound = low if body.startswith("max") else high
    limit = float(body.split()[1].rstrip("%")) / 100
    # The digits shown are the exact bound's, to nearest, at the first precision that
    # differs from the limit on the bound's side of it.
    digits = shown.split("bound ")[1].split("%")[0]
    assert abs(bound * 100 - float(digits)) <= 0.5 * 10 ** -len(digits.split(".")[1])
    assert (float(digits) > limit * 100) == (bound > limit)
    assert (float(digits) < limit * 100) == (bound < limit)
    latest = run([rate(0, "SQL generation", k, n)])
    outcome, r = judge(f"- metric: error_rate\n  {body}\n  confidence: 0.95", latest)
    assert r.status == status
    assert observed_cell(outcome) == shown
    if status == "fail":
        line = f"  - 'SQL generation' (cluster 0, {n} items): {shown} {link(latest, 0)}"
        assert r.message.splitlines()[1] == line
    else:
        assert r.message == f"1 cluster evaluated; worst: 'SQL generation' {shown}"
    md = markdown.render([(outcome, [0])])
    assert markdown_rows(md, f"{'❌' if status == 'fail' else '✅'} {status}")[0][3] == (
        safe_text.markdown(shown)
    )


@pytest.mark.parametrize(
    ("body", "new", "old", "status", "change"),
    [
        # 20 → 33 of 100: +13 points; Newcombe's lower bound +2.017 points is over the 2
        # allowed, which "+2.0 pp" would hide.
        ("max_increase: 0.02", 33, 20, "fail", "+13.0 pp (+65%; lower bound +2.02 pp @95%)"),
        # 6 → 16 of 100: lower bound +1.977 points, under 2: a pass "+2.0 pp" would hide.
        ("max_increase: 0.02", 16, 6, "pass", "+10.0 pp (+167%; lower bound +1.98 pp @95%)"),
        # 33 → 20 of 100: the mirror image, a fall whose upper bound −2.017 points is past
        # the 2 allowed.
        ("max_decrease: 0.02", 20, 33, "fail", "-13.0 pp (-39%; upper bound -2.02 pp @95%)"),
        # 12 → 28 of 100 under a relative limit: 50% of 12% allows 6 points; the lower
        # bound is +6.011 points.
        ("max_increase: 50%", 28, 12, "fail", "+16.0 pp (+133%; lower bound +6.01 pp @95%)"),
    ],
)
def test_a_change_bound_near_its_limit_shows_the_digits_that_put_it_on_its_side(
    body: str, new: int, old: int, status: str, change: str
) -> None:
    low, high = newcombe((new, 100), (old, 100))
    judged = low if "increase" in body else high
    assert abs(judged * 100 - float(change.split("bound ")[1].split(" pp")[0])) <= 0.005
    latest = run([rate(0, "SQL generation", new, 100)])
    base = run([rate(5, "SQL generation", old, 100)], run_id="r-base")
    outcome, r = judge(f"- metric: error_rate\n  {body}\n  confidence: 0.95", latest, base)
    assert r.status == status
    assert observed_cell(outcome) == change
    assert r.clusters[0].note == f"baseline {old / 100:.1%}, {change}"
    if status == "fail":
        assert r.message.splitlines()[1] == (
            f"  - 'SQL generation' (cluster 0, 100 items): {new / 100:.1%} "
            f"(baseline {old / 100:.1%}, {change}) {link(latest, 0)}"
        )


# --- a value or a change near its limit reads on its side of it --------------------------


def terminal_row(outcome: Outcome) -> str:
    lines = report.terminal(outcome, [0]).splitlines()
    header = next(line for line in lines if line.startswith("check "))
    return lines[lines.index(header) + 2]


def stat(metric: str, value: float, cid: int = 0, title: str = "SQL generation") -> Cluster:
    """A 30-item cluster whose `metric` is `value`."""
    return Cluster(cid, title, "", 30, stats=ClusterStats(item_count=30, **{metric: value}))


@pytest.mark.parametrize(
    ("metric", "body", "value", "status", "shown"),
    [
        # 251 of 2,500 = 10.04% over `max: 10%`: at one decimal it would read "10.0%",
        # the limit itself; 249 of 2,500 = 9.96%, a pass, would read the same.
        ("error_rate", "max: 10%", 251, "fail", "10.04%"),
        ("error_rate", "max: 10%", 249, "pass", "9.96%"),
        # 250 of 2,500 is the limit: it passes `max`, and reads as the limit.
        ("error_rate", "max: 10%", 250, "pass", "10.0%"),
        # 749 of 2,500 = 29.96% under a floor of 30%.
        ("error_rate", "min: 30%", 749, "fail", "29.96%"),
        # Far from its limit, the usual digits.
        ("error_rate", "max: 20%", 251, "pass", "10.0%"),
        # Durations at 3 significant digits: 20.04s would read "20s", the limit.
        ("p95_latency_s", "max: 20", 20.04, "fail", "20.04s"),
        ("p95_latency_s", "max: 20", 19.96, "pass", "19.96s"),
        ("p95_latency_s", "max: 20", 20.0, "pass", "20s"),
        # Money at 4 significant digits: $0.080004 would read "$0.08", the limit.
        ("avg_cost_usd", "max: 0.08", 0.080004, "fail", "$0.080004"),
        ("avg_cost_usd", "min: 0.08", 0.0799999, "fail", "$0.0799999"),
        ("avg_cost_usd", "max: 0.08", 0.0799996, "pass", "$0.0799996"),
        # Tokens in whole numbers: 1,000.4 would read "1,000".
        ("avg_tokens", "max: 1000", 1000.4, "fail", "1,000.4"),
    ],
)
def test_a_cluster_value_near_its_limit_reads_on_its_side_everywhere(
    metric: str, body: str, value: float, status: str, shown: str
) -> None:
    if metric == "error_rate":
        cluster, raw, size = rate(0, "SQL generation", int(value), 2500), value / 2500, 2500
    else:
        cluster, raw, size = stat(metric, value), value, 30
    # Each value differs from its limit on the side its verdict says, by hand.
    limit = float(body.split()[1].rstrip("%")) / (100 if body.endswith("%") else 1)
    assert (raw > limit if body.startswith("max") else raw < limit) == (status == "fail")
    latest = run([cluster])
    outcome, r = judge(f"- metric: {metric}\n  {body}", latest)
    assert r.status == status
    assert observed_cell(outcome) == shown
    assert terminal_row(outcome).endswith(f"SQL generation (#0, n={size}): {shown}")
    if status == "fail":
        assert r.message.splitlines() == [
            f"1 of 1 cluster fails {metric} {r.expected}:",
            f"  - 'SQL generation' (cluster 0, {size:,} items): {shown} {link(latest, 0)}",
        ]
    else:
        assert r.message == f"1 cluster evaluated; worst: 'SQL generation' {shown}"
    md = markdown.render([(outcome, [0])])
    row = markdown_rows(md, f"{'❌' if status == 'fail' else '✅'} {status}")[0]
    assert row[3] == safe_text.markdown(shown)
    assert row[7] == f"[SQL generation]({link(latest, 0)}) ({size}): {safe_text.markdown(shown)}"
    if status == "fail":
        assert markdown_rows(md, "[SQL generation]")[0][2] == safe_text.markdown(shown)
    # The JSON report's numbers stay the numbers.
    doc = report.gate_json(outcome, [0])["checks"][0]
    assert doc["observed"] == raw
    assert doc["clusters"][0]["value"] == raw


@pytest.mark.parametrize(
    ("metric", "body", "value", "status", "shown"),
    [
        ("run_cost_usd", "max: 0.08", 0.080004, "fail", "$0.080004"),
        ("run_cost_usd", "max: 0.08", 0.0799996, "pass", "$0.0799996"),
        ("run_cost_usd", "max: 0.08", 0.08, "pass", "$0.08"),
        # 2,510 of 25,000 items in noise: 10.04% over `max: 10%`.
        ("noise_share", "max: 10%", 2510, "fail", "10.04%"),
        ("noise_share", "min: 10%", 2490, "fail", "9.96%"),
        # Hours at one decimal: 6h 2m 24s after the window's end is 6.04h, not "6.0h".
        ("run_age_hours", "max: 6", 144, "fail", "6.04h"),
        ("run_age_hours", "max: 6", 0, "pass", "6.0h"),
    ],
)
def test_a_run_value_near_its_limit_reads_on_its_side(
    metric: str, body: str, value: float, status: str, shown: str
) -> None:
    if metric == "run_cost_usd":
        latest = run([Cluster(0, "All", "", 30, stats=ClusterStats(30, total_cost_usd=value))])
    elif metric == "noise_share":
        latest = run(
            [Cluster(-1, "Noise", "", int(value)), Cluster(0, "Rest", "", 25000 - int(value))]
        )
    else:  # NOW is 6 hours after END: the window ends `value` seconds earlier
        latest = replace(run([cost(0, 0.01)]), window_end=END - timedelta(seconds=value))
    outcome, r = judge(f"- metric: {metric}\n  {body}", latest)
    assert r.status == status
    assert observed_cell(outcome) == shown
    head = f"{metric} = {shown}"
    assert r.message == (f"{head}, expected {r.expected}" if status == "fail" else head)
    md = markdown.render([(outcome, [0])])
    row = markdown_rows(md, f"{'❌' if status == 'fail' else '✅'} {status}")[0]
    assert row[3] == safe_text.markdown(shown)
    assert report.gate_json(outcome, [0])["checks"][0]["observed"] == r.observed


@pytest.mark.parametrize(
    ("metric", "body", "new", "old", "status", "change"),
    [
        # 20.0% → 22.04% (551 of 2,500): +2.04 points over `max_increase: 0.02`, which
        # "+2.0 pp" would hide; 21.96% passes; 22.0% is +2 points to the float's error
        # (0.22 - 0.2 = 0.020000000000000018), which the verdict allows: it reads "+2.0 pp".
        ("error_rate", "max_increase: 0.02", 551, 500, "fail", "+2.04 pp (+10%)"),
        ("error_rate", "max_increase: 0.02", 549, 500, "pass", "+1.96 pp (+10%)"),
        ("error_rate", "max_increase: 0.02", 550, 500, "pass", "+2.0 pp (+10%)"),
        ("error_rate", "max_decrease: 0.02", 500, 551, "fail", "-2.04 pp (-9%)"),
        # A relative limit: the relative change takes the digits, +50.4% over 50%.
        ("avg_latency_s", "max_increase: 50%", 15.04, 10.0, "fail", "+5.04s (+50.4%)"),
        ("avg_latency_s", "max_increase: 50%", 14.96, 10.0, "pass", "+4.96s (+49.6%)"),
        ("avg_latency_s", "max_increase: 50%", 15.0, 10.0, "pass", "+5s (+50%)"),
        ("avg_latency_s", "max_decrease: 50%", 4.96, 10.0, "fail", "-5.04s (-50.4%)"),
        # Money: +$0.010004 over `max_increase: 0.01` would read "+$0.01".
        ("avg_cost_usd", "max_increase: 0.01", 0.060004, 0.05, "fail", "+$0.010004 (+20%)"),
    ],
)
def test_a_change_near_its_limit_reads_on_its_side(
    metric: str, body: str, new: float, old: float, status: str, change: str
) -> None:
    if metric == "error_rate":
        latest = run([rate(0, "SQL generation", int(new), 2500)])
        base = run([rate(5, "SQL generation", int(old), 2500)], run_id="r-base")
        # The value has no limit of its own here: the usual one decimal.
        value, before = f"{new / 2500:.1%}", f"{old / 2500:.1%}"
    else:
        latest = run([stat(metric, new)])
        base = run([stat(metric, old, cid=5)], run_id="r-base")
        value = {15.04: "15s", 14.96: "15s", 15.0: "15s", 4.96: "4.96s", 0.060004: "$0.06"}[new]
        before = {10.0: "10s", 0.05: "$0.05"}[old]
    outcome, r = judge(f"- metric: {metric}\n  {body}", latest, base)
    assert r.status == status
    assert observed_cell(outcome) == change
    assert r.clusters[0].note == f"baseline {before}, {change}"
    if status == "fail":
        assert r.message.splitlines()[1] == (
            f"  - 'SQL generation' (cluster 0, {r.clusters[0].size:,} items): {value} "
            f"(baseline {before}, {change}) {link(latest, 0)}"
        )
    md = markdown.render([(outcome, [0])])
    row = markdown_rows(md, f"{'❌' if status == 'fail' else '✅'} {status}")[0]
    assert row[3] == safe_text.markdown(change)


def test_a_run_scope_change_near_its_limit_reads_on_its_side() -> None:
    # $1 → $1.1004: +10.04% over `max_increase: 10%`, which "+10%" would hide.
    def costing(usd: float, run_id: str) -> Run:
        return run([Cluster(0, "All", "", 30, stats=ClusterStats(30, total_cost_usd=usd))], run_id)

    latest, base = costing(1.1004, "r-latest"), costing(1.0, "r-base")
    outcome, r = judge("- metric: run_cost_usd\n  max_increase: 10%", latest, base)
    assert r.status == "fail"
    shown = "$1.1 (baseline $1, +$0.1004 (+10.04%))"
    assert r.message == f"run_cost_usd = {shown}, expected increase ≤ 10%"
    assert observed_cell(outcome) == "$1.1 (+$0.1004 (+10.04%))"


def test_counts_of_one_read_in_the_singular() -> None:
    latest = run([rate(0, "Refunds", 1, 1)])
    assert run_summary(latest).endswith(", 1 item, 1 cluster")
    _, r = judge("- metric: error_rate\n  max: 10%", latest)
    assert r.message.splitlines()[:2] == [
        "1 of 1 cluster fails error_rate ≤ 10%:",
        f"  - 'Refunds' (cluster 0, 1 item): 100.0% {link(latest, 0)}",
    ]
    two = run([rate(0, "Refunds", 1, 1), rate(1, "SQL", 1, 2)])
    assert judge("- metric: error_rate\n  max: 10%", two)[1].message.startswith(
        "2 of 2 clusters fail error_rate"
    )


# --- absolute changes of ratios in points ---------------------------------------------------


def test_format_limit_writes_points_exactly() -> None:
    assert format_limit(0.05, "points") == "5 pp"
    assert format_limit(0.035, "points") == "3.5 pp"
    assert format_limit(0.001, "points") == "0.1 pp"
    assert format_limit(0.0, "points") == "0 pp"


def test_an_absolute_change_of_a_ratio_reads_in_points() -> None:
    # Refunds 1% → 4%: +3 points; SQL 30% → 34%: +4 points (+13% of 30%), over 3.5.
    latest = run([rate(0, "Refund requests", 4, 100), rate(1, "SQL query generation", 34, 100)])
    base = run(
        [rate(5, "Refund requests", 1, 100), rate(6, "SQL query generation", 30, 100)],
        run_id="r-base",
    )
    outcome, r = judge("- metric: error_rate\n  max_increase: 0.035", latest, base)
    assert r.status == "fail"
    assert r.expected == "increase ≤ 3.5 pp"
    assert r.message.splitlines() == [
        "1 of 2 clusters fails error_rate increase ≤ 3.5 pp:",
        "  - 'SQL query generation' (cluster 1, 100 items): 34.0% (baseline 30.0%, "
        f"+4.0 pp (+13%)) {link(latest, 1)}",
    ]
    assert observed_cell(outcome) == "+4.0 pp (+13%)"
    md = markdown.render([(outcome, [0])])
    assert markdown_rows(md, "[SQL query generation]")[0][3] == "baseline 30.0%, +4.0 pp (+13%)"
    # A relative limit on a ratio stays a percent of the baseline; other units keep theirs.
    assert judge("- metric: error_rate\n  max_increase: 50%", latest, base)[1].expected == (
        "increase ≤ 50%"
    )
    costs = run([cost(0, 0.05, title="Refund requests")])
    costs_base = run([cost(3, 0.02, title="Refund requests")], run_id="r-base")
    _, r = judge("- metric: avg_cost_usd\n  max_increase: 0.02", costs, costs_base)
    assert r.expected == "increase ≤ $0.02"
    assert r.message.splitlines()[1].startswith(
        "  - 'Refund requests' (cluster 0, 30 items): $0.05 (baseline $0.02, +$0.03 (+150%))"
    )


# --- worst first, and cut with a count -----------------------------------------------------


def test_failing_clusters_are_listed_worst_first_everywhere() -> None:
    # max $0.05: 1 ($0.20) is 300% past it, 3 ($0.09) 80%, 0 ($0.06) 20%; 2 passes; 4 is
    # too small to judge.
    latest = run([cost(0, 0.06), cost(1, 0.20), cost(2, 0.05), cost(3, 0.09), cost(4, 0.5, 5)])
    body = "- metric: avg_cost_usd\n  max: 0.05\n  where: {min_size: 10}"
    outcome, r = judge(body, latest)
    assert [line.split(":")[0] for line in r.message.splitlines()[1:]] == [
        "  - 'Topic 1' (cluster 1, 30 items)",
        "  - 'Topic 3' (cluster 3, 30 items)",
        "  - 'Topic 0' (cluster 0, 30 items)",
    ]
    md = markdown.render([(outcome, [0])])
    assert [row[0].split("](")[0] for row in markdown_rows(md, "[Topic")] == [
        "[Topic 1",
        "[Topic 3",
        "[Topic 0",
    ]
    doc = report.gate_json(outcome, [0])
    assert [c["cluster_id"] for c in doc["checks"][0]["clusters"]] == [1, 3, 0, 2, 4]
    assert [c["margin"] for c in doc["checks"][0]["clusters"][:4]] == pytest.approx(
        [-3.0, -0.8, -0.2, 0.0]
    )


def test_very_many_failing_clusters_are_cut_with_a_count() -> None:
    # 10,000 clusters over a $0.05 ceiling, the costliest last: $0.06 + i × $0.00001.
    clusters = [cost(i, 0.06 + i * 0.00001, size=20) for i in range(10_000)]
    outcome, r = judge("- metric: avg_cost_usd\n  max: 0.05", run(clusters))
    lines = r.message.splitlines()
    assert lines[0] == "10,000 of 10,000 clusters fail avg_cost_usd ≤ $0.05:"
    assert len(lines) == 1 + 10 + 1
    assert lines[1].startswith("  - 'Topic 9999' (cluster 9999, 20 items): $0.16 ")  # 0.15999
    assert lines[10].startswith("  - 'Topic 9990' (cluster 9990, 20 items): $0.1599")
    assert lines[11] == "  … and 9,990 more"
    md = markdown.render([(outcome, [0])])
    rows = markdown_rows(md, "[Topic")
    assert (
        len(rows) == 50
        and rows[0][0].startswith("[Topic 9999]")
        and rows[-1][0].startswith("[Topic 9950]")
    )
    assert "\n… and 9,950 more (the JSON report lists them all)\n" in md
    assert len(report.gate_json(outcome, [0])["checks"][0]["clusters"]) == 10_000


# --- title_stability: which clusters it counts against ---------------------------------------


def pairing_of(
    latest: Run, base: Run, pairs: list[tuple[int, int, float]], threshold: float = 0.8
) -> Pairing:
    """A pairing by hand: (latest id, baseline id, score) per pair."""
    by_id = {c.cluster_id: c for c in latest.clusters} | {
        -100 - c.cluster_id: c for c in base.clusters
    }
    made = tuple(
        Pair(by_id[a], by_id[-100 - b], score, score, renamed=score < threshold)
        for a, b, score in pairs
    )
    paired_latest = {a for a, _, _ in pairs}
    paired_base = {b for _, b, _ in pairs}
    return Pairing(
        made,
        new=tuple(c for c in latest.clusters if c.cluster_id not in paired_latest),
        vanished=tuple(c for c in base.clusters if c.cluster_id not in paired_base),
        title_threshold=threshold,
        latest_run_id=latest.run_id,
        baseline_run_id=base.run_id,
    )


def test_a_title_stability_failure_names_the_changed_and_vanished_clusters() -> None:
    latest = run([Cluster(0, "Refunds", "", 55), Cluster(1, "Billing disputes", "", 40)])
    base = run(
        [
            Cluster(30, "Refund requests", "", 50),
            Cluster(31, "Payment questions", "", 30),
            Cluster(32, "Weather small talk", "", 20),
        ],
        run_id="r-base",
    )
    # 30 stays (0.95), 31 is paired below the threshold (0.7999), 32 vanished:
    # title_stability = 50 / 100 = 50% < 80%; 31 weighs 30%, 32 weighs 20%.
    pairing = pairing_of(latest, base, [(0, 30, 0.95), (1, 31, 0.7999)])
    outcome, r = judge("- metric: title_stability\n  min: 80%", latest, base, pairings=(pairing,))
    assert r.status == "fail"
    assert r.message.splitlines() == [
        "title_stability = 50.0%, expected ≥ 80%",
        "clusters of baseline run r-base judged changed or vanished (their share of its items), "
        "largest first:",
        "  - 'Payment questions' (cluster 31, 30 items): 30.0% (changed: paired with "
        f"'Billing disputes' (cluster 1) at similarity 0.79 < 0.8) {link(base, 31)}",
        "  - 'Weather small talk' (cluster 32, 20 items): 20.0% (vanished: no cluster of the "
        f"latest run matches) {link(base, 32)}",
    ]
    doc = report.gate_json(outcome, [0])["checks"][0]
    assert [(c["cluster_id"], c["value"]) for c in doc["clusters"]] == [(31, 0.3), (32, 0.2)]
    md = markdown.render([(outcome, [0])])
    head = "title_stability = 50.0%, expected ≥ 80%; clusters of baseline run r-base judged"
    assert f"\n{safe_text.markdown(head)} changed or vanished" in md
    assert [row[0].split("](")[0] for row in markdown_rows(md, "[")] == [
        "[Payment questions",
        "[Weather small talk",
    ]
    # The pairing table shows the score that decided, rounded down, under its threshold.
    table = report.terminal(outcome, [0])
    assert "clusters vs baseline r-base (stable: similarity ≥ 0.8):" in table
    changed = next(line for line in table.splitlines() if line.startswith("changed"))
    assert changed.split()[-2:] == ["(30)", "0.79"]  # no `why` for a hand-made pair
    assert "Clusters vs baseline r-base (stable: similarity ≥ 0.8)</summary>" in md
    assert "| changed | Billing disputes (40) | Payment questions (30) | 0.79 |" in md
    assert report.gate_json(outcome, [0])["pairing"]["clusters"][1]["similarity"] == 0.7999


def test_a_score_shows_as_many_decimals_as_its_threshold() -> None:
    # Under `match.title_similarity: 0.875`, 0.876 is stable and 0.874 changed: at two
    # decimals both would read 0.87. Three decimals, rounded down, tell them apart and
    # keep each on its side of 0.875. title_stability = 60 / 100 = 60% < 80%.
    latest = run([Cluster(0, "Refunds", "", 55), Cluster(1, "Billing disputes", "", 40)])
    base = run(
        [Cluster(30, "Refund requests", "", 60), Cluster(31, "Payment questions", "", 40)],
        run_id="r-base",
    )
    pairing = pairing_of(latest, base, [(0, 30, 0.8769), (1, 31, 0.8749)], threshold=0.875)
    outcome, r = judge(
        "- metric: title_stability\n  min: 80%",
        latest,
        base,
        pairings=(pairing,),
        title_threshold=0.875,
    )
    assert r.status == "fail"
    assert r.message.splitlines()[2] == (
        "  - 'Payment questions' (cluster 31, 40 items): 40.0% (changed: paired with "
        f"'Billing disputes' (cluster 1) at similarity 0.874 < 0.875) {link(base, 31)}"
    )
    table = report.terminal(outcome, [0]).splitlines()
    assert "clusters vs baseline r-base (stable: similarity ≥ 0.875):" in table
    rows = {
        line.split()[0]: line.split()[-1]
        for line in table
        if line.startswith(("stable", "changed"))
    }
    assert rows == {"stable": "0.876", "changed": "0.874"}
    md = markdown.render([(outcome, [0])])
    assert "| stable | Refunds (55) | Refund requests (60) | 0.876 |" in md
    assert "| changed | Billing disputes (40) | Payment questions (40) | 0.874 |" in md


def test_the_text_score_in_why_reads_as_the_similarity_does() -> None:
    # A pair with no item evidence is judged on its text alone: 0.7996 is changed under
    # 0.8, and its `why` must not read "text 0.80" beside "0.79" (rounded down as the
    # score is, at the threshold's decimals); under 0.875, 0.8749 reads 0.874.
    latest = run([Cluster(0, "Refunds", "", 55), Cluster(1, "Billing disputes", "", 40)])
    base = run(
        [Cluster(30, "Refund requests", "", 60), Cluster(31, "Payment questions", "", 40)],
        run_id="r-base",
    )
    for threshold, (stable, changed) in ((0.8, ("0.87", "0.79")), (0.875, ("0.876", "0.874"))):
        scores = (0.8769, 0.8749) if threshold == 0.875 else (0.8769, 0.7996)
        pairing = pairing_of(latest, base, [(0, 30, scores[0]), (1, 31, scores[1])], threshold)
        pairs = tuple(
            replace(p, evidence=MatchEvidence(p.similarity, p.similarity, p.similarity, 0.0))
            for p in pairing.pairs
        )
        pairing = replace(pairing, pairs=pairs)
        outcome, _ = judge(
            "- metric: title_stability\n  min: 80%",
            latest,
            base,
            pairings=(pairing,),
            title_threshold=threshold,
        )
        table = report.terminal(outcome, [0]).splitlines()
        rows = {
            line.split()[0]: re.split(r"\s{2,}", line)[-2:]
            for line in table
            if line.startswith(("stable", "changed"))
        }
        assert rows == {
            "stable": [stable, f"no shared items, text {stable}"],
            "changed": [changed, f"no shared items, text {changed}"],
        }
        md = markdown.render([(outcome, [0])])
        assert f"| {changed} | no shared items, text {changed} |" in md


def test_a_passing_title_stability_lists_no_clusters() -> None:
    latest = run([Cluster(0, "Refunds", "", 55)])
    base = run([Cluster(30, "Refund requests", "", 90), Cluster(31, "Tiny", "", 10)], "r-base")
    pairing = pairing_of(latest, base, [(0, 30, 0.95)])
    _, r = judge("- metric: title_stability\n  min: 80%", latest, base, pairings=(pairing,))
    assert (r.status, r.message, r.clusters) == ("pass", "title_stability = 90.0%", ())


# --- -q: the table alone --------------------------------------------------------------------


def test_the_brief_terminal_summary_is_the_table_alone() -> None:
    latest = run([rate(0, "SQL generation", 30, 200)])
    base = run([rate(5, "SQL generation", 10, 200)], run_id="r-base")
    outcome, _ = judge("- metric: error_rate\n  max_increase: 0.2", latest, base)
    full = report.terminal(outcome, [0]).splitlines()
    brief = report.terminal(outcome, [0], brief=True).splitlines()
    assert full[0].startswith("run r-latest (trace, window ")
    assert full[1] == "baseline previous: r-base"
    assert brief == full[2:6]  # header, rule, one row, the counts
    assert brief[-1] == "1 pass"
    assert any(line.startswith("clusters vs baseline") for line in full)


# --- several baselines: one median baseline behind what a verdict shows ------------------


def judge_many(body: str, latest: Run, bases: list[Run], pairings: list[Pairing]) -> Outcome:
    view = BaselineView("median of 3", tuple(bases), tuple(pairings))
    result = evaluate(
        check(body),
        Context(
            now=NOW, latest=latest, baselines=tuple(bases), pairings=tuple(pairings), link=link
        ),
    )
    return Outcome(Path("checks.yaml"), "snapshot s.jsonl", (result,), latest, view, link=link)


def test_a_confident_new_cluster_share_judges_the_median_baselines_own_counts() -> None:
    # All 100 latest items are new against r-b1 and r-b2, none against r-b3: the median
    # is 100%, r-b1's (the middle of [0%, 100%, 100%]); its 100 of 100 has the lower bound
    # 96.46%, far over 10%. (Counts from r-b3, 0 of 100, once showed "lower bound 0.0%".)
    assert wilson(100, 100)[0] == pytest.approx(0.9646085, abs=1e-7)
    latest = run([Cluster(0, "A", "", 50), Cluster(1, "B", "", 50)])
    bases = [
        run([Cluster(30, "X", "", 100)], run_id="r-b1"),
        run([Cluster(40, "X", "", 100)], run_id="r-b2"),
        run([Cluster(50, "A", "", 50), Cluster(51, "B", "", 50)], run_id="r-b3"),
    ]
    pairings = [
        pairing_of(latest, bases[0], []),
        pairing_of(latest, bases[1], []),
        pairing_of(latest, bases[2], [(0, 50, 0.95), (1, 51, 0.95)]),
    ]
    outcome = judge_many(
        "- metric: new_cluster_share\n  max: 10%\n  confidence: 0.95", latest, bases, pairings
    )
    r = outcome.results[0]
    assert r.status == "fail"
    assert r.message == ("new_cluster_share = 100.0% (lower bound 96.5% @95%), expected ≤ 10% @95%")


def test_a_confident_relative_check_bounds_the_change_on_the_median_baselines_counts() -> None:
    # Baselines 8/10 (80%), 9/10 (90%), 0/1000 (0%): the median cluster is r-b0's 80%, and
    # 50/100 is 30 points under it; Newcombe's lower bound of 50/100 − 8/10 is −47.84
    # points, a pass. Pooled counts (17 of 1020) once bounded the change at +39.7 points
    # and failed a check whose printed change was −30 points.
    assert newcombe((50, 100), (8, 10))[0] == pytest.approx(-0.4784186, abs=1e-7)
    latest = run([rate(0, "SQL generation", 50, 100)])
    bases = [
        run([rate(5, "SQL generation", k, n)], run_id=f"r-b{i}")
        for i, (k, n) in enumerate([(8, 10), (9, 10), (0, 1000)])
    ]
    pairings = [pair_runs(latest, b) for b in bases]
    outcome = judge_many(
        "- metric: error_rate\n  max_increase: 0.10\n  confidence: 0.95", latest, bases, pairings
    )
    r = outcome.results[0]
    assert r.status == "pass"
    assert r.clusters[0].note == "baseline 80.0%, -30.0 pp (-38%; lower bound -47.8 pp @95%)"
    assert observed_cell(outcome) == "-30.0 pp (-38%; lower bound -47.8 pp @95%)"


def test_a_confident_run_scope_change_is_bounded_on_the_median_baselines_counts() -> None:
    # Noise 10, 30 and 2 of 100 in the baselines: the median is r-b0's 10 of 100, so the
    # bound is the one of 14/100 − 10/100 (−4.40 points), not of the pooled 42 of 300.
    latest = run([Cluster(0, "Topic", "", 86), Cluster(-1, "Outliers", "", 14)])
    bases = [
        run([Cluster(0, "Topic", "", 100 - k), Cluster(-1, "Outliers", "", k)], run_id=f"r-b{i}")
        for i, k in enumerate([10, 30, 2])
    ]
    pairings = [pair_runs(latest, b) for b in bases]
    outcome = judge_many(
        "- metric: noise_share\n  max_increase: 0.02\n  confidence: 0.95", latest, bases, pairings
    )
    r = outcome.results[0]
    assert r.status == "pass"
    assert (
        r.message
        == "noise_share = 14.0% (baseline 10.0%, +4.0 pp (+40%; lower bound -4.4 pp @95%))"
    )


def title_runs() -> tuple[Run, list[Run], list[Pairing]]:
    latest = run([Cluster(0, "Refunds", "", 55), Cluster(1, "Billing", "", 40)])
    bases = [
        run([Cluster(10 * i + 30, "A", "", 50), Cluster(10 * i + 31, "B", "", 50)], f"r-b{i}")
        for i in range(3)
    ]
    pairings = [
        pairing_of(latest, bases[0], [(0, 30, 0.95)]),  # 50%: B vanished
        pairing_of(latest, bases[1], [(0, 40, 0.95), (1, 41, 0.7)]),  # 50%: B changed
        pairing_of(latest, bases[2], [(0, 50, 0.95), (1, 51, 0.9)]),  # 100%
    ]
    return latest, bases, pairings


def test_a_title_stability_failure_lists_the_median_baselines_clusters() -> None:
    # [50%, 50%, 100%] in value order (equal values keep the baselines' order): the
    # middle, the median baseline, is r-b1. The clusters listed were once the last
    # baseline's, r-b2's, which has none to list.
    latest, bases, pairings = title_runs()
    outcome = judge_many("- metric: title_stability\n  min: 80%", latest, bases, pairings)
    r = outcome.results[0]
    assert r.status == "fail"
    assert r.message.splitlines() == [
        "title_stability = 50.0%, expected ≥ 80%",
        "clusters of baseline run r-b1 (the median of 3 baselines, title_stability 50.0%) "
        "judged changed or vanished (their share of its items), largest first:",
        "  - 'B' (cluster 41, 50 items): 50.0% (changed: paired with 'Billing' (cluster 1) "
        f"at similarity 0.70 < 0.8) {link(bases[1], 41)}",
    ]
    doc = report.gate_json(outcome, [0])["checks"][0]
    assert (doc["clusters_run_id"], [c["cluster_id"] for c in doc["clusters"]]) == ("r-b1", [41])


def test_of_an_even_number_of_baselines_the_lower_middle_one_is_listed() -> None:
    # r-b1 (50%) and r-b2 (100%): the median is 75%, under 80%; the lower middle baseline
    # is r-b1, whose own 50% the heading states.
    latest, bases, pairings = title_runs()
    outcome = judge_many("- metric: title_stability\n  min: 80%", latest, bases[1:], pairings[1:])
    lines = outcome.results[0].message.splitlines()
    assert lines[0] == "title_stability = 75.0%, expected ≥ 80%"
    assert lines[1].startswith(
        "clusters of baseline run r-b1 (the median of 2 baselines, title_stability 50.0%) "
    )
    assert lines[2].startswith("  - 'B' (cluster 41, 50 items): 50.0% (changed: paired with ")


def test_the_json_report_names_the_run_a_cluster_checks_clusters_belong_to() -> None:
    latest = run([rate(0, "SQL generation", 30, 200)])
    outcome, _ = judge("- metric: error_rate\n  max: 10%", latest)
    assert report.gate_json(outcome, [0])["checks"][0]["clusters_run_id"] == "r-latest"


def test_the_pairing_heading_keeps_the_run_ids_case() -> None:
    latest = run([Cluster(0, "Refunds", "", 55)])
    base = run([Cluster(30, "Refund requests", "", 50)], run_id="Job-ABC_2026")
    outcome, _ = judge(
        "- metric: title_stability\n  min: 80%",
        latest,
        base,
        pairings=(pairing_of(latest, base, [(0, 30, 0.95)]),),
    )
    md = markdown.render([(outcome, [0])])
    assert (
        "<details><summary>Clusters vs baseline Job-ABC_2026 (stable: similarity ≥ 0.8)"
        "</summary>" in md
    )


def test_a_rise_from_a_baseline_of_0_shows_no_other_limits_bound_or_margin() -> None:
    # 0 of 100 → 10 of 100 fails `max_increase: 50%` (any rise from 0 does). The `max: 50%`
    # passes with room to spare (lower bound 5.69%), but that bound and its +89% margin
    # are not why the check failed: no bound, and a margin that says it failed.
    latest = run([rate(0, "SQL generation", 10, 100), rate(1, "Other", 45, 100)])
    base = run([rate(5, "SQL generation", 0, 100), rate(6, "Other", 40, 100)], run_id="r-base")
    body = "- metric: error_rate\n  max: 50%\n  max_increase: 50%\n  confidence: 0.95"
    outcome, r = judge(body, latest, base)
    assert (r.status, r.bound, r.margin) == ("fail", None, None)
    assert r.message.splitlines()[1] == (
        "  - 'SQL generation' (cluster 0, 100 items): 10.0% (baseline 0.0%, +10.0 pp; "
        f"baseline was 0) {link(latest, 0)}"
    )
    header = next(x for x in report.terminal(outcome, [0]).splitlines() if x.startswith("check "))
    row = report.terminal(outcome, [0]).splitlines()[2 + 2]
    assert "past (rise from 0)" in row[header.index("margin") :]
    assert markdown_rows(markdown.render([(outcome, [0])]), "❌ fail")[0][5] == safe_text.markdown(
        "past (rise from 0)"
    )
