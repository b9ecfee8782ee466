"""Config and CLI gaps a new user ran into (issue 14): every error of a file at once,
ports, quoted versions, empty strings, `x-` anchors, missing snapshots, `::` in names,
a short median baseline, and the synth CLI's bad `--out`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
from plugin_helpers import OK, TESTS_FAILED, USAGE_ERROR, Snapshots, output, run, write_config

from llmc_checks import report
from llmc_checks.config import ConfigError, load_config, parse_config
from llmc_checks.config import cli as config_cli
from llmc_checks.config.errors import MAX_REPORTED
from llmc_checks.config.schema import schema_text
from llmc_checks.gate import Gate, Options
from llmc_checks.synth import Scenario, generate, write_rows
from llmc_checks.synth import cli as synth_cli

HEAD = "version: 1\nsource:\n  snapshot: events.jsonl\n"


def error_of(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return info.value


def schema_errors(text: str) -> list[str]:
    import yaml

    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    return [e.message for e in validator.iter_errors(yaml.safe_load(text))]


# -- every problem of a file, at once ---------------------------------------------------


def test_every_problem_is_reported_each_on_its_own_line() -> None:
    text = HEAD + (
        "run: {level: trase, job: ''}\n"  # line 4
        "checks:\n"
        "  - {metric: noise_share, mx: 5%}\n"  # line 6
        "  - {metric: bogus, max: 5%}\n"  # line 7
        "  - {metric: size, max: '${NOT_SET}'}\n"  # line 8
    )
    err = error_of(text)
    lines = str(err).splitlines()
    assert lines == [
        "checks.yaml:4:14: run.level: must be 'trace', 'generation' or 'evaluation'; "
        "did you mean 'trace'?",
        "checks.yaml:4:26: run.job: must not be empty",
        "checks.yaml:6:27: checks[0]: unknown key 'mx'; did you mean 'max'?",
        lines[3],
        "checks.yaml:8:25: checks[2].max: environment variable NOT_SET is not set",
    ]
    assert lines[3].startswith("checks.yaml:7:14: checks[1].metric: unknown metric 'bogus'")
    # The first problem still describes the error as a whole.
    assert (err.line, err.col, err.path) == (4, 14, "run.level")
    assert len(err.problems) == 5
    # The placeholder that failed to resolve is not reported a second time by validation.
    assert sum("checks[2]" in line for line in lines) == 1


def test_a_duplicate_name_is_listed_with_the_other_problems() -> None:
    """The duplicate is reported even when a check (its own, or another) is invalid too."""
    text = HEAD + (
        "checks:\n"
        "  - {metric: bogus, max: 1}\n"  # line 5
        "  - {metric: noise_share, max: 5%, name: dup}\n"  # line 6
        "  - {metric: noise_share, max: true, name: dup}\n"  # line 7
        "  - {metric: noise_share, max: 5%, name: '${SECRET_NAME}'}\n"  # line 8
        "  - {metric: size, name: '${SECRET_NAME}'}\n"  # line 9
    )
    lines = str(error_of(text, env={"SECRET_NAME": "s3cr3t-name"})).splitlines()
    assert lines[0].startswith("checks.yaml:5:14: checks[0].metric: unknown metric 'bogus'")
    assert lines[1:] == [
        "checks.yaml:7:32: checks[2].max: expected a number or a percent like '5%', got a boolean",
        "checks.yaml:7:44: checks[2].name: duplicate check name 'dup' (also checks[1])",
        "checks.yaml:9:5: checks[4]: needs at least one bound: min, max, max_increase or "
        "max_decrease",
        "checks.yaml:9:26: checks[4].name: duplicate check name '***' (also checks[3])",
    ]


def test_a_duplicate_name_alone_is_reported_once() -> None:
    text = (
        HEAD + "checks:\n  - {metric: size, max: 1, name: a}\n  - {metric: size, max: 2, name: a}\n"
    )
    assert str(error_of(text)) == (
        "checks.yaml:6:34: checks[1].name: duplicate check name 'a' (also checks[0])"
    )


@pytest.mark.parametrize("beside_an_invalid_check", [False, True])
def test_a_duplicate_name_is_shown_cleaned(beside_an_invalid_check: bool) -> None:
    # YAML's "\\e" is ESC: a raw name would colour the terminal (and break the line).
    name = '"it\'s \\e[31mred\\nhere"'
    text = HEAD + (
        f"checks:\n  - {{metric: size, max: 1, name: {name}}}\n"
        f"  - {{metric: size, max: 2, name: {name}}}\n"
    )
    if beside_an_invalid_check:
        text += "  - {metric: bogus, max: 1}\n"
    lines = str(error_of(text)).splitlines()
    # Each name is refused for its escape (tests/test_config_fresh_eyes), and the
    # duplicate, found in the raw file, is still shown cleaned.
    assert [line.split(": ")[1] for line in lines[:2]] == ["checks[0].name", "checks[1].name"]
    assert lines[2] == (
        'checks.yaml:6:34: checks[1].name: duplicate check name "it\'s red here" (also checks[0])'
    )
    assert len(lines) == 3 + beside_an_invalid_check


def test_many_problems_are_cut_with_a_count() -> None:
    n = MAX_REPORTED + 7
    checks = "".join(f"  - {{metric: nope{i}, max: 1}}\n" for i in range(n))
    lines = str(error_of(HEAD + "checks:\n" + checks)).splitlines()
    assert len(lines) == MAX_REPORTED + 1
    assert lines[-1] == "… and 7 more"
    assert [int(line.split(":")[1]) for line in lines[:-1]] == list(range(5, 5 + MAX_REPORTED))


def test_several_problems_survive_pickling() -> None:
    import pickle

    err = error_of(HEAD + "checks:\n  - {metric: a, max: 1}\n  - {metric: b, max: 1}\n")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and len(again.problems) == 2


# -- single values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("http://127.0.0.1:99999", "invalid port '99999' (a port is a number from 1 to 65535)"),
        ("https://eu.posthog.com:http", "invalid port 'http' (a port is a number from 1 to 65535)"),
        ("http://localhost:0", "invalid port '0' (a port is a number from 1 to 65535)"),
    ],
)
def test_an_invalid_port_is_a_clear_error(host: str, message: str) -> None:
    text = (
        f"version: 1\nsource:\n  posthog: {{host: '{host}', project_id: 1, api_key: k}}\n"
        "checks: [{metric: noise_share, max: 5%}]\n"
    )
    assert str(error_of(text)) == f"checks.yaml:3:19: source.posthog.host: {message}"


def test_a_valid_port_is_fine() -> None:
    text = (
        "version: 1\nsource:\n  posthog: {host: 'http://127.0.0.1:8010', project_id: 1, "
        "api_key: k}\nchecks: [{metric: noise_share, max: 5%}]\n"
    )
    config = parse_config(text, env={})
    assert config.source.posthog is not None
    assert config.source.posthog.host == "http://127.0.0.1:8010"


def test_a_quoted_version_one_is_version_one() -> None:
    # Versions are habitually quoted (compose's `version: "3"`), and ${VAR} yields text.
    text = 'version: "1"\nsource: {snapshot: e.jsonl}\nchecks: [{metric: size, max: 1}]\n'
    assert parse_config(text, env={}).version == 1
    assert schema_errors(text) == []
    via_env = text.replace('"1"', "${V}")
    assert parse_config(via_env, env={"V": "1"}).version == 1
    for other in ('"2"', '"1.0"', "1.5", "true"):
        message = str(error_of(text.replace('"1"', other)))
        assert "unsupported config version" in message


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("run: {job: ''}", "run.job"),
        ("baseline: {run_id: ''}", "baseline.run_id"),
        ("baseline: {file: ''}", "baseline.file"),
    ],
)
def test_empty_strings_get_our_wording(body: str, path: str) -> None:
    text = HEAD + body + "\nchecks: [{metric: size, max: 1}]\n"
    message = str(error_of(text))
    assert message.endswith(f"{path}: must not be empty")
    assert "String should" not in message


def test_top_level_x_keys_hold_anchors_and_are_ignored() -> None:
    text = (
        "version: 1\n"
        "x-cost: &cost {metric: avg_cost_usd, where: {min_size: 20}}\n"
        "x-note: ${NOT_SET} is never read\n"
        "source: {snapshot: e.jsonl}\n"
        "checks:\n"
        "  - {<<: *cost, max: 0.05}\n"
        "  - {<<: *cost, max_increase: 20%}\n"
    )
    config = parse_config(text, env={})
    assert [c.display_name for c in config.checks] == [
        "avg_cost_usd max 0.05 (min_size 20)",
        "avg_cost_usd max_increase 20% (min_size 20)",
    ]
    assert schema_errors(text) == []


def test_x_keys_only_at_the_top_level() -> None:
    text = HEAD + "run: {x-level: trace}\nchecks: [{metric: size, max: 1}]\n"
    assert "run: unknown key 'x-level'" in str(error_of(text))
    assert schema_errors(text)


def test_a_check_name_with_a_node_id_separator_is_refused() -> None:
    text = HEAD + "checks:\n  - {name: 'costs::big', metric: size, max: 1}\n"
    assert str(error_of(text)) == (
        "checks.yaml:5:12: checks[0].name: must not contain '::' (pytest separates node ids "
        "with it); write ': ' or ' - ' instead"
    )


def test_a_generated_id_never_holds_a_node_id_separator() -> None:
    text = HEAD + "checks:\n  - {metric: size, max: 1, where: {title: 'a::b'}}\n"
    (check,) = parse_config(text, env={}).checks
    assert "::" not in check.display_name
    assert check.display_name == "size max 1 (title /a: :b/)"


# -- python -m llmc_checks.config -------------------------------------------------------


def test_config_cli_reports_a_missing_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "checks.yaml"
    config.write_text(HEAD + "checks: [{metric: size, max: 1}]\n", encoding="utf-8")
    assert config_cli.main([str(config)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        f"{config}:3:13: source.snapshot: {tmp_path / 'events.jsonl'} does not exist\n"
    )
    (tmp_path / "events.jsonl").mkdir()
    assert config_cli.main([str(config)]) == 1
    assert "events.jsonl is not a file" in capsys.readouterr().err
    (tmp_path / "events.jsonl").rmdir()
    (tmp_path / "events.jsonl").write_text("", encoding="utf-8")
    assert config_cli.main([str(config)]) == 0
    assert capsys.readouterr().out == f"{config}: ok, 1 check\n"


def test_config_cli_prints_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "checks.yaml"
    config.write_text(HEAD + "checks: [{metric: a, max: 1}, {metric: b, max: 1}]\n", "utf-8")
    assert config_cli.main([str(config)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in err] == ["checks[0].metric", "checks[1].metric"]


# -- a median baseline short of runs ----------------------------------------------------


def test_a_median_baseline_with_fewer_runs_says_how_many_it_used(tmp_path: Path) -> None:
    synth = generate(Scenario(days=4, traces_per_day=40, max_samples=60))
    write_rows(synth.rows, tmp_path / "events.jsonl")
    text = (
        HEAD
        + "baseline: {median_of: 7}\nchecks:\n  - {metric: items_analyzed, max_increase: 90%}\n"
    )
    path = tmp_path / "checks.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = Gate(load_config(path), path, Options()).outcome()
    (result,) = outcome.results
    assert result.status in ("pass", "fail"), result.message
    note = "baseline: median of 3 runs, not 7: only 3 earlier runs of the job were found"
    assert result.message.endswith(f"\n({note})")
    assert outcome.notes == (note,)
    assert len(outcome.baseline.runs) == 3 if outcome.baseline else False
    # The header names as many runs as it lists, not the 7 asked for.
    header = report.terminal(outcome, [0]).splitlines()[1]
    assert header.startswith("baseline median of 3 runs, not 7: ")
    assert header.count("_trace_") == 3
    assert report.gate_json(outcome, [0])["baseline"]["kind"] == "median of 3 runs, not 7"


def test_a_median_baseline_of_one_run_says_so_in_the_singular(tmp_path: Path) -> None:
    synth = generate(Scenario(days=2, traces_per_day=40, max_samples=60))
    write_rows(synth.rows, tmp_path / "events.jsonl")
    text = (
        HEAD
        + "baseline: {median_of: 3}\nchecks:\n  - {metric: items_analyzed, max_increase: 90%}\n"
    )
    path = tmp_path / "checks.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = Gate(load_config(path), path, Options()).outcome()
    note = "baseline: median of 1 run, not 3: only 1 earlier run of the job was found"
    assert outcome.notes == (note,)
    assert (
        report.terminal(outcome, [0])
        .splitlines()[1]
        .startswith("baseline median of 1 run, not 3: ")
    )


def test_a_full_median_baseline_says_nothing_more(tmp_path: Path) -> None:
    synth = generate(Scenario(days=4, traces_per_day=40, max_samples=60))
    write_rows(synth.rows, tmp_path / "events.jsonl")
    text = (
        HEAD
        + "baseline: {median_of: 3}\nchecks:\n  - {metric: items_analyzed, max_increase: 90%}\n"
    )
    path = tmp_path / "checks.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = Gate(load_config(path), path, Options()).outcome()
    assert "median of" not in outcome.results[0].message
    assert outcome.notes == ()


# -- python -m llmc_checks.synth --------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("missing-dir/x.jsonl", "the folder {tmp}/missing-dir does not exist"),
        ("x.txt", "expected a .jsonl, .jsonl.gz, .json, .json.gz file name"),
    ],
)
def test_synth_refuses_a_bad_out_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        synth_cli.main(["--out", str(tmp_path / out), "--days", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1].endswith(message.format(tmp=tmp_path))


def test_synth_reports_an_unwritable_out_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken.jsonl").mkdir()  # a folder where the file should go
    code = synth_cli.main(["--out", str(tmp_path / "taken.jsonl"), "--days", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert err == (
        f"python -m llmc_checks.synth: error: cannot write {tmp_path / 'taken.jsonl'}: "
        "Is a directory\n"
    )


def test_every_synth_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        synth_cli.main(["--help"])
    text = capsys.readouterr().out
    options = text.split("options:", 1)[1]
    blocks: list[str] = []
    for line in options.splitlines():
        if line.startswith("  -"):
            blocks.append(line)
        elif blocks:
            blocks[-1] += line
    assert len(blocks) >= 15
    # argparse puts help two or more spaces after the flag (or on the next line, indented).
    bare = [b.split()[0] for b in blocks if "  " not in b.strip()]
    assert bare == []


# -- LLMC_* switches --------------------------------------------------------------------

FLAGS = ["LLMC_STRICT", "LLMC_UPDATE_BASELINE", "LLMC_REQUIRE_BASELINE"]


@pytest.mark.usefixtures("_clean_env")
@pytest.mark.parametrize("name", FLAGS)
def test_a_flag_that_is_neither_yes_nor_no_is_an_error(
    pytester: pytest.Pytester, snaps: Snapshots, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    config = write_config(pytester, "- {metric: noise_share, max: 50%}\n", snapshot=snaps.events)
    monkeypatch.setenv(name, "banana")
    result = run(pytester, "--llmc-config", config)
    assert result.ret == USAGE_ERROR
    assert (
        f"{name}='banana': expected one of 1, true, yes, on (on) or 0, false, no, off or "
        "empty (off)"
    ) in output(result)


@pytest.mark.usefixtures("_clean_env")
@pytest.mark.parametrize(("value", "status"), [("TRUE", "fail"), (" off ", "warn"), ("", "warn")])
def test_llmc_strict_reads_yes_and_no(
    pytester: pytest.Pytester,
    snaps: Snapshots,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    status: str,
) -> None:
    checks = "- {metric: noise_share, max: 0.1%, severity: warn}\n"
    config = write_config(pytester, checks, snapshot=snaps.events)
    monkeypatch.setenv("LLMC_STRICT", value)
    result = run(pytester, "--llmc-config", config)
    assert result.ret == (TESTS_FAILED if status == "fail" else OK), output(result)


@pytest.mark.usefixtures("_clean_env")
def test_a_bad_flag_does_not_break_pytest_without_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMC_STRICT", "banana")
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run(pytester)
    assert result.ret == OK


# -- --llmc-after needs an offset ---------------------------------------------------------


def refusal(result: pytest.RunResult, by_env: bool) -> str:
    """The one line refusing --llmc-after's value (or LLMC_AFTER's), from its name on."""
    name = "LLMC_AFTER=" if by_env else "error: argument --llmc-after: "
    said = [line for line in output(result).splitlines() if name in line]
    assert result.ret == USAGE_ERROR, output(result)
    assert len(said) == 1, output(result)
    return said[0][said[0].index(name) + len(name) :]


def run_after(
    pytester: pytest.Pytester,
    config: Path,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    by_env: bool,
) -> pytest.RunResult:
    if by_env:
        monkeypatch.setenv("LLMC_AFTER", value)
        return run(pytester, "--llmc-config", config)
    return run(pytester, "--llmc-config", config, "--llmc-after", value)


@pytest.mark.usefixtures("_clean_env")
@pytest.mark.parametrize("naive", ["2026-11-22T09:30:00", "2026-11-22 09:30"])
@pytest.mark.parametrize("by_env", [False, True])
def test_a_deploy_time_without_an_offset_is_refused_not_read_as_utc(
    pytester: pytest.Pytester,
    snaps: Snapshots,
    monkeypatch: pytest.MonkeyPatch,
    naive: str,
    by_env: bool,
) -> None:
    config = write_config(pytester, "- {metric: noise_share, max: 50%}\n", snapshot=snaps.events)
    result = run_after(pytester, config, naive, monkeypatch, by_env)
    assert refusal(result, by_env) == (
        f"{naive!r} has no UTC offset: add Z (UTC) or +HH:MM (e.g. 2026-11-22T09:30:00Z)"
    )


@pytest.mark.usefixtures("_clean_env")
@pytest.mark.parametrize("day", ["2026-11-22", "2026-11-22Z", "2026-11-22+01:00", "2026-11-22-05"])
@pytest.mark.parametrize("by_env", [False, True])
def test_a_deploy_date_without_a_time_of_day_is_refused_as_such(
    pytester: pytest.Pytester,
    snaps: Snapshots,
    monkeypatch: pytest.MonkeyPatch,
    day: str,
    by_env: bool,
) -> None:
    # Told to add an offset, "2026-11-22Z" must not be refused again (nor read as 01:00
    # for "+01:00", Python's reading of a date then an offset).
    config = write_config(pytester, "- {metric: noise_share, max: 50%}\n", snapshot=snaps.events)
    result = run_after(pytester, config, day, monkeypatch, by_env)
    assert refusal(result, by_env) == (
        f"{day!r} has no time of day: write 2026-11-22T00:00:00Z for midnight UTC, or the "
        "time with its offset (e.g. 2026-11-22T09:30:00+01:00)"
    )


@pytest.mark.usefixtures("_clean_env")
def test_a_bad_value_in_the_environment_names_the_variable_it_came_from(
    pytester: pytest.Pytester, snaps: Snapshots, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(pytester, "- {metric: noise_share, max: 50%}\n", snapshot=snaps.events)
    for by_env in (False, True):
        result = run_after(pytester, config, "soon", monkeypatch, by_env)
        assert refusal(result, by_env) == (
            "'soon' is not an ISO-8601 timestamp (e.g. 2026-11-22T09:30:00Z)"
        )
    monkeypatch.delenv("LLMC_AFTER")
    monkeypatch.setenv("LLMC_WAIT", "banana")
    result = run(pytester, "--llmc-config", config, "--llmc-after", "2000-01-01T00:00:00Z")
    assert result.ret == USAGE_ERROR
    assert "ERROR: LLMC_WAIT='banana': invalid duration 'banana'" in output(result)
    monkeypatch.delenv("LLMC_WAIT")
    monkeypatch.setenv("LLMC_RECORD", "rows.txt")
    result = run(pytester, "--llmc-config", config)
    assert result.ret == USAGE_ERROR
    assert "ERROR: LLMC_RECORD='rows.txt': a recording is .jsonl or .jsonl.gz" in output(result)


@pytest.mark.usefixtures("_clean_env")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LLMC_AFTER", "2026-11-22T09:30:00"),
        ("LLMC_AFTER", "soon"),
        ("LLMC_WAIT", "banana"),
        ("LLMC_INIT_RUNS", "many"),
        ("LLMC_RECORD", "rows.txt"),
    ],
)
def test_a_bad_value_does_not_break_pytest_without_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run(pytester)
    assert result.ret == OK, output(result)


@pytest.mark.usefixtures("_clean_env")
def test_a_bad_llmc_init_runs_is_refused_naming_the_variable(
    pytester: pytest.Pytester, snaps: Snapshots, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMC_INIT_RUNS", "many")
    result = run(pytester, "--llmc-init", "checks.yaml", "--llmc-snapshot", str(snaps.events))
    assert result.ret == USAGE_ERROR
    assert "ERROR: LLMC_INIT_RUNS='many': not a whole number: 'many'" in output(result)


@pytest.mark.usefixtures("_clean_env")
@pytest.mark.parametrize("after", ["2000-01-01T00:00:00Z", "2000-01-01T09:30:00+09:30"])
def test_a_deploy_time_with_an_offset_is_read(
    pytester: pytest.Pytester, snaps: Snapshots, after: str
) -> None:
    config = write_config(pytester, "- {metric: noise_share, max: 50%}\n", snapshot=snaps.events)
    result = run(pytester, "--llmc-config", config, "--llmc-after", after)
    assert result.ret == OK, output(result)
