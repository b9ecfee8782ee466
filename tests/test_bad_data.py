"""Bad data in a run: one clear line naming the run, from both sources alike.

A metric property PostHog's HogQL reads as NaN or an infinity (`toFloat('NaN')` is nan in
ClickHouse, and a sum with a nan is nan: the cluster page would show NaN), a sum that
overflows to infinity, a window that ends before it starts, and an item count below
what the clusters hold are data errors. The snapshot source (Python) and the live
source (HogQL on ClickHouse, through the stand-in) must say the same thing.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    LLMC_EMITTED,
    LLMC_WINDOW_END,
    LLMC_WINDOW_START,
    llmc_cluster,
    llmc_event,
    llmc_run_event,
    llmc_write_jsonl,
)
from standin import StandIn
from standin.checks import bounded_scans  # noqa: F401  (autouse: unbounded scans fail)

from llmc_checks._values import parse_timestamp
from llmc_checks.config import PostHogSource as PostHogConfig
from llmc_checks.model import MEASURES, STAT_FIELDS, DataError, RunRequest, Semantics
from llmc_checks.sources.posthog import PostHogSource
from llmc_checks.sources.snapshot import SnapshotSource

Row = dict[str, Any]
KEY = "phx_bad_data_key"
MID = "2026-11-12T10:00:00.000000+00:00"
ALL_STATS = frozenset(STAT_FIELDS)
_uuids = (str(uuid.UUID(int=n)) for n in itertools.count(1))  # the stand-in wants real ones


def _gen(
    trace: str, cost: object = 0.01, latency: object = 1.0, event: str = "$ai_generation"
) -> Row:
    return llmc_event(
        event,
        MID,
        {"$ai_trace_id": trace, "$ai_total_cost_usd": cost, "$ai_latency": latency},
        uuid=next(_uuids),
    )


def _run(job: str, events: list[Row], **extra: Any) -> list[Row]:
    """One run of its own job: items <job>-a, <job>-b (cluster 0) and <job>-c (noise)."""
    a, b, c = (f"{job}-{x}" for x in "abc")
    clusters = [llmc_cluster(0, [a, b]), llmc_cluster(-1, [c], title="Outliers")]
    clusters.extend(extra.pop("more_clusters", []))
    run = llmc_run_event(
        f"1_trace_20261115_001503_{job}",
        clusters,
        job_id=job,
        job_name=job,
        uuid=next(_uuids),
        **extra,
    )
    return [_gen(a), _gen(b), _gen(c), *events, run]


JOBS: dict[str, list[Row]] = {
    "clean": _run("clean", []),
    "nan-cost": _run("nan-cost", [_gen("nan-cost-b", cost="NaN"), _gen("nan-cost-a", cost="nan")]),
    "inf-latency": _run("inf-latency", [_gen("inf-latency-c", latency="-Infinity")]),
    # A span's latency counts on the page (max over every AI event), not in the job.
    "span-latency": _run("span-latency", [_gen("span-latency-b", latency="inf", event="$ai_span")]),
    "overflow": _run("overflow", [_gen("overflow-a", cost=1e308), _gen("overflow-b", cost=1e308)]),
    "backwards": _run("backwards", [], window_start=LLMC_WINDOW_END, window_end=LLMC_WINDOW_START),
    "few-items": _run("few-items", [], **{"$ai_total_items_analyzed": 2}),
    "baked-nan": _run(
        "baked-nan",
        [],
        more_clusters=[llmc_cluster(1, ["baked-nan-d"], metrics={"avg_cost": "Infinity"})],
    ),
}
NOW = parse_timestamp(LLMC_EMITTED) + timedelta(hours=1)


class Both:
    def __init__(self, snapshot: Path, standin: StandIn) -> None:
        self.snapshot = SnapshotSource(snapshot)
        self.live = PostHogSource(
            PostHogConfig(host=standin.url, project_id=1, api_key=KEY), clock=lambda: NOW
        )
        self.standin = standin

    def errors(self, job: str, semantics: Semantics) -> tuple[str | None, str | None]:
        """Each source's error for the job's run (None: it loaded), from `run ` on."""
        request = RunRequest(
            level="trace",
            job=job,
            lookback=timedelta(days=30),
            stats=ALL_STATS,
            semantics=semantics,
            # As a gate asks (report.evidence: 3): the items' own numbers come along.
            evidence=3,
            evidence_measures=frozenset(MEASURES),
        )
        out: list[str | None] = []
        for source in (self.snapshot, self.live):
            self.standin.clear_log()
            try:
                source.load(request)
            except DataError as exc:
                text = str(exc)
                assert "\n" not in text
                out.append(text[text.index("run ") :])
            else:
                out.append(None)
        assert len(self.standin.query_requests()) <= 2
        return out[0], out[1]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    rows = [row for rows in JOBS.values() for row in rows]
    path = llmc_write_jsonl(tmp_path_factory.mktemp("bad") / "bad.jsonl", rows)
    with StandIn(rows, api_key=KEY, project_id=1) as s:
        yield Both(path, s)


def _id(job: str) -> str:
    return f"1_trace_20261115_001503_{job}"


def _nonfinite(job: str, prop: str, events: int, item: str) -> str:
    s = "" if events == 1 else "s"
    return (
        f"run {_id(job)}: {prop} is NaN or infinite in {events} AI event{s} of its window "
        f"(e.g. item {item}), so PostHog's sums over them are too; fix or drop those events"
    )


EXPECTED: dict[str, dict[str, str | None]] = {
    "clean": {"ui": None, "workflow": None},
    # Two events, and the smaller item id named whichever the file lists first.
    "nan-cost": dict.fromkeys(
        ("ui", "workflow"), _nonfinite("nan-cost", "$ai_total_cost_usd", 2, "nan-cost-a")
    ),
    "inf-latency": dict.fromkeys(
        ("ui", "workflow"), _nonfinite("inf-latency", "$ai_latency", 1, "inf-latency-c")
    ),
    # Only what a semantics reads is judged: the job never reads a span's latency.
    "span-latency": {
        "ui": _nonfinite("span-latency", "$ai_latency", 1, "span-latency-b"),
        "workflow": None,
    },
    # Finite values whose sum is not: 1e308 + 1e308 per cluster.
    "overflow": dict.fromkeys(
        ("ui", "workflow"),
        f"run {_id('overflow')}: cluster 0: its items' $ai_total_cost_usd add up past the "
        "largest double (about 1.8e308): the sum is infinite",
    ),
    "backwards": dict.fromkeys(
        ("ui", "workflow"),
        f"run {_id('backwards')}: $ai_window_start 2026-11-15T00:15:03.104000+00:00 is after "
        "$ai_window_end 2026-11-08T00:15:03.104000+00:00",
    ),
    # noise_share would be 1 / 2 = 50% with 3 items clustered, 540% in the wild.
    "few-items": dict.fromkeys(
        ("ui", "workflow"),
        f"run {_id('few-items')}: $ai_total_items_analyzed is 2, fewer than the 3 items its "
        "clusters hold",
    ),
    # The job's own numbers, read whichever semantics the gate uses.
    "baked-nan": dict.fromkeys(
        ("ui", "workflow"),
        f"run {_id('baked-nan')}: $ai_clusters[2].metrics.avg_cost is 'Infinity', not a "
        "finite number",
    ),
}


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
@pytest.mark.parametrize("job", list(EXPECTED))
def test_bad_data_is_one_line_naming_the_run_and_both_sources_agree(
    both: Both, job: str, semantics: Semantics
) -> None:
    snapshot, live = both.errors(job, semantics)
    assert snapshot == EXPECTED[job][semantics]
    assert live == snapshot
