"""How far digits go: a zero has no sign, a sign stands before the unit, a number far
from 1 reads in exponent notation instead of hundreds of digits, float noise in a
change reads 0, and a near miss's margin reads on its side of 0."""

from __future__ import annotations

import pytest
from test_reading import judge, observed_cell, rate, run

from llmc_checks import formatting, report, safe_text
from llmc_checks.model import Cluster, ClusterStats, Limits, Run
from llmc_checks.report import markdown


def costing(usd: float, run_id: str = "r-latest") -> Run:
    return run([Cluster(0, "All", "", 30, stats=ClusterStats(30, total_cost_usd=usd))], run_id)


def margin_cell(text: str) -> str:
    """The terminal table's margin column, read off the rendered table."""
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("check "))
    row = lines[lines.index(header) + 2]
    return row[header.index("margin") : header.index("trend")].strip()


# --- a zero has no sign ------------------------------------------------------------------------


def test_negative_zero_reads_as_zero() -> None:
    # -0.0 (0.0 * -1, a sum of negative zeros) is 0: "$0", not "$-0" (988fa30).
    assert formatting.value("avg_cost_usd", -0.0) == "$0"
    assert formatting.formatter("avg_cost_usd")(-0.0) == "$0"
    assert formatting.value("error_rate", -0.0) == "0.0%"
    assert formatting.value("avg_latency_s", -0.0, None, Limits(max=0.0)) == "0s"


def test_a_change_that_rounds_to_zero_reads_without_a_sign() -> None:
    # 40.0% from 40.0001%: -0.0001 points, at three decimals "0.000 pp", and -0.00025%
    # relative, "0%": no "-" before a zero, as no "+" either.
    latest = run([rate(0, "SQL generation", 4, 10)])
    base = run([rate(5, "SQL generation", 400_001, 1_000_000)], run_id="r-base")
    outcome, r = judge("- metric: error_rate\n  max_increase: 0.02", latest, base)
    assert r.status == "pass"
    assert observed_cell(outcome) == "0.000 pp (0%)"
    assert formatting.change("error_rate", 0.4, 0.4) == "0.0 pp (0%)"
    assert formatting.change("avg_cost_usd", 0.0, 0.0) == "$0"


# --- one sign placement: before the unit, as a limit reads ---------------------------------------


def test_a_negative_value_reads_with_its_sign_before_the_unit() -> None:
    assert formatting.value("avg_cost_usd", -0.5, None, Limits(min=-0.5)) == "-$0.5"
    assert formatting.value("avg_cost_usd", -0.50001, None, Limits(min=-0.5)) == "-$0.50001"
    assert formatting.value("avg_cost_usd", -1e-9) == "-$0.000000001"
    assert formatting.formatter("avg_cost_usd")(float("-inf")) == "-$inf"


# --- a number far from 1 reads in exponent notation ---------------------------------------------


@pytest.mark.parametrize(
    ("metric", "v", "limits", "shown"),
    [
        # Under 1e-12 of the unit (as shown: percent for a ratio): exponent notation, with
        # the digits the usual rounding and the side of a limit need.
        ("avg_cost_usd", 1e-300, None, "$1e-300"),
        ("avg_cost_usd", 5e-324, Limits(max=0.0), "$5e-324"),
        ("avg_cost_usd", 9.99e-13, None, "$9.99e-13"),
        ("error_rate", 1e-300, Limits(max=0.0), "1e-298%"),
        ("avg_latency_s", 1.23456e-20, None, "1.23e-20s"),
        # From 1e15 on: exponent notation too, every digit of the float at most.
        ("avg_cost_usd", 1e30, None, "$1e+30"),
        ("avg_tokens", 2.5e15, None, "2.5e+15"),
        ("avg_cost_usd", 1.7976931348623157e308, Limits(max=1e308), "$1.7976931348623157e+308"),
        # Within the bounds, fixed-point as before.
        ("avg_cost_usd", 1e-12, None, "$0.000000000001"),
        ("error_rate", 1e-9, Limits(max=0.0), "0.0000001%"),
        ("avg_cost_usd", 123456789012345.6, None, "$123,456,789,012,345.60"),
        # A ratio rounds to its decimals where no limit needs more: no exponent for 0.
        ("error_rate", 1e-300, None, "0.000%"),
    ],
)
def test_a_number_far_from_one_reads_in_exponent_notation(
    metric: str, v: float, limits: Limits | None, shown: str
) -> None:
    assert formatting.value(metric, v, None, limits) == shown


def test_no_number_reads_longer_than_its_float_needs() -> None:
    # Every double, beside a limit or not: at most the float's 17 significant digits,
    # a sign, a unit, grouping and up to 12 leading zeros, never hundreds of characters.
    for exponent in range(-324, 309, 7):
        for mantissa in (1.0, 1.7976931348623157, 4.9):
            v = mantissa * 10.0**exponent if exponent > -320 else 5e-324
            for metric in ("avg_cost_usd", "error_rate", "avg_latency_s", "avg_tokens"):
                for limits in (None, Limits(max=0.0), Limits(min=v * 1.5)):
                    text = formatting.value(metric, v, None, limits)
                    assert len(text) <= 48, (metric, v, limits, text)


# --- a near miss's margin reads on its side of 0 -------------------------------------------------


@pytest.mark.parametrize(
    ("usd", "status", "margin"),
    [
        # (0.12 - 0.1195) / 0.12 = +0.42%: a near miss, not "+0%"; 0.1205 is -0.42% past.
        (0.1195, "pass", "+0.4%"),
        (0.1205, "fail", "-0.4%"),
        (0.12, "pass", "0%"),
        (0.09, "pass", "+25%"),
        (0.15, "fail", "-25%"),
    ],
)
def test_a_margin_near_zero_reads_on_its_side(usd: float, status: str, margin: str) -> None:
    latest = run([Cluster(0, "Refunds", "", 30, stats=ClusterStats(30, avg_cost_usd=usd))])
    outcome, r = judge("- metric: avg_cost_usd\n  max: 0.12", latest)
    assert r.status == status
    assert margin_cell(report.terminal(outcome, [0])) == margin
    md = markdown.render([(outcome, [0])])
    assert f"| ≤ \\$0.12 | {safe_text.markdown(margin)} |" in md


# --- evidence counts: one rule for the singular ---------------------------------------------------


def test_item_counts_read_as_their_rounded_number() -> None:
    # The noun agrees with the number shown: 1.4 tokens read "1 token", 2.5 "3 tokens"
    # (a half away from zero, as token values read everywhere).
    assert formatting.item_value("avg_tokens", 1.4) == "1 token"
    assert formatting.item_value("avg_tokens", 1.0) == "1 token"
    assert formatting.item_value("avg_tokens", 2.5) == "3 tokens"
    assert formatting.item_value("avg_tokens", 1234.0) == "1,234 tokens"
    assert formatting.item_value("error_rate", 1.0) == "1 error event"
    assert formatting.item_value("error_rate", 0.0) == "0 error events"
    assert formatting.item_value("error_count", 2.0) == "2 error events"
