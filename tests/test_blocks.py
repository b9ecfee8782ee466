"""The two block readers (plain Python for small files, numpy for large) give the same
answers, and each parses every line of a selected item."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import llmc_cluster, llmc_event, llmc_run_event, llmc_write_jsonl
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llmc_checks._values import parse_timestamp
from llmc_checks.model import DataError, RunRequest
from llmc_checks.sources import _blocks
from llmc_checks.sources._numpy_blocks import NumpyBlock, NumpyProbe
from llmc_checks.sources._plain_blocks import PlainBlock, PlainProbe
from llmc_checks.sources.snapshot import SnapshotSource

KEY = b'"$ai_trace_id"'
IDS = ["t1", "t22", "t333", "ab\u00e9", "t1x", 'q"uote', "back\\slash", ""]
UTC = timezone.utc
REQUEST = RunRequest(
    level="trace", job=None, lookback=timedelta(days=3650), stats=frozenset({"avg_cost_usd"})
)
SELECTABLE = [i for i in IDS if i]  # an empty id is never an item (metrics.item_key)


@st.composite
def rows(draw: st.DrawFn) -> bytes:
    """One line: a JSON row (item key once, twice, nested, missing; tight or spaced
    separators; escapes), or a damaged line."""
    shape = draw(st.sampled_from(["row", "row", "row", "nested", "twice", "none", "blank", "cut"]))
    item = draw(st.sampled_from(IDS))
    props: dict[str, object] = {"$ai_trace_id": item, "n": draw(st.integers(0, 9))}
    if shape == "nested":
        props = {"inner": {"$ai_trace_id": item}}
    elif shape == "twice":
        props["x"] = {"$ai_trace_id": draw(st.sampled_from(IDS))}
    elif shape == "none":
        props = {"other": item}
    row = {"event": "$ai_generation", "properties": props}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
    text = json.dumps(row, separators=separators, ensure_ascii=draw(st.booleans()))
    if shape == "blank":
        text = draw(st.sampled_from(["", "  "]))
    elif shape == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode()


texts = st.lists(rows(), min_size=0, max_size=12).flatmap(
    lambda lines: st.booleans().map(
        lambda trailing: b"\n".join(lines) + (b"\n" if trailing and lines else b"")
    )
)


@settings(max_examples=300, deadline=None)
@given(text=texts, wanted=st.sets(st.sampled_from(SELECTABLE)), position=st.integers(0, 10_000))
def test_plain_and_numpy_blocks_agree(text: bytes, wanted: set[str], position: int) -> None:
    plain, numpy = PlainBlock(text), NumpyBlock(text)
    assert len(plain) == len(numpy)
    assert [plain.line(i) for i in range(len(plain))] == [numpy.line(i) for i in range(len(numpy))]
    some = [i for i in range(len(plain)) if (position >> (i % 12)) & 1]
    assert plain.lines_at(some) == numpy.lines_at(some) == [plain.line(i) for i in some]
    assert plain.split() == numpy.split()
    assert plain.well_formed() == numpy.well_formed()
    for needles in ([b"$ai_generation", b'"n"'], [b'"n"'], [b"$ai_generation"], [b"\\"]):
        assert plain.lines_holding(needles) == numpy.lines_holding(needles)
    if text and b"\n" not in text[position % len(text) : position % len(text) + 1]:
        at = position % len(text)
        assert plain.line_of(at) == int(numpy.line_of(at))

    parsed = PlainProbe(KEY, wanted).lines_to_parse(plain)
    # Each parses every line whose row, as a parser reads it, belongs to a selected item.
    for index in range(len(plain)):
        try:
            row = json.loads(plain.line(index))
        except ValueError:
            continue
        item = row.get("properties", {}).get("$ai_trace_id") if isinstance(row, dict) else None
        if item in wanted:
            assert index in parsed
            assert index in NumpyProbe(KEY, wanted).lines_to_parse(numpy)


@settings(max_examples=300, deadline=None)
@given(text=texts, owners=st.sets(st.sampled_from(IDS)), many_widths=st.booleans())
def test_plain_and_numpy_probes_parse_the_same_lines(
    text: bytes, owners: set[str], many_widths: bool
) -> None:
    # The same lines, so a file gives the same results (and the same errors, for a damaged
    # line) whichever reader its size picks: with a few id lengths (numpy hashes a prefix
    # of each) and with many (numpy compares whole ids in Python).
    groups = -1 if many_widths else PlainProbe.GROUPS_MAX
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NumpyProbe, "_GROUPS_MAX", groups)
        patch.setattr(PlainProbe, "GROUPS_MAX", groups)
        numpy = NumpyProbe(KEY, owners).lines_to_parse(NumpyBlock(text))
        plain = PlainProbe(KEY, owners).lines_to_parse(PlainBlock(text))
    assert plain == numpy


# Lines made to trip a whole-block reading of item ids: keys that overlap or share a
# quote with an id, the key without its opening quote, another separator.
_TRICKY = [
    b'{"$ai_trace_id"$ai_trace_id":"t1"}',
    b'{"$ai_trace_id":"$ai_trace_id":"t1"}',
    b'{"$ai_trace_id":"t22"$ai_trace_id":"t1"}',
    b'{"x$ai_trace_id":"t1","$ai_trace_id":"t333"}',
    b'{"a":"x$ai_trace_id":"t1"}',
    b'{"$ai_trace_id" :"t1"}',
    b'{"$ai_trace_id":  "t1"}',
    b'{"$ai_trace_id":"t1',
    b'{"$ai_trace_id":"t1x"}',
    b'{"$ai_trace_id":"t1\\"}',
    b'{"$ai_trace_id":t1}',
    b'{"$ai_trace_id"}',
]


@st.composite
def probe_blocks(draw: st.DrawFn) -> bytes:
    """Mostly well-written rows, maybe one tricky line: the whole-block reading must
    then either give up or judge every line as the line-by-line reading does."""
    lines = draw(st.lists(rows(), min_size=0, max_size=12))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(_TRICKY)))
    trailing = draw(st.booleans()) and bool(lines)
    return b"\n".join(lines) + (b"\n" if trailing else b"")


@settings(max_examples=500, deadline=None)
@given(text=probe_blocks(), owners=st.sets(st.sampled_from(IDS)), many_widths=st.booleans())
def test_the_plain_probe_reads_a_block_at_once_as_line_by_line(
    text: bytes, owners: set[str], many_widths: bool
) -> None:
    groups = -1 if many_widths else PlainProbe.GROUPS_MAX
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PlainProbe, "GROUPS_MAX", groups)
        probe = PlainProbe(KEY, owners)
    block = PlainBlock(text)
    assert probe.lines_to_parse(block) == probe.line_by_line(block)


@pytest.mark.parametrize("many_widths", [False, True])
def test_the_plain_probe_reads_ordinary_blocks_at_once(many_widths: bool) -> None:
    # The whole-block reading is the fast one: it must not give up on rows as exports
    # write them (one key a line; a row without it; a backslash; spaced separators).
    lines = [
        json.dumps({"event": "$ai_span", "properties": {"$ai_trace_id": item}}).encode()
        for item in ["t1", "t22", "t1x", "t333", "zz", "ab\u00e9"] * 3
    ]
    lines[2] = b'{"event":"$ai_trace_clusters","properties":{"$ai_clusters":"[]"}}'
    lines[4] = b'{"event":"$ai_span","properties":{"$ai_trace_id":"t22","p":"a\\"b"}}'
    lines[5] = b'{"event":"$ai_span","properties":{"$ai_trace_id":"t22","x":{"$ai_trace_id":"t1"}}}'
    text = b"\n".join(lines) + b"\n"
    owners = {"t1", "t333", "ab\u00e9"}
    if many_widths:
        owners |= {"a", "bcdef", "ghijklm", "n2345678"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PlainProbe, "GROUPS_MAX", -1 if many_widths else PlainProbe.GROUPS_MAX)
        probe = PlainProbe(KEY, owners)
    block = PlainBlock(text)
    found = probe._by_block(block)
    assert found is not None
    assert found == probe.line_by_line(block)
    # t1 (and t1x, which it starts, unless whole ids are compared), t333, abé; the
    # clustering row (no key), the escape, the row with two keys.
    starts = [] if many_widths else [8, 14]
    assert found == sorted({0, 2, 3, 4, 5, 6, 9, 11, 12, 15, 17, *starts})


def test_a_damaged_line_reads_alike_whatever_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An id whose string never closes, in a line that still ends in "}" (found in review:
    # the numpy reader skipped it, the plain one failed on it).
    rows = [
        llmc_event("$ai_generation", "2026-11-12T10:00:00Z", {"$ai_trace_id": "t1"}),
        llmc_run_event("1_trace_20261115_001503", [llmc_cluster(0, ["t1", "zz9"])]),
    ]
    path = llmc_write_jsonl(tmp_path / "events.jsonl", rows)
    good = path.read_bytes()
    damaged = (
        b'{"event":"$ai_generation","timestamp":"2026-11-12T10:00:00Z",'
        b'"properties":{"$ai_trace_id":"zz}}\n'
    )
    outcomes = []
    for line in (damaged, damaged.replace(b'"zz}', b'"zz9}')):
        path.write_bytes(line + good)
        for plain_max in (1 << 30, -1):
            monkeypatch.setattr(_blocks, "PLAIN_MAX", plain_max)
            try:
                SnapshotSource(path).load(REQUEST)
                outcomes.append("loaded")
            except DataError as exc:
                outcomes.append(str(exc))
    # "zz" is no selected id: skipped by both; "zz9" is one: both parse it and fail.
    assert outcomes[0] == outcomes[1] == "loaded"
    assert outcomes[2] == outcomes[3] != "loaded"


@pytest.mark.parametrize(
    ("size", "kind"), [(0, PlainBlock), (_blocks.PLAIN_MAX, PlainBlock), (None, NumpyBlock)]
)
def test_numpy_reads_only_large_or_unknown_files(size: int | None, kind: type) -> None:
    assert _blocks.kinds_for(size).block is kind
    assert _blocks.kinds_for(_blocks.PLAIN_MAX + 1).block is NumpyBlock


def test_a_small_snapshot_is_read_without_numpy(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = llmc_write_jsonl(
        tmp_path / "events.jsonl",
        [
            llmc_event("$ai_generation", "2026-11-12T10:00:00Z", {"$ai_trace_id": "t1"}),
            llmc_run_event("1_trace_20261115_001503", [llmc_cluster(0, ["t1"])]),
        ],
    )
    code = (
        "import sys; from datetime import timedelta; from pathlib import Path; "
        "from llmc_checks.model import RunRequest; "
        "from llmc_checks.sources.snapshot import SnapshotSource; "
        "SnapshotSource(Path(sys.argv[1])).load(RunRequest(level='trace', job=None, "
        "lookback=timedelta(days=3650), baselines=(), stats=frozenset({'avg_cost_usd'}))); "
        "print('numpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --- reading ahead in a thread of its own ----------------------------------------------------


class Source:
    """An iterator that records how far it was read, whether it was closed, and which
    thread produced each item; it raises `fail_at`'s error there."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced = 0
        self.closed = False
        self.threads: set[str] = set()
        self.in_flight = threading.Semaphore(0)  # released once per item produced

    def __iter__(self) -> Source:
        return self

    def __next__(self) -> int:
        self.threads.add(threading.current_thread().name)
        if self.produced == self.fail_at:
            raise OSError(5, "Input/output error")
        if self.produced >= self.count:
            raise StopIteration
        self.produced += 1
        self.in_flight.release()
        return self.produced - 1

    def close(self) -> None:
        self.closed = True


