"""The offline source: PostHog event rows from a file, read as a stream.

`.jsonl` and `.jsonl.gz` are streamed in blocks of whole lines; a `.json` array is
loaded whole. Two passes: the first reads only the clustering events to select runs;
the second, needed only when a check wants per-item metrics the runs don't carry
baked, folds AI events into item totals.

Speed: both passes find the lines they must parse with the block readers of
`_blocks` (pass 2 parses only the lines of selected items). Whatever is parsed goes
through the per-line code (`_RunScan.visit`, `_EventFold.visit`), so results and
errors are those of reading line by line. Lines no pass parses are shape-checked and
the last line is always parsed, so a file cut short fails; a damaged line in the
middle that belongs to no selected item is not reported (it cannot change a result),
nor one in a block pass 2 passes over because all its rows lie outside every selected
window (`_stretches`).
"""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson

from llmc_checks import metrics
from llmc_checks._values import epoch_us, parse_timestamp
from llmc_checks.model import (
    CLUSTER_EVENTS,
    DataError,
    Level,
    Loaded,
    NoRunFound,
    Run,
    RunRequest,
    Semantics,
)
from llmc_checks.runs import (
    RunEvent,
    build_run,
    deduplicate,
    lenient_properties,
    read_run_event,
    select_runs,
)
from llmc_checks.sources._blocks import (
    Block,
    Irregular,
    ItemProbe,
    KeptText,
    Kinds,
    ResumePoint,
    block_timestamps,
    gc_paused,
    gzip_text_size,
    inflate_marked,
    kinds_for,
    newest_first,
    read_ahead,
    read_chunks,
    timestamps,
    whole_lines,
    whole_lines_marked,
    worth_keeping,
)
from llmc_checks.sources._stretches import Stretches, spacing_for

# Marks when a snapshot was recorded; its timestamp is the snapshot's "now".
SNAPSHOT_MARKER = "$llmc_snapshot"

_CLUSTER_HINT = b'_clusters"'
_MARKER_HINT = SNAPSHOT_MARKER.encode()
_AI_HINTS = tuple(f'"{e}"'.encode() for e in metrics.AI_EVENTS)


_HINTS = (_CLUSTER_HINT, _MARKER_HINT)


