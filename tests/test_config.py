"""The config language (DESIGN §2): parsing, validation messages, env, schema.

Bad configs live in tests/configs/bad/, each starting with `# expect: <message>`:
the exact one-line error, as the user sees it. Good configs live in
tests/configs/good/ and must parse and validate against the shipped schema.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from llmc_checks.config import (
    Change,
    Check,
    Config,
    ConfigError,
    FileBaseline,
    MedianBaseline,
    PreviousBaseline,
    RunIdBaseline,
    Where,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    parse_percent,
    schema_text,
)
from llmc_checks.config import cli as config_mod
from llmc_checks.matching import DEFAULT_TITLE_THRESHOLD
from llmc_checks.metrics_catalog import (
    BASELINE_ONLY_METRICS,
    CLUSTER_METRICS,
    METRICS,
    PROPORTION_METRICS,
    RATIO_METRICS,
    RUN_METRICS,
)
from llmc_checks.model import BaselineRequest, LlmcError
from llmc_checks.model import Cluster as RunCluster

CONFIGS = Path(__file__).parent / "configs"
BAD = sorted((CONFIGS / "bad").glob("*.yaml"))
GOOD = sorted((CONFIGS / "good").glob("*.yaml"))

SECRET = "phx_TOPSECRET_abc123"
ENV = {"POSTHOG_PERSONAL_API_KEY": SECRET, "POSTHOG_PROJECT_ID": "123", "EMPTY_VAR": ""}

SNAPSHOT_HEAD = "version: 1\nsource:\n  snapshot: events.jsonl\n"


def parse(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(text, env=ENV if env is None else env)


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return str(info.value)


def one_check(body: str) -> str:
    """A snapshot config holding one check; `body` is the check's YAML, one key a line."""
    lines = body.strip().splitlines()
    return SNAPSHOT_HEAD + "checks:\n  - " + "\n    ".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The corpus of bad configs


def expected_message(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect: ' header"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_config_reports_one_exact_line(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(path.parent)  # the message names the path as given
    with pytest.raises(ConfigError) as info:
        load_config(Path(path.name), env=ENV)
    err = info.value
    assert str(err) == expected_message(path)
    assert "\n" not in str(err)
    assert SECRET not in str(err) and SECRET not in repr(err)
    # No pydantic/YAML traceback hangs off it.
    assert err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None
    assert isinstance(err, LlmcError)


def test_bad_corpus_covers_every_required_case() -> None:
    required = {
        "typo_key",
        "unknown_top_level_key",
        "wrong_type_checks",
        "wrong_type_int",
        "unknown_metric",
        "missing_env_var",
        "bad_percent",
        "bad_percent_bare",
        "bad_percent_text",
        "percent_on_usd_metric",
        "min_above_max",
        "yaml_syntax_error",
        "duplicate_key",
        "missing_version",
        "version_2",
        "both_sources",
        "no_source",
        "no_checks",
        "where_on_run_metric",
        "confidence_out_of_range",
        "bad_duration",
        "bad_regex",
        "http_public_host",
        "bad_baseline_shape",
    }
    assert required <= {p.stem for p in BAD}


def test_error_carries_its_parts() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(one_check("metric: error_rate\nmax: 5x%"), filename="ci/checks.yaml")
    err = info.value
    assert (err.file, err.line, err.col, err.path) == ("ci/checks.yaml", 6, 10, "checks[0].max")
    assert err.message == "invalid percent '5x%'; write a number followed by %, like '5%'"


def test_every_error_in_document_order() -> None:
    text = SNAPSHOT_HEAD + (
        "checks:\n"
        "  - metric: error_rate\n"
        "    max: 5x%\n"  # line 6
        "  - metric: nope\n"  # line 7
        "    max: 1\n"
        "run: {level: bogus}\n"  # line 9
    )
    lines = error_of(text).splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "checks.yaml:6:10",
        "checks.yaml:7:13",
        "checks.yaml:9:14",
    ]
    assert lines[0].startswith("checks.yaml:6:10: checks[0].max: invalid percent")


def test_typo_wins_over_the_missing_key_it_causes() -> None:
    msg = error_of(one_check("metirc: error_rate\nmax: 5%"))
    assert msg == "checks.yaml:5:5: checks[0]: unknown key 'metirc'; did you mean 'metric'?"


