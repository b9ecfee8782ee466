"""Blocks of lines read with numpy: for large files, where finding line bounds and item
keys a machine word at a time pays for importing numpy (~0.1 s; see `_blocks.kinds_for`)."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

# Byte values the readers look for.
_NEWLINE, _OPEN, _CLOSE, _QUOTE, _COLON, _SPACE, _BACKSLASH = b'\n{}": \\'


class NumpyBlock:
    """A block of whole lines (the last may lack its newline) and where each line lies."""

    __slots__ = ("_timing", "_words", "bytes", "ends", "starts", "text")

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
        self._timing: _Timing | None = None
        self._words: Any = None

    def __len__(self) -> int:
        return len(self.ends)

    def line(self, index: int) -> bytes:
        return self.text[int(self.starts[index]) : int(self.ends[index])]

    def lines_at(self, indexes: list[int]) -> list[bytes]:
        text = self.text
        at = np.array(indexes, np.intp)
        return [
            text[start:end]
            for start, end in zip(self.starts[at].tolist(), self.ends[at].tolist(), strict=True)
        ]

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

    def lines_holding(self, needles: Iterable[bytes]) -> list[int]:
        """Indexes (in order) of the lines holding any of `needles`: one of 7 bytes or
        more found as a key is (`_KeyFinder`, a few passes of word compares: ~2.5x
        faster than `bytes.find` on JSON text), a shorter one with `bytes.find`."""
        text, ends = self.text, self.ends
        found: set[int] = set()
        for needle in needles:
            if len(needle) >= _ALIGNED_MIN:
                found.update(self.line_of(_finder(needle).positions(self)).tolist())
                continue
            at = text.find(needle)
            while at >= 0:
                index = int(self.line_of(at))
                found.add(index)
                at = text.find(needle, int(ends[index]))
        return sorted(found)

    def newest_timestamp(self) -> bytes | None:
        """The newest timestamp value when all are written alike (see `_timing`)."""
        return self.timing().newest

    def time_range(self) -> tuple[bytes, bytes] | None:
        """The oldest and newest timestamp value of the block when every line holds one,
        all are written alike and no key is escaped (see `_timing`); else None."""
        return self.timing().every_line

    def words(self) -> Any:
        """The 8 bytes starting at each position (the last 7 start none) as little-endian
        integers: one view of the text, no copy, so that a gather reads 8 bytes a step."""
        if self._words is None:
            self._words = _words(self.text)
        return self._words

    def timing(self) -> _Timing:
        if self._timing is None:
            self._timing = _timing(self)
        return self._timing


class _KeyFinder:
    """Where a JSON key (with its quotes) starts in a block, in order, overlapping
    occurrences too: found by 4-byte anchors compared a word at a time, then checked
    whole (8 bytes a step for a key of 8 bytes or more).

    A key of 7 bytes or more holds a 4-byte-aligned word wherever it starts: one
    aligned view of the text, compared with one anchor per start modulo 4 (the last
    aligned window of the key for that start: the closing bytes are rarer than the
    opening ones), and one pass for the positions. A shorter key: the last four bytes
    before its closing quote, compared at each of the 4 offsets.
    """

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.anchor_at = len(key) - 5
        self.anchor = np.frombuffer(key[self.anchor_at : self.anchor_at + 4], np.uint32)[0]
        self.key_bytes = np.frombuffer(key, np.uint8)
        self.key_span = np.arange(len(key))
        # For a key starting at p, the word at p + at_key (at_key = -p mod 4, plus 4s)
        # is aligned; (at_key, that window's value) for p mod 4 = 0, 1, 2, 3.
        self.aligned: list[tuple[int, Any]] = []
        if len(key) >= _ALIGNED_MIN:
            for start in range(4):
                at_key = -start % 4
                while at_key + 8 <= len(key):
                    at_key += 4
                window = np.frombuffer(key[at_key : at_key + 4], np.uint32)[0]
                self.aligned.append((at_key, window))
        # A key of 8 bytes or more is compared whole a word (8 bytes) at a time.
        self.key_words = (
            [(at, _word(key, at)) for at in word_offsets(len(key))] if len(key) >= 8 else None
        )

    def positions(self, block: NumpyBlock) -> Any:
        size = len(block.text)
        at = self._aligned_candidates(block) if self.aligned else self._candidates(block)
        at = at[(at >= 0) & (at <= size - len(self.key))]
        if self.key_words is None:
            whole = (block.bytes[at[:, None] + self.key_span] == self.key_bytes).all(axis=1)
        else:
            every = block.words()
            whole = np.ones(len(at), bool)
            for at_key, key_word in self.key_words:
                whole &= every[at + at_key] == key_word
        return np.sort(at[whole])

    def _aligned_candidates(self, block: NumpyBlock) -> Any:
        words = np.frombuffer(block.text, np.uint32, count=len(block.text) // 4)
        windows = [window for _, window in self.aligned]
        hit = words == windows[0]
        for window in windows[1:]:
            hit |= words == window
        found = np.flatnonzero(hit)
        value = words[found]
        return np.concatenate(
            [found[value == window] * 4 - at_key for at_key, window in self.aligned]
        )

    def _candidates(self, block: NumpyBlock) -> Any:
        text, size = block.text, len(block.text)
        found = [np.zeros(0, np.int64)]
        for offset in range(4):
            words = (size - offset) // 4
            if words > 0:
                word = np.frombuffer(text, np.uint32, count=words, offset=offset)
                found.append(np.flatnonzero(word == self.anchor) * 4 + (offset - self.anchor_at))
        return np.concatenate(found)


_ALIGNED_MIN = 7  # a key this long holds an aligned 4-byte word wherever it starts


@functools.lru_cache(maxsize=16)
def _finder(needle: bytes) -> _KeyFinder:
    return _KeyFinder(needle)


def _words(text: bytes) -> Any:
    """`NumpyBlock.words` of any text."""
    return np.ndarray((max(len(text) - 7, 0),), "<u8", buffer=text, strides=(1,))


def word_offsets(width: int) -> list[int]:
    """Where the 8-byte words covering `width` (>= 8) bytes start: every 8 bytes, the last
    one ending at `width` (overlapping the one before it when `width` is no multiple of
    8). Compared in order, big-endian, they order byte strings as bytes order them."""
    offsets = list(range(0, width - 7, 8))
    if width % 8:
        offsets.append(width - 8)
    return offsets


def _word(text: bytes, at: int) -> int:
    return int.from_bytes(text[at : at + 8], "little")


_TIMESTAMP_KEY = _KeyFinder(b'"timestamp"')
_ZERO = ord("0")
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")


class _Timing(NamedTuple):
    newest: bytes | None
    every_line: tuple[bytes, bytes] | None


_UNTIMED = _Timing(None, None)
# An escaped letter (`\u0074` for "t"): a "timestamp" key could hide behind one.
_ESCAPED_LETTERS = (b"\\u006", b"\\u007")


def _timing(block: NumpyBlock) -> _Timing:
    """The newest of `_blocks.timestamps(block.text)` when every value is written alike,
    else None; and with it the oldest, when moreover every line holds a value and no
    letter in the block is written as an escape (so no row's own "timestamp" can be
    missing from the values), else None.

    Alike: every `"timestamp"` in the block is followed by `:"` or `: "`, and its value
    by a quote after as many bytes as the first value has, none of them a quote or a
    backslash; digits apart, the same bytes in the same places, and one UTC offset (as
    `_blocks._one_shape`), in a calendar form. Then the regex reads exactly these values,
    byte order is time order, and the newest is the largest row of their bytes.

    The values are read 8 bytes a step (`NumpyBlock.words`): each must equal the first
    value in its fixed bytes (its non-digits, and from its UTC offset on) and hold digits
    in the others (`_digits_only`).
    """
    text, b = block.text, block.bytes
    at = _TIMESTAMP_KEY.positions(block)
    if not len(at):
        return _UNTIMED
    after = at + len(_TIMESTAMP_KEY.key)
    colon = np.take(b, after, mode="clip") == _COLON
    c1 = np.take(b, after + 1, mode="clip")
    spaced = colon & (c1 == _SPACE) & (np.take(b, after + 2, mode="clip") == _QUOTE)
    if not (colon & (c1 == _QUOTE) | spaced).all():
        return _UNTIMED
    start = after + 2 + spaced
    first = int(start[0])
    width = text.find(b'"', first) - first
    if width <= 0 or b"\\" in text[first : first + width] or int(start.max()) + width >= len(text):
        return _UNTIMED
    first_value = text[first : first + width]
    shape = first_value.translate(_DIGITS_AS_ZERO)
    # A calendar date and time only (as `_blocks.calendar_form`): other forms put their
    # offset where the test below does not look, so byte order need not be time order.
    # (So a value here has 11 bytes or more: a word and then some.)
    if shape[:10] != b"0000-00-00" or shape[10:11] not in (b"T", b" "):
        return _UNTIMED
    if not (b[start + width] == _QUOTE).all():
        return _UNTIMED
    # Matches don't overlap (the regex reads on after each value's closing quote).
    if not (at[1:] > start[:-1] + width).all():
        return _UNTIMED
    offset = max(shape.rfind(b"+"), shape.rfind(b"-"))
    tail = offset if offset > 10 else width  # one UTC offset: the same bytes from there
    fixed = bytes(0 if c == _ZERO and j < tail else 0xFF for j, c in enumerate(shape))
    offsets = word_offsets(width)
    values = block.words()[start[:, None] + np.array(offsets)]
    fixed_words = np.array([_word(fixed, o) for o in offsets], np.uint64)
    first_words = np.array([_word(first_value, o) for o in offsets], np.uint64)
    if not ((values & fixed_words) == (first_words & fixed_words)).all():
        return _UNTIMED
    if not _digits_only(values, ~fixed_words):
        return _UNTIMED
    # The largest (smallest) row of bytes: big-endian words compared a column at a time.
    columns = values.byteswap()
    newest_at = int(start[_extreme_row(columns, len(offsets), np.argmax)])
    newest = text[newest_at : newest_at + width]
    every_line = _one_or_more_a_line(block, at) and (
        b"\\" not in text  # found a byte at a time (memchr): far faster than the needles
        or not any(escaped in text for escaped in _ESCAPED_LETTERS)
    )
    if not every_line:
        return _Timing(newest, None)
    oldest_at = int(start[_extreme_row(columns, len(offsets), np.argmin)])
    return _Timing(newest, (text[oldest_at : oldest_at + width], newest))


_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HIGH = np.uint64(0x8080808080808080)
_ZEROS = np.uint64(0x3030303030303030)
_PAST_NINE = np.uint64(0x7676767676767676)  # 0x76 + 10 = 0x80


def _digits_only(words: Any, mask: Any) -> bool:
    """Whether every byte of `words` under `mask` (0xFF bytes) is an ASCII digit: a byte
    XOR '0' is below 10 exactly for digits; below 0x80, adding 0x76 sets its high bit
    exactly from 10 on (and carries into no other byte); at 0x80 or more it is set."""
    low = words ^ _ZEROS
    return not (((low & _LOW7) + _PAST_NINE | low) & _HIGH & mask).any()


def _one_or_more_a_line(block: NumpyBlock, at: Any) -> bool:
    """Whether every line of `block` holds one of the (sorted) positions `at`."""
    if len(at) == len(block):  # one a line, in order: the i-th in the i-th line
        return bool((at >= block.starts).all() and (at < block.ends).all())
    return bool((np.bincount(block.line_of(at), minlength=len(block)) > 0).all())


def _extreme_row(columns: Any, words: int, pick: Any) -> int:
    """The index of the largest (`np.argmax`) or smallest (`np.argmin`) row."""
    rows = np.arange(len(columns))
    for column in range(words):
        col = columns[rows, column]
        rows = rows[col == col[pick(col)]]
        if len(rows) == 1:
            break
    return int(rows[0])


class NumpyProbe:
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
        self.finder = _KeyFinder(key)
        self.wanted = {item.encode("utf-8", "surrogatepass") for item in owners}
        by_width: dict[int, list[bytes]] = {}
        for item in self.wanted:
            by_width.setdefault(len(item), []).append(item)
        self.groups: list[_IdGroup] = []
        if len(by_width) <= self._GROUPS_MAX:
            # Odd weights below 2**63 from the stdlib: numpy.random costs ~15 ms to import.
            rng = random.Random(0x11C)
            for width, items in sorted(by_width.items()):
                if width:  # an empty id is never an item key
                    self.groups.append(_IdGroup(width, items, rng))
        self.in_python = len(by_width) > self._GROUPS_MAX

    def lines_to_parse(self, block: NumpyBlock) -> list[int]:
        """Indexes of the block's lines that must be parsed."""
        text, b, key = block.text, block.bytes, self.key
        at = self.finder.positions(block)
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
            line_ends = block.ends[index].tolist()
            hit = np.fromiter(
                (
                    _selected(text, at, end, self.wanted)
                    for at, end in zip(id_at.tolist(), line_ends, strict=True)
                ),
                bool,
                len(id_at),
            )
        else:
            hit = np.zeros(len(id_at), bool)
            for group in self.groups:
                hit |= group.hits(block, id_at)
        judged[index[hit]] = False
        return np.flatnonzero(~judged).tolist()  # type: ignore[no-any-return]