@dataclass(frozen=True, slots=True)
class SnapshotSource:
    path: Path

    def describe(self) -> str:
        return f"snapshot {self.path.name}"

    def load(self, request: RunRequest) -> Loaded:
        if not self.path.is_file():
            raise DataError(f"{self.path}: snapshot file not found")
        gzipped_lines = request.stats and self._gzipped() and self._line_file()
        text_size = gzip_text_size(self.path) if gzipped_lines else None
        kept = KeptText() if gzipped_lines and worth_keeping(text_size) else None
        # Pass 2 reads again only blocks that can hold rows in a selected window, and a
        # .gz file not kept is inflated again only from resume points before them.
        stretches = Stretches(_time_or_none) if request.stats and self._line_file() else None
        spacing = spacing_for(text_size) if gzipped_lines and kept is None else None
        events, now = self._scan_runs(kept, stretches, spacing)
        selection = select_runs(deduplicate(events), request, now)
        latest_id = selection.latest.run_id
        runs = [
            build_run(e, self._where(e), members=request.evidence > 0 and e.run_id == latest_id)
            for e in selection.events()
        ]
        runs, totals = self._attach_stats(runs, request, kept, stretches)
        if request.evidence > 0:
            runs = self._attach_evidence(runs, latest_id, totals, request, kept, stretches)
        by_id = {r.run_id: r for r in runs}
        baselines = {
            spec: tuple(by_id[e.run_id] for e in chosen)
            for spec, chosen in selection.baselines.items()
        }
        history = tuple(
            metrics.trend_run(build_run(e, self._where(e)), request.semantics)
            for e in selection.history
        )
        latest = by_id[selection.latest.run_id]
        return Loaded(
            now=now,
            latest=latest,
            baselines=baselines,
            history=history,
            legacy_runs=selection.legacy_runs,
        )

    def export_rows(self, loaded: Loaded) -> Iterator[dict[str, Any]]:
        """The file's rows behind `loaded`, for --llmc-record (two passes, as `load` reads).

        The clustering events of the selected runs and of the trend runs, then (below
        evaluation level) the AI events of the selected runs' items inside their windows;
        trend runs draw on baked stats alone.
        """
        selected = {
            loaded.latest.run_id,
            *(r.run_id for runs in loaded.baselines.values() for r in runs),
        }
        wanted = selected | {r.run_id for r in loaded.history}
        cluster_rows = [
            row
            for row in self._rows()
            if row.get("event") in CLUSTER_EVENTS and _run_id(row) in wanted
        ]
        yield from cluster_rows
        level: Level = loaded.latest.level
        if level == "evaluation":
            return
        # AI events only for the selected runs: trend runs draw on baked stats alone.
        owners = _owners([row for row in cluster_rows if _run_id(row) in selected], self.path)
        for lineno, raw in self._lines():
            row = _parse(raw, self.path, lineno)
            event = row.get("event")
            if event not in metrics.AI_EVENTS:
                continue
            props = lenient_properties(row.get("properties"))
            key = metrics.owned_key(level, owners, str(event), row, props, raw)
            windows = owners.get(key) if key is not None else None
            if not windows:
                continue
            at = epoch_us(parse_timestamp(str(row.get("timestamp"))))
            # Inclusive of the end: what either semantics may read (a replay applies its own).
            if any(start <= at <= end for start, end in windows):
                yield row

    def _rows(self) -> Iterator[dict[str, Any]]:
        """Every event row, parsed: the reader `load` falls back to, line by line."""
        for lineno, raw in self._lines():
            yield _parse(raw, self.path, lineno)

    def _where(self, event: RunEvent) -> str:
        return f"{self.path.name} ({event.run_id})"

    def _scan_runs(
        self,
        kept: KeptText | None = None,
        stretches: Stretches | None = None,
        spacing: int | None = None,
    ) -> tuple[list[RunEvent], datetime]:
        scan = _RunScan(self.path)
        if self._line_file():
            try:
                kinds = self._kinds()
                # `spacing` is set only with `stretches`, which keep the resume points.
                blocks: Iterable[Block] = (
                    stretches.record(self._marked_blocks(kinds, spacing=spacing))
                    if stretches is not None
                    else self._blocks(kinds)
                )
                with gc_paused():
                    _scan_blocks(kept.keep(blocks) if kept is not None else blocks, scan)
            except Irregular:
                # An unusual or damaged gzip stream: start over with the gzip module,
                # whose reading (and error) is the reference.
                scan = _RunScan(self.path)
                for lineno, raw in self._lines():
                    scan.visit_alone(lineno, raw)
        else:
            for lineno, raw in self._lines():
                scan.visit_alone(lineno, raw)
        scan.finish()
        if not scan.events:
            raise NoRunFound(f"{self.path}: no clustering events ($ai_*_clusters) in the snapshot")
        if scan.marker is not None:
            return scan.events, scan.marker
        # No marker: the file's own newest event, of any kind, so that traffic exported
        # days past the last run makes that run stale (run_age_hours).
        newest = max(e.emitted_at for e in scan.events)
        return scan.events, max(newest, scan.newest) if scan.newest is not None else newest

    def _attach_stats(
        self,
        runs: list[Run],
        request: RunRequest,
        kept: KeptText | None = None,
        stretches: Stretches | None = None,
    ) -> tuple[list[Run], dict[str, dict[str, metrics.Totals]]]:
        """The runs with stats, and the item totals by run id when AI events were read."""
        if not request.stats:
            return runs, {}
        # Evaluation-level runs have no AI events to fall back on: what is not baked stays
        # unknown, and only the checks that need it error (formatting.no_value_reason).
        if request.level == "evaluation" or metrics.baked_stands_in(request, runs):
            return [metrics.with_baked_stats(r) for r in runs], {}
        totals = self._fold_events(runs, request.semantics, kept, stretches)
        # Bad data in the latest run is named first, then the others' by run id (the
        # order the live source meets them in).
        latest = len(runs) - 1
        order = sorted(range(len(runs)), key=lambda i: (i != latest, runs[i].run_id))
        with_stats = list(runs)
        try:
            for i in order:
                with_stats[i] = metrics.with_event_stats(runs[i], totals[i])
        except DataError as exc:
            raise DataError(f"{self.path}: {exc}") from None
        return with_stats, {r.run_id: t for r, t in zip(runs, totals, strict=True)}

    def _attach_evidence(
        self,
        runs: list[Run],
        latest_id: str,
        folded: Mapping[str, dict[str, metrics.Totals]],
        request: RunRequest,
        kept: KeptText | None,
        stretches: Stretches | None,
    ) -> list[Run]:
        """The latest run's evidence pools; its items' numbers from the AI events whenever
        a check reads per-item numbers (the live source answers them alike)."""
        out = []
        for run in runs:
            if run.run_id != latest_id:
                out.append(run)
                continue
            totals = folded.get(run.run_id)
            valued = run.level != "evaluation" and bool(request.stats or request.evidence_measures)
            if totals is None and valued:
                totals = self._fold_events([run], request.semantics, kept, stretches)[0]
            out.append(
                metrics.with_candidates(run, totals, request.evidence_measures, request.evidence)
            )
        return out

    def _fold_events(
        self,
        runs: list[Run],
        semantics: Semantics,
        kept: KeptText | None = None,
        stretches: Stretches | None = None,
    ) -> list[dict[str, metrics.Totals]]:
        """One pass over the AI events, folding each into every selected run it falls in."""
        level: Level = runs[0].level
        owners: dict[str, list[int]] = {}
        for index, run in enumerate(runs):
            for cluster in run.clusters:
                for item in cluster.item_ids:
                    owners.setdefault(item, []).append(index)
        bounds = [(r.window_start, r.window_end) for r in runs]
        fold = _EventFold(self.path, level, semantics, bounds, owners, len(runs))
        if self._line_file() and level in _ITEM_KEYS:
            try:
                kinds = self._kinds()
                numbered = self._needed_blocks(kinds, bounds, kept, stretches)
                with gc_paused():
                    probe = kinds.probe(_ITEM_KEYS[level], _as_written(owners))
                    _fold_blocks(numbered, fold, probe)
                return fold.totals
            except Irregular:
                fold = _EventFold(self.path, level, semantics, bounds, owners, len(runs))
        for lineno, raw in self._lines():
            fold.visit(lineno, raw)
        return fold.totals

    def _needed_blocks(
        self,
        kinds: Kinds,
        windows: list[tuple[datetime, datetime]],
        kept: KeptText | None,
        stretches: Stretches | None,
    ) -> Iterator[tuple[int, Block]]:
        """Pass 2's blocks with their first line numbers: those that can hold rows in
        `windows` when pass 1 recorded the file (`stretches`), else all; from the kept
        text, else read again (a `.gz` file from the resume point before them)."""
        replayed = kept.replay() if kept is not None and kept.complete else None
        needed: list[bool] | None = None
        if stretches is not None and stretches.complete:
            needed = stretches.needed(windows)
            if replayed is None and self._gzipped():
                return stretches.read(needed, lambda resume: self._blocks(kinds, resume))
        everything = _numbered(replayed if replayed is not None else self._blocks(kinds))
        if needed is None:
            return everything
        return (numbered for numbered, wanted in zip(everything, needed, strict=True) if wanted)

    def _kinds(self) -> Kinds:
        """The block readers for this file's size (numpy's only for large files)."""
        if self._gzipped():
            return kinds_for(gzip_text_size(self.path))
        try:
            return kinds_for(self.path.stat().st_size)
        except OSError:
            return kinds_for(None)  # reading it will say what is wrong

    def _line_file(self) -> bool:
        return not self.path.name.endswith((".json", ".json.gz"))

    def _gzipped(self) -> bool:
        return self.path.name.endswith(".gz")

    def _blocks(self, kinds: Kinds, resume: ResumePoint | None = None) -> Iterator[Block]:
        """`_marked_blocks` without the resume points."""
        marked = self._marked_blocks(kinds, resume)
        try:
            for block, _ in marked:
                yield block
        finally:
            marked.close()  # stops the reading thread now, not when collected

    def _marked_blocks(
        self, kinds: Kinds, resume: ResumePoint | None = None, spacing: int | None = None
    ) -> Generator[tuple[Block, ResumePoint | None], None, None]:
        """The file's text in blocks of whole lines (the last may lack its newline), from
        the start or (a `.gz` file) from `resume`, each with where inflating can start
        again to give it (every `spacing` bytes of text or more; else None).

        Same bytes as `_lines` sees, read in large steps, by a thread of their own ahead
        of the pass: a `.gz` file is inflated with zlib directly; anything the gzip
        module would treat differently (a damaged or unusual stream) raises `Irregular`
        so the caller can fall back to `_lines`.
        """
        try:
            with open(self.path, "rb") as fh:
                if self._gzipped():
                    marked = whole_lines_marked(
                        inflate_marked(fh, resume, spacing),
                        resume.carry if resume is not None else b"",
                    )
                else:
                    marked = ((text, None) for text in whole_lines(read_chunks(fh)))
                yield from read_ahead((kinds.block(text), mark) for text, mark in marked)
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
            text = gzip.decompress(data) if self._gzipped() else data
            rows = orjson.loads(text)
        except (OSError, EOFError) as exc:
            raise DataError(f"{self.path}: cannot read snapshot ({_reason(exc)})") from None
        except orjson.JSONDecodeError as exc:
            if text.startswith(codecs.BOM_UTF8):
                raise DataError(f"{self.path}: {_BOM_FILE}") from None
            raise DataError(f"{self.path}: not valid JSON ({exc})") from None
        if not isinstance(rows, list):
            raise DataError(f"{self.path}: a .json snapshot must hold an array of event rows")
        # Re-serialised so both file kinds share the same byte-level prefilters.
        for index, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise DataError(f"{self.path}:{index}: an event row must be a JSON object")
            try:
                line = orjson.dumps(row)
            except orjson.JSONEncodeError:  # orjson writes 254 levels; it reads 1,024
                raise DataError(
                    f"{self.path}:{index}: an event row nested too deep for a .json "
                    "snapshot (more than 254 levels; a .jsonl snapshot reads up to 1,024)"
                ) from None
            yield index, line


