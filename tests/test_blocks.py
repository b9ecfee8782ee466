"""The two block readers (plain Python for small files, numpy for large) give the same
answers, and each parses every line of a selected item."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import llmc_cluster, llmc_event, llmc_run_event, llmc_write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

from llmc_checks.model import DataError, RunRequest
from llmc_checks.sources import _blocks
from llmc_checks.sources._blocks import finder
from llmc_checks.sources._numpy_blocks import NumpyBlock, NumpyProbe
from llmc_checks.sources._plain_blocks import PlainBlock, PlainProbe
from llmc_checks.sources.snapshot import SnapshotSource

KEY = b'"$ai_trace_id"'
IDS = ["t1", "t22", "t333", "ab\u00e9", "t1x", 'q"uote', "back\\slash", ""]
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
    assert plain.split() == numpy.split()
    assert plain.well_formed() == numpy.well_formed()
    finders = [finder(b"$ai_generation"), finder(b'"n"', regex=True)]
    assert plain.lines_holding(finders) == numpy.lines_holding(finders)
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
