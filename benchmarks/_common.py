"""Shared bits of the benchmark scripts: the machine, cached data, subprocess timing."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / ".data"  # generated data, cached between runs (git-ignored)


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    return [
        ("platform", platform.platform()),
        ("cpu", cpu),
        ("cores", str(os.cpu_count())),
        ("python", platform.python_version()),
    ]


def print_machine(extra: Sequence[tuple[str, str]] = ()) -> None:
    from tabulate import tabulate

    print(tabulate([*machine(), *extra], tablefmt="plain"))
    print()


def run_worker(script: Path, args: Sequence[str], env: dict[str, str] | None = None) -> Any:
    """Run `script --worker args...` in a fresh interpreter; its last stdout line is JSON."""
    proc = subprocess.run(
        [sys.executable, str(script), "--worker", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summary(values: Sequence[float]) -> tuple[float, float]:
    """(min, median): the minimum is the least disturbed run on a shared machine."""
    return min(values), statistics.median(values)


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB.

    Linux: VmHWM from /proc/self/status (ru_maxrss would also count the parent's memory
    at fork: it survives exec); elsewhere ru_maxrss.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