def _run_id(row: Mapping[str, Any]) -> object:
    return lenient_properties(row.get("properties")).get("$ai_clustering_run_id")


def _owners(cluster_rows: list[dict[str, Any]], path: Path) -> dict[str, list[tuple[int, int]]]:
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


def _time_or_none(value: bytes) -> datetime | None:
    try:
        return parse_timestamp(value.decode())
    except (ValueError, UnicodeDecodeError):
        return None


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

# Where pass 2 reads a row's item id: trace level, the `$ai_trace_id` property;
# generation level, the row's `uuid`. Always a key followed by a string.
_ITEM_KEYS: Mapping[str, bytes] = {"trace": b'"$ai_trace_id"', "generation": b'"uuid"'}
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class _RunScan:
    """Pass 1, per line: collect the clustering events, the snapshot marker and the
    newest event time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[RunEvent] = []
        self.marker: datetime | None = None
        self.newest: datetime | None = None
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

    def visit_alone(self, lineno: int, raw: bytes) -> None:
        """`visit` for a line read on its own (not in a block): its time is seen too."""
        self.visit(lineno, raw)
        self.see_times(raw, newest_first(timestamps(raw), _time_or_none), lambda at: (lineno, raw))

    def see_times(
        self,
        text: bytes,
        candidates: Iterable[bytes],
        line_at: Callable[[int], tuple[int, bytes]],
    ) -> None:
        """Move `newest` to the newest row timestamp in `text` (a line or a block).

        The timestamps are read as bytes (`candidates`: `text`'s timestamp values, newest
        first); only the newest candidate's line is parsed, to confirm the value is its
        row's own `timestamp` and not a nested property (if not, the next candidate is
        tried). `line_at(position)` → (line number, line).
        """
        for value in candidates:
            at = _time_or_none(value)
            if at is None or (self.newest is not None and at <= self.newest):
                return  # newest first: nothing later in this text is newer
            needle = b'"' + value + b'"'
            position = text.find(needle)
            while position >= 0:
                lineno, line = line_at(position)
                if _parse(line.strip(), self.path, lineno).get("timestamp") == value.decode():
                    self.newest = at
                    return
                position = text.find(needle, position + 1)

    def finish(self) -> None:
        # Lines no pass needs are only shape-checked, so parse the last one in full: a
        # file cut short mid-row (an interrupted download or copy) must fail the gate.
        if self.last is not None:
            _parse(self.last[1], self.path, self.last[0])


class _EventFold:
    """Pass 2, per line: fold an AI event into the totals of every selected run it is in.

    `visit` is built once per fold for its level and semantics (`_fold_visitor`): it runs
    for every line pass 2 parses (~57,000 at 600k events), so what can be decided once is.
    """

    def __init__(
        self,
        path: Path,
        level: Level,
        semantics: Semantics,
        windows: list[tuple[datetime, datetime]],
        owners: Mapping[str, list[int]],
        runs: int,
    ) -> None:
        self.totals: list[dict[str, metrics.Totals]] = [{} for _ in range(runs)]
        self.visit = _fold_visitor(path, level, semantics, windows, owners, self.totals)


# Every hint of `_AI_HINTS` starts with this; what follows it in one of them.
_AI_HINT_HEAD = b'"$ai_'
_AI_HINT_TAILS = tuple(hint[len(_AI_HINT_HEAD) :] for hint in _AI_HINTS)


def _fold_visitor(
    path: Path,
    level: Level,
    semantics: Semantics,
    windows: list[tuple[datetime, datetime]],
    owners: Mapping[str, list[int]],
    totals: list[dict[str, metrics.Totals]],
) -> Callable[[int, bytes], None]:
    """`visit(lineno, raw)`: fold the line (stripped, past the shape check) into `totals`
    if it is an AI event of an item in `owners` inside one of its runs' `windows`."""
    key_of = metrics.item_key_reader(level)
    escaped_key_of = metrics.escaped_key_reader(level)
    exact_key_of = metrics.exact_trace_key
    in_window = metrics.window_test(semantics)
    add_event = metrics.event_adder(semantics)
    new_totals = metrics.new_totals
    ai_events = metrics.AI_EVENTS
    hints, head, tails = _AI_HINTS, _AI_HINT_HEAD, _AI_HINT_TAILS
    loads, decode_error = _loads, _JSONDecodeError

    def visit(lineno: int, raw: bytes) -> None:
        # Only lines holding a hint are parsed. The first '"$ai_' is nearly always the
        # event's name, so one short search usually settles it.
        first = raw.find(head)
        if first < 0:
            return
        if not raw.startswith(tails, first + len(head)):
            for hint in hints:
                if hint in raw:
                    break
            else:
                return
        try:
            row = loads(raw)
        except decode_error:
            row = _parse(raw, path, lineno)  # raises the error
        if row.__class__ is not dict:  # orjson makes plain dicts: same as isinstance
            row = _parse(raw, path, lineno)  # raises the error
        event = row.get("event")
        if event not in ai_events:
            return
        props = row.get("properties")
        if props.__class__ is not dict:
            if isinstance(props, str):
                props = _parse(props.encode(), path, lineno)
            if not isinstance(props, dict):
                raise DataError(f"{path}:{lineno}: properties is not an object")
        key = key_of(event, row, props)
        if key is None:
            return
        if key.__class__ is not str:  # `_values.Inexact`: read from the line itself
            key = exact_key_of(raw, key)
            if key is None:
                return
        runs_of_item = owners.get(key)
        if runs_of_item is None:
            # `metrics.owned_key`, inline: the id as plain JSON properties read it, which
            # counts only when the materialized column's reading is no item of the runs.
            key = escaped_key_of(props)
            if key is None:
                return
            runs_of_item = owners.get(key)
            if runs_of_item is None:
                return
        # `_row_time`, inline. Aware datetimes compare exactly (to the microsecond), as
        # epoch_us values would.
        stamp = row.get("timestamp")
        if stamp.__class__ is not str:
            _row_time(row, path, lineno)  # raises the error (orjson makes plain strs)
        try:
            at = parse_timestamp(stamp)
        except ValueError:
            at = _row_time(row, path, lineno)  # raises the error
        for index in runs_of_item:
            start, end = windows[index]
            if in_window(at, start, end):
                by_item = totals[index]
                item_totals = by_item.get(key)
                if item_totals is None:
                    item_totals = by_item[key] = new_totals()
                add_event(item_totals, event, props)

    return visit