def read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "llmc-read-ahead"]


def test_read_ahead_gives_every_item_in_order_from_another_thread() -> None:
    source = Source(50)
    assert list(_blocks.read_ahead(source)) == list(range(50))
    assert source.threads == {"llmc-read-ahead"}
    assert not read_ahead_threads()


def test_read_ahead_raises_a_producers_error_in_its_place() -> None:
    source = Source(10, fail_at=4)
    got = []
    with pytest.raises(OSError, match="Input/output error"):
        for item in _blocks.read_ahead(source):
            got.append(item)
    assert got == [0, 1, 2, 3]
    assert not read_ahead_threads()


def test_read_ahead_stays_at_most_two_items_ahead_and_stops_with_its_reader() -> None:
    source = Source(1000)
    items = _blocks.read_ahead(source)
    assert next(items) == 0
    # The producer makes items 1 and 2 (two ahead of the reader), then waits for room.
    for _ in range(2):
        assert source.in_flight.acquire(timeout=10)
    source.in_flight.acquire()  # item 0
    assert not source.in_flight.acquire(timeout=0.2)
    assert source.produced == 3
    items.close()  # the reader stops early (a pass that met bad data)
    assert not read_ahead_threads()
    assert source.closed
    assert source.produced <= 4


def test_a_pass_that_stops_on_bad_data_leaves_no_thread_behind(tmp_path: Path) -> None:
    rows = [llmc_event("$ai_generation", "2026-11-12T10:00:00Z", {"$ai_trace_id": "t1"})] * 50
    path = llmc_write_jsonl(tmp_path / "events.jsonl", rows)
    path.write_bytes(path.read_bytes() + b'{"event": "$ai_trace_clusters", "cut\n' * 3)
    with pytest.raises(DataError, match=":51: not a JSON object"):
        SnapshotSource(path).load(REQUEST)
    assert not read_ahead_threads()