def test_unknown_key_in_where_suggests_from_where() -> None:
    msg = error_of(one_check("metric: error_rate\nmax: 5%\nwhere: {min_szie: 3}"))
    assert msg.endswith("checks[0].where: unknown key 'min_szie'; did you mean 'min_size'?")


def test_config_error_pickles() -> None:
    with pytest.raises(ConfigError) as info:
        parse(one_check("metric: size\nmax: abc"))
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and (again.line, again.col) == (6, 10)


def test_huge_numbers_are_errors_not_crashes() -> None:
    assert "must be a finite number" in error_of(one_check(f"metric: size\nmax: {'9' * 400}"))
    text = SNAPSHOT_HEAD + "run: {lookback: 99999999999w}\nchecks:\n  - {metric: size, max: 1}\n"
    assert error_of(text).endswith("run.lookback: duration '99999999999w' is too long")


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(
        ConfigError, match=r"latin\.yaml: not UTF-8 text \(byte 0xe9 at offset 20\)"
    ):
        load_config(latin)


def test_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeff".encode() + one_check("metric: size\nmax: 3").encode())
    assert load_config(path).checks[0].max == 3


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    assert "document too large" in error_of("\n".join(lines) + "\n")


def test_yaml_keys_stay_text() -> None:
    # YAML 1.1 would read `on:` as the boolean True; the user wrote the word "on".
    assert error_of(SNAPSHOT_HEAD + "on: push\n").startswith(
        "checks.yaml:4:1: unknown key 'on'; expected one of: version, source"
    )


# ---------------------------------------------------------------------------
# Secrets


def test_api_key_is_secret_everywhere() -> None:
    config = load_config(CONFIGS / "good" / "design_example.yaml", env=ENV)
    posthog = config.source.posthog
    assert posthog is not None
    assert posthog.api_key.get_secret_value() == SECRET
    for shown in (repr(config), str(config), config.model_dump_json(), repr(posthog.api_key)):
        assert SECRET not in shown


@pytest.mark.parametrize(
    "snippet",
    [
        "max: ${POSTHOG_PERSONAL_API_KEY}",
        "max: 1\nname: ${POSTHOG_PERSONAL_API_KEY}\nfoo: ${POSTHOG_PERSONAL_API_KEY}",
        "metric: ${POSTHOG_PERSONAL_API_KEY}",
    ],
)
def test_secret_values_are_redacted_from_messages(snippet: str) -> None:
    text = one_check(snippet if "metric" in snippet else f"metric: size\n{snippet}")
    assert SECRET not in error_of(text)


def test_literal_api_key_is_redacted_too() -> None:
    text = (
        "version: 1\nsource:\n  posthog: {project_id: 1, api_key: hunter2-literal}\n"
        "checks:\n  - {metric: size, max: hunter2-literal}\n"
    )
    msg = error_of(text)
    assert "hunter2" not in msg and "'***'" in msg


def test_host_errors_never_echo_credentials() -> None:
    text = (
        "version: 1\nsource:\n  posthog:\n    host: https://me:pw123456@eu.posthog.com\n"
        "    project_id: 1\n    api_key: k\nchecks:\n  - {metric: size, max: 3}\n"
    )
    msg = error_of(text)
    assert msg.endswith("must not contain credentials; put the API key in api_key")
    assert "pw123456" not in msg


# ---------------------------------------------------------------------------
# Good configs


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_config_parses(path: Path) -> None:
    config = load_config(path, env=ENV)
    assert config.checks
    assert config.path == path
    assert config.base_dir == path.absolute().parent
    names = [c.display_name for c in config.checks]
    assert len(names) == len(set(names))


