"""`generate()`: a scenario → rows and ground truth (`Synth`); `write_rows` writes a snapshot."""

from __future__ import annotations

import gzip
import heapq
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from operator import itemgetter
from pathlib import Path

import orjson

from llmc_checks.model import Level
from llmc_checks.synth._base import (
    _DAY,
    _EMB,
    _EVENT_NAMES,
    _GEN,
    _HOUR,
    _SPAN,
    _TRACE,
    Row,
    _Clock,
    _Edges,
    _mix64,
    _to_us,
    _Traffic,
    _uuid7,
)
from llmc_checks.synth.runs import _build_run, _RunPlan, _World
from llmc_checks.synth.scenario import Scenario
from llmc_checks.synth.topics import _EMBED_MODEL, _PROVIDERS, _SPAN_NAMES, Topic
from llmc_checks.synth.traffic import _add_edges, _simulate, _simulate_evals
from llmc_checks.synth.truth import RunTruth

# ---------------------------------------------------------------------------
# Result, rendering, entry points
# ---------------------------------------------------------------------------


@dataclass
class Synth:
    """Generated rows (rendered on demand) and the ground truth of every run.

    AI-event rows are fresh dicts on every iteration; clustering-event rows are the
    same objects each time (do not mutate them).
    """

    scenario: Scenario
    runs: list[RunTruth]
    _traffic: _Traffic = field(repr=False)
    _cluster_rows: list[tuple[int, Row]] = field(repr=False)

    def __len__(self) -> int:
        return len(self._traffic.events) + len(self._cluster_rows)

    @property
    def n_ai_events(self) -> int:
        return len(self._traffic.events)

    @cached_property
    def rows(self) -> list[Row]:
        """All rows in timestamp order (materialised once; prefer `iter_rows` when big)."""
        return list(self.iter_rows())

    def iter_rows(self) -> Iterator[Row]:
        """All rows in timestamp order, rendered afresh (same rows on every call)."""
        merged = heapq.merge(self._render_ai(), self._cluster_rows, key=itemgetter(0))
        for _, row in merged:
            yield row

    def run(self, run_id: str) -> RunTruth:
        for r in self.runs:
            if r.run_id == run_id:
                return r
        raise KeyError(run_id)

    def latest(self, level: Level | None = None) -> RunTruth:
        """The newest run (of `level`, when given)."""
        cands = [r for r in self.runs if level is None or r.level == level]
        if not cands:
            raise LookupError(f"no run of level {level!r}")
        return max(cands, key=lambda r: r.window_end)

    def _render_ai(self) -> Iterator[tuple[int, Row]]:
        s, tr = self.scenario, self._traffic
        rng = random.Random(f"llmc-synth:{s.seed}:render")
        rnd = rng.random
        clock = _Clock()
        iso = clock.iso_us
        trace_ids = tr.trace_ids
        users = [f"user-{n:05d}" for n in range(max(tr.trace_user, default=0) + 1)]
        trace_user = tr.trace_user
        models = tr.models
        providers = [_PROVIDERS.get(m.split("-")[0], "openai") for m in models]
        snr = s.string_number_rate
        esr = s.error_flag_string_rate
        emr = s.error_flag_missing_rate
        salt = tr.salt
        for ev in tr.events:
            ts, kind, ti, seq, cost, lat, itok, otok, err, aux = ev
            as_str = rnd() < snr
            props: Row = {"$ai_trace_id": trace_ids[ti]}
            if kind == _GEN:
                props["$ai_model"] = models[aux]
                props["$ai_provider"] = providers[aux]
                fractional = itok.__class__ is float
                props["$ai_input_tokens"] = str(itok) if as_str or fractional else itok
                props["$ai_output_tokens"] = str(otok) if as_str else otok
                if cost is not None:
                    props["$ai_total_cost_usd"] = str(cost) if as_str else cost
                props["$ai_latency"] = str(lat) if as_str else lat
            elif kind == _EMB:
                props["$ai_model"] = _EMBED_MODEL
                props["$ai_provider"] = "openai"
                props["$ai_input_tokens"] = str(itok) if as_str else itok
                props["$ai_total_cost_usd"] = str(cost) if as_str else cost
                props["$ai_latency"] = str(lat) if as_str else lat
            elif kind == _SPAN:
                props["$ai_span_name"] = _SPAN_NAMES[aux]
                if cost is not None:
                    props["$ai_total_cost_usd"] = str(cost) if as_str else cost
                if lat is not None:
                    props["$ai_latency"] = str(lat) if as_str else lat
            else:
                props["$ai_trace_name"] = "chat_session"
                props["$ai_total_cost_usd"] = str(cost) if as_str else cost
                props["$ai_latency"] = str(lat) if as_str else lat
            if kind != _TRACE:
                r = rnd()
                if err:
                    props["$ai_is_error"] = "true" if r < esr else True
                elif r >= emr:
                    props["$ai_is_error"] = "false" if r < emr + esr else False
            yield (
                ts,
                {
                    "uuid": _uuid7(ts, _mix64(salt ^ seq)),
                    "event": _EVENT_NAMES[kind],
                    "timestamp": iso(ts),
                    "distinct_id": users[trace_user[ti]],
                    "properties": props,
                },
            )


