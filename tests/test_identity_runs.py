"""Cross-run identity measured the way the gate uses it: whole runs paired by `pair_runs`.

Figures: `pytest tests/test_identity_runs.py -s` prints them; the tests assert them as
measured (and the targets of issue 11 where they are met).

tests/test_identity.py judges each corpus pair in isolation; the gate never does. It
pairs two runs one to one, so a cluster competes with every other cluster of both
runs. Here each domain of tests/data/identity/corpus.yaml is a product whose topics
are the clusters of two consecutive runs, each topic labelled independently in each
run (two different labellings of the corpus), with items simulated as in
tests/test_identity.py (shared with probability 0.85 for a small team, 0.01 for a
large team, none for text only).

Two kinds of run pair:

- steady: every topic of the domain in both runs. `same` = share of topics paired
  with their own counterpart and judged stable; `different` = share of the
  (latest, baseline) combinations of different topics not judged a stable pair.
- turnover: one topic of the domain vanished and another appeared: the baseline has
  no cluster of the new topic, the latest none of the vanished one. Neither is gone
  from the traffic at once (a run's window overlaps the previous one six days in
  seven): a topic without a cluster keeps a third of its items, all in noise or strayed
  into a neighbour (too few or too scattered for a cluster of their own).
  `replaced` = share of vanished topics not judged stable with any latest cluster:
  a daily gate must notice that a usage pattern went away, even when the one that
  came is its neighbour.

Runs here have 3-4 clusters (a domain's topics); PostHog's have up to ~50, with more
rivals for every cluster but mostly from unrelated domains.

Sizes: each topic has a share of the product's traffic (35-300 of a run's sampled
items, as in the pair-level simulation) that drifts by ~15% between the two runs
(traffic moves, and each run is a new sample); 85% of a topic's sampled items sit in
its cluster, 2% stray into each other topic's cluster, the rest are noise.
"""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from llmc_checks import matching
from llmc_checks.model import NOISE_CLUSTER_ID, Cluster, Run

T0 = datetime(2026, 11, 15, tzinfo=timezone.utc)
CORPUS = Path(__file__).parent / "data" / "identity" / "corpus.yaml"

IN_CLUSTER = 0.85
STRAY = 0.02
SMALL_TEAM = 0.85
LARGE_TEAM = 0.01
# Day-to-day drift of a topic's share of the sample (log-normal sigma).
SHARE_DRIFT = 0.15
# Share of its items a topic without a cluster in a run still has in that run.
FADED = 1 / 3
# Draws per domain: steady run pairs, and turnover run pairs per (vanished, new) topic.
STEADY_DRAWS = 12
TURNOVER_DRAWS = 2

Label = tuple[str, str]


@dataclass(frozen=True)
class Domain:
    name: str
    split: str  # "tune" | "held_out"
    topics: dict[str, tuple[Label, ...]]


def corpus_domains() -> list[Domain]:
    doc = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    return [
        Domain(
            name,
            body["split"],
            {t: tuple((str(a), str(b)) for a, b in ls) for t, ls in body["topics"].items()},
        )
        for name, body in {**doc["domains"], **doc["fresh"]}.items()
    ]


@dataclass(frozen=True)
class RunPair:
    latest: Run
    baseline: Run
    # Cluster id → topic, per run (noise has none).
    latest_topic: dict[int, str]
    baseline_topic: dict[int, str]


