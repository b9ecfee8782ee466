"""A value equal to its min or max up to float rounding passes it and reads as it
(model.at_limit): eighteen items of $0.08 each average 0.08000000000000002 in floats
(sum, then divide), which is $0.08, not a false alarm over `max: 0.08`. Run and cluster
scope, a confidence bound, hand-built items and a snapshot of events under both
semantics; a value a real step past the limit still fails, with its digits.
"""

from __future__ import annotations

import math
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import NormalDist

import pytest
from helpers import llmc_event, llmc_run_event, llmc_write_jsonl

from llmc_checks import metrics, report, safe_text
from llmc_checks.checks import Context, evaluate
from llmc_checks.config import parse_config
from llmc_checks.gate import Gate, Options
from llmc_checks.model import Cluster, ClusterStats, Run
from llmc_checks.report import markdown
from llmc_checks.results import CheckResult, Outcome

UTC = timezone.utc
END = datetime(2026, 11, 15, 0, 15, 3, tzinfo=UTC)
NOW = END + timedelta(hours=6)
Z95 = NormalDist().inv_cdf(0.95)


def items(
    cid: int, title: str, n: int, *, cost: float = 0.0, latency: float = 0.0, errors: int = 0
) -> Cluster:
    """A cluster of `n` hand-built items, each of `cost` and `latency`, the first
    `errors` of them errored; its numbers as the sources aggregate them (metrics)."""
    totals = {
        f"{cid}-{i}": [cost, latency, 0.0, 1.0 if i < errors else 0.0, 0.0, 0.0] for i in range(n)
    }
    return Cluster(cid, title, "", n, stats=metrics.cluster_stats(list(totals), totals))


def run(clusters: list[Cluster], items_analyzed: int | None = None) -> Run:
    return Run(
        run_id="r-latest",
        level="trace",
        job_id="job",
        job_name="Default - traces",
        window_start=END - timedelta(days=7),
        window_end=END,
        items_analyzed=(
            items_analyzed if items_analyzed is not None else sum(c.size for c in clusters)
        ),
        clusters=tuple(clusters),
    )


def judge(body: str, latest: Run) -> tuple[Outcome, CheckResult]:
    text = "version: 1\nsource:\n  snapshot: s.jsonl\nchecks:\n" + textwrap.indent(
        textwrap.dedent(body).strip() + "\n", "  "
    )
    check = parse_config(text, filename="checks.yaml").checks[0]
    result = evaluate(check, Context(now=NOW, latest=latest))
    return Outcome(Path("checks.yaml"), "snapshot s.jsonl", (result,), latest), result


def observed_cell(outcome: Outcome) -> str:
    """The terminal table's observed column, read off the rendered table."""
    lines = report.terminal(outcome, [0]).splitlines()
    header = next(line for line in lines if line.startswith("check "))
    row = lines[lines.index(header) + 2]
    return row[header.index("observed") : header.index("expected")].strip()


def markdown_observed(outcome: Outcome) -> str:
    """The Markdown checks table's observed cell."""
    md = markdown.render([(outcome, [0])])
    line = next(x for x in md.splitlines() if x.startswith(("| ✅", "| ❌")))
    return [c.strip() for c in line.strip("|").split(" | ")][3]


# --- cluster scope, hand-built items --------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "body", "cluster", "limit", "shown"),
    [
        # 18 × $0.08 / 18 = 0.08000000000000002 in floats: just over the max.
        ("avg_cost_usd", "max: 0.08", items(0, "Refunds", 18, cost=0.08), 0.08, "$0.08"),
        # 10 × $0.08 / 10 = 0.07999999999999999: just under the min.
        ("avg_cost_usd", "min: 0.08", items(0, "Refunds", 10, cost=0.08), 0.08, "$0.08"),
        # 3 × 0.1s / 3 = 0.10000000000000002: just over.
        ("avg_latency_s", "max: 0.1", items(0, "Refunds", 3, latency=0.1), 0.1, "0.1s"),
        # 18 × $0.08 = 1.4400000000000002 in all: just over.
        ("total_cost_usd", "max: 1.44", items(0, "Refunds", 18, cost=0.08), 1.44, "$1.44"),
        # 1 of 3 items errored, against a third written to 15 digits (as a spreadsheet
        # shows it): 0.333333333333333 is under 1/3 by float rounding.
        (
            "error_rate",
            "max: 33.3333333333333%",
            items(0, "Refunds", 3, errors=1),
            0.333333333333333,
            "33.3333333333333%",
        ),
        # 2 of 3 against a floor of two thirds at 15 digits, rounded up.
        (
            "error_rate",
            "min: 66.6666666666667%",
            items(0, "Refunds", 3, errors=2),
            0.666666666666667,
            "66.6666666666667%",
        ),
    ],
)
def test_a_cluster_value_at_its_limit_up_to_rounding_passes_and_reads_as_the_limit(
    metric: str, body: str, cluster: Cluster, limit: float, shown: str
) -> None:
    value = cluster.stats.value(metric) if cluster.stats is not None else None
    assert value is not None
    # Each value is its limit by hand, yet lands past it in floats: the case at issue.
    assert value == pytest.approx(limit, rel=1e-14, abs=0)
    assert value > limit if body.startswith("max") else value < limit
    outcome, r = judge(f"- metric: {metric}\n  {body}", run([cluster]))
    assert r.status == "pass", r.message
    assert r.message == f"1 cluster evaluated; worst: 'Refunds' {shown}"
    assert observed_cell(outcome) == shown
    assert markdown_observed(outcome) == safe_text.markdown(shown)
    assert r.margin == 0.0  # no room either way, not a rounding error's worth past it
    # The JSON report keeps the raw number.
    assert report.gate_json(outcome, [0])["checks"][0]["observed"] == value


