"""Outcomes → a Markdown report for CI pages (GitHub's step summary, PR comments).

Every text from outside goes through safe_text: `cell` (escaped Markdown), `code`
(a code span) or `html` (inside the <details> block); nothing in a title can become an
image, a link, a tag, a mention or a new table row.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmc_checks import safe_text
from llmc_checks.formatting import item_time, item_value, short_id
from llmc_checks.report.cells import (
    is_near_miss,
    latest_pairing,
    margin_text,
    message_head,
    message_notes,
    missing_baseline_text,
    observed_text,
    overall_status,
    pairing_heading,
    pairing_rows,
    row_value_text,
    run_summary,
    semantics_text,
    similarity_text,
    trend_text,
    worst_value_text,
)
from llmc_checks.results import CheckResult, ClusterRow, Outcome

# Failing clusters listed per check (worst first), and near misses with evidence; the
# rest are counted ("… and 9,990 more"), the JSON report lists them all.
REPORT_CLUSTERS = 50

_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "error": "🛑", "skip": "⏭️"}
_VERDICT = {
    "pass": "all checks passed",
    "warn": "passed with warnings",
    "fail": "regression: checks failed",
    "error": "could not evaluate: errors",
}


def cell(text: str) -> str:
    """Literal text, safe inside a Markdown table cell, heading or list item."""
    return safe_text.markdown(text)


def _link(text: str, url: str | None) -> str:
    return f"[{cell(text)}]({url})" if url else cell(text)


def _worst(r: CheckResult) -> str:
    row = r.worst
    if row is None:
        return ""
    return f"{_link(row.title, row.url)} ({row.size}): {cell(worst_value_text(r))}"


def render(outcomes: Sequence[tuple[Outcome, Sequence[int]]]) -> str:
    parts = [_gate(outcome, indexes) for outcome, indexes in outcomes]
    return "\n\n".join(parts) + "\n"


def _gate(outcome: Outcome, indexes: Sequence[int]) -> str:
    results = [outcome.results[i] for i in indexes]
    status = overall_status(results)
    lines = [
        f"## {_ICON[status]} llmc-checks: {_VERDICT[status]} — "
        f"{safe_text.code(str(outcome.config_path))}",
        "",
    ]
    run = outcome.latest
    if run is not None:
        summary = run_summary(run)
        lines.append(
            f"Run {safe_text.code(run.run_id)} ({cell(summary)}) from {cell(outcome.source)}."
        )
    level = run.level if run else None
    lines.append(f"Metrics: {cell(semantics_text(outcome.semantics, level))}.")
    if outcome.baseline is not None and outcome.baseline.runs:
        ids = ", ".join(safe_text.code(r.run_id) for r in outcome.baseline.runs)
        lines.append(f"Baseline ({cell(outcome.baseline.label)}): {ids}.")
    missing = missing_baseline_text(outcome)
    if outcome.baseline is not None and missing is not None:
        lines.append(f"Baseline ({cell(outcome.baseline.label)}): {cell(missing)}.")
    if outcome.error is not None:
        lines += ["", f"> **Error:** {cell(outcome.error)}"]
    lines += [
        "",
        "| status | check | scope | observed | expected | margin | trend | worst cluster |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for index, r in zip(indexes, results, strict=True):
        lines.append(
            f"| {_ICON[r.status]} {r.status} | {cell(r.name)} | {r.scope} | "
            f"{cell(observed_text(r))} | "
            f"{cell(r.expected)} | {cell(margin_text(r))} | {trend_text(outcome, index)} | "
            f"{_worst(r)} |"
        )
    near = [r for r in results if is_near_miss(r)]
    if near:
        lines += ["", "**Near misses** (passing, within 10% of the limit):", ""]
        for r in near:
            lines.append(
                f"- {cell(r.name)}: {cell(observed_text(r))} against {cell(r.expected)} "
                f"(margin {cell(margin_text(r))})"
            )
            shown = [c for c in r.clusters if c.evidence]
            for c in shown[:REPORT_CLUSTERS]:
                lines.append(f"  - {_link(c.title, c.url)}")
                lines += [f"  {line}" for line in _evidence_items(r.metric, c, level)]
            lines += _more(len(shown), "  - ")
    failing = [r for r in results if r.status in ("fail", "warn", "error")]
    for r in failing:
        lines += ["", f"### {_ICON[r.status]} {cell(r.name)}", ""]
        # Worst first (the check's order); a run-scope check's are the clusters behind it.
        rows = [c for c in r.clusters if c.status == "fail"]
        if not rows:
            lines.append(cell(r.message))
            continue
        lines += [
            cell(message_head(r)),
            "",
            "| cluster | size | value | note |",
            "|---|---|---|---|",
        ]
        lines += [_cluster_line(r, c) for c in rows[:REPORT_CLUSTERS]]
        lines += ["", *_more(len(rows), "")] if len(rows) > REPORT_CLUSTERS else []
        lines += [line for note in message_notes(r) for line in ("", cell(note))]
        lines += _evidence_lists(r.metric, rows[:REPORT_CLUSTERS], level)
    pairing = latest_pairing(outcome)
    if pairing is not None:
        lines += [
            "",
            f"<details><summary>{safe_text.html(_first_upper(pairing_heading(pairing)))}</summary>",
            "",
            "| change | latest (size) | baseline (size) | similarity | why |",
            "|---|---|---|---|---|",
        ]
        for row in pairing_rows(pairing):
            latest, base = row["latest"], row["baseline"]
            lines.append(
                f"| {row['change']} | {_side(latest)} | {_side(base)} | "
                f"{similarity_text(row['similarity'], pairing.title_threshold)} | "
                f"{cell(row['why'])} |"
            )
        lines += ["", "</details>"]
    lines += ["", *(f"_{cell(n)}_" for n in outcome.notes)] if outcome.notes else []
    return "\n".join(lines)


def _more(count: int, prefix: str) -> list[str]:
    """ "… and 9,990 more" past REPORT_CLUSTERS, else nothing."""
    if count <= REPORT_CLUSTERS:
        return []
    return [f"{prefix}… and {count - REPORT_CLUSTERS:,} more (the JSON report lists them all)"]


def _evidence_lists(metric: str, rows: Sequence[ClusterRow], level: str | None) -> list[str]:
    """Under a failing check's table: per cluster, its evidence as a compact list."""
    shown = [c for c in rows if c.evidence]
    if not shown:
        return []
    lines = ["", "Evidence:", ""]
    for c in shown:
        lines.append(f"- {_link(c.title, c.url)}")
        lines += _evidence_items(metric, c, level)
    return lines


def _evidence_items(metric: str, c: ClusterRow, level: str | None) -> list[str]:
    """ "  - [`34cf7c69…`](url) most expensive $0.125, 2026-11-14 19:01Z"."""
    lines = []
    for e in c.evidence:
        label = safe_text.code(short_id(e.item_id, linked=bool(e.url)))
        ref = f"[{label}]({e.url})" if e.url else label
        shown = item_value(metric, e.value, level)
        when = item_time(e.timestamp)
        text = f"{e.why}" + (f" {shown}" if shown else "") + (f", {when}" if when else "")
        lines.append(f"  - {ref} {cell(text)}")
    return lines


def _side(cluster: dict[str, object] | None) -> str:
    return "" if cluster is None else f"{cell(str(cluster['title']))} ({cluster['size']})"


def _cluster_line(r: CheckResult, c: ClusterRow) -> str:
    value = cell(row_value_text(r, c))
    return f"| {_link(c.title, c.url)} (#{c.cluster_id}) | {c.size} | {value} | {cell(c.note)} |"


def _first_upper(text: str) -> str:
    """A heading's first letter capitalised; the rest kept (run ids are case-sensitive)."""
    return text[:1].upper() + text[1:]
