"""Cross-run identity measured on the held-out corpus (tests/data/identity/corpus.yaml).

Figures (run with `-s` to see them) for three regimes:

- text only: titles and descriptions, no item ids (a baseline file without
  fingerprints, or a source that did not load items);
- small team: PostHog clusters nearly all of a week's traces, so consecutive daily
  runs share most items (each item one run analysed is in the other's sample with
  probability 0.85);
- large team: 1,500 items sampled from ~100k traces a week, so consecutive runs share
  ~1% of their items (probability 0.01).

Items are simulated per pair: the items of a topic that both runs analysed sit in the
topic's cluster with probability 0.85 in each run (the rest in noise or a neighbour,
like `llmc_checks.synth`), and stray into a different topic's cluster with 0.02.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from llmc_checks import baseline_file, formatting, matching, synth
from llmc_checks._fingerprint import ITEM_SAMPLE_PARAM, item_key
from llmc_checks._lexicon import CONCEPTS
from llmc_checks._text import STOPWORDS, Vocabulary, stem, stems, words
from llmc_checks.model import BAKED_KEYS, Cluster, DataError, Run
from llmc_checks.report.cells import pairing_rows, why

T0 = datetime(2026, 11, 15, tzinfo=timezone.utc)
CORPUS = Path(__file__).parent / "data" / "identity" / "corpus.yaml"

# Share of a topic's items (among those both runs analysed) in its own cluster, and in
# a different topic's cluster.
IN_CLUSTER = 0.85
STRAY = 0.02
# Probability that an item one run analysed is also in the other run's sample.
SMALL_TEAM = 0.85
LARGE_TEAM = 0.01

Label = tuple[str, str]  # (title, description)


@dataclass(frozen=True)
class LabelPair:
    split: str  # "tune" | "held_out"
    same: bool
    a: Label
    b: Label
    topics: tuple[str, str]
    # The labels of the runs' other clusters: the other topics of the pair's domains,
    # each labelled once per run.
    context: tuple[Label, ...] = ()

    def vocabulary(self) -> Vocabulary:
        labels = [self.a, self.b, *self.context]
        return Vocabulary.of(stems(t) | stems(d) for t, d in labels)


def corpus_pairs() -> list[LabelPair]:
    doc = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    labels: dict[str, list[Label]] = {}
    split: dict[str, str] = {}
    for domain, body in {**doc["domains"], **doc["fresh"]}.items():
        for topic, labellings in body["topics"].items():
            key = f"{domain}/{topic}"
            labels[key] = [(str(t), str(d)) for t, d in labellings]
            split[key] = body["split"]

    def context(*keys: str) -> tuple[Label, ...]:
        domains = {k.split("/")[0] for k in keys}
        others = [k for k in labels if k.split("/")[0] in domains and k not in keys]
        return tuple(label for k in others for label in labels[k][:2])

    pairs: list[LabelPair] = []
    for key, ls in labels.items():
        for a, b in itertools.combinations(ls, 2):
            pairs.append(LabelPair(split[key], True, a, b, (key, key), context(key)))
    neighbours = [
        (k1, k2)
        for k1, k2 in itertools.combinations(labels, 2)
        if k1.split("/")[0] == k2.split("/")[0]
    ]
    for k1, k2 in [*neighbours, *(tuple(c) for c in doc["cross"])]:
        # A pair touching a held-out domain is held out.
        where = "tune" if split[k1] == split[k2] == "tune" else "held_out"
        around = context(k1, k2)
        for a, b in itertools.product(labels[k1], labels[k2]):
            pairs.append(LabelPair(where, False, a, b, (k1, k2), around))
    return pairs


def simulated_clusters(
    pair: LabelPair, overlap: float | None, rng: random.Random
) -> tuple[Cluster, Cluster, frozenset[str] | None]:
    """(latest, baseline, items both runs analysed) for `pair`'s labels.

    `overlap` None: no item ids at all. Otherwise each topic has 35-300 items in a
    run's sample, each of them analysed by the other run too with probability
    `overlap`; a shared item sits in its topic's cluster with IN_CLUSTER in each run
    and in a different topic's cluster with STRAY.
    """
    if overlap is None:
        baseline = Cluster(1, pair.a[0], pair.a[1], 100)
        return Cluster(2, pair.b[0], pair.b[1], 100), baseline, None
    topics = [("t", 0)] if pair.same else [("u", 0), ("v", 1)]
    in_a: list[str] = []
    in_b: list[str] = []
    analysed: list[str] = []
    for name, home in topics:
        for n in range(rng.randint(35, 300)):
            if rng.random() >= overlap:
                continue
            item = f"{name}{n}"
            analysed.append(item)
            # Same topic: home in both clusters. Different: A's topic (home 0) is at
            # home in A only, B's topic (home 1) in B only.
            for cluster, side in ((in_a, 0), (in_b, 1)):
                at_home = pair.same or home == side
                if rng.random() < (IN_CLUSTER if at_home else STRAY):
                    cluster.append(item)
    # Items only one run analysed fill the clusters to a realistic size.
    a = (*in_a, *(f"a{n}" for n in range(rng.randint(30, 250))))
    b = (*in_b, *(f"b{n}" for n in range(rng.randint(30, 250))))
    baseline = Cluster(1, pair.a[0], pair.a[1], len(a), a)
    latest = Cluster(2, pair.b[0], pair.b[1], len(b), b)
    return latest, baseline, frozenset(analysed) or None


@dataclass(frozen=True)
class Rates:
    same: float  # share of same-topic pairs judged stable
    different: float  # share of different-topic pairs judged changed
    n_same: int
    n_different: int


def rates(split: str, overlap: float | None, seed: int = 0) -> Rates:
    rng = random.Random(seed)
    right = {True: 0, False: 0}
    count = {True: 0, False: 0}
    for pair in corpus_pairs():
        if pair.split != split:
            continue
        latest, baseline, analysed = simulated_clusters(pair, overlap, rng)
        score = matching.judge(latest, baseline, analysed, pair.vocabulary()).score
        stable = score >= matching.DEFAULT_TITLE_THRESHOLD
        right[pair.same] += stable == pair.same
        count[pair.same] += 1
    return Rates(right[True] / count[True], right[False] / count[False], count[True], count[False])


# --- the corpus -------------------------------------------------------------------------


def test_corpus_has_the_pairs_it_promises() -> None:
    pairs = corpus_pairs()
    same = [p for p in pairs if p.same]
    different = [p for p in pairs if not p.same]
    assert len(same) >= 150 and len(different) >= 150
    held_out = [p for p in pairs if p.split == "held_out"]
    assert sum(p.same for p in held_out) >= 90 and sum(not p.same for p in held_out) >= 250

    # Many rewordings share no word stem in their titles, many different topics do.
    def raw(text: str) -> set[str]:
        return {stem(w) for w in words(text) if w not in STOPWORDS}

    no_shared = [p for p in same if not raw(p.a[0]) & raw(p.b[0])]
    sharing = [p for p in different if raw(p.a[0]) & raw(p.b[0])]
    assert len(no_shared) >= 100 and len(sharing) >= 100


def test_lexicon_words_belong_to_one_concept() -> None:
    """A stem listed under two concepts would silently join them; only a word listed
    as written may override another word's stem ("transcripts" / "transcriptions")."""
    owner: dict[tuple[str, ...], str] = {}
    clashes = []
    for line in CONCEPTS.strip().splitlines():
        head, _, body = line.partition(":")
        concept = head.split()[-1]
        for entry in body.split():
            key = tuple(stem(w) for w in entry.split("_"))
            if owner.setdefault(key, concept) != concept:
                clashes.append((entry, owner[key], concept))
    assert clashes == [
        ("transcript", "transcribe", "transcript"),
        ("transcripts", "transcribe", "transcript"),
    ]


