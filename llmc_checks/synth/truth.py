"""The ground truth of every generated run: which cluster is which topic, its expected numbers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from llmc_checks.model import Level, Semantics

# ---------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterTruth:
    cluster_id: int
    topic: str | None  # None for the noise cluster
    title: str
    description: str
    size: int
    item_ids: tuple[str, ...]  # in rank order, as in the emitted `traces` map
    # PostHog's per-cluster numbers for this run (the keys of baked `metrics`), plus
    # "p95_latency" (linear interpolation over items with latency > 0). Present
    # whether or not the run carries them baked. `metrics` are the clustering job's
    # ("workflow", what gets baked), `metrics_ui` the cluster page's (DESIGN §1).
    metrics: Mapping[str, float | int | None]
    metrics_ui: Mapping[str, float | int | None]

    def metrics_for(self, semantics: Semantics) -> Mapping[str, float | int | None]:
        return self.metrics_ui if semantics == "ui" else self.metrics


@dataclass(frozen=True)
class RunTruth:
    run_id: str
    level: Level
    job_id: str  # "" for legacy runs
    job_name: str
    window_start: datetime
    window_end: datetime
    items_analyzed: int
    clusters: tuple[ClusterTruth, ...]
    event_uuids: tuple[str, ...]  # two when the run was emitted twice
    legacy: bool
    clusters_as_string: bool
    baked: bool
    # Items forced into the sample that have an event exactly at window_start (counts)
    # or exactly at window_end (must not count).
    edge_items: tuple[str, ...]
    # Clustered items with no AI event inside the window.
    phantom_items: tuple[str, ...]

    @property
    def cluster_topics(self) -> dict[int, str | None]:
        return {c.cluster_id: c.topic for c in self.clusters}

    def cluster_for(self, topic: str) -> ClusterTruth | None:
        return next((c for c in self.clusters if c.topic == topic), None)

    def cluster(self, cluster_id: int) -> ClusterTruth:
        for c in self.clusters:
            if c.cluster_id == cluster_id:
                return c
        raise KeyError(cluster_id)
