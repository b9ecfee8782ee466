"""Reading `.jsonl` / `.jsonl.gz` fast: blocks of whole lines and C-level byte searches.

The snapshot source's two passes use these to find the few lines they must parse
(benchmarks/bench_snapshot.py): a `Block` knows where its lines lie and whether they all
look like JSON objects, byte searches find hints, and an `ItemProbe` reads each AI
event's item id as bytes. Two kinds, the same answers: numpy's (`_numpy_blocks`) for
large files, plain Python's (`_plain_blocks`) for small ones, where importing numpy
would cost more than it saves; `kinds_for` picks one from the text's size, up front. A
`.gz` file is inflated with zlib in large steps; anything the gzip module would read
differently raises `Irregular`, and the caller falls back to reading line by line.
"""

from __future__ import annotations

import gc
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from queue import SimpleQueue
from typing import IO, Any, NamedTuple, Protocol, TypeVar

_READ_SIZE = 1 << 20  # bytes of a plain file read per step
_GZIP_READ_SIZE = 1 << 18  # bytes of a .gz file inflated per step (~1.5 MB of text)
_MAX_INFLATE = 1 << 26  # at most this much text from one step of compressed input
_KEEP_MAX = 256 << 20  # text of a .gz file kept between the two passes, at most
_GZIP_MAGIC = b"\x1f\x8b"
# Up to this much text (inflated), a file is read with plain Python: below it, importing
# numpy (~0.1 s) costs more than numpy saves (benchmarks/README.md, "small files").
PLAIN_MAX = 48 << 20


class Block(Protocol):
    """A block of whole lines (the last may lack its newline) and where each line lies."""

    text: bytes

    def __len__(self) -> int: ...

    def line(self, index: int) -> bytes: ...

    def lines_at(self, indexes: list[int]) -> list[bytes]:
        """`[line(i) for i in indexes]`, at once."""
        ...

    def split(self) -> list[bytes]:
        """The lines, as `text.split(b"\\n")` has them (without a trailing empty one)."""
        ...

    def line_of(self, position: int) -> int:
        """The index of the line holding byte `position` (not a newline)."""
        ...

    def well_formed(self) -> bool:
        """Every line non-blank, starting with '{' and ending with '}' (no whitespace)."""
        ...

    def lines_holding(self, needles: Iterable[bytes]) -> list[int]:
        """Indexes (in order) of the lines holding any of `needles` (none holds a newline)."""
        ...

    def newest_timestamp(self) -> bytes | None:
        """The newest of `timestamps(text)` when the block's reader can tell it without
        the list (numpy's: all written alike), else None (`block_timestamps` reads them)."""
        ...

    def time_range(self) -> tuple[bytes, bytes] | None:
        """The oldest and newest of `timestamps(text)` when the block's reader can show
        that every row's own timestamp lies between them (numpy's: every line holds a
        value, all written alike, no letter escaped), else None."""
        ...


class ItemProbe(Protocol):
    """Which lines of a block may belong to a selected item, judged without parsing them.

    A line may be passed over only when its item id, read at the key, is certainly not a
    selected item: the line holds the key exactly once (overlaps counted), written
    `"key":"id"` or `"key": "id"`, and no backslash (no escape can hide a key or change
    an id), and its id is no selected id. Then either that key is the item key and its id
    is not selected, or the row has no item key at all: a parse would skip the line too.
    Every other line is parsed (a false alarm merely costs a parse)."""

    def lines_to_parse(self, block: Any) -> list[int]:
        """Indexes of the block's lines that must be parsed, in order."""
        ...


class Kinds(NamedTuple):
    block: Callable[[bytes], Block]
    probe: Callable[[bytes, Iterable[str]], ItemProbe]


def kinds_for(text_size: int | None) -> Kinds:
    """The block and probe kinds for a file of `text_size` bytes of text (None: unknown,
    so possibly large)."""
    if text_size is not None and text_size <= PLAIN_MAX:
        from llmc_checks.sources._plain_blocks import PlainBlock, PlainProbe

        return Kinds(PlainBlock, PlainProbe)
    from llmc_checks.sources._numpy_blocks import NumpyBlock, NumpyProbe

    return Kinds(NumpyBlock, NumpyProbe)


class Irregular(Exception):
    """The fast gzip reader met a stream it does not read exactly like the gzip module
    (damaged, truncated or unusual): the pass starts over with the gzip module."""


@contextmanager
def gc_paused() -> Iterator[None]:
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