def _as_written(items: Iterable[str]) -> list[str]:
    """The selected ids as a line may hold them with no backslash (the probes judge only
    such lines): each item, and for one in ClickHouse's escaped spelling (`owned_key`)
    holding `\\u2028` or `\\u2029`, the id with those two raw, as JSON may write them."""
    out = list(items)
    for item in out[:]:
        if "\\u202" in item:
            out.append(item.replace("\\u2028", "\u2028").replace("\\u2029", "\u2029"))
    return out


def _scan_blocks(blocks: Iterable[Block], scan: _RunScan) -> None:
    """Pass 1 over blocks of whole lines: the shape check, then only the hinted lines."""
    lineno = 1
    for block in blocks:
        if block.well_formed():
            # Every line is a non-blank "{...}" that strip() leaves alone.
            for index in block.lines_holding(_HINTS):
                scan.visit(lineno + index, block.line(index))
        else:
            for index, line in enumerate(block.split()):
                raw = _checked(line, scan.path, lineno + index)
                if raw:
                    scan.visit(lineno + index, raw)
        scan.see_times(
            block.text,
            block_timestamps(block, _time_or_none),
            partial(_line_at, block, lineno),
        )
        lineno += len(block)
        last = _last_line(block)
        if last is not None:
            scan.last = (lineno - len(block) + last[0], last[1])


