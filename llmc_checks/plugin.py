"""pytest hooks: options, one item per check, the summary table, the reports.

Thin on purpose: everything it shows is computed by `gate.Gate`. Without
`--llmc-config` every hook returns at once and nothing heavy is imported.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from llmc_checks.gate import Gate


_STATUS_COLOUR: dict[str, dict[str, bool]] = {
    "pass": {"green": True},
    "fail": {"red": True, "bold": True},
    "error": {"red": True, "bold": True},
    "warn": {"yellow": True, "bold": True},
    "skip": {"yellow": True},
}


class LlmcCheckWarning(UserWarning):
    """A check with `severity: warn` is over its limit."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What a check's pytest item needs from the gate's outcome (plain data, so the
    controller can hand it to pytest-xdist workers)."""

    status: str
    name: str
    message: str


# The workerinput key naming the file where the controller leaves the verdicts.
_HANDOFF = "llmc_checks_verdicts"


class _State:
    """What the plugin keeps for one pytest run, in `config.stash`.

    Under pytest-xdist each gate is evaluated once, by the controller, as soon as the
    workers have collected (so, as in a serial run, only gates with a selected check are
    read) and before any item is sent to a worker; the workers read their items'
    verdicts from that one outcome and never construct a source. Side effects (waiting,
    recording, baseline files, reports) therefore happen once, in the controller.
    """

    def __init__(self, gates: dict[Path, Gate], reports: list[Path], rootpath: Path) -> None:
        self.gates = gates
        self.names = {path.name for path in gates}  # the configs' file names (resolved)
        self.reports = reports
        self.rootpath = rootpath
        self.ran: dict[Path, set[int]] = {path: set() for path in gates}
        # Filled at collection; a node id names no file when the config lies outside
        # the rootdir, so it can't always be resolved from the id alone.
        self.items: dict[str, tuple[Path, int]] = {}
        # pytest-xdist: the verdicts file (controller: to write; worker: to read).
        self.handoff: Path | None = None
        self.handed_off = False
        self.worker = False
        self._received: dict[str, list[_Verdict]] | None = None
        # Reports that could not be written: shown at the end of the terminal summary.
        self.report_problems: list[str] = []

    def locate(self, nodeid: str) -> tuple[Path, int] | None:
        """The (config path, check index) a node id names, or None for other tests."""
        known = self.items.get(nodeid)
        if known is not None:
            return known
        file_part, sep, name = nodeid.partition("::")
        if not sep:
            return None
        path = (self.rootpath / file_part).resolve()
        candidates = [path] if path in self.gates else []
        if not candidates:
            # A config outside the rootdir: its id holds a path relative to something else.
            base = Path(file_part).name
            candidates = [p for p in self.gates if not base or p.name == base]
        for candidate in candidates:
            for index, check in enumerate(self.gates[candidate].config.checks):
                if check.display_name == name:
                    return candidate, index
        return None

    def verdict(self, path: Path, index: int) -> _Verdict:
        if not self.worker:
            result = self.gates[path].outcome().results[index]
            return _Verdict(result.status, result.name, result.message)
        if self._received is None:
            self._received = _read_handoff(self.handoff)
        sent = self._received.get(str(path))
        if sent is None or index >= len(sent):
            check = self.gates[path].config.checks[index]
            return _Verdict("error", check.display_name, "no verdict from the xdist controller")
        return sent[index]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Which checks ran is read off the reports, not the items: under pytest-xdist the
        # items run in workers and only their reports reach this (controller) process.
        located = self.locate(report.nodeid)
        if located is not None:
            self.ran[located[0]].add(located[1])

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Controller: tell each worker where the verdicts will be."""
        if self.handoff is None:
            self.handoff = Path(tempfile.mkdtemp(prefix="llmc-xdist-")) / "verdicts.json"
        node.workerinput[_HANDOFF] = str(self.handoff)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """Controller: evaluate the gates with a selected check, once, before any item
        is scheduled (xdist schedules only after every worker has collected)."""
        if self.handed_off or self.handoff is None:
            return
        from llmc_checks._files import write_text

        self.handed_off = True
        selected = dict.fromkeys(p for p, _ in filter(None, map(self.locate, ids)))
        verdicts = {
            str(path): [
                {"status": r.status, "name": r.name, "message": r.message}
                for r in self.gates[path].outcome().results
            ]
            for path in selected
        }
        write_text(self.handoff, json.dumps(verdicts))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.handoff is not None and not self.worker:
            shutil.rmtree(self.handoff.parent, ignore_errors=True)


def _read_handoff(path: Path | None) -> dict[str, list[_Verdict]]:
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {key: [_Verdict(**v) for v in verdicts] for key, verdicts in doc.items()}


