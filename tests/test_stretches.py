"""Pass 2 reads only the blocks that can hold rows in a selected run's window: the same
results as reading every block, for kept text, a `.gz` file read again from resume
points and a plain `.jsonl`; nothing passed over in an unsorted file; damaged lines."""

from __future__ import annotations

import gzip
import io
import json
import random
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llmc_checks._values import parse_timestamp
from llmc_checks.model import STAT_FIELDS, BaselineRequest, DataError, Loaded, RunRequest
from llmc_checks.sources import _blocks, _stretches, snapshot
from llmc_checks.sources.snapshot import SnapshotSource
from llmc_checks.synth import Scenario, generate, write_rows

Row = dict[str, Any]
PREVIOUS = BaselineRequest("previous")


def request(semantics: str) -> RunRequest:
    return RunRequest(
        level="trace",
        job=None,
        lookback=timedelta(days=3650),
        baselines=(PREVIOUS,),
        stats=frozenset(STAT_FIELDS),
        semantics=semantics,  # type: ignore[arg-type]
    )


def synth_rows(shuffled: bool = False) -> list[Row]:
    """Six daily runs with two-day windows over eight days of traffic, time-sorted (or
    not): the latest run and the previous one read about three days of it."""
    rows = generate(Scenario(days=6, traces_per_day=25, lookback_days=2, tail_hours=24)).rows
    rows = sorted(rows, key=lambda row: parse_timestamp(row["timestamp"]))
    if shuffled:
        random.Random(7).shuffle(rows)
    return rows


class Reading:
    """Small steps, so a small file makes many blocks and resume points; numpy's blocks
    (the ones that know their time range); records what pass 2 read."""

    def __init__(self, patch: pytest.MonkeyPatch, mode: str) -> None:
        patch.setattr(_blocks, "PLAIN_MAX", -1)
        patch.setattr(_blocks, "_GZIP_READ_SIZE", 1 << 10)
        patch.setattr(_blocks, "_READ_SIZE", 4 << 10)
        patch.setattr(_stretches, "_SPACING_MIN", 16 << 10)
        patch.setattr(_blocks, "_KEEP_MAX", (1 << 30) if mode == "kept" else 0)
        self.probed = 0  # blocks pass 2 probed
        self.inflated = 0  # text pass 2 inflated
        # Where inflating started without making resume points (pass 2; pass 1 too when
        # the text is kept).
        self.opened: list[int | None] = []
        self.needed: list[bool] = []
        fold_blocks = snapshot._fold_blocks

        def counting_fold(numbered: Any, fold: Any, probe: Any) -> None:
            def counted() -> Any:
                for item in numbered:
                    self.probed += 1
                    yield item

            fold_blocks(counted(), fold, probe)

        inflate_marked = snapshot.inflate_marked

        def counting_inflate(fh: Any, resume: Any = None, spacing: Any = None) -> Any:
            if spacing is None:
                self.opened.append(resume.offset if resume is not None else None)
            for text, mark in inflate_marked(fh, resume, spacing):
                if spacing is None:
                    self.inflated += len(text)
                yield text, mark

        self.texts: list[bytes] = []  # the blocks pass 1 read
        record = _stretches.Stretches.record

        def keeping_texts(stretches: Any, marked: Any) -> Any:
            for block in record(stretches, marked):
                self.texts.append(block.text)
                yield block

        needed = _stretches.Stretches.needed

        def recording_needed(stretches: Any, windows: Any) -> list[bool]:
            self.needed = needed(stretches, windows)
            return self.needed

        patch.setattr(snapshot, "_fold_blocks", counting_fold)
        patch.setattr(snapshot, "inflate_marked", counting_inflate)
        patch.setattr(_stretches.Stretches, "needed", recording_needed)
        patch.setattr(_stretches.Stretches, "record", keeping_texts)


