"""Pair the clusters of two runs and judge which still are the same usage pattern.

Cluster ids, coordinates and distances are not comparable across runs (each run
fits its own HDBSCAN/UMAP), so a cluster's identity across runs rests on what
survives a refit:

- shared items. Consecutive daily runs overlap six days of seven, but each samples
  at most 1500 items: a small team's consecutive runs share most items, a large
  team's (1,500 of ~100k traces a week) about 1%. Membership is compared *within the
  items both runs analysed*, as evidence that grows with their number: each such item
  that sits in both clusters is a hit, each that sits in only one a miss.
- the title and the description, written afresh by an LLM every run: lexicon
  concepts and word stems (`llmc_checks._text`), scored by a small logistic model
  fitted on the tuning half of tests/data/identity/corpus.yaml.
- behaviour (cost, latency and tokens per item): only a tie-break between otherwise
  equal partners. A deploy that doubles a topic's cost is what the gate must catch,
  so behaviour may never decide that it is another topic.

Both kinds of evidence add up as log-odds; `Evidence.score` is the resulting
probability that the two clusters are one usage pattern. Pairing is a one-to-one
optimal assignment over that score (`llmc_checks._assign`); a pair scoring at least
the title threshold is *stable*, a weaker pair *changed* (`Pair.renamed`), below
`min_similarity` no pair at all. Noise never pairs. A baseline file's items are a
hash sample (`llmc_checks._fingerprint`); the other run is compared through the same
sample. Everything here is pure: two `Run`s in, a `Pairing` and numbers out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from llmc_checks._fingerprint import ITEM_SAMPLE_PARAM, item_key
from llmc_checks._text import (
    CONCEPT_PREFIX,
    MIN_PREFIX_STEM,
    Vocabulary,
    contradict,
    covered,
    has_text,
    label_tokens,
    stem_similarity,
    stems,
    subject,
    weight,
)
from llmc_checks.metrics_catalog import DEFAULT_TITLE_THRESHOLD as DEFAULT_TITLE_THRESHOLD
from llmc_checks.model import Cluster, DataError, Run

# Below this a candidate is no pair at all: both clusters stay new / vanished.
DEFAULT_MIN_SIMILARITY = 0.5

# The text model: log-odds = Σ weight · feature + bias over the features of
# `text_features`. Class-balanced logistic regression on the tuning half of the
# corpus (tests/test_identity.py::test_text_model_is_the_fitted_one refits it).
TEXT_WEIGHTS = (0.81, 8.99, 5.8, 2.62, 4.83, -13.02)
TEXT_BIAS = -3.31
# The most certain text can be: 0.98.
TEXT_MAX_LOGIT = 4.0

# Item evidence: an item both runs analysed that sits in one cluster lands in the
# same pattern's cluster of the other run with probability ~SAME_HIT (the rest go to
# noise or a neighbour), and in another pattern's cluster with ~OTHER_HIT.
SAME_HIT = 0.7
OTHER_HIT = 0.02
_HIT = math.log(SAME_HIT / OTHER_HIT)
_MISS = math.log((1 - SAME_HIT) / (1 - OTHER_HIT))

# Behaviour only reorders near-equal candidates: a share of the score too small to
# outweigh any real evidence.
BEHAVIOUR_TIE_BREAK = 0.01
_BEHAVIOUR_STATS = ("avg_cost_usd", "avg_latency_s", "avg_tokens")

# Real runs have at most ~50 clusters (PostHog's minimum cluster size is 2% of the
# sample). Past this many on one side pairing is refused: no PostHog run looks like
# that, and time grows with size (1,000 a side takes seconds, bounded memory).
MAX_CLUSTERS = 1000
# Candidate pairs come from shared words and items; a word more baseline clusters
# than this use links no pair by itself, and in runs bigger than this (never a real
# one) a cluster is scored against this many best candidates only.
MAX_SHARED_KEY = 64


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a pair was judged as it was."""

    # Probability from the titles and descriptions alone.
    text: float
    # Probability from all evidence (text and shared items): the pair's score.
    score: float
    title: float
    description: float
    # The titles name disjoint tasks or languages ("summaries" / "translation").
    contradiction: bool = False
    # Items in both clusters, and items of either cluster among those both runs
    # analysed (0: no item evidence).
    shared_items: int = 0
    sample_items: int = 0
    # Closeness of cost / latency / tokens per item in (0, 1]; None without stats.
    behaviour: float | None = None

    @property
    def item_share(self) -> float | None:
        """Share of the pair's items (among those both runs analysed) in both clusters."""
        return self.shared_items / self.sample_items if self.sample_items else None


