"""Regressions across runs, end to end: generated daily runs → gate → verdicts.

The scenarios come from the seeded generator, whose ground truth (topic per cluster)
lets these tests say which cluster must be named.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import llmc_cluster, llmc_run_event, llmc_write_jsonl

from llmc_checks import baseline_file
from llmc_checks.config import parse_config
from llmc_checks.gate import Gate, Options
from llmc_checks.results import Outcome
from llmc_checks.synth import ALT_TOPICS, NewTopic, Scenario, Shift, Synth, generate, write_rows


def _scenario(**knobs: object) -> Scenario:
    return Scenario(traces_per_day=140, max_samples=600, **knobs)


def _gate(
    tmp_path: Path, synth: Synth, checks: str, baseline: str = "previous", **options: object
) -> Outcome:
    snapshot = tmp_path / "events.jsonl.gz"
    if not snapshot.exists():
        write_rows(synth.rows, snapshot)
    text = (
        f"version: 1\nsource: {{snapshot: {snapshot.name}}}\nrun: {{lookback: 30d}}\n"
        f"baseline: {baseline}\nchecks:\n{checks}"
    )
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    return Gate(config, tmp_path / "checks.yaml", Options(**options)).outcome()  # type: ignore[arg-type]


def _status(outcome: Outcome) -> list[str]:
    assert outcome.error is None, outcome.error
    return [r.status for r in outcome.results]


def test_reworded_daily_runs_keep_their_titles_stable(tmp_path: Path) -> None:
    synth = generate(_scenario(seed=3, days=3))
    outcome = _gate(tmp_path, synth, "  - metric: title_stability\n    min: 80%\n")
    assert _status(outcome) == ["pass"]
    # Against the truth: every latest/baseline pair the matcher made shares a topic.
    latest, previous = synth.runs[-1], synth.runs[-2]
    assert outcome.baseline is not None
    (pairing,) = outcome.baseline.pairings
    for pair in pairing.pairs:
        assert (
            latest.cluster_topics[pair.latest.cluster_id]
            == (previous.cluster_topics[pair.baseline.cluster_id])
        )


def test_a_changed_topic_set_fails_title_stability(tmp_path: Path) -> None:
    scenario = _scenario(seed=4, days=9, topics_after=ALT_TOPICS, topics_change_day=2)
    synth = generate(scenario)
    before = synth.runs[1].run_id  # the last run whose window holds only the old topics
    outcome = _gate(
        tmp_path,
        synth,
        "  - metric: title_stability\n    min: 80%\n  - metric: new_cluster_share\n    max: 10%\n",
        baseline=f"{{run_id: {before}}}",
    )
    assert _status(outcome) == ["fail", "fail"]
    stability, new_share = outcome.results
    assert stability.observed is not None and stability.observed < 0.2
    assert new_share.observed is not None and new_share.observed > 0.8


def test_a_new_topic_with_a_fifth_of_the_traffic_fails_new_cluster_share(tmp_path: Path) -> None:
    topic = ALT_TOPICS[0]
    scenario = _scenario(seed=5, days=9, new_topics=(NewTopic(topic=topic, from_day=2, share=0.2),))
    synth = generate(scenario)
    before = synth.runs[1].run_id
    outcome = _gate(
        tmp_path, synth, "  - metric: new_cluster_share\n    max: 10%\n", f"{{run_id: {before}}}"
    )
    assert _status(outcome) == ["fail"]
    (result,) = outcome.results
    # Independent: the new topic's cluster size over the latest run's items, from the truth.
    latest = synth.runs[-1]
    new_cluster = latest.cluster_for(topic.key)
    assert new_cluster is not None
    expected = new_cluster.size / latest.items_analyzed
    assert 0.15 < expected < 0.25
    assert result.observed == pytest.approx(expected, rel=1e-12)
    # The pairing names it as the (only) new cluster.
    assert outcome.baseline is not None
    (pairing,) = outcome.baseline.pairings
    assert [c.cluster_id for c in pairing.new] == [new_cluster.cluster_id]


def test_a_cluster_whose_cost_quadrupled_fails_and_is_named(tmp_path: Path) -> None:
    scenario = _scenario(seed=6, days=9, shifts=(Shift(topic="sql", from_day=2, cost_factor=4.0),))
    synth = generate(scenario)
    before, latest = synth.runs[1], synth.runs[-1]
    outcome = _gate(
        tmp_path,
        synth,
        "  - metric: avg_cost_usd\n    max_increase: 50%\n",
        f"{{run_id: {before.run_id}}}",
    )
    assert _status(outcome) == ["fail"]
    (result,) = outcome.results
    failing = [row for row in result.clusters if row.status == "fail"]
    sql_latest = latest.cluster_for("sql")
    sql_before = before.cluster_for("sql")
    assert sql_latest is not None and sql_before is not None
    # Small clusters drift by chance too; the quadrupled one must fail and be the worst.
    assert sql_latest.cluster_id in [row.cluster_id for row in failing]
    assert result.worst is not None and result.worst.cluster_id == sql_latest.cluster_id
    row = result.worst
    # The generator's own per-cluster means (computed independently of metrics.py), as
    # the cluster page reads them (the default semantics).
    assert row.value == pytest.approx(sql_latest.metrics_ui["avg_cost"], rel=1e-9)
    assert row.baseline_value == pytest.approx(sql_before.metrics_ui["avg_cost"], rel=1e-9)
    ratio = sql_latest.metrics_ui["avg_cost"] / sql_before.metrics_ui["avg_cost"]
    assert 3.0 < ratio < 5.5
    # The message names the cluster, the baseline value, the new value and the change.
    assert sql_latest.title in result.message
    assert f"+{ratio - 1:.0%}" in result.message
    assert "baseline $" in result.message


def test_first_run_skips_relative_checks_or_errors_when_required(tmp_path: Path) -> None:
    synth = generate(_scenario(seed=7, days=1))
    checks = (
        "  - metric: avg_cost_usd\n    max_increase: 50%\n  - metric: noise_share\n    max: 50%\n"
    )
    skipped = _gate(tmp_path, synth, checks)
    assert _status(skipped) == ["skip", "pass"]
    # No run without a job id in the file: nothing said about such runs.
    (latest,) = synth.runs
    assert skipped.results[0].message == (
        f"no baseline yet: {latest.run_id} is the first trace-level run of job {latest.job_name}"
    )
    required = _gate(tmp_path, synth, checks, require_baseline=True)
    assert _status(required) == ["error", "pass"]


def test_runs_from_before_clustering_jobs_are_no_jobs_baseline_and_the_skip_says_why(
    tmp_path: Path,
) -> None:
    synth = generate(_scenario(seed=9, days=4, legacy_runs=3))
    *earlier, latest = synth.runs
    assert [r.job_id for r in earlier] == ["", "", ""] and latest.job_id
    checks = "  - metric: avg_cost_usd\n    max_increase: 50%\n"
    for baseline in ("previous", "{median_of: 3}"):
        (result,) = _gate(tmp_path, synth, checks, baseline=baseline).results
        assert result.status == "skip"
        assert result.message == (
            f"no baseline yet: {latest.run_id} is the first trace-level run of job "
            f"{latest.job_name}; runs without a job id (emitted before PostHog had clustering "
            "jobs) belong to no job and are never its baseline: name one with baseline: "
            "{run_id: '...'} to compare with it"
        )
    # Named, a legacy run is a baseline like any other.
    named = _gate(tmp_path, synth, checks, baseline=f"{{run_id: '{earlier[-1].run_id}'}}")
    assert _status(named) == ["pass"]


def test_update_baseline_then_rerun_passes_and_a_regression_fails(tmp_path: Path) -> None:
    stable = generate(_scenario(seed=8, days=2))
    checks = (
        "  - metric: avg_cost_usd\n    max_increase: 50%\n"
        "  - metric: title_stability\n    min: 80%\n"
    )
    file_spec = "{file: baseline.json}"
    first = _gate(tmp_path, stable, checks, file_spec, update_baseline=True)
    assert _status(first) == ["skip", "skip"]  # no file yet: nothing to compare
    written = tmp_path / "baseline.json"
    doc = json.loads(written.read_text())
    assert doc["run"]["run_id"] == stable.runs[-1].run_id
    assert '"traces"' not in written.read_text()  # small and reviewable: no item ids
    assert doc["semantics"] == "ui"  # the numbers say whose they are
    assert first.notes and "updated" in first.notes[0]

    again = _gate(tmp_path, stable, checks, file_spec)
    assert _status(again) == ["pass", "pass"]
    (cost,) = [again.results[0]]
    assert cost.observed == pytest.approx(0.0, abs=1e-12)  # same run: no change

    regressed_dir = tmp_path / "regressed"
    regressed_dir.mkdir()
    (regressed_dir / "baseline.json").write_text(written.read_text())
    regressed = generate(
        _scenario(
            seed=8,
            days=2,
            shifts=(Shift(topic="refunds", from_day=0, cost_factor=3.0),),
        )
    )
    outcome = _gate(regressed_dir, regressed, checks, file_spec)
    assert _status(outcome) == ["fail", "pass"]
    truth = regressed.runs[-1].cluster_for("refunds")
    assert truth is not None
    assert truth.title in outcome.results[0].message


def test_baseline_file_round_trips(tmp_path: Path) -> None:
    synth = generate(_scenario(seed=9, days=1))
    gate = _gate(tmp_path, synth, "  - metric: avg_cost_usd\n    max: 1\n")
    assert gate.latest is not None
    path = tmp_path / "b.json"
    baseline_file.write(path, gate.latest, "ui")
    (back,) = baseline_file.read(path, "ui")
    assert back.run_id == gate.latest.run_id
    assert [(c.cluster_id, c.title, c.size, c.stats) for c in back.clusters] == [
        (c.cluster_id, c.title, c.size, c.stats)
        for c in sorted(gate.latest.clusters, key=lambda c: c.cluster_id)
    ]


def test_a_corrupt_baseline_file_is_an_error(tmp_path: Path) -> None:
    synth = generate(_scenario(seed=9, days=2))
    (tmp_path / "baseline.json").write_text('{"format": "something else"}')
    outcome = _gate(
        tmp_path,
        synth,
        "  - metric: avg_cost_usd\n    max_increase: 50%\n",
        "{file: baseline.json}",
    )
    assert outcome.error is not None
    assert "not a baseline written by --llmc-update-baseline" in outcome.error
    assert [r.status for r in outcome.results] == ["error"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[]", "the document is not an object"),
        ('{"format": "llmc-baseline/1", "run": 7, "clusters": []}', "run is not an object"),
    ],
)
def test_a_baseline_file_of_the_wrong_shape_is_an_error_not_a_crash(
    tmp_path: Path, text: str, reason: str
) -> None:
    synth = generate(_scenario(seed=9, days=2))
    (tmp_path / "baseline.json").write_text(text)
    outcome = _gate(
        tmp_path,
        synth,
        "  - metric: avg_cost_usd\n    max_increase: 50%\n",
        "{file: baseline.json}",
    )
    assert outcome.error is not None and reason in outcome.error
    assert [r.status for r in outcome.results] == ["error"]


def test_a_hand_edited_stat_must_stay_a_number(tmp_path: Path) -> None:
    synth = generate(_scenario(seed=9, days=1))
    latest = _gate(tmp_path, synth, "  - metric: avg_cost_usd\n    max: 1\n").latest
    assert latest is not None
    doc = json.loads(baseline_file.dumps(latest, "ui"))
    doc["clusters"][0]["stats"]["avg_cost_usd"] = "n/a"
    (tmp_path / "baseline.json").write_text(json.dumps(doc))
    outcome = _gate(
        tmp_path,
        synth,
        "  - metric: avg_cost_usd\n    max_increase: 50%\n",
        "{file: baseline.json}",
    )
    assert outcome.error is not None
    assert "stats.avg_cost_usd is 'n/a', not a number" in outcome.error


def test_an_updated_baseline_serves_later_p95_checks(tmp_path: Path) -> None:
    # The generator bakes metrics, which never include p95: the update must still write it.
    synth = generate(_scenario(seed=10, days=2))
    _gate(
        tmp_path,
        synth,
        "  - metric: noise_share\n    max: 50%\n",
        "{file: b.json}",
        update_baseline=True,
    )
    doc = json.loads((tmp_path / "b.json").read_text())
    p95 = {c["cluster_id"]: c["stats"]["p95_latency_s"] for c in doc["clusters"]}
    truth = {c.cluster_id: c.metrics_ui["p95_latency"] for c in synth.runs[-1].clusters}
    assert p95 == pytest.approx(truth, rel=1e-9)
    later = _gate(
        tmp_path, synth, "  - metric: p95_latency_s\n    max_increase: 20%\n", "{file: b.json}"
    )
    assert [r.status for r in later.results] == ["pass"]


def _semantics_gate(tmp_path: Path, semantics: str, update: bool = False) -> Outcome:
    text = (
        "version: 1\nsource: {snapshot: synth.jsonl.gz}\n"
        f"run: {{lookback: 30d, semantics: {semantics}}}\nbaseline: {{file: b.json}}\n"
        "checks:\n  - metric: avg_cost_usd\n    max_increase: 50%\n"
    )
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    return Gate(config, tmp_path / "checks.yaml", Options(update_baseline=update)).outcome()


def test_a_baseline_in_the_other_semantics_is_an_error_until_rewritten(tmp_path: Path) -> None:
    synth = generate(_scenario(seed=9, days=2))
    write_rows(synth.iter_rows(), tmp_path / "synth.jsonl.gz")
    written = _semantics_gate(tmp_path, "ui", update=True)
    assert written.error is None and written.semantics == "ui"
    assert json.loads((tmp_path / "b.json").read_text())["semantics"] == "ui"

    mixed = _semantics_gate(tmp_path, "workflow")
    assert mixed.error is not None
    assert "b.json: its numbers are in ui semantics but run.semantics is workflow" in mixed.error
    assert [r.status for r in mixed.results] == ["error"]

    # --llmc-update-baseline under the new semantics replaces the file instead of failing.
    rewritten = _semantics_gate(tmp_path, "workflow", update=True)
    assert rewritten.error is None
    assert [r.status for r in rewritten.results] == ["skip"]
    assert json.loads((tmp_path / "b.json").read_text())["semantics"] == "workflow"
    assert [r.status for r in _semantics_gate(tmp_path, "workflow").results] == ["pass"]


def _evaluation_gate(tmp_path: Path, semantics: str, update: bool = False) -> Outcome:
    text = (
        "version: 1\nsource: {snapshot: eval.jsonl}\n"
        f"run: {{level: evaluation, lookback: 30d, semantics: {semantics}}}\n"
        "baseline: {file: b.json}\n"
        "checks:\n  - metric: avg_cost_usd\n    max_increase: 50%\n"
    )
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    return Gate(config, tmp_path / "checks.yaml", Options(update_baseline=update)).outcome()


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_an_evaluation_baseline_file_says_workflow_and_reads_under_either(
    tmp_path: Path, semantics: str
) -> None:
    """An evaluation run's numbers are the job's under either run.semantics (the reports
    say workflow): the file says so too, and is read whichever the config then sets."""
    baked = {"avg_cost": 0.01, "avg_latency": 1.0, "avg_tokens": 10.0, "error_rate": 0.0}
    row = llmc_run_event(
        "1_evaluation_x", [llmc_cluster(0, ["e1", "e2"], metrics=baked)], level="evaluation"
    )
    llmc_write_jsonl(tmp_path / "eval.jsonl", [row])
    written = _evaluation_gate(tmp_path, semantics, update=True)
    assert written.error is None and written.semantics == "workflow"
    assert [r.status for r in written.results] == ["skip"]
    path = tmp_path / "b.json"
    assert json.loads(path.read_text())["semantics"] == "workflow"
    # Following the report (run.semantics: workflow), or not, the file still reads.
    for later in ("ui", "workflow"):
        assert [r.status for r in _evaluation_gate(tmp_path, later).results] == ["pass"]
    # So does a file an earlier version wrote naming ui: its numbers were the job's too.
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "semantics": "ui"}))
    for later in ("ui", "workflow"):
        assert [r.status for r in _evaluation_gate(tmp_path, later).results] == ["pass"]


def test_a_baseline_written_before_semantics_existed_holds_the_jobs_numbers(
    tmp_path: Path,
) -> None:
    synth = generate(_scenario(seed=9, days=1))
    latest = _gate(tmp_path, synth, "  - metric: avg_cost_usd\n    max: 1\n").latest
    assert latest is not None
    doc = json.loads(baseline_file.dumps(latest, "workflow"))
    del doc["semantics"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    assert baseline_file.read(path, "workflow")[0].run_id == latest.run_id
    with pytest.raises(baseline_file.OtherSemantics, match="in workflow semantics"):
        baseline_file.read(path, "ui")


def test_a_binary_baseline_file_is_a_baseline_file_error(tmp_path: Path) -> None:
    synth = generate(_scenario(seed=9, days=2))
    (tmp_path / "baseline.json").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe binary")
    outcome = _gate(
        tmp_path,
        synth,
        "  - metric: avg_cost_usd\n    max_increase: 50%\n",
        "{file: baseline.json}",
    )
    assert outcome.error is not None
    assert "internal error" not in outcome.error
    assert outcome.error == (
        f"{tmp_path / 'baseline.json'}: not a baseline written by --llmc-update-baseline "
        "(not UTF-8 text)"
    )


def test_a_trace_baseline_file_in_other_semantics_is_refused_at_any_level(
    tmp_path: Path,
) -> None:
    """Only an evaluation run's file reads under either semantics: a trace run's numbers
    differ between them, whatever level the gate that reads it is at."""
    synth = generate(_scenario(seed=9, days=1))
    latest = _gate(tmp_path, synth, "  - metric: avg_cost_usd\n    max: 1\n").latest
    assert latest is not None and latest.level == "trace"
    path = tmp_path / "trace.json"
    path.write_text(baseline_file.dumps(latest, "ui"))
    assert baseline_file.read(path, "ui")[0].run_id == latest.run_id
    with pytest.raises(baseline_file.OtherSemantics, match="in ui semantics"):
        baseline_file.read(path, "workflow")


def test_a_check_with_its_own_baseline_names_the_runs_it_was_compared_with(
    tmp_path: Path,
) -> None:
    # The header names the top-level baseline; a check that overrides it must say which
    # runs its "baseline 13.5s" came from, or a reader looks them up in the wrong run.
    synth = generate(_scenario(seed=5, days=5))
    ids = [r.run_id for r in synth.runs]  # oldest first; ids[-1] is the latest
    checks = (
        "  - {metric: avg_cost_usd, max_increase: 1000%}\n"
        "  - {metric: avg_cost_usd, max_increase: 1000%, baseline: {median_of: 3}}\n"
        f"  - {{metric: title_stability, min: 1%, baseline: {{run_id: '{ids[0]}'}}}}\n"
    )
    outcome = _gate(tmp_path, synth, checks)
    assert _status(outcome) == ["pass", "pass", "pass"]
    default, median, pinned = (r.message.splitlines() for r in outcome.results)
    assert not any(line.startswith("(baseline ") for line in default)
    assert median[-1] == f"(baseline median of 3: {ids[-4]}, {ids[-3]}, {ids[-2]})"
    assert pinned[-1] == f"(baseline run {ids[0]})"


def test_the_markdown_report_names_a_failing_checks_own_baseline(tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    from llmc_checks.report import markdown

    synth = generate(_scenario(seed=5, days=5))
    ids = [r.run_id for r in synth.runs]
    checks = (
        "  - {metric: noise_share, max_increase: 1000%}\n"
        "  - {metric: avg_cost_usd, max_increase: 0%, baseline: {median_of: 3}}\n"
    )
    outcome = _gate(tmp_path, synth, checks)
    assert _status(outcome) == ["pass", "fail"]
    section = markdown.render([(outcome, [0, 1])]).split("### ")[1]
    # As it reads once rendered (GitHub's step summary): the literal text.
    html = MarkdownIt("commonmark").enable("table").render(section)
    assert f"(baseline median of 3: {ids[-4]}, {ids[-3]}, {ids[-2]})" in html
