"""Cells every renderer shares: the texts of values, margins, changes and trend lines.

Renderers (terminal, json, markdown) compose these; none of them evaluates anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmc_checks import formatting, safe_text
from llmc_checks.model import Cluster, Run
from llmc_checks.results import NEAR_MISS_MARGIN, CheckResult, ClusterRow, Outcome
from llmc_checks.units import counted, format_number

if TYPE_CHECKING:  # matching is loaded only when a gate pairs runs
    from llmc_checks.matching import Pair, Pairing

BARS = "▁▂▃▄▅▆▇█"
_TITLE_WIDTH = 40


def cut(text: str, width: int = _TITLE_WIDTH) -> str:
    """Shorten to `width`, at a word boundary when one is near the end; untrusted text
    loses its control characters first (safe_text.plain)."""
    text = safe_text.plain(text)
    if len(text) <= width:
        return text
    head = text[: width - 1]
    space = head.rfind(" ")
    if space >= width * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:-") + "…"


def run_summary(run: Run) -> str:
    """ "trace, window 2026-11-08 00:15 → 2026-11-15 00:15 UTC, 1,500 items, 8 clusters"."""
    clusters = sum(1 for c in run.clusters if not c.is_noise)
    return (
        f"{run.level}, window {run.window_start:%Y-%m-%d %H:%M} → "
        f"{run.window_end:%Y-%m-%d %H:%M} UTC, {counted(run.items_analyzed, 'item')}, "
        f"{counted(clusters, 'cluster')}"
    )


_SEMANTICS_TEXT = {
    "ui": "ui semantics (the numbers of PostHog's cluster page)",
    "workflow": "workflow semantics (the clustering job's stored metrics)",
}


def semantics_text(semantics: str, level: str | None = None) -> str:
    """How the report names the per-item numbers it used (DESIGN §1)."""
    if level == "evaluation" and semantics == "workflow":
        return (
            "workflow semantics (the clustering job's stored metrics: "
            "an evaluation run has no AI events to read, so under either semantics)"
        )
    return _SEMANTICS_TEXT.get(semantics, f"{semantics} semantics")


def missing_baseline_text(outcome: Outcome) -> str | None:
    """Why the gate has no baseline runs, when it has none: its checks' own min/max were
    judged without them, and their change limits were not (the header says so once)."""
    view = outcome.baseline
    if view is None or view.runs:
        return None
    reason = view.missing_reason or "none"
    return f"{reason}; change limits are not judged"


def margin_text(result: CheckResult) -> str:
    """Headroom to the limit: "+23%" left, "-12%" past it; empty without a verdict."""
    if result.status in ("error", "skip"):
        return ""
    if result.margin is None:
        # A failure with no headroom to measure is a rise from a baseline of 0 under a
        # relative limit (checks.margin_and_bound); an empty cell would read as "no limit".
        return "past (rise from 0)" if result.status in ("fail", "warn") else ""
    return formatting.margin(result.margin)


def is_near_miss(result: CheckResult, within: float = NEAR_MISS_MARGIN) -> bool:
    """A passing check within 10% of its limit: worth a look before it fails."""
    return result.status == "pass" and result.margin is not None and result.margin < within


def trend_text(outcome: Outcome, index: int) -> str:
    return sparkline(outcome.trends.get(index, ()))


def sparkline(values: Sequence[float | None]) -> str:
    """One bar per value, scaled between the series' min and max; a space for no value."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    low, high = min(known), max(known)
    span = high - low
    bars = []
    for v in values:
        if v is None:
            bars.append(" ")
        elif span == 0:
            bars.append(BARS[len(BARS) // 2])
        else:
            bars.append(BARS[min(len(BARS) - 1, int((v - low) / span * len(BARS)))])
    return "".join(bars)


def observed_text(result: CheckResult) -> str:
    """The observed value; for a relative check, the worst cluster's change. With
    `confidence`, the bound the verdict judged too: "13.5% (lower bound 6.8% @95%)"."""
    metric, observed, base, bound, limits = (
        result.metric,
        result.observed,
        result.baseline_value,
        result.bound,
        result.limits,
    )
    if observed is None:
        return "-"
    if base is None:
        return formatting.value(metric, observed, bound, limits)
    worst = result.worst
    if worst is not None and worst.value is not None:
        text = formatting.change(metric, worst.value, base, bound, limits)
        if (bound is not None and not bound.on_change) or (bound is None and result.value_decided):
            # The value's own limit decided (its margin is the value's): show the value.
            text += f", {formatting.value(metric, worst.value, bound, limits)}"
        return text
    value = formatting.value(metric, observed, bound, limits)
    return f"{value} ({formatting.change(metric, observed, base, bound, limits)})"


def worst_value_text(result: CheckResult) -> str:
    """The worst cluster's value, on its own side of the check's min and max."""
    row = result.worst
    return "" if row is None else formatting.value(result.metric, row.value, limits=result.limits)


def row_value_text(result: CheckResult, row: ClusterRow) -> str:
    """A listed cluster's value: a cluster check's, judged against the check's limits;
    a run check's (title_stability's share of the baseline) with no limit beside it."""
    limits = result.limits if result.scope == "cluster" else None
    return formatting.value(result.metric, row.value, row.bound, limits)


def similarity_text(score: float | None, threshold: float) -> str:
    return "" if score is None else formatting.similarity(score, threshold)


def pairing_heading(pairing: Pairing) -> str:
    """What the pairing table's similarity decides: "stable: similarity ≥ 0.8"."""
    threshold = format_number(pairing.title_threshold)
    return f"clusters vs baseline {pairing.baseline_run_id} (stable: similarity ≥ {threshold})"


def message_head(result: CheckResult) -> str:
    """A failure message's lines before its list of clusters ("2 of 9 clusters fail ...")."""
    head = []
    for line in result.message.splitlines():
        if line.startswith("  "):
            break
        head.append(line)
    return "; ".join(head)


def message_notes(result: CheckResult) -> list[str]:
    """A failure message's notes after its list of clusters: the lines not indented
    ("(baseline median of 3: ...)", the check's own baseline; a shortfall; strictness)."""
    lines = result.message.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("  ")), len(lines))
    return [line for line in lines[start:] if line.strip() and not line.startswith("  ")]


