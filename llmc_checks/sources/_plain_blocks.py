"""Blocks of lines read with plain Python: for small files, where importing numpy would
cost more than it saves (`_blocks.kinds_for`). The same answers as `_numpy_blocks`
(tests/test_blocks.py compares them); see `_blocks.Block` and `_blocks.ItemProbe`."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from itertools import accumulate

_BACKSLASH = b"\\"
_TIGHT, _SPACED = b':"', b': "'


class PlainBlock:
    __slots__ = ("ends", "lines", "text")

    def __init__(self, text: bytes) -> None:
        self.text = text
        lines = text.split(b"\n")
        if text.endswith(b"\n"):
            lines.pop()  # the empty piece after the last newline is no line
        self.lines = lines
        # Where each line ends: its newline's position (the text's end for a last line
        # without one).
        self.ends = list(accumulate((len(line) + 1 for line in lines), initial=-1))[1:]

    def __len__(self) -> int:
        return len(self.lines)

    def line(self, index: int) -> bytes:
        return self.lines[index]

    def split(self) -> list[bytes]:
        return list(self.lines)

    def line_of(self, position: int) -> int:
        return bisect_left(self.ends, position)

    def well_formed(self) -> bool:
        return all(line[:1] == b"{" and line[-1:] == b"}" for line in self.lines)

    def lines_holding(self, finders: Iterable[Callable[[bytes, int], int]]) -> list[int]:
        text, ends = self.text, self.ends
        found: set[int] = set()
        for find in finders:
            at = find(text, 0)
            while at >= 0:
                index = self.line_of(at)
                found.add(index)
                at = find(text, ends[index])
        return sorted(found)

    def newest_timestamp(self) -> None:
        return None  # found by the regex: a list of values (numpy's reader avoids it)


class PlainProbe:
    """`_numpy_blocks.NumpyProbe`'s judgement, line by line: the very same lines parsed.

    With few distinct id lengths, numpy compares the first `width` bytes after the key
    with the selected ids of each length (a selected id that starts a longer id is a
    hit: one parse more); with many, whole ids. So does this."""

    __slots__ = ("by_width", "key", "wanted")
    GROUPS_MAX = 4  # as NumpyProbe._GROUPS_MAX

    def __init__(self, key: bytes, owners: Iterable[str]) -> None:
        self.key = key
        self.wanted = {item.encode("utf-8", "surrogatepass") for item in owners}
        by_width: dict[int, set[bytes]] = {}
        for item in self.wanted:
            by_width.setdefault(len(item), set()).add(item)
        self.by_width = (
            [(n, ids) for n, ids in sorted(by_width.items()) if n]  # "" is never an item key
            if len(by_width) <= self.GROUPS_MAX
            else None
        )

    def lines_to_parse(self, block: PlainBlock) -> list[int]:
        key, width = self.key, len(self.key)
        out = []
        for index, line in enumerate(block.lines):
            at = line.find(key)
            if at < 0 or line.find(key, at + 1) >= 0 or _BACKSLASH in line:
                out.append(index)  # no key, more than one, or an escape: parse
                continue
            after = at + width
            if line.startswith(_TIGHT, after):
                start = after + 2
            elif line.startswith(_SPACED, after):
                start = after + 3
            else:
                out.append(index)
                continue
            if self._selected(line, start):
                out.append(index)
        return out

    def _selected(self, line: bytes, start: int) -> bool:
        if self.by_width is not None:
            return any(line[start : start + n] in ids for n, ids in self.by_width)
        end = line.find(b'"', start)
        if end >= 0:
            return line[start:end] in self.wanted
        # The id's string never closes (a damaged line): a selected id starting it counts.
        return any(line.startswith(item, start) for item in self.wanted)
