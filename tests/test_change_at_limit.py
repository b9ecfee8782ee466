"""A change equal to its max_increase/max_decrease up to float rounding passes and reads
as the limit, whatever the size of the numbers: the rounding error of new - base is that
of new and base (one ulp of $2,000,000 is 4.7e-10), not of the change, so the tolerance
scales with them (model.at_limit, the rule min/max use). A relative limit is judged on
the quantity its text shows, (new - base) / |base| against the limit, so the verdict and
the "(+20%)" beside it can never land on opposite sides. Float noise in a change reads 0.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from test_reading import check, judge, observed_cell, run

from llmc_checks import formatting
from llmc_checks.checks import judge_change, limits_of
from llmc_checks.model import Bound, Cluster, ClusterStats, Run


def costing(usd: float, run_id: str = "r-latest") -> Run:
    return run([Cluster(0, "All", "", 30, stats=ClusterStats(30, total_cost_usd=usd))], run_id)


@pytest.mark.parametrize(
    ("body", "new", "old", "status", "change"),
    [
        # 388,237.30 x 1.3 = 504,708.49: in floats (new - base) / base is
        # 0.30000000000000004 and (new - base) 116471.19000000003 > 116471.19 + 1e-12.
        ("max_increase: 30%", 504708.49, 388237.3, "pass", "+$116,471.19 (+30%)"),
        # Passed, but read "+20.000000000000004%" (the text divided, the verdict multiplied).
        ("max_increase: 20%", 73940.1569004, 61616.797417, "pass", "+$12,323.36 (+20%)"),
        # $1,000 more on $2,097,030.47: new - base is 1000.0000000002 in floats.
        ("max_increase: 1000", 2098030.47, 2097030.47, "pass", "+$1,000.00 (0%)"),
        ("max_decrease: 1000", 2096030.47, 2097030.47, "pass", "-$1,000.00 (0%)"),
        # A cent past the limit is past it, and reads so.
        ("max_increase: 1000", 2098030.48, 2097030.47, "fail", "+$1,000.01 (0%)"),
        ("max_increase: 30%", 504708.5, 388237.3, "fail", "+$116,471.20 (+30.000003%)"),
        ("max_decrease: 20%", 49293.43, 61616.797417, "fail", "-$12,323.37 (-20.00001%)"),
    ],
)
def test_a_large_change_at_its_limit_passes_and_reads_as_it(
    body: str, new: float, old: float, status: str, change: str
) -> None:
    outcome, r = judge(f"- metric: run_cost_usd\n  {body}", costing(new), costing(old, "r-base"))
    assert r.status == status
    value = formatting.formatter("run_cost_usd")(new)
    assert observed_cell(outcome) == f"{value} ({change})"
    # The margin agrees: none left at the limit, negative past it.
    assert r.margin is not None and (r.margin == 0 if status == "pass" else r.margin < 0)


def _shown_relative(text: str) -> Decimal:
    return Decimal(text.split("(")[-1].rstrip(")%")) / 100


@pytest.mark.parametrize("metric", ["run_cost_usd", "avg_tokens", "avg_latency_s"])
def test_the_verdict_and_the_relative_text_agree_at_every_size(metric: str) -> None:
    # Bases from $0.01 to $20M, changes a few ulps either side of the limit and a real
    # step past it: at the limit up to rounding a change passes and reads the limit;
    # past it, it fails and reads past it; under it, it passes and reads under it.
    rng = random.Random(3)
    for _ in range(500):
        base = round(rng.uniform(0.01, 2e7), rng.choice([2, 3, 4, 6]))
        size = rng.choice([0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5])
        c = check(f"- metric: {metric}\n  max_increase: {size * 100:g}%")
        limits = limits_of(c)
        for new, where in (
            (base * (1 + size), "at"),
            (base + base * size, "at"),
            # Rounded to a millionth: a real change of up to 5e-7, at the limit or not.
            (round(base * (1 + size), 6), "any"),
            (base * (1 + size) * (1 + 4e-16), "at"),
            (base * (1 + size) * (1 - 4e-16), "at"),
            (base * (1 + size) * (1 + 1e-9), "past"),
            (base * (1 + size) * (1 - 1e-9), "under"),
        ):
            passed = judge_change(c, new, base, None, None).ok
            shown = _shown_relative(formatting.change(metric, new, base, None, limits))
            limit = Decimal(repr(size))
            case = (base, new, size, formatting.change(metric, new, base, None, limits))
            if where == "at":
                assert passed and shown == limit, case
            elif where == "any":
                assert passed == (shown <= limit), case
            elif where == "past":
                assert not passed and shown > limit, case
            else:
                assert passed and shown < limit, case


def test_float_noise_in_a_change_reads_zero() -> None:
    # 1.2300000000000002 is 1.23 plus one unit in the last place of a float: no change,
    # not "+$0.000000000000000222 (+0%)".
    latest, base = costing(1.2300000000000002), costing(1.23, "r-base")
    outcome, r = judge("- metric: run_cost_usd\n  max_increase: 10%", latest, base)
    assert r.status == "pass"
    assert observed_cell(outcome) == "$1.23 ($0 (0%))"
    assert r.message == "run_cost_usd = $1.23 (baseline $1.23, $0 (0%))"
    assert formatting.change("avg_cost_usd", 0.1 + 0.2, 0.3) == "$0 (0%)"
    # Under `max_increase: 0` the same noise passes, and reads 0 too.
    outcome, r = judge("- metric: run_cost_usd\n  max_increase: 0", latest, base)
    assert (r.status, observed_cell(outcome)) == ("pass", "$1.23 ($0 (0%))")
    # A real change however small reads as itself: a cent on a million dollars, and
    # fails `max_increase: 0`.
    assert formatting.change("run_cost_usd", 1_000_000.01, 1_000_000.0) == "+$0.01 (0%)"
    outcome, r = judge(
        "- metric: run_cost_usd\n  max_increase: 0", costing(1.2300001), costing(1.23, "r-base")
    )
    assert (r.status, observed_cell(outcome)) == ("fail", "$1.23 (+$0.0000001 (0%))")


def test_a_change_bound_at_its_limit_up_to_rounding_reads_as_it() -> None:
    # A confident verdict's bound of a change, 2 points to a float's error over
    # `max_increase: 0.02`, passes (checks.judge_change) and reads the limit.
    at = Bound("lower", 0.020000000000000018, 0.95, True, against=0.02)
    assert formatting.bound_text("error_rate", at) == "lower bound +2.0 pp @95%"
    past = Bound("lower", 0.0200001, 0.95, True, against=0.02)
    assert formatting.bound_text("error_rate", past) == "lower bound +2.00001 pp @95%"
