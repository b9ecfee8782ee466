"""What a gate produces and every renderer reads: results per check, the outcome per gate.

Renderers (report/) import this module, never the gate that fills it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llmc_checks.model import Bound, Evidence, Limits, Run, Semantics

if TYPE_CHECKING:
    from llmc_checks.matching import Pairing

__all__ = [
    "NEAR_MISS_MARGIN",
    "BaselineView",
    "CheckResult",
    "ClusterRow",
    "Outcome",
    "RowStatus",
    "Status",
]

Status = Literal["pass", "fail", "warn", "error", "skip"]
RowStatus = Literal["pass", "fail", "not_evaluated"]

# A passing check (or cluster) within this share of its limit is a near miss.
NEAR_MISS_MARGIN = 0.10


@dataclass(frozen=True, slots=True)
class ClusterRow:
    cluster_id: int
    title: str
    size: int
    value: float | None
    status: RowStatus
    note: str = ""
    baseline_value: float | None = None
    baseline_title: str | None = None
    url: str | None = None
    margin: float | None = None
    # The items behind the verdict (failing, warning or near-miss clusters only).
    evidence: tuple[Evidence, ...] = ()
    # With `confidence`: the score bound the verdict judged instead of `value`.
    bound: Bound | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    metric: str
    scope: Literal["run", "cluster"]
    status: Status
    observed: float | None
    expected: str
    message: str
    severity: Literal["fail", "warn"] = "fail"
    clusters: tuple[ClusterRow, ...] = ()
    # The run `clusters` belong to when not the latest (title_stability lists the
    # baseline run's changed and vanished clusters).
    clusters_run_id: str | None = None
    worst: ClusterRow | None = None
    baseline_value: float | None = None
    # Headroom to the nearest limit as a fraction of it (negative: past it); for a
    # cluster-scope check, the smallest over the evaluated clusters.
    margin: float | None = None
    # With `confidence`: the score bound the verdict judged (the worst cluster's).
    bound: Bound | None = None
    # The limits as configured: what is shown beside them reads on its own side.
    limits: Limits = field(default_factory=Limits)
    # A check with change limits too whose worst cluster is nearest its value's own
    # limit (min, max): the margin is the value's, so the value is shown with the change.
    value_decided: bool = False

    @property
    def passed(self) -> bool:
        return self.status in ("pass", "warn", "skip")


@dataclass(frozen=True, slots=True)
class BaselineView:
    """The runs one baseline spec resolved to, and the pairing with the latest run."""

    label: str
    runs: tuple[Run, ...]
    pairings: tuple[Pairing, ...] = ()
    missing_reason: str = ""
    missing_is_error: bool = False
    # Set when the runs fall short of what the spec asked for ("median of 3 runs, not 7").
    shortfall: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    config_path: Path
    source: str
    results: tuple[CheckResult, ...]
    latest: Run | None = None
    baseline: BaselineView | None = None
    error: str | None = None
    link: Callable[[Run, int], str | None] = field(default=lambda run, cid: None)
    # Side effects worth telling the user about ("baseline written to ...").
    notes: tuple[str, ...] = ()
    # Per check index: its metric over the recent runs (run-scope checks only).
    trends: Mapping[int, tuple[float | None, ...]] = field(default_factory=dict)
    history: tuple[str, ...] = ()  # the run ids the trends cover, oldest first
    # Whose per-item numbers the stats are: the cluster page's or the job's (DESIGN §1).
    semantics: Semantics = "ui"