def gzip_text_size(path: Any) -> int | None:
    """A `.gz` file's inflated size, told before reading it: from the gzip trailer
    (ISIZE, the size mod 2**32); None when that can't be trusted (smaller than the file:
    4 GB or more, or damaged; an unreadable file). A multi-member file's trailer tells
    only its last member: then the size is too small, which costs speed, never results
    (both block readers give the same results)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            compressed = fh.tell()
            if compressed < 18:  # header + trailer
                return None
            fh.seek(-4, 2)
            inflated = int.from_bytes(fh.read(4), "little")
    except OSError:
        return None
    return inflated if compressed <= inflated else None


def worth_keeping(text_size: int | None) -> bool:
    """Whether a `.gz` file's text (of `gzip_text_size`) fits `KeptText`, decided before
    reading it, so memory stays flat in the file size instead of filling up to the bound
    and letting go. (`KeptText`'s own bound still holds where the size is too small.)"""
    return text_size is not None and text_size <= _KEEP_MAX


class KeptText:
    """The text of a `.gz` snapshot as pass 1 read it, kept for pass 2 up to `_KEEP_MAX`
    bytes, so that pass 2 need not inflate the file again (inflating is most of the cost
    of reading it). Past the bound nothing is kept and pass 2 reads the file again."""

    def __init__(self) -> None:
        self.blocks: list[Block] | None = []
        self.size = 0
        self.complete = False

    def keep(self, blocks: Iterable[Block]) -> Iterator[Block]:
        for block in blocks:
            if self.blocks is not None:
                self.size += len(block.text)
                if self.size <= _KEEP_MAX:
                    self.blocks.append(block)
                else:
                    self.blocks = None
            yield block
        self.complete = self.blocks is not None

    def replay(self) -> Iterator[Block]:
        """The kept blocks, each released once used (once only)."""
        blocks, self.blocks, self.complete = self.blocks or [], None, False
        blocks.reverse()
        while blocks:
            yield blocks.pop()


# A row's "timestamp" string, read as bytes (escaped values are left to the parser).
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"\\]*)"')
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")


def timestamps(text: bytes) -> list[bytes]:
    """Every `"timestamp": "..."` value in `text`, as bytes, in order (nested ones too)."""
    return _TIMESTAMP.findall(text)


def block_timestamps(block: Block, parse: Callable[[bytes], datetime | None]) -> Iterator[bytes]:
    """`newest_first(timestamps(block.text), parse)`, the list read only when the block's
    reader can't tell the newest value alone, or when that one is refused."""
    newest = block.newest_timestamp()
    if newest is None:
        yield from newest_first(timestamps(block.text), parse)
        return
    if parse(newest) is not None:
        yield newest
    yield from (value for value in newest_first(timestamps(block.text), parse) if value != newest)


def newest_first(found: list[bytes], parse: Callable[[bytes], datetime | None]) -> Iterator[bytes]:
    """The distinct values of `found`, newest first; unreadable ones (`parse` → None) left out.

    When every value has one shape (the same non-digit bytes in the same places, and one
    UTC offset), byte order is time order: the newest is `max`, found in C without a
    single parse. Mixed shapes ("Z" and "+00:00", fractions of different lengths) are
    parsed and ordered by time.
    """
    if _one_shape(found):
        newest = max(found)
        if parse(newest) is not None:
            yield newest
        for value in sorted(set(found), reverse=True):  # only when the newest is refused
            if value != newest and parse(value) is not None:
                yield value
        return
    dated = [(at, value) for value in set(found) if (at := parse(value)) is not None]
    dated.sort(reverse=True)
    for _, value in dated:
        yield value


def calendar_form(shape: bytes) -> bool:
    """Whether a value's shape (digits as "0") is a calendar date and a time
    ("YYYY-MM-DD" then "T" or " "), the only form in which one shape and one UTC offset
    make byte order time order: other forms `_values.parse_timestamp` reads (ISO week
    dates: "2026W47T00+2359") put their offset where the check below does not look.
    `_numpy_blocks` keeps the same test (it imports nothing of this module)."""
    return shape[:10] == b"0000-00-00" and shape[10:11] in (b"T", b" ")


def _one_shape(found: list[bytes]) -> bool:
    # In C, whatever their number: one length; the values joined, digits zeroed, equal
    # to the first one's shape repeated; the offset read column by column (every
    # `width`-th byte of the joined values).
    if len(set(map(len, found))) != 1:
        return False
    width = len(found[0])
    shape = found[0].translate(_DIGITS_AS_ZERO)
    joined = b"".join(found)
    if joined.translate(_DIGITS_AS_ZERO) != shape * len(found):
        return False
    if not calendar_form(shape):
        return False
    offset = max(shape.rfind(b"+"), shape.rfind(b"-"))
    if offset <= 10:  # no offset after the date: "Z", or naive (UTC)
        return True
    for at in range(offset, width):
        column = joined[at::width]
        if column != column[:1] * len(column):
            return False
    return True


def read_chunks(fh: IO[bytes]) -> Iterator[bytes]:
    while chunk := fh.read(_READ_SIZE):
        yield chunk


def inflate(fh: IO[bytes]) -> Iterator[bytes]:
    """A gzip file's text: members one after another, zero padding between them allowed
    (as the gzip module reads it); `Irregular` for anything else."""
    return (text for text, _ in inflate_marked(fh))


class ResumePoint(NamedTuple):
    """Where inflating a `.gz` file can start again (`inflate_marked(fh, resume)`): the
    compressed input from `offset`, its first read ending at `read_end` (as the first
    reading read it, so the text comes out in the very same chunks and blocks), the
    inflater's state there (a `zlib` copy, ~40 KB; copied again for each use), and the
    start of the line the text there continues (`carry`, set by `whole_lines_marked`)."""

    offset: int
    read_end: int
    inflater: Any
    carry: bytes = b""


def inflate_marked(
    fh: IO[bytes], resume: ResumePoint | None = None, spacing: int | None = None
) -> Iterator[tuple[bytes, ResumePoint | None]]:
    """`inflate`'s text chunk by chunk (from `resume`, else from the start), each with
    where inflating can start again to give it: every `spacing` bytes of text or more
    (None: never), else None."""
    if resume is None:
        data, inflater = fh.read(_GZIP_READ_SIZE), None
    else:
        fh.seek(resume.offset)
        data, inflater = fh.read(resume.read_end - resume.offset), resume.inflater.copy()
    if not data:
        return
    since = 0  # text since the last resume point
    while True:
        if inflater is None:
            while len(data) < len(_GZIP_MAGIC) and (more := fh.read(_GZIP_READ_SIZE)):
                data += more
            if not data.startswith(_GZIP_MAGIC):
                raise Irregular
            inflater = zlib.decompressobj(wbits=31)
        while not inflater.eof:
            if not data:
                data = fh.read(_GZIP_READ_SIZE)
                if not data:
                    raise Irregular  # truncated
            mark = None
            if spacing is not None and since >= spacing:
                read_end = fh.tell()
                mark = ResumePoint(read_end - len(data), read_end, inflater.copy())
            try:
                text = inflater.decompress(data, _MAX_INFLATE)
            except zlib.error:
                raise Irregular from None
            data = inflater.unconsumed_tail
            if text:
                since = len(text) if mark is not None else since + len(text)
                yield text, mark
        data = inflater.unused_data.lstrip(b"\0")
        inflater = None
        while not data:
            more = fh.read(_GZIP_READ_SIZE)
            if not more:
                return
            data = more.lstrip(b"\0")


T = TypeVar("T")
_AHEAD = 2  # items a read-ahead thread produces before its reader takes them, at most


class _End:
    """What a read-ahead thread sends after the last item."""


class _Failed(NamedTuple):
    """What a read-ahead thread sends when producing an item raised."""

    error: BaseException


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, produced by a thread of their own up to `_AHEAD` items ahead of the reader.

    Inflating (zlib) and numpy's array work let go of the GIL, so a second core can
    inflate the next block while this one scans the last (benchmarks/README.md). What
    producing an item raises is raised here, in its place. A reader that stops early
    stops the thread (after the item it is producing) before `items` is closed.
    """
    sent: SimpleQueue[tuple[T] | type[_End] | _Failed] = SimpleQueue()
    room = threading.Semaphore(_AHEAD)
    stopped = False

    def produce() -> None:
        while True:
            room.acquire()
            if stopped:
                return
            try:
                item = next(items)
            except StopIteration:
                sent.put(_End)
                return
            except BaseException as exc:  # handed to the reader, raised there
                sent.put(_Failed(exc))
                return
            sent.put((item,))

    thread = threading.Thread(target=produce, name="llmc-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            got = sent.get()
            if got is _End:
                return
            if isinstance(got, _Failed):
                raise got.error
            assert isinstance(got, tuple)
            room.release()
            yield got[0]
    finally:
        stopped = True
        room.release()
        thread.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()


def whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut chunks into blocks of whole lines; the last block may lack its newline."""
    return (block for block, _ in whole_lines_marked((chunk, None) for chunk in chunks))


def whole_lines_marked(
    chunks: Iterable[tuple[bytes, ResumePoint | None]], carry_from: bytes = b""
) -> Iterator[tuple[bytes, ResumePoint | None]]:
    """`whole_lines` of marked chunks (`inflate_marked`, starting `carry_from` into a
    line), each block with the resume point of the chunk that ends it, its carry set:
    inflating from there, after the carry, gives the block again (None: no point)."""
    carry: list[bytes | memoryview] = [carry_from] if carry_from else []
    for chunk, mark in chunks:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            carry.append(chunk)
            continue
        if carry:
            if mark is not None:
                mark = mark._replace(carry=b"".join(carry))
            # Joined through a view of the chunk: its text is copied once, not twice.
            carry.append(memoryview(chunk)[:cut])
            head = b"".join(carry)
            carry = []
        else:
            head = chunk[:cut] if cut < len(chunk) else chunk
        if cut < len(chunk):
            carry.append(chunk[cut:])
        yield head, mark
    if carry:
        yield b"".join(carry), None
