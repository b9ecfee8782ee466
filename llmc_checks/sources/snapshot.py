"""The offline source: PostHog event rows from a file, read as a stream.

`.jsonl` and `.jsonl.gz` are streamed in blocks of whole lines; a `.json` array is
loaded whole. Two passes: the first reads only the clustering events to select runs;
the second, needed only when a check wants per-item metrics the runs don't carry
baked, folds AI events into item totals.

Speed (benchmarks/bench_snapshot.py): both passes find the lines they must parse with
C-level searches over each block (numpy, bytes.find, re) instead of looking at every
line in Python; pass 2 reads each line's item id as bytes and parses only the lines of
selected items (see `_ItemProbe`). A `.gz` file is inflated with zlib in large steps,
and its text is kept between the passes up to `_KEEP_MAX` bytes (memory stays bounded
whatever the file size). Whatever is parsed goes through the per-line code
(`_RunScan.visit`, `_EventFold.visit`), so results and errors are those of reading
line by line, with one difference: a damaged line of an AI event whose item is not in
a selected run is not parsed, so it is no longer reported.
"""

from __future__ import annotations

import gc
import gzip
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from llmc_checks import metrics
from llmc_checks._values import parse_timestamp
from llmc_checks.model import CLUSTER_EVENTS, DataError, Level, NoRunFound, Run
from llmc_checks.runs import RunEvent, build_run, deduplicate, read_run_event, select_runs
from llmc_checks.sources.base import Loaded, RunRequest

# Marks when a snapshot was recorded; its timestamp is the snapshot's "now".
SNAPSHOT_MARKER = "$llmc_snapshot"

_CLUSTER_HINT = b'_clusters"'
_MARKER_HINT = SNAPSHOT_MARKER.encode()
_AI_HINTS = tuple(f'"{e}"'.encode() for e in metrics.AI_EVENTS)


def _finder(needle: bytes, regex: bool = False) -> Callable[[bytes, int], int]:
    """`(text, start) -> position of needle or -1`; `regex`: search with `re` (faster
    than bytes.find for some needles in JSON text)."""
    if not regex:
        return lambda text, start: text.find(needle, start)
    search = re.compile(re.escape(needle)).search

    def find(text: bytes, start: int) -> int:
        match = search(text, start)
        return match.start() if match is not None else -1

    return find


_HINT_FINDERS = (_finder(_CLUSTER_HINT, regex=True), _finder(_MARKER_HINT))


