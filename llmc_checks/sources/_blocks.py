"""Reading `.jsonl` / `.jsonl.gz` fast: blocks of whole lines and C-level byte searches.

The snapshot source's two passes use these to find the few lines they must parse
without looking at every line in Python (benchmarks/bench_snapshot.py): numpy over
each block for line bounds and shapes, bytes/regex searches for hints, and
`ItemProbe` to read each AI event's item id as bytes. A `.gz` file is inflated with
zlib in large steps; anything the gzip module would read differently raises
`Irregular`, and the caller falls back to reading line by line.
"""

from __future__ import annotations

import gc
import random
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from typing import IO, Any

import numpy as np

_READ_SIZE = 1 << 20  # bytes of a plain file read per step
_GZIP_READ_SIZE = 1 << 18  # bytes of a .gz file inflated per step (~1.5 MB of text)
_MAX_INFLATE = 1 << 26  # at most this much text from one step of compressed input
_KEEP_MAX = 256 << 20  # text of a .gz file kept between the two passes, at most
_GZIP_MAGIC = b"\x1f\x8b"
# Byte values the block readers look for.
_NEWLINE, _OPEN, _CLOSE, _QUOTE, _COLON, _SPACE, _BACKSLASH = b'\n{}": \\'


def finder(needle: bytes, regex: bool = False) -> Callable[[bytes, int], int]:
    """`(text, start) -> position of needle or -1`; `regex`: search with `re` (faster
    than bytes.find for some needles in JSON text)."""
    if not regex:
        return lambda text, start: text.find(needle, start)
    search = re.compile(re.escape(needle)).search

    def find(text: bytes, start: int) -> int:
        match = search(text, start)
        return match.start() if match is not None else -1

    return find


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


def worth_keeping(path: Any) -> bool:
    """Whether a `.gz` file's text fits `KeptText`, decided before reading it: from the
    gzip trailer (ISIZE, the inflated size mod 2**32). When it can't be trusted (smaller
    than the file: 4 GB or more, or damaged; an unreadable file) nothing is kept, so
    memory stays flat in the file size instead of filling up to the bound and letting
    go. (A multi-member file's trailer tells only its last member; `KeptText`'s own
    bound still holds there.)"""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            compressed = fh.tell()
            if compressed < 18:  # header + trailer
                return False
            fh.seek(-4, 2)
            inflated = int.from_bytes(fh.read(4), "little")
    except OSError:
        return False
    return compressed <= inflated <= _KEEP_MAX


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


class Block:
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


class ItemProbe:
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
            # Odd weights below 2**63 from the stdlib: numpy.random costs ~15 ms to import.
            rng = random.Random(0x11C)
            for width, items in sorted(by_width.items()):
                if not width:
                    continue  # an empty id is never an item key
                span = np.arange(width)
                weights = np.array([rng.getrandbits(63) | 1 for _ in range(width)], np.uint64)
                table = np.frombuffer(b"".join(items), np.uint8).reshape(len(items), width)
                self.groups.append((span, weights, np.sort(_hash(table, weights))))
        self.in_python = len(by_width) > self._GROUPS_MAX

    def _key_positions(self, block: Block) -> Any:
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

    def lines_to_parse(self, block: Block) -> list[int]:
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


# A row's "timestamp" string, read as bytes (escaped values are left to the parser).
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"\\]*)"')
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")


def timestamps(text: bytes) -> list[bytes]:
    """Every `"timestamp": "..."` value in `text`, as bytes, in order (nested ones too)."""
    return _TIMESTAMP.findall(text)


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


def _one_shape(found: list[bytes]) -> bool:
    shapes = set(map(bytes.translate, found, repeat(_DIGITS_AS_ZERO)))
    if len(shapes) != 1:
        return False
    (shape,) = shapes
    offset = max(shape.rfind(b"+"), shape.rfind(b"-"))
    if offset <= 10:  # no offset after the date: "Z", or naive (UTC)
        return True
    return len(set(map(itemgetter(slice(offset, None)), found))) == 1


def read_chunks(fh: IO[bytes]) -> Iterator[bytes]:
    while chunk := fh.read(_READ_SIZE):
        yield chunk


def inflate(fh: IO[bytes]) -> Iterator[bytes]:
    """A gzip file's text: members one after another, zero padding between them allowed
    (as the gzip module reads it); `Irregular` for anything else."""
    data = fh.read(_GZIP_READ_SIZE)
    if not data:
        return
    while True:
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
            try:
                text = inflater.decompress(data, _MAX_INFLATE)
            except zlib.error:
                raise Irregular from None
            data = inflater.unconsumed_tail
            if text:
                yield text
        data = inflater.unused_data.lstrip(b"\0")
        while not data:
            more = fh.read(_GZIP_READ_SIZE)
            if not more:
                return
            data = more.lstrip(b"\0")


def whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
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
