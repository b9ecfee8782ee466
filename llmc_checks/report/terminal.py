"""Outcomes → the summary table a user reads in the terminal. Renders; never evaluates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tabulate import tabulate

from llmc_checks.report.cells import (
    cut,
    latest_pairing,
    margin_text,
    missing_baseline_text,
    observed_text,
    pairing_heading,
    pairing_rows,
    run_summary,
    semantics_text,
    similarity_text,
    trend_text,
    worst_value_text,
)
from llmc_checks.results import CheckResult, Outcome
from llmc_checks.safe_text import lines as safe_lines
from llmc_checks.safe_text import plain

_STATUS_WORD = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "error": "ERROR", "skip": "SKIP"}


def _worst(result: CheckResult) -> str:
    row = result.worst
    if row is None:
        return ""
    return f"{cut(row.title)} (#{row.cluster_id}, n={row.size}): {worst_value_text(result)}"


def _plain(word: str, status: str) -> str:
    return word


def terminal(
    outcome: Outcome,
    indexes: Sequence[int],
    paint: Callable[[str, str], str] = _plain,
    *,
    brief: bool = False,
) -> str:
    """The summary table a user reads after the run; `paint` colours a status word.
    `brief` (pytest -q): the table alone, without the run header and the pairing.

    Every text that came from outside (titles, run ids, job names, error messages) is
    made inert by safe_text before it reaches the terminal; only `paint` adds escapes.
    """
    lines = [] if brief else _header(outcome)
    if outcome.error is not None:
        lines.append(safe_lines(f"ERROR: {outcome.error}"))
    rows = []
    for index in indexes:
        r = outcome.results[index]
        rows.append(
            [
                plain(r.name),
                r.scope,
                observed_text(r),
                plain(r.expected),
                margin_text(r),
                trend_text(outcome, index),
                paint(_STATUS_WORD[r.status], r.status),
                _worst(r),
            ]
        )
    headers = [
        "check",
        "scope",
        "observed",
        "expected",
        "margin",
        "trend",
        "status",
        "worst cluster",
    ]
    lines.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    counts: dict[str, int] = {}
    for index in indexes:
        status = outcome.results[index].status
        counts[status] = counts.get(status, 0) + 1
    order = ("fail", "error", "warn", "skip", "pass")
    lines.append(", ".join(f"{counts[s]} {s}" for s in order if s in counts))
    pairing = None if brief else latest_pairing(outcome)
    if pairing is not None:
        lines.append("")
        lines.append(plain(f"{pairing_heading(pairing)}:"))
        lines.append(
            tabulate(
                [
                    [
                        r["change"],
                        _side(r["latest"]),
                        _side(r["baseline"]),
                        similarity_text(r["similarity"], pairing.title_threshold),
                        plain(r["why"]),
                    ]
                    for r in pairing_rows(pairing)
                ],
                headers=["change", "latest (size)", "baseline (size)", "similarity", "why"],
                tablefmt="simple",
                disable_numparse=True,
            )
        )
    lines.extend(plain(note) for note in outcome.notes)
    return "\n".join(lines)


def _header(outcome: Outcome) -> list[str]:
    """The run, its source and semantics, and the baseline runs."""
    run = outcome.latest
    semantics = semantics_text(outcome.semantics, run.level if run else None)
    if run is not None:
        head = f"run {run.run_id} ({run_summary(run)}) from {outcome.source}; {semantics}"
    else:
        head = f"{outcome.source}; {semantics}"
    lines = [plain(head)]
    if outcome.baseline is not None and outcome.baseline.runs:
        ids = ", ".join(r.run_id for r in outcome.baseline.runs)
        lines.append(plain(f"baseline {outcome.baseline.label}: {ids}"))
    missing = missing_baseline_text(outcome)
    if outcome.baseline is not None and missing is not None:
        lines.append(plain(f"baseline {outcome.baseline.label}: {missing}"))
    return lines


def _side(cluster: dict[str, Any] | None) -> str:
    if cluster is None:
        return ""
    return f"{cut(cluster['title'])} ({cluster['size']})"
