"""Blocks of lines read with plain Python: for small files, where importing numpy would
cost more than it saves (`_blocks.kinds_for`). The same answers as `_numpy_blocks`
(tests/test_blocks.py compares them); see `_blocks.Block` and `_blocks.ItemProbe`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from itertools import chain, compress, count, repeat
from operator import itemgetter

_BACKSLASH, _QUOTE = b"\\", b'"'
_TIGHT, _SPACED = b':"', b': "'


class PlainBlock:
    """A block's lines as a list; where a byte lies is counted from the text when asked
    (rarely: a few hinted lines a block), not kept for every line."""

    __slots__ = ("lines", "text")

    def __init__(self, text: bytes) -> None:
        self.text = text
        lines = text.split(b"\n")
        if text.endswith(b"\n"):
            lines.pop()  # the empty piece after the last newline is no line
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)

    def line(self, index: int) -> bytes:
        return self.lines[index]

    def lines_at(self, indexes: list[int]) -> list[bytes]:
        return list(map(self.lines.__getitem__, indexes))

    def split(self) -> list[bytes]:
        return list(self.lines)

    def line_of(self, position: int) -> int:
        return self.text.count(b"\n", 0, position)

    def well_formed(self) -> bool:
        # Every newline between two lines sits in "}\n{" ("}\n{" cannot overlap itself),
        # the first line starts with "{" and the last ends with "}".
        text, inner = self.text, len(self.lines) - 1
        if inner < 0:
            return True
        end = len(text) - 1 if text.endswith(b"\n") else len(text)
        return text[:1] == b"{" and text[end - 1 : end] == b"}" and text.count(b"}\n{") == inner

    def lines_holding(self, needles: Iterable[bytes]) -> list[int]:
        text = self.text
        found: set[int] = set()
        for needle in needles:
            index = counted = 0  # the line of byte `counted`
            at = text.find(needle)
            while at >= 0:
                index += text.count(b"\n", counted, at)
                counted = at
                found.add(index)
                end = text.find(b"\n", at)  # the line's end: search on from there
                if end < 0:
                    break
                at = text.find(needle, end)
        return sorted(found)

    def newest_timestamp(self) -> None:
        return None  # found by the regex: a list of values (numpy's reader avoids it)

    def time_range(self) -> None:
        return None  # proving it line by line would cost more than a small file saves


def _first(n: int) -> Callable[[bytes], bytes]:
    """`value -> value[:n]`, called from C."""
    return itemgetter(slice(0, n))


class PlainProbe:
    """`_numpy_blocks.NumpyProbe`'s judgement: the very same lines parsed.

    With few distinct id lengths, numpy compares the first `width` bytes after the key
    with the selected ids of each length (a selected id that starts a longer id is a
    hit: one parse more); with many, whole ids. So does this: line by line in Python
    (`line_by_line`, the reference), or, when a block proves the fast path's
    assumptions, with a few C-level passes over the whole block (`_by_block`)."""

    __slots__ = ("by_width", "id_after_key", "key", "short_key", "wanted")
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
        # `_by_block` searches for what follows the key's opening quote (anchored on a
        # rarer byte, the search runs faster) and reads each id up to its closing quote:
        # it needs a quoted key on one line and selected ids without a quote.
        self.short_key = key[1:]
        fast = (
            len(key) > 2
            and key[:1] == key[-1:] == _QUOTE
            and not any(c in key[1:-1] for c in (b"\n", b'"', b":", b" "))
            and not any(_QUOTE in item for item in self.wanted)
        )
        # The short key, the separator, then the id with its closing quote if the line
        # has one.
        self.id_after_key = (
            re.compile(re.escape(self.short_key) + rb': ?"([^"\n]*"?)') if fast else None
        )

    def lines_to_parse(self, block: PlainBlock) -> list[int]:
        found = self._by_block(block) if self.id_after_key is not None else None
        return found if found is not None else self.line_by_line(block)

    def _by_block(self, block: PlainBlock) -> list[int] | None:
        """`line_by_line`'s answer from whole-block searches, or None when the block does
        not prove what they assume.

        Proven first: the key without its opening quote (which cannot overlap itself:
        it ends with the only quote it holds) occurs as often as `bytes.count` counts the
        key, so no two keys overlap (each holds a short key of its own), every key is
        counted, and each match of `id_after_key` is at a key; and there are as many
        matches as keys, so every key is followed by `:"` or `: "` (a key followed by
        anything else has no match; a match's id stops before any quote, so it cannot
        swallow the next short key). Then the i-th match is the i-th key, in order, and
        its capture is the id as the line holds it (with the closing quote, when the
        line has one)."""
        text, lines, key = block.text, block.lines, self.key
        assert self.id_after_key is not None
        per_line = list(map(bytes.count, lines, repeat(key)))
        keys = sum(per_line)
        if text.count(self.short_key) != keys:
            return None
        ids = self.id_after_key.findall(text)
        if len(ids) != keys:
            return None
        hits = self._hits(set(ids))
        single = per_line.count(1) == len(lines)
        # The line of each key, in order (line i holds key i when each holds one).
        key_line: Iterable[int] = (
            range(len(lines)) if single else chain.from_iterable(map(repeat, count(), per_line))
        )
        parse = set(compress(key_line, map(hits.__contains__, ids)))
        if not single:
            # No key, or more than one: always parsed.
            parse.update(compress(count(), map((1).__ne__, per_line)))
        if _BACKSLASH in text:
            parse.update(block.lines_holding([_BACKSLASH]))
        return sorted(parse)

    def _hits(self, found: set[bytes]) -> set[bytes]:
        """Which of the ids read at keys (each with its closing quote, if any) are judged
        selected, as `_selected` judges them."""
        if self.by_width is not None:
            # `_selected` compares the `n` bytes after the separator: with the quote
            # (no selected id holds one) they differ whenever the id is shorter.
            values = list(found)
            hits: set[bytes] = set()
            for n, ids in self.by_width:
                hits.update(compress(values, map(ids.__contains__, map(_first(n), values))))
            return hits
        closed = {item + _QUOTE for item in self.wanted} & found
        unclosed = {
            value
            for value in found
            if not value.endswith(_QUOTE) and any(value.startswith(item) for item in self.wanted)
        }
        return closed | unclosed

    def line_by_line(self, block: PlainBlock) -> list[int]:
        """The reference: each line judged on its own (any block)."""
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