# --- the text model -----------------------------------------------------------------------


def fit_text_model(pairs: list[LabelPair]) -> list[float]:
    """Class-balanced logistic regression (gradient descent, fixed start and steps) of
    same-topic on `matching.text_features`: the weights, then the bias."""
    np = pytest.importorskip("numpy")
    x = np.array([matching.text_features(*p.a, *p.b, vocabulary=p.vocabulary()) for p in pairs])
    y = np.array([p.same for p in pairs], dtype=float)
    x = np.hstack([x, np.ones((len(x), 1))])
    balance = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    w = np.zeros(x.shape[1])
    for _ in range(20_000):
        p = 1 / (1 + np.exp(-x @ w))
        w -= 2.0 * x.T @ ((p - y) * balance) / len(y)
    return [float(v) for v in w]


def test_text_model_is_the_fitted_one() -> None:
    """TEXT_WEIGHTS and TEXT_BIAS are this fit on the tuning half, rounded."""
    fitted = fit_text_model([p for p in corpus_pairs() if p.split == "tune"])
    shipped = [*matching.TEXT_WEIGHTS, matching.TEXT_BIAS]
    assert fitted == pytest.approx(shipped, abs=0.01)


# --- the figures ---------------------------------------------------------------------------


def test_small_team_targets_on_held_out() -> None:
    r = rates("held_out", SMALL_TEAM)
    print(f"\nheld out, small team: same {r.same:.1%} of {r.n_same}, different {r.different:.1%}")
    assert r.same >= 0.97 and r.different >= 0.99


