"""Configs a new user writes by mistake (a fresh-eyes review of the config language):
each is refused with one line saying where and what, never accepted quietly."""

from __future__ import annotations

import pytest

from llmc_checks.config import ConfigError, parse_config

HEAD = "version: 1\nsource:\n  snapshot: events.jsonl\n"


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    return str(info.value)


# -- check names: the pytest item id, printed raw by pytest itself ----------------------


@pytest.mark.parametrize(
    ("written", "found"),
    [
        (r'"\e[31mred"', "U+001B"),  # an ANSI colour: pytest prints item names raw
        (r'"ding\a"', "U+0007"),
        (r'"two\nlines"', "U+000A"),
        (r'"tab\there"', "U+0009"),
        (r'"abc\u202Edef"', "U+202E"),  # a bidi override reverses what the line reads
        (r'"zero\u200Bwidth"', "U+200B"),
        (r'"\e\a"', "U+001B"),  # nothing left to show once cleaned
    ],
)
def test_a_check_name_with_control_characters_is_refused(written: str, found: str) -> None:
    text = HEAD + f"checks:\n  - metric: size\n    max: 3\n    name: {written}\n"
    assert error_of(text) == (
        f"checks.yaml:7:11: checks[0].name: must not hold control or invisible characters "
        f"(found {found}); a check name is one line of plain text"
    )


def test_a_check_name_with_markdown_and_html_is_kept_as_written() -> None:
    # Printable text is the user's choice; every report escapes it where it is shown.
    name = "**bold** <b>x</b> | [link](http://e) `code` café 👩‍💻"
    config = parse_config(
        HEAD + f"checks:\n  - metric: size\n    max: 3\n    name: '{name}'\n", env={}
    )
    assert config.checks[0].display_name == name