def test_design_example_values() -> None:
    config = load_config(CONFIGS / "good" / "design_example.yaml", env=ENV)
    posthog = config.source.posthog
    assert posthog is not None and config.source.kind == "posthog"
    assert posthog.host == "https://us.posthog.com"
    assert posthog.project_id == 123
    assert posthog.timeout_s == 30
    assert config.run.level == "trace"
    assert config.run.job == "Default - traces"
    assert config.run.lookback == timedelta(days=14)
    assert config.baseline == PreviousBaseline()
    assert config.match.title_similarity == DEFAULT_TITLE_THRESHOLD

    age, noise, cost, errors, stability, latency = config.checks
    assert (age.metric, age.max, age.min, age.scope) == ("run_age_hours", 36, None, "run")
    assert (noise.metric, noise.max) == ("noise_share", 0.05 * 5)
    assert cost.name == "No cluster averages more than 5 cents"
    assert cost.max == 0.05 and cost.scope == "cluster"
    assert cost.where == Where(min_size=20) and cost.selection.noise == "exclude"
    assert (errors.max, errors.confidence) == (0.05, 0.95)
    assert stability.min == 0.8 and stability.needs_baseline
    assert latency.max_increase == Change(value=0.2, relative=True)
    assert latency.severity == "warn" and latency.needs_baseline
    assert [c.severity for c in config.checks[:5]] == ["fail"] * 5
    assert not any(c.needs_baseline for c in (age, noise, cost, errors))
    assert config.needs_baseline

    assert [c.display_name for c in config.checks] == [
        "run_age_hours max 36",
        "noise_share max 25%",
        "No cluster averages more than 5 cents",
        "error_rate max 5% (confidence 0.95)",
        "title_stability min 80%",
        "p95_latency_s max_increase 20%",
    ]
    assert [c.line for c in config.checks] == [14, 16, 18, 22, 25, 27]
    assert config.checks[0].location is not None and config.checks[0].location.col == 5


def test_host_comes_from_env_when_set() -> None:
    env = {**ENV, "POSTHOG_HOST": "https://eu.posthog.com/"}
    config = load_config(CONFIGS / "good" / "design_example.yaml", env=env)
    assert config.source.posthog is not None
    assert config.source.posthog.host == "https://eu.posthog.com"  # trailing / dropped


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config = load_config(CONFIGS / "good" / "design_example.yaml")
    assert config.source.posthog is not None and config.source.posthog.project_id == 123


def test_relative_paths_resolve_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ci = tmp_path / "ci"
    ci.mkdir()
    (ci / "checks.yaml").write_text(
        "version: 1\nsource:\n  snapshot: data/events.jsonl.gz\n"
        "checks:\n  - {metric: size, max_increase: 10%, baseline: {file: base.json}}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../ci/checks.yaml"))
    assert config.snapshot_path is not None
    assert config.snapshot_path.resolve() == ci / "data" / "events.jsonl.gz"
    spec = config.baseline_for(config.checks[0])
    assert isinstance(spec, FileBaseline)
    assert config.resolve(spec.file).resolve() == ci / "base.json"
    assert config.resolve(tmp_path / "abs.json") == tmp_path / "abs.json"

    override = config.with_snapshot(Path("other.jsonl"))
    assert override.snapshot_path == elsewhere / "other.jsonl"
    assert override.checks == config.checks and override.path == config.path


def test_round_trip_through_a_dump() -> None:
    config = load_config(CONFIGS / "good" / "baselines.yaml")
    dumped = config.model_dump(mode="json", exclude_none=True)
    again = parse(yaml.safe_dump(dumped))
    assert again.model_dump(mode="json") == config.model_dump(mode="json")


def test_models_are_frozen() -> None:
    config = parse(one_check("metric: size\nmax: 3"))
    with pytest.raises(ValidationError):
        config.checks[0].max = 4  # type: ignore[misc]
    assert hash(config.checks[0]) == hash(config.checks[0])


# ---------------------------------------------------------------------------
# Environment interpolation


@pytest.mark.parametrize(
    ("written", "env", "value"),
    [
        ("${J}", {"J": "nightly"}, "nightly"),
        ("job-${J}-x", {"J": "a"}, "job-a-x"),
        ("${J:-fallback}", {}, "fallback"),
        ("${J:-fallback}", {"J": ""}, "fallback"),  # like the shell: empty → default
        ("${J:-fallback}", {"J": "set"}, "set"),
        ("${J:-a:b-c}", {}, "a:b-c"),
        ("${A}/${B}", {"A": "1", "B": "2"}, "1/2"),
        ("cost $$5", {}, "cost $5"),
        ("$${J}", {"J": "x"}, "${J}"),
        ("a $ b$", {}, "a $ b$"),  # a lone $ stays
        ("'${J}'", {"J": "q"}, "q"),  # quoted scalars are interpolated too
    ],
)
def test_interpolation(written: str, env: dict[str, str], value: str) -> None:
    text = SNAPSHOT_HEAD + f"run:\n  job: {written}\nchecks:\n  - {{metric: size, max: 3}}\n"
    assert parse(text, env).run.job == value


