"""Untrusted text (LLM cluster titles, job names, run ids) reaching every place it is shown.

A snapshot whose titles carry ANSI escapes, newlines, NUL, C1 and bidi controls, and
Markdown/HTML that would be live in a CI page, run through the plugin end to end: the
terminal, the failure messages, the pytest warning, the Markdown report and the step
summary must show it as inert text; the JSON report keeps it faithfully (decoded) but
with no raw control character in the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import llmc_cluster, llmc_run_event, llmc_write_jsonl
from markdown_it import MarkdownIt
from markdown_it.token import Token
from plugin_helpers import run, write_config

pytestmark = pytest.mark.usefixtures("_clean_env")

ANSI = "\x1b[2J\x1b[1;1H\x1b[32mall checks PASS\x1b[0m"
BIDI = "\u202egnp.exe\u202c"
# Invisible format characters (zero-width space and non-joiner, word joiner, invisible
# operator, deprecated shaping control, byte order mark) beside the zero-width joiner of
# an emoji sequence, which must stay.
INVISIBLE = "zero\u200bwidth\u200c\u2060\u2062\u206a\ufeff \U0001f469\u200d\U0001f4bb"
HOSTILE = (
    f"{ANSI}\nfake | row\x00\x9b31m {BIDI} ![x](http://evil.example/x.png) <b>bold</b> {INVISIBLE}"
)
LINKS = "<http://evil.example/a> www.evil.example @everyone $x^2$ [y](http://evil.example/b)"
JOB_NAME = "nightly\x1b]0;pwned\x07\nINJECTED LINE"
RUN_ID = "1_trace_20261115_001503_job"
# Anything a terminal or a renderer could act on: C0 (bar the line feed), DEL, C1, bidi;
# and what hides in a line: the invisible format characters.
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\u200b\u200c\u2060-\u2064\u206a-\u206f\ufeff]"
)


def _clusters(prefix: str) -> list[dict[str, object]]:
    return [
        llmc_cluster(0, [f"{prefix}a{i}" for i in range(60)], title=HOSTILE),
        llmc_cluster(1, [f"{prefix}b{i}" for i in range(30)], title=LINKS),
        llmc_cluster(2, [f"{prefix}c{i}" for i in range(10)], title="Plain topic"),
    ]


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    previous = llmc_run_event(
        "0_trace_20261108_001503_job",
        _clusters("p"),
        job_name=JOB_NAME,
        window_start="2026-11-01T00:15:03+00:00",
        window_end="2026-11-08T00:15:03+00:00",
        emitted="2026-11-08T00:20:00+00:00",
    )
    latest = llmc_run_event(RUN_ID, _clusters("l"), job_name=JOB_NAME)
    return llmc_write_jsonl(tmp_path / "hostile.jsonl", [previous, latest])


CHECKS = """\
- name: share ceiling
  metric: size_share
  max: 40%
- name: share warning
  metric: size_share
  max: 40%
  severity: warn
- metric: title_stability
  min: 0%
"""


def _run(pytester: pytest.Pytester, snapshot: Path) -> tuple[str, Path, Path]:
    config = write_config(pytester, CHECKS, snapshot=snapshot)
    md, js = pytester.path / "report.md", pytester.path / "report.json"
    result = run(pytester, "--llmc-config", config, "--llmc-report", md, "--llmc-report", js, "-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    return result.stdout.str() + "\n" + result.stderr.str(), md, js


def test_the_terminal_output_carries_no_control_character(
    pytester: pytest.Pytester, snapshot: Path
) -> None:
    out, _, _ = _run(pytester, snapshot)
    assert not UNSAFE.findall(out)
    # The title is still recognisable, on one line: no forged line starts.
    assert not re.search(r"^fake \| row", out, re.M)
    assert not re.search(r"^INJECTED LINE", out, re.M)
    assert "all checks PASS" in out  # shown as text, not obeyed
    assert "share warning" in out and "LlmcCheckWarning" in out


def _walk(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        out += _walk(token.children or [])
    return out


def test_the_markdown_report_and_step_summary_render_titles_as_inert_text(
    pytester: pytest.Pytester, snapshot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _, md, _ = _run(pytester, snapshot)
    for text in (md.read_text(encoding="utf-8"), summary.read_text(encoding="utf-8")):
        assert not UNSAFE.findall(text)
        tokens = _walk(MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(text))
        kinds = {t.type for t in tokens}
        assert "image" not in kinds
        assert "link_open" not in kinds  # a snapshot has no PostHog host to link to
        html = [t.content for t in tokens if t.type in ("html_inline", "html_block")]
        assert all("<b>" not in h and "evil" not in h for h in html), html
        rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)
        assert "<b>" not in rendered and "&lt;b&gt;bold&lt;/b&gt;" in rendered
        assert "![x](http://evil.example/x.png)" in rendered  # shown, literally
        assert 'href="http://evil.example' not in rendered
        assert "www.evil.example" in rendered and "@everyone" in rendered
        # No extended autolink, mention or math survives: the trigger characters are escaped.
        assert "www\\.evil" in text and "\\@everyone" in text and "\\$x" in text
        # Every table row keeps its column count: a title cannot split or widen one.
        for table in re.findall(r"(?:^\|.*\|\n)+", text, re.M):
            widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
            assert len(widths) == 1, table


def test_the_json_report_keeps_titles_faithfully_without_raw_controls(
    pytester: pytest.Pytester, snapshot: Path
) -> None:
    _, _, js = _run(pytester, snapshot)
    raw = js.read_text(encoding="utf-8")
    assert not UNSAFE.findall(raw)
    doc = json.loads(raw)
    titles = {c["title"] for check in doc["checks"] for c in check["clusters"]}
    assert HOSTILE in titles  # data stays data: exactly what PostHog holds
    assert doc["run"]["job_name"] == JOB_NAME


def test_the_warn_check_warning_ends_with_its_message_not_a_yaml_line(
    pytester: pytest.Pytester, snapshot: Path
) -> None:
    out, _, _ = _run(pytester, snapshot)
    summary = out[out.index("warnings summary") :]
    # pytest prints the warning's location (checks.yaml:line) but no source line under
    # it: "- name: share warning" would read like one more failing cluster.
    assert re.search(r"checks\.yaml:\d+: LlmcCheckWarning: share warning: ", summary)
    assert "- name: share warning" not in summary


def test_failure_messages_show_a_title_cleaned_not_escaped(
    pytester: pytest.Pytester, snapshot: Path
) -> None:
    out, _, js = _run(pytester, snapshot)
    # By hand: the escape sequences (7-bit and the 8-bit CSI) and NUL gone, the bidi
    # override and its pop gone, the line break one space; quoted as the text it is.
    # The invisible format characters gone too, the emoji's joiner kept.
    cleaned = (
        "all checks PASS fake | row gnp.exe ![x](http://evil.example/x.png) <b>bold</b> "
        "zerowidth \U0001f469\u200d\U0001f4bb"
    )
    line = f"  - '{cleaned}' (cluster 0, 60 items): 60.0%"
    failures = out[out.index("FAILURES") : out.index("warnings summary")]
    assert line in failures.splitlines(), failures
    assert "\\x1b" not in out and "\\n" not in out and "\\u202e" not in out
    warning = out[out.index("warnings summary") :]
    assert f"'{cleaned}' (cluster 0, 60 items)" in warning
    # The JSON report's message is the same text (its titles stay exactly as held).
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert line in doc["checks"][0]["message"].splitlines()