_STATE = pytest.StashKey[_State]()


def _env_list(name: str) -> list[str]:
    raw = os.environ.get(name, "")
    return [part for part in raw.split(os.pathsep) if part] if raw else []


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _env_flag(name: str) -> bool:
    """An LLMC_* switch; anything but a yes or a no is a usage error, never silently off."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise pytest.UsageError(
        f"{name}={raw!r}: expected one of {', '.join(_TRUE)} (on) or "
        f"{', '.join(v for v in _FALSE if v)} or empty (off)"
    )


def _flag(config: pytest.Config, option: str, env: str) -> bool:
    # The option's default is None (not read at startup: a bad LLMC_* value must not break
    # pytest runs that never use the plugin); the environment is read only when it is used.
    value = config.getoption(option)
    return True if value else _env_flag(env)


def _timestamp(text: str) -> Any:
    try:
        return _deploy_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def _deploy_time(text: str) -> Any:
    """--llmc-after's instant; ValueError's text follows the value ("... has no UTC offset")."""
    from llmc_checks._values import date_only, has_offset, parse_timestamp

    day = date_only(text)
    if day is not None:
        raise ValueError(
            f"has no time of day: write {day.isoformat()}T00:00:00Z for midnight UTC, or the "
            f"time with its offset (e.g. {day.isoformat()}T09:30:00+01:00)"
        )
    try:
        moment = parse_timestamp(text)
    except ValueError:
        raise ValueError("is not an ISO-8601 timestamp (e.g. 2026-11-22T09:30:00Z)") from None
    if not has_offset(text):
        # A deploy time is an instant; read as UTC, a local one would move by hours.
        raise ValueError("has no UTC offset: add Z (UTC) or +HH:MM (e.g. 2026-11-22T09:30:00Z)")
    return moment


def _duration(text: str) -> Any:
    from llmc_checks.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _from_env(config: pytest.Config, option: str, env: str, read: Callable[[str], Any]) -> Any:
    """An option's value, else its environment variable's read by `read` (None when unset).

    The environment is read here, when the plugin runs, not as the option's default: a
    default is converted at every pytest start, so a bad LLMC_* value would break runs
    that never use the plugin, and argparse would name the option, not the variable.
    """
    value = config.getoption(option)
    if value is not None:
        return value
    raw = os.environ.get(env)
    if raw is None:
        return None
    try:
        return read(raw)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise pytest.UsageError(f"{env}={raw!r}{_joined(str(exc), raw)}") from None


def _joined(reason: str, raw: str) -> str:
    # "LLMC_AFTER='x' has no UTC offset" reads on; other reasons stand after a colon,
    # without the value they may start with ("x.txt: a recording is ...").
    if reason.startswith(("has ", "is ")):
        return f" {reason}"
    return f": {reason.removeprefix(f'{raw}: ')}"


def _report_path(text: str) -> str:
    if Path(text).suffix.lower() not in (".json", ".md"):
        raise argparse.ArgumentTypeError(f"{text}: a report is .json or .md")
    return text


def _record_path(text: str) -> str:
    # Checked here, not after the gate ran: a typo must not turn every check into an error.
    from llmc_checks.model import RECORD_SUFFIXES

    if not text.endswith(RECORD_SUFFIXES):
        raise argparse.ArgumentTypeError(f"{text}: a recording is .jsonl or .jsonl.gz")
    return text


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmc-checks", "gate on PostHog LLM clustering runs")
    group.addoption(
        "--llmc-config",
        action="append",
        default=None,
        metavar="PATH",
        help="checks.yaml to evaluate (repeatable). [LLMC_CONFIG]",
    )
    group.addoption(
        "--llmc-snapshot",
        default=os.environ.get("LLMC_SNAPSHOT"),
        metavar="PATH",
        help="read event rows from this file instead of the configured source.",
    )
    group.addoption(
        "--llmc-run",
        default=os.environ.get("LLMC_RUN"),
        metavar="RUN_ID",
        help="gate this clustering run instead of the latest one.",
    )
    group.addoption(
        "--llmc-report",
        action="append",
        type=_report_path,
        default=None,
        metavar="PATH",
        help="write a report: .json or .md (repeatable).",
    )
    group.addoption(
        "--llmc-record",
        type=_record_path,
        default=None,  # LLMC_RECORD: read by _from_env, only when a gate runs
        metavar="PATH",
        help="save the event rows the gate used as a snapshot (.jsonl[.gz]).",
    )
    group.addoption(
        "--llmc-strict",
        action="store_true",
        default=None,
        help="checks with severity: warn fail the run too. [LLMC_STRICT=1]",
    )
    group.addoption(
        "--llmc-update-baseline",
        action="store_true",
        default=None,
        help="write the latest run to the config's baseline file. [LLMC_UPDATE_BASELINE=1]",
    )
    group.addoption(
        "--llmc-require-baseline",
        action="store_true",
        default=None,
        help="a relative check with no baseline is an error, not a skip. [LLMC_REQUIRE_BASELINE=1]",
    )
    group.addoption(
        "--llmc-after",
        type=_timestamp,
        default=None,  # LLMC_AFTER: read by _from_env, only when a gate runs
        metavar="TIMESTAMP",
        help="only a run whose window ends after this counts.",
    )
    group.addoption(
        "--llmc-wait",
        type=_duration,
        default=None,  # LLMC_WAIT: read by _from_env, only when a gate runs
        metavar="DURATION",
        help="with --llmc-after: wait this long for such a run.",
    )
    _add_init_options(group)


def _runs(text: str) -> int:
    from llmc_checks.starter import runs_count

    return runs_count(text)


def _add_init_options(group: Any) -> None:
    # No `choices` for the level: that would import model.py at every pytest start;
    # it is checked when --llmc-init is used.
    group.addoption(
        "--llmc-init",
        default=os.environ.get("LLMC_INIT"),
        metavar="PATH",
        help="write a starter checks file with limits proposed from the recent runs, "
        "then exit (no tests run).",
    )
    group.addoption(
        "--llmc-init-level",
        default=os.environ.get("LLMC_INIT_LEVEL", "trace"),
        metavar="LEVEL",
        help="with --llmc-init: trace (default), generation or evaluation.",
    )
    group.addoption(
        "--llmc-init-job",
        default=os.environ.get("LLMC_INIT_JOB"),
        metavar="NAME",
        help="with --llmc-init: a job name or id (default: any job of the level).",
    )
    group.addoption(
        "--llmc-init-runs",
        type=_runs,
        default=None,  # LLMC_INIT_RUNS: read by _from_env, only with --llmc-init
        metavar="N",
        help="with --llmc-init: how many recent runs to learn from (default 14).",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """--llmc-init writes a file and ends pytest here: nothing is collected or run."""
    out = config.getoption("llmc_init")
    if not out:
        return None
    if config.getoption("llmc_config") or _env_list("LLMC_CONFIG"):
        raise pytest.UsageError("--llmc-init writes a checks file; it does not run with a gate")
    import sys

    from llmc_checks.model import LEVELS, LlmcError
    from llmc_checks.starter import DEFAULT_RUNS, InitOptions, run_init

    level = config.getoption("llmc_init_level")
    if level not in LEVELS:
        raise pytest.UsageError(f"--llmc-init-level {level!r}: one of {', '.join(LEVELS)}")
    options = InitOptions(
        out=Path(out),
        level=level,
        job=config.getoption("llmc_init_job"),
        runs=_from_env(config, "llmc_init_runs", "LLMC_INIT_RUNS", _runs) or DEFAULT_RUNS,
        snapshot=_optional_path(config.getoption("llmc_snapshot")),
    )
    try:
        summary = run_init(options, os.environ, print)
    except LlmcError as exc:
        print(f"ERROR: llmc-checks: {exc}", file=sys.stderr)
        return int(pytest.ExitCode.USAGE_ERROR)
    print(f"llmc-checks: {summary}")
    return int(pytest.ExitCode.OK)


def pytest_configure(config: pytest.Config) -> None:
    # The command line replaces the environment rather than adding to it.
    paths = config.getoption("llmc_config") or _env_list("LLMC_CONFIG")
    if not paths:
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        _configure(config, paths)
    finally:
        _freeze_startup_objects(config)
        if enabled:
            gc.enable()


def _freeze_startup_objects(config: pytest.Config) -> None:
    """Keep the cyclic GC off what was built before any test ran (pytest, pydantic, the
    config models: tens of thousands of objects that live as long as the session).

    Every full collection walks all of them: those Python's thresholds start while the gate
    reads and evaluates, and the two pytest forces at unconfigure (its unraisable-exception
    check). On a 60k-event gate that walking cost more CPU than evaluating the checks. They
    are given back (`gc.unfreeze`) when the session ends, after pytest's own collections,
    which look for test objects (none existed yet here); an in-process caller (pytester,
    `pytest.main`) then collects them as before. A process that froze objects itself
    keeps its choice: nothing is frozen or given back then. Nothing is frozen at exit:
    the shutdown's collection is what flushes and closes files left in reference cycles
    (a user's fixture or conftest may hold one).
    """
    if gc.get_freeze_count():
        return
    gc.freeze()
    config.add_cleanup(gc.unfreeze)


def _configure(config: pytest.Config, paths: list[str]) -> None:
    from llmc_checks.config import load_config
    from llmc_checks.gate import Gate, Options
    from llmc_checks.model import LlmcError

    options = Options(
        snapshot=_optional_path(config.getoption("llmc_snapshot")),
        run_id=config.getoption("llmc_run"),
        strict=_flag(config, "llmc_strict", "LLMC_STRICT"),
        require_baseline=_flag(config, "llmc_require_baseline", "LLMC_REQUIRE_BASELINE"),
        update_baseline=_flag(config, "llmc_update_baseline", "LLMC_UPDATE_BASELINE"),
        after=_from_env(config, "llmc_after", "LLMC_AFTER", _deploy_time),
        wait=_from_env(config, "llmc_wait", "LLMC_WAIT", _duration),
        record=_optional_path(_from_env(config, "llmc_record", "LLMC_RECORD", _record_path)),
    )
    if options.wait is not None and options.after is None:
        raise pytest.UsageError("--llmc-wait needs --llmc-after (the deploy time to wait past)")
    reports = config.getoption("llmc_report") or _env_list("LLMC_REPORT")
    for report in reports:
        try:
            _report_path(report)
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"--llmc-report / LLMC_REPORT: {exc}") from None
    gates: dict[Path, Gate] = {}
    for raw in paths:
        path = Path(raw)
        try:
            gate_options = options
            if options.record is not None and len(paths) > 1:
                # One recording per gate: several configs must not overwrite one file.
                gate_options = replace(options, record=_per_config(options.record, path))
            gates[path.resolve()] = Gate(
                load_config(path), path, gate_options, notify=_terminal_notifier(config)
            )
        except LlmcError as exc:
            raise pytest.UsageError(str(exc)) from None
        except OSError as exc:
            raise pytest.UsageError(f"{raw}: cannot read config ({exc.strerror})") from None
    if options.wait is not None:
        for gate in gates.values():
            if options.snapshot is not None or gate.config.snapshot_path is not None:
                raise pytest.UsageError(
                    f"{gate.path}: --llmc-wait polls PostHog for a new run, but this gate reads "
                    "a snapshot, a frozen file where none will appear; drop --llmc-wait "
                    "(--llmc-after alone still requires a run after the deploy)"
                )
    if options.update_baseline:
        from llmc_checks.gate import baseline_files

        for gate in gates.values():
            if not baseline_files(gate.config):
                raise pytest.UsageError(
                    f"{gate.path}: --llmc-update-baseline needs a `baseline: {{file: PATH}}` "
                    "in the config (the file to write)"
                )
    state = _State(gates, [Path(p) for p in reports], config.rootpath)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        state.worker = True
        handoff = workerinput.get(_HANDOFF)
        state.handoff = Path(handoff) if handoff else None
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "llmc-checks-state")
    _add_config_paths_to_args(config, [str(p) for p in gates])


def _terminal_notifier(config: pytest.Config) -> Callable[[str], None]:
    """One line on pytest's terminal, on its own line, past output capturing.

    Gates load during a check's setup, where pytest captures output; the line must reach
    the terminal live (as live logging does), or a long wait looks like a hung job.
    """

    def notify(line: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capture = config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            from llmc_checks.safe_text import lines  # a retry cause quotes the server

            reporter.ensure_newline()
            reporter.write_line(lines(f"llmc-checks: {line}"))

    return notify


def _per_config(record: Path, config: Path) -> Path:
    name = record.name
    stem, dot, ext = name.partition(".")
    return record.with_name(f"{stem}-{config.stem}{dot}{ext}")


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _add_config_paths_to_args(config: pytest.Config, paths: list[str]) -> None:
    # With no test paths on the command line, `pytest --llmc-config X` runs only the
    # checks; with paths, those tests and the checks.
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = paths
        return
    # An argument may be a node id ("checks.yaml::name"): compare its file part.
    present = {str(Path(a.split("::", 1)[0]).resolve()) for a in config.args}
    config.args.extend(p for p in paths if p not in present)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = parent.config.stash.get(_STATE, None)
    if state is None:
        return None
    # pytest asks about every file in every folder it visits: the name alone rules out
    # almost all of them without resolving the path (a symlink may name its target
    # otherwise, so it is resolved).
    if file_path.name not in state.names and not file_path.is_symlink():
        return None
    gate = state.gates.get(file_path.resolve())
    if gate is None:
        return None
    return ChecksFile.from_parent(parent, path=file_path, gate=gate)


class ChecksFile(pytest.File):
    """A checks.yaml: one pytest item per check."""

    def __init__(self, *, gate: Gate, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate

    def collect(self) -> Iterator[pytest.Item]:
        state = self.config.stash[_STATE]
        for index, check in enumerate(self.gate.config.checks):
            item = CheckItem.from_parent(self, name=check.display_name, gate=self.gate, index=index)
            state.items[item.nodeid] = (self.path.resolve(), index)
            yield item


class CheckFailed(Exception):
    """A check's value is past its limit; the message is the domain explanation."""


class CheckItem(pytest.Item):
    def __init__(self, *, gate: Gate, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.index = index
        self.check = gate.config.checks[index]

    def _verdict(self) -> _Verdict:
        return self.config.stash[_STATE].verdict(self.path.resolve(), self.index)

    @staticmethod
    def _safe(text: str) -> str:
        # Messages carry cluster titles, run ids and server texts: made inert for the
        # terminal, the junit XML and the warnings summary (our own line breaks kept).
        from llmc_checks.safe_text import lines

        return lines(text)

    def setup(self) -> None:
        # The source is read on the first check's setup (under xdist: by the controller,
        # before this worker got the item); a source or data error is an ERROR of each
        # check, never a pass.
        result = self._verdict()
        if result.status == "error":
            pytest.fail(self._safe(f"[llmc] {result.name}: {result.message}"), pytrace=False)

    def runtest(self) -> None:
        result = self._verdict()
        if result.status == "skip":
            pytest.skip(self._safe(result.message))
        if result.status == "fail":
            raise CheckFailed(self._safe(result.message))
        if result.status == "warn":
            # A warn check passes: even under `-W error` / `filterwarnings = error` it must
            # be recorded, not raised (--llmc-strict is the switch that makes it fail), so
            # it is shown, not warned: no filter applies. It points at the check's line,
            # with an empty source line: Python (or pytest-xdist's controller, which
            # formats its workers' warnings) would print that YAML line under the
            # message, where "- metric: ..." reads like one more failing cluster.
            warnings.showwarning(
                LlmcCheckWarning(self._safe(f"{result.name}: {result.message}")),
                LlmcCheckWarning,
                str(self.path),
                self.check.line or 0,
                line="",
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            return f"{self.name} failed: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.check.line
        return self.path, line - 1 if line else None, f"llmc: {self.name}"


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or _is_xdist_worker(config):
        return
    from llmc_checks import report

    writer = config.get_terminal_writer()
    # TerminalWriter colours only on a TTY (or when forced); NO_COLOR wins even over a
    # forced --color=yes, as https://no-color.org asks.
    colour = writer.hasmarkup and not os.environ.get("NO_COLOR")

    def paint(word: str, status: str) -> str:
        return writer.markup(word, **_STATUS_COLOUR.get(status, {})) if colour else word

    # -q: the table alone (no run header, no pairing list).
    brief = config.getoption("verbose") < 0  # get_verbosity() needs pytest 8
    for path, gate in state.gates.items():
        ran = state.ran[path]
        if not ran:
            continue
        terminalreporter.write_sep("=", f"llmc-checks: {gate.path}")
        text = report.terminal(gate.outcome(), sorted(ran), paint, brief=brief)
        terminalreporter.write_line(text)
    _show_report_problems(terminalreporter, config, state)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None or _is_xdist_worker(session.config):
        return
    outcomes = [
        (gate.outcome(), sorted(state.ran[path]))
        for path, gate in state.gates.items()
        if state.ran[path]
    ]
    if not outcomes:
        return
    from llmc_checks import report

    problems = report.write_all(outcomes, state.reports)
    if not problems:
        return
    state.report_problems = problems
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    # pytest's last line ("3 passed, 1 report not written in 0.4s") must agree with the
    # exit code: a stats key of its own is counted there like "failed" or "error". Its
    # entries are real reports: other plugins (hypothesis) read every stats entry so.
    key = "report not written" if len(problems) == 1 else "reports not written"
    reporter.stats.setdefault(key, []).extend(
        pytest.CollectReport("", "failed", f"llmc-checks: {p}", []) for p in problems
    )
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        # pytest shows no terminal summary after an internal error: show them now.
        _show_report_problems(reporter, session.config, state)


def _show_report_problems(reporter: Any, config: pytest.Config, state: _State) -> None:
    """Each problem on a line of its own, once (a progress line may still be open)."""
    writer = config.get_terminal_writer()
    for problem in state.report_problems:
        if writer.width_of_current_line:
            writer.line()
        reporter.write_line(f"llmc-checks: {problem}", red=True)
    state.report_problems = []
