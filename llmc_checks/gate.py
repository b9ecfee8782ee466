"""One gate per config file: request → load (+ wait) → evaluate → record / write baseline.

Everything is read first (the source once, the baseline files), then `evaluate_gate`
judges purely; pytest items, the terminal table and the reports all read the same
`Outcome` (results.py). Nothing here knows about pytest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from llmc_checks import checks as checks_mod
from llmc_checks import results as results_mod
from llmc_checks import trends as trends_mod
from llmc_checks.config import FileBaseline, MedianBaseline, RunIdBaseline
from llmc_checks.metrics_catalog import metric as metric_info
from llmc_checks.model import (
    BAKED_KEYS,
    STAT_FIELDS,
    BaselineRequest,
    LlmcError,
    Loaded,
    Member,
    NoRunFound,
    Run,
    RunRequest,
    Semantics,
)
from llmc_checks.results import BaselineView, Outcome
from llmc_checks.sources.base import Source
from llmc_checks.trends import HISTORY_RUNS
from llmc_checks.units import counted, format_duration

if TYPE_CHECKING:
    from llmc_checks.config import BaselineSpec, Check, Config
    from llmc_checks.matching import Pairing


def _quiet(line: str) -> None:
    """The default reporter: tells nobody."""


@dataclass(frozen=True, slots=True)
class Options:
    """The command-line switches that change what a gate does."""

    snapshot: Path | None = None
    run_id: str | None = None
    strict: bool = False
    require_baseline: bool = False
    update_baseline: bool = False
    after: datetime | None = None
    wait: timedelta | None = None
    record: Path | None = None


class Gate:
    """Lazily loads and evaluates one config; safe to ask for the outcome repeatedly."""

    # Polls while waiting for a post-deploy run: one query each, well inside PostHog's
    # 120-queries-an-hour floor even with several gates.
    POLL_INTERVAL_S = 60.0

    def __init__(
        self,
        config: Config,
        path: Path,
        options: Options,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        notify: Callable[[str], None] = _quiet,
    ) -> None:
        self.config = config
        self.path = path
        self.options = options
        # Looked up per gate (not bound at import), so a test can stand in for time.
        self._sleep = sleep if sleep is not None else time.sleep
        self._clock = clock if clock is not None else time.monotonic
        # Long waits (polls, retries, backoff) say what they wait for: CI systems kill
        # jobs that print nothing for too long.
        self._notify = notify
        self._outcome: Outcome | None = None

    def outcome(self) -> Outcome:
        if self._outcome is None:
            self._outcome = self._evaluate()
        return self._outcome

    def _evaluate(self) -> Outcome:
        source = make_source(self.config, self.options, self._notify)
        link = link_builder(self.config)
        try:
            request = build_request(self.config, self.options)
            loaded = self._load(source, request)
            files = read_baseline_files(self.config, rewriting=self.options.update_baseline)
            outcome = evaluate_gate(
                self.config,
                self.path,
                loaded,
                self.options,
                source.describe(),
                link,
                files,
                item_link=item_link_builder(self.config),
            )
            notes = list(outcome.notes)
            if self.options.update_baseline:
                notes += self._write_baselines(loaded.latest)
            if self.options.record is not None:
                from llmc_checks.record import record

                rows = record(source, request, loaded, self.options.record)
                notes.append(f"recorded {counted(rows, 'row')} to {self.options.record}")
            return replace(outcome, notes=tuple(notes))
        except LlmcError as exc:
            return self._failed(source, link, str(exc))
        except Exception as exc:  # a bug must be an error outcome, not a crash
            return self._failed(source, link, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def _failed(
        self, source: Source, link: Callable[[Run, int], str | None], message: str
    ) -> Outcome:
        posthog = self.config.source.posthog
        if posthog is not None:
            # The sources redact what they know may carry the key; this also covers
            # what they don't (a library's own exception text).
            from llmc_checks.safe_text import redact

            message = redact(message, posthog.api_key.get_secret_value())
        results = tuple(_error_result(check, message) for check in self.config.checks)
        return Outcome(
            self.path,
            source.describe(),
            results,
            error=message,
            link=link,
            semantics=_reported_semantics(self.config),
        )

    def _load(self, source: Source, request: RunRequest) -> Loaded:
        """Load; with --llmc-wait, poll until a run after --llmc-after appears or time is up."""
        wait = self.options.wait
        deadline = self._clock() + (wait.total_seconds() if wait is not None else 0.0)
        polls = 1
        while True:
            try:
                return source.load(request)
            except NoRunFound as exc:
                left = deadline - self._clock()
                if wait is None:
                    raise
                if left <= 0:
                    raise NoRunFound(
                        f"{exc} (waited {format_duration(wait)}, {counted(polls, 'poll')})"
                    ) from None
                pause = min(self.POLL_INTERVAL_S, left)
                self._notify(
                    f"{self.path}: poll {polls}: {exc}; polling again in {_seconds(pause)} "
                    f"({_seconds(left)} of --llmc-wait {format_duration(wait)} left)"
                )
                self._sleep(pause)
            polls += 1

    def _write_baselines(self, latest: Run) -> tuple[str, ...]:
        """--llmc-update-baseline: after judging against the old file, write the new one."""
        from llmc_checks import baseline_file

        notes = []
        for path in baseline_files(self.config):
            try:
                baseline_file.write(path, latest, _reported_semantics(self.config))
            except OSError as exc:
                raise LlmcError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
            notes.append(f"baseline {path} updated to run {latest.run_id}")
        return tuple(notes)


def _seconds(value: float) -> str:
    whole = round(value)
    return format_duration(timedelta(seconds=whole)) if whole >= 1 else f"{value:.1f}s"


def baseline_files(config: Config) -> list[Path]:
    """Every `baseline: {file: ...}` the config uses, resolved against its directory."""
    from llmc_checks.config import FileBaseline

    specs = [config.baseline, *(c.baseline for c in config.checks if c.baseline is not None)]
    paths = [config.resolve(s.file) for s in specs if isinstance(s, FileBaseline)]
    return list(dict.fromkeys(paths))


def read_baseline_files(config: Config, rewriting: bool = False) -> dict[Path, tuple[Run, ...]]:
    """The load phase's second half: every baseline file a check compares with, read.

    Only files some check uses are read (an unused default baseline is not);
    a missing file reads as no runs. So does, when `rewriting` (--llmc-update-baseline),
    a file in the other semantics: this run replaces it, as it would a first baseline.
    """
    specs = [config.baseline_for(c) for c in config.checks if c.needs_baseline]
    paths = [config.resolve(s.file) for s in specs if isinstance(s, FileBaseline)]
    files: dict[Path, tuple[Run, ...]] = {}
    if not paths:
        return files
    from llmc_checks import baseline_file  # only a gate that compares with a file needs it

    for path in dict.fromkeys(paths):
        try:
            files[path] = baseline_file.read(path, _reported_semantics(config))
        except baseline_file.OtherSemantics:
            if not rewriting:
                raise
            files[path] = ()
    return files


def _error_result(check: Check, message: str) -> results_mod.CheckResult:
    from llmc_checks import formatting

    return results_mod.CheckResult(
        name=check.display_name,
        metric=check.metric,
        scope=check.scope,
        status="error",
        observed=None,
        expected=formatting.expected(check),
        message=message,
        severity=check.severity,
    )


def make_source(config: Config, options: Options, notify: Callable[[str], None] = _quiet) -> Source:
    from llmc_checks.sources.snapshot import SnapshotSource

    if options.snapshot is not None:
        return SnapshotSource(options.snapshot)
    if config.snapshot_path is not None:
        return SnapshotSource(config.snapshot_path)
    from llmc_checks.sources.posthog import PostHogSource

    assert config.source.posthog is not None
    return PostHogSource(config.source.posthog, notify=notify)


def link_builder(config: Config) -> Callable[[Run, int], str | None]:
    """Links to the run's clusters in PostHog; none for a snapshot (no host to link to)."""
    posthog = config.source.posthog
    if posthog is None:
        return lambda run, cid: None
    from llmc_checks.sources.posthog import cluster_links  # httpx: only for a live source

    return cluster_links(posthog)


