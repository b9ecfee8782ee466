"""A committed baseline: the latest run's clusters and metrics in a small, reviewable file.

Written by `--llmc-update-baseline`, read by `baseline: {file: ...}`. Item ids are
left out on purpose (thousands of ids would drown the diff a reviewer reads); such a
baseline is matched by titles and descriptions alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from llmc_checks._files import write_text
from llmc_checks._values import number, parse_timestamp
from llmc_checks.model import LEVELS, Cluster, ClusterStats, DataError, Run

FORMAT = "llmc-baseline/1"
_STAT_NAMES = tuple(f.name for f in fields(ClusterStats))


def dumps(run: Run) -> str:
    doc = {
        "format": FORMAT,
        "run": run.header(),
        "clusters": [
            {
                "cluster_id": c.cluster_id,
                "title": c.title,
                "description": c.description,
                "size": c.size,
                "stats": asdict(c.stats) if c.stats is not None else None,
            }
            for c in sorted(run.clusters, key=lambda c: c.cluster_id)
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(path: Path, run: Run) -> None:
    write_text(path, dumps(run))


def read(path: Path) -> tuple[Run, ...]:
    """The baseline run in `path`; () when the file does not exist yet (first run)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise DataError(f"{path}: cannot read baseline ({exc.strerror})") from None
    try:
        doc = json.loads(text)
        return (_run(doc),)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(
            f"{path}: not a baseline written by --llmc-update-baseline ({_why(exc)})"
        ) from None


def _why(exc: Exception) -> str:
    return f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _run(raw: object) -> Run:
    doc = _object(raw, "the document")
    if doc.get("format") != FORMAT:
        raise ValueError(f"format is {doc.get('format')!r}, expected {FORMAT!r}")
    head = _object(doc["run"], "run")
    level = head["level"]
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    return Run(
        run_id=str(head["run_id"]),
        level=level,
        job_id=str(head.get("job_id", "")),
        job_name=str(head.get("job_name", "")),
        window_start=parse_timestamp(head["window_start"]),
        window_end=parse_timestamp(head["window_end"]),
        items_analyzed=int(head["items_analyzed"]),
        clusters=tuple(_cluster(c) for c in doc["clusters"]),
    )


def _cluster(value: object) -> Cluster:
    raw = _object(value, "a cluster")
    stats = raw.get("stats")
    return Cluster(
        cluster_id=int(raw["cluster_id"]),
        title=str(raw["title"]),
        description=str(raw.get("description", "")),
        size=int(raw["size"]),
        stats=_stats(_object(stats, "stats")) if stats is not None else None,
    )


def _stats(raw: dict[str, Any]) -> ClusterStats:
    """Stats as written; a hand-edited value must still be a number (or null)."""
    values: dict[str, float | None] = {}
    for name in _STAT_NAMES:
        value = raw.get(name)
        parsed = number(value)
        if value is not None and parsed is None:
            raise ValueError(f"stats.{name} is {value!r}, not a number")
        values[name] = parsed
    return ClusterStats(
        item_count=int(values["item_count"] or 0),
        avg_cost_usd=values["avg_cost_usd"],
        total_cost_usd=values["total_cost_usd"],
        avg_latency_s=values["avg_latency_s"],
        p95_latency_s=values["p95_latency_s"],
        avg_tokens=values["avg_tokens"],
        error_count=int(values["error_count"] or 0),
        error_rate=values["error_rate"],
    )