def test_large_team_targets_on_tuning_domains() -> None:
    """Where the lexicon knows the domain's words, ~1% shared items and text reach
    the targets (measured 92.3% / 99.0%)."""
    r = rates("tune", LARGE_TEAM)
    print(f"\ntuning, large team: same {r.same:.1%} of {r.n_same}, different {r.different:.1%}")
    assert r.same >= 0.90 and r.different >= 0.98


@pytest.mark.xfail(
    strict=True,
    reason="measured 62% of same-topic pairs stable on held-out domains (98.5% of "
    "different ones changed): rewordings with no shared word in an unseen domain are "
    "beyond a lexical model, and ~1% shared items give evidence for ~60% of pairs",
)
def test_large_team_targets_on_held_out() -> None:
    r = rates("held_out", LARGE_TEAM)
    print(f"\nheld out, large team: same {r.same:.1%} of {r.n_same}, different {r.different:.1%}")
    assert r.same >= 0.90 and r.different >= 0.98


def test_large_team_on_held_out_as_measured() -> None:
    # Guards the figures quoted in the README against regressions.
    r = rates("held_out", LARGE_TEAM)
    assert r.same >= 0.60 and r.different >= 0.98


def test_text_only_as_measured() -> None:
    """No item ids (a baseline file without them): text alone. Measured 81.5% / 97.3%
    on the tuning domains, 33% / 95.9% on held-out ones."""
    tune, held = rates("tune", None), rates("held_out", None)
    print(
        f"\ntext only: tuning {tune.same:.1%} / {tune.different:.1%}, "
        f"held out {held.same:.1%} / {held.different:.1%}"
    )
    assert tune.same >= 0.80 and tune.different >= 0.97
    assert held.same >= 0.30 and held.different >= 0.95


# --- run pairs from the generator -------------------------------------------------------------


def as_run(truth: synth.RunTruth) -> Run:
    """The generator's run as a source reads it: items and baked behaviour."""
    clusters = tuple(
        Cluster(
            cluster_id=c.cluster_id,
            title=c.title,
            description=c.description,
            size=c.size,
            item_ids=c.item_ids,
            baked={BAKED_KEYS[k]: c.metrics[k] for k in ("avg_cost", "avg_latency", "avg_tokens")},
        )
        for c in truth.clusters
    )
    return Run(
        run_id=truth.run_id,
        level=truth.level,
        job_id=truth.job_id,
        job_name=truth.job_name,
        window_start=truth.window_start,
        window_end=truth.window_end,
        items_analyzed=truth.items_analyzed,
        clusters=clusters,
    )


