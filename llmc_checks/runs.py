"""Clustering events → runs, and which runs a gate looks at.

Headers (run id, level, job, window) are read from every cluster event; the
`$ai_clusters` payload is parsed only for the runs a gate selects, as the live
source only ever fetches those.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import orjson

from llmc_checks._values import LARGEST_EXACT_WHOLE, number, parse_timestamp
from llmc_checks.model import (
    BAKED_KEYS,
    CLUSTER_EVENTS,
    LEVELS,
    BaselineRequest,
    Cluster,
    DataError,
    Level,
    Member,
    NoRunFound,
    Run,
    RunRequest,
)
from llmc_checks.units import counted


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One emitted clustering event: the header, and the raw payload kept for later."""

    run_id: str
    level: Level
    job_id: str
    job_name: str
    window_start: datetime
    window_end: datetime
    emitted_at: datetime
    uuid: str
    properties: Mapping[str, Any]

    def matches_job(self, job: str | None) -> bool:
        return job is None or job in (self.job_id, self.job_name)


def properties_of(row: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    props = row.get("properties")
    if isinstance(props, str):
        try:
            props = orjson.loads(props)
        except orjson.JSONDecodeError:
            raise DataError(f"{where}: properties is not valid JSON") from None
    if not isinstance(props, dict):
        raise DataError(f"{where}: properties is missing or not an object")
    return props


def lenient_properties(raw: object) -> dict[str, Any]:
    """Event properties: an object, or a string holding one; {} when unreadable."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
    return raw if isinstance(raw, dict) else {}


def read_run_event(row: Mapping[str, Any], where: str) -> RunEvent:
    """The header of a `$ai_*_clusters` event; `where` names the row in errors."""
    event = row.get("event")
    props = properties_of(row, where)
    run_id = props.get("$ai_clustering_run_id")
    if not isinstance(run_id, str) or not run_id:
        raise DataError(f"{where}: {event} event has no $ai_clustering_run_id")
    level_raw = props.get("$ai_clustering_level") or CLUSTER_EVENTS.get(str(event))
    if level_raw not in LEVELS:
        raise DataError(
            f"{where}: run {run_id} has unknown level {level_raw!r} "
            f"(expected one of {', '.join(LEVELS)})"
        )
    level: Level = level_raw
    return RunEvent(
        run_id=run_id,
        level=level,
        job_id=_text(props.get("$ai_clustering_job_id")),
        job_name=_text(props.get("$ai_clustering_job_name")),
        window_start=_timestamp(props.get("$ai_window_start"), "$ai_window_start", run_id, where),
        window_end=_timestamp(props.get("$ai_window_end"), "$ai_window_end", run_id, where),
        emitted_at=_timestamp(row.get("timestamp"), "timestamp", run_id, where),
        uuid=_text(row.get("uuid")),
        properties=props,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _timestamp(value: object, name: str, run_id: str, where: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise DataError(f"{where}: run {run_id} has no {name}")
    try:
        return parse_timestamp(value)
    except ValueError:
        raise DataError(f"{where}: run {run_id} has an unreadable {name} {value!r}") from None


def deduplicate(events: Iterable[RunEvent]) -> list[RunEvent]:
    """One event per run id: a retried emission repeats the run; keep the last emitted."""
    by_id: dict[str, RunEvent] = {}
    for ev in events:
        seen = by_id.get(ev.run_id)
        if seen is None or (ev.emitted_at, ev.uuid) > (seen.emitted_at, seen.uuid):
            by_id[ev.run_id] = ev
    return sorted(by_id.values(), key=lambda e: (e.window_end, e.emitted_at, e.run_id))


@dataclass(frozen=True, slots=True)
class Selection:
    latest: RunEvent
    baselines: dict[BaselineRequest, tuple[RunEvent, ...]]
    history: tuple[RunEvent, ...] = ()
    legacy_runs: int = 0  # count_legacy_runs

    def events(self) -> list[RunEvent]:
        """Every selected run once, the latest last."""
        seen = {e.run_id: e for runs in self.baselines.values() for e in runs}
        seen.pop(self.latest.run_id, None)
        return [*sorted(seen.values(), key=lambda e: e.window_end), self.latest]


def select_runs(events: list[RunEvent], request: RunRequest, now: datetime) -> Selection:
    """Pick the latest run (and its baselines) from deduplicated events, oldest first."""
    if request.run_id is not None:
        latest = _pinned(events, request)
    else:
        since = now - request.lookback
        candidates = [
            e
            for e in events
            if e.level == request.level
            and e.matches_job(request.job)
            and since <= e.window_end <= now
            and (request.after is None or e.window_end > request.after)
        ]
        if not candidates:
            raise NoRunFound(_nothing_found(events, request, since))
        latest = candidates[-1]
    # Earlier runs count within one lookback before the latest run, as the live source
    # looks for them (a pinned latest run may be older than the lookback from now).
    since = horizon(latest, request.lookback)
    baselines = {
        spec: pick_baselines(events, latest, spec, since=since) for spec in request.baselines
    }
    history = pick_history(events, latest, request.history, since=since)
    return Selection(latest, baselines, history, count_legacy_runs(events, latest, since=since))


class RunLike(Protocol):
    """What selection reads of a run: both a raw RunEvent and a parsed Run qualify."""

    @property
    def run_id(self) -> str: ...
    @property
    def level(self) -> Level: ...
    @property
    def job_id(self) -> str: ...
    @property
    def window_end(self) -> datetime: ...


R = TypeVar("R", bound=RunLike)


def horizon(latest: RunLike, lookback: timedelta) -> datetime:
    """How far back baselines and trend runs are looked for: one lookback before the
    latest run's window end (runs named by id are found whatever their age)."""
    return latest.window_end - lookback


def pick_history(
    runs: Sequence[R], latest: R, count: int, *, since: datetime | None = None
) -> tuple[R, ...]:
    """The last `count` runs of the latest's level and job, up to it, whose window ends
    at `since` or later; `runs` oldest first."""
    if count <= 0:
        return ()
    same = [
        r
        for r in runs
        if r.level == latest.level
        and r.job_id == latest.job_id
        and r.window_end <= latest.window_end
        and (since is None or r.window_end >= since)
    ]
    return tuple(same[-count:])


def _pinned(events: list[RunEvent], request: RunRequest) -> RunEvent:
    found = next((e for e in events if e.run_id == request.run_id), None)
    if found is None:
        raise NoRunFound(f"run {request.run_id} not found")
    if found.level != request.level:
        raise level_mismatch(found.run_id, found.level, request)
    return found


def level_mismatch(run_id: str, level: Level, request: RunRequest) -> DataError:
    """A pinned run (--llmc-run) of another level than the config's, in both sources' words."""
    return DataError(
        f"run {run_id} is a {level}-level run; the config asks for {request.level} (run.level)"
    )


def pick_baselines(
    runs: Sequence[R], latest: R, spec: BaselineRequest, *, since: datetime | None = None
) -> tuple[R, ...]:
    """The runs a baseline spec names, oldest first; `runs` sorted oldest first.

    `previous` / `median_of` take earlier runs whose window ends at `since` or later;
    a run named by id is found whatever its age.
    """
    if spec.kind == "run_id":
        found = next((r for r in runs if r.run_id == spec.run_id), None)
        if found is None:
            return ()
        if found.level != latest.level:
            raise DataError(
                f"baseline run {found.run_id} is {found.level}-level; the latest run is "
                f"{latest.level}-level"
            )
        return (found,)
    earlier = [
        r
        for r in runs
        if r.level == latest.level
        and r.job_id == latest.job_id
        and r.window_end < latest.window_end
        and (since is None or r.window_end >= since)
    ]
    count = 1 if spec.kind == "previous" else spec.count
    return tuple(earlier[-count:])


def count_legacy_runs(runs: Sequence[RunLike], latest: RunLike, *, since: datetime) -> int:
    """How many runs without a job id (PostHog's shape before clustering jobs) would be
    the latest's earlier runs if they had its job: its level, a window ending before its
    and at `since` or later. They never count (README Baselines); the skip says so then."""
    if not latest.job_id:
        return 0
    return sum(
        1
        for r in runs
        if r.level == latest.level and not r.job_id and since <= r.window_end < latest.window_end
    )


def no_run_text(request: RunRequest, since: datetime) -> str:
    """ "no trace-level run of job 'x' with a window ending after ...": both sources' words."""
    job = f" of job {request.job!r}" if request.job else ""
    what = f"no {request.level}-level run{job} with a window ending after {since:%Y-%m-%d %H:%M}Z"
    if request.after is not None:
        what += f" and after {request.after:%Y-%m-%d %H:%M:%S}Z"
    return what


def _nothing_found(events: list[RunEvent], request: RunRequest, since: datetime) -> str:
    what = no_run_text(request, since)
    same = [e for e in events if e.level == request.level and e.matches_job(request.job)]
    if same:
        newest = same[-1]
        end = f"{newest.window_end:%Y-%m-%d %H:%M}Z"
        return f"{what}; the newest is {newest.run_id} (window end {end})"
    levels = sorted({e.level for e in events})
    if not events:
        return f"{what}; the data holds no clustering runs at all"
    seen = {(e.job_name, e.job_id) for e in events if e.level == request.level} - {("", "")}
    if not seen:
        return f"{what}; levels seen: {', '.join(levels)}"
    jobs = ", ".join(_job_label(name, job_id) for name, job_id in sorted(seen))
    names = [name or job_id for name, job_id in seen]
    return f"{what}; jobs seen: {jobs}{did_you_mean(request.job, names)}"


def _job_label(name: str, job_id: str) -> str:
    return f"{name} (id {job_id})" if name and job_id else name or f"id {job_id}"


def did_you_mean(job: str | None, names: Iterable[str]) -> str:
    """ "; did you mean 'Default - traces'?" for a near miss (PostHog's default job names
    are plural; "Default - trace" is a common copy), else ""."""
    if not job:
        return ""
    close = difflib.get_close_matches(job, sorted(set(names)), n=1, cutoff=0.8)
    return f"; did you mean {close[0]!r}?" if close and close[0] != job else ""


def build_run(event: RunEvent, where: str, *, members: bool = False) -> Run:
    """Parse the `$ai_clusters` payload of a selected run.

    `members`: also read each item's entry of the `traces` maps (rank, timestamp,
    trace and generation ids) into `Cluster.candidates`, for evidence.
    """
    props = event.properties
    raw = props.get("$ai_clusters")
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise DataError(
                f"{where}: run {event.run_id}: $ai_clusters is not valid JSON"
            ) from None
    if not isinstance(raw, list):
        raise DataError(f"{where}: run {event.run_id}: $ai_clusters is missing or not a list")
    if not raw:
        raise DataError(f"{where}: run {event.run_id} has no clusters")
    clusters = tuple(_cluster(c, i, event.run_id, where, members) for i, c in enumerate(raw))
    ids = [c.cluster_id for c in clusters]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup is not None:
        raise DataError(f"{where}: run {event.run_id}: cluster_id {dup} appears twice")
    if event.window_start > event.window_end:
        raise DataError(
            f"{where}: run {event.run_id}: $ai_window_start {event.window_start.isoformat()} "
            f"is after $ai_window_end {event.window_end.isoformat()}"
        )
    analyzed = _items_analyzed(props, event.run_id, where)
    clustered = sum(c.size for c in clusters)
    if analyzed is not None and analyzed < clustered:
        # Every analysed item is in one cluster (noise included): fewer analysed than
        # clustered would put noise_share and size_share past 100%.
        key = _items_key(props)
        raise DataError(
            f"{where}: run {event.run_id}: {key} is {analyzed:,}, fewer than the "
            f"{counted(clustered, 'item')} its clusters hold"
        )
    params = props.get("$ai_clustering_params")
    return Run(
        run_id=event.run_id,
        level=event.level,
        job_id=event.job_id,
        job_name=event.job_name,
        window_start=event.window_start,
        window_end=event.window_end,
        items_analyzed=analyzed if analyzed is not None else clustered,
        clusters=clusters,
        emitted_at=event.emitted_at,
        params=params if isinstance(params, dict) else {},
    )


def _items_key(props: Mapping[str, Any]) -> str:
    key = "$ai_total_items_analyzed"
    return key if key in props else "$ai_total_traces_analyzed"


def _items_analyzed(props: Mapping[str, Any], run_id: str, where: str) -> int | None:
    key = _items_key(props)
    raw = props.get(key)
    if raw is None:
        return None
    value = number(raw)
    if value is None or value < 0 or not value.is_integer():
        raise DataError(f"{where}: run {run_id}: {key} is {raw!r}, not a non-negative integer")
    return int(value)


def _cluster(raw: object, index: int, run_id: str, where: str, members: bool) -> Cluster:
    at = f"{where}: run {run_id}: $ai_clusters[{index}]"
    if not isinstance(raw, dict):
        raise DataError(f"{at} is not an object")
    cid = raw.get("cluster_id")
    if isinstance(cid, bool) or not isinstance(cid, int):
        raise DataError(f"{at} has no integer cluster_id")
    traces = raw.get("traces") or {}
    if not isinstance(traces, dict):
        raise DataError(f"{at}.traces is not an object")
    size = raw.get("size", len(traces))
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise DataError(f"{at}.size is not a non-negative integer")
    metrics = raw.get("metrics")
    if metrics is not None and not isinstance(metrics, dict):
        raise DataError(f"{at}.metrics is not an object")
    title = raw.get("title")
    description = raw.get("description")
    return Cluster(
        cluster_id=cid,
        title=title if isinstance(title, str) and title else f"Cluster {cid}",
        description=description if isinstance(description, str) else "",
        size=size,
        item_ids=tuple(traces),
        baked=_baked(metrics, at) if metrics is not None else None,
        candidates=tuple(member(k, v) for k, v in traces.items()) if members else (),
    )


def member(item_id: str, info: object) -> Member:
    """An item's entry of a `traces` map; a field of the wrong type reads as absent."""
    if not isinstance(info, dict):
        return Member(item_id)
    return Member(
        item_id,
        rank=_rank(info.get("rank")),
        timestamp=_text(info.get("timestamp")),
        trace_id=_text(info.get("trace_id")),
        generation_id=_text(info.get("generation_id")),
    )


def _rank(value: object) -> int | None:
    """A whole number (1.0 too: JSON, and PostHog's page, know no int/float difference;
    ClickHouse reads it so as well), else None: a bool, a fraction, or past 2**53."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) <= LARGEST_EXACT_WHOLE:
        return int(value)
    return value if isinstance(value, int) and abs(value) <= LARGEST_EXACT_WHOLE else None


def _baked(metrics: Mapping[str, object], at: str) -> dict[str, float | None]:
    baked: dict[str, float | None] = {}
    for theirs, ours in BAKED_KEYS.items():
        if theirs not in metrics:
            continue
        value = number(metrics[theirs])
        if value is not None and not math.isfinite(value):
            raise DataError(f"{at}.metrics.{theirs} is {metrics[theirs]!r}, not a finite number")
        baked[ours] = value
    return baked
