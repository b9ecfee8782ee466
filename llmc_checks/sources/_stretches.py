"""Pass 1's record of a snapshot's blocks, so that pass 2 reads only what can matter.

Pass 2 folds only AI events inside the selected runs' windows. A block whose every row's
own timestamp is known to lie outside all of them (`Block.time_range`) cannot change a
result, so pass 2 passes it over: a kept block is not probed, and a `.gz` file too large
to keep is inflated again only from the resume point (`_blocks.ResumePoint`) before the
first block that can matter, up to the last. Pass 1 has shape-checked every line already;
what pass 2 no longer sees is a damaged row (one that fails to parse) in a block passed
over (README, "Performance").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import accumulate
from typing import NamedTuple

from llmc_checks.sources._blocks import Block, ResumePoint

# At most this many resume points (~40 KB each) are kept; past it every other one goes.
RESUME_POINTS_MAX = 128
# Text between two resume points, at least (a file's text size / the maximum, if more).
_SPACING_MIN = 8 << 20


def spacing_for(text_size: int | None) -> int:
    """Text between resume points for a file of `text_size` bytes of text (None: unknown;
    the maximum still holds, by thinning)."""
    return max(_SPACING_MIN, -(-(text_size or 0) // RESUME_POINTS_MAX))


class BlockRecord(NamedTuple):
    lines: int
    # The oldest and newest row timestamp in the block; None: not known.
    span: tuple[datetime, datetime] | None
    # Where inflating can start again to give this block; None: not here.
    resume: ResumePoint | None


class Stretches:
    """The blocks pass 1 read, in order: their lines, time spans and resume points."""

    def __init__(self, parse: Callable[[bytes], datetime | None]) -> None:
        self.parse = parse
        self.blocks: list[BlockRecord] = []
        self.complete = False
        self._resumes = 0

    def record(self, marked: Iterable[tuple[Block, ResumePoint | None]]) -> Iterator[Block]:
        """The blocks of `marked`, each recorded as it passes."""
        for block, resume in marked:
            self.blocks.append(BlockRecord(len(block), self._span(block), resume))
            if resume is not None:
                self._resumes += 1
                if self._resumes > RESUME_POINTS_MAX:
                    self._thin()
            yield block
        self.complete = True

    def _span(self, block: Block) -> tuple[datetime, datetime] | None:
        found = block.time_range()
        if found is None:
            return None
        oldest, newest = self.parse(found[0]), self.parse(found[1])
        return (oldest, newest) if oldest is not None and newest is not None else None

    def _thin(self) -> None:
        """Drop every other resume point (the stretches they begin join the one before)."""
        kept = 0
        for index, record in enumerate(self.blocks):
            if record.resume is not None:
                if kept % 2:
                    self.blocks[index] = record._replace(resume=None)
                kept += 1
        self._resumes = (kept + 1) // 2

    def needed(self, windows: Iterable[tuple[datetime, datetime]]) -> list[bool]:
        """For each block, whether any row in it may lie in any of `windows` (ends
        included, which both semantics' windows fit in)."""
        bounds = list(windows)
        return [
            record.span is None
            or any(start <= record.span[1] and record.span[0] <= end for start, end in bounds)
            for record in self.blocks
        ]

    def first_lines(self) -> list[int]:
        """The line number of each block's first line."""
        return list(accumulate((record.lines for record in self.blocks[:-1]), initial=1))

    def read(
        self, needed: list[bool], open_at: Callable[[ResumePoint | None], Iterator[Block]]
    ) -> Iterator[tuple[int, Block]]:
        """The needed blocks with their first line numbers, read again from the resume
        point before each (`open_at(point)`: the blocks from there; None: from the start),
        or read on from the last one when no resume point lies between."""
        first_lines = self.first_lines()
        starts = [0]  # the stretch start at or before each block
        for index, record in enumerate(self.blocks[1:], start=1):
            starts.append(index if record.resume is not None else starts[-1])
        reading: Iterator[Block] | None = None
        at = 0  # the index of the block `reading` gives next
        try:
            for index, wanted in enumerate(needed):
                if not wanted:
                    continue
                if reading is None or starts[index] > at:
                    if reading is not None:
                        _close(reading)
                    at = starts[index]
                    reading = open_at(self.blocks[at].resume if at else None)
                while at < index:
                    next(reading)
                    at += 1
                block = next(reading)
                at += 1
                yield first_lines[index], block
        finally:
            if reading is not None:
                _close(reading)


def _close(blocks: Iterator[Block]) -> None:
    close = getattr(blocks, "close", None)
    if close is not None:
        close()
