"""AI events over time: traces of generations, embeddings and spans, evaluations."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence

from llmc_checks.synth._base import (
    _DAY,
    _EMB,
    _GEN,
    _HOUR,
    _SPAN,
    _TRACE,
    _US,
    _Edges,
    _Ev,
    _Eval,
    _to_us,
    _Traffic,
    _uuid4,
    _uuid4_rng,
)
from llmc_checks.synth.scenario import Scenario
from llmc_checks.synth.topics import _ROOT_SPAN, Topic

# ---------------------------------------------------------------------------
# Traffic simulation
# ---------------------------------------------------------------------------


class _Regimes:
    """Which topics (with which parameters) a trace starting at a given time gets."""

    def __init__(self, s: Scenario, topics: list[Topic], first_end_us: int) -> None:
        self.s = s
        self.topics = topics
        self.index = {t.key: i for i, t in enumerate(topics)}
        self.first_end_us = first_end_us
        self._mix: dict[int, tuple[list[float], list[int], list[tuple[float, int]]]] = {}
        self._params: dict[tuple[int, int], tuple[float, float, float, float]] = {}

    def mix(self, day: int) -> tuple[list[float], list[int], list[tuple[float, int]]]:
        got = self._mix.get(day)
        if got is None:
            s = self.s
            switched = s.topics_change_day is not None and day >= s.topics_change_day
            base = s.topics_after if switched and s.topics_after else s.topics
            cum: list[float] = []
            total = 0.0
            for t in base:
                total += t.weight
                cum.append(total)
            idx = [self.index[t.key] for t in base]
            news: list[tuple[float, int]] = []
            acc = 0.0
            for n in s.new_topics:
                if day >= n.from_day:
                    acc += n.share
                    news.append((acc, self.index[n.topic.key]))
            got = (cum, idx, news)
            self._mix[day] = got
        return got

    def params(self, topic: int, day: int) -> tuple[float, float, float, float]:
        got = self._params.get((topic, day))
        if got is None:
            t = self.topics[topic]
            cost, lat, tok, err = t.cost, t.latency, float(t.tokens), t.error_rate
            for sh in self.s.shifts:
                if sh.topic == t.key and day >= sh.from_day:
                    cost *= sh.cost_factor
                    lat *= sh.latency_factor
                    tok *= sh.tokens_factor
                    if sh.error_rate is not None:
                        err = sh.error_rate
            got = (cost, lat, tok, err)
            self._params[(topic, day)] = got
        return got


def _simulate(s: Scenario, topics: list[Topic], start_us: int, stop_us: int) -> _Traffic:
    rng = random.Random(f"llmc-synth:{s.seed}:traffic")
    rnd = rng.random
    gauss = rng.gauss
    expo = rng.expovariate
    exp = math.exp
    first_end_us = _to_us(s.window_ends[0])
    regimes = _Regimes(s, topics, first_end_us)
    tr = _Traffic(salt=rng.getrandbits(64))
    getrandbits = rng.getrandbits
    events = tr.events
    n_users = max(20, s.traces_per_day // 3)
    model_index: dict[str, int] = {}
    for t in topics:
        for m in t.models:
            model_index.setdefault(m, len(model_index))
    tr.models = list(model_index)
    tr.topic_models = [[model_index[m] for m in t.models] for t in topics]
    span_rate, span_cost_rate = s.span_rate, s.span_cost_rate
    missing_cost_rate, trace_event_rate = s.missing_cost_rate, s.trace_event_rate
    root_span_rate, fractional_rate = s.root_span_rate, s.fractional_token_rate
    n_span_names = _ROOT_SPAN  # the names a wrapped step picks from (not the root's)
    seq = 0
    cur_day: int | None = None
    cum: list[float] = []
    idx: list[int] = []
    news: list[tuple[float, int]] = []
    params: list[tuple[float, float, float, float]] = []

    chunk = start_us
    while chunk < stop_us:
        chunk_end = min(chunk + _DAY, stop_us)
        width = chunk_end - chunk
        n = round(s.traces_per_day * width / _DAY)
        starts = sorted([chunk + int(rnd() * width) for _ in range(n)])
        for t0 in starts:
            day = (t0 - first_end_us) // _DAY + 1
            if day != cur_day:
                cur_day = day
                cum, idx, news = regimes.mix(day)
                params = [regimes.params(t, day) for t in range(len(topics))]
            topic = -1
            if news:
                r = rnd()
                for share, nt in news:
                    if r < share:
                        topic = nt
                        break
            if topic < 0:
                topic = idx[bisect.bisect_right(cum, rnd() * cum[-1])]
            tp = topics[topic]
            cost_m, lat_m, tok_m, err_p = params[topic]
            trace = len(tr.trace_ids)
            long_trace = rnd() < s.long_trace_rate
            free = rnd() < s.zero_cost_rate
            # Tokens drive cost (with some spread for the model mix); latency varies alone.
            f_tok = exp(0.3 * gauss(0.0, 1.0))
            trace_tok = tok_m * f_tok
            trace_cost = 0.0 if free else cost_m * f_tok * (0.8 + 0.4 * rnd())
            trace_lat = lat_m * exp(0.3 * gauss(0.0, 1.0))
            g = tp.generations
            n_gen = min(8, 1 + int(expo(1.0 / (g - 1.0)))) if g > 1.0 else 1
            ws = [rnd() + 0.3 for _ in range(n_gen)]
            wsum = sum(ws)
            models = tr.topic_models[topic]
            model = models[int(rnd() * len(models))]
            # Errors are decided up front: which generation, and where the flag lands.
            err_gen = err_span = -1
            err_emb = False
            if rnd() < err_p:
                k_err = int(rnd() * n_gen)
                r = rnd()
                if r < 0.2:
                    err_span = k_err  # a failing step whose generation succeeded
                elif r < 0.3:
                    err_emb = True
                else:
                    err_gen = k_err
                    if r < 0.65:
                        err_span = k_err  # the wrapping span fails with it
            evs: list[_Ev] = []
            cur = t0
            has_emb = rnd() < tp.embedding_rate
            if has_emb:
                for _ in range(2 if rnd() < 0.3 else 1):
                    etok = 150 + int(rnd() * 1200)
                    ecost = 0.0 if free else round(etok * 2e-8, 10)
                    elat = round(0.05 + rnd() * 0.3, 3)
                    evs.append((cur, _EMB, trace, seq, ecost, elat, etok, 0, err_emb, 0))
                    seq += 1
                    err_emb = False
                    cur += int(elat * _US) + int(rnd() * 20_000)
            elif err_emb:
                err_gen = int(rnd() * n_gen)
            last = cur
            for k in range(n_gen):
                w = ws[k] / wsum
                lat = round(max(0.05, trace_lat * w), 3)
                tok = max(8, int(trace_tok * w))
                itok = int(tok * (0.55 + 0.35 * rnd()))
                otok = tok - itok
                cost: float | None = round(trace_cost * w, 8)
                if rnd() < missing_cost_rate:
                    cost = None
                if k:
                    gap = expo(1.0 / 7200.0) if long_trace else 0.02 + rnd() * 0.4
                    cur += int((gap + lat) * _US)
                gen_err = k == err_gen
                if gen_err:
                    otok = 0
                    cost = None if cost is None else round(cost * 0.3, 8)
                # A pipeline that averaged a count: "812.5" is no Int for HogQL's toInt.
                in_tok: float = itok + 0.5 if rnd() < fractional_rate else itok
                evs.append((cur, _GEN, trace, seq, cost, lat, in_tok, otok, gen_err, model))
                seq += 1
                last = cur
                if rnd() < span_rate or k == err_span:
                    span_ts = cur + 1000 + int(rnd() * 20_000)
                    if rnd() < span_cost_rate:
                        scost, slat = cost, round(lat + 0.01 + rnd() * 0.2, 3)
                    else:
                        scost, slat = None, None
                    name = int(rnd() * n_span_names)
                    evs.append((span_ts, _SPAN, trace, seq, scost, slat, 0, 0, k == err_span, name))
                    seq += 1
                    last = span_ts
            if rnd() < root_span_rate:
                # The root span closes with the trace: its latency is the whole trace's
                # (longer than any generation's), its cost the trace's total again.
                dur = round((last - t0) / _US + 0.05, 3)
                root_cost = round(trace_cost, 8)
                evs.append((last, _SPAN, trace, seq, root_cost, dur, 0, 0, False, _ROOT_SPAN))
                seq += 1
            if rnd() < trace_event_rate:
                # The root event shares the last event's timestamp, so any window that
                # holds it also holds a counting event: it never decides activity.
                dur = round((last - t0) / _US + 0.05, 3)
                tcost = round(trace_cost, 8)
                evs.append((last, _TRACE, trace, seq, tcost, dur, 0, 0, False, 0))
                seq += 1
            tr.trace_ids.append(_uuid4(getrandbits(128)))
            tr.trace_topic.append(topic)
            tr.trace_user.append(int(rnd() * n_users))
            tr.trace_events.append(evs)
            tr.trace_first.append(t0)
            tr.trace_last.append(last)
            if last - t0 > tr.max_duration:
                tr.max_duration = last - t0
            events.extend(evs)
        chunk = chunk_end
    tr.next_seq = seq
    return tr


def _simulate_evals(s: Scenario, topics: list[Topic], tr: _Traffic) -> None:
    """Evaluation items (no AI events of their own): about one per two traces."""
    rng = random.Random(f"llmc-synth:{s.seed}:evals")
    rnd = rng.random
    for i, last in enumerate(tr.trace_last):
        if rnd() >= 0.5:
            continue
        ts = last + int((60 + rnd() * 1800) * _US)
        cost = round(0.0006 * rng.lognormvariate(0.0, 0.3), 8) if rnd() >= 0.05 else 0.0
        lat = round(1.2 * rng.lognormvariate(0.0, 0.3), 3)
        tok = int(900 * rng.lognormvariate(0.0, 0.3))
        err = rnd() < 0.02 + topics[tr.trace_topic[i]].error_rate / 2
        tr.evals.append(_Eval(ts, _uuid4_rng(rng), i, cost, lat, tok, err))
    tr.evals.sort(key=lambda e: e.ts)


def _add_edges(s: Scenario, tr: _Traffic, windows: Sequence[tuple[int, int]]) -> list[_Edges]:
    """Per window: a generation exactly at window_start, on a trace that otherwise
    ended just before it (it is active only through that event), and one exactly at
    window_end, on a trace active earlier in the window (it must not count)."""
    rng = random.Random(f"llmc-synth:{s.seed}:edges")
    used: set[int] = set()
    out: list[_Edges] = []

    def pick(lo_us: int, hi_us: int) -> int | None:
        lo = bisect.bisect_left(tr.trace_first, lo_us)
        hi = bisect.bisect_left(tr.trace_first, hi_us)
        cands = [i for i in range(lo, hi) if tr.trace_last[i] < hi_us and i not in used]
        if not cands:
            return None
        got = cands[int(rng.random() * len(cands))]
        used.add(got)
        return got

    def add(trace: int, ts: int, cost: float, lat: float, itok: int, otok: int) -> _Ev:
        model = tr.topic_models[tr.trace_topic[trace]][0]
        ev: _Ev = (ts, _GEN, trace, tr.take_seq(), cost, lat, itok, otok, True, model)
        tr.trace_events[trace].append(ev)
        tr.events.append(ev)
        tr.trace_last[trace] = max(tr.trace_last[trace], ts)
        tr.max_duration = max(tr.max_duration, tr.trace_last[trace] - tr.trace_first[trace])
        return ev

    for ws, we in windows:
        t1 = pick(ws - 2 * _HOUR, ws)
        t2 = pick(we - 2 * _HOUR, we)
        start = None if t1 is None else add(t1, ws, 0.0123, 1.5, 700, 300)
        end = None if t2 is None else add(t2, we, 0.25, 9.0, 9000, 3000)
        out.append(_Edges(start, end))
    return out