# --- the newest timestamp of a block, found in C -----------------------------------------------

_ISO = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_FORMATS = [
    lambda t: t.isoformat(),
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),
    lambda t: t.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
    lambda t: t.astimezone(timezone(timedelta(hours=-7))).isoformat(),
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_ISO, st.integers(0, len(_FORMATS) - 1)), min_size=1, max_size=8),
    st.booleans(),
    st.lists(st.sampled_from([b"", b"x", b"2026-13-45", b"1-2"]), max_size=2),
)
def test_newest_first_orders_values_by_time_whatever_their_writing(
    times: list[tuple[datetime, int]], one_format: bool, junk: list[bytes]
) -> None:
    # One writing (byte order is time order, judged without parsing) or mixed ones
    # (parsed): the same order, newest first, unreadable values left out.
    found = [_FORMATS[0 if one_format else how](at).encode() for at, how in times] + junk

    def parse(value: bytes) -> datetime | None:
        try:
            return parse_timestamp(value.decode())
        except ValueError:
            return None

    ordered = list(_blocks.newest_first(found, parse))
    assert len(set(ordered)) == len(ordered)
    readable = {v for v in found if parse(v) is not None}
    assert set(ordered) == readable
    at = [parse(v) for v in ordered]
    assert at == sorted(at, reverse=True)  # type: ignore[type-var]