def _line_at(block: Block, first: int, position: int) -> tuple[int, bytes]:
    index = int(block.line_of(position))  # numpy's is a numpy integer
    return first + index, block.line(index)


def _last_line(block: Block) -> tuple[int, bytes] | None:
    """The block's last non-blank line with its index."""
    for index in range(len(block) - 1, -1, -1):
        line = block.line(index).strip()
        if line:
            return index, line
    return None


def _numbered(blocks: Iterable[Block]) -> Iterator[tuple[int, Block]]:
    """Each block with the line number of its first line."""
    lineno = 1
    for block in blocks:
        yield lineno, block
        lineno += len(block)


def _fold_blocks(numbered: Iterable[tuple[int, Block]], fold: _EventFold, probe: ItemProbe) -> None:
    """Pass 2 over blocks of whole lines (each with its first line number): parse only
    the lines that may be selected items."""
    visit = fold.visit
    for lineno, block in numbered:
        indexes = probe.lines_to_parse(block)
        for index, line in zip(indexes, block.lines_at(indexes), strict=True):
            raw = line.strip()
            if raw:
                visit(lineno + index, raw)


def _checked(line: bytes, path: Path, lineno: int) -> bytes:
    """The stripped line ("" when blank); an error unless it looks like a JSON object."""
    line = line.strip()
    if line and not (line.startswith(b"{") and line.endswith(b"}")):
        raise DataError(f"{path}:{lineno}: {_not_an_object(line, lineno)}")
    return line


def _not_an_object(line: bytes, lineno: int) -> str:
    # A file saved "UTF-8 with BOM" is not damaged: say what it is.
    if not line.startswith(codecs.BOM_UTF8):
        return "not a JSON object (truncated or corrupted line)"
    if lineno == 1:
        return _BOM_FILE
    return (
        "the line starts with a UTF-8 byte order mark (BOM), as where files saved with one "
        "are joined; save them without one"
    )


_BOM_FILE = "the file starts with a UTF-8 byte order mark (BOM); save it without one"
