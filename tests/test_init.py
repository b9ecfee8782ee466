"""`--llmc-init` / `llmc-checks init` end to end on generated data.

A healthy team history (14 daily runs) proposes a starter file; the file must pass
the newest run of that history and the healthy runs that follow, and fail the newest
run of a continuation that carries a regression: a x4 cost in one pattern, a x12
error rate in another, a 45% noise share. Regressions start the day after the history
ends, so the newest run (seven runs later) carries them over its whole window.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmc_checks import cli
from llmc_checks.config import Config, load_config
from llmc_checks.gate import Gate, Options
from llmc_checks.model import LlmcError
from llmc_checks.results import Outcome
from llmc_checks.starter import InitOptions, run_init
from llmc_checks.synth import NoiseShift, Scenario, Shift, Synth, generate, write_rows
from llmc_checks.synth.truth import RunTruth

HISTORY = 14
LATER = 7  # runs after the history: a regression from day HISTORY fills the last window
BASE = Scenario(seed=0, days=HISTORY + LATER, traces_per_day=300)


def _timestamp(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(row["timestamp"]).replace("Z", "+00:00"))


def write_as_of(synth: Synth, path: Path, cutoff: datetime) -> Path:
    """The snapshot a team would have taken at `cutoff`: every row up to it."""
    write_rows((row for row in synth.iter_rows() if _timestamp(row) <= cutoff), path)
    return path


@dataclass(frozen=True)
class History:
    synth: Synth
    snapshot: Path  # the first HISTORY runs, and the traffic up to six hours after
    full: Path  # the healthy continuation: all HISTORY + LATER runs
    checks: Path  # the starter file proposed from `snapshot`
    table: str
    summary: str


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("init")
    synth = generate(BASE)
    cutoff = synth.runs[HISTORY - 1].window_end + timedelta(hours=6)
    snapshot = write_as_of(synth, root / "history.jsonl.gz", cutoff)
    full = root / "full.jsonl.gz"
    write_rows(synth.iter_rows(), full)
    printed: list[str] = []
    checks = root / "checks.yaml"
    summary = run_init(InitOptions(out=checks, snapshot=snapshot), {}, printed.append)
    return History(synth, snapshot, full, checks, "\n".join(printed), summary)


def gate(config: Config, path: Path, snapshot: Path) -> Outcome:
    return Gate(config, path, Options(snapshot=snapshot)).outcome()


def statuses(outcome: Outcome) -> dict[str, str]:
    return {r.name: r.status for r in outcome.results}


def test_the_file_validates_and_every_limit_shows_its_history(history: History) -> None:
    config = load_config(history.checks)
    text = history.checks.read_text()
    assert f"{len(config.checks)} checks proposed from the last {HISTORY}" in history.summary
    assert config.run.level == "trace" and config.run.job == "Default - traces"
    assert str(config.baseline) == "previous"
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("  - metric: ")]
    assert len(starts) == len(config.checks)
    for i in starts:
        # The comment right above each check: min / median / max over N.
        assert re.fullmatch(r"  # .+: \S+ / \S+ / \S+ over \d+ [a-z ]+", lines[i - 1]), lines[i - 1]
    metrics = {c.metric for c in config.checks}
    assert {
        "run_age_hours",
        "noise_share",
        "cluster_count",
        "title_stability",
        "avg_cost_usd",
        "p95_latency_s",
        "error_rate",
    } <= metrics
    assert any(c.max_increase is not None for c in config.checks)
    assert all(c.confidence == 0.95 for c in config.checks if c.metric == "error_rate")
    # A pattern of every topic the newest run holds (the noise aside).
    newest = history.synth.runs[HISTORY - 1]
    topics = [c for c in newest.clusters if c.topic is not None]
    titled = [c for c in config.checks if c.where is not None and c.where.title is not None]
    for cluster in topics:
        assert any(re.search(str(c.where.title), cluster.title) for c in titled if c.where)


def test_the_table_prints_the_same_limits(history: History) -> None:
    config = load_config(history.checks)
    rows = [line for line in history.table.splitlines()[2:] if line.strip()]
    assert len(rows) == len(config.checks)
    noise = next(c for c in config.checks if c.metric == "noise_share")
    assert noise.max is not None
    noise_row = next(r for r in rows if r.startswith("noise_share"))
    assert f"max {noise.max * 100:g}%" in noise_row


def test_the_newest_run_of_the_history_passes(history: History) -> None:
    config = load_config(history.checks)
    outcome = gate(config, history.checks, history.snapshot)
    assert outcome.error is None
    assert outcome.latest is not None
    assert outcome.latest.run_id == history.synth.runs[HISTORY - 1].run_id
    assert set(statuses(outcome).values()) == {"pass"}, statuses(outcome)


def test_the_healthy_continuation_passes(history: History) -> None:
    config = load_config(history.checks)
    outcome = gate(config, history.checks, history.full)
    assert outcome.latest is not None
    assert outcome.latest.run_id == history.synth.runs[-1].run_id
    assert set(statuses(outcome).values()) == {"pass"}, statuses(outcome)


def _pattern_check(config: Config, metric: str, title: str) -> str:
    """The name of the pattern check on `metric` whose title regex selects `title`."""
    found = [
        c.display_name
        for c in config.checks
        if c.metric == metric
        and c.where is not None
        and c.where.title is not None
        and re.search(c.where.title, title)
    ]
    assert len(found) == 1, (metric, title, found)
    return found[0]


def _cluster_of(run: RunTruth, topic: str) -> str:
    return next(c.title for c in run.clusters if c.topic == topic)


@pytest.mark.parametrize(
    ("scenario", "topic", "metric"),
    [
        (
            Scenario(**{**BASE.__dict__, "shifts": (Shift("refunds", HISTORY, cost_factor=4),)}),
            "refunds",
            "avg_cost_usd",
        ),
        # summarization fails 1% of its traces; 12% from the regression on.
        (
            Scenario(
                **{**BASE.__dict__, "shifts": (Shift("summarization", HISTORY, error_rate=0.12),)}
            ),
            "summarization",
            "error_rate",
        ),
        (
            Scenario(**{**BASE.__dict__, "noise_shifts": (NoiseShift(HISTORY, 0.45),)}),
            None,
            "noise_share",
        ),
    ],
    ids=["cost-x4", "error-rate-x12", "noise-45%"],
)
def test_a_regression_in_the_newest_run_is_caught(
    history: History, tmp_path: Path, scenario: Scenario, topic: str | None, metric: str
) -> None:
    synth = generate(scenario)
    snapshot = tmp_path / "regressed.jsonl.gz"
    write_rows(synth.iter_rows(), snapshot)
    config = load_config(history.checks)
    outcome = gate(config, history.checks, snapshot)
    newest = synth.runs[-1]
    assert outcome.latest is not None and outcome.latest.run_id == newest.run_id
    results = {r.name: r for r in outcome.results}
    if topic is None:
        name = next(c.display_name for c in config.checks if c.metric == metric)
        assert results[name].status == "fail", results[name].message
        assert results[name].observed == pytest.approx(0.45, abs=0.03)
        return
    title = _cluster_of(newest, topic)
    result = results[_pattern_check(config, metric, title)]
    assert result.status == "fail", result.message
    assert result.worst is not None and result.worst.title == title


def test_the_same_history_gives_the_same_file(history: History) -> None:
    again = history.checks.with_name("again.yaml")
    run_init(InitOptions(out=again, snapshot=history.snapshot), {}, lambda _: None)
    assert again.read_bytes() == history.checks.read_bytes()


def _from_run(text: str) -> str:
    """The file from `run:` on: all but the source block (a path relative to the file)."""
    return text[text.index("\nrun:") :]


def test_an_existing_file_is_never_overwritten(history: History) -> None:
    before = history.checks.read_bytes()
    with pytest.raises(LlmcError, match="already exists; not overwriting it"):
        run_init(InitOptions(out=history.checks, snapshot=history.snapshot), {}, print)
    assert history.checks.read_bytes() == before


def test_too_few_runs_are_refused_in_one_line(tmp_path: Path) -> None:
    synth = generate(Scenario(seed=1, days=2, traces_per_day=60))
    snapshot = tmp_path / "short.jsonl"
    write_rows(synth.iter_rows(), snapshot)
    out = tmp_path / "checks.yaml"
    with pytest.raises(LlmcError) as info:
        run_init(InitOptions(out=out, snapshot=snapshot), {}, print)
    message = str(info.value)
    assert message == (
        "only 2 trace-level runs of job 'Default - traces' found: at least 3 are needed "
        "to propose limits from their spread"
    )
    assert not out.exists()


def test_the_live_environment_must_name_a_project_and_key(tmp_path: Path) -> None:
    out = tmp_path / "checks.yaml"
    with pytest.raises(LlmcError, match="POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY not set"):
        run_init(InitOptions(out=out), {}, print)
    env = {"POSTHOG_PROJECT_ID": "1", "POSTHOG_PERSONAL_API_KEY": "phx_SECRET"}
    with pytest.raises(LlmcError) as info:
        run_init(InitOptions(out=out), {**env, "POSTHOG_HOST": "http://example.com"}, print)
    assert str(info.value).startswith("POSTHOG_HOST: https is required for example.com")
    assert "phx_SECRET" not in str(info.value)
    assert not out.exists()


# ---------------------------------------------------------------------------
# The two doors: the console command and the pytest option


def test_the_console_command(history: History, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "cli.yaml"
    assert cli.main(["init", str(out), "--snapshot", str(history.snapshot)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == [
        "metric",
        "clusters",
        "proposed",
        "min",
        "median",
        "max",
        "n",
    ]
    assert printed.rstrip().endswith("review them before committing")
    assert load_config(out).checks == load_config(history.checks).checks
    assert cli.main(["init", str(out), "--snapshot", str(history.snapshot)]) == 1
    assert (
        capsys.readouterr().err == f"llmc-checks init: {out} already exists; not overwriting it\n"
    )
    with pytest.raises(SystemExit) as info:
        cli.main(["init", str(tmp_path / "x.yaml"), "--runs", "2"])
    assert info.value.code == 2


def test_the_pytest_option_writes_and_runs_nothing(
    history: History, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LLMC_CONFIG", "LLMC_INIT", "LLMC_SNAPSHOT"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError\n")
    args = ["--llmc-init", "checks.yaml", "--llmc-snapshot", str(history.snapshot)]
    result = pytester.runpytest_subprocess(*args, "--llmc-init-runs", "14")
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == 0, text
    assert "collected" not in text and "test_never" not in text
    assert "llmc-checks: wrote checks.yaml: " in text
    written = (pytester.path / "checks.yaml").read_text()
    # One implementation behind both doors: the same file but for the snapshot's path.
    assert _from_run(written) == _from_run(history.checks.read_text())
    again = pytester.runpytest_subprocess(*args)
    assert again.ret == pytest.ExitCode.USAGE_ERROR
    assert "checks.yaml already exists; not overwriting it" in again.stderr.str()
    both = pytester.runpytest_subprocess(*args, "--llmc-config", "checks.yaml")
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    assert "does not run with a gate" in both.stderr.str()


# ---------------------------------------------------------------------------
# Live: the same file from PostHog's query API, in two query requests


@pytest.fixture(scope="module")
def standin_rows(history: History) -> Iterator[list[dict[str, Any]]]:
    cutoff = history.synth.runs[HISTORY - 1].window_end + timedelta(hours=6)
    yield [row for row in history.synth.iter_rows() if _timestamp(row) <= cutoff]


def test_live_reads_the_history_in_two_queries(
    history: History, standin_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    import random

    from standin import StandIn

    from llmc_checks.config import PostHogSource as Settings
    from llmc_checks.sources.posthog import PostHogSource

    key = "phx_init_SECRET"
    now = history.synth.runs[HISTORY - 1].window_end + timedelta(hours=6)
    with StandIn(standin_rows, api_key=key, project_id=1) as s:
        settings = Settings(host=s.url, project_id=1, api_key=key)
        source = PostHogSource(settings, clock=lambda: now, rng=random.Random(1))
        out = tmp_path / "live.yaml"
        url = s.url
        env = {"POSTHOG_HOST": url}
        run_init(InitOptions(out=out), env, lambda _: None, source=source)
        assert [r.name for r in s.query_requests()] == ["llmc-latest", "llmc-baselines"]
        assert s.requests == s.query_requests()
    text = out.read_text()
    assert key not in text
    assert "    api_key: ${POSTHOG_PERSONAL_API_KEY}" in text
    assert f"    host: ${{POSTHOG_HOST:-{url}}}" in text
    # The same numbers as the snapshot: the checks are identical, comments included.
    assert (
        text[text.index("checks:") :]
        == history.checks.read_text()[history.checks.read_text().index("checks:") :]
    )


def test_evaluation_level_proposes_from_baked_metrics_only(tmp_path: Path) -> None:
    # Evaluation runs have no AI events: no p95 (never baked), the rest from `metrics`.
    synth = generate(Scenario(seed=5, days=4, traces_per_day=150, level="evaluation"))
    snapshot = tmp_path / "evals.jsonl.gz"
    write_rows(synth.iter_rows(), snapshot)
    out = tmp_path / "checks.yaml"
    options = InitOptions(out=out, level="evaluation", snapshot=snapshot)
    summary = run_init(options, {}, lambda _: None)
    assert "from the last 4 evaluation-level runs of job 'Default - evaluations'" in summary
    config = load_config(out)
    assert config.run.level == "evaluation"
    assert "p95_latency_s" not in {c.metric for c in config.checks}
    assert {"avg_cost_usd", "error_rate", "noise_share"} <= {c.metric for c in config.checks}
    outcome = gate(config, out, snapshot)
    assert set(statuses(outcome).values()) == {"pass"}, statuses(outcome)


def test_the_readme_excerpt_is_what_init_writes_for_the_demo(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start") : readme.index("## How it works")]
    excerpt = quick[quick.index("```yaml\n") + 8 :]
    excerpt = excerpt[: excerpt.index("```")]
    out = tmp_path / "starter.yaml"
    snapshot = root / "llmc_checks" / "demo" / "snapshot.jsonl.gz"
    run_init(InitOptions(out=out, snapshot=snapshot), {}, lambda _: None)
    written = out.read_text()
    blocks = excerpt.split("  # pattern")
    assert blocks[0] in written
    assert all("  # pattern" + block in written for block in blocks[1:])
