"""safe_text: the sanitiser every renderer uses, checked by hand and against markdown-it."""

from __future__ import annotations

import json

from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from llmc_checks import safe_text

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def test_plain_drops_escape_sequences_and_controls_and_keeps_one_line() -> None:
    text = "\x1b[31mred\x1b[0m\x1b]0;title\x07 a\nb\tc\x00d\x9b2Je \u202eevil\u202c\u2028f"
    assert safe_text.plain(text) == "red a b cde evil f"


def test_lines_keeps_our_line_breaks_only() -> None:
    assert safe_text.lines("one\x1b[1m\n  - two\r\n") == "one\n  - two \n"


def test_quoted_is_the_plain_text_in_quotes_never_escaped() -> None:
    assert (
        safe_text.quoted("Evil\x1b[31m RED\nnext\tTab \u202eesrever")
        == "'Evil RED next Tab esrever'"
    )
    assert safe_text.quoted("Bob's refunds") == '"Bob\'s refunds"'
    assert safe_text.quoted('say "hi" it\'s') == "'say \"hi\" it's'"


def test_code_span_outlasts_backticks_inside() -> None:
    assert safe_text.code("run`1") == "``run`1``"
    assert safe_text.code("`x`") == "`` `x` ``"
    assert MD.renderInline(safe_text.code("a``b`")) == "<code>a``b`</code>"


def test_html_escapes_tags() -> None:
    assert safe_text.html('<b>"x"</b>\n') == "&lt;b&gt;&quot;x&quot;&lt;/b&gt; "


# Titles are mostly words; the alphabet leans on what Markdown reacts to.
TITLES = st.text(st.sampled_from("ab1 _*`~[]()!<>&|$@:#.-+=w\\\"'%{}^\n\x1b\u202e9)")) | st.text()


def _inline_text(block: str) -> tuple[list[str], str]:
    """The token types of `block` and the text of its one inline token."""
    tokens = MD.parse(block)
    inline = [t for t in tokens if t.type == "inline"]
    assert len(inline) <= 1, block
    children = inline[0].children or [] if inline else []
    kinds = [t.type for t in tokens] + [c.type for c in children]
    return kinds, "".join(c.content for c in children)


@given(TITLES)
@example("- nested")  # each a block a list item's text could open
@example("+ x")
@example("12) x")
@example("1. x")
@example("# x")
@example("> x")
@example("***")
@example("    indented")
@example("<b>x</b> ![i](http://e/x.png) <http://e>")
def test_markdown_text_renders_as_exactly_its_plain_text(text: str) -> None:
    """Whatever a title holds, its escaped form renders to its plain text (trimmed), as
    text only: no emphasis, link, image, code, HTML, break, list or heading is made of
    it, whether it follows other text or starts a list item."""
    escaped = safe_text.markdown(text)
    expected = safe_text.plain(text).strip()
    paragraph = {"paragraph_open", "inline", "text", "paragraph_close"}
    kinds, shown = _inline_text(f"x {escaped}")
    assert set(kinds) == paragraph and shown == f"x {expected}".rstrip(), kinds
    if expected:
        kinds, shown = _inline_text(f"- {escaped}")
        item = ["bullet_list_open", "list_item_open", "paragraph_open", "inline"]
        assert kinds[:4] == item and kinds.count("list_item_open") == 1, kinds
        assert set(kinds) <= {*paragraph, *item, "list_item_close", "bullet_list_close"}
        assert shown == expected


def test_json_text_is_strict_and_escapes_controls_inside_strings() -> None:
    doc = {"title": "a\x9bb\u202ec\x1bd\n"}
    text = safe_text.json_text(doc, indent=None)
    assert text == '{"title": "a\\u009bb\\u202ec\\u001bd\\n"}'
    assert json.loads(text) == doc  # the value is faithful
    for bad in (float("nan"), float("inf")):
        try:
            safe_text.json_text({"v": bad})
        except ValueError:
            continue
        raise AssertionError("a non-finite number reached JSON")


KEY = "phx_AbCdEfGh0123456789"


def test_redact_any_case_and_long_fragments_but_not_short_ones() -> None:
    assert safe_text.redact(f"x {KEY.lower()} y", KEY) == "x *** y"
    assert safe_text.redact(f"{KEY[:8]}|{KEY[-9:]}", KEY) == "***|***"
    # Seven characters in common is chance, not a leak: ordinary words survive.
    assert safe_text.redact(f"{KEY[:7]} phx_ ab", KEY) == f"{KEY[:7]} phx_ ab"
    assert safe_text.redact("a key", "abc") == "a key"  # too short to mean anything
