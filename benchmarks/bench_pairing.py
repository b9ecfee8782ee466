"""How long cross-run pairing takes, by run size.

    python benchmarks/bench_pairing.py [--runs 3]

Two runs of n non-noise clusters each (n = 10, 50, 200, 1000), labelled with the
titles and descriptions of tests/data/identity/corpus.yaml (cycled, each with a
distinguishing number past the corpus' 222 labels), 100 items per cluster of which
the other run analysed 85% (a small team) or none (text only, e.g. a baseline file).
Prints the wall time of the first `matching.pair_runs` (caches cold, as in a gate)
and the median wall and CPU time over `--runs` runs, in a fresh process per size; on
a shared machine the CPU time is the steadier figure. Real runs have at most ~50
clusters; 1,000 is `matching.MAX_CLUSTERS`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, print_machine

CHILD = r"""
import json, random, sys, time
from datetime import datetime, timezone
import yaml
from llmc_checks.matching import pair_runs
from llmc_checks.model import Cluster, Run

n, with_items, runs = int(sys.argv[1]), sys.argv[2] == "items", int(sys.argv[3])
doc = yaml.safe_load(open(sys.argv[4], encoding="utf-8"))
labels = [
    (t, d)
    for section in ("domains", "fresh")
    for body in doc[section].values()
    for ls in body["topics"].values()
    for t, d in ls
]
rng = random.Random(n)
T0 = datetime(2026, 11, 15, tzinfo=timezone.utc)

def make(run_id, side):
    clusters = []
    for i in range(n):
        title, description = labels[(i * 3 + side) % len(labels)]
        if i >= len(labels) // 3:
            title = f"{title} ({i})"
        items = [f"{i}-{k}" for k in range(100)] if with_items else []
        if with_items and side:
            items = [x for x in items if rng.random() < 0.85] + [f"{i}-new{k}" for k in range(15)]
        clusters.append(Cluster(i, title, description, len(items), tuple(items)))
    return Run(run_id, "trace", "j", "job", T0, T0, n * 100, tuple(clusters))

baseline, latest = make("b", 0), make("l", 1)
times, cpu = [], []
for _ in range(runs):
    start, start_cpu = time.perf_counter(), time.process_time()
    pairing = pair_runs(latest, baseline)
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
print(json.dumps({"times": times, "cpu": cpu, "pairs": len(pairing.pairs)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print_machine()
    corpus = ROOT / "tests" / "data" / "identity" / "corpus.yaml"
    print(
        f"{'clusters':>9} {'evidence':>9} {'first run':>10} {'median':>8} {'cpu':>8} {'pairs':>6}"
    )
    for n in (10, 50, 200, 1000):
        for evidence in ("items", "text"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(n), evidence, str(args.runs), str(corpus)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout)
            times = result["times"]
            print(
                f"{n:>9} {evidence:>9} {times[0]:>9.3f}s {statistics.median(times):>7.3f}s "
                f"{statistics.median(result['cpu']):>7.3f}s {result['pairs']:>6}"
            )


if __name__ == "__main__":
    main()