@st.composite
def timestamp_lines(draw: st.DrawFn, how: int | None) -> bytes:
    """A line with a row timestamp written one of the ways exports write it (`how`, or
    any), maybe a nested one, odd spacing, an escape, or a damaged value."""
    at = draw(_ISO)
    if how is None:
        how = draw(st.integers(0, len(_FORMATS) - 1))
    value = _FORMATS[how](at)
    sep = draw(st.sampled_from(['":"', '":"', '":"', '": "', '" : "', '":  "']))
    value = draw(st.sampled_from([value] * 12 + [value[:-1], "", 'x\\"y', value + "\\n"]))
    line = '{"event":"$pageview","timestamp' + sep + value + '","properties":{'
    if draw(st.booleans()):
        line += '"timestamp":"' + _FORMATS[0](draw(_ISO)) + '",'
    line += '"n":1}}'
    if draw(st.integers(0, 20)) == 0:
        line = line.replace('","properties', '"timestamp":"2026-01-01T00:00:00+00:00","p')
    return line.encode()


def parse_or_none(value: bytes) -> datetime | None:
    try:
        return parse_timestamp(value.decode())
    except (ValueError, UnicodeDecodeError):
        return None


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.none(), st.integers(0, len(_FORMATS) - 1)).flatmap(
        lambda how: st.lists(timestamp_lines(how), min_size=0, max_size=10)
    )
)
def test_both_readers_give_a_blocks_timestamps_in_the_same_order(lines: list[bytes]) -> None:
    # numpy's reader finds the newest without the regex's list when every value is
    # written alike; either way both give the same values in the same order.
    text = b"\n".join(lines)
    plain = list(_blocks.block_timestamps(PlainBlock(text), parse_or_none))
    numpy = list(_blocks.block_timestamps(NumpyBlock(text), parse_or_none))
    assert numpy == plain == list(_blocks.newest_first(_blocks.timestamps(text), parse_or_none))