@dataclass(frozen=True, slots=True)
class Pair:
    """A latest-run cluster and the baseline cluster it continues."""

    latest: Cluster
    baseline: Cluster
    # The score the assignment maximised, in [0, 1] (`Evidence.score`).
    similarity: float
    title_similarity: float
    # Paired, but not judged the same usage pattern (below `Pairing.title_threshold`).
    renamed: bool
    description_similarity: float = 0.0
    # Dice coefficient of the two clusters' items among those both runs analysed;
    # None when there was no item evidence for this pair.
    item_similarity: float | None = None
    evidence: Evidence | None = None


@dataclass(frozen=True, slots=True)
class Pairing:
    pairs: tuple[Pair, ...]
    # Latest-run non-noise clusters with no counterpart.
    new: tuple[Cluster, ...]
    # Baseline non-noise clusters with no counterpart.
    vanished: tuple[Cluster, ...]
    title_threshold: float = DEFAULT_TITLE_THRESHOLD
    latest_run_id: str = ""
    baseline_run_id: str = ""

    def for_latest(self, cluster_id: int) -> Pair | None:
        """The pair holding the latest run's cluster `cluster_id`, if any."""
        return next((p for p in self.pairs if p.latest.cluster_id == cluster_id), None)

    def for_baseline(self, cluster_id: int) -> Pair | None:
        """The pair holding the baseline's cluster `cluster_id`, if any."""
        return next((p for p in self.pairs if p.baseline.cluster_id == cluster_id), None)


def title_similarity(a: str, b: str) -> float:
    """How alike two cluster titles are, in [0, 1]: weighted Dice of their tokens.

    Lexicon synonyms count as one token ("Small talk" / "Greeting messages");
    generic words ("requests", "help") weigh little. A placeholder title scores 0.
    """
    return stem_similarity(stems(a), stems(b))


def description_similarity(a: str, b: str) -> float:
    """Like `title_similarity`, for descriptions (longer, so scores run lower)."""
    return stem_similarity(stems(a), stems(b))


def text_features(
    title_a: str,
    description_a: str,
    title_b: str,
    description_b: str,
    vocabulary: Vocabulary | None = None,
) -> tuple[float, ...]:
    """The text model's features of two labels, each in [0, 1] (see TEXT_WEIGHTS).

    `vocabulary`: the labels of both runs, to weigh down words every cluster uses.
    """
    w = vocabulary.weight if vocabulary is not None else weight
    ta, tb = stems(title_a), stems(title_b)
    da, db = stems(description_a), stems(description_b)
    # How much of each title's subject the other label (title or description) speaks
    # of ("Appointment booking" / "Flight booking" share only the task), and of the
    # whole title. A title without a subject is neutral.
    sa, sb = subject(ta), subject(tb)
    full_a, full_b = label_tokens(title_a, description_a), label_tokens(title_b, description_b)
    on_a = covered(sa, full_b, w) if sa else 0.5
    on_b = covered(sb, full_a, w) if sb else 0.5
    title = stem_similarity(ta, tb, w)
    # A missing description says nothing: it counts as agreeing as much as the titles.
    description = stem_similarity(da, db, w) if da and db else title
    return (
        title,
        description,
        min(on_a, on_b),
        max(on_a, on_b),
        min(covered(ta, full_b, w), covered(tb, full_a, w)),
        float(contradict(ta, tb)),
    )


def text_evidence(
    title_a: str,
    description_a: str,
    title_b: str,
    description_b: str,
    vocabulary: Vocabulary | None = None,
) -> tuple[float, float, float, bool]:
    """(log-odds that two labels name one usage pattern, title and description
    similarity, whether the titles contradict each other)."""
    features = text_features(title_a, description_a, title_b, description_b, vocabulary)
    logit = TEXT_BIAS + sum(w * f for w, f in zip(TEXT_WEIGHTS, features, strict=True))
    clash = bool(features[5])
    # Titles asking for disjoint tasks or languages ("Document summaries" / "Document
    # translation") are different usage patterns, whatever else they share: only
    # shared items can still pair them. And text is never certain (one run can hold
    # two clusters labelled alike), so items that say otherwise can outweigh it.
    logit = min(logit, TEXT_BIAS if clash else TEXT_MAX_LOGIT)
    return logit, features[0], features[1], clash