def test_interpolated_numbers_are_read_as_numbers() -> None:
    text = (
        "version: 1\nsource:\n  posthog:\n    project_id: ${PID}\n    api_key: k\n"
        "    timeout_s: ${T:-7.5}\n"
        "checks:\n  - {metric: avg_cost_usd, max: '${MAX_COST}'}\n"
        "  - {metric: error_rate, max: '${MAX_ERR:-5%}'}\n"
    )
    config = parse(text, {"PID": "42", "MAX_COST": "0.05"})
    assert config.source.posthog is not None
    assert (config.source.posthog.project_id, config.source.posthog.timeout_s) == (42, 7.5)
    assert (config.checks[0].max, config.checks[1].max) == (0.05, 0.05)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("${NOT_SET_X}", "environment variable NOT_SET_X is not set"),
        ("${1BAD}", "invalid reference '${1BAD}'; write ${NAME} or ${NAME:-default}"),
        ("${A-b}", "invalid reference '${A-b}'; write ${NAME} or ${NAME:-default}"),
        ("x ${OPEN", "unterminated '${' (write $$ for a literal $)"),
    ],
)
def test_interpolation_errors(written: str, message: str) -> None:
    text = SNAPSHOT_HEAD + f"run:\n  job: {written}\nchecks:\n  - {{metric: size, max: 3}}\n"
    assert error_of(text, {}) == f"checks.yaml:5:8: run.job: {message}"


def test_keys_are_not_interpolated() -> None:
    assert "unknown key '${K}'" in error_of(SNAPSHOT_HEAD + "${K}: 1\n", {"K": "run"})


# ---------------------------------------------------------------------------
# Scalars: percents, durations, bounds


@pytest.mark.parametrize(
    ("text", "value"),
    [("5%", 0.05), ("25%", 0.25), ("12.5%", 0.125), ("0.1%", 0.001), (" 80 % ", 0.8)],
)
def test_parse_percent(text: str, value: float) -> None:
    assert parse_percent(text) == value


@pytest.mark.parametrize("text", ["5x%", "%", "abc", "5", "5%%", "%5", "five%", ""])
def test_parse_percent_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid percent"):
        parse_percent(text)


@given(st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False))
def test_percent_is_the_float_nearest_the_decimal(d: Decimal) -> None:
    assert parse_percent(f"{d}%") == float(d / 100)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("36h", timedelta(hours=36)),
        ("14d", timedelta(days=14)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1h30m15s", timedelta(hours=1, minutes=30, seconds=15)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("14", "a duration needs a unit"),
        ("2 weeks", "invalid duration"),
        ("12h1d", "invalid duration"),  # largest unit first
        ("1h1h", "invalid duration"),
        ("0d", "duration must be positive"),
        ("", "invalid duration"),
        ("14D", "invalid duration"),
    ],
)
def test_parse_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**9))
def test_duration_round_trip(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


def test_format_duration_reads_well() -> None:
    assert format_duration(timedelta(days=14)) == "14d"
    assert format_duration(timedelta(hours=36)) == "1d12h"
    assert format_duration(timedelta(seconds=90)) == "1m30s"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("metric: error_rate\nmax: 0.05", None),
        ("metric: error_rate\nmax: 100%", None),
        ("metric: error_rate\nmin: 0%", None),
        ("metric: size\nmax: 0", None),
        ("metric: error_rate\nmax: -5%", "must be between 0% and 100% (error_rate is a ratio)"),
        ("metric: avg_cost_usd\nmin: -0.01", "must not be negative (avg_cost_usd is in USD)"),
        ("metric: avg_tokens\nmax: 5%", "avg_tokens is in tokens, so write a plain number"),
        ("metric: run_age_hours\nmax: 5%", "run_age_hours is in hours, so write a plain number"),
        ("metric: size\nmax: .inf", "must be a finite number"),
        ("metric: size\nmax: [1]", "expected a number or a percent like '5%', got a list"),
        (
            "metric: size\nmax_increase: [1]",
            "expected a number or a percent like '20%', got a list",
        ),
        ("metric: size\nmax_decrease: 150%", "a decrease of more than 100% is impossible"),
        ("metric: size\nmax_decrease: 3", None),
        ("metric: size\nmax_increase: 300%", None),
        ("metric: size\nmin: 2\nmax: 2", None),
        ("metric: error_count\nmin: 3\nmax: 2", "impossible bounds: min 3 is above max 2"),
        ("metric: size\nmax: 3\nconfidence: 0.95", "confidence applies to proportion metrics"),
        ("metric: size_share\nmax_increase: 5%\nconfidence: 0.9", None),  # a difference interval
        ("metric: error_rate\nmax: 5%\nconfidence: 0.5", None),
        ("metric: error_rate\nmax: 5%\nconfidence: 1", "must be at least 0.5 and below 1"),
        ("metric: error_rate\nmax: 5%\nconfidence: true", "expected a number, got a boolean"),
        ("metric: size\nmax: 3\nseverity: error", "must be 'fail' or 'warn'"),
        ("metric: size\nmax: 3\nname: '  '", "name: must not be empty"),
        ("metric: size\nmax: 3\nwhere: {noise: exclud}", "did you mean 'exclude'?"),
        ("metric: size\nmax: 3\nwhere: 5", "where: expected a mapping, got a number"),
        ("metric: [size]\nmax: 3", "expected a metric name, got a list"),
        ("metric: new_cluster_share\nmax_increase: 1", "bound it with min/max, not max_increase"),
    ],
)
def test_check_rules(snippet: str, message: str | None) -> None:
    text = one_check(snippet)
    if message is None:
        parse(text)
    else:
        assert message in error_of(text)