def test_numpy_finds_the_newest_of_timestamps_written_alike_without_the_list() -> None:
    times = [
        f"2026-11-{day:02d}T{hour:02d}:00:00.000000+00:00" for day in (3, 1, 2) for hour in (7, 23)
    ]
    text = b"\n".join(b'{"timestamp":"%s","p":{}}' % t.encode() for t in times)
    assert NumpyBlock(text).newest_timestamp() == b"2026-11-03T23:00:00.000000+00:00"
    # Another UTC offset: byte order is no longer time order; the list decides.
    mixed = text + b'\n{"timestamp":"2026-11-03T23:00:00.000000+01:00"}'
    assert NumpyBlock(mixed).newest_timestamp() is None
    assert PlainBlock(text).newest_timestamp() is None


# --- numpy's word-at-a-time readings against the rules written out byte by byte ---------

# Ids of 8 bytes or more (numpy hashes them 8 bytes a step, the last word overlapping the
# one before when the length is no multiple of 8), some the start of another.
LONG_IDS = ["trace-0001-abcdef", "trace-0001-abcdeX", "trace-0001", "12345678", "t1", "ab\u00e9"]


@st.composite
def long_id_rows(draw: st.DrawFn) -> bytes:
    item = draw(st.sampled_from(LONG_IDS))
    props: dict[str, object] = {"$ai_trace_id": item}
    if draw(st.integers(0, 5)) == 0:
        props["x"] = {"$ai_trace_id": draw(st.sampled_from(LONG_IDS))}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    text = json.dumps({"event": "$ai_span", "properties": props}, separators=separators)
    if draw(st.integers(0, 5)) == 0:
        text = text[: draw(st.integers(0, len(text)))]  # cut short
    return text.encode()


def _probe_reference(text: bytes, owners: set[str]) -> list[int]:
    """NumpyProbe's rule, line by line: a line is passed over when it holds the key once
    (overlaps counted), then ':"' or ': "', no backslash, and no selected id is the same
    bytes as the id's first bytes of its length (past the text's end, the last byte
    repeated)."""
    wanted = {item.encode() for item in owners if item}
    parse, start = [], 0
    for index, line in enumerate(PlainBlock(text).split()):
        end = start + len(line)
        found = [at for at in range(len(line)) if line.startswith(KEY, at)]
        after = start + found[0] + len(KEY) if len(found) == 1 else -1
        clip = lambda at: text[min(at, len(text) - 1)]  # noqa: E731
        spaced = after >= 0 and clip(after) == ord(":") and clip(after + 1) == ord(" ")
        readable = after >= 0 and clip(after) == ord(":") and clip(after + 1 + spaced) == ord('"')
        judged = readable and b"\\" not in line
        if judged:
            id_at = after + 2 + spaced
            hit = any(
                bytes(clip(at) for at in range(id_at, id_at + len(item))) == item for item in wanted
            )
            judged = not hit
        if not judged:
            parse.append(index)
        start = end + 1
    return parse


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(long_id_rows(), min_size=1, max_size=10),
    owners=st.sets(st.sampled_from(LONG_IDS), min_size=1),
    trailing=st.booleans(),
)
def test_numpy_probe_hashes_long_ids_as_their_bytes_read(
    lines: list[bytes], owners: set[str], trailing: bool
) -> None:
    assume(len({len(item.encode()) for item in owners}) <= 4)  # hashed, not compared in Python
    text = b"\n".join(lines) + (b"\n" if trailing else b"")
    assert NumpyProbe(KEY, owners).lines_to_parse(NumpyBlock(text)) == _probe_reference(
        text, owners
    )