@dataclass(frozen=True, slots=True)
class SnapshotSource:
    path: Path

    def describe(self) -> str:
        return f"snapshot {self.path.name}"

    def load(self, request: RunRequest) -> Loaded:
        if not self.path.is_file():
            raise DataError(f"{self.path}: snapshot file not found")
        kept = _KeptText() if request.stats and self._gzipped() and self._line_file() else None
        events, now = self._scan_runs(kept)
        selection = select_runs(deduplicate(events), request, now)
        runs = [build_run(e, self._where(e)) for e in selection.events()]
        by_id = {r.run_id: r for r in self._attach_stats(runs, request, kept)}
        baselines = {
            spec: tuple(by_id[e.run_id] for e in chosen)
            for spec, chosen in selection.baselines.items()
        }
        history = tuple(metrics.trend_run(build_run(e, self._where(e))) for e in selection.history)
        latest = by_id[selection.latest.run_id]
        return Loaded(now=now, latest=latest, baselines=baselines, history=history)

    def _where(self, event: RunEvent) -> str:
        return f"{self.path.name} ({event.run_id})"

    def _scan_runs(self, kept: _KeptText | None = None) -> tuple[list[RunEvent], datetime]:
        scan = _RunScan(self.path)
        if self._line_file():
            try:
                blocks = map(_Block, self._text_blocks())
                with _gc_paused():
                    _scan_blocks(kept.keep(blocks) if kept is not None else blocks, scan)
            except _Irregular:
                # An unusual or damaged gzip stream: start over with the gzip module,
                # whose reading (and error) is the reference.
                scan = _RunScan(self.path)
                for lineno, raw in self._lines():
                    scan.visit(lineno, raw)
        else:
            for lineno, raw in self._lines():
                scan.visit(lineno, raw)
        scan.finish()
        if not scan.events:
            raise NoRunFound(f"{self.path}: no clustering events ($ai_*_clusters) in the snapshot")
        newest = max(e.emitted_at for e in scan.events)
        return scan.events, scan.marker if scan.marker is not None else newest

    def _attach_stats(
        self, runs: list[Run], request: RunRequest, kept: _KeptText | None = None
    ) -> list[Run]:
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
        totals = self._fold_events(runs, kept)
        return [metrics.with_event_stats(r, t) for r, t in zip(runs, totals, strict=True)]

    def _fold_events(
        self, runs: list[Run], kept: _KeptText | None = None
    ) -> list[dict[str, metrics.Totals]]:
        """One pass over the AI events, folding each into every selected run it falls in."""
        level: Level = runs[0].level
        owners: dict[str, list[int]] = {}
        for index, run in enumerate(runs):
            for cluster in run.clusters:
                for item in cluster.item_ids:
                    owners.setdefault(item, []).append(index)
        bounds = [(r.window_start, r.window_end) for r in runs]
        fold = _EventFold(self.path, level, bounds, owners, len(runs))
        if self._line_file() and level in _ITEM_KEYS:
            try:
                if kept is not None and kept.complete:
                    blocks = kept.replay()
                else:
                    blocks = map(_Block, self._text_blocks())
                with _gc_paused():
                    _fold_blocks(blocks, fold, _ITEM_KEYS[level], owners)
                return fold.totals
            except _Irregular:
                fold = _EventFold(self.path, level, bounds, owners, len(runs))
        for lineno, raw in self._lines():
            fold.visit(lineno, raw)
        return fold.totals

    def _line_file(self) -> bool:
        return not self.path.name.endswith((".json", ".json.gz"))

    def _gzipped(self) -> bool:
        return self.path.name.endswith(".gz")

    def _text_blocks(self) -> Iterator[bytes]:
        """The file's text in blocks of whole lines (the last may lack its newline).

        Same bytes as `_lines` sees, read in large steps: a `.gz` file is inflated with
        zlib directly; anything the gzip module would treat differently (a damaged or
        unusual stream) raises `_Irregular` so the caller can fall back to `_lines`.
        """
        try:
            with open(self.path, "rb") as fh:
                chunks = _inflate(fh) if self._gzipped() else _read(fh)
                yield from _whole_lines(chunks)
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read snapshot ({_reason(exc)})") from None

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        if not self._line_file():
            yield from self._array_rows()
            return
        opener: Any = gzip.open if self._gzipped() else open
        try:
            with opener(self.path, "rb") as fh:
                yield from _checked_lines(fh, self.path)
        except (OSError, EOFError) as exc:
            raise DataError(f"{self.path}: cannot read snapshot ({_reason(exc)})") from None

    def _array_rows(self) -> Iterator[tuple[int, bytes]]:
        try:
            data = self.path.read_bytes()
            rows = orjson.loads(gzip.decompress(data) if self._gzipped() else data)
        except (OSError, EOFError) as exc:
            raise DataError(f"{self.path}: cannot read snapshot ({_reason(exc)})") from None
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{self.path}: not valid JSON ({exc})") from None
        if not isinstance(rows, list):
            raise DataError(f"{self.path}: a .json snapshot must hold an array of event rows")
        # Re-serialised so both file kinds share the same byte-level prefilters.
        for index, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise DataError(f"{self.path}:{index}: an event row must be a JSON object")
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