# ---------------------------------------------------------------------------
# Sources, baselines, selection


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("http://127.0.0.1:8010", "http://127.0.0.1:8010"),
        ("http://127.0.0.2", "http://127.0.0.2"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("https://posthog.example.com/ph/", "https://posthog.example.com/ph"),
    ],
)
def test_hosts_accepted(host: str, stored: str) -> None:
    text = (
        f"version: 1\nsource:\n  posthog: {{host: '{host}', project_id: 1, api_key: k}}\n"
        "checks:\n  - {metric: size, max: 3}\n"
    )
    posthog = parse(text).source.posthog
    assert posthog is not None and posthog.host == stored


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("http://10.0.0.1", "https is required for 10.0.0.1 (http is allowed only on loopback)"),
        ("http://localhost.evil.com", "https is required for localhost.evil.com"),
        ("ftp://x.com", "must be an http(s) URL like https://us.posthog.com"),
        ("https://x.com/?a=1", "must be a base URL without ?query or #fragment"),
    ],
)
def test_hosts_rejected(host: str, message: str) -> None:
    text = (
        f"version: 1\nsource:\n  posthog: {{host: '{host}', project_id: 1, api_key: k}}\n"
        "checks:\n  - {metric: size, max: 3}\n"
    )
    assert message in error_of(text)


def test_api_key_whitespace() -> None:
    text = (
        "version: 1\nsource:\n  posthog: {project_id: 1, api_key: ' k'}\n"
        "checks:\n  - {metric: size, max: 3}\n"
    )
    assert error_of(text).endswith("source.posthog.api_key: has leading or trailing whitespace")


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("\u201cphx_SECRET_k3y_0123\u201d", "U+201C at character 1"),  # pasted with its quotes
        ("phx_SECRET\u200b_k3y_0123", "U+200B at character 11"),  # a zero-width space
        ("phx_SECRET\t_k3y_0123", "U+0009 at character 11"),
    ],
)
def test_api_key_outside_printable_ascii(key: str, shown: str) -> None:
    """An HTTP header carries only ASCII: such a key was an 'internal error:
    UnicodeEncodeError' at the first request. Now one line at the config's key,
    naming the character and never the key."""
    text = (
        "version: 1\nsource:\n  posthog:\n    project_id: 1\n    api_key: ${K}\n"
        "checks:\n  - {metric: size, max: 3}\n"
    )
    message = error_of(text, {"K": key})
    assert message.endswith(
        f"source.posthog.api_key: holds {shown}, which no API key holds (a personal API key "
        "is printable ASCII): was something pasted with it?"
    ), message
    assert "SECRET" not in message