@pytest.mark.parametrize(
    ("body", "value", "shown"),
    [
        # A real step past the limit still fails, with the digits that show it.
        ("max: 0.08", 0.0800001, "$0.0800001"),
        ("min: 0.08", 0.0799999, "$0.0799999"),
        # Past the tolerance (1e-12 of the limit), if by little: 1e-11 of it over it,
        # rounded at the first decimal that reads over the limit.
        ("max: 0.08", 0.0800000000008, "$0.080000000001"),
    ],
)
def test_a_value_past_its_limit_by_more_than_rounding_still_fails(
    body: str, value: float, shown: str
) -> None:
    cluster = Cluster(0, "Refunds", "", 30, stats=ClusterStats(30, avg_cost_usd=value))
    outcome, r = judge(f"- metric: avg_cost_usd\n  {body}", run([cluster]))
    assert r.status == "fail"
    assert r.message.splitlines()[1] == f"  - 'Refunds' (cluster 0, 30 items): {shown}"
    assert observed_cell(outcome) == shown
    assert r.margin is not None and r.margin < 0


def test_a_max_of_zero_only_passes_zero() -> None:
    # Relative tolerance: nothing is within rounding of 0 but 0 itself.
    tiny = Cluster(0, "Refunds", "", 30, stats=ClusterStats(30, avg_cost_usd=1e-300))
    assert judge("- metric: avg_cost_usd\n  max: 0", run([tiny]))[1].status == "fail"
    zero = Cluster(0, "Refunds", "", 30, stats=ClusterStats(30, avg_cost_usd=0.0))
    assert judge("- metric: avg_cost_usd\n  max: 0", run([zero]))[1].status == "pass"


# --- run scope ------------------------------------------------------------------------


def test_a_run_value_at_its_limit_up_to_rounding_passes_and_reads_as_the_limit() -> None:
    # Three clusters of one $0.1 item: 0.1 + 0.1 + 0.1 = 0.30000000000000004.
    latest = run([items(c, f"Topic {c}", 1, cost=0.1) for c in range(3)])
    outcome, r = judge("- metric: run_cost_usd\n  max: 0.3", latest)
    assert r.observed is not None and r.observed > 0.3
    assert r.status == "pass", r.message
    assert r.message == "run_cost_usd = $0.3"
    assert observed_cell(outcome) == "$0.3"
    assert r.margin == 0.0
    # $0.3000001 is over.
    latest = run([Cluster(0, "All", "", 3, stats=ClusterStats(3, total_cost_usd=0.3000001))])
    r = judge("- metric: run_cost_usd\n  max: 0.3", latest)[1]
    assert (r.status, r.message) == ("fail", "run_cost_usd = $0.3000001, expected ≤ $0.3")


def test_a_run_share_at_a_two_thirds_floor_passes() -> None:
    # 2 of 3 items in noise = 0.6666666666666666 against 66.6666666666667%.
    latest = run([Cluster(-1, "Noise", "", 2), Cluster(0, "Rest", "", 1)])
    outcome, r = judge("- metric: noise_share\n  min: 66.6666666666667%", latest)
    assert r.status == "pass", r.message
    assert observed_cell(outcome) == "66.6666666666667%"
    r = judge("- metric: noise_share\n  min: 66.667%", latest)[1]
    assert (r.status, r.message) == ("fail", "noise_share = 66.6667%, expected ≥ 66.667%")


# --- a confidence bound ---------------------------------------------------------------


def wilson_lower(k: int, n: int) -> float:
    """The continuity-corrected one-sided Wilson lower bound at 95%, from the quadratic
    (p̂ − 1/2n − p)² = z² p (1 − p) / n; independent of stats.py."""
    q = k / n - 1 / (2 * n)
    a, b, c = 1 + Z95**2 / n, 2 * q + Z95**2 / n, q * q
    return (b - math.sqrt(b * b - 4 * a * c)) / (2 * a)


