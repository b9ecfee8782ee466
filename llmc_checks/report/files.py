"""The edge of the report package: the only place report files are written."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from llmc_checks import safe_text
from llmc_checks._files import write_text
from llmc_checks.report.json import json_document
from llmc_checks.results import Outcome


def write_all(
    outcomes: Sequence[tuple[Outcome, Sequence[int]]], paths: Sequence[Path]
) -> list[str]:
    """Write every requested report; returns the problems (never raises for I/O)."""
    problems = []
    for path in paths:
        if not path.parent.is_dir():
            # A typo in a folder name must not create a tree of folders nobody reads.
            problems.append(f"cannot write report {path}: folder {path.parent} does not exist")
            continue
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                text = safe_text.json_text(json_document(outcomes)) + "\n"
            else:
                text = _markdown(outcomes)
            write_text(path, text)
        except OSError as exc:
            problems.append(f"cannot write report {path}: {exc.strerror or exc}")
        except ValueError:  # json_text is strict: the evaluation let a NaN or inf through
            problems.append(f"cannot write report {path}: a value is not a finite number")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(_markdown(outcomes))
        except OSError as exc:
            problems.append(f"cannot append to $GITHUB_STEP_SUMMARY: {exc.strerror or exc}")
    return problems


def _markdown(outcomes: Sequence[tuple[Outcome, Sequence[int]]]) -> str:
    # Imported only when a Markdown report is asked for: most gates write JSON or nothing.
    from llmc_checks.report import markdown

    return markdown.render(outcomes)