@pytest.mark.parametrize(
    ("written", "spec", "request_"),
    [
        ("previous", PreviousBaseline(), BaselineRequest("previous")),
        (
            "{run_id: 2_trace_x}",
            RunIdBaseline(run_id="2_trace_x"),
            BaselineRequest("run_id", "2_trace_x"),
        ),
        ("{file: b.json}", FileBaseline(file="b.json"), None),
        ("{median_of: 7}", MedianBaseline(median_of=7), BaselineRequest("median_of", count=7)),
    ],
)
def test_baseline_forms(written: str, spec: object, request_: BaselineRequest | None) -> None:
    config = parse(
        SNAPSHOT_HEAD + f"baseline: {written}\nchecks:\n  - {{metric: size_drift, max: 1}}\n"
    )
    assert config.baseline == spec
    assert config.baseline.as_request() == request_
    assert config.baseline.kind == written.strip("{").split(":")[0]
    assert config.baseline_for(config.checks[0]) == spec


def test_baseline_labels_are_distinct() -> None:
    specs = [
        PreviousBaseline(),
        RunIdBaseline(run_id="r"),
        FileBaseline(file="f"),
        MedianBaseline(median_of=3),
    ]
    assert [s.label for s in specs] == ["previous", "run r", "file f", "median of 3"]


def test_per_check_baseline_override() -> None:
    config = load_config(CONFIGS / "good" / "baselines.yaml")
    assert config.baseline == MedianBaseline(median_of=7)
    specs = [config.baseline_for(c) for c in config.checks]
    assert specs == [
        MedianBaseline(median_of=7),
        PreviousBaseline(),
        RunIdBaseline(run_id="2_generation_20261115_001503"),
        FileBaseline(file="baselines/main.json"),
    ]
    latency, _, _, cost = config.checks
    assert latency.max_increase == Change(value=0.5, relative=False)
    assert cost.max_increase == Change(value=0.25, relative=True)
    assert cost.max_decrease == Change(value=0.5, relative=True)


def test_change_allowance() -> None:
    assert Change(value=0.2, relative=True).allowed(10.0) == pytest.approx(2.0)
    assert Change(value=0.2, relative=True).allowed(-10.0) == pytest.approx(2.0)
    assert Change(value=0.5, relative=False).allowed(10.0) == 0.5
    assert str(Change(value=0.2, relative=True)) == "20%"
    assert str(Change(value=0.5, relative=False)) == "0.5"


def _cluster(cluster_id: int, title: str, size: int) -> RunCluster:
    return RunCluster(cluster_id=cluster_id, title=title, description="", size=size)


def test_where_selection() -> None:
    noise, sql, chat = (
        _cluster(-1, "Noise", 50),
        _cluster(0, "SQL generation", 30),
        _cluster(1, "Chat", 5),
    )
    assert [Where().selects(c) for c in (noise, sql, chat)] == [False, True, True]
    assert [Where(noise="only").selects(c) for c in (noise, sql, chat)] == [True, False, False]
    assert [Where(noise="include").selects(c) for c in (noise, sql, chat)] == [True, True, True]
    by_title = Where(title="(?i)^sql")
    assert [by_title.selects(c) for c in (noise, sql, chat)] == [False, True, False]
    assert by_title.title_pattern is not None and by_title.title_pattern.pattern == "(?i)^sql"
    assert [Where(min_size=20).too_small(c) for c in (sql, chat)] == [False, True]


def test_generated_names_are_unique_and_readable() -> None:
    config = load_config(CONFIGS / "good" / "every_metric.yaml", env=ENV)
    names = [c.display_name for c in config.checks]
    assert names[-2:] == ["error_count max 10", "error_count max 10 #2"]
    assert "avg_cost_usd max 0.05 (min_size 20)" in names
    assert "size min 1 (noise only)" in names
    assert "noise_share max 0.3 (confidence 0.99)" in names  # as written, not as a percent
    assert config.run.job == "nightly-$-job"


def test_generated_name_never_takes_a_user_name() -> None:
    text = SNAPSHOT_HEAD + (
        "checks:\n  - {name: 'size max 3', metric: error_count, max: 1}\n"
        "  - {metric: size, max: 3}\n"
    )
    assert [c.display_name for c in parse(text).checks] == ["size max 3", "size max 3 #2"]