_READ_SIZE = 1 << 20  # bytes of a plain file read per step
_GZIP_READ_SIZE = 1 << 18  # bytes of a .gz file inflated per step (~1.5 MB of text)
_MAX_INFLATE = 1 << 26  # at most this much text from one step of compressed input
_KEEP_MAX = 256 << 20  # text of a .gz file kept between the two passes, at most
_GZIP_MAGIC = b"\x1f\x8b"
# Where pass 2 reads a row's item id: trace level, the `$ai_trace_id` property;
# generation level, the row's `uuid`. Always a key followed by a string.
_ITEM_KEYS: Mapping[str, bytes] = {"trace": b'"$ai_trace_id"', "generation": b'"uuid"'}
# Byte values the block readers look for.
_NEWLINE, _OPEN, _CLOSE, _QUOTE, _COLON, _SPACE, _BACKSLASH = b'\n{}": \\'
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class _Irregular(Exception):
    """The fast gzip reader met a stream it does not read exactly like the gzip module
    (damaged, truncated or unusual): the pass starts over with the gzip module."""


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a pass runs: parsing creates many short-lived
    dicts (freed by reference counting, never in cycles), and each collection they
    trigger would also walk every long-lived object (the parsed runs). Restored after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _KeptText:
    """The text of a `.gz` snapshot as pass 1 read it, kept for pass 2 up to `_KEEP_MAX`
    bytes, so that pass 2 need not inflate the file again (inflating is most of the cost
    of reading it). Past the bound nothing is kept and pass 2 reads the file again."""

    def __init__(self) -> None:
        self.blocks: list[_Block] | None = []
        self.size = 0
        self.complete = False

    def keep(self, blocks: Iterable[_Block]) -> Iterator[_Block]:
        for block in blocks:
            if self.blocks is not None:
                self.size += len(block.text)
                if self.size <= _KEEP_MAX:
                    self.blocks.append(block)
                else:
                    self.blocks = None
            yield block
        self.complete = self.blocks is not None

    def replay(self) -> Iterator[_Block]:
        """The kept blocks, each released once used (once only)."""
        blocks, self.blocks, self.complete = self.blocks or [], None, False
        blocks.reverse()
        while blocks:
            yield blocks.pop()


class _RunScan:
    """Pass 1, per line: collect the clustering events and the snapshot marker."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[RunEvent] = []
        self.marker: datetime | None = None
        self.last: tuple[int, bytes] | None = None

    def visit(self, lineno: int, raw: bytes) -> None:
        """`raw`: a stripped line that passed the shape check."""
        self.last = (lineno, raw)
        if _CLUSTER_HINT in raw or _MARKER_HINT in raw:
            row = _parse(raw, self.path, lineno)
            event = row.get("event")
            if event in CLUSTER_EVENTS:
                self.events.append(read_run_event(row, f"{self.path.name}:{lineno}"))
            elif event == SNAPSHOT_MARKER:
                self.marker = _row_time(row, self.path, lineno)

    def finish(self) -> None:
        # Lines no pass needs are only shape-checked, so parse the last one in full: a
        # file cut short mid-row (an interrupted download or copy) must fail the gate.
        if self.last is not None:
            _parse(self.last[1], self.path, self.last[0])


class _EventFold:
    """Pass 2, per line: fold an AI event into the totals of every selected run it is in."""

    def __init__(
        self,
        path: Path,
        level: Level,
        windows: list[tuple[datetime, datetime]],
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
        for hint in _AI_HINTS:
            if hint in raw:
                break
        else:
            return
        try:
            row = _loads(raw)
        except _JSONDecodeError:
            row = _parse(raw, self.path, lineno)  # raises the error
        if row.__class__ is not dict:  # orjson makes plain dicts: same as isinstance
            row = _parse(raw, self.path, lineno)  # raises the error
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
        # Aware datetimes compare exactly (to the microsecond), as epoch_us values would.
        at = _row_time(row, self.path, lineno)
        for index in runs_of_item:
            start, end = self.windows[index]
            if start <= at < end:
                totals = self.totals[index]
                item_totals = totals.get(key)
                if item_totals is None:
                    item_totals = totals[key] = metrics.new_totals()
                metrics.add_event(item_totals, event, props)


def _scan_blocks(blocks: Iterable[_Block], scan: _RunScan) -> None:
    """Pass 1 over blocks of whole lines: the shape check, then only the hinted lines."""
    lineno = 1
    for block in blocks:
        if block.well_formed():
            # Every line is a non-blank "{...}" that strip() leaves alone.
            for index in block.lines_holding(_HINT_FINDERS):
                scan.visit(lineno + index, block.line(index))
        else:
            for index, line in enumerate(block.split()):
                raw = _checked(line, scan.path, lineno + index)
                if raw:
                    scan.visit(lineno + index, raw)
        lineno += len(block)
        last = _last_line(block)
        if last is not None:
            scan.last = (lineno - len(block) + last[0], last[1])


def _last_line(block: _Block) -> tuple[int, bytes] | None:
    """The block's last non-blank line with its index."""
    for index in range(len(block) - 1, -1, -1):
        line = block.line(index).strip()
        if line:
            return index, line
    return None


