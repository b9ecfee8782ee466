"""The live source: clustering runs from PostHog's query API (DESIGN §4).

    source = PostHogSource(config.source.posthog)
    loaded = source.load(request)

A gate costs at most two HogQL queries whatever the run size (texts in
`_hogql`): one selects the latest run and computes its per-cluster numbers in
ClickHouse, one loads every requested baseline run the same way, and with them
the recent runs trend lines draw (`Loaded.history`: cluster headers and baked
metrics only; with trends but no baselines, the second query loads just those).
The answers hold one row per cluster; item ids cross the network only when
cross-run matching needs them, and evidence (query 1) as each cluster's few best items
of each kind, ranked server-side. The numbers are the snapshot source's, to the last bit
where ClickHouse and Python add in the same order (see tests/test_parity.py):
Python rebuilds each run from the answer with the very functions that parse a
snapshot (`runs.read_run_event`, `runs.build_run`).

HTTP, retries and error texts live in `_api`. Nothing partial is ever returned,
and the API key never appears in any message, repr or log.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import httpx
import orjson

from llmc_checks import metrics
from llmc_checks._net import is_loopback
from llmc_checks._values import parse_timestamp
from llmc_checks.model import (
    BaselineRequest,
    ClusterStats,
    DataError,
    ItemValues,
    Level,
    Loaded,
    Member,
    NoRunFound,
    Run,
    RunRequest,
    SourceError,
)
from llmc_checks.runs import (
    build_run,
    did_you_mean,
    horizon,
    level_mismatch,
    no_run_text,
    pick_baselines,
    pick_history,
    read_run_event,
)
from llmc_checks.sources import _hogql
from llmc_checks.sources._api import (
    JOBS_MAX_PAGES,
    JOBS_SCOPE,
    MAX_ATTEMPTS,
    MAX_RETRY_AFTER_S,
    Api,
    Row,
)

if TYPE_CHECKING:
    from llmc_checks.sources.base import PostHogSettings as PostHogConfig

__all__ = ["MAX_RETRY_AFTER_S", "PostHogSource", "cluster_links", "trace_links", "trace_url"]

_UTC = timezone.utc


def cluster_links(config: PostHogConfig) -> Callable[[Run, int], str]:
    """PostHog's URL scheme for a run's cluster pages (DESIGN §3 Reports)."""
    host = config.host.rstrip("/")
    project = config.project_id

    def link(run: Run, cluster_id: int) -> str:
        run_id = quote(run.run_id, safe="")
        return f"{host}/project/{project}/ai-observability/clusters/{run_id}/{cluster_id}"

    return link


def trace_links(config: PostHogConfig) -> Callable[[Run, Member], str | None]:
    """PostHog's URL scheme for an item's trace page (DESIGN §3 Evidence)."""
    base = f"{config.host.rstrip('/')}/project/{config.project_id}"
    return lambda run, member: trace_url(base, run.level, member)


def trace_url(base: str, level: Level, member: Member) -> str | None:
    """The link PostHog's cluster page puts on an item (ClusterTraceList.tsx), or None.

    Trace level: the item is the trace. Generation level: the item's trace, with the
    generation as `event`. Evaluation level: the judged trace, which the page knows
    only once resolved; here, when the `traces` map names a trace other than the item.
    The path segment is encoded twice, as PostHog's `urls.aiObservabilityTrace` does
    (kea-router decodes the path once before matching); the query is form-encoded by
    URLSearchParams, in its order: tab, event, timestamp (UTC, milliseconds, "Z").
    """
    event = ""
    if level == "trace":
        trace = member.item_id
    elif level == "generation":
        trace, event = member.trace_id, member.generation_id or member.item_id
    else:
        trace = member.trace_id if member.trace_id != member.item_id else ""
        event = member.generation_id
    if not trace:
        return None
    params = [("tab", "summary")]
    if event:
        params.append(("event", event))
    when = _iso_ms(member.timestamp)
    if when:
        params.append(("timestamp", when))
    query = "&".join(f"{k}={_form(v)}" for k, v in params)
    return f"{base}/ai-observability/traces/{quote(quote(trace, safe=''), safe='')}?{query}"


def _iso_ms(text: str) -> str:
    """dayjs.utc(text).toISOString(): UTC, milliseconds (cut, not rounded), "Z"."""
    if not text:
        return ""
    try:
        dt = parse_timestamp(text)
    except ValueError:
        return ""  # dayjs would make an "Invalid Date"; PostHog's page would break
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _form(value: str) -> str:
    """application/x-www-form-urlencoded as URLSearchParams writes it (keeps `*-._`)."""
    return quote_plus(value, safe="*").replace("~", "%7E")


def _quiet(line: str) -> None:
    """No one to tell about waits (the plugin passes pytest's terminal writer)."""


def _utc_now() -> datetime:
    return datetime.now(_UTC)


def _ch_time(dt: datetime) -> str:
    """A UTC instant as ClickHouse reads it in toDateTime64(..., 6, 'UTC')."""
    return dt.astimezone(_UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# A run id carries its window end: `<team>_[<level>_]<YYYYMMDD>_<HHMMSS>[_<job>][_<label>]`.
_RUN_STAMP = re.compile(r"(?:^|_)(\d{8}_\d{6})(?:_|$)")
# Where a run's emissions can be, around that instant: emitted minutes after the
# window closes, a retry later; a day before allows for clock skew.
EMITTED_BEFORE = timedelta(days=1)
EMITTED_AFTER = timedelta(days=7)


def run_id_time(run_id: str) -> datetime | None:
    """The window end a run id carries (UTC), or None when it carries none."""
    match = _RUN_STAMP.search(run_id)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d_%H%M%S").replace(tzinfo=_UTC)
    except ValueError:
        return None


def _run_scan(run_id: str, fallback: tuple[datetime, datetime]) -> tuple[str, str]:
    """(from, to) bounding the scan for one run's emissions."""
    end = run_id_time(run_id)
    start, stop = fallback if end is None else (end - EMITTED_BEFORE, end + EMITTED_AFTER)
    return _ch_time(start), _ch_time(stop)


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A run rebuilt from an answer, before stats are attached."""

    run: Run
    window_end_raw: str
    baked_complete: bool
    event_stats: tuple[ClusterStats, ...] | None
    # False: a trend-only run (query 2), fetched without item ids or stats.
    full: bool = True
    # Why its event stats cannot be judged (a value PostHog reads as NaN or infinite).
    bad_data: str | None = None


class PostHogSource:
    """Clustering runs live from one PostHog project (see the module docstring).

    `transport`, `sleep`, `clock` and `rng` exist for tests: an httpx transport,
    the function waits go through (retries, polls), the "now" of Loaded, and the
    random source of backoff jitter. `notify` receives one line before each wait.
    """

    def __init__(
        self,
        config: PostHogConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
        rng: random.Random | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        url = urlsplit(config.host)
        hostname = url.hostname or ""
        # The config validates this too; a source built by hand must not send
        # the key in clear text either.
        if url.scheme != "https" and not (url.scheme == "http" and is_loopback(hostname)):
            raise SourceError(
                f"PostHog host {hostname or config.host!r}: https is required "
                "(http only on loopback)"
            )
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._where = f"PostHog {url.netloc.rsplit('@', 1)[-1]} project {config.project_id}"
        self._clock = clock
        self._api = Api(
            config,
            where=self._where,
            transport=transport,
            sleep=sleep,
            clock=clock,
            rng=rng if rng is not None else random.Random(),
            max_attempts=max_attempts,
            notify=notify if notify is not None else _quiet,
        )
        # Clustering jobs, listed once (only to explain a "no run found").
        self._jobs: list[Row] | None = None
        self._jobs_problem: str | None = None

    def describe(self) -> str:
        return self._where

    def __repr__(self) -> str:
        return f"PostHogSource({self._where!r})"

    def close(self) -> None:
        self._api.close()

    # -- Source protocol -------------------------------------------------------------------

    def load(self, request: RunRequest) -> Loaded:
        now = self._clock()
        mode = _hogql.metrics_mode(request.level, bool(request.stats))
        first = self._query_latest(request, now, mode)
        # Baked metrics stand in only where allowed (metrics.baked_allowed) and complete.
        baked_ok = metrics.baked_allowed(request) and first.baked_complete
        use_events = mode != "none" and not baked_ok
        latest = _finish([first], mode, use_events, request.stats)[0]
        baselines: dict[BaselineRequest, tuple[Run, ...]] = {}
        history: tuple[Run, ...] = ()
        if request.baselines or request.history > 0:
            latest, baselines, history = self._load_baselines(
                request, first, latest, mode, use_events
            )
        return Loaded(now=now, latest=latest, baselines=baselines, history=history)

    # -- query 1: the latest run -----------------------------------------------------------

    def _query_latest(self, request: RunRequest, now: datetime, mode: _hogql.Metrics) -> _Fetched:
        since = now - request.lookback
        values: dict[str, object] = {
            "level": request.level,
            "job": request.job or "",
            # A day of slack: emissions follow their window's end by minutes.
            "scan_from": _ch_time(since - EMITTED_BEFORE),
            "since": _ch_time(since),
            "now": _ch_time(now),
        }
        if request.after is not None:
            values["after"] = _ch_time(request.after)
        if request.run_id is not None:
            # A pinned run is found around the date its id carries (one without a
            # date: within the lookback, like any latest run).
            values["run_id"] = request.run_id
            lookback = (since - EMITTED_BEFORE, now + EMITTED_BEFORE)
            values["scan_from"], values["scan_to"] = _run_scan(request.run_id, lookback)
        evidence = None
        if request.evidence > 0:
            values["evidence"] = request.evidence
            evidence = tuple(request.evidence_measures)
        query = _hogql.latest_query(
            request.level,
            pinned=request.run_id is not None,
            has_after=request.after is not None,
            metrics=mode,
            need_items=request.need_items,
            semantics=request.semantics,
            evidence=evidence,
        )
        rows = self._api.query(
            "latest", query.text, values, _hogql.CLUSTER_ROWS_LIMIT, columns=query.columns
        )
        fetched = self._rebuild(rows, mode, request)
        if not fetched:
            self._no_run(request, since)
        found = fetched[-1]
        if request.run_id is not None and found.run.level != request.level:
            raise level_mismatch(found.run.run_id, found.run.level, request)
        return found

    def _no_run(self, request: RunRequest, since: datetime) -> NoReturn:
        """NoRunFound, cheap: `--llmc-wait` polls on it. A misspelt job is a DataError."""
        if request.run_id is not None:
            raise NoRunFound(f"run {request.run_id} not found in {self._where}")
        what = f"{no_run_text(request, since)} in {self._where}"
        if request.job:
            what += self._check_job(request)
        raise NoRunFound(what)

    def _check_job(self, request: RunRequest) -> str:
        """Raise DataError when the configured job does not exist; else a note (maybe "")."""
        jobs = self._list_jobs()
        if jobs is None:
            return f" (could not list clustering jobs to check the job: {self._jobs_problem})"
        job = request.job
        matches = [j for j in jobs if job in (str(j.get("id", "")), j.get("name"))]
        if not matches:
            known = ", ".join(_job_text(j) for j in jobs)
            listing = f"; jobs: {known}" if known else "; the project has no clustering jobs"
            hint = did_you_mean(job, (str(j.get("name", "")) for j in jobs))
            raise DataError(
                f"no clustering job named {job!r} (or with that id) in {self._where}{listing}{hint}"
            )
        levels = {j.get("analysis_level") for j in matches} - {None}
        if levels and request.level not in levels:
            raise DataError(
                f"clustering job {job!r} clusters at the {', '.join(sorted(map(str, levels)))} "
                f"level; run.level is {request.level}"
            )
        if all(j.get("enabled") is False for j in matches):
            # Still a NoRunFound: someone may enable it while --llmc-wait polls.
            return (
                f"; clustering job {job!r} is disabled in PostHog (enabled: false), so it "
                "makes no new runs: enable it, or set run.job to an enabled job"
            )
        return ""

    def _list_jobs(self) -> list[Row] | None:
        """Every clustering job (following `next`), fetched once; None when unavailable."""
        if self._jobs is not None or self._jobs_problem is not None:
            return self._jobs
        jobs: list[Row] = []
        url: str | None = self._api.jobs_url
        base = urlsplit(self._api.jobs_url)
        try:
            for _ in range(JOBS_MAX_PAGES):
                if url is None:
                    break
                _, page = self._api.request("GET", url, JOBS_SCOPE, "listing clustering jobs")
                results = page.get("results")
                if not isinstance(results, list):
                    raise SourceError("the jobs list has no results")
                jobs.extend(j for j in results if isinstance(j, dict))
                nxt = page.get("next")
                # The next page, read from the configured scheme and host whatever the
                # link names (a PostHog behind a TLS proxy links to http): the key must
                # travel nowhere else, nor in clear text.
                link = urlsplit(nxt) if isinstance(nxt, str) and nxt else None
                url = None
                if link is not None:
                    path = link.path or base.path
                    url = urlunsplit((base.scheme, base.netloc, path, link.query, ""))
        except SourceError as exc:
            self._jobs_problem = str(exc).removeprefix(f"{self._where}: ")
            return None
        self._jobs = jobs
        return jobs

    # -- query 2: the baselines and the trend runs -----------------------------------------

    def _load_baselines(
        self,
        request: RunRequest,
        first: _Fetched,
        latest: Run,
        mode: _hogql.Metrics,
        latest_used_events: bool,
    ) -> tuple[Run, dict[BaselineRequest, tuple[Run, ...]], tuple[Run, ...]]:
        """Query 2: (latest, baselines, history); only the trend runs without baselines."""
        # previous = the last earlier run, median_of N = the last N: fetch the most asked.
        earlier = max(
            (
                1 if s.kind == "previous" else s.count
                for s in request.baselines
                if s.kind != "run_id"
            ),
            default=0,
        )
        ids = list(dict.fromkeys(s.run_id for s in request.baselines if s.run_id is not None))
        trend = request.history > 0
        if not request.baselines:
            # Trend runs only: headers and baked metrics, nothing computed from events.
            mode, latest_used_events = "none", False
        need_items = request.need_items and bool(request.baselines)
        # Earlier and trend runs are looked for within one lookback before the
        # latest run (a pinned latest run may be older than the lookback from now).
        # Earlier and trend runs are those whose window ends at `since` or later
        # (runs.horizon, as the snapshot source picks them); their emissions follow.
        since = horizon(latest, request.lookback)
        scan_from = since - EMITTED_BEFORE
        lookback = (scan_from, self._clock() + EMITTED_BEFORE)
        values: dict[str, object] = {
            "level": latest.level,
            "job_id": latest.job_id,
            "latest_window_end": first.window_end_raw,
            "latest_run_id": latest.run_id,
            "scan_from": _ch_time(scan_from),
            "since": _ch_time(since),
        }
        if earlier:
            values["earlier"] = earlier
        if trend:
            values["history"] = request.history
        for i, run_id in enumerate(ids):
            values[f"baseline_{i}"] = run_id
            values[f"baseline_{i}_from"], values[f"baseline_{i}_to"] = _run_scan(run_id, lookback)
        query = _hogql.baselines_query(
            latest.level,
            earlier=earlier > 0,
            run_ids=len(ids),
            metrics=mode,
            need_items=need_items,
            trend=trend,
            semantics=request.semantics,
        )
        rows = self._api.query(
            "baselines", query.text, values, _hogql.CLUSTER_ROWS_LIMIT, columns=query.columns
        )
        answered = self._rebuild(rows, mode, request, need_items)
        fetched = [f for f in answered if f.full]
        trend_only = [f.run for f in answered if not f.full]
        complete = all(f.baked_complete for f in fetched)
        baked_ok = metrics.baked_allowed(request) and complete
        use_events = mode != "none" and (latest_used_events or not baked_ok)
        if use_events and not latest_used_events:
            # A baseline lacks baked metrics: every run uses events, as in a snapshot
            # (query 1 computed the latest run's too).
            latest = _finish([first], mode, use_events, request.stats)[0]
        by_id = {r.run_id: r for r in _finish(fetched, mode, use_events, request.stats)}
        by_id[latest.run_id] = latest
        ordered = _oldest_first(by_id.values())
        baselines = {
            spec: pick_baselines(ordered, latest, spec, since=since) for spec in request.baselines
        }
        # Query 2 brought every run of the last `history` (query 1, the latest); any other
        # fetched run of the same level and job is older, so the last ones are the same.
        every = _oldest_first({**{r.run_id: r for r in trend_only}, **by_id}.values())
        history = tuple(
            metrics.trend_run(r, request.semantics)
            for r in pick_history(every, latest, request.history, since=since)
        )
        return latest, baselines, history

    # -- answers → runs --------------------------------------------------------------------

    def _rebuild(
        self,
        rows: list[Row],
        mode: _hogql.Metrics,
        request: RunRequest,
        need_items: bool | None = None,
    ) -> list[_Fetched]:
        """Group the per-cluster rows by run and rebuild each run as a snapshot would."""
        by_run: dict[str, list[Row]] = {}
        for row in rows:
            by_run.setdefault(str(row["run_id"]), []).append(row)
        items = request.need_items if need_items is None else need_items
        out = []
        for run_rows in by_run.values():
            run_rows.sort(key=lambda r: int(r["cluster_index"]))
            out.append(self._rebuild_run(run_rows, mode, request, items))
        return out

    def _rebuild_run(
        self, rows: list[Row], mode: _hogql.Metrics, request: RunRequest, need_items: bool
    ) -> _Fetched:
        head = rows[0]
        where = self._where
        props: Row = {
            "$ai_clustering_run_id": head["run_id"],
            "$ai_clustering_job_id": head["job_id"],
            "$ai_clustering_job_name": head["job_name"],
            "$ai_window_start": head["window_start_raw"],
            "$ai_window_end": head["window_end_raw"],
        }
        # Raw JSON texts ("" = property absent), parsed here as runs.py parses them.
        for key, column in (
            ("$ai_clustering_level", "level_raw"),
            ("$ai_total_items_analyzed", "items_raw"),
            ("$ai_total_traces_analyzed", "traces_analyzed_raw"),
            ("$ai_clustering_params", "params_raw"),
        ):
            if head[column]:
                props[key] = self._json(head[column], head["run_id"])
        if int(head["cluster_index"]) == 0:  # `$ai_clusters` held no readable cluster
            props["$ai_clusters"] = [] if head["clusters_type"] == "Array" else None
        else:
            props["$ai_clusters"] = [self._cluster(r, need_items) for r in rows]
        row = {
            "event": head["event"],
            "timestamp": head["emitted_at"],
            "uuid": head["event_uuid"],
            "properties": props,
        }
        run = build_run(read_run_event(row, where), where)
        if "evidence" in head:
            run = _with_candidates(run, rows, request)
        full = bool(head.get("full", 1))
        stats, bad_data = None, None
        if mode == "events" and full:
            bad_data = _bad_data(run, rows)
            if bad_data is None:
                stats = tuple(_event_stats(r) for r in rows)
        # The snapshot source's rule: baked metrics stand in when they cover every stat.
        complete = mode != "none" and metrics.baked_suffices(run, request.stats)
        located = f"{where}: {bad_data}" if bad_data is not None else None
        return _Fetched(run, str(head["window_end_raw"]), complete, stats, full, located)

    def _cluster(self, row: Row, need_items: bool) -> Row | None:
        if row["cluster_type"] != "Object":
            return None  # build_run reports "is not an object"
        run_id = row["run_id"]
        cluster: Row = {"title": row["title"], "description": row["description"]}
        if row["cluster_id_raw"]:
            cluster["cluster_id"] = self._json(row["cluster_id_raw"], run_id)
        # runs.py defaults a missing size to the number of items in `traces`.
        size = row["size_raw"]
        cluster["size"] = self._json(size, run_id) if size else int(row["traces_count"])
        if row["metrics_raw"]:
            cluster["metrics"] = self._json(row["metrics_raw"], run_id)
        cluster["traces"] = dict.fromkeys(row["item_ids"]) if need_items else {}
        return cluster

    def _json(self, text: str, run_id: object) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            raise DataError(f"{self._where}: run {run_id}: unreadable JSON in a property") from None

    # -- --llmc-record ---------------------------------------------------------------------

    def export_rows(self, loaded: Loaded) -> Iterator[Row]:
        """The event rows behind `loaded`, for a snapshot: paginated extra queries.

        Every emission of the selected runs and of the trend runs (`loaded.history`),
        then (below evaluation level) the AI events of the selected runs' items inside
        their windows with only the properties the metrics read; trend runs need no
        AI events (their lines use baked stats). Keyset pagination on the uuid: HogQL
        refuses OFFSET.
        """
        runs = _selected_runs(loaded)
        ids = {f"run_{i}": r.run_id for i, r in enumerate(runs)}
        every = list(dict.fromkeys([*ids.values(), *(r.run_id for r in loaded.history)]))
        run_ids: dict[str, object] = {f"run_{i}": run_id for i, run_id in enumerate(every)}
        # Scans bounded as the gate's own: emissions around the runs' window ends,
        # AI events inside the selected runs' windows.
        ends = [r.window_end for r in (*runs, *loaded.history)]
        emitted = {
            "runs_from": _ch_time(min(ends) - EMITTED_BEFORE),
            "runs_to": _ch_time(max(ends) + EMITTED_AFTER),
        }
        run_ids.update(emitted)
        text = _hogql.export_clusters_query(len(every))
        pages = self._pages(
            "export-runs", text, run_ids, _hogql.EXPORT_CLUSTER_PAGE, _hogql.EXPORT_CLUSTER_COLUMNS
        )
        for row in pages:
            properties = row["properties"]
            yield {
                "uuid": row["event_uuid"],
                "event": row["event"],
                "timestamp": row["timestamp"],
                "properties": orjson.loads(properties) if isinstance(properties, str) else {},
            }
        level = loaded.latest.level
        if level == "evaluation":
            return  # evaluation runs cluster evaluations, not AI events
        text = _hogql.export_events_query(level, len(ids))
        keys = _hogql.EXPORT_PROPERTIES
        values: dict[str, object] = {
            **ids,
            **emitted,
            "events_from": _ch_time(min(r.window_start for r in runs)),
            "events_to": _ch_time(max(r.window_end for r in runs)),
        }
        pages = self._pages(
            "export-events", text, values, _hogql.EXPORT_EVENT_PAGE, _hogql.EXPORT_EVENT_COLUMNS
        )
        for row in pages:
            texts = [row[f"p{i}"] for i in range(len(keys))]
            # Each value as the text HogQL's property access reads (what the live
            # metrics read, and what the snapshot source reads the same way).
            event = {
                "uuid": row["event_uuid"],
                "event": row["event"],
                "timestamp": row["timestamp"],
                "properties": {
                    k: v for k, v in zip(keys, texts, strict=True) if isinstance(v, str) and v
                },
            }
            # Every copy PostHog holds, as the live metrics counted them.
            copies = row["copies"]
            if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
                raise SourceError(
                    f"{self._where}: query export-events: an event's copies is not a count"
                )
            for _ in range(copies):
                yield event

    def _pages(
        self,
        name: str,
        text: str,
        values: Mapping[str, object],
        size: int,
        columns: Sequence[str],
    ) -> Iterator[Row]:
        after = ""
        while True:
            page = {**values, "after_uuid": after}
            rows = self._api.query(name, text, page, size, columns=columns, page=True)
            yield from rows
            if len(rows) < size:
                return
            after = str(rows[-1]["event_uuid"])


def _job_text(job: Row) -> str:
    """ "Default - traces (trace, id 019a…)", "… disabled" when it is."""
    off = ", disabled" if job.get("enabled") is False else ""
    return f"{job.get('name')} ({job.get('analysis_level', '?')}, id {job.get('id')}{off})"


def _bad_data(run: Run, rows: list[Row]) -> str | None:
    """metrics.with_event_stats's refusal, from the server's per-cluster counts."""
    for name, prop in _hogql.NONFINITE.items():
        bad = [r for r in rows if int(r[f"{name}_bad_n"] or 0)]
        if bad:
            events = sum(int(r[f"{name}_bad_n"]) for r in bad)
            item = min(str(r[f"{name}_bad_item"]) for r in bad)
            return metrics.nonfinite_text(run.run_id, prop, events, item)
    for cluster, row in zip(run.clusters, rows, strict=True):
        if row["overflow"]:
            return metrics.overflow_text(run.run_id, cluster.cluster_id, str(row["overflow"]))
    return None


def _event_stats(row: Row) -> ClusterStats:
    """metrics.cluster_stats from the server's per-cluster counts and sums."""
    # 0 or NULL: a cluster without items in the window (LEFT JOIN miss).
    items = int(row["item_count"] or 0)
    errors = int(row["error_count"] or 0)

    def mean(name: str) -> float | None:
        n = int(row[f"{name}_n"] or 0)
        return float(row[f"{name}_sum"]) / n if n else None

    cost_n = int(row["cost_n"] or 0)
    p95 = row["p95_latency"]
    return ClusterStats(
        item_count=items,
        avg_cost_usd=mean("cost"),
        total_cost_usd=float(row["cost_sum"]) if cost_n else None,
        avg_latency_s=mean("latency"),
        p95_latency_s=float(p95) if p95 is not None else None,
        avg_tokens=mean("tokens"),
        error_count=errors,
        error_rate=errors / items if items else None,
    )


def _with_candidates(run: Run, rows: list[Row], request: RunRequest) -> Run:
    """The run with each cluster's evidence pool, from the candidates ranked server-side.

    The answer holds each kind's best items, so the pool picked from them is the one
    picking from every member gives (metrics.evidence_pool), as the snapshot source keeps.
    """
    clusters = tuple(
        replace(
            c,
            candidates=metrics.evidence_pool(
                [_member(entry) for entry in row["evidence"]],
                request.evidence_measures,
                request.evidence,
            ),
        )
        for c, row in zip(run.clusters, rows, strict=True)
    )
    return replace(run, clusters=clusters)


def _member(entry: list[Any]) -> Member:
    """One candidate (`_hogql.EVIDENCE_FIELDS`, then `EVIDENCE_VALUES` if AI events were
    read): its values only when the item has an event in the window, as `metrics.with_values`."""
    item, rank, timestamp, trace_id, generation_id, *numbers = entry
    values = None
    if numbers and int(numbers[0]) > 0:
        _, cost, latency, tokens, errors = numbers
        values = ItemValues(
            cost=float(cost), latency=float(latency), tokens=float(tokens), errors=int(errors)
        )
    return Member(
        str(item),
        rank=int(rank) if rank is not None else None,
        timestamp=str(timestamp),
        trace_id=str(trace_id),
        generation_id=str(generation_id),
        values=values,
    )


def _finish(
    fetched: list[_Fetched], mode: _hogql.Metrics, use_events: bool, stats: frozenset[str]
) -> list[Run]:
    """Attach stats as the snapshot source does: baked for all runs, or events for all."""
    if mode == "none":
        return [f.run for f in fetched]
    if not use_events:
        return [metrics.with_baked_stats(f.run) for f in fetched]
    out = []
    # Bad data is named as the snapshot source names it: the latest run first (its
    # own call), then by run id.
    for f in sorted(fetched, key=lambda f: f.run.run_id):
        if f.bad_data is not None:
            raise DataError(f.bad_data)
    for f in fetched:
        if f.event_stats is None:  # evaluation level: what is not baked stays unknown
            out.append(metrics.with_baked_stats(f.run))
            continue
        clusters = tuple(
            replace(c, stats=s) for c, s in zip(f.run.clusters, f.event_stats, strict=True)
        )
        out.append(replace(f.run, clusters=clusters))
    return out


def _oldest_first(runs: Iterable[Run]) -> list[Run]:
    # The snapshot source's order (runs.deduplicate), so both pick the same runs.
    return sorted(runs, key=lambda r: (r.window_end, r.emitted_at or r.window_end, r.run_id))


def _selected_runs(loaded: Loaded) -> list[Run]:
    """The latest run and every baseline run, once each."""
    runs = {loaded.latest.run_id: loaded.latest}
    for chosen in loaded.baselines.values():
        for run in chosen:
            runs.setdefault(run.run_id, run)
    return list(runs.values())
