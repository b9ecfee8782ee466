"""The offline source: PostHog event rows from a file, read as a stream.

`.jsonl` and `.jsonl.gz` are streamed line by line (a 600k-event file never sits
in memory); a `.json` array is loaded whole. Two passes: the first reads only the
clustering events to select runs; the second, needed only when a check wants
per-item metrics the runs don't carry baked, folds AI events into item totals.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
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
        history = tuple(metrics.trend_run(build_run(e, self._where(e))) for e in selection.history)
        latest = by_id[selection.latest.run_id]
        return Loaded(now=now, latest=latest, baselines=baselines, history=history)

    def _where(self, event: RunEvent) -> str:
        return f"{self.path.name} ({event.run_id})"

    def _scan_runs(self) -> tuple[list[RunEvent], datetime]:
        scan = _RunScan(self.path)
        if self._line_file():
            try:
                _scan_blocks(self._text_blocks(), scan)
            except _Irregular:
                # An unusual or damaged gzip stream: start over with the gzip module,
                # whose reading (and error) is the reference.
                scan = _RunScan(self.path)
                for lineno, raw in self._lines():
                    scan.visit(lineno, raw)
        else:
            for lineno, raw in self._lines():
                scan.visit(lineno, raw)
        if not scan.events:
            raise NoRunFound(f"{self.path}: no clustering events ($ai_*_clusters) in the snapshot")
        newest = max(e.emitted_at for e in scan.events)
        return scan.events, scan.marker if scan.marker is not None else newest

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
        fold = _EventFold(self.path, level, windows, owners, len(runs))
        if self._line_file() and level in _ITEM_KEYS:
            try:
                _fold_blocks(self._text_blocks(), fold, _ITEM_KEYS[level], owners)
                return fold.totals
            except _Irregular:
                fold = _EventFold(self.path, level, windows, owners, len(runs))
        for lineno, raw in self._lines():
            fold.visit(lineno, raw)
        return fold.totals

    def _line_file(self) -> bool:
        return not self.path.name.endswith(".json")

    def _text_blocks(self) -> Iterator[bytes]:
        """The file's text in blocks of whole lines (the last may lack its newline).

        Same bytes as `_lines` sees, read in large steps: a `.gz` file is inflated with
        zlib directly; anything the gzip module would treat differently (a damaged or
        unusual stream) raises `_Irregular` so the caller can fall back to `_lines`.
        """
        try:
            with open(self.path, "rb") as fh:
                chunks = _inflate(fh) if self.path.name.endswith(".gz") else _read(fh)
                yield from _whole_lines(chunks)
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read snapshot ({_reason(exc)})") from None

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
        line = _checked(raw, path, lineno)
        if line:
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


# --- line files, fast: blocks of whole lines and bytes searches -------------------------
#
# Both passes read `.jsonl` / `.jsonl.gz` in blocks of whole lines and use C-level bytes
# operations to find the few lines a pass must parse; every line they do parse goes
# through the same per-line code as before (`_RunScan.visit`, `_EventFold.visit`), so the
# results, and the errors, are those of the line-by-line reading. What is not parsed:
# pass 1 parses only lines holding a hint (as before); pass 2 no longer parses AI events
# whose item id, read with a bytes search, is not among the selected runs' items.

_READ_SIZE = 1 << 20  # bytes read, or inflated, per step
_MAX_INFLATE = 1 << 26  # at most this much text from one step of compressed input
_GZIP_MAGIC = b"\x1f\x8b"
# Where pass 2 reads a row's item id: trace level, the `$ai_trace_id` property;
# generation level, the row's `uuid`. Always a key followed by a string.
_ITEM_KEYS: Mapping[str, bytes] = {"trace": b'"$ai_trace_id"', "generation": b'"uuid"'}


class _Irregular(Exception):
    """The fast gzip reader met a stream it does not read exactly like the gzip module
    (damaged, truncated or unusual): the pass starts over with the gzip module."""


class _RunScan:
    """Pass 1, per line: collect the clustering events and the snapshot marker."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[RunEvent] = []
        self.marker: datetime | None = None

    def visit(self, lineno: int, raw: bytes) -> None:
        """`raw`: a stripped line that passed the shape check."""
        if _CLUSTER_HINT in raw:
            row = _parse(raw, self.path, lineno)
            if row.get("event") in CLUSTER_EVENTS:
                self.events.append(read_run_event(row, f"{self.path.name}:{lineno}"))
        elif _MARKER_HINT in raw:
            row = _parse(raw, self.path, lineno)
            if row.get("event") == SNAPSHOT_MARKER:
                self.marker = _row_time(row, self.path, lineno)


