"""Outcomes → the JSON report (DESIGN §3 Reports): a document, not yet a file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmc_checks.model import Bound
from llmc_checks.report.cells import is_near_miss, latest_pairing, overall_status, pairing_rows
from llmc_checks.results import CheckResult, Outcome


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
        "semantics": outcome.semantics,
        "status": overall_status([outcome.results[i] for i in indexes]),
        "error": outcome.error,
        "run": run_obj,
        "baseline": baseline_obj,
        "checks": [
            {
                **_check_json(outcome.results[i], run.run_id if run else None),
                "trend": list(outcome.trends.get(i, ())),
            }
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


def _check_json(r: CheckResult, latest_run_id: str | None) -> dict[str, Any]:
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
        "bound": _bound_json(r.bound),
        "near_miss": is_near_miss(r),
        "message": r.message,
        "worst_cluster_id": r.worst.cluster_id if r.worst is not None else None,
        # title_stability lists a baseline run's clusters; every other check the latest's.
        "clusters_run_id": r.clusters_run_id or latest_run_id,
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
                "margin": c.margin,
                "bound": _bound_json(c.bound),
                "evidence": [
                    {
                        "item_id": e.item_id,
                        "why": e.why,
                        "value": e.value,
                        "url": e.url,
                        "timestamp": e.timestamp or None,
                    }
                    for e in c.evidence
                ],
            }
            for c in r.clusters
        ],
    }


def _bound_json(bound: Bound | None) -> dict[str, Any] | None:
    """The score bound a `confidence` verdict judged: {side, value, confidence, of}."""
    if bound is None:
        return None
    return {
        "side": bound.side,
        "value": bound.value,
        "confidence": bound.confidence,
        "of": "change" if bound.on_change else "value",
    }


def json_document(outcomes: Sequence[tuple[Outcome, Sequence[int]]]) -> dict[str, Any]:
    """One gate: the gate object itself. Several configs: {"status", "gates": [...]}."""
    gates = [gate_json(o, idx) for o, idx in outcomes]
    if len(gates) == 1:
        return gates[0]
    statuses = [g["status"] for g in gates]
    worst = next((s for s in ("error", "fail", "warn") if s in statuses), "pass")
    return {"status": worst, "gates": gates}