def test_check_built_in_code() -> None:
    check = Check(metric="p95_latency_s", max_increase=Change(value=0.2, relative=True))
    assert check.display_name == "p95_latency_s max_increase 20%"
    assert check.location is None and check.line is None
    assert check.needs_baseline and check.scope == "cluster"
    assert check.selection == Where()
    assert check.metric_info.unit == "seconds"


# ---------------------------------------------------------------------------
# Metric catalog


def test_metric_catalog_matches_the_design() -> None:
    assert RUN_METRICS == (
        "items_analyzed",
        "cluster_count",
        "noise_share",
        "run_age_hours",
        "run_cost_usd",
        "title_stability",
        "new_cluster_share",
        "size_drift",
    )
    assert CLUSTER_METRICS == (
        "size",
        "size_share",
        "avg_cost_usd",
        "total_cost_usd",
        "avg_latency_s",
        "p95_latency_s",
        "avg_tokens",
        "error_rate",
        "error_count",
    )
    assert set(RATIO_METRICS) == {
        "error_rate",
        "noise_share",
        "size_share",
        "title_stability",
        "new_cluster_share",
        "size_drift",
    }
    assert set(PROPORTION_METRICS) == {
        "error_rate",
        "noise_share",
        "size_share",
        "new_cluster_share",
    }
    assert set(BASELINE_ONLY_METRICS) == {"title_stability", "new_cluster_share", "size_drift"}
    for info in METRICS.values():
        assert info.description.endswith(".") and "\n" not in info.description
    assert METRICS["avg_cost_usd"].unit == "usd"
    assert METRICS["run_age_hours"].unit == "hours"


# ---------------------------------------------------------------------------
# JSON Schema


def test_schema_is_current() -> None:
    committed = config_mod.SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "schema.json is stale: run python -m llmc_checks.config --write-schema"
    )


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(config_mod.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _interpolated(text: str) -> str:
    return re.sub(
        r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: ENV.get(m[1]) or m[2] or "", text
    ).replace("$$", "$")


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_config_matches_schema(path: Path) -> None:
    validator = jsonschema.Draft202012Validator(_schema())
    text = path.read_text(encoding="utf-8")
    # As the editor sees it (with ${VAR}) and as the validator sees it.
    for shown in (text, _interpolated(text)):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(shown))]
        assert errors == []


def test_schema_rejects_what_the_models_reject() -> None:
    validator = jsonschema.Draft202012Validator(_schema())
    base = {"version": 1, "source": {"snapshot": "e.jsonl"}}
    assert not validator.is_valid({**base, "checks": []})
    assert not validator.is_valid({**base, "checks": [{"metric": "nope", "max": 1}]})
    assert not validator.is_valid({**base, "checks": [{"metric": "size", "mx": 1}]})
    assert not validator.is_valid({**base, "checks": [{"metric": "size", "max": "5x%"}]})
    assert not validator.is_valid(
        {**base, "baseline": {"median_of": 1}, "checks": [{"metric": "size", "max": 1}]}
    )
    assert validator.is_valid(
        {**base, "baseline": {"median_of": 2}, "checks": [{"metric": "size", "max": "5%"}]}
    )


def test_schema_has_descriptions_for_editors() -> None:
    check = _schema()["$defs"]["Check"]["properties"]
    assert all("description" in prop for prop in check.values())
    assert len(check["metric"]["enumDescriptions"]) == len(METRICS)


def test_main_writes_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "schema.json"
    monkeypatch.setattr(config_mod, "SCHEMA_PATH", target)
    assert config_mod.main(["--write-schema"]) == 0
    assert target.read_text(encoding="utf-8") == schema_text()
    assert f"wrote {target}" in capsys.readouterr().out


def test_main_validates_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good"
    (good / "snapshots").mkdir(parents=True)
    shutil.copy(CONFIGS / "good" / "snapshot_minimal.yaml", good)
    (good / "snapshots" / "events.jsonl.gz").write_bytes(b"")  # it must exist, nothing more
    monkeypatch.chdir(tmp_path)
    assert config_mod.main(["good/snapshot_minimal.yaml"]) == 0
    assert "good/snapshot_minimal.yaml: ok, 1 check" in capsys.readouterr().out
    monkeypatch.chdir(CONFIGS / "bad")
    assert config_mod.main(["typo_key.yaml"]) == 1
    assert capsys.readouterr().err.strip() == expected_message(CONFIGS / "bad" / "typo_key.yaml")