def overall_status(results: Sequence[CheckResult]) -> str:
    for status in ("error", "fail", "warn"):
        if any(r.status == status for r in results):
            return status
    return "pass"


def latest_pairing(outcome: Outcome) -> Pairing | None:
    view = outcome.baseline
    return view.pairings[-1] if view is not None and view.pairings else None


def _cluster_ref(cluster: Cluster) -> dict[str, Any]:
    return {"cluster_id": cluster.cluster_id, "title": cluster.title, "size": cluster.size}


def pairing_rows(pairing: Pairing) -> list[dict[str, Any]]:
    """Stable, changed, new and vanished clusters, biggest first within each kind.

    A paired cluster is *stable* when the identity judged it the same usage pattern,
    *changed* when it is only the closest match; `why` says what decided.
    """
    rows: list[dict[str, Any]] = []
    for pair in sorted(pairing.pairs, key=lambda p: (p.renamed, -p.latest.size)):
        evidence = pair.evidence
        rows.append(
            {
                "change": "changed" if pair.renamed else "stable",
                "latest": _cluster_ref(pair.latest),
                "baseline": _cluster_ref(pair.baseline),
                # The score the pair was judged on (stable when ≥ the threshold).
                "similarity": pair.similarity,
                "why": why(pair, pairing.title_threshold),
                "evidence": None
                if evidence is None
                else {
                    "items_shared": evidence.shared_items,
                    "items_compared": evidence.sample_items,
                    "text": round(evidence.text, 3),
                    "title": round(evidence.title, 3),
                    "description": round(evidence.description, 3),
                    "contradiction": evidence.contradiction,
                    "behaviour": None
                    if evidence.behaviour is None
                    else round(evidence.behaviour, 3),
                },
            }
        )
    for cluster in sorted(pairing.new, key=lambda c: -c.size):
        rows.append(
            {
                "change": "new",
                "latest": _cluster_ref(cluster),
                "baseline": None,
                "similarity": None,
                "why": "no baseline cluster matches",
                "evidence": None,
            }
        )
    for cluster in sorted(pairing.vanished, key=lambda c: -c.size):
        rows.append(
            {
                "change": "vanished",
                "latest": None,
                "baseline": _cluster_ref(cluster),
                "similarity": None,
                "why": "no latest cluster matches",
                "evidence": None,
            }
        )
    return rows


def why(pair: Pair, threshold: float) -> str:
    """What the pair's judgement rests on: "31 of 34 items shared, text 0.42"; the text
    score reads as the pair's score does (formatting.similarity: rounded down at the
    threshold's decimals), so a changed pair judged on text alone never reads "text 0.80"
    beside "0.79"."""
    evidence = pair.evidence
    if evidence is None:
        return ""
    parts = []
    if evidence.sample_items:
        parts.append(f"{evidence.shared_items} of {counted(evidence.sample_items, 'item')} shared")
    else:
        parts.append("no shared items")
    if evidence.contradiction:
        parts.append("titles name different tasks")
    else:
        parts.append(f"text {formatting.similarity(evidence.text, threshold)}")
    return ", ".join(parts)
