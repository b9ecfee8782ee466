"""Run-scope metrics over the recent runs: the series trend lines draw (report/cells.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import pairwise

from llmc_checks.checks import PAIRING_METRICS, NoData, pairing_value, run_value
from llmc_checks.model import Run

# How many recent runs a trend line covers (the latest included).
HISTORY_RUNS = 8
# Metrics whose history says nothing: a run's age is measured from now.
_NO_TREND = frozenset({"run_age_hours"})


def all_series(
    metrics: Iterable[str],
    history: Sequence[Run],
    now: datetime,
    title_threshold: float,
    loaded: Sequence[Run] = (),
) -> dict[str, tuple[float | None, ...]]:
    """Each metric for each run in `history` (oldest first); None where it has no value.

    Cross-run metrics compare each run with the one before it, by text alone (history
    runs carry no item ids), so the first run of the window has no value; except where
    `loaded` (the runs the gate read whole: the latest and its baselines) holds both runs
    of a step, paired with their item ids as the gate pairs them, so the latest point
    reads what a `previous` check beside it judged. The pairings are made once, whatever
    the number of cross-run metrics.
    """
    wanted = set(metrics) - _NO_TREND
    out = {m: tuple(_point(m, run, now) for run in history) for m in wanted - PAIRING_METRICS}
    cross = wanted & PAIRING_METRICS
    if cross:
        from llmc_checks.matching import pair_runs

        whole = {r.run_id: r for r in loaded}
        steps = []
        for previous, run in pairwise(history):
            if run.run_id in whole and previous.run_id in whole:
                run, previous = whole[run.run_id], whole[previous.run_id]
            pairing = pair_runs(run, previous, title_threshold=title_threshold)
            steps.append((run, previous, pairing))
        for m in cross:
            out[m] = (
                None,
                *(
                    pairing_value(m, [pairing], run, [previous], title_threshold)
                    for run, previous, pairing in steps
                ),
            )
    return out


def _point(metric: str, run: Run, now: datetime) -> float | None:
    """A run's value on a trend line; none where the check itself would error."""
    try:
        return run_value(metric, run, now)
    except NoData:
        return None
