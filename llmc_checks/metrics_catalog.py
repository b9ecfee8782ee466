"""The metrics a check can name: scope, unit and meaning, in one place.

The config validator, the evaluator and the README's metric reference all read
this table, so a metric is added here once and nowhere else. Import-light on
purpose (the plugin imports it at collection time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from llmc_checks.model import Measure

# Probability at which a pair counts as the same usage pattern (`match.title_similarity`).
# Tuned on the tuning half of tests/data/identity/corpus.yaml for ≥ 98% of
# different-topic pairs judged changed from text alone; see tests/test_identity.py.
# It lives here, not in matching, so validating a config loads no pairing code.
DEFAULT_TITLE_THRESHOLD = 0.8

Scope = Literal["run", "cluster"]
Unit = Literal["count", "ratio", "usd", "seconds", "tokens", "hours"]

MetricName = Literal[
    # run scope
    "items_analyzed",
    "cluster_count",
    "noise_share",
    "run_age_hours",
    "run_cost_usd",
    "title_stability",
    "new_cluster_share",
    "size_drift",
    # cluster scope
    "size",
    "size_share",
    "avg_cost_usd",
    "total_cost_usd",
    "avg_latency_s",
    "p95_latency_s",
    "avg_tokens",
    "error_rate",
    "error_count",
]

# How a unit reads in prose ("avg_cost_usd is in USD").
UNIT_PHRASES: Mapping[Unit, str] = {
    "count": "a count",
    "ratio": "a ratio between 0 and 1",
    "usd": "in USD",
    "seconds": "in seconds",
    "tokens": "in tokens",
    "hours": "in hours",
}


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: MetricName
    scope: Scope
    unit: Unit
    description: str
    # Measured against the baseline run itself (title_stability, ...): needs a
    # baseline, and a max_increase/max_decrease on it would compare to a baseline twice.
    baseline_only: bool = False
    # A share of items (x successes out of n): a Wilson interval, hence `confidence`, applies.
    proportion: bool = False
    # ClusterStats fields the metric reads; empty = computed from the run's clusters alone.
    stats: frozenset[str] = frozenset()
    # The per-item number the metric aggregates, by which evidence ranks a cluster's
    # worst items (model.Measure); None: no per-item value (size, shares).
    item_measure: Measure | None = None

    @property
    def is_ratio(self) -> bool:
        return self.unit == "ratio"

    @property
    def unit_phrase(self) -> str:
        return UNIT_PHRASES[self.unit]


def _m(
    name: MetricName,
    scope: Scope,
    unit: Unit,
    description: str,
    *,
    baseline_only: bool = False,
    proportion: bool = False,
    stats: tuple[str, ...] = (),
    item_measure: Measure | None = None,
) -> MetricInfo:
    return MetricInfo(
        name, scope, unit, description, baseline_only, proportion, frozenset(stats), item_measure
    )


_ALL: tuple[MetricInfo, ...] = (
    _m("items_analyzed", "run", "count", "Items the run clustered ($ai_total_items_analyzed)."),
    _m("cluster_count", "run", "count", "Clusters in the run, not counting the noise cluster."),
    _m(
        "noise_share",
        "run",
        "ratio",
        "Share of the run's items in the noise cluster (cluster_id -1).",
        proportion=True,
    ),
    _m("run_age_hours", "run", "hours", "Hours from the run's window end to now."),
    _m(
        "run_cost_usd",
        "run",
        "usd",
        "Total cost in USD of the run's items within its window.",
        stats=("total_cost_usd",),
    ),
    _m(
        "title_stability",
        "run",
        "ratio",
        "Size-weighted share of the baseline's clusters whose paired cluster has a similar title.",
        baseline_only=True,
    ),
    _m(
        "new_cluster_share",
        "run",
        "ratio",
        "Share of the latest run's items in clusters with no counterpart in the baseline.",
        baseline_only=True,
        proportion=True,
    ),
    _m(
        "size_drift",
        "run",
        "ratio",
        "Jensen–Shannon distance between the paired clusters' size shares (0 = unchanged).",
        baseline_only=True,
    ),
    _m("size", "cluster", "count", "Items in the cluster."),
    _m(
        "size_share",
        "cluster",
        "ratio",
        "The cluster's share of the run's items.",
        proportion=True,
    ),
    _m(
        "avg_cost_usd",
        "cluster",
        "usd",
        "Mean cost per item in USD, over items with a cost > 0.",
        stats=("avg_cost_usd",),
        item_measure="cost",
    ),
    _m(
        "total_cost_usd",
        "cluster",
        "usd",
        "Total cost of the cluster's items in USD.",
        stats=("total_cost_usd",),
        item_measure="cost",
    ),
    _m(
        "avg_latency_s",
        "cluster",
        "seconds",
        "Mean latency per item in seconds, over items with a latency > 0.",
        stats=("avg_latency_s",),
        item_measure="latency",
    ),
    _m(
        "p95_latency_s",
        "cluster",
        "seconds",
        "95th percentile of item latency in seconds (linear interpolation), over items > 0.",
        stats=("p95_latency_s",),
        item_measure="latency",
    ),
    _m(
        "avg_tokens",
        "cluster",
        "tokens",
        "Mean input + output tokens per item, over items with tokens > 0.",
        stats=("avg_tokens",),
        item_measure="tokens",
    ),
    _m(
        "error_rate",
        "cluster",
        "ratio",
        "Share of the cluster's items with at least one error event.",
        proportion=True,
        stats=("error_rate", "error_count", "item_count"),
        item_measure="errors",
    ),
    _m(
        "error_count",
        "cluster",
        "count",
        "Items in the cluster with at least one error event.",
        stats=("error_count",),
        item_measure="errors",
    ),
)

METRICS: Mapping[str, MetricInfo] = {m.name: m for m in _ALL}
RUN_METRICS: tuple[str, ...] = tuple(m.name for m in _ALL if m.scope == "run")
CLUSTER_METRICS: tuple[str, ...] = tuple(m.name for m in _ALL if m.scope == "cluster")
RATIO_METRICS: tuple[str, ...] = tuple(m.name for m in _ALL if m.is_ratio)
PROPORTION_METRICS: tuple[str, ...] = tuple(m.name for m in _ALL if m.proportion)
BASELINE_ONLY_METRICS: tuple[str, ...] = tuple(m.name for m in _ALL if m.baseline_only)

# The Literal (for typing and the JSON Schema) and the table must never drift apart.
if set(get_args(MetricName)) != set(METRICS) or len(_ALL) != len(METRICS):
    raise RuntimeError("metrics_catalog: MetricName and the metric table disagree")


def metric(name: str) -> MetricInfo:
    """The catalog entry for `name` (KeyError for an unknown metric)."""
    return METRICS[name]