def item_link_builder(config: Config) -> Callable[[Run, Member], str | None]:
    """Links to an item's trace page in PostHog; none for a snapshot config."""
    posthog = config.source.posthog
    if posthog is None:
        return lambda run, member: None
    from llmc_checks.sources.posthog import trace_links

    return trace_links(posthog)


def build_request(config: Config, options: Options) -> RunRequest:
    needed: set[str] = set()
    baselines: list[BaselineRequest] = []
    need_items = False
    for check in config.checks:
        info = metric_info(check.metric)
        needed |= info.stats
        if check.needs_baseline:
            request = config.baseline_for(check).as_request()
            if request is not None and request not in baselines:
                baselines.append(request)
            need_items = need_items or info.baseline_only or info.scope == "cluster"
    trend_wanted = any(
        metric_info(c.metric).scope == "run" and c.metric != "run_age_hours" for c in config.checks
    )
    if options.update_baseline:
        # The written baseline should serve any later relative check, not just today's:
        # every stat, p95 included (never baked), except where only baked ones exist.
        needed |= set(BAKED_KEYS.values() if config.run.level == "evaluation" else STAT_FIELDS)
    k = config.report.evidence
    cluster_checks = [c for c in config.checks if c.scope == "cluster"]
    measures = {m for c in cluster_checks if (m := checks_mod.evidence_measure(c)) is not None}
    return RunRequest(
        level=config.run.level,
        job=config.run.job,
        lookback=config.run.lookback,
        semantics=config.run.semantics,
        run_id=options.run_id,
        baselines=tuple(baselines),
        stats=frozenset(needed),
        need_items=need_items,
        after=options.after,
        history=HISTORY_RUNS if trend_wanted else 0,
        evidence=k if cluster_checks else 0,
        # Evaluation-level runs have no AI events: their evidence is representative only.
        evidence_measures=frozenset(measures if config.run.level != "evaluation" else ()),
    )


