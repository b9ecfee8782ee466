"""The offline source: PostHog event rows from a file, read as a stream.

`.jsonl` and `.jsonl.gz` are streamed line by line (a 600k-event file never sits
in memory); a `.json` array is loaded whole. Two passes: the first reads only the
clustering events to select runs; the second, needed only when a check wants
per-item metrics the runs don't carry baked, folds AI events into item totals.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from llmc_checks import metrics
from llmc_checks._values import epoch_us, parse_timestamp
from llmc_checks.model import CLUSTER_EVENTS, DataError, Level, NoRunFound, Run
from llmc_checks.runs import RunEvent, build_run, deduplicate, read_run_event, select_runs
from llmc_checks.sources.base import Loaded, RunRequest

# Marks when a snapshot was recorded; its timestamp is the snapshot's "now".
SNAPSHOT_MARKER = "$llmc_snapshot"

_CLUSTER_HINT = b'_clusters"'
_MARKER_HINT = SNAPSHOT_MARKER.encode()
_AI_HINTS = tuple(f'"{e}"'.encode() for e in metrics.AI_EVENTS)


@dataclass(frozen=True, slots=True)
class SnapshotSource:
    path: Path

    def describe(self) -> str:
        return f"snapshot {self.path.name}"

    def load(self, request: RunRequest) -> Loaded:
        if not self.path.is_file():
            raise DataError(f"{self.path}: snapshot file not found")
        events, now = self._scan_runs()
        selection = select_runs(deduplicate(events), request, now)
        runs = [build_run(e, self._where(e)) for e in selection.events()]
        by_id = {r.run_id: r for r in self._attach_stats(runs, request)}
        baselines = {
            spec: tuple(by_id[e.run_id] for e in chosen)
            for spec, chosen in selection.baselines.items()
        }
        return Loaded(now=now, latest=by_id[selection.latest.run_id], baselines=baselines)

    def _where(self, event: RunEvent) -> str:
        return f"{self.path.name} ({event.run_id})"

    def _scan_runs(self) -> tuple[list[RunEvent], datetime]:
        events: list[RunEvent] = []
        marker: datetime | None = None
        for lineno, raw in self._lines():
            if _CLUSTER_HINT in raw:
                row = _parse(raw, self.path, lineno)
                if row.get("event") in CLUSTER_EVENTS:
                    events.append(read_run_event(row, f"{self.path.name}:{lineno}"))
            elif _MARKER_HINT in raw:
                row = _parse(raw, self.path, lineno)
                if row.get("event") == SNAPSHOT_MARKER:
                    marker = _row_time(row, self.path, lineno)
        if not events:
            raise NoRunFound(f"{self.path}: no clustering events ($ai_*_clusters) in the snapshot")
        newest = max(e.emitted_at for e in events)
        return events, marker if marker is not None else newest

    def _attach_stats(self, runs: list[Run], request: RunRequest) -> list[Run]:
        if not request.stats:
            return runs
        if all(metrics.baked_suffices(r, request.stats) for r in runs):
            return [metrics.with_baked_stats(r) for r in runs]
        for r in runs:
            if r.level == "evaluation":
                missing = ", ".join(sorted(request.stats))
                raise DataError(
                    f"run {r.run_id}: evaluation-level runs have no AI events to compute "
                    f"{missing} from, and this run's clusters carry no baked metrics for them"
                )
        totals = self._fold_events(runs)
        return [metrics.with_event_stats(r, t) for r, t in zip(runs, totals, strict=True)]

    def _fold_events(self, runs: list[Run]) -> list[dict[str, metrics.Totals]]:
        """One pass over the AI events, folding each into every selected run it falls in."""
        level: Level = runs[0].level
        windows = [(epoch_us(r.window_start), epoch_us(r.window_end)) for r in runs]
        owners: dict[str, list[int]] = {}
        for index, run in enumerate(runs):
            for cluster in run.clusters:
                for item in cluster.item_ids:
                    owners.setdefault(item, []).append(index)
        totals: list[dict[str, metrics.Totals]] = [{} for _ in runs]
        for lineno, raw in self._lines():
            if not any(hint in raw for hint in _AI_HINTS):
                continue
            row = _parse(raw, self.path, lineno)
            event = row.get("event")
            if event not in metrics.AI_EVENTS:
                continue
            props = row.get("properties")
            if isinstance(props, str):
                props = _parse(props.encode(), self.path, lineno)
            if not isinstance(props, dict):
                raise DataError(f"{self.path}:{lineno}: properties is not an object")
            key = metrics.item_key(level, event, row, props)
            runs_of_item = owners.get(key) if key is not None else None
            if runs_of_item is None or key is None:
                continue
            at = epoch_us(_row_time(row, self.path, lineno))
            for index in runs_of_item:
                start, end = windows[index]
                if start <= at < end:
                    item_totals = totals[index].get(key)
                    if item_totals is None:
                        item_totals = totals[index][key] = metrics.new_totals()
                    metrics.add_event(item_totals, event, props)
        return totals

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        name = self.path.name
        if name.endswith(".json"):
            yield from self._array_rows()
            return
        opener: Any = gzip.open if name.endswith(".gz") else open
        try:
            with opener(self.path, "rb") as fh:
                yield from _checked_lines(fh, self.path)
        except (OSError, EOFError) as exc:
            raise DataError(f"{self.path}: cannot read snapshot ({_reason(exc)})") from None

    def _array_rows(self) -> Iterator[tuple[int, bytes]]:
        try:
            rows = orjson.loads(self.path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{self.path}: not valid JSON ({exc})") from None
        if not isinstance(rows, list):
            raise DataError(f"{self.path}: a .json snapshot must hold an array of event rows")
        # Re-serialised so both file kinds share the same byte-level prefilters.
        for index, row in enumerate(rows, start=1):
            yield index, orjson.dumps(row)


def _checked_lines(fh: IO[bytes], path: Path) -> Iterator[tuple[int, bytes]]:
    # Rows are only parsed when a pass needs them, so check each line's shape here:
    # a truncated or corrupted line must fail the gate even if no pass reads it.
    for lineno, raw in enumerate(fh, start=1):
        line = raw.strip()
        if not line:
            continue
        if not (line.startswith(b"{") and line.endswith(b"}")):
            raise DataError(f"{path}:{lineno}: not a JSON object (truncated or corrupted line)")
        yield lineno, line


def _parse(raw: bytes, path: Path, lineno: int) -> dict[str, Any]:
    try:
        row = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise DataError(f"{path}:{lineno}: not valid JSON (truncated or corrupted line)") from None
    if not isinstance(row, dict):
        raise DataError(f"{path}:{lineno}: an event row must be a JSON object")
    return row


def _row_time(row: Mapping[str, Any], path: Path, lineno: int) -> datetime:
    ts = row.get("timestamp")
    if not isinstance(ts, str):
        raise DataError(f"{path}:{lineno}: event has no timestamp")
    try:
        return parse_timestamp(ts)
    except ValueError:
        raise DataError(f"{path}:{lineno}: unreadable timestamp {ts!r}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the gzip stream ends early: truncated file"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