def _fold_blocks(
    blocks: Iterable[_Block], fold: _EventFold, key: bytes, owners: Iterable[str]
) -> None:
    """Pass 2 over blocks of whole lines: parse only the lines that may be selected items."""
    probe = _ItemProbe(key, owners)
    lineno = 1
    for block in blocks:
        for index in probe.lines_to_parse(block):
            raw = block.line(index).strip()
            if raw:
                fold.visit(lineno + index, raw)
        lineno += len(block)


class _Block:
    """A block of whole lines (the last may lack its newline) and where each line lies."""

    __slots__ = ("bytes", "ends", "starts", "text")

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.bytes = np.frombuffer(text, np.uint8)
        ends = np.flatnonzero(self.bytes == _NEWLINE)
        if not text.endswith(b"\n"):
            ends = np.append(ends, len(text))
        starts = np.empty_like(ends)
        starts[:1] = 0
        starts[1:] = ends[:-1] + 1
        self.starts = starts
        self.ends = ends

    def __len__(self) -> int:
        return len(self.ends)

    def line(self, index: int) -> bytes:
        return self.text[int(self.starts[index]) : int(self.ends[index])]

    def split(self) -> list[bytes]:
        return self.text.split(b"\n")[: len(self)]

    def line_of(self, positions: Any) -> Any:
        """The index of the line holding each byte position (none of them a newline)."""
        return np.searchsorted(self.ends, positions)

    def well_formed(self) -> bool:
        """Every line non-blank, starting with '{' and ending with '}' (no whitespace)."""
        b, starts, ends = self.bytes, self.starts, self.ends
        return bool(
            (ends > starts).all() and (b[starts] == _OPEN).all() and (b[ends - 1] == _CLOSE).all()
        )

    def lines_holding(self, finders: Iterable[Callable[[bytes, int], int]]) -> list[int]:
        """Indexes (in order) of the lines where any of `finders` finds its needle
        (a finder: `(text, start) -> position or -1`, like `bytes.find`)."""
        text, ends = self.text, self.ends
        found: set[int] = set()
        for find in finders:
            at = find(text, 0)
            while at >= 0:
                index = int(self.line_of(at))
                found.add(index)
                at = find(text, int(ends[index]))
        return sorted(found)


