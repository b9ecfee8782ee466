"""Outcomes → the terminal table and the JSON report. Renders; never evaluates."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from llmc_checks import formatting
from llmc_checks.checks import CheckResult
from llmc_checks.matching import Pairing
from llmc_checks.model import Cluster
from llmc_checks.session import Outcome

_STATUS_WORD = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "error": "ERROR", "skip": "SKIP"}
_TITLE_WIDTH = 40


def _cut(text: str, width: int = _TITLE_WIDTH) -> str:
    """Shorten to `width`, at a word boundary when one is near the end."""
    if len(text) <= width:
        return text
    head = text[: width - 1]
    space = head.rfind(" ")
    if space >= width * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:-") + "…"


def margin_text(result: CheckResult) -> str:
    """Headroom to the limit: "+23%" left, "-12%" past it; empty without a verdict."""
    if result.margin is None or result.status in ("error", "skip"):
        return ""
    return f"{result.margin:+.0%}"


def is_near_miss(result: CheckResult, within: float = 0.10) -> bool:
    """A passing check within 10% of its limit: worth a look before it fails."""
    return result.status == "pass" and result.margin is not None and result.margin < within


def trend_text(outcome: Outcome, index: int) -> str:
    from llmc_checks.trends import sparkline

    return sparkline(outcome.trends.get(index, ()))


def _worst(result: CheckResult) -> str:
    row = result.worst
    if row is None:
        return ""
    shown = formatting.value(result.metric, row.value)
    return f"{_cut(row.title)} (#{row.cluster_id}, n={row.size}): {shown}"


def observed_text(result: CheckResult) -> str:
    """The observed value; for a relative check, the worst cluster's change."""
    metric, observed, base = result.metric, result.observed, result.baseline_value
    if observed is None:
        return "-"
    if base is None:
        return formatting.value(metric, observed)
    worst = result.worst
    if worst is not None and worst.value is not None:
        return formatting.change(metric, worst.value, base)
    return f"{formatting.value(metric, observed)} ({formatting.change(metric, observed, base)})"


def _plain(word: str, status: str) -> str:
    return word