def load_both(
    path: Path, semantics: str, mode: str, patch: pytest.MonkeyPatch
) -> tuple[Loaded, Loaded, Reading]:
    """The file loaded with every block read, then passing over what cannot matter."""
    with patch.context() as inner:
        Reading(inner, mode)
        inner.setattr(
            _stretches.Stretches, "needed", lambda self, windows: [True] * len(self.blocks)
        )
        everything = SnapshotSource(path).load(request(semantics))
    with patch.context() as inner:
        reading = Reading(inner, mode)
        skipping = SnapshotSource(path).load(request(semantics))
    return everything, skipping, reading


MODES = [("gz", "resume"), ("gz", "kept"), ("jsonl", "plain")]


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
@pytest.mark.parametrize(("suffix", "mode"), MODES)
def test_a_time_sorted_file_gives_the_same_results_reading_a_part_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, semantics: str, suffix: str, mode: str
) -> None:
    path = tmp_path / ("events.jsonl.gz" if suffix == "gz" else "events.jsonl")
    write_rows(synth_rows(), path)
    everything, skipping, reading = load_both(path, semantics, mode, monkeypatch)
    assert skipping == everything
    assert skipping.latest.clusters[0].stats is not None
    # It did pass over blocks: fewer probed than recorded, and (read again from
    # resume points) less text inflated than the file holds.
    blocks = len(reading.needed)
    assert 0 < reading.probed == sum(reading.needed) < blocks * 0.7
    text = len(gzip.decompress(path.read_bytes())) if suffix == "gz" else path.stat().st_size
    if mode == "resume":
        assert reading.opened and reading.opened[0] is not None  # not from the start
        assert 0 < reading.inflated < text * 0.7
    elif mode == "kept":
        assert reading.opened == [None]  # pass 1's reading alone: pass 2 read the kept text


@pytest.mark.parametrize(("suffix", "mode"), MODES)
def test_an_unsorted_file_is_read_nearly_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, mode: str
) -> None:
    path = tmp_path / ("events.jsonl.gz" if suffix == "gz" else "events.jsonl")
    write_rows(synth_rows(shuffled=True), path)
    everything, skipping, reading = load_both(path, "ui", mode, monkeypatch)
    assert skipping == everything
    # Nearly every block is read: rows of every day are in each. A block passed over
    # (the long lines of clustering events make a few blocks of one to three lines)
    # holds only rows outside both runs' windows, as parsing them shows.
    assert len(reading.texts) == len(reading.needed) > 20
    assert reading.probed == sum(reading.needed) > 0.9 * len(reading.needed)
    windows = [
        (r.window_start, r.window_end) for r in (skipping.latest, *skipping.baselines[PREVIOUS])
    ]
    for text, needed in zip(reading.texts, reading.needed, strict=True):
        if not needed:
            for line in text.splitlines():
                at = parse_timestamp(json.loads(line)["timestamp"])
                assert not any(start <= at <= end for start, end in windows)


def write_with(rows: list[Row], path: Path, at: int, line: bytes) -> int:
    """`rows` written with `line` put in before row `at`; its line number."""
    tmp = path.with_suffix(".tmp.jsonl")
    write_rows(rows, tmp)
    lines = tmp.read_bytes().splitlines(keepends=True)
    lines.insert(at, line)
    tmp.unlink()
    with gzip.open(path, "wb") as fh:
        fh.write(b"".join(lines))
    return at + 1


def selected_trace(loaded: Loaded) -> str:
    return sorted(loaded.latest.clusters[0].item_ids)[0]