class _EventFold:
    """Pass 2, per line: fold an AI event into the totals of every selected run it is in."""

    def __init__(
        self,
        path: Path,
        level: Level,
        windows: list[tuple[int, int]],
        owners: Mapping[str, list[int]],
        runs: int,
    ) -> None:
        self.path = path
        self.level = level
        self.windows = windows
        self.owners = owners
        self.totals: list[dict[str, metrics.Totals]] = [{} for _ in range(runs)]

    def visit(self, lineno: int, raw: bytes) -> None:
        """`raw`: a stripped line that passed the shape check."""
        if not any(hint in raw for hint in _AI_HINTS):
            return
        row = _parse(raw, self.path, lineno)
        event = row.get("event")
        if event not in metrics.AI_EVENTS:
            return
        props = row.get("properties")
        if isinstance(props, str):
            props = _parse(props.encode(), self.path, lineno)
        if not isinstance(props, dict):
            raise DataError(f"{self.path}:{lineno}: properties is not an object")
        key = metrics.item_key(self.level, event, row, props)
        runs_of_item = self.owners.get(key) if key is not None else None
        if runs_of_item is None or key is None:
            return
        at = epoch_us(_row_time(row, self.path, lineno))
        for index in runs_of_item:
            start, end = self.windows[index]
            if start <= at < end:
                totals = self.totals[index]
                item_totals = totals.get(key)
                if item_totals is None:
                    item_totals = totals[key] = metrics.new_totals()
                metrics.add_event(item_totals, event, props)


def _scan_blocks(blocks: Iterable[bytes], scan: _RunScan) -> None:
    """Pass 1 over blocks of whole lines: the shape check, then only the hinted lines."""
    lineno = 1
    for block in blocks:
        lines = block.split(b"\n")
        if not lines[-1]:
            lines.pop()
        if all(map(bytes.startswith, lines, repeat(b"{"))) and all(
            map(bytes.endswith, lines, repeat(b"}"))
        ):
            # Every line is a non-blank "{...}" that strip() leaves alone.
            for index in _lines_holding(block, (_CLUSTER_HINT, _MARKER_HINT)):
                scan.visit(lineno + index, lines[index])
        else:
            for index, line in enumerate(lines):
                raw = _checked(line, scan.path, lineno + index)
                if raw:
                    scan.visit(lineno + index, raw)
        lineno += len(lines)


def _lines_holding(block: bytes, needles: Iterable[bytes]) -> list[int]:
    """Indexes (in order) of the block's lines that contain any of `needles`."""
    starts: set[int] = set()
    for needle in needles:
        at = block.find(needle)
        while at >= 0:
            starts.add(block.rfind(b"\n", 0, at) + 1)
            end = block.find(b"\n", at)
            if end < 0:
                break
            at = block.find(needle, end)
    indexes: list[int] = []
    seen = counted = 0
    for start in sorted(starts):
        counted += block.count(b"\n", seen, start)
        seen = start
        indexes.append(counted)
    return indexes