def evaluate_gate(
    config: Config,
    path: Path,
    loaded: Loaded,
    options: Options,
    source: str,
    link: Callable[[Run, int], str | None],
    files: Mapping[Path, tuple[Run, ...]],
    item_link: Callable[[Run, Member], str | None] = lambda run, member: None,
) -> Outcome:
    """Pure: the loaded runs (and baseline `files`, read) and the config in, every result out."""
    views: dict[str, BaselineView] = {}

    def view_for(spec: BaselineSpec) -> BaselineView:
        key = spec.label
        if key not in views:
            views[key] = _resolve_baseline(config, spec, loaded, files)
        return views[key]

    results: list[results_mod.CheckResult] = []
    for check in config.checks:
        view = view_for(config.baseline_for(check)) if check.needs_baseline else None
        ctx = checks_mod.Context(
            now=loaded.now,
            latest=loaded.latest,
            baselines=view.runs if view else (),
            no_baseline_reason=view.missing_reason if view else "",
            missing_baseline_is_error=view.missing_is_error if view else False,
            require_baseline=options.require_baseline,
            pairings=view.pairings if view else (),
            title_threshold=config.match.title_similarity,
            link=link,
            evidence=config.report.evidence,
            item_link=item_link,
        )
        result = checks_mod.evaluate(check, ctx)
        if view is not None and view.shortfall and view.runs:
            result = replace(result, message=f"{result.message}\n({view.shortfall})")
        if options.strict and result.status == "warn":
            # Strictness is decided here so the table, the reports and the exit code agree.
            message = f"{result.message}\n(severity: warn; failing under --llmc-strict)"
            result = replace(result, status="fail", message=message)
        results.append(result)
    run_scope = [(i, c.metric) for i, c in enumerate(config.checks) if c.scope == "run"]
    whole = (loaded.latest, *(r for runs in loaded.baselines.values() for r in runs))
    series = trends_mod.all_series(
        (m for _, m in run_scope),
        loaded.history,
        loaded.now,
        config.match.title_similarity,
        whole,
    )
    trends = {index: series.get(metric, ()) for index, metric in run_scope}
    default = views.get(config.baseline.label)
    if default is None and any(c.needs_baseline for c in config.checks):
        default = next(iter(views.values()), None)
    results = [
        _naming_own_baseline(r, c, views, default, config)
        for r, c in zip(results, config.checks, strict=True)
    ]
    notes = tuple(v.shortfall for v in views.values() if v.shortfall and v.runs)
    return Outcome(
        path,
        source,
        tuple(results),
        loaded.latest,
        default,
        link=link,
        trends=trends,
        history=tuple(r.run_id for r in loaded.history),
        notes=notes,
        semantics=_reported_semantics(config),
    )