def test_a_damaged_line_outside_every_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = synth_rows()
    path = tmp_path / "events.jsonl.gz"
    write_rows(rows, path)
    good, _, reading = load_both(path, "ui", "resume", monkeypatch)
    assert not reading.needed[0]  # the file's first rows are before every window
    trace = selected_trace(good)
    first = rows[0]["timestamp"]
    # A line cut short: pass 1's shape check fails it, as before.
    lineno = write_with(
        rows, path, 3, b'{"event":"$ai_generation","timestamp":"' + first.encode() + b"\n"
    )
    with monkeypatch.context() as patch:
        Reading(patch, "resume")
        with pytest.raises(DataError, match=rf":{lineno}: not a JSON object"):
            SnapshotSource(path).load(request("ui"))
    # A row of a selected item, shaped like an object but not valid JSON, written
    # before every window: pass 2 no longer reads its stretch, so it is not reported;
    # inside a window it still is.
    damaged = b'{"event":"$ai_generation","timestamp":"%s","properties":{"$ai_trace_id":"%s",}}\n'
    write_with(rows, path, 3, damaged % (first.encode(), trace.encode()))
    with monkeypatch.context() as patch:
        Reading(patch, "resume")
        assert SnapshotSource(path).load(request("ui")) == good
    window_end = good.latest.window_end.isoformat().encode()
    inside = next(i for i, r in enumerate(rows) if r["timestamp"] >= window_end.decode()) - 1
    lineno = write_with(rows, path, inside, damaged % (window_end, trace.encode()))
    with monkeypatch.context() as patch:
        Reading(patch, "resume")
        with pytest.raises(DataError, match=rf":{lineno}: not valid JSON"):
            SnapshotSource(path).load(request("ui"))


def test_resume_points_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "events.jsonl.gz"
    write_rows(synth_rows(), path)
    everything, _, _ = load_both(path, "ui", "resume", monkeypatch)
    recorded: list[_stretches.Stretches] = []
    record = _stretches.Stretches.record

    def keeping(self: _stretches.Stretches, marked: Any) -> Any:
        recorded.append(self)
        return record(self, marked)

    with monkeypatch.context() as patch:
        Reading(patch, "resume")
        patch.setattr(_stretches, "_SPACING_MIN", 1)  # a resume point at every chunk
        patch.setattr(_stretches, "RESUME_POINTS_MAX", 5)
        patch.setattr(_stretches.Stretches, "record", keeping)
        assert SnapshotSource(path).load(request("ui")) == everything
    points = [r.resume for r in recorded[0].blocks if r.resume is not None]
    assert 3 <= len(points) <= 5
    assert len(recorded[0].blocks) > 20


def test_a_resume_point_costs_about_an_inflaters_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_blocks, "_GZIP_READ_SIZE", 4 << 10)
    rng = random.Random(3)
    text = b"".join(b'{"n":%d,"x":"%x"}\n' % (i, rng.getrandbits(256)) for i in range(20_000))
    fh = io.BytesIO(gzip.compress(text))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        marks = [m for _, m in _blocks.inflate_marked(fh, spacing=1) if m is not None][:8]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(marks) == 8
    assert held / len(marks) < 64 << 10  # zlib's 32 KB window and its state


@pytest.mark.parametrize("members", [1, 3])
def test_inflating_from_a_resume_point_gives_the_same_blocks(
    monkeypatch: pytest.MonkeyPatch, members: int
) -> None:
    monkeypatch.setattr(_blocks, "_GZIP_READ_SIZE", 512)
    rng = random.Random(members)
    lines = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * rng.randint(0, 300)) for i in range(3000)]
    parts = [b"\n".join(lines[i::members]) + b"\n" for i in range(members)]
    data = b"".join(gzip.compress(part, compresslevel=rng.choice([1, 6, 9])) for part in parts)
    first = list(_blocks.whole_lines_marked(_blocks.inflate_marked(io.BytesIO(data), spacing=2000)))
    assert b"".join(block for block, _ in first) == b"".join(parts)
    resumed = [index for index, (_, mark) in enumerate(first) if mark is not None]
    assert len(resumed) > 10
    for index in resumed:
        mark = first[index][1]
        assert mark is not None
        again = _blocks.whole_lines_marked(
            _blocks.inflate_marked(io.BytesIO(data), mark), mark.carry
        )
        assert [block for block, _ in again] == [block for block, _ in first[index:]]
    # A resume point's inflater is copied for each use: the same point twice.
    mark = first[resumed[0]][1]
    assert mark is not None
    twice = [
        list(_blocks.whole_lines_marked(_blocks.inflate_marked(io.BytesIO(data), mark), mark.carry))
        for _ in range(2)
    ]
    assert twice[0] == twice[1]