def _fold_blocks(
    blocks: Iterable[bytes], fold: _EventFold, key: bytes, owners: Mapping[str, object]
) -> None:
    """Pass 2 over blocks of whole lines: parse only the lines that may be selected items.

    A line is passed over unparsed when its item id, read with bytes searches, is not a
    selected item, and only where that reading is certain: the key is written
    `"key":"id"` (or `"key": "id"`), the line holds the key exactly once (checked per
    block: key occurrences = lines where it was found) and no backslash (no escape can
    hide a key or change an id). Every other line is parsed as before. An id is
    compared as raw bytes; with ids of one length, by a slice of that length (a longer
    id sharing the prefix is merely parsed).
    """
    wanted = {item.encode("utf-8", "surrogatepass") for item in owners}
    lengths = {len(item) for item in wanted}
    width = lengths.pop() if len(lengths) == 1 else 0
    tight, spaced = key + b':"', key + b': "'
    lineno = 1
    for block in blocks:
        lines = block.split(b"\n")
        if not lines[-1]:
            lines.pop()
        pattern = tight if tight in block or spaced not in block else spaced
        picks, unkeyed = _pick(lines, pattern, wanted, width, b"\\" in block)
        if block.count(key) != len(lines) - unkeyed:
            picks = list(range(len(lines)))  # a line holds the key twice, or in another form
        for index in picks:
            raw = lines[index].strip()
            if raw:
                fold.visit(lineno + index, raw)
        lineno += len(lines)


def _pick(
    lines: list[bytes], pattern: bytes, wanted: set[bytes], width: int, escapes: bool
) -> tuple[list[int], int]:
    """The lines to parse, and how many of them lack `pattern` altogether."""
    picks: list[int] = []
    unkeyed = 0
    skip = len(pattern)
    if width:
        stop = skip + width
        for index, line in enumerate(lines):
            at = line.find(pattern)
            if at < 0:
                unkeyed += 1
                picks.append(index)
            elif line[at + skip : at + stop] in wanted or (escapes and b"\\" in line):
                picks.append(index)
    else:
        for index, line in enumerate(lines):
            at = line.find(pattern)
            if at < 0:
                unkeyed += 1
                picks.append(index)
            else:
                at += skip
                if line[at : line.find(b'"', at)] in wanted or (escapes and b"\\" in line):
                    picks.append(index)
    return picks, unkeyed


def _read(fh: IO[bytes]) -> Iterator[bytes]:
    while chunk := fh.read(_READ_SIZE):
        yield chunk


def _inflate(fh: IO[bytes]) -> Iterator[bytes]:
    """A gzip file's text: members one after another, zero padding between them allowed
    (as the gzip module reads it); `_Irregular` for anything else."""
    data = fh.read(_READ_SIZE)
    if not data:
        return
    while True:
        while len(data) < len(_GZIP_MAGIC) and (more := fh.read(_READ_SIZE)):
            data += more
        if not data.startswith(_GZIP_MAGIC):
            raise _Irregular
        inflater = zlib.decompressobj(wbits=31)
        while not inflater.eof:
            if not data:
                data = fh.read(_READ_SIZE)
                if not data:
                    raise _Irregular  # truncated
            try:
                text = inflater.decompress(data, _MAX_INFLATE)
            except zlib.error:
                raise _Irregular from None
            data = inflater.unconsumed_tail
            if text:
                yield text
        data = inflater.unused_data.lstrip(b"\0")
        while not data:
            more = fh.read(_READ_SIZE)
            if not more:
                return
            data = more.lstrip(b"\0")


def _whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut chunks into blocks of whole lines; the last block may lack its newline."""
    carry: list[bytes] = []
    for chunk in chunks:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            carry.append(chunk)
            continue
        head = chunk[:cut] if cut < len(chunk) else chunk
        if carry:
            carry.append(head)
            head = b"".join(carry)
            carry = []
        if cut < len(chunk):
            carry.append(chunk[cut:])
        yield head
    if carry:
        yield b"".join(carry)


def _checked(line: bytes, path: Path, lineno: int) -> bytes:
    """The stripped line ("" when blank); an error unless it looks like a JSON object."""
    line = line.strip()
    if line and not (line.startswith(b"{") and line.endswith(b"}")):
        raise DataError(f"{path}:{lineno}: not a JSON object (truncated or corrupted line)")
    return line
