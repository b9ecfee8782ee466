"""Outcomes → the terminal table, JSON and Markdown reports; files are written at its edge.

cells.py     texts every renderer shares     terminal.py  the summary table
json.py      the JSON document               markdown.py  the Markdown report
files.py     write_all: the only module that writes report files
"""

from __future__ import annotations

from llmc_checks.report.files import write_all
from llmc_checks.report.json import gate_json, json_document
from llmc_checks.report.terminal import terminal

__all__ = ["gate_json", "json_document", "terminal", "write_all"]
