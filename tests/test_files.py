"""Files the gate writes (baselines, reports, recordings) appear whole or not at all,
leave no temporary file behind, and get the mode the user's umask gives a new file."""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmc_checks import _files, baseline_file, record
from llmc_checks.model import Cluster, LlmcError, Run
from llmc_checks.report import write_all
from llmc_checks.results import CheckResult, Outcome

UTC = timezone.utc


def _run(run_id: str) -> Run:
    return Run(
        run_id=run_id,
        level="trace",
        job_id="job",
        job_name="Default - trace",
        window_start=datetime(2026, 11, 8, tzinfo=UTC),
        window_end=datetime(2026, 11, 15, tzinfo=UTC),
        items_analyzed=10,
        clusters=(Cluster(0, "Refunds", "", 10),),
    )


def _outcome() -> Outcome:
    result = CheckResult("n", "noise_share", "run", "pass", 0.1, "≤ 25%", "noise_share = 10%")
    return Outcome(Path("checks.yaml"), "snapshot s.jsonl", (result,), _run("r1"))


@pytest.fixture
def umask() -> Iterator[Any]:
    """Set the process umask for one test; restored afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_every_written_file_gets_its_mode_from_the_umask(
    tmp_path: Path, umask: Any, mask: int
) -> None:
    umask(mask)
    baseline = tmp_path / "baseline.json"
    baseline_file.write(baseline, _run("r1"), "ui")
    reports = [tmp_path / "out.json", tmp_path / "out.md"]
    assert write_all([(_outcome(), [0])], reports) == []
    recording = tmp_path / "rec.jsonl.gz"
    record._write(recording, [[{"event": "x"}]])
    for path in (baseline, *reports, recording):
        assert _mode(path) == 0o666 & ~mask, path.name
    assert _leftovers(tmp_path, "baseline.json", "out.json", "out.md", "rec.jsonl.gz") == []


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask: Any) -> None:
    path = tmp_path / "baseline.json"
    path.write_text("old")
    path.chmod(0o640)
    baseline_file.write(path, _run("r1"), "ui")
    assert _mode(path) == 0o640
    assert baseline_file.read(path, "ui")[0].run_id == "r1"


def test_a_failed_replace_keeps_the_old_baseline_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "baseline.json"
    baseline_file.write(path, _run("old"), "ui")

    def no_space(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError, match="No space"):
        baseline_file.write(path, _run("new"), "ui")
    assert baseline_file.read(path, "ui")[0].run_id == "old"
    assert _leftovers(tmp_path) == ["baseline.json"]


def test_a_report_that_cannot_be_written_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "out.json").mkdir()  # the report path is taken by a directory
    problems = write_all([(_outcome(), [0])], [tmp_path / "out.json"])
    assert len(problems) == 1 and problems[0].startswith(f"cannot write report {tmp_path}")
    assert _leftovers(tmp_path) == ["out.json"]


def test_a_recording_that_fails_midway_keeps_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl.gz"
    record._write(path, [[{"event": "old"}]])
    before = path.read_bytes()

    def rows() -> Iterator[dict[str, Any]]:
        yield {"event": "new"}
        raise LlmcError("the source broke off")

    with pytest.raises(LlmcError, match="broke off"):
        record._write(path, [rows()])
    assert path.read_bytes() == before
    assert [orjson.loads(line) for line in gzip.decompress(before).splitlines()] == [
        {"event": "old"}
    ]
    assert _leftovers(tmp_path) == ["rec.jsonl.gz"]


def test_an_interrupt_mid_write_removes_the_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt), _files.atomic_write(path) as fh:
        fh.write(b"half")
        raise KeyboardInterrupt
    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == ["out.txt"]


def test_two_writers_never_share_a_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with _files.atomic_write(path) as first, _files.atomic_write(path) as second:
        first.write(b"first")
        second.write(b"second")
    assert path.read_text() == "first"  # the last to finish wins, whole
    assert _leftovers(tmp_path) == ["out.txt"]


def test_an_exclusive_write_never_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "checks.yaml"
    _files.write_text(target, "first\n", exclusive=True)
    assert target.read_text() == "first\n"
    with pytest.raises(FileExistsError):
        _files.write_text(target, "second\n", exclusive=True)
    assert target.read_text() == "first\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checks.yaml"]


def test_an_exclusive_write_loses_a_race_cleanly(tmp_path: Path) -> None:
    # Another process creates the file while this one is writing: the link refuses.
    target = tmp_path / "checks.yaml"
    with pytest.raises(FileExistsError), _files.atomic_write(target, exclusive=True) as fh:
        fh.write(b"mine\n")
        target.write_text("theirs\n")
    assert target.read_text() == "theirs\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checks.yaml"]
