"""Pair the clusters of two runs and measure how stable the clustering is.

Cluster ids, coordinates and distances are not comparable across runs (each run
fits its own HDBSCAN/UMAP), so clusters are linked only by what survives a refit:

- the title and the description, reworded by an LLM every run, compared as sets of
  word stems (`llmc_checks._text`);
- shared items. Consecutive daily runs overlap six days of seven, but each samples
  at most 1500 items, so only some item ids appear in both runs. Membership is
  therefore compared *within the items both runs analysed*: for a stable topic those
  restricted sets coincide whatever the sampling rate, where a raw Jaccard index would
  shrink with it.

Pairing is a one-to-one optimal assignment over a weighted mean of those
similarities; a pair below `min_similarity` does not count. Noise never pairs.
Everything here is pure: two `Run`s in, a `Pairing` and numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from llmc_checks._text import has_text, text_similarity
from llmc_checks.model import Cluster, Run

# Tuned in tests/test_matching.py on a corpus of reworded topics: with this threshold
# 83.6% of same-topic title pairs count as similar and 99.5% of cross-topic pairs do
# not (the remainder share a meaningful word: "customer refunds" / "suggestions for
# customers"). See test_title_threshold_separates_corpus for the figures.
DEFAULT_TITLE_THRESHOLD = 0.3

# Weights of the combined similarity, tuned with the synthetic-run accuracy tests in
# tests/test_matching.py. Shared items are the strongest evidence when present (they do
# not depend on wording); titles and descriptions weigh the same because rewordings
# that defeat one often spare the other. A component without evidence (no shared
# items, an empty description) is left out and the others renormalised.
TITLE_WEIGHT = 0.3
DESCRIPTION_WEIGHT = 0.3
ITEMS_WEIGHT = 0.4

# A pair whose combined similarity is below this is no pair: both clusters stay
# new / vanished. Low on purpose: the assignment already picks the best partner, and
# this only stops leftovers (a vanished and a new topic) from pairing on one shared
# word. Accuracy is flat between 0.10 and 0.13; below, vanished topics pair with new
# ones through stray shared items, above, text-only runs lose true pairs.
DEFAULT_MIN_SIMILARITY = 0.12


@dataclass(frozen=True, slots=True)
class Pair:
    """A latest-run cluster and the baseline cluster it continues."""

    latest: Cluster
    baseline: Cluster
    # Combined similarity the assignment maximised, in [0, 1].
    similarity: float
    title_similarity: float
    # The title changed beyond `Pairing.title_threshold` (same topic by items or text,
    # but an unstable name).
    renamed: bool
    description_similarity: float = 0.0
    # Dice coefficient of the two clusters' items among those both runs analysed;
    # None when there was no item evidence for this pair.
    item_similarity: float | None = None


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
    """How alike two cluster titles are, in [0, 1], robust to LLM rewording.

    Weighted Dice coefficient of the titles' stem sets; generic words ("requests",
    "help", "errors") weigh little. An empty or placeholder title ("Cluster 3") scores 0.
    """
    return text_similarity(a, b)


def description_similarity(a: str, b: str) -> float:
    """Like `title_similarity`, for descriptions (longer, so scores run lower)."""
    return text_similarity(a, b)


def pair_runs(
    latest: Run,
    baseline: Run,
    *,
    title_threshold: float = DEFAULT_TITLE_THRESHOLD,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> Pairing:
    """Pair the non-noise clusters of `latest` with those of `baseline`, one to one.

    Maximises the total combined similarity (title, description, shared items) over
    all pairs whose similarity reaches `min_similarity`; the rest are new / vanished.
    """
    _check_fraction("title_threshold", title_threshold)
    _check_fraction("min_similarity", min_similarity)
    ours = _sorted_clusters(latest)
    theirs = _sorted_clusters(baseline)
    shared = _shared_items(latest, baseline)
    candidates = [[_candidate(lc, bc, shared, title_threshold) for bc in theirs] for lc in ours]
    chosen = _assign(
        [
            [c.similarity if c.similarity >= min_similarity else 0.0 for c in row]
            for row in candidates
        ]
    )
    pairs = [candidates[i][j] for i, j in chosen]
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
    """Size-weighted share of the baseline's clusters whose title survived.

    A baseline cluster is stable when it is paired and its partner's title is at
    least `title_threshold` similar (default: the pairing's). Vanished clusters are
    unstable. Weights are baseline sizes; if every size is 0 each cluster weighs the
    same. None when the baseline has no non-noise cluster.
    """
    threshold = pairing.title_threshold if title_threshold is None else title_threshold
    _check_fraction("title_threshold", threshold)
    outcomes = [(p.baseline, p.title_similarity >= threshold) for p in pairing.pairs]
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


def _shared_items(latest: Run, baseline: Run) -> frozenset[str] | None:
    """Item ids both runs analysed (noise included), or None when there is no such
    evidence: a side without item ids, or runs whose windows share no sampled item."""
    ours = {i for c in latest.clusters for i in c.item_ids}
    theirs = {i for c in baseline.clusters for i in c.item_ids}
    shared = frozenset(ours & theirs)
    return shared or None


def _item_similarity(a: Cluster, b: Cluster, shared: frozenset[str]) -> float | None:
    """Dice coefficient of two clusters' items within the items both runs analysed.

    None when neither cluster has a shared item (e.g. a topic seen only on the day
    that left the window): absence of evidence, not evidence of difference.
    """
    ours = shared.intersection(a.item_ids)
    theirs = shared.intersection(b.item_ids)
    if not ours and not theirs:
        return None
    return 2 * len(ours & theirs) / (len(ours) + len(theirs))


def _candidate(
    latest: Cluster, baseline: Cluster, shared: frozenset[str] | None, title_threshold: float
) -> Pair:
    title = title_similarity(latest.title, baseline.title)
    description = description_similarity(latest.description, baseline.description)
    items = None if shared is None else _item_similarity(latest, baseline, shared)
    evidence = [
        (TITLE_WEIGHT, title, has_text(latest.title) and has_text(baseline.title)),
        (
            DESCRIPTION_WEIGHT,
            description,
            has_text(latest.description) and has_text(baseline.description),
        ),
        (ITEMS_WEIGHT, items or 0.0, items is not None),
    ]
    weights = sum(w for w, _, present in evidence if present)
    weighted = sum(w * value for w, value, present in evidence if present)
    return Pair(
        latest=latest,
        baseline=baseline,
        similarity=weighted / weights if weights else 0.0,
        title_similarity=title,
        renamed=title < title_threshold,
        description_similarity=description,
        item_similarity=items,
    )


def _assign(scores: list[list[float]]) -> list[tuple[int, int]]:
    """Row/column pairs maximising the total score; zero-score pairs are dropped.

    Scores below the minimum are zeroed before this, so the optimiser never trades a
    good pair for several sub-threshold ones.
    """
    if not scores or not scores[0]:
        return []
    # Lazy: scipy is heavy and only runs that compare against a baseline need it.
    import numpy as np
    from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

    matrix = np.asarray(scores, dtype=float)
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if matrix[i, j] > 0.0]