def judged_runs(traces_per_day: int, seeds: range) -> tuple[int, int, float]:
    """(baseline clusters paired with their topic's cluster and judged stable, baseline
    clusters, mean share of items both runs analysed) over consecutive synth runs, each
    with a new topic taking 20% of the last day's traces (which must stay new)."""
    right = total = 0
    overlaps = []
    for seed in seeds:
        new = synth.NewTopic(synth.ALT_TOPICS[seed % len(synth.ALT_TOPICS)], 1, 0.2)
        scenario = synth.Scenario(
            seed=seed, days=2, traces_per_day=traces_per_day, new_topics=(new,)
        )
        baseline, latest = synth.generate(scenario).runs
        pairing = matching.pair_runs(as_run(latest), as_run(baseline))
        ours = {i for c in latest.clusters for i in c.item_ids}
        theirs = {i for c in baseline.clusters for i in c.item_ids}
        overlaps.append(len(ours & theirs) / len(theirs))
        for c in baseline.clusters:
            if c.topic is None:
                continue
            pair = pairing.for_baseline(c.cluster_id)
            want = latest.cluster_for(c.topic)
            total += 1
            right += (
                pair is not None
                and want is not None
                and pair.latest.cluster_id == want.cluster_id
                and not pair.renamed
            )
        fresh = latest.cluster_for(new.topic.key)
        assert fresh is not None
        paired = pairing.for_latest(fresh.cluster_id)
        assert paired is None or paired.renamed, paired
    return right, total, sum(overlaps) / len(overlaps)


def test_generator_runs_small_team() -> None:
    right, total, overlap = judged_runs(300, range(6))
    print(f"\nsynth, small team ({overlap:.0%} shared): {right}/{total} stable and right")
    assert overlap > 0.5 and right == total


def test_generator_runs_large_team() -> None:
    right, total, overlap = judged_runs(14_000, range(2))
    print(f"\nsynth, large team ({overlap:.1%} shared): {right}/{total} stable and right")
    assert overlap < 0.02 and right >= 0.9 * total


# --- baseline files keep a fingerprint ----------------------------------------------------------


def test_baseline_file_fingerprint_is_bounded_and_read_back(tmp_path: Path) -> None:
    baseline, _ = synth_pair(300, seed=3)
    big = replace(
        baseline,
        clusters=tuple(
            replace(c, item_ids=tuple(f"{i}-{n}" for n in range(3000)))
            for i, c in enumerate(baseline.clusters)
        ),
    )
    for run in (baseline, big):
        path = tmp_path / "baseline.json"
        baseline_file.write(path, run, "ui")
        doc = json.loads(path.read_text(encoding="utf-8"))
        every = sorted({item_key(i) for c in run.clusters for i in c.item_ids})
        # The keys at most the cutoff: the ITEM_SAMPLE smallest of the run, whatever its size.
        assert doc["item_sample"] == {
            "hash": "blake2b-48",
            "max": every[baseline_file.ITEM_SAMPLE - 1],
            "of_items": len(every),
        }
        kept = [k for c in doc["clusters"] for k in c["item_sample"].split()]
        assert sorted(kept) == every[: baseline_file.ITEM_SAMPLE]
        (back,) = baseline_file.read(path, "ui")
        assert back.params == {ITEM_SAMPLE_PARAM: doc["item_sample"]["max"]}
        by_id = {c.cluster_id: c for c in run.clusters}
        for c in back.clusters:
            want = {item_key(i) for i in by_id[c.cluster_id].item_ids}
            assert set(c.item_ids) == {k for k in want if k <= doc["item_sample"]["max"]}


def test_old_baseline_files_still_read(tmp_path: Path) -> None:
    baseline, _ = synth_pair(300, seed=3)
    path = tmp_path / "old.json"
    doc = json.loads(baseline_file.dumps(baseline, "ui"))
    del doc["item_sample"]
    for c in doc["clusters"]:
        del c["item_sample"]
    path.write_text(json.dumps(doc), encoding="utf-8")
    (back,) = baseline_file.read(path, "ui")
    assert back.params == {} and all(c.item_ids == () for c in back.clusters)
    doc["item_sample"] = {"hash": "md5", "max": "0" * 12}
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DataError, match="not a blake2b-48 sample"):
        baseline_file.read(path, "ui")


