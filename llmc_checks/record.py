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
import os
import tempfile
import uuid as uuid_mod
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from llmc_checks import metrics
from llmc_checks._values import epoch_us, parse_timestamp
from llmc_checks.model import (
    CLUSTER_EVENTS,
    RECORD_SUFFIXES,
    DataError,
    Level,
    LlmcError,
    Loaded,
    RunRequest,
)
from llmc_checks.runs import build_run, deduplicate, read_run_event
from llmc_checks.sources._hogql import EXPORT_PROPERTIES
from llmc_checks.sources.base import Source
from llmc_checks.sources.snapshot import SNAPSHOT_MARKER, SnapshotSource

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
# Per-cluster and per-item fields dropped: plot geometry, no metric reads it.
_CLUSTER_DROP = frozenset({"centroid", "centroid_x", "centroid_y"})
_ITEM_DROP = frozenset({"x", "y"})


@runtime_checkable
class Exporter(Protocol):
    """A source that can fetch the rows behind what it loaded (the live source)."""

    def export_rows(self, loaded: Loaded) -> Iterator[Row]: ...


def record(source: Source, request: RunRequest, loaded: Loaded, path: Path) -> int:
    """Write the rows behind `loaded` to `path` (.jsonl or .jsonl.gz); rows written.

    Written to a temporary file first: a failed recording never leaves a partial
    snapshot behind.
    """
    name = path.name
    if not name.endswith(RECORD_SUFFIXES):
        raise LlmcError(f"--llmc-record {path}: expected a .jsonl or .jsonl.gz path")
    if isinstance(source, SnapshotSource):
        rows: Iterable[Row] = _from_snapshot(source.path, loaded)
    elif isinstance(source, Exporter):
        rows = source.export_rows(loaded)
    else:
        raise LlmcError(f"--llmc-record: cannot record from {source.describe()}")
    trimmed = (trim_row(row) for row in rows)
    return _write(path, [trimmed, [marker(loaded)]])


def trim_row(row: Mapping[str, Any]) -> Row:
    """A row reduced to what a snapshot replay reads (see the module docstring)."""
    event = str(row.get("event", ""))
    props = _object(row.get("properties"))
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


def _object(raw: object) -> dict[str, Any]:
    """Event properties: an object, or a string holding one; {} when unreadable."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
    return raw if isinstance(raw, dict) else {}


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
                {k: v for k, v in entry.items() if k not in _ITEM_DROP}
                if isinstance(entry, dict)
                else entry
            )
            for item, entry in traces.items()
        }
    return out


# -- from a snapshot file ------------------------------------------------------------------


def _from_snapshot(path: Path, loaded: Loaded) -> Iterator[Row]:
    """The file's rows behind `loaded`: two passes, as SnapshotSource reads it."""
    selected = {
        loaded.latest.run_id,
        *(r.run_id for runs in loaded.baselines.values() for r in runs),
    }
    wanted = selected | {r.run_id for r in loaded.history}
    cluster_rows = [
        row for row in _rows(path) if row.get("event") in CLUSTER_EVENTS and _run_id(row) in wanted
    ]
    yield from cluster_rows
    level: Level = loaded.latest.level
    if level == "evaluation":
        return
    # AI events only for the selected runs: trend runs draw on baked stats alone.
    owners = _owners([row for row in cluster_rows if _run_id(row) in selected], path)
    for row in _rows(path):
        event = row.get("event")
        if event not in metrics.AI_EVENTS:
            continue
        props = _object(row.get("properties"))
        key = metrics.item_key(level, str(event), row, props)
        windows = owners.get(key) if key is not None else None
        if not windows:
            continue
        at = epoch_us(parse_timestamp(str(row.get("timestamp"))))
        if any(start <= at < end for start, end in windows):
            yield row


def _run_id(row: Mapping[str, Any]) -> object:
    return _object(row.get("properties")).get("$ai_clustering_run_id")


def _owners(cluster_rows: list[Row], path: Path) -> dict[str, list[tuple[int, int]]]:
    """Item id → the windows of the recorded runs that cluster it."""
    where = path.name
    owners: dict[str, list[tuple[int, int]]] = {}
    for event in deduplicate(read_run_event(r, where) for r in cluster_rows):
        run = build_run(event, where)
        window = (epoch_us(run.window_start), epoch_us(run.window_end))
        for cluster in run.clusters:
            for item in cluster.item_ids:
                owners.setdefault(item, []).append(window)
    return owners


def _rows(path: Path) -> Iterator[Row]:
    """Every event row of a .jsonl / .jsonl.gz / .json snapshot."""
    name = path.name
    try:
        if name.endswith(".json"):
            data = orjson.loads(path.read_bytes())
            yield from (r for r in data if isinstance(r, dict)) if isinstance(data, list) else ()
            return
        opener: Any = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                line = line.strip()
                if not line:
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise DataError(f"{path}:{lineno}: not valid JSON") from None
                if isinstance(row, dict):
                    yield row
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read snapshot ({exc})") from None


# -- writing -------------------------------------------------------------------------------


def _write(path: Path, chunks: Iterable[Iterable[Row]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            if path.name.endswith(".gz"):
                # mtime=0 and no file name: the same rows give the same bytes.
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    count = _write_lines(gz.write, chunks)
            else:
                count = _write_lines(raw.write, chunks)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LlmcError(f"--llmc-record: cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _write_lines(write: Callable[[bytes], object], chunks: Iterable[Iterable[Row]]) -> int:
    count = 0
    for chunk in chunks:
        for row in chunk:
            write(orjson.dumps(row) + b"\n")
            count += 1
    return count