class _ItemProbe:
    """Which lines of a block may belong to a selected item, judged without parsing them.

    A line is passed over when its item id, read at the key, is certainly not a selected
    item: the line holds the key exactly once, written `"key":"id"` or `"key": "id"`, and
    no backslash (no escape can hide a key or change an id); the id's bytes, hashed over
    each selected id length, match no selected id. Then either that key is the item key
    and its id is not selected, or the row has no item key at all: the old parse would
    have skipped the line too. Every other line is parsed as before (a hash collision
    merely costs a parse).
    """

    _GROUPS_MAX = 4  # distinct id lengths hashed with numpy; more are compared in Python

    def __init__(self, key: bytes, owners: Iterable[str]) -> None:
        self.key = key
        # Keys are found by a 4-byte anchor (the last four bytes before the closing quote:
        # rarer than the opening ones), compared a word at a time, then checked whole.
        self.anchor_at = len(key) - 5
        self.anchor = np.frombuffer(key[self.anchor_at : self.anchor_at + 4], np.uint32)[0]
        self.key_bytes = np.frombuffer(key, np.uint8)
        self.key_span = np.arange(len(key))
        self.wanted = {item.encode("utf-8", "surrogatepass") for item in owners}
        by_width: dict[int, list[bytes]] = {}
        for item in self.wanted:
            by_width.setdefault(len(item), []).append(item)
        self.groups: list[tuple[Any, Any, Any]] = []
        if len(by_width) <= self._GROUPS_MAX:
            rng = np.random.default_rng(0x11C)
            for width, items in sorted(by_width.items()):
                if not width:
                    continue  # an empty id is never an item key
                span = np.arange(width)
                weights = rng.integers(1, 1 << 63, size=width, dtype=np.uint64) | np.uint64(1)
                table = np.frombuffer(b"".join(items), np.uint8).reshape(len(items), width)
                self.groups.append((span, weights, np.sort(_hash(table, weights))))
        self.in_python = len(by_width) > self._GROUPS_MAX

    def _key_positions(self, block: _Block) -> Any:
        """Where the key starts in the block, in order (overlapping occurrences too)."""
        text, size = block.text, len(block.text)
        found = []
        for offset in range(4):
            words = (size - offset) // 4
            if words > 0:
                word = np.frombuffer(text, np.uint32, count=words, offset=offset)
                found.append(np.flatnonzero(word == self.anchor) * 4 + (offset - self.anchor_at))
        if not found:
            return np.zeros(0, np.int64)
        at = np.concatenate(found)
        at = at[(at >= 0) & (at <= size - len(self.key))]
        whole = (block.bytes[at[:, None] + self.key_span] == self.key_bytes).all(axis=1)
        return np.sort(at[whole])

    def lines_to_parse(self, block: _Block) -> list[int]:
        """Indexes of the block's lines that must be parsed."""
        text, b, key = block.text, block.bytes, self.key
        at = self._key_positions(block)
        key_line = block.line_of(at)
        # The id starts after `":"` or `": "`; anything else cannot be judged.
        after = at + len(key)
        colon = np.take(b, after, mode="clip") == _COLON
        c1 = np.take(b, after + 1, mode="clip")
        tight = colon & (c1 == _QUOTE)
        spaced = colon & (c1 == _SPACE) & (np.take(b, after + 2, mode="clip") == _QUOTE)
        readable = tight | spaced
        judged = np.bincount(key_line, minlength=len(block)) == 1  # the key exactly once
        judged[key_line[~readable]] = False
        if b"\\" in text:
            judged[block.line_of(np.flatnonzero(b == _BACKSLASH))] = False
        mine = judged[key_line]  # the key of each judged line
        id_at, index = (after + 2 + spaced)[mine], key_line[mine]
        if self.in_python:
            hit = np.fromiter(
                (text[at : text.find(b'"', at)] in self.wanted for at in id_at.tolist()),
                bool,
                len(id_at),
            )
        else:
            hit = np.zeros(len(id_at), bool)
            for span, weights, hashes in self.groups:
                window = np.take(b, id_at[:, None] + span, mode="clip")
                hashed = _hash(window, weights)
                slot = np.minimum(np.searchsorted(hashes, hashed), len(hashes) - 1)
                hit |= hashes[slot] == hashed
        judged[index[hit]] = False
        return np.flatnonzero(~judged).tolist()  # type: ignore[no-any-return]


def _hash(rows: Any, weights: Any) -> Any:
    """A 64-bit hash of each row of bytes (wrapping arithmetic)."""
    return (rows.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def _read(fh: IO[bytes]) -> Iterator[bytes]:
    while chunk := fh.read(_READ_SIZE):
        yield chunk


def _inflate(fh: IO[bytes]) -> Iterator[bytes]:
    """A gzip file's text: members one after another, zero padding between them allowed
    (as the gzip module reads it); `_Irregular` for anything else."""
    data = fh.read(_GZIP_READ_SIZE)
    if not data:
        return
    while True:
        while len(data) < len(_GZIP_MAGIC) and (more := fh.read(_GZIP_READ_SIZE)):
            data += more
        if not data.startswith(_GZIP_MAGIC):
            raise _Irregular
        inflater = zlib.decompressobj(wbits=31)
        while not inflater.eof:
            if not data:
                data = fh.read(_GZIP_READ_SIZE)
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
            more = fh.read(_GZIP_READ_SIZE)
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
