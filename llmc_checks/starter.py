"""`--llmc-init` / `llmc-checks init`: write a starter checks file from recent runs.

One implementation behind both doors (the pytest option and the console command):
read the last N runs of a level and job through a `Source` (one request: the latest
run and a `median_of: N-1` baseline, so every run comes with per-cluster stats and
item ids; live, that is PostHog's two query requests, as for any gate with a
baseline), propose limits (`propose.py`), then print them as a table and write them
as a commented checks file. Never overwrites a file; the same history gives the same
bytes.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from llmc_checks._files import write_text
from llmc_checks.model import (
    BAKED_KEYS,
    STAT_FIELDS,
    BaselineRequest,
    Level,
    LlmcError,
    Run,
    RunRequest,
)
from llmc_checks.propose import MIN_RUNS, Proposal, TooFewRuns, propose
from llmc_checks.units import counted

if TYPE_CHECKING:
    from llmc_checks.sources.base import Source

# The history init reads by default: two weeks of a daily job.
DEFAULT_RUNS = 14
# The newest run must have ended this recently, and the runs before it within as long
# before it (runs.horizon, as baselines are found).
LOOKBACK = timedelta(days=30)
DEFAULT_HOST = "https://us.posthog.com"

_SECTIONS: Mapping[str, str] = {
    "run": "The run as a whole",
    "clusters": "Every cluster: catches a new expensive, slow or failing pattern",
    "patterns": "Each usage pattern seen run after run, selected by its title",
    "relative": "Against the previous run (the same pattern, paired by title and items)",
}


# The count is a live query's LIMIT (past 64 bits it cannot be sent at all); a
# thousand daily runs is years of history.
MAX_RUNS = 1000


def runs_count(text: str) -> int:
    """`--runs` / `--llmc-init-runs`: a whole number from MIN_RUNS to MAX_RUNS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < MIN_RUNS:
        raise argparse.ArgumentTypeError(f"at least {MIN_RUNS} runs are needed, got {value}")
    if value > MAX_RUNS:
        raise argparse.ArgumentTypeError(f"at most {MAX_RUNS} runs, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class InitOptions:
    """What to read and where to write (the two doors build this)."""

    out: Path
    level: Level = "trace"
    job: str | None = None
    runs: int = DEFAULT_RUNS
    snapshot: Path | None = None


def run_init(
    options: InitOptions,
    env: Mapping[str, str],
    say: Callable[[str], None],
    *,
    source: Source | None = None,
) -> str:
    """Read, propose, print the table (through `say`) and write the file.

    Returns the one-line summary; raises LlmcError (one line) on any refusal.
    `source` overrides the one built from the options (tests, a stand-in).
    """
    if options.runs < MIN_RUNS:
        raise LlmcError(f"--runs {options.runs}: at least {MIN_RUNS} runs are needed")
    if options.runs > MAX_RUNS:
        raise LlmcError(f"--runs {options.runs}: at most {MAX_RUNS} runs")
    if options.out.exists():
        raise LlmcError(f"{options.out} already exists; not overwriting it")
    src = source if source is not None else make_source(options, env)
    try:
        runs = load_history(src, options)
    finally:
        close = getattr(src, "close", None)
        if close is not None:
            close()
    try:
        proposals = propose(runs)
    except TooFewRuns:
        raise LlmcError(_too_few(runs, options)) from None
    text = render(proposals, runs, options, env)
    say(table(proposals))
    try:
        # Whole or not at all: an interrupted write must not leave a half file behind
        # that the next attempt would refuse to replace.
        write_text(options.out, text, exclusive=True)
    except FileExistsError:
        raise LlmcError(f"{options.out} already exists; not overwriting it") from None
    except OSError as exc:
        raise LlmcError(f"cannot write {options.out}: {exc.strerror or exc}") from None
    return (
        f"wrote {options.out}: {counted(len(proposals), 'check')} proposed from the last "
        f"{len(runs)} "
        f"{runs[-1].level}-level runs{_job_phrase(runs[-1])}; review them before committing"
    )


def _too_few(runs: Sequence[Run], options: InitOptions) -> str:
    return (
        f"only {len(runs)} {options.level}-level run{'s' if len(runs) != 1 else ''}"
        f"{_job_phrase(runs[-1])} found: at least {MIN_RUNS} are needed to propose "
        "limits from their spread"
    )


def _job_phrase(run: Run) -> str:
    job = run.job_name or run.job_id
    return f" of job {job!r}" if job else ""


def make_source(options: InitOptions, env: Mapping[str, str]) -> Source:
    """The snapshot given, or PostHog from the POSTHOG_* environment (never echoed)."""
    if options.snapshot is not None:
        from llmc_checks.sources.snapshot import SnapshotSource

        return SnapshotSource(options.snapshot)
    from pydantic import ValidationError

    from llmc_checks.config import PostHogSource as Settings
    from llmc_checks.sources.posthog import PostHogSource

    missing = [n for n in ("POSTHOG_PROJECT_ID", "POSTHOG_PERSONAL_API_KEY") if not env.get(n)]
    if missing:
        raise LlmcError(
            f"{' and '.join(missing)} not set: give a snapshot, or the PostHog project "
            "and a personal API key (query:read) in the environment"
        )
    fields = {
        "host": ("POSTHOG_HOST", env.get("POSTHOG_HOST") or DEFAULT_HOST),
        "project_id": ("POSTHOG_PROJECT_ID", env["POSTHOG_PROJECT_ID"]),
        "api_key": ("POSTHOG_PERSONAL_API_KEY", env["POSTHOG_PERSONAL_API_KEY"]),
    }
    try:
        settings = Settings.model_validate({k: v for k, (_, v) in fields.items()})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = fields.get(str(first["loc"][0]), ("POSTHOG_*", ""))[0]
        raise LlmcError(f"{name}: {first['msg'].removeprefix('Value error, ')}") from None
    return PostHogSource(settings)


def request_for(options: InitOptions) -> RunRequest:
    """The newest run and the runs before it, with every stat the proposals read."""
    stats = BAKED_KEYS.values() if options.level == "evaluation" else STAT_FIELDS
    return RunRequest(
        level=options.level,
        job=options.job,
        lookback=LOOKBACK,
        baselines=(BaselineRequest(kind="median_of", count=options.runs - 1),),
        stats=frozenset(stats),
        need_items=True,
    )


def load_history(source: Source, options: InitOptions) -> tuple[Run, ...]:
    """The last `options.runs` runs of the level and job, oldest first."""
    request = request_for(options)
    loaded = source.load(request)
    earlier = loaded.baselines.get(request.baselines[0], ())
    return (*earlier, loaded.latest)


# ---------------------------------------------------------------------------
# The file


def _quoted(text: str) -> str:
    """A YAML string that loads back as `text`, `$` escaped from ${VAR} interpolation."""
    dumped = yaml.safe_dump(text.replace("$", "$$"), default_style="'", width=1_000_000)
    return dumped.strip().removesuffix("...").strip()


def _plain(text: str) -> str:
    """Untrusted text (titles, job names) made safe for a one-line comment."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def render(
    proposals: Sequence[Proposal], runs: Sequence[Run], options: InitOptions, env: Mapping[str, str]
) -> str:
    newest = runs[-1]
    first, last = runs[0].window_end, newest.window_end
    job = newest.job_name or newest.job_id
    lines = [
        "# A starter gate for llmc-checks, proposed by `llmc-checks init` from the last "
        f"{len(runs)} {newest.level}-level runs",
        f"# of {'job ' + repr(_plain(job)) if job else 'legacy runs (no job)'}, "
        f"window ends {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC.",
        "# Each limit sits at the worst value seen plus headroom: twice the run-to-run",
        "# standard deviation, at least +100% on cost averages, +50% on latency, +25% on",
        "# ratios (one outlier trace moves an average for seven daily windows), rounded",
        "# outwards. The comment above each check gives the history it came from:",
        "# min / median / max over N runs. Review every limit before committing this file:",
        "# a bad day in the history raises its limits.",
        "version: 1",
        "source:",
    ]
    if options.snapshot is not None:
        rel = os.path.relpath(options.snapshot.resolve(), options.out.resolve().parent)
        lines += [
            f"  snapshot: {_quoted(rel)}",
            "  # posthog:                                 # live: PostHog's query API",
            "  #   host: ${POSTHOG_HOST:-https://us.posthog.com}",
            "  #   project_id: ${POSTHOG_PROJECT_ID}",
            "  #   api_key: ${POSTHOG_PERSONAL_API_KEY}",
        ]
    else:
        # The host read now becomes the default (a validated URL: no `}` or `$` in it).
        host = env.get("POSTHOG_HOST") or DEFAULT_HOST
        lines += [
            "  posthog:",
            "    host: ${POSTHOG_HOST:-" + host.strip().rstrip("/") + "}",
            "    project_id: ${POSTHOG_PROJECT_ID}",
            "    api_key: ${POSTHOG_PERSONAL_API_KEY}       # needs the query:read scope",
        ]
    lines += ["run:", f"  level: {newest.level}"]
    if job:
        lines.append(f"  job: {_quoted(job)}")
    lines += ["baseline: previous", "checks:"]
    section: str | None = None
    titles: tuple[str, ...] = ()
    for p in proposals:
        if p.section != section:
            section = p.section
            lines.append(f"  # --- {_SECTIONS[section]}")
        if p.titles and p.titles != titles:
            titles = p.titles
            lines.append(f"  # pattern {_titles(titles)}")
        lines += _check_lines(p)
    return "\n".join(lines) + "\n"


def _check_lines(p: Proposal) -> list[str]:
    lo, mid, hi, n = p.summary
    out = [
        f"  # {p.what}: {lo} / {mid} / {hi} over {n} {p.over}",
        f"  - metric: {p.metric}",
        f"    {p.bound}: {p.text}",
    ]
    if p.where:
        parts = []
        for key, value in p.where.items():
            parts.append(f"{key}: {_quoted(value) if isinstance(value, str) else value}")
        out.append(f"    where: {{{', '.join(parts)}}}")
    if p.confidence is not None:
        out.append(f"    confidence: {p.confidence}")
    if p.severity != "fail":
        out.append(f"    severity: {p.severity}")
    return out


def _titles(titles: Sequence[str]) -> str:
    """'A' (also 'B', 'C', +2 more): a pattern's newest title and its earlier ones."""
    shown = [repr(_plain(t)) for t in titles]
    if len(shown) == 1:
        return shown[0]
    also = ", ".join(shown[1:4]) + (f", +{len(shown) - 4} more" if len(shown) > 4 else "")
    return f"{shown[0]} (also {also})"


def table(proposals: Sequence[Proposal]) -> str:
    """The proposals as the terminal shows them: the same numbers as the file's comments."""
    from tabulate import tabulate

    rows = []
    for p in proposals:
        lo, mid, hi, n = p.summary
        where = ""
        if "title" in p.where:
            where = _plain(p.titles[0]) if p.titles else str(p.where["title"])
        elif "min_size" in p.where:
            where = f"clusters of {p.where['min_size']}+ items"
        limit = f"{p.bound.replace('_', ' ')} {p.text}"
        if p.confidence is not None:
            limit += f" @{p.confidence:.0%}"
        rows.append([p.metric, where, limit, lo, mid, hi, n])
    headers = ["metric", "clusters", "proposed", "min", "median", "max", "n"]
    return tabulate(rows, headers=headers, disable_numparse=True)