def test_a_bound_at_its_limit_up_to_rounding_passes_and_reads_as_the_limit() -> None:
    # 27 of 200 errored: the lower bound is about 9.79%. A max a few ulps under it is
    # the bound up to rounding: the bound is not over it.
    bound = wilson_lower(27, 200)
    limit = math.nextafter(math.nextafter(bound, 0), 0)
    limit_text = f"{limit * 100!r}%"
    assert float(limit_text.rstrip("%")) / 100 != bound
    cluster = Cluster(0, "SQL", "", 200, stats=ClusterStats(200, error_count=27, error_rate=0.135))
    body = f"- metric: error_rate\n  max: '{limit_text}'\n  confidence: 0.95"
    outcome, r = judge(body, run([cluster]))
    assert r.bound is not None and r.bound.value == pytest.approx(bound, rel=1e-12)
    assert r.status == "pass", r.message
    assert r.margin == 0.0
    limit_shown = r.expected.removeprefix("≤ ").removesuffix(" @95%")
    assert observed_cell(outcome) == f"13.5% (lower bound {limit_shown} @95%)"
    # A max a millionth under the bound: the bound is over it, and reads so.
    body = f"- metric: error_rate\n  max: {bound * (1 - 1e-6)!r}\n  confidence: 0.95"
    r = judge(body, run([cluster]))[1]
    assert r.status == "fail"


# --- a snapshot of events, both semantics ---------------------------------------------

T0 = "2026-11-10T10:00:00.000000+00:00"
RUN = "1_trace_20261115_001503"


def gen(trace: str, cost: float, latency: float, *, error: bool = False) -> dict[str, object]:
    props = {
        "$ai_trace_id": trace,
        "$ai_total_cost_usd": cost,
        "$ai_latency": latency,
        "$ai_is_error": error,
    }
    return llmc_event("$ai_generation", T0, props)


def cluster_row(cid: int, traces: list[str]) -> dict[str, object]:
    return {
        "cluster_id": cid,
        "size": len(traces),
        "title": f"Topic {cid}",
        "traces": {t: {"rank": r, "distance_to_centroid": 0.1} for r, t in enumerate(traces)},
    }


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_event_numbers_at_their_limits_pass_under_both_semantics(
    tmp_path: Path, semantics: str
) -> None:
    # Cluster 0: 18 traces, one generation of $0.08 each (the item's cost under both
    # semantics), so $0.08 on average; cluster 1: 3 traces of 0.1s, one of 3 errored.
    cheap = [f"a{i}" for i in range(18)]
    slow = ["b0", "b1", "b2"]
    rows = [gen(t, 0.08, 1.0) for t in cheap]
    rows += [gen(t, 0.01, 0.1, error=t == "b0") for t in slow]
    rows.append(llmc_run_event(RUN, [cluster_row(0, cheap), cluster_row(1, slow)]))
    snapshot = llmc_write_jsonl(tmp_path / "events.jsonl", rows)
    checks = (
        "  - {metric: avg_cost_usd, max: 0.08}\n"
        "  - {metric: avg_latency_s, max: 0.1, where: {title: 'Topic 1'}}\n"
        "  - {metric: error_rate, max: 33.3333333333333%}\n"
        "  - {metric: avg_cost_usd, max: 0.0799999}\n"
    )
    text = (
        f"version: 1\nsource:\n  snapshot: {snapshot}\n"
        f"run: {{lookback: 3650d, semantics: {semantics}}}\nchecks:\n{checks}"
    )
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    outcome = Gate(config, tmp_path / "checks.yaml", Options(snapshot=snapshot)).outcome()
    cost, latency, errors, control = outcome.results
    # The sources' numbers land past each limit in floats ...
    assert cost.observed is not None and cost.observed > 0.08
    assert latency.observed is not None and latency.observed > 0.1
    assert errors.observed is not None and errors.observed > 0.333333333333333
    # ... and each is its limit up to rounding: it passes and reads as the limit.
    assert [r.status for r in (cost, latency, errors)] == ["pass"] * 3
    assert cost.message == "2 clusters evaluated; worst: 'Topic 0' $0.08"
    assert latency.message == "1 cluster evaluated; worst: 'Topic 1' 0.1s"
    assert errors.message == "2 clusters evaluated; worst: 'Topic 1' 33.3333333333333%"
    # A limit a ten-millionth of a dollar lower is a real failure.
    assert control.status == "fail"
    assert control.message.splitlines()[1] == "  - 'Topic 0' (cluster 0, 18 items): $0.08"
