"""The two block readers (plain Python for small files, numpy for large) give the same
answers, and each parses every line of a selected item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import llmc_cluster, llmc_event, llmc_run_event, llmc_write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

from llmc_checks.sources import _blocks
from llmc_checks.sources._blocks import finder
from llmc_checks.sources._numpy_blocks import NumpyBlock, NumpyProbe
from llmc_checks.sources._plain_blocks import PlainBlock, PlainProbe

KEY = b'"$ai_trace_id"'
IDS = ["t1", "t22", "t333", "ab\u00e9", "t1x", 'q"uote', "back\\slash", ""]
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
@given(text=texts, wanted=st.sets(st.sampled_from(SELECTABLE)))
def test_plain_probe_parses_what_numpys_exact_probe_parses(text: bytes, wanted: set[str]) -> None:
    # numpy's probe compares ids exactly (not by hash) when the ids have many lengths;
    # there the two must pick the very same lines, but for a key whose string never
    # closes on its line, which the plain probe parses (numpy's reads on into the next).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NumpyProbe, "_GROUPS_MAX", -1)
        exact = NumpyProbe(KEY, wanted).lines_to_parse(NumpyBlock(text))
    block = PlainBlock(text)
    plain = PlainProbe(KEY, wanted).lines_to_parse(block)
    unclosed = {i for i in range(len(block)) if _unclosed_key(block.line(i))}
    assert set(plain) - unclosed == set(exact) - unclosed
    assert unclosed <= set(plain)


def _unclosed_key(line: bytes) -> bool:
    at = line.find(KEY)
    if at < 0:
        return False
    rest = line[at + len(KEY) :]
    for sep in (b':"', b': "'):
        if rest.startswith(sep):
            return b'"' not in rest[len(sep) :]
    return False


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
