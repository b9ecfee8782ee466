"""Untrusted text made safe to show: the one sanitiser every renderer uses.

Cluster titles and descriptions are LLM output; job names, run ids and server error
texts come from outside too. None of them may drive a terminal (ANSI escapes, bare
carriage returns, bidi overrides), split a line or table row, or become live Markdown
or HTML (images that fetch a URL, links, raw tags, mentions, math) in a CI page.

plain(text)     one line for a terminal: control characters gone, whitespace collapsed
lines(text)     the same, but our own line breaks kept (multi-line messages)
quoted(text)    plain, in quotes: a title inside one of our messages
markdown(text)  plain, then every character that can open Markdown, HTML, autolink,
                mention or math syntax backslash-escaped (CommonMark lets any ASCII
                punctuation be escaped); inert ones (a_b, 5%, (x)) stay readable
code(text)      plain inside a Markdown code span whose fence outlasts any backtick run
html(text)      plain, HTML-escaped (inside the report's own <details> block)
json_text(doc)  a JSON text whose strings keep the raw value but carry no raw control
                character: C1, DEL, bidi and invisible format characters are written
                as \\uXXXX escapes
redact(text, secret)  the secret, in any letter case, and any long fragment of it, gone
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "code",
    "escaped",
    "html",
    "json_text",
    "lines",
    "markdown",
    "plain",
    "quoted",
    "redact",
    "unsafe_character",
]

# Whole terminal escape sequences first (CSI, OSC, DCS/PM/APC, two-byte ESC forms), so
# no "[31m" residue is left behind; 8-bit CSI/OSC introducers too.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x9d\x98\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"  # OSC/DCS/.. to ST
    r"|\x1b[ -/]*[0-~]?",  # any other ESC sequence
    re.DOTALL,
)
# Invisible format characters: zero-width space and non-joiner, word joiner, the
# invisible operators, the deprecated shaping controls, the byte order mark. They let
# two titles that read alike differ ("all\u200bchecks"), or hide text in a name. Not
# the zero-width joiner (U+200D): it holds emoji sequences together (👩‍💻).
_INVISIBLE_CLASS = "\u200b\u200c\u2060-\u2064\u206a-\u206f\ufeff"
# C0, DEL, C1, the line/paragraph separators, and the bidi controls (embeddings,
# overrides, isolates, marks) that can make a line read other than it is stored.
_CONTROL_CLASS = (
    "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069" + _INVISIBLE_CLASS
)
_CONTROL = re.compile(f"[{_CONTROL_CLASS}]")
_BREAKS = re.compile("[\t\n\r\f\v\x85\u2028\u2029]")
# Always escaped: emphasis, code, strikethrough, links/images, HTML and autolinks,
# entities, table pipes, math, mentions, scheme autolinks and emoji, headings/refs.
# `_` between two letters or digits cannot open emphasis, so "p95_latency_s" stays as
# is; "." only ends a "www" (GFM's extended autolink); "-", "+" and "1." only matter
# where a line starts (lists), i.e. at the start of the text.
_MD_SPECIAL = re.compile(
    r"([\\`*~\[\]!<>&|$@:#])"
    r"|(?<![^\W_])_|_(?![^\W_])"
    r"|(?<=www)\."
    r"|^[-+=]",
    re.IGNORECASE,
)
_ORDERED_START = re.compile(r"^(\d{1,9})([.)])")
_JSON_UNSAFE = re.compile(
    f"[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069{_INVISIBLE_CLASS}]"
)


def plain(text: str) -> str:
    """One terminal-safe line: escape sequences and control characters removed,
    line breaks and tabs each one space."""
    text = _ESCAPES.sub("", text)
    text = _BREAKS.sub(" ", text)
    return _CONTROL.sub("", text)


def unsafe_character(text: str) -> str | None:
    """The first character `plain` would remove or replace (a control, bidi or invisible
    format character, a line break or tab), or None when `text` is shown as written."""
    m = _CONTROL.search(text)
    return m.group() if m else None


def escaped(text: str) -> str:
    """`text` with each character `plain` would remove written as a visible \\uXXXX
    escape: for echoing what a user wrote, where the hidden character is the problem."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def lines(text: str) -> str:
    """Like `plain`, line by line: the line breaks of a message we built are kept."""
    return "\n".join(plain(line) for line in text.split("\n"))


def quoted(text: str) -> str:
    """`plain(text)` in quotes, for a title inside a message. Not repr(): its escapes
    (`\\x1b`, `\\n`) would survive every later cleaning as visible noise. Double quotes
    when the text holds a single quote and no double one, as repr chooses."""
    text = plain(text)
    mark = '"' if "'" in text and '"' not in text else "'"
    return f"{mark}{text}{mark}"


def markdown(text: str) -> str:
    """Literal text in Markdown (a table cell, a heading, a list item)."""
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), plain(text).strip())
    return _ORDERED_START.sub(r"\1\\\2", escaped)


def code(text: str) -> str:
    """A Markdown code span showing `text` literally, whatever backticks it holds."""
    text = plain(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def html(text: str) -> str:
    """Literal text inside HTML."""
    import html as _html

    return _html.escape(plain(text), quote=True)


def json_text(document: Any, *, indent: int | None = 2) -> str:
    """Strict JSON (NaN and infinities raise ValueError): string values stay exactly as
    they were, but C1, DEL and bidi controls are \\u-escaped, so printing the file
    cannot drive a terminal. (C0 controls are always escaped by JSON itself.)"""
    text = json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)
    # Outside strings a JSON text is ASCII, so every match lies inside a string.
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# Fragments this long are redacted: long enough that ordinary text never matches a
# random key by chance, short enough that a cut-off prefix or suffix cannot leak.
MIN_FRAGMENT = 8


def redact(text: str, secret: str, *, mask: str = "***") -> str:
    """`text` without `secret`: any letter case, and any fragment of it of at least
    MIN_FRAGMENT characters (a server may echo the key upper-cased, cut or split)."""
    if len(secret) < 4 or not text:  # redacting "x" would mangle text and guard nothing
        return text
    key = secret.casefold()
    folded = text.casefold()
    if len(folded) != len(text):  # casefold changed lengths (ß → ss): compare lowercased
        key, folded = secret.lower(), text.lower()
        if len(folded) != len(text):
            return text.replace(secret, mask)
    shortest = min(MIN_FRAGMENT, len(key))
    out: list[str] = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and folded[i : j + 1] in key:
            j += 1
        if j - i >= shortest:
            out.append(mask)
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
