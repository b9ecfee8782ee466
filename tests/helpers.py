"""Shared test helpers (tests/ is on sys.path: `from helpers import ...`).

Row builders (prefixed `llmc_`) used by test_metrics / test_runs / test_snapshot:
PostHog event rows as plain dicts, and a writer for `.jsonl` snapshots.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson

from llmc_checks.model import Cluster, Loaded, NoRunFound, Run, RunRequest

Row = dict[str, Any]

LLMC_WINDOW_START = "2026-11-08T00:15:03.104+00:00"
LLMC_WINDOW_END = "2026-11-15T00:15:03.104+00:00"
LLMC_EMITTED = "2026-11-15T00:20:00.000000+00:00"

_llmc_seq = itertools.count(1)


def llmc_event(event: str, timestamp: str, props: dict[str, Any], uuid: str = "") -> Row:
    """One PostHog event row; the uuid defaults to a unique, readable one."""
    return {
        "uuid": uuid or f"ev-{next(_llmc_seq):05d}",
        "event": event,
        "timestamp": timestamp,
        "distinct_id": "user-1",
        "properties": props,
    }


def llmc_cluster(
    cluster_id: int,
    items: list[str] | tuple[str, ...],
    title: str | None = None,
    metrics: dict[str, Any] | None = None,
    description: str = "",
) -> Row:
    """One entry of `$ai_clusters` (size = number of items)."""
    cluster: Row = {
        "cluster_id": cluster_id,
        "size": len(items),
        "title": title if title is not None else f"Topic {cluster_id}",
        "description": description,
        "traces": {
            item: {"distance_to_centroid": 0.1, "rank": r, "x": 0.0, "y": 0.0}
            for r, item in enumerate(items)
        },
        "centroid": [] if cluster_id == -1 else [0.0, 0.0],
    }
    if metrics is not None:
        cluster["metrics"] = metrics
    return cluster


def llmc_run_event(
    run_id: str,
    clusters: list[Row],
    *,
    level: str = "trace",
    window_start: str = LLMC_WINDOW_START,
    window_end: str = LLMC_WINDOW_END,
    emitted: str = LLMC_EMITTED,
    job_id: str = "job-1",
    job_name: str = "Default - traces",
    uuid: str = "",
    **extra: Any,
) -> Row:
    """A modern `$ai_<level>_clusters` event; `extra` adds or overrides properties."""
    props: Row = {
        "$ai_clustering_run_id": run_id,
        "$ai_clustering_level": level,
        "$ai_clustering_job_id": job_id,
        "$ai_clustering_job_name": job_name,
        "$ai_window_start": window_start,
        "$ai_window_end": window_end,
        "$ai_total_items_analyzed": sum(c["size"] for c in clusters),
        "$ai_clusters": clusters,
    }
    props.update(extra)
    return llmc_event(f"$ai_{level}_clusters", emitted, props, uuid=uuid or f"uuid-{run_id}")


def llmc_write_jsonl(path: Path, rows: list[Row]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


# A fixed clock for gate tests, and a source that finds no run `misses` times.
GATE_NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def _run() -> Run:
    clusters = (Cluster(0, "Topic", "", 90), Cluster(-1, "Outliers", "", 10))
    return Run("r1", "trace", "job", "Job", GATE_NOW - timedelta(days=7), GATE_NOW, 100, clusters)


@dataclass
class FakeSource:
    """Answers NoRunFound `misses` times, then the run; records each request."""

    misses: int
    requests: list[RunRequest] = field(default_factory=list)

    def describe(self) -> str:
        return "fake"

    def load(self, request: RunRequest) -> Loaded:
        self.requests.append(request)
        if len(self.requests) <= self.misses:
            raise NoRunFound("no trace-level run after the deploy")
        return Loaded(now=GATE_NOW, latest=_run())


class Capture(httpx.HTTPTransport):
    """A real transport that also keeps every query body sent."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.content:
            self.bodies.append(orjson.loads(request.content))
        return super().handle_request(request)


def retitled(rows: list[Row], run_id: str) -> list[Row]:
    """`rows` with every non-noise cluster of run `run_id` given a title and description
    sharing no word with any other (an LLM relabelling all), each keeping its items."""
    out = []
    for row in rows:
        props = row.get("properties") or {}
        if row["event"].endswith("_clusters") and props.get("$ai_clustering_run_id") == run_id:
            clusters = orjson.loads(orjson.dumps(props["$ai_clusters"]))
            if isinstance(clusters, str):
                clusters = orjson.loads(clusters)
            for n, c in enumerate(clusters):
                if c["cluster_id"] >= 0:
                    c["title"], c["description"] = f"Zq{n} xv{n} wk{n}", f"Jy{n} pf{n}."
            row = {**row, "properties": {**props, "$ai_clusters": clusters}}
        out.append(row)
    return out