class _IdGroup:
    """The selected ids of one length, `width`, hashed: which of the ids starting at given
    positions of a block are among them, judged by their first `width` bytes (past the
    text's end, its last byte repeated, as numpy's `take` clips)."""

    def __init__(self, width: int, items: list[bytes], rng: random.Random) -> None:
        self.width = width
        self.items = frozenset(items)
        table = b"".join(items)
        starts = np.arange(len(items)) * width
        # 8 bytes or more: hashed a word (8 bytes) at a time; else a byte at a time.
        self.offsets = np.array(word_offsets(width) if width >= 8 else range(width))
        self.weights = np.array([rng.getrandbits(63) | 1 for _ in self.offsets], np.uint64)
        self.hashes = np.sort(self._hash(table, np.frombuffer(table, np.uint8), starts))

    def _hash(self, text: bytes, b: Any, starts: Any, words: Any = None) -> Any:
        """The hash of the `width` bytes at each of `starts` (all inside `text`; `words`:
        `_words(text)` if at hand)."""
        at = starts[:, None] + self.offsets
        if self.width >= 8:
            return _hash((_words(text) if words is None else words)[at], self.weights)
        return _hash(b[at], self.weights)

    def hits(self, block: NumpyBlock, id_at: Any) -> Any:
        text, width, hashes = block.text, self.width, self.hashes
        inside = id_at + width <= len(text)
        hit = np.zeros(len(id_at), bool)
        if inside.all():
            hashed = self._hash(text, block.bytes, id_at, block.words())
        else:
            # The few ids running past the text's end (its last line, cut short): their
            # bytes as clipped, compared in Python.
            for row in np.flatnonzero(~inside).tolist():
                start = int(id_at[row])
                clipped = text[start : start + width]
                hit[row] = clipped + text[-1:] * (width - len(clipped)) in self.items
            hashed = np.zeros(len(id_at), np.uint64)
            hashed[inside] = self._hash(text, block.bytes, id_at[inside], block.words())
        slot = np.minimum(np.searchsorted(hashes, hashed), len(hashes) - 1)
        hit[inside] = (hashes[slot] == hashed)[inside]
        return hit


def _hash(rows: Any, weights: Any) -> Any:
    """A 64-bit hash of each row of bytes (wrapping arithmetic)."""
    return (rows.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def _selected(text: bytes, start: int, line_end: int, wanted: set[bytes]) -> bool:
    """Whether the id starting at `start` is a selected one; for an id whose string does
    not close on its line (a damaged line), whether a selected id starts it, as the
    hashed comparison of `width` bytes judges (`_plain_blocks` judges alike)."""
    end = text.find(b'"', start, line_end)
    if end >= 0:
        return text[start:end] in wanted
    rest = text[start:line_end]
    return any(rest.startswith(item) for item in wanted)
