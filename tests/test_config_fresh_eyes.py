"""Configs a new user writes by mistake (a fresh-eyes review of the config language):
each is refused with one line saying where and what, never accepted quietly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmc_checks import cli
from llmc_checks.config import ConfigError, parse_config
from llmc_checks.starter import runs_count

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


# -- an empty value: YAML reads `job:` with nothing after it as null -------------------

CHECK = "checks:\n  - metric: error_rate\n    max: 5%\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # Read as "any job": the gate would judge whichever job ran last.
        (HEAD + "run:\n  job:\n" + CHECK, "5:7: run.job"),
        (HEAD + CHECK + "    confidence:\n", "7:16: checks[0].confidence"),
        (HEAD + CHECK + "    min:\n", "7:9: checks[0].min"),
        (HEAD + CHECK + "    max_increase:\n", "7:18: checks[0].max_increase"),
        (HEAD + CHECK + "    name:\n", "7:10: checks[0].name"),
        (HEAD + CHECK + "    baseline:\n", "7:14: checks[0].baseline"),
        (HEAD + "checks:\n  - metric: size\n    max: 3\n    where:\n", "7:11: checks[0].where"),
        (
            HEAD + "checks:\n  - {metric: size, max: 3, where: {title: }}\n",
            "5:42: checks[0].where.title",
        ),
        (HEAD + "  posthog:\n" + CHECK, "4:11: source.posthog"),
        (
            "version: 1\nsource:\n  snapshot:\n  posthog: {project_id: 1, api_key: k}\n" + CHECK,
            "3:12: source.snapshot",
        ),
    ],
)
def test_a_key_left_empty_is_refused_not_read_as_absent(text: str, where: str) -> None:
    assert error_of(text) == (
        f"checks.yaml:{where}: has no value (YAML reads an empty value as null); "
        "write one, or leave the key out"
    )


def test_a_key_left_empty_is_reported_beside_the_file_s_other_problems() -> None:
    text = HEAD + "run:\n  job:\nchecks:\n  - {metric: nope, max: 1}\n"
    assert error_of(text).splitlines() == [
        "checks.yaml:5:7: run.job: has no value (YAML reads an empty value as null); "
        "write one, or leave the key out",
        "checks.yaml:7:14: checks[0].metric: unknown metric 'nope'; expected one of: "
        + ", ".join(__import__("llmc_checks.metrics_catalog").metrics_catalog.METRICS),
    ]


# -- an absolute change on a ratio: a bare number is in the ratio's unit ---------------


@pytest.mark.parametrize(
    ("metric", "bound", "written"),
    [
        ("error_rate", "max_increase", "5"),  # meant 5 points: 500 points can never happen
        ("noise_share", "max_increase", "1.5"),
        ("size_share", "max_decrease", "2"),
    ],
)
def test_an_absolute_change_past_a_whole_ratio_is_refused(
    metric: str, bound: str, written: str
) -> None:
    text = HEAD + f"checks:\n  - metric: {metric}\n    {bound}: {written}\n"
    col = 7 + len(bound)
    assert error_of(text) == (
        f"checks.yaml:6:{col}: checks[0].{bound}: a change in {metric} (a ratio, 0 to 1) is at "
        f"most 1, so {written} can never be exceeded; write 0.05 for five points, or a "
        "percent like '20%' for a change relative to the baseline value"
    )


@pytest.mark.parametrize("written", ["1", "0.02", "500%", "0"])
def test_a_possible_change_on_a_ratio_is_accepted(written: str) -> None:
    text = HEAD + f"checks:\n  - metric: error_rate\n    max_increase: {written}\n"
    assert parse_config(text, env={}).checks[0].max_increase is not None


# -- YAML 1.1 numbers that are not what they look like -----------------------------------


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "010",
            "'010' starts with 0, which YAML reads as an octal number (8); "
            "write it without the leading zero",
        ),
        (
            "-0_12",
            "'-0_12' starts with 0, which YAML reads as an octal number (-10); "
            "write it without the leading zero",
        ),
        ("1:30", "'1:30' is a base-60 number in YAML (90); write the number itself"),
        ("1:30.5", "'1:30.5' is a base-60 number in YAML (90.5); write the number itself"),
    ],
)
def test_a_number_yaml_would_read_as_another_is_refused(written: str, message: str) -> None:
    # `max: 010` was read as 8, and the check's id said "size max 8".
    text = HEAD + f"checks:\n  - metric: size\n    max: {written}\n"
    assert error_of(text) == f"checks.yaml:6:10: checks[0].max: invalid YAML: {message}"


@pytest.mark.parametrize(
    ("written", "value"), [("10", 10), ("0", 0), ("0.5", 0.5), ("1_000", 1000), ("'010'", 10)]
)
def test_plain_numbers_read_as_written(written: str, value: float) -> None:
    text = HEAD + f"checks:\n  - metric: size\n    max: {written}\n"
    assert parse_config(text, env={}).checks[0].max == value


# -- what an error echoes from the file -------------------------------------------------


def test_an_error_shows_a_control_character_it_echoes_instead_of_sending_it() -> None:
    # "\e[2J" clears the terminal: the key the error names must be seen, not obeyed.
    text = HEAD + 'run:\n  "lev\\e[2Jel": trace\nchecks:\n  - {metric: "a\\u202Eb", max: 1}\n'
    lines = error_of(text).splitlines()
    assert lines[0] == (
        "checks.yaml:5:3: run: unknown key 'lev\\u001b[2Jel'; did you mean 'level'?"
    )
    assert lines[1].startswith("checks.yaml:7:14: checks[0].metric: unknown metric 'a\\u202eb';")


@pytest.mark.parametrize("bound", ["max_increase: 10%", "max_decrease: 1"])
def test_run_age_against_a_baseline_is_refused(bound: str) -> None:
    # The baseline run is always the older: its age now exceeds the latest's by the time
    # between them, so max_increase could never fail and max_decrease judged the schedule.
    text = HEAD + f"checks:\n  - metric: run_age_hours\n    {bound}\n"
    key = bound.split(":")[0]
    assert error_of(text) == (
        f"checks.yaml:6:{7 + len(key)}: checks[0].{key}: run_age_hours is counted from now, "
        "so against a baseline it measures only the time between the two runs; "
        "bound it with max"
    )


def test_the_schema_refuses_an_empty_value_as_the_models_do() -> None:
    import json

    import jsonschema  # type: ignore[import-untyped]
    import yaml

    from llmc_checks.config.schema import schema_text

    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    ok = HEAD + "run:\n  job: nightly\n" + CHECK + "    confidence: 0.95\n"
    assert list(validator.iter_errors(yaml.safe_load(ok))) == []
    for text in (
        HEAD + "run:\n  job:\n" + CHECK,
        HEAD + CHECK + "    confidence:\n",
        HEAD + CHECK + "    min:\n",
        HEAD + "checks:\n  - {metric: size, max: 3, where: {title: }}\n",
    ):
        assert not validator.is_valid(yaml.safe_load(text)), text


def test_an_unquoted_run_id_says_to_quote_it() -> None:
    # YAML reads 1_20261114_001503 as the number 120261114001503: the id is lost.
    text = HEAD + "baseline: {run_id: 1_20261122_001503}\n" + CHECK
    assert error_of(text) == (
        "checks.yaml:4:20: baseline.run_id: a run id is text: quote it, like "
        "run_id: '1_20261114_001503' (unquoted, YAML reads digits and underscores as a number)"
    )


def test_an_empty_title_regex_is_refused() -> None:
    # It matches every title: the check would judge every cluster, not the pattern meant.
    text = HEAD + "checks:\n  - {metric: size, max: 3, where: {title: ''}}\n"
    assert error_of(text) == (
        "checks.yaml:5:43: checks[0].where.title: must not be empty (an empty regular "
        "expression matches every title); leave title out to check every cluster"
    )


# -- $NAME without braces: docker compose reads it, llmc-checks would have kept it ------


@pytest.mark.parametrize(
    ("value", "col"), [("$POSTHOG_PERSONAL_API_KEY", 14), ("'key-$K'", 14), ("${A}$B", 14)]
)
def test_a_variable_without_braces_is_refused_not_kept_as_text(value: str, col: int) -> None:
    # The key would have been the literal text "$POSTHOG_PERSONAL_API_KEY", and the gate
    # would have sent it to PostHog.
    text = f"version: 1\nsource:\n  posthog:\n    project_id: 1\n    api_key: {value}\n" + CHECK
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={"A": "a", "B": "b", "K": "k"})
    assert str(info.value) == (
        f"checks.yaml:5:{col}: source.posthog.api_key: a $ before a name is not read from the "
        "environment; write ${NAME} for a variable, or $$ for a literal $"
    )


@pytest.mark.parametrize(("written", "value"), [("'cost $5'", "cost $5"), ("'a $ b$'", "a $ b$")])
def test_a_dollar_not_before_a_name_stays(written: str, value: str) -> None:
    text = HEAD + f"run:\n  job: {written}\n" + CHECK
    assert parse_config(text, env={}).run.job == value


def test_a_whole_value_naming_a_variable_without_braces_is_refused_anywhere() -> None:
    text = HEAD + "run:\n  job: $LLMC_JOB\n" + CHECK
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={"LLMC_JOB": "Default - traces"})
    assert "run.job: a $ before a name is not read from the environment" in str(info.value)


def test_a_variable_without_braces_in_a_baseline_file_path_is_refused() -> None:
    # 'baselines/$GITHUB_REF_NAME.json' would be one file of that very name for every branch.
    text = HEAD + "baseline: {file: 'baselines/$GITHUB_REF_NAME.json'}\n" + CHECK
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={"GITHUB_REF_NAME": "main"})
    assert "baseline.file: a $ before a name is not read from the environment" in str(info.value)


def test_a_dollar_before_a_word_in_a_name_or_title_is_text() -> None:
    # Outside `source`, '$USD' inside a longer value is text a user wrote: a check name,
    # or a title regex matching a literal dollar ('\$USD').
    text = HEAD + (
        "checks:\n  - metric: size\n    max: 5\n    name: cost in $USD\n"
        "    where: {title: '(?i)price \\$usd|refund'}\n"
    )
    (check,) = parse_config(text, env={"USD": "x"}).checks
    assert check.name == "cost in $USD"
    assert check.where is not None and check.where.title == "(?i)price \\$usd|refund"


@pytest.mark.parametrize(
    ("line", "col"), [("    max:\t5", 9), ("    max: 5\t# five", 11), ("    max: 5\t", 11)]
)
def test_a_tab_inside_a_line_is_not_called_indentation(line: str, col: int) -> None:
    text = HEAD + "checks:\n  - metric: size\n" + line + "\n"
    assert error_of(text) == (
        f"checks.yaml:6:{col}: invalid YAML: found character '\\t' that cannot start any "
        "token (YAML separates with spaces, not tabs)"
    )


def test_a_lookback_past_the_calendar_is_refused() -> None:
    # 1000000d before now is before year 1: the gate stopped with "internal error:
    # OverflowError: date value out of range" on every check.
    text = HEAD + "run:\n  lookback: 1000000d\n" + CHECK
    assert error_of(text) == (
        "checks.yaml:5:13: run.lookback: must be at most 36500d (100 years), got 1000000d"
    )
    assert parse_config(HEAD + "run:\n  lookback: 36500d\n" + CHECK, env={}).run.lookback


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (".inf", "must be a finite number of seconds"),
        (".nan", "must be a finite number of seconds"),
        ("'inf'", "must be a finite number of seconds"),
        ("1e300", "must be at most 3600 (an hour), got 1e+300"),
        ("3601", "must be at most 3600 (an hour), got 3601"),
    ],
)
def test_a_timeout_past_an_hour_is_refused(written: str, message: str) -> None:
    # .inf and 1e300 validated, then every check errored with "internal error:
    # OverflowError: timestamp out of range for platform time_t".
    text = (
        "version: 1\nsource:\n  posthog:\n    project_id: 1\n    api_key: k\n"
        f"    timeout_s: {written}\n" + CHECK
    )
    assert error_of(text) == f"checks.yaml:6:16: source.posthog.timeout_s: {message}"


def test_a_timeout_of_an_hour_reads() -> None:
    text = (
        "version: 1\nsource:\n  posthog:\n    project_id: 1\n    api_key: k\n"
        "    timeout_s: 3600\n" + CHECK
    )
    posthog = parse_config(text, env={}).source.posthog
    assert posthog is not None and posthog.timeout_s == 3600


@pytest.mark.parametrize("written", ["1001", "99999999999999999999999"])
def test_a_median_of_more_runs_than_a_query_can_ask_is_refused(written: str) -> None:
    # Past 64 bits the live gate stopped with "internal error: TypeError: Integer exceeds
    # 64-bit range" (the count is the query's LIMIT); a snapshot said nothing.
    text = HEAD + f"baseline: {{median_of: {written}}}\n" + CHECK
    assert error_of(text) == (
        "checks.yaml:4:23: baseline.median_of: must be less than or equal to 1000"
    )
    assert parse_config(HEAD + "baseline: {median_of: 1000}\n" + CHECK, env={}).baseline


# -- init: how many runs to learn from ---------------------------------------------------


@pytest.mark.parametrize("written", ["1001", "99999999999999999999999"])
def test_init_refuses_more_runs_than_a_query_can_ask(
    written: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Past 64 bits a live init died with a traceback ("TypeError: Integer exceeds 64-bit
    # range": the count is the query's LIMIT).
    with pytest.raises(SystemExit) as info:
        cli.main(["init", str(tmp_path / "checks.yaml"), "--runs", written])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"llmc-checks init: error: argument --runs: at most 1000 runs, got {written}"
    )
    assert not (tmp_path / "checks.yaml").exists()


def test_init_reads_a_thousand_runs() -> None:
    assert runs_count("1000") == 1000


# -- a title regex in double quotes: YAML reads "\b" as a backspace ---------------------


def test_a_title_regex_holding_a_control_character_is_refused() -> None:
    # "(?i)\brefund" in double quotes is "(?i)<backspace>refund": it matched no title, and
    # the check was skipped ("where matches no cluster") instead of judging the pattern.
    text = HEAD + 'checks:\n  - {metric: size, max: 3, where: {title: "(?i)\\brefund"}}\n'
    assert error_of(text) == (
        "checks.yaml:5:43: checks[0].where.title: holds a control character (U+0008); "
        "in double quotes YAML reads \\b as a backspace and \\t as a tab: write the regex "
        "in single quotes, like '(?i)\\brefund'"
    )
    single = HEAD + "checks:\n  - {metric: size, max: 3, where: {title: '(?i)\\brefund'}}\n"
    where = parse_config(single, env={}).checks[0].where
    assert where is not None and where.title == "(?i)\\brefund"


def test_a_verbose_title_regex_may_span_lines() -> None:
    # In (?x) mode line breaks and tabs are layout: a block scalar is how one writes it.
    text = HEAD + (
        "checks:\n  - metric: size\n    max: 3\n    where:\n      title: |-\n"
        "        (?ix) refund    # money back\n        \t| chargeback\n"
    )
    where = parse_config(text, env={}).checks[0].where
    assert where is not None and where.title is not None
    assert re.search(where.title, "Chargeback disputes")
    assert not re.search(where.title, "SQL query generation")
    # Flags in groups of their own, the x among them, read alike.
    text = HEAD + (
        "checks:\n  - metric: size\n    max: 3\n    where:\n      title: |-\n"
        "        (?i)(?x) refund\n        | chargeback\n"
    )
    where = parse_config(text, env={}).checks[0].where
    assert where is not None and where.title is not None
    assert re.search(where.title, "Chargeback disputes")
    # A backspace is no layout, verbose or not.
    text = HEAD + 'checks:\n  - {metric: size, max: 3, where: {title: "(?x)\\brefund"}}\n'
    assert "holds a control character (U+0008)" in error_of(text)


# -- x- keys are never read, whatever YAML 1.1 would make of their numbers ----------------


def test_x_keys_may_hold_numbers_yaml_reads_otherwise() -> None:
    text = HEAD + "x-notes: {at: 12:30, mode: 0755}\n" + CHECK
    assert parse_config(text, env={}).checks[0].metric == "error_rate"
    # The same spelling where it is read is still refused.
    assert "invalid YAML" in error_of(HEAD + "checks:\n  - metric: size\n    max: 0755\n")


# -- init writes a title holding an invisible character as an escape the loader takes ------


@pytest.mark.parametrize("title", ["Refund\u200brequests", "Refund\trequests"])
def test_init_writes_a_title_regex_the_loader_reads_and_that_matches(title: str) -> None:
    from llmc_checks.propose import title_regex
    from llmc_checks.starter import _quoted

    pattern = title_regex([title], ["Refund requests", "Refund USD requests"])
    text = HEAD + (
        "checks:\n  - metric: avg_cost_usd\n    max: 1\n"
        f"    where:\n      title: {_quoted(pattern)}\n"
    )
    where = parse_config(text, env={}).checks[0].where
    assert where is not None and where.title is not None
    assert re.search(where.title, title)
    assert not re.search(where.title, "Refund requests")


# -- a variable set but empty (a GitHub secret that does not exist) is named ----------------


def test_a_value_read_empty_from_the_environment_names_the_variable() -> None:
    text = (
        "version: 1\nsource:\n  posthog:\n    project_id: ${POSTHOG_PROJECT_ID}\n"
        "    api_key: ${POSTHOG_PERSONAL_API_KEY}\n" + CHECK
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={"POSTHOG_PROJECT_ID": "", "POSTHOG_PERSONAL_API_KEY": ""})
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("checks.yaml:4:17: source.posthog.project_id: ")
    assert lines[0].endswith(
        "(read from environment variable POSTHOG_PROJECT_ID, which is set but empty)"
    )
    assert lines[1].startswith("checks.yaml:5:14: source.posthog.api_key: must not be empty")
    assert lines[1].endswith(
        "(read from environment variable POSTHOG_PERSONAL_API_KEY, which is set but empty)"
    )
    # Set, the same file loads; a default covers an empty variable as in the shell.
    env = {"POSTHOG_PROJECT_ID": "1", "POSTHOG_PERSONAL_API_KEY": "phx_abc"}
    assert parse_config(text, env=env).source.posthog is not None