def item_evidence(shared: int, sample: int) -> float:
    """Log-odds from items: `shared` in both clusters of `sample` in either."""
    return shared * _HIT + (sample - shared) * _MISS


def judge(
    latest: Cluster,
    baseline: Cluster,
    analysed: frozenset[str] | None = None,
    vocabulary: Vocabulary | None = None,
) -> Evidence:
    """All evidence that `latest` continues `baseline`; `analysed` = the item ids both
    runs analysed (None: no item evidence), `vocabulary` = `label_vocabulary` of the
    two runs."""
    if not analysed:
        return _judge(latest, baseline, frozenset(), frozenset(), vocabulary)
    ours = analysed.intersection(latest.item_ids)
    theirs = analysed.intersection(baseline.item_ids)
    return _judge(latest, baseline, ours, theirs, vocabulary)


def _judge(
    latest: Cluster,
    baseline: Cluster,
    ours: frozenset[str],
    theirs: frozenset[str],
    vocabulary: Vocabulary | None,
) -> Evidence:
    """`judge`, given each cluster's items among those both runs analysed."""
    logit, title, description, clash = text_evidence(
        latest.title, latest.description, baseline.title, baseline.description, vocabulary
    )
    text_logit = logit if has_text(latest.title) and has_text(baseline.title) else TEXT_BIAS
    shared = len(ours & theirs)
    sample = len(ours) + len(theirs) - shared
    total = text_logit + item_evidence(shared, sample)
    return Evidence(
        text=_sigmoid(text_logit),
        score=_sigmoid(total),
        title=title,
        description=description,
        contradiction=clash,
        shared_items=shared,
        sample_items=sample,
        behaviour=behaviour_similarity(latest, baseline),
    )


def label_vocabulary(clusters: Iterable[Cluster]) -> Vocabulary:
    """Token frequencies over the labels (title and description) of `clusters`."""
    return Vocabulary.of(label_tokens(c.title, c.description) for c in clusters)


def behaviour_similarity(a: Cluster, b: Cluster) -> float | None:
    """exp(−mean |ln(a/b)|) over cost, latency and tokens per item; None without them."""
    gaps = []
    for name in _BEHAVIOUR_STATS:
        x, y = _stat(a, name), _stat(b, name)
        if x is not None and y is not None and x > 0 and y > 0:
            gaps.append(abs(math.log(x / y)))
    return math.exp(-sum(gaps) / len(gaps)) if gaps else None