def simulate(
    domain: Domain,
    in_baseline: list[str],
    in_latest: list[str],
    overlap: float | None,
    rng: random.Random,
) -> RunPair:
    """Two runs of `domain`: `in_baseline` / `in_latest` topics, each labelled with a
    different labelling of its topic in the two runs; items as the module says
    (`overlap` None: no item ids)."""
    labels: dict[tuple[str, str], Label] = {}
    for topic in sorted({*in_baseline, *in_latest}):
        a, b = rng.sample(domain.topics[topic], 2)
        labels["b", topic], labels["l", topic] = a, b
    base = {t: rng.randint(35, 300) for t in sorted({*in_baseline, *in_latest})}
    # Sampled items per topic and run: the topic's share drifts between the runs.
    topics_of = {"b": in_baseline, "l": in_latest}
    counts = {
        (side, t): round(
            base[t] * rng.lognormvariate(0.0, SHARE_DRIFT) * (1 if t in topics_of[side] else FADED)
        )
        for side in ("b", "l")
        for t in base
    }
    members: dict[tuple[str, str], list[str]] = {
        (side, t): [] for side, topics in (("b", in_baseline), ("l", in_latest)) for t in topics
    }
    noise: dict[str, list[str]] = {"b": [], "l": []}

    def place(side: str, topic: str, item: str) -> None:
        if topic in topics_of[side] and rng.random() < IN_CLUSTER:
            members[side, topic].append(item)
            return
        for other in topics_of[side]:
            if other != topic and rng.random() < STRAY:
                members[side, other].append(item)
                return
        noise[side].append(item)

    for topic in sorted(base):
        nb, nl = counts["b", topic], counts["l", topic]
        # Items both runs sampled: each of the smaller side's with probability `overlap`.
        shared = (
            sum(rng.random() < overlap for _ in range(min(nb, nl)))
            if overlap is not None and nb and nl
            else 0
        )
        for n in range(shared):
            item = f"{topic}-s{n}"
            place("b", topic, item)
            place("l", topic, item)
        for side, count in (("b", nb), ("l", nl)):
            for n in range(count - shared):
                place(side, topic, f"{topic}-{side}{n}")

    def run(side: str) -> tuple[Run, dict[int, str]]:
        clusters = []
        topic_of = {}
        for cid, topic in enumerate(topics_of[side]):
            items = tuple(members[side, topic])
            title, description = labels[side, topic]
            clusters.append(
                Cluster(cid, title, description, len(items), items if overlap is not None else ())
            )
            topic_of[cid] = topic
        items = tuple(noise[side])
        clusters.append(
            Cluster(
                NOISE_CLUSTER_ID,
                "Outliers",
                "",
                len(items),
                items if overlap is not None else (),
            )
        )
        total = sum(c.size for c in clusters)
        return Run(side, "trace", "j", "job", T0, T0, total, tuple(clusters)), topic_of

    (baseline, b_topic), (latest, l_topic) = run("b"), run("l")
    return RunPair(latest, baseline, l_topic, b_topic)


@dataclass
class Tally:
    same: int = 0
    n_same: int = 0
    different: int = 0
    n_different: int = 0
    replaced: int = 0
    n_replaced: int = 0

    def rate(self, kind: str) -> float:
        n = getattr(self, "n_" + kind)
        return getattr(self, kind) / n if n else float("nan")

    def text(self) -> str:
        out = (
            f"same {self.rate('same'):.1%} of {self.n_same}, different "
            f"{self.rate('different'):.1%} of {self.n_different}"
        )
        if self.n_replaced:
            out += f", replaced {self.rate('replaced'):.1%} of {self.n_replaced}"
        return out


def judge_runs(pair: RunPair, tally: Tally) -> None:
    """Add `pair`'s outcomes to `tally`."""
    pairing = matching.pair_runs(pair.latest, pair.baseline)
    stable = {
        (pair.latest_topic[p.latest.cluster_id], pair.baseline_topic[p.baseline.cluster_id])
        for p in pairing.pairs
        if not p.renamed
    }
    latest_topics = set(pair.latest_topic.values())
    for b_topic in pair.baseline_topic.values():
        if b_topic in latest_topics:
            tally.n_same += 1
            tally.same += (b_topic, b_topic) in stable
        else:
            tally.n_replaced += 1
            tally.replaced += not any(b == b_topic for _, b in stable)
        for l_topic in latest_topics - {b_topic}:
            tally.n_different += 1
            tally.different += (l_topic, b_topic) not in stable


@functools.cache
def run_rates(split: str, overlap: float | None, seed: int = 0) -> tuple[Tally, Tally]:
    """(steady, turnover) tallies over the `split` domains."""
    rng = random.Random(seed)
    steady, turnover = Tally(), Tally()
    for domain in corpus_domains():
        if domain.split != split:
            continue
        topics = sorted(domain.topics)
        for _ in range(STEADY_DRAWS):
            judge_runs(simulate(domain, topics, topics, overlap, rng), steady)
        for gone, came in itertools.permutations(topics, 2):
            in_baseline = [t for t in topics if t != came]
            in_latest = [t for t in topics if t != gone]
            for _ in range(TURNOVER_DRAWS):
                judge_runs(simulate(domain, in_baseline, in_latest, overlap, rng), turnover)
    return steady, turnover


@dataclass(frozen=True)
class Figures:
    same: float  # steady runs: topics paired with their counterpart and stable
    different: float  # steady and turnover runs: different-topic combinations not stable
    replaced: float  # turnover runs: vanished topics not stable with any latest cluster