def synth_pair(traces_per_day: int, seed: int) -> tuple[Run, Run]:
    """(baseline, latest) of two consecutive synth runs, as a source reads them."""
    baseline, latest = synth.generate(
        synth.Scenario(seed=seed, days=2, traces_per_day=traces_per_day)
    ).runs
    return as_run(baseline), as_run(latest)


def test_a_baseline_file_pairs_by_items_like_the_run_itself(tmp_path: Path) -> None:
    """A small team's baseline file, a day old: its fingerprint gives the pairing item
    evidence (256 sampled keys, ~85% shared) where titles alone could not decide."""
    baseline, latest = synth_pair(300, seed=5)
    # Every latest cluster reworded beyond recognition: only items can pair them.
    strangers = replace(
        latest,
        clusters=tuple(
            replace(c, title=f"Pattern {n}", description="") for n, c in enumerate(latest.clusters)
        ),
    )
    path = tmp_path / "baseline.json"
    baseline_file.write(path, baseline, "ui")
    (from_file,) = baseline_file.read(path, "ui")
    direct = matching.pair_runs(strangers, baseline)
    filed = matching.pair_runs(strangers, from_file)
    want = sorted((p.baseline.cluster_id, p.latest.cluster_id) for p in direct.pairs)
    assert want == sorted((p.baseline.cluster_id, p.latest.cluster_id) for p in filed.pairs)
    assert len(want) == sum(not c.is_noise for c in baseline.clusters)
    assert matching.title_stability(filed) == 1.0
    for pair in filed.pairs:
        assert pair.evidence is not None and 0 < pair.evidence.sample_items < pair.latest.size
    # Without the fingerprint (an old file) the same titles pair nothing.
    old = replace(
        from_file, params={}, clusters=tuple(replace(c, item_ids=()) for c in from_file.clusters)
    )
    assert matching.pair_runs(strangers, old).pairs == ()


# --- the pairing table says why -----------------------------------------------------------


def test_pairing_rows_say_why() -> None:
    items = [f"t{i}" for i in range(10)]
    baseline = Run(
        "b",
        "trace",
        "j",
        "job",
        T0,
        T0,
        30,
        (
            Cluster(0, "Customer refund requests", "", 10, tuple(items)),
            Cluster(1, "Document summaries", "", 10),
            Cluster(2, "Invoice data extraction", "", 10),
        ),
    )
    latest = Run(
        "l",
        "trace",
        "j",
        "job",
        T0,
        T0,
        30,
        (
            Cluster(5, "Python debugging help", "", 10, tuple(items[:8])),
            Cluster(6, "Document translation", "", 10),
            Cluster(7, "Meeting scheduling", "", 10),
            Cluster(-1, "Outliers", "", 2, tuple(items[8:])),
        ),
    )
    rows = {
        r["change"] + ":" + (r["latest"] or r["baseline"])["title"]: r
        for r in pairing_rows(matching.pair_runs(latest, baseline))
    }
    # Both runs analysed t0..t9; 8 of them sit in cluster 5, 2 in the latest noise:
    # 8 hits, 2 misses, while the titles say nothing.
    stable = rows["stable:Python debugging help"]
    pair = matching.pair_runs(latest, baseline).pairs[0]
    assert pair.evidence is not None
    text = formatting.similarity(pair.evidence.text, 0.8)  # read as the similarity is
    assert stable["why"] == f"8 of 10 items shared, text {text}"
    assert stable["evidence"]["items_shared"] == 8 and stable["evidence"]["items_compared"] == 10
    # Summaries vs translation: the tasks contradict, nothing pairs them.
    assert rows["new:Document translation"]["why"] == "no baseline cluster matches"
    assert rows["vanished:Document summaries"]["why"] == "no latest cluster matches"
    assert why(pair, 0.8) == stable["why"]
