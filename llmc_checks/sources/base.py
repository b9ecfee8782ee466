"""The contract every source fulfils: a request in, the selected runs out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from llmc_checks.model import Level, Run


@dataclass(frozen=True, slots=True)
class BaselineRequest:
    """Which earlier runs to load next to the latest one.

    kind "previous": the run before the latest with the same level and job;
    "run_id": that run; "median_of": the `count` runs before the latest.
    (A baseline `{file: ...}` is read by the session, not by a source.)
    """

    kind: Literal["previous", "run_id", "median_of"]
    run_id: str | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class RunRequest:
    level: Level
    job: str | None  # a job name or id; None = any job of that level
    lookback: timedelta
    run_id: str | None = None  # pin the "latest" run (--llmc-run)
    # Every baseline some check asks for; loaded in the same read as the latest run.
    baselines: tuple[BaselineRequest, ...] = ()
    # ClusterStats fields some check needs; empty → no per-item metrics needed at all.
    stats: frozenset[str] = frozenset()
    # Cross-run matching uses shared items: only then must item ids be loaded.
    need_items: bool = False
    # --llmc-after: only runs whose window ends after this instant count as "latest".
    after: datetime | None = None
    # How many recent runs (the latest included) to return for trend lines; their
    # clusters come without item ids and with baked stats only.
    history: int = 0


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a source hands back: the clock it measured against and the runs."""

    now: datetime
    latest: Run
    # For each requested baseline, its runs oldest first (empty: none exists yet).
    baselines: Mapping[BaselineRequest, tuple[Run, ...]] = field(default_factory=dict)
    # The last `RunRequest.history` runs of the latest run's level and job, oldest first.
    history: tuple[Run, ...] = ()


class Source(Protocol):
    def load(self, request: RunRequest) -> Loaded:
        """Select and load runs; raise SourceError / DataError, never return partial data."""
        ...

    def describe(self) -> str:
        """A short, secret-free description for reports ("snapshot demo.jsonl.gz")."""
        ...