def figures(regime: str, split: str) -> Figures:
    steady, turnover = run_rates(split, REGIMES[regime])
    different = (steady.different + turnover.different) / (
        steady.n_different + turnover.n_different
    )
    print(f"\n{regime}, {split}: steady {steady.text()}; turnover {turnover.text()}")
    return Figures(steady.rate("same"), different, turnover.rate("replaced"))


REGIMES = {"small team": SMALL_TEAM, "large team": LARGE_TEAM, "text only": None}


# --- the simulation is what it says ------------------------------------------------------


@pytest.mark.parametrize("overlap", [SMALL_TEAM, LARGE_TEAM])
def test_simulated_runs_share_items_as_the_regime_says(overlap: float) -> None:
    rng = random.Random(1)
    shared = total = 0
    for domain in corpus_domains()[:12]:
        topics = sorted(domain.topics)
        pair = simulate(domain, topics, topics, overlap, rng)
        ours = {i for c in pair.latest.clusters for i in c.item_ids}
        theirs = {i for c in pair.baseline.clusters for i in c.item_ids}
        shared += len(ours & theirs)
        total += len(ours)
        # Every topic is a cluster of both runs, labelled differently in each.
        assert sorted(pair.latest_topic.values()) == sorted(pair.baseline_topic.values())
        assert sorted(pair.baseline_topic.values()) == topics
        for latest in pair.latest.clusters:
            if latest.is_noise:
                continue
            topic = pair.latest_topic[latest.cluster_id]
            (baseline,) = (
                c for c in pair.baseline.clusters if pair.baseline_topic.get(c.cluster_id) == topic
            )
            assert (latest.title, latest.description) != (baseline.title, baseline.description)
            assert {
                (latest.title, latest.description),
                (baseline.title, baseline.description),
            } <= set(domain.topics[topic])
    # The smaller side's items are shared with probability `overlap`; sizes drift.
    assert shared / total == pytest.approx(overlap, rel=0.25)


def test_turnover_runs_lack_one_topic_each() -> None:
    domain = corpus_domains()[0]
    topics = sorted(domain.topics)
    gone, came = topics[0], topics[1]
    pair = simulate(
        domain,
        [t for t in topics if t != came],
        [t for t in topics if t != gone],
        SMALL_TEAM,
        random.Random(2),
    )
    assert gone in pair.baseline_topic.values() and gone not in pair.latest_topic.values()
    assert came in pair.latest_topic.values() and came not in pair.baseline_topic.values()
    # The vanished topic's items linger in the latest run, in noise or a neighbour.
    noise = next(c for c in pair.latest.clusters if c.is_noise)
    assert any(i.startswith(f"{gone}-") for i in noise.item_ids)


# --- the figures ---------------------------------------------------------------------------


def test_small_team_runs_meet_the_targets_on_held_out() -> None:
    f = figures("small team", "held_out")
    assert f.same >= 0.97 and f.different >= 0.99 and f.replaced >= 0.99


def test_large_team_runs_meet_the_targets_on_tuning_domains() -> None:
    """Measured 91.0% / 99.7% (replaced 97.8%)."""
    f = figures("large team", "tune")
    assert f.same >= 0.90 and f.different >= 0.98 and f.replaced >= 0.97


@pytest.mark.xfail(
    strict=True,
    reason="measured 62.5% of held-out topics paired with their counterpart and stable "
    "at ~1% shared items (99.4% of different-topic combinations and 97.5% of replaced "
    "topics judged changed): the pair-level model's miss, seen by the gate",
)
def test_large_team_runs_meet_the_targets_on_held_out() -> None:
    """The different-topic target holds for replaced topics too: nearly every
    different-topic combination is easy in a run (one-to-one pairing keeps it apart), so
    a model that calls more pairs stable can reach 98% there while missing every fourth
    replaced topic (measured by raising the text model's bias)."""
    f = figures("large team", "held_out")
    assert f.same >= 0.90 and f.different >= 0.98 and f.replaced >= 0.98


def test_large_team_runs_on_held_out_as_measured() -> None:
    # Guards the figures quoted in the README against regressions.
    f = figures("large team", "held_out")
    assert f.same >= 0.60 and f.different >= 0.98 and f.replaced >= 0.95


def test_text_only_runs_as_measured() -> None:
    """Measured 84.0% / 99.4% / 96.8% on tuning domains, 30.0% / 96.3% / 89.2% held out."""
    tune, held = figures("text only", "tune"), figures("text only", "held_out")
    assert tune.same >= 0.82 and tune.different >= 0.98 and tune.replaced >= 0.95
    assert held.same >= 0.28 and held.different >= 0.95 and held.replaced >= 0.87