def test_a_block_knows_its_time_range_only_when_every_row_shows_its_time() -> None:
    from llmc_checks.sources._numpy_blocks import NumpyBlock
    from llmc_checks.sources._plain_blocks import PlainBlock

    rows = [
        b'{"timestamp":"2026-11-02T10:00:00.000000+00:00","p":{"timestamp":"2026-11-01T00:00:00.000000+00:00"}}',
        b'{"timestamp":"2026-11-03T10:00:00.000000+00:00"}',
    ]
    text = b"\n".join(rows)
    assert NumpyBlock(text).time_range() == (
        b"2026-11-01T00:00:00.000000+00:00",
        b"2026-11-03T10:00:00.000000+00:00",
    )
    assert PlainBlock(text).time_range() is None  # the plain reader does not tell
    one_a_line = rows[1] + b"\n" + rows[1].replace(b"-03T", b"-04T")
    assert NumpyBlock(one_a_line).time_range() == (
        b"2026-11-03T10:00:00.000000+00:00",
        b"2026-11-04T10:00:00.000000+00:00",
    )
    for other in [
        b'{"event":"$ai_span"}',  # a row without a timestamp
        b'{"t\\u0069mestamp":"2026-11-09T00:00:00.000000+00:00"}',  # its key escaped
        b'{"timestamp":"2026-11-09T00:00:00Z"}',  # written otherwise
        b'{"timestamp":"2026-11-09T00:00:00.000000+01:00"}',  # another offset
        b'{"timestamp":"2026-11-09T00:00:00.00000\\u0030+00:00"}',  # escaped value
    ]:
        assert NumpyBlock(text + b"\n" + other).time_range() is None, other


def test_byte_order_is_trusted_as_time_order_only_for_calendar_dates() -> None:
    """ISO week dates with offsets (which parse_timestamp reads) put the offset at index
    10, where the one-offset test did not look: "+2359" sorts after "+2300" in bytes but
    is the earlier time, so a block's range came out reversed and was passed over (a
    review lost every in-window row of such a file)."""
    from llmc_checks.sources._numpy_blocks import NumpyBlock

    late, early = "2026W47T00+2300", "2026W47T00+2359"  # 01:00Z and 00:01Z
    assert parse_timestamp(late) > parse_timestamp(early)
    text = b"\n".join(
        b'{"timestamp":"%s","event":"$ai_generation"}' % value.encode() for value in (late, early)
    )
    assert NumpyBlock(text).time_range() is None
    assert NumpyBlock(text).newest_timestamp() is None  # the regex decides "now"
    assert not _blocks.calendar_form(b"0000W00T00+0000")
    assert not _blocks._one_shape([late.encode(), early.encode()])
    assert _blocks._one_shape([b"2026-11-09T00:00:00Z", b"2026-11-10T00:00:00Z"])


def test_a_block_is_needed_when_its_span_meets_a_window_ends_included() -> None:
    from datetime import datetime, timezone

    def at(hour: int, micro: int = 0) -> datetime:
        return datetime(2026, 11, 10, hour, 0, 0, micro, tzinfo=timezone.utc)

    stretches = _stretches.Stretches(lambda value: None)
    spans = [
        (at(0), at(1)),  # before
        (at(1), at(2)),  # ends at the start
        (at(3, 1), at(4)),  # inside
        (at(5), at(6)),  # starts at the end (the page counts it)
        (at(6, 1), at(7)),  # after
        None,  # not known
    ]
    stretches.blocks = [_stretches.BlockRecord(1, span, None) for span in spans]
    assert stretches.needed([(at(2), at(5))]) == [False, True, True, True, False, True]
    assert stretches.needed([]) == [False] * 5 + [True]
