"""units: the one formatter for limits shows exactly the value configured.

A limit is shown in the table's expected column, in generated check names, in messages
and in both reports; each must read back as the value the config parsed.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmc_checks import formatting
from llmc_checks.config import parse_config
from llmc_checks.units import counted, format_limit, format_number, format_percent, parse_percent

# Decimal texts as users write them: up to 15 significant digits, no exponent.
decimal_text = st.decimals(
    min_value=Decimal("0.000001"), max_value=Decimal(1000), places=6, allow_nan=False
).map(lambda d: format(d, "f"))


def _normal(text: str) -> str:
    """'12.50' → '12.5', '3.000' → '3': what a person would write."""
    d = Decimal(text).normalize()
    return format(d, "f")


@given(decimal_text)
def test_a_percent_limit_is_shown_as_written(text: str) -> None:
    value = parse_percent(text + "%")
    assert format_percent(value) == _normal(text) + "%"
    assert format_limit(value, "ratio") == _normal(text) + "%"


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_every_percent_limit_parses_back_to_its_value(value: float) -> None:
    assert parse_percent(format_percent(value)) == value


@given(
    st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False),
    st.sampled_from(["usd", "count", "tokens", "seconds", "hours"]),
)
def test_every_limit_in_a_unit_reads_back_as_its_value(value: float, unit: str) -> None:
    shown = format_limit(value, unit)
    assert float(shown.strip("$sh").replace(",", "")) == value
    assert float(format_number(value)) == value


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.005, "ratio", "0.5%"),
        (0.125, "ratio", "12.5%"),
        (0.07, "ratio", "7%"),  # 0.07 * 100 is 7.000000000000001 in floats
        (0.25, "ratio", "25%"),
        (0.08, "usd", "$0.08"),
        (0.123456, "usd", "$0.123456"),
        (1234.5, "usd", "$1,234.5"),
        (1500, "count", "1,500"),
        (2.5, "seconds", "2.5s"),
        (36, "hours", "36h"),
        (0.00001, None, "0.00001"),
    ],
)
def test_limits_by_hand(value: float, unit: str | None, shown: str) -> None:
    assert format_limit(value, unit) == shown


def _check(body: str) -> object:
    entry = "- " + textwrap.indent(body.strip(), "  ")[2:] + "\n"
    text = "version: 1\nsource:\n  snapshot: s.jsonl\nchecks:\n" + textwrap.indent(entry, "  ")
    return parse_config(text, filename="checks.yaml").checks[0]


@pytest.mark.parametrize(
    ("body", "name", "expected"),
    [
        (
            "metric: items_analyzed\nmax_decrease: 0.5%",
            "items_analyzed max_decrease 0.5%",
            "decrease ≤ 0.5%",
        ),
        ("metric: noise_share\nmax: 12.5%", "noise_share max 12.5%", "≤ 12.5%"),
        ("metric: noise_share\nmax: 0.125", "noise_share max 0.125", "≤ 12.5%"),
        (
            "metric: avg_cost_usd\nmax_increase: 12.5%",
            "avg_cost_usd max_increase 12.5%",
            "increase ≤ 12.5%",
        ),
        (
            "metric: avg_cost_usd\nmax_increase: 0.0125",
            "avg_cost_usd max_increase 0.0125",
            "increase ≤ $0.0125",
        ),
        ("metric: avg_cost_usd\nmax: 0.123456", "avg_cost_usd max 0.123456", "≤ $0.123456"),
        (
            "metric: error_rate\nmax: 2.5%\nconfidence: 0.975",
            "error_rate max 2.5% (confidence 0.975)",
            "≤ 2.5% @97.5%",
        ),
        # A ratio's limit reads in percent however it was written (as the values read);
        # the generated name keeps it as written.
        ("metric: size_drift\nmax: 0.2", "size_drift max 0.2", "≤ 20%"),
        ("metric: size_drift\nmax: 0.001", "size_drift max 0.001", "≤ 0.1%"),
        (
            "metric: error_rate\nmax_increase: 0.025",
            "error_rate max_increase 0.025",
            "increase ≤ 2.5 pp",
        ),
        (
            "metric: p95_latency_s\nmin: 0.25\nmax: 12.5",
            "p95_latency_s min 0.25 max 12.5",
            "0.25s–12.5s",
        ),
    ],
)
def test_names_and_expected_show_the_configured_limit(body: str, name: str, expected: str) -> None:
    check = _check(body)
    assert check.display_name == name  # type: ignore[attr-defined]
    assert formatting.expected(check) == expected  # type: ignore[arg-type]


def test_a_count_takes_its_noun_in_the_number_it_is() -> None:
    assert counted(1, "cluster") == "1 cluster"
    assert counted(0, "item") == "0 items"
    assert counted(1_500, "item") == "1,500 items"
    assert counted(2, "AI event") == "2 AI events"