# AI events per trace with the default topics and rates (measured, ±2%).
EVENTS_PER_TRACE = 3.06


def scenario_for_size(events: int, items: int, days: int = 7, seed: int = 0) -> Scenario:
    """A default scenario sized to about `events` AI events in all, whose runs each
    cluster `items` items (`max_samples`): for benchmarks (600k events / 10k items)."""
    span_days = days - 1 + Scenario.lookback_days + 1 + Scenario.tail_hours / 24
    per_day = max(1, round(events / EVENTS_PER_TRACE / span_days))
    return Scenario(seed=seed, days=days, traces_per_day=per_day, max_samples=items)


def _pick_runs(rng: random.Random, n: int, share: float) -> set[int]:
    return set(rng.sample(range(n), round(share * n))) if n else set()


def generate(s: Scenario | None = None) -> Synth:
    """Simulate traffic and daily clustering runs for scenario `s` (default: `Scenario()`)."""
    s = Scenario() if s is None else s
    topics: list[Topic] = []
    seen: set[str] = set()
    for t in s._all_topics():
        if t.key not in seen:
            seen.add(t.key)
            topics.append(t)
    ends = s.window_ends
    lookback = timedelta(days=s.lookback_days)
    windows = [(_to_us(e - lookback), _to_us(e)) for e in ends]
    start_us = windows[0][0] - _DAY
    stop_us = windows[-1][1] + int(s.tail_hours * _HOUR)
    tr = _simulate(s, topics, start_us, stop_us)
    jobs = s.jobs
    if any(j.level == "evaluation" for j in jobs):
        _simulate_evals(s, topics, tr)
    edges = _add_edges(s, tr, windows) if s.edge_events else [_Edges() for _ in windows]
    tr.events.sort(key=itemgetter(0))
    gens = [e for e in tr.events if e[1] == _GEN]
    world = _World(
        s=s,
        topics=topics,
        tr=tr,
        gens=gens,
        gen_ts=[e[0] for e in gens],
        eval_ts=[e.ts for e in tr.evals],
        clock=_Clock(),
    )
    vrng = random.Random(f"llmc-synth:{s.seed}:variants")
    n_runs = len(jobs) * s.days
    as_string = _pick_runs(vrng, n_runs, s.clusters_as_string)
    dup = _pick_runs(vrng, n_runs, s.duplicate_emission)
    cluster_rows: list[tuple[int, Row]] = []
    truths: list[RunTruth] = []
    for r, we_dt in enumerate(ends):
        for j, job in enumerate(jobs):
            n = r * len(jobs) + j
            plan = _RunPlan(
                job=job,
                index=r,
                legacy=j == 0 and r < s.legacy_runs,
                as_string=n in as_string,
                duplicate=n in dup,
            )
            rows, truth = _build_run(world, plan, we_dt, edges[r])
            cluster_rows.extend(rows)
            truths.append(truth)
    cluster_rows.sort(key=itemgetter(0))
    return Synth(scenario=s, runs=truths, _traffic=tr, _cluster_rows=cluster_rows)


def write_rows(rows: Iterable[Row], path: str | Path) -> int:
    """Write rows as `.jsonl`, `.jsonl.gz`, `.json` or `.json.gz` (an array), streaming.

    Output is byte-for-byte deterministic (gzip header without name or mtime).
    Returns the number of rows written.
    """
    p = Path(path)
    name = p.name
    if name.endswith((".jsonl", ".jsonl.gz")):
        array = False
    elif name.endswith((".json", ".json.gz")):
        array = True
    else:
        raise ValueError(f"{p}: expected a .jsonl, .jsonl.gz, .json or .json.gz path")
    with p.open("wb") as raw:
        if name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                return _write_stream(rows, gz.write, array)
        return _write_stream(rows, raw.write, array)


def _write_stream(rows: Iterable[Row], write: Callable[[bytes], object], array: bool) -> int:
    n = 0
    buf: list[bytes] = [b"[\n"] if array else []
    dumps = orjson.dumps
    for row in rows:
        if array and n:
            buf.append(b",\n")
        buf.append(dumps(row))
        if not array:
            buf.append(b"\n")
        n += 1
        if len(buf) >= 4096:
            write(b"".join(buf))
            buf.clear()
    if array:
        buf.append(b"\n]\n")
    write(b"".join(buf))
    return n
