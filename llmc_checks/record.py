"""`--llmc-record PATH`: save the event rows a gate used as a snapshot.

    n = record(source, request, loaded, Path("snapshots/gate.jsonl.gz"))

The file replays through `SnapshotSource` to the same runs and numbers: the
clustering events of the selected runs (latest and baselines) and of the trend
runs (`Loaded.history`, so sparklines replay too), the AI events of the selected
runs' items inside their windows (trend runs use baked stats only), then a
`$llmc_snapshot` marker whose timestamp is `Loaded.now`, the snapshot's clock
(so run_age_hours replays too).

Only what the metrics read is kept: clustering events keep their headers,
titles, descriptions, baked metrics and membership (`traces`, minus plot
coordinates and centroids); AI events keep six properties and no prompt,
output, model input or person; every `distinct_id` becomes "llmc".
"""

from __future__ import annotations

import gzip
import uuid as uuid_mod
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from llmc_checks._files import atomic_write
from llmc_checks.model import (
    CLUSTER_EVENTS,
    RECORD_SUFFIXES,
    LlmcError,
    Loaded,
    RunRequest,
)
from llmc_checks.runs import lenient_properties
from llmc_checks.sources._hogql import EXPORT_PROPERTIES
from llmc_checks.sources.base import Source
from llmc_checks.sources.snapshot import SNAPSHOT_MARKER

Row = dict[str, Any]

DISTINCT_ID = "llmc"
# AI-event properties a recording keeps: exactly what metrics.py reads.
AI_PROPERTIES: frozenset[str] = frozenset(EXPORT_PROPERTIES)
# Clustering-event properties a recording keeps (runs.py reads these).
RUN_PROPERTIES: frozenset[str] = frozenset(
    {
        "$ai_clustering_run_id",
        "$ai_clustering_level",
        "$ai_clustering_job_id",
        "$ai_clustering_job_name",
        "$ai_window_start",
        "$ai_window_end",
        "$ai_total_items_analyzed",
        "$ai_total_traces_analyzed",
        "$ai_clusters",
        "$ai_clustering_params",
    }
)
# Per-cluster fields dropped: plot geometry, no metric reads it.
_CLUSTER_DROP = frozenset({"centroid", "centroid_x", "centroid_y"})
# Per-item fields kept: what evidence picks and links by (runs.member); plot
# coordinates and distances are dropped.
ITEM_FIELDS = frozenset({"rank", "timestamp", "trace_id", "generation_id"})


@runtime_checkable
class Exporter(Protocol):
    """A source that can hand back the rows behind what it loaded (both sources can)."""

    def export_rows(self, loaded: Loaded) -> Iterator[Row]: ...


def record(source: Source, request: RunRequest, loaded: Loaded, path: Path) -> int:
    """Write the rows behind `loaded` to `path` (.jsonl or .jsonl.gz); rows written.

    Written to a temporary file first: a failed recording never leaves a partial
    snapshot behind.
    """
    name = path.name
    if not name.endswith(RECORD_SUFFIXES):
        raise LlmcError(f"--llmc-record {path}: expected a .jsonl or .jsonl.gz path")
    if isinstance(source, Exporter):
        rows = source.export_rows(loaded)
    else:
        raise LlmcError(f"--llmc-record: cannot record from {source.describe()}")
    trimmed = (trim_row(row) for row in rows)
    return _write(path, [trimmed, [marker(loaded)]])


def trim_row(row: Mapping[str, Any]) -> Row:
    """A row reduced to what a snapshot replay reads (see the module docstring)."""
    event = str(row.get("event", ""))
    props = lenient_properties(row.get("properties"))
    if event in CLUSTER_EVENTS:
        kept = {k: v for k, v in props.items() if k in RUN_PROPERTIES}
        if "$ai_clusters" in kept:
            kept["$ai_clusters"] = _trim_clusters(kept["$ai_clusters"])
    else:
        kept = {k: v for k, v in props.items() if k in AI_PROPERTIES}
    return {
        "uuid": str(row.get("uuid", "")),
        "event": event,
        "timestamp": row.get("timestamp"),
        "distinct_id": DISTINCT_ID,
        "properties": kept,
    }


def marker(loaded: Loaded) -> Row:
    """The final row: SnapshotSource takes its timestamp as the snapshot's "now"."""
    return {
        "uuid": str(uuid_mod.uuid4()),
        "event": SNAPSHOT_MARKER,
        "timestamp": loaded.now.isoformat(),
        "distinct_id": DISTINCT_ID,
        "properties": {},
    }


def _trim_clusters(raw: object) -> object:
    # A string holding the array becomes the array itself: parsed, trimmed, a list.
    clusters = raw
    if isinstance(raw, str):
        try:
            clusters = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw  # malformed: kept as is, so the replay fails the same way
    if not isinstance(clusters, list):
        return raw
    return [_trim_cluster(c) for c in clusters]


def _trim_cluster(cluster: object) -> object:
    if not isinstance(cluster, dict):
        return cluster
    out = {k: v for k, v in cluster.items() if k not in _CLUSTER_DROP}
    traces = out.get("traces")
    if isinstance(traces, dict):
        out["traces"] = {
            item: (
                {k: v for k, v in entry.items() if k in ITEM_FIELDS}
                if isinstance(entry, dict)
                else entry
            )
            for item, entry in traces.items()
        }
    return out


# -- writing -------------------------------------------------------------------------------


def _write(path: Path, chunks: Iterable[Iterable[Row]]) -> int:
    try:
        with atomic_write(path) as raw:
            if path.name.endswith(".gz"):
                # mtime=0 and no file name: the same rows give the same bytes.
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    return _write_lines(gz.write, chunks)
            return _write_lines(raw.write, chunks)
    except OSError as exc:
        raise LlmcError(f"--llmc-record: cannot write {path}: {exc.strerror or exc}") from None


def _write_lines(write: Callable[[bytes], object], chunks: Iterable[Iterable[Row]]) -> int:
    count = 0
    for chunk in chunks:
        for row in chunk:
            write(orjson.dumps(row) + b"\n")
            count += 1
    return count
