"""What the plugin costs pytest at start-up.

    python benchmarks/bench_import.py [--runs 15]

1. `python -X importtime`: cumulative import time of `llmc_checks.plugin`, alone and
   with pytest already imported (as it is when pytest loads the plugin), and what it
   pulls in beyond pytest.
2. Wall time of `pytest --co -q` on an empty test directory, with the plugin (installed,
   loaded through its `pytest11` entry point) and with `-p no:llmc_checks`: median of
   `--runs` interleaved runs each; the difference is what the plugin adds when
   `--llmc-config` is absent. Target: < 20 ms.
3. The same with a small config (`--llmc-config` on the bundled demo snapshot):
   collection only (`--co`), and a full run of its checks.

Subprocesses write bytecode (PYTHONDONTWRITEBYTECODE is cleared) and one warm-up run
of each command precedes the timed ones, so the figures are those of a warm machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, print_machine

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.pop("PYTEST_ADDOPTS", None)
ENV.pop("LLMC_CONFIG", None)


def importtime(code: str) -> dict[str, int]:
    """Cumulative µs per module from `python -X importtime -c code`."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        check=True,
    )
    out: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            out.setdefault(m.group(4), int(m.group(2)))
    return out


def best_importtime(code: str, module: str, runs: int) -> tuple[int, dict[str, int]]:
    samples = [importtime(code) for _ in range(runs)]
    times = [s.get(module, 0) for s in samples]
    return int(statistics.median(times)), samples[times.index(min(times))]


def wall(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, check=False)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs per command (>= 15)")
    args = ap.parse_args(argv)

    from tabulate import tabulate

    print_machine([("pytest", _version("pytest")), ("runs per command", str(args.runs))])

    # 1. import time
    alone, _ = best_importtime("import llmc_checks.plugin", "llmc_checks.plugin", args.runs)
    after_pytest, detail = best_importtime(
        "import pytest; import llmc_checks.plugin", "llmc_checks.plugin", args.runs
    )
    pulled = sorted((m for m in detail if m.startswith("llmc_checks")), key=lambda m: -detail[m])
    print(
        tabulate(
            [
                ["import llmc_checks.plugin (cold interpreter)", f"{alone}"],
                ["import llmc_checks.plugin (pytest already imported)", f"{after_pytest}"],
                ["llmc_checks modules imported", ", ".join(pulled)],
            ],
            headers=["python -X importtime", "cumulative µs (median)"],
        )
    )
    print()

    # 2 and 3. pytest start-up
    work = Path(tempfile.mkdtemp(prefix="llmc-bench-import-"))
    try:
        empty = work / "empty"
        empty.mkdir()
        small = work / "small"
        small.mkdir()
        shutil.copy(ROOT / "llmc_checks" / "demo" / "snapshot.jsonl.gz", small / "demo.jsonl.gz")
        (small / "checks.yaml").write_text(
            "version: 1\nsource: {snapshot: demo.jsonl.gz}\n"
            "run: {level: trace, lookback: 30d}\nbaseline: previous\nchecks:\n"
            "  - metric: items_analyzed\n    min: 1\n"
            "  - metric: avg_cost_usd\n    max: 10\n"
            "  - metric: p95_latency_s\n    max_increase: 1000%\n"
        )
        pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
        commands = {
            "with plugin": ([*pytest, "--co", "-q"], empty),
            "-p no:llmc_checks": ([*pytest, "--co", "-q", "-p", "no:llmc_checks"], empty),
            "--llmc-config, --co": ([*pytest, "--co", "-q", "--llmc-config", "checks.yaml"], small),
            "--llmc-config, full run": ([*pytest, "-q", "--llmc-config", "checks.yaml"], small),
        }
        for cmd, cwd in commands.values():  # warm-up: bytecode, page cache
            wall(cmd, cwd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (cmd, cwd) in commands.items():
                times[name].append(wall(cmd, cwd))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {name: statistics.median(v) * 1000 for name, v in times.items()}
    low = {name: min(v) * 1000 for name, v in times.items()}
    base, base_low = med["-p no:llmc_checks"], low["-p no:llmc_checks"]
    rows = []
    for name, (cmd, _) in commands.items():
        shown = " ".join(["pytest", *cmd[3:]])
        if name == "-p no:llmc_checks":
            added = ""
        else:
            added = f"{med[name] - base:+.1f} / {low[name] - base_low:+.1f}"
        rows.append([shown, f"{med[name]:.1f}", f"{low[name]:.1f}", added])
    print(
        tabulate(
            rows,
            headers=[
                "command (empty dir / small config)",
                "median ms",
                "min ms",
                "vs no plugin (median / min)",
            ],
        )
    )
    added, added_low = med["with plugin"] - base, low["with plugin"] - base_low
    print()
    print(
        f"plugin cost without --llmc-config: {added:+.1f} ms (median of {args.runs}), "
        f"{added_low:+.1f} ms (min); import of the plugin module once pytest is loaded: "
        f"{after_pytest / 1000:.1f} ms; target < 20 ms: "
        f"{'met' if max(added, after_pytest / 1000) < 20 else 'NOT met'}"
    )
    return 0


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(main())