_DIGIT_SWAPS = [b"/", b":", b"x", b" ", b"\x7f"]  # a byte each side of the digits, and more


@st.composite
def timing_lines(draw: st.DrawFn) -> bytes:
    """Lines with timestamps mostly written one way, maybe with a digit swapped for
    another byte (two for a 2-byte letter), or another writing, offset or spacing."""
    how = draw(st.integers(0, len(_FORMATS) - 1))
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        value = _FORMATS[how](draw(_ISO)).encode()
        change = draw(st.integers(0, 12))
        digits = [i for i, c in enumerate(value) if 48 <= c <= 57]
        if change == 0:
            i = draw(st.sampled_from(digits))
            value = value[:i] + draw(st.sampled_from(_DIGIT_SWAPS)) + value[i + 1 :]
        elif change == 1:
            i = draw(st.sampled_from(digits[:-1]))
            value = value[:i] + "é".encode() + value[i + 2 :]
        elif change == 2:
            value = _FORMATS[draw(st.integers(0, len(_FORMATS) - 1))](draw(_ISO)).encode()
        sep = b'": "' if change == 3 else b'":"'
        line = b'{"event":"$ai_span","timestamp' + sep + value + b'","p":{'
        if change == 4:
            line += b'"timestamp":"' + _FORMATS[how](draw(_ISO)).encode() + b'",'
        lines.append(line + b'"n":1}}')
    if draw(st.integers(0, 8)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), b'{"event":"$ai_span"}')
    return b"\n".join(lines)


def _timing_reference(text: bytes) -> tuple[bytes | None, tuple[bytes, bytes] | None]:
    """`_numpy_blocks._timing`'s rule, byte by byte (see its docstring)."""
    key = b'"timestamp"'
    at = [i for i in range(len(text)) if text.startswith(key, i)]
    starts = []
    for i in at:
        after = i + len(key)
        if text[after : after + 2] == b':"':
            starts.append(after + 2)
        elif text[after : after + 3] == b': "':
            starts.append(after + 3)
        else:
            return None, None
    if not starts:
        return None, None
    width = text.find(b'"', starts[0]) - starts[0]
    if width <= 0 or max(starts) + width >= len(text):
        return None, None
    values = [text[s : s + width] for s in starts]
    if any(text[s + width] != ord('"') for s in starts):
        return None, None
    if any(nxt <= s + width for nxt, s in zip(at[1:], starts[:-1], strict=True)):
        return None, None
    if any(b"\\" in v for v in values) or not _blocks._one_shape(values):
        return None, None
    newest = max(values)
    lines = PlainBlock(text).split()
    line_starts = [sum(len(x) + 1 for x in lines[:n]) for n in range(len(lines))]
    every_line = all(
        any(s <= i < s + len(line) for i in at) for s, line in zip(line_starts, lines, strict=True)
    ) and (b"\\" not in text or not any(e in text for e in (b"\\u006", b"\\u007")))
    return newest, (min(values), newest) if every_line else None


@settings(max_examples=400, deadline=None)
@given(timing_lines())
def test_numpy_reads_a_blocks_timestamps_as_the_rule_reads_them(text: bytes) -> None:
    block = NumpyBlock(text)
    assert (block.newest_timestamp(), block.time_range()) == _timing_reference(text)


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from([b'"uuid"', b'"abab"', b'"timestamp"', KEY, b'"aaaaaaa"', b'"x":"x"']),
    pieces=st.lists(st.sampled_from([b"a", b"b", b'"', b"ab", b"x", b"\n", b":"]), max_size=30),
    keys_at=st.lists(st.integers(0, 30), max_size=5),
)
def test_numpy_finds_every_start_of_a_key(
    key: bytes, pieces: list[bytes], keys_at: list[int]
) -> None:
    from llmc_checks.sources._numpy_blocks import _KeyFinder

    for at in sorted(keys_at, reverse=True):
        pieces.insert(min(at, len(pieces)), key)
    text = b"".join(pieces)
    every = [at for at in range(len(text)) if text.startswith(key, at)]  # overlaps too
    assert _KeyFinder(key).positions(NumpyBlock(text)).tolist() == every