def pair_runs(
    latest: Run,
    baseline: Run,
    *,
    title_threshold: float = DEFAULT_TITLE_THRESHOLD,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> Pairing:
    """Pair the non-noise clusters of `latest` with those of `baseline`, one to one.

    Maximises the total score over all pairs whose score reaches `min_similarity`;
    the rest are new / vanished. Raises DataError past MAX_CLUSTERS on a side.
    """
    _check_fraction("title_threshold", title_threshold)
    _check_fraction("min_similarity", min_similarity)
    ours = _sorted_clusters(latest)
    theirs = _sorted_clusters(baseline)
    for run, clusters in ((latest, ours), (baseline, theirs)):
        if len(clusters) > MAX_CLUSTERS:
            raise DataError(
                f"run {run.run_id} has {len(clusters):,} clusters; cross-run pairing "
                f"handles at most {MAX_CLUSTERS:,} (PostHog's runs have at most ~50)"
            )
    # Each cluster's items among those both runs analysed, once per cluster.
    items_of, analysed = _items_both_analysed(latest, baseline)
    vocabulary = label_vocabulary([*ours, *theirs])
    candidates: dict[tuple[int, int], Pair] = {}
    weights: dict[tuple[int, int], float] = {}
    for i, j in _candidate_pairs(ours, theirs, items_of):
        pair = _pair(ours[i], theirs[j], items_of, analysed, vocabulary, title_threshold)
        if pair.similarity >= min_similarity:
            candidates[i, j] = pair
            tie_break = pair.evidence.behaviour if pair.evidence else None
            weights[i, j] = pair.similarity + BEHAVIOUR_TIE_BREAK * (tie_break or 0.0)
    from llmc_checks._assign import maximize

    pairs = [candidates[key] for key in maximize(weights)]
    paired_latest = {p.latest.cluster_id for p in pairs}
    paired_baseline = {p.baseline.cluster_id for p in pairs}
    return Pairing(
        pairs=tuple(sorted(pairs, key=lambda p: _by_size(p.baseline))),
        new=tuple(sorted((c for c in ours if c.cluster_id not in paired_latest), key=_by_size)),
        vanished=tuple(
            sorted((c for c in theirs if c.cluster_id not in paired_baseline), key=_by_size)
        ),
        title_threshold=title_threshold,
        latest_run_id=latest.run_id,
        baseline_run_id=baseline.run_id,
    )


def title_stability(pairing: Pairing, title_threshold: float | None = None) -> float | None:
    """Size-weighted share of the baseline's clusters that are still the same pattern.

    A baseline cluster is stable when it is paired and the pair's score (text and
    shared items) reaches `title_threshold` (default: the pairing's). Vanished
    clusters are unstable. Weights are baseline sizes; if every size is 0 each cluster weighs the
    same. None when the baseline has no non-noise cluster.
    """
    threshold = pairing.title_threshold if title_threshold is None else title_threshold
    _check_fraction("title_threshold", threshold)
    outcomes = [(p.baseline, p.similarity >= threshold) for p in pairing.pairs]
    outcomes += [(c, False) for c in pairing.vanished]
    if not outcomes:
        return None
    total = sum(c.size for c, _ in outcomes)
    if total == 0:
        return sum(stable for _, stable in outcomes) / len(outcomes)
    return sum(c.size for c, stable in outcomes if stable) / total


def new_cluster_share(pairing: Pairing, latest: Run) -> float | None:
    """Share of the latest run's items that sit in new clusters.

    The denominator is every item the run analysed, noise included, so this reads
    like `noise_share` ("x% of today's traffic is in topics we had not seen").
    It is `items_analyzed`, or the sum of all cluster sizes when that is larger
    (inconsistent data must not yield a share above 1). None when the run is empty.
    """
    _check_run(pairing.latest_run_id, latest, "latest")
    denominator = max(latest.items_analyzed, sum(c.size for c in latest.clusters))
    if denominator <= 0:
        return None
    return sum(c.size for c in pairing.new) / denominator


def size_drift(pairing: Pairing, latest: Run, baseline: Run) -> float | None:
    """Jensen–Shannon distance (base 2, in [0, 1]) between the paired clusters' sizes.

    Each side's distribution is its paired clusters' sizes normalised to sum 1, so
    the metric isolates how traffic moved *between persisting topics*; topics that
    appeared or vanished are what `new_cluster_share` and `title_stability` measure.
    0 = same proportions, 1 = disjoint. None when nothing paired or a side is all 0.
    """
    _check_run(pairing.latest_run_id, latest, "latest")
    _check_run(pairing.baseline_run_id, baseline, "baseline")
    p = _shares([pair.latest.size for pair in pairing.pairs])
    q = _shares([pair.baseline.size for pair in pairing.pairs])
    if p is None or q is None:
        return None
    return jensen_shannon_distance(p, q)


def jensen_shannon_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """sqrt of the base-2 Jensen–Shannon divergence of two distributions (each sums to 1)."""
    if len(p) != len(q):
        raise ValueError("distributions differ in length")
    divergence = 0.0
    for pi, qi in zip(p, q, strict=True):
        mi = (pi + qi) / 2
        # 0 · log 0 = 0; mi > 0 whenever pi or qi is.
        if pi > 0:
            divergence += pi * math.log2(pi / mi) / 2
        if qi > 0:
            divergence += qi * math.log2(qi / mi) / 2
    # Rounding can leave the divergence a hair outside [0, 1].
    return math.sqrt(min(1.0, max(0.0, divergence)))


# --- helpers ----------------------------------------------------------------------------


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {value}")


def _check_run(expected_id: str, run: Run, side: str) -> None:
    # A pairing holds clusters, not runs; passing the wrong run would silently mix them.
    if expected_id and run.run_id != expected_id:
        raise ValueError(f"pairing was made for {side} run {expected_id}, not {run.run_id}")


def _shares(sizes: Sequence[int]) -> list[float] | None:
    total = sum(sizes)
    return [s / total for s in sizes] if total > 0 else None


def _by_size(cluster: Cluster) -> tuple[int, int]:
    return (-cluster.size, cluster.cluster_id)


def _sorted_clusters(run: Run) -> list[Cluster]:
    # Sorted so that ties in the assignment resolve the same way whatever the input order.
    return sorted((c for c in run.clusters if not c.is_noise), key=lambda c: c.cluster_id)


def _items_both_analysed(
    latest: Run, baseline: Run
) -> tuple[dict[int, frozenset[str]], frozenset[str] | None]:
    """Each cluster's items among those both runs analysed (noise included), and those
    items; None when there is no such evidence (a side without item ids, or runs whose
    windows share no sampled item).

    A baseline file carries only the keys of a consistent hash sample of its items
    (`item_key` at most its cutoff): the other run's items are then compared the same
    way, so the evidence is that of the sample.
    """
    cutoff = next(
        (
            str(r.params[ITEM_SAMPLE_PARAM])
            for r in (baseline, latest)
            if ITEM_SAMPLE_PARAM in r.params
        ),
        None,
    )

    def ids(run: Run, cluster: Cluster) -> frozenset[str]:
        if cutoff is None or ITEM_SAMPLE_PARAM in run.params:
            return frozenset(cluster.item_ids)
        return frozenset(k for k in map(item_key, cluster.item_ids) if k <= cutoff)

    raw = {id(c): ids(r, c) for r in (latest, baseline) for c in r.clusters}
    ours = frozenset().union(*(raw[id(c)] for c in latest.clusters))
    theirs = frozenset().union(*(raw[id(c)] for c in baseline.clusters))
    analysed = ours & theirs
    return {k: v & analysed for k, v in raw.items()}, analysed or None


def _item_similarity(ours: frozenset[str], theirs: frozenset[str]) -> float | None:
    """Dice coefficient of two clusters' items within the items both runs analysed.

    None when neither cluster has a shared item (e.g. a topic seen only on the day
    that left the window): absence of evidence, not evidence of difference.
    """
    if not ours and not theirs:
        return None
    return 2 * len(ours & theirs) / (len(ours) + len(theirs))


def _pair(
    latest: Cluster,
    baseline: Cluster,
    items_of: dict[int, frozenset[str]],
    analysed: frozenset[str] | None,
    vocabulary: Vocabulary,
    title_threshold: float,
) -> Pair:
    ours, theirs = items_of[id(latest)], items_of[id(baseline)]
    evidence = _judge(latest, baseline, ours, theirs, vocabulary)
    return Pair(
        latest=latest,
        baseline=baseline,
        similarity=evidence.score,
        title_similarity=evidence.title,
        renamed=evidence.score < title_threshold,
        description_similarity=evidence.description,
        item_similarity=_item_similarity(ours, theirs) if analysed else None,
        evidence=evidence,
    )


def _keys(cluster: Cluster, items: frozenset[str]) -> set[str]:
    """What two clusters must share to be worth scoring: a token (or a stem's first
    letters, as prefix-related stems match) or an item both runs analysed. A pair
    sharing none scores at most sigmoid(TEXT_BIAS) < DEFAULT_MIN_SIMILARITY."""
    keys = set()
    for token in label_tokens(cluster.title, cluster.description):
        prefix = token.startswith(CONCEPT_PREFIX) or len(token) < MIN_PREFIX_STEM
        keys.add("t" + (token if prefix else token[:MIN_PREFIX_STEM]))
    keys.update("i" + i for i in items)
    return keys


def _candidate_pairs(
    ours: Sequence[Cluster], theirs: Sequence[Cluster], items_of: dict[int, frozenset[str]]
) -> list[tuple[int, int]]:
    """Index pairs (latest, baseline) worth scoring: those sharing a word or an item,
    found through an inverted index instead of scoring all n × m pairs.

    Past MAX_SHARED_KEY clusters a side (never in a real run), each latest cluster
    keeps only its MAX_SHARED_KEY best candidates by shared keys, rarest first, so
    that pairing stays near-linear in run size.
    """
    index: dict[str, list[int]] = defaultdict(list)
    for j, cluster in enumerate(theirs):
        for key in _keys(cluster, items_of[id(cluster)]):
            index[key].append(j)
    big = max(len(ours), len(theirs)) > MAX_SHARED_KEY
    found: list[tuple[int, int]] = []
    for i, cluster in enumerate(ours):
        shared: dict[int, float] = defaultdict(float)
        for key in _keys(cluster, items_of[id(cluster)]):
            partners = index.get(key, ())
            # A word this many clusters use cannot single out a partner.
            if len(partners) <= MAX_SHARED_KEY:
                for j in partners:
                    shared[j] += 1.0 / len(partners)
        best = sorted(shared, key=lambda j: (-shared[j], j))
        found.extend((i, j) for j in (best[:MAX_SHARED_KEY] if big else best))
    return sorted(found)


def _stat(cluster: Cluster, name: str) -> float | None:
    if cluster.stats is not None:
        return cluster.stats.value(name)
    return cluster.baked.get(name) if cluster.baked else None


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