def _naming_own_baseline(
    result: results_mod.CheckResult,
    check: Check,
    views: Mapping[str, BaselineView],
    default: BaselineView | None,
    config: Config,
) -> results_mod.CheckResult:
    """The result, its message naming the runs it was compared with when they are not
    the baseline the reports' header names (a check's own `baseline:`)."""
    if not check.needs_baseline:
        return result
    view = views[config.baseline_for(check).label]
    if view is default or not view.runs:
        return result
    ids = ", ".join(r.run_id for r in view.runs)
    named = f"baseline {view.label}" + ("" if view.label.endswith(f" {ids}") else f": {ids}")
    return replace(result, message=f"{result.message}\n({named})")


def _reported_semantics(config: Config) -> Semantics:
    """Whose numbers the reports say they are. An evaluation run has no AI events, so its
    numbers are its baked metrics, the clustering job's, whatever run.semantics says."""
    return "workflow" if config.run.level == "evaluation" else config.run.semantics


def _resolve_baseline(
    config: Config, spec: BaselineSpec, loaded: Loaded, files: Mapping[Path, tuple[Run, ...]]
) -> BaselineView:
    request = spec.as_request()
    if request is not None:
        runs = loaded.baselines.get(request, ())
    else:
        assert isinstance(spec, FileBaseline)
        runs = files[config.resolve(spec.file)]
    if not runs:
        return BaselineView(
            spec.label,
            (),
            missing_reason=_missing(spec, loaded.latest, loaded.legacy_runs),
            missing_is_error=isinstance(spec, RunIdBaseline),
        )
    label, shortfall = spec.label, ""
    if isinstance(spec, MedianBaseline) and len(runs) < spec.median_of:
        # Fewer earlier runs exist (in the lookback) than asked for: say what was used.
        n = len(runs)
        label = f"median of {counted(n, 'run')}, not {spec.median_of}"
        found = f"{counted(n, 'earlier run')} of the job {'was' if n == 1 else 'were'} found"
        shortfall = f"baseline: {label}: only {found}"
    return BaselineView(label, runs, _pair(loaded.latest, runs, config), shortfall=shortfall)


def _pair(latest: Run, runs: Sequence[Run], config: Config) -> tuple[Pairing, ...]:
    from llmc_checks import matching

    threshold = config.match.title_similarity
    return tuple(matching.pair_runs(latest, run, title_threshold=threshold) for run in runs)


def _missing(spec: BaselineSpec, latest: Run, legacy_runs: int | None) -> str:
    if isinstance(spec, RunIdBaseline):
        return f"baseline run {spec.run_id} not found"
    if isinstance(spec, FileBaseline):
        return f"no baseline yet: {spec.file} does not exist (write it with --llmc-update-baseline)"
    first = f"no baseline yet: {latest.run_id} is the first {latest.level}-level run"
    if not latest.job_id:
        return first
    first += f" of job {latest.job_name or latest.job_id}"
    if not legacy_runs:  # none seen (or not looked for): nothing to explain
        return first
    # Runs in PostHog's shape from before clustering jobs carry no job id, and nothing
    # ties them to the job that replaced them (README Baselines): never counted.
    return (
        f"{first}; runs without a job id (emitted "
        "before PostHog had clustering jobs) belong to no job and are never its baseline: "
        "name one with baseline: {run_id: '...'} to compare with it"
    )
