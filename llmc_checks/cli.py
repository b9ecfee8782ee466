"""`llmc-checks` (and `python -m llmc_checks`): small commands around the pytest plugin.

The gate itself runs under pytest (`pytest --llmc-config checks.yaml`). Subcommands
are one function each, registered in `_COMMANDS`; the parser stays a plain argparse.

    llmc-checks demo [DIR]
    llmc-checks init checks.yaml [--snapshot FILE] [--level trace] [--job NAME] [--runs 14]

init exits 0 when it wrote the file, 1 when it refused (the one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

PROG = "llmc-checks"


def _demo(args: argparse.Namespace) -> int:
    from llmc_checks.demo import DemoExists, copy_demo

    try:
        config, snapshot = copy_demo(args.dir, force=args.force)
    except DemoExists as exc:
        print(f"{PROG} demo: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG} demo: cannot write to {args.dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {config} and {snapshot}")
    print(f"run the demo gate: pytest --llmc-config {config}")
    return 0


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="copy the example checks file and its demo snapshot into a folder",
        description="Copy the example checks file (checks.yaml) and the demo snapshot it "
        "gates (snapshot.jsonl.gz) into DIR, then run: pytest --llmc-config DIR/checks.yaml",
    )
    demo.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("llmc-demo"),
        metavar="DIR",
        help="the folder to write into, created if missing (default: llmc-demo)",
    )
    demo.add_argument("--force", action="store_true", help="overwrite files already there")
    demo.set_defaults(run=_demo)


def _init(args: argparse.Namespace) -> int:
    from llmc_checks.model import LlmcError
    from llmc_checks.starter import InitOptions, run_init

    options = InitOptions(
        out=args.path, level=args.level, job=args.job, runs=args.runs, snapshot=args.snapshot
    )
    try:
        summary = run_init(options, os.environ, print)
    except LlmcError as exc:
        print(f"{PROG} init: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0


def _add_init(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from llmc_checks.model import LEVELS
    from llmc_checks.starter import DEFAULT_RUNS, runs_count

    init = commands.add_parser(
        "init",
        help="write a starter checks file with limits proposed from the recent runs",
        description="Read the recent clustering runs of a level and job and write a "
        "commented checks file whose limits come from their history. Never overwrites a "
        "file. The source is --snapshot, or PostHog from POSTHOG_HOST, POSTHOG_PROJECT_ID "
        "and POSTHOG_PERSONAL_API_KEY.",
    )
    init.add_argument("path", type=Path, help="the checks file to write (must not exist)")
    init.add_argument("--snapshot", type=Path, metavar="FILE", help="read this snapshot file")
    init.add_argument("--level", choices=LEVELS, default="trace", help="default: trace")
    init.add_argument("--job", metavar="NAME", help="a job name or id (default: any job)")
    init.add_argument(
        "--runs",
        type=runs_count,
        default=DEFAULT_RUNS,
        metavar="N",
        help=f"how many recent runs to learn from (default: {DEFAULT_RUNS})",
    )
    init.set_defaults(run=_init)


# Each adds one subcommand (its parser and `run`); `init` can join them the same way.
_COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_demo,
    _add_init,
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=PROG,
        description="Helpers for llmc-checks; the gate itself runs as "
        "`pytest --llmc-config checks.yaml`.",
    )
    commands = top.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in _COMMANDS:
        add(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code
