"""Clustering runs over the simulated traffic: windows, sampling, clusters, baked metrics."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from llmc_checks.model import NOISE_CLUSTER_ID, Level
from llmc_checks.synth._base import (
    _BAKED_KEYS,
    _DAY,
    _GEN,
    _SPAN,
    _TRACE,
    _US,
    Row,
    _Clock,
    _cluster_metrics,
    _Edges,
    _Ev,
    _Eval,
    _to_us,
    _tokens,
    _Traffic,
    _uuid4_rng,
    _Vals,
    iso_ms,
)
from llmc_checks.synth.scenario import Job, Scenario
from llmc_checks.synth.topics import NOISE_DESCRIPTION, NOISE_TITLE, Topic
from llmc_checks.synth.truth import ClusterTruth, RunTruth

# ---------------------------------------------------------------------------
# Clustering runs
# ---------------------------------------------------------------------------


def _trace_vals(evs: list[_Ev], ws: int, we: int) -> _Vals:
    """The job's numbers ("workflow"): events in [ws, we); cost and tokens over
    generations and embeddings, latency summed over generations."""
    active = err = False
    cost = lat = 0.0
    tok = 0
    for ev in evs:
        ts = ev[0]
        if ts < ws or ts >= we:
            continue
        kind = ev[1]
        if kind == _TRACE:
            continue
        active = True
        if ev[8]:
            err = True
        if kind != _SPAN:
            c = ev[4]
            if c is not None:
                cost += c
            tok += _tokens(ev[6]) + ev[7]
            if kind == _GEN:
                lat += ev[5] or 0.0
    return active, cost, lat, tok, err


def _trace_vals_ui(evs: list[_Ev], ws: int, we: int) -> _Vals:
    """The cluster page's numbers ("ui"): events in [ws, we]; cost and tokens over
    generations, embeddings and spans, latency the max over all three."""
    active = err = False
    cost = lat = 0.0
    tok = 0
    for ev in evs:
        ts = ev[0]
        if ts < ws or ts > we or ev[1] == _TRACE:
            continue
        active = True
        if ev[8]:
            err = True
        if ev[4] is not None:
            cost += ev[4]
        if ev[5] is not None:
            lat = max(lat, ev[5])
        tok += _tokens(ev[6]) + ev[7]
    return active, cost, lat, tok, err


def _gen_vals(ev: _Ev, ws: int, we: int, ui: bool = False) -> _Vals:
    active = ws <= ev[0] <= we if ui else ws <= ev[0] < we
    return (active, ev[4] or 0.0, ev[5] or 0.0, _tokens(ev[6]) + ev[7], ev[8])


# An item to cluster: (item_id, topic index, trace_id, generation_id, first ts,
# values under "workflow", values under "ui")
_Item = tuple[str, int, str, str | None, int, _Vals, _Vals]


@dataclass
class _World:
    s: Scenario
    topics: list[Topic]
    tr: _Traffic
    gens: list[_Ev]
    gen_ts: list[int]
    eval_ts: list[int]
    clock: _Clock


def _sample_items(
    w: _World, level: Level, ws: int, we: int, edges: _Edges, rng: random.Random
) -> tuple[list[_Item], tuple[str, ...], tuple[str, ...]]:
    """The run's items: a random sample of the items active in `[ws, we)` (edge items
    forced in) plus phantoms; returns (items, edge item ids, phantom item ids)."""
    if level == "trace":
        return _sample_traces(w, ws, we, edges, rng)
    if level == "generation":
        return _sample_generations(w, ws, we, edges, rng)
    return _sample_evaluations(w, ws, we, rng)


def _quota(limit: int, active: int, forced: int, population: int) -> int:
    """How many to draw at random: up to `limit` items in all, forced ones included
    (edge and phantom items are always kept, even past `max_samples`)."""
    return max(0, min(limit, active, population + forced) - forced)


def _sample_traces(
    w: _World, ws: int, we: int, edges: _Edges, rng: random.Random
) -> tuple[list[_Item], tuple[str, ...], tuple[str, ...]]:
    s, tr = w.s, w.tr
    ids, first, last, tev = tr.trace_ids, tr.trace_first, tr.trace_last, tr.trace_events

    def item(i: int) -> _Item:
        evs = tev[i]
        workflow, ui = _trace_vals(evs, ws, we), _trace_vals_ui(evs, ws, we)
        return (ids[i], tr.trace_topic[i], ids[i], None, first[i], workflow, ui)

    def is_active(i: int) -> bool:
        if first[i] >= ws and last[i] < we:
            return True
        return last[i] >= ws and first[i] < we and _trace_vals(tev[i], ws, we)[0]

    forced = [e[2] for e in (edges.start, edges.end) if e is not None and is_active(e[2])]
    forced_set = set(forced)
    phantoms: list[_Item] = []
    if s.phantom_items:
        plo = bisect.bisect_left(first, ws - _DAY)
        phi = bisect.bisect_left(first, ws)
        cands = [i for i in range(plo, phi) if last[i] < ws and i not in forced_set]
        phantoms = [item(i) for i in rng.sample(cands, min(s.phantom_items, len(cands)))]
    lo = bisect.bisect_left(first, ws - tr.max_duration)
    hi = bisect.bisect_left(first, we)
    active = [i for i in range(lo, hi) if is_active(i)]
    pop = [i for i in active if i not in forced_set]
    k = _quota(s.max_samples - len(phantoms), len(active), len(forced), len(pop))
    items = [item(i) for i in rng.sample(pop, k) + forced]
    edge_ids = tuple(ids[i] for i in forced)
    return items + phantoms, edge_ids, tuple(p[0] for p in phantoms)


def _sample_generations(
    w: _World, ws: int, we: int, edges: _Edges, rng: random.Random
) -> tuple[list[_Item], tuple[str, ...], tuple[str, ...]]:
    s, tr = w.s, w.tr

    def item(e: _Ev) -> _Item:
        uid = tr.uuid(e)
        workflow, ui = _gen_vals(e, ws, we), _gen_vals(e, ws, we, ui=True)
        return (uid, tr.trace_topic[e[2]], tr.trace_ids[e[2]], uid, e[0], workflow, ui)

    lo = bisect.bisect_left(w.gen_ts, ws)
    hi = bisect.bisect_left(w.gen_ts, we)
    phantoms: list[_Ev] = []
    if s.phantom_items:
        # The generation exactly at window_end is clustered but outside the window.
        phantoms = [edges.end] if edges.end is not None else []
        cands = w.gens[bisect.bisect_left(w.gen_ts, ws - _DAY) : lo]
        phantoms += rng.sample(cands, min(max(0, s.phantom_items - len(phantoms)), len(cands)))
    active = w.gens[lo:hi]
    forced = [edges.start] if edges.start is not None else []
    forced_ids = {e[3] for e in forced}
    pop = [e for e in active if e[3] not in forced_ids]
    k = _quota(s.max_samples - len(phantoms), len(active), len(forced), len(pop))
    items = [item(e) for e in rng.sample(pop, k) + forced]
    edges_out = forced + [e for e in phantoms[:1] if e[0] == we]
    phantom_items = [item(e) for e in phantoms]
    edge_ids = tuple(tr.uuid(e) for e in edges_out)
    return items + phantom_items, edge_ids, tuple(p[0] for p in phantom_items)


def _sample_evaluations(
    w: _World, ws: int, we: int, rng: random.Random
) -> tuple[list[_Item], tuple[str, ...], tuple[str, ...]]:
    s, tr = w.s, w.tr

    def item(ev: _Eval) -> _Item:
        # Evaluation runs have only baked metrics: one set of numbers, the job's.
        vals: _Vals = (ws <= ev.ts < we, ev.cost, ev.latency, ev.tokens, ev.error)
        return (ev.uuid, tr.trace_topic[ev.trace], tr.trace_ids[ev.trace], None, ev.ts, vals, vals)

    lo = bisect.bisect_left(w.eval_ts, ws)
    hi = bisect.bisect_left(w.eval_ts, we)
    phantoms: list[_Item] = []
    if s.phantom_items:
        cands = tr.evals[bisect.bisect_left(w.eval_ts, ws - _DAY) : lo]
        phantoms = [item(ev) for ev in rng.sample(cands, min(s.phantom_items, len(cands)))]
    k = _quota(s.max_samples - len(phantoms), hi - lo, 0, hi - lo)
    items = [item(ev) for ev in rng.sample(tr.evals[lo:hi], k)]
    return items + phantoms, (), tuple(p[0] for p in phantoms)


@dataclass(frozen=True)
class _RunPlan:
    job: Job
    index: int
    legacy: bool
    as_string: bool
    duplicate: bool


def _make_cluster(
    w: _World,
    rng: random.Random,
    cid: int,
    topic_i: int | None,
    members: list[_Item],
    legacy: bool,
    baked: bool,
) -> tuple[Row, ClusterTruth]:
    """One entry of `$ai_clusters` (PostHog's shape) and its ground truth."""
    rnd = rng.random
    if topic_i is None:
        title, desc, topic_key = NOISE_TITLE, NOISE_DESCRIPTION, None
        dist = [round(0.35 + rnd() * 0.6, 6) for _ in members]
        xs = [round(rng.uniform(-12.0, 12.0), 5) for _ in members]
        ys = [round(rng.uniform(-12.0, 12.0), 5) for _ in members]
        centroid: list[float] = []
        cx = round(sum(xs) / len(xs), 5)
        cy = round(sum(ys) / len(ys), 5)
        # Like PostHog: noise is ranked most anomalous first.
        order = sorted(range(len(members)), key=lambda j: -dist[j])
    else:
        tp = w.topics[topic_i]
        title = tp.titles[int(rnd() * len(tp.titles))]
        desc = tp.descriptions[int(rnd() * len(tp.descriptions))]
        topic_key = tp.key
        cx = round(rng.uniform(-9.0, 9.0), 5)
        cy = round(rng.uniform(-9.0, 9.0), 5)
        dist = [round(0.04 + abs(rng.gauss(0.0, 0.18)), 6) for _ in members]
        xs = [round(cx + rng.gauss(0.0, 1.1), 5) for _ in members]
        ys = [round(cy + rng.gauss(0.0, 1.1), 5) for _ in members]
        centroid = [round(rng.gauss(0.0, 0.12), 6) for _ in range(8)]
        order = sorted(range(len(members)), key=lambda j: dist[j])
    iso = w.clock.iso_us
    traces: Row = {}
    for rank, j in enumerate(order):
        it = members[j]
        entry: Row = {
            "distance_to_centroid": dist[j],
            "rank": rank,
            "x": xs[j],
            "y": ys[j],
            "timestamp": iso(it[4]),
        }
        if not legacy:
            entry["trace_id"] = it[2]
            entry["generation_id"] = it[3]
        traces[it[0]] = entry
    m = _cluster_metrics(it[5] for it in members)
    m_ui = _cluster_metrics(it[6] for it in members)
    cluster: Row = {
        "cluster_id": cid,
        "size": len(members),
        "title": title,
        "description": desc,
        "traces": traces,
        "centroid": centroid,
        "centroid_x": cx,
        "centroid_y": cy,
    }
    if baked:
        cluster["metrics"] = {k: m[k] for k in _BAKED_KEYS}
    truth = ClusterTruth(
        cluster_id=cid,
        topic=topic_key,
        title=title,
        description=desc,
        size=len(members),
        item_ids=tuple(members[j][0] for j in order),
        metrics=m,
        metrics_ui=m_ui,
    )
    return cluster, truth


def _build_run(
    w: _World, plan: _RunPlan, we_dt: datetime, edges: _Edges
) -> tuple[list[tuple[int, Row]], RunTruth]:
    s, job = w.s, plan.job
    level = job.level
    ws_dt = we_dt - timedelta(days=s.lookback_days)
    ws, we = _to_us(ws_dt), _to_us(we_dt)
    rng = random.Random(f"llmc-synth:{s.seed}:run:{level}:{job.job_id}:{plan.index}")
    rnd = rng.random
    items, edge_ids, phantom_ids = _sample_items(w, level, ws, we, edges, rng)

    # Cluster by topic; a share of items (and every too-small topic) is noise.
    by_topic: dict[int, list[_Item]] = {}
    noise: list[_Item] = []
    noise_share = s.noise_share_of(plan.index)
    for it in items:
        if rnd() < noise_share:
            noise.append(it)
        else:
            by_topic.setdefault(it[1], []).append(it)
    present: list[int] = []
    for t in sorted(by_topic):
        if len(by_topic[t]) < s.min_cluster_size:
            noise.extend(by_topic[t])
        else:
            present.append(t)
    rng.shuffle(present)

    legacy = plan.legacy
    baked = s.baked_metrics and not legacy
    groups: list[tuple[int, int | None, list[_Item]]] = [
        (cid, t, by_topic[t]) for cid, t in enumerate(present)
    ]
    if noise:
        groups.append((NOISE_CLUSTER_ID, None, noise))
    clusters: list[Row] = []
    truths: list[ClusterTruth] = []
    for cid, topic_i, members in sorted(groups, key=lambda g: (g[0] < 0, g[0])):
        cluster, truth_c = _make_cluster(w, rng, cid, topic_i, members, legacy, baked)
        clusters.append(cluster)
        truths.append(truth_c)

    stamp = we_dt.strftime("%Y%m%d_%H%M%S")
    total = len(items)
    props: Row
    if legacy:
        run_id = f"{s.team_id}_{stamp}"
        props = {
            "$ai_clustering_run_id": run_id,
            "$ai_window_start": ws_dt.isoformat(),
            "$ai_window_end": we_dt.isoformat(),
            "$ai_total_traces_analyzed": total,
            "$ai_clusters": clusters,
        }
        event, distinct_id = "$ai_trace_clusters", f"trace_clustering_{s.team_id}"
    else:
        run_id = f"{s.team_id}_{level}_{stamp}" + (f"_{job.job_id}" if job.job_id else "")
        props = {
            "$ai_clustering_run_id": run_id,
            "$ai_clustering_level": level,
            "$ai_clustering_job_id": job.job_id,
            "$ai_clustering_job_name": job.job_name,
            "$ai_window_start": iso_ms(ws_dt),
            "$ai_window_end": iso_ms(we_dt),
            "$ai_total_items_analyzed": total,
            "$ai_clusters": clusters,
            "$ai_clustering_params": {
                "clustering_method": "hdbscan",
                "min_cluster_size_fraction": 0.02,
                "hdbscan_min_samples": 5,
                "umap_n_components": 100,
                "umap_n_neighbors": 15,
                "umap_min_dist": 0.0,
                "max_samples": s.max_samples,
                "visualization_method": "umap",
            },
        }
        event, distinct_id = f"$ai_{level}_clusters", f"clustering_{level}_{s.team_id}"
    if plan.as_string:
        props["$ai_clusters"] = orjson.dumps(clusters).decode()
    clock = w.clock
    emitted = we + int((120 + rnd() * 600) * _US)
    rows: list[tuple[int, Row]] = []
    uuids: list[str] = []
    for n in range(2 if plan.duplicate else 1):
        ts = emitted + n * 60 * _US
        uid = _uuid4_rng(rng)
        p = props if n == 0 else orjson.loads(orjson.dumps(props))
        row = {
            "uuid": uid,
            "event": event,
            "timestamp": clock.iso_us(ts),
            "distinct_id": distinct_id,
            "properties": p,
        }
        rows.append((ts, row))
        uuids.append(uid)
    truth = RunTruth(
        run_id=run_id,
        level=level,
        job_id="" if legacy else job.job_id,
        job_name="" if legacy else job.job_name,
        window_start=ws_dt,
        window_end=we_dt,
        items_analyzed=total,
        clusters=tuple(truths),
        event_uuids=tuple(uuids),
        legacy=legacy,
        clusters_as_string=plan.as_string,
        baked=baked,
        edge_items=edge_ids,
        phantom_items=phantom_ids,
    )
    return rows, truth
