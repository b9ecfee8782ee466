"""A committed baseline: the latest run's clusters and metrics in a small, reviewable file.

Written by `--llmc-update-baseline`, read by `baseline: {file: ...}`. Item ids are
not kept (1,500 ids would drown the diff a reviewer reads), but a fixed-size
fingerprint is: the 12-hex-digit keys (`_fingerprint.item_key`) of a consistent hash
sample of at most ITEM_SAMPLE items of the run, one line per cluster. Pairing compares
the latest run's items through the same sample, so a baseline file younger than the
7-day window still gets item evidence (decisive for a small team, whose runs share
most items) at a size that does not grow with the run. Files without it (older ones,
or runs read without item ids) are matched by titles and descriptions alone.

The file names the semantics its numbers are in (DESIGN §1). Comparing them with a run
read under the other semantics is an error, not a silent mix: without the events they
came from, they cannot be recomputed. Files written before semantics existed hold the
clustering job's numbers ("workflow"), as do evaluation-level files, whatever they name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from llmc_checks._files import write_text
from llmc_checks._fingerprint import ITEM_SAMPLE_PARAM, SAMPLE_HASH, is_key, item_key
from llmc_checks._values import number, parse_timestamp
from llmc_checks.model import LEVELS, SEMANTICS, Cluster, ClusterStats, DataError, Run, Semantics

FORMAT = "llmc-baseline/1"
# Items a fingerprint keeps at most, over all clusters (noise included): ~85% of
# them are shared with the next day's run of a small team, ~20 per cluster.
ITEM_SAMPLE = 256
_STAT_NAMES = tuple(f.name for f in fields(ClusterStats))


# What a file without a `semantics` key holds: every number then was the job's.
_OLD_FILES: Semantics = "workflow"


def dumps(run: Run, semantics: Semantics) -> str:
    keys = {c.cluster_id: sorted({item_key(i) for i in c.item_ids}) for c in run.clusters}
    every = sorted({k for ks in keys.values() for k in ks})
    cutoff = every[min(len(every), ITEM_SAMPLE) - 1] if every else None
    clusters: list[dict[str, Any]] = []
    for c in sorted(run.clusters, key=lambda c: c.cluster_id):
        entry: dict[str, Any] = {
            "cluster_id": c.cluster_id,
            "title": c.title,
            "description": c.description,
            "size": c.size,
            "stats": asdict(c.stats) if c.stats is not None else None,
        }
        if cutoff is not None:
            entry["item_sample"] = " ".join(k for k in keys[c.cluster_id] if k <= cutoff)
        clusters.append(entry)
    doc: dict[str, Any] = {"format": FORMAT, "semantics": semantics, "run": run.header()}
    if cutoff is not None:
        doc["item_sample"] = {"hash": SAMPLE_HASH, "max": cutoff, "of_items": len(every)}
    doc["clusters"] = clusters
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(path: Path, run: Run, semantics: Semantics) -> None:
    write_text(path, dumps(run, semantics))


def read(path: Path, semantics: Semantics) -> tuple[Run, ...]:
    """The baseline run in `path`; () when the file does not exist yet (first run).

    A file whose numbers are in another semantics than `semantics` is a DataError, unless
    it holds an evaluation run: its numbers are the job's under both (earlier versions
    named run.semantics in such files, later ones workflow).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise DataError(f"{path}: cannot read baseline ({exc.strerror})") from None
    except UnicodeDecodeError:  # a ValueError, but not one of the document's
        raise DataError(
            f"{path}: not a baseline written by --llmc-update-baseline (not UTF-8 text)"
        ) from None
    try:
        doc = json.loads(text)
        run = _run(doc)
        written = _semantics(doc)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(
            f"{path}: not a baseline written by --llmc-update-baseline ({_why(exc)})"
        ) from None
    if written != semantics and run.level != "evaluation":
        raise OtherSemantics(
            f"{path}: its numbers are in {written} semantics but run.semantics is "
            f"{semantics}; rewrite it with --llmc-update-baseline or set "
            f"run.semantics: {written}"
        )
    return (run,)


class OtherSemantics(DataError):
    """The file's numbers are in the other semantics (the gate may be rewriting it)."""


def _semantics(doc: dict[str, Any]) -> Semantics:
    written = doc.get("semantics", _OLD_FILES)
    for known in SEMANTICS:
        if written == known:
            return known
    raise ValueError(f"unknown semantics {written!r}")


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
    params: dict[str, object] = {}
    sample = doc.get("item_sample")
    if sample is not None:
        sample = _object(sample, "item_sample")
        if sample.get("hash") != SAMPLE_HASH or not is_key(sample.get("max")):
            raise ValueError(f"item_sample is not a {SAMPLE_HASH} sample")
        params[ITEM_SAMPLE_PARAM] = sample["max"]
    return Run(
        run_id=str(head["run_id"]),
        level=level,
        job_id=str(head.get("job_id", "")),
        job_name=str(head.get("job_name", "")),
        window_start=parse_timestamp(head["window_start"]),
        window_end=parse_timestamp(head["window_end"]),
        items_analyzed=int(head["items_analyzed"]),
        clusters=tuple(_cluster(c, sampled=bool(params)) for c in doc["clusters"]),
        params=params,
    )


def _cluster(value: object, *, sampled: bool) -> Cluster:
    raw = _object(value, "a cluster")
    stats = raw.get("stats")
    keys: tuple[str, ...] = ()
    if sampled:
        keys = tuple(str(raw.get("item_sample", "")).split())
        if not all(is_key(k) for k in keys):
            raise ValueError(f"cluster {raw.get('cluster_id')}: item_sample holds a non-key")
    return Cluster(
        cluster_id=int(raw["cluster_id"]),
        title=str(raw["title"]),
        description=str(raw.get("description", "")),
        size=int(raw["size"]),
        # The fingerprint's keys stand in for item ids (Run.params says so).
        item_ids=keys,
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