def terminal(
    outcome: Outcome, indexes: Sequence[int], paint: Callable[[str, str], str] = _plain
) -> str:
    """The summary table a user reads after the run; `paint` colours a status word."""
    lines = []
    run = outcome.latest
    if run is not None:
        lines.append(f"run {run.run_id} ({formatting.run_summary(run)}) from {outcome.source}")
    if outcome.baseline is not None and outcome.baseline.runs:
        ids = ", ".join(r.run_id for r in outcome.baseline.runs)
        lines.append(f"baseline {outcome.baseline.label}: {ids}")
    if outcome.error is not None:
        lines.append(f"ERROR: {outcome.error}")
    rows = []
    for index in indexes:
        r = outcome.results[index]
        rows.append(
            [
                r.name,
                r.scope,
                observed_text(r),
                r.expected,
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
    pairing = latest_pairing(outcome)
    if pairing is not None:
        lines.append("")
        lines.append(f"clusters vs baseline {pairing.baseline_run_id}:")
        lines.append(
            tabulate(
                [
                    [r["change"], _side(r["latest"]), _side(r["baseline"]), _sim(r["similarity"])]
                    for r in pairing_rows(pairing)
                ],
                headers=["change", "latest (size)", "baseline (size)", "similarity"],
                tablefmt="simple",
                disable_numparse=True,
            )
        )
    lines.extend(outcome.notes)
    return "\n".join(lines)


def latest_pairing(outcome: Outcome) -> Pairing | None:
    view = outcome.baseline
    return view.pairings[-1] if view is not None and view.pairings else None


def _sim(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _side(cluster: dict[str, Any] | None) -> str:
    if cluster is None:
        return ""
    return f"{_cut(cluster['title'])} ({cluster['size']})"


def _cluster_ref(cluster: Cluster) -> dict[str, Any]:
    return {"cluster_id": cluster.cluster_id, "title": cluster.title, "size": cluster.size}


def pairing_rows(pairing: Pairing) -> list[dict[str, Any]]:
    """Stable, renamed, new and vanished clusters, biggest first within each kind."""
    rows: list[dict[str, Any]] = []
    for pair in sorted(pairing.pairs, key=lambda p: (p.renamed, -p.latest.size)):
        rows.append(
            {
                "change": "renamed" if pair.renamed else "stable",
                "latest": _cluster_ref(pair.latest),
                "baseline": _cluster_ref(pair.baseline),
                "similarity": round(pair.similarity, 3),
            }
        )
    for cluster in sorted(pairing.new, key=lambda c: -c.size):
        rows.append(
            {"change": "new", "latest": _cluster_ref(cluster), "baseline": None, "similarity": ""}
        )
    for cluster in sorted(pairing.vanished, key=lambda c: -c.size):
        rows.append(
            {
                "change": "vanished",
                "latest": None,
                "baseline": _cluster_ref(cluster),
                "similarity": None,
            }
        )
    return rows


def gate_json(outcome: Outcome, indexes: Sequence[int]) -> dict[str, Any]:
    run = outcome.latest
    run_obj: dict[str, Any] | None = None
    if run is not None:
        url = outcome.link(run, 0)
        run_obj = {
            **run.header(),
            "url": url.rsplit("/", 1)[0] if url else None,
        }
    baseline = outcome.baseline
    baseline_obj: dict[str, Any] | None = None
    if baseline is not None and baseline.runs:
        baseline_obj = {
            "run_id": baseline.runs[-1].run_id,
            "run_ids": [r.run_id for r in baseline.runs],
            "kind": baseline.label,
        }
    return {
        "config": str(outcome.config_path),
        "source": outcome.source,
        "status": overall_status([outcome.results[i] for i in indexes]),
        "error": outcome.error,
        "run": run_obj,
        "baseline": baseline_obj,
        "checks": [
            {**_check_json(outcome.results[i]), "trend": list(outcome.trends.get(i, ()))}
            for i in indexes
        ],
        "history_run_ids": list(outcome.history),
        "pairing": _pairing_json(outcome),
        "notes": list(outcome.notes),
    }


def _pairing_json(outcome: Outcome) -> dict[str, Any] | None:
    pairing = latest_pairing(outcome)
    if pairing is None:
        return None
    return {
        "latest_run_id": pairing.latest_run_id,
        "baseline_run_id": pairing.baseline_run_id,
        "title_threshold": pairing.title_threshold,
        "clusters": pairing_rows(pairing),
    }


def _check_json(r: CheckResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "metric": r.metric,
        "scope": r.scope,
        "severity": r.severity,
        "status": r.status,
        "observed": r.observed,
        "expected": r.expected,
        "baseline_value": r.baseline_value,
        "margin": r.margin,
        "near_miss": is_near_miss(r),
        "message": r.message,
        "worst_cluster_id": r.worst.cluster_id if r.worst is not None else None,
        "clusters": [
            {
                "cluster_id": c.cluster_id,
                "title": c.title,
                "size": c.size,
                "value": c.value,
                "status": c.status,
                "note": c.note,
                "baseline_value": c.baseline_value,
                "baseline_title": c.baseline_title,
                "url": c.url,
            }
            for c in r.clusters
        ],
    }


def overall_status(results: Sequence[CheckResult]) -> str:
    for status in ("error", "fail", "warn"):
        if any(r.status == status for r in results):
            return status
    return "pass"


def json_document(outcomes: Sequence[tuple[Outcome, Sequence[int]]]) -> dict[str, Any]:
    """One gate: the gate object itself. Several configs: {"status", "gates": [...]}."""
    gates = [gate_json(o, idx) for o, idx in outcomes]
    if len(gates) == 1:
        return gates[0]
    statuses = [g["status"] for g in gates]
    worst = next((s for s in ("error", "fail", "warn") if s in statuses), "pass")
    return {"status": worst, "gates": gates}


def write_all(
    outcomes: Sequence[tuple[Outcome, Sequence[int]]], paths: Sequence[Path]
) -> list[str]:
    """Write every requested report; returns the problems (never raises for I/O)."""
    problems = []
    for path in paths:
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                text = json.dumps(json_document(outcomes), indent=2, ensure_ascii=False) + "\n"
            else:
                from llmc_checks import markdown

                text = markdown.render(outcomes)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            problems.append(f"cannot write report {path}: {exc.strerror or exc}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from llmc_checks import markdown

        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(markdown.render(outcomes))
        except OSError as exc:
            problems.append(f"cannot append to $GITHUB_STEP_SUMMARY: {exc.strerror or exc}")
    return problems
