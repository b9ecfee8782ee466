"""The Markdown report, parsed as a Markdown renderer would: tables, links, sections."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from llmc_checks.config import parse_config
from llmc_checks.gate import Gate, Options
from llmc_checks.report import markdown
from llmc_checks.results import Outcome
from llmc_checks.synth import Scenario, Shift, Synth, generate, write_rows

JOB = "job/with space&more"  # a job id that must be URL-encoded inside the run id
HOST = "https://eu.posthog.com"


@pytest.fixture(scope="module")
def synth() -> Synth:
    scenario = Scenario(
        seed=21,
        days=4,
        traces_per_day=120,
        max_samples=500,
        job_id=JOB,
        shifts=(Shift(topic="sql", from_day=3, cost_factor=6.0),),
    )
    return generate(scenario)


def _outcome(tmp_path: Path, synth: Synth) -> Outcome:
    snapshot = tmp_path / "events.jsonl.gz"
    write_rows(synth.rows, snapshot)
    most_expensive = max(c.metrics_ui["avg_cost"] or 0 for c in synth.runs[-1].clusters)
    text = f"""\
version: 1
source:
  posthog: {{host: {HOST}, project_id: 42, api_key: phx_not_used}}
run: {{lookback: 30d}}
checks:
  - metric: noise_share
    max: 50%
  - metric: items_analyzed
    min: 1
  - name: Cost | ceiling
    metric: avg_cost_usd
    max: {most_expensive * 0.9}
  - metric: avg_cost_usd
    max: {most_expensive * 1.05}
  - metric: title_stability
    min: 50%
"""
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    return Gate(config, tmp_path / "checks.yaml", Options(snapshot=snapshot)).outcome()


def _tokens(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def _text(inline: Token) -> str:
    """What a reader sees of an inline token: its rendered text, escapes resolved."""
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


def _tables(tokens: list[Token]) -> list[list[list[str]]]:
    """Each table as rows of cell texts (header row first)."""
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            row = []
        elif tok.type in ("th_open", "td_open"):
            inline = tokens[i + 1]
            assert row is not None
            row.append(_text(inline) if inline.type == "inline" else "")
        elif tok.type == "tr_close":
            assert row is not None
            tables[-1].append(row)
    return tables


def _links(tokens: list[Token]) -> list[str]:
    found = []
    for tok in tokens:
        for child in tok.children or []:
            if child.type == "link_open":
                found.append(str(child.attrs["href"]))
    return found


def test_the_markdown_report_parses_into_well_formed_tables(tmp_path: Path, synth: Synth) -> None:
    outcome = _outcome(tmp_path, synth)
    text = markdown.render([(outcome, range(len(outcome.results)))])
    tokens = _tokens(text)
    tables = _tables(tokens)
    assert len(tables) >= 3  # checks, the failing clusters, the pairing
    for table in tables:
        widths = {len(row) for row in table}
        assert len(widths) == 1, table  # every row has the header's cells
    checks = tables[0]
    assert checks[0] == [
        "status",
        "check",
        "scope",
        "observed",
        "expected",
        "margin",
        "trend",
        "worst cluster",
    ]
    names = [row[1] for row in checks[1:]]
    # A pipe in a check name is escaped, not a column break.
    assert "Cost | ceiling" in names
    assert len(names) == len(outcome.results)
    statuses = {row[1]: row[0] for row in checks[1:]}
    assert statuses["Cost | ceiling"].endswith("fail")
    # The run-scope checks carry a sparkline over the 4 runs.
    trends = {row[1]: row[6] for row in checks[1:]}
    assert set(trends["items_analyzed min 1"]) <= set("▁▂▃▄▅▆▇█ ")
    assert len(trends["items_analyzed min 1"]) == 4
    headings = [t.content for t in tokens if t.type == "inline" and "llmc-checks" in t.content]
    assert headings and "regression" in headings[0]


def test_cluster_links_are_valid_urls_with_the_run_id_encoded(tmp_path: Path, synth: Synth) -> None:
    outcome = _outcome(tmp_path, synth)
    text = markdown.render([(outcome, range(len(outcome.results)))])
    # Evidence links go to trace pages (tests/test_evidence.py); these are the clusters'.
    links = [link for link in _links(_tokens(text)) if "/ai-observability/traces/" not in link]
    assert links
    latest = synth.runs[-1]
    for link in links:
        url = urlsplit(link)
        assert url.scheme == "https" and url.netloc == "eu.posthog.com"
        parts = url.path.split("/")
        assert parts[:5] == ["", "project", "42", "ai-observability", "clusters"]
        assert len(parts) == 7  # the run id is one path segment: its "/" is encoded
        assert unquote(parts[5]) == latest.run_id
        assert int(parts[6]) in latest.cluster_topics
        assert " " not in link and "&" not in parts[5]


def test_near_misses_are_listed(tmp_path: Path, synth: Synth) -> None:
    outcome = _outcome(tmp_path, synth)
    text = markdown.render([(outcome, range(len(outcome.results)))])
    # The second cost check sits 5% above the most expensive cluster: passing, but near.
    near = text[text.index("**Near misses**") :]
    item = next(t for t in _tokens(near.splitlines()[2]) if t.type == "inline")
    assert "avg_cost_usd max" in _text(item)
