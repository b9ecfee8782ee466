"""An exact maximum-weight one-to-one assignment, small and without scipy.

Cross-run pairing needs the pairs of a bipartite graph (baseline cluster, latest
cluster) that maximise the total score. Scores are sparse: most pairs of clusters
have nothing in common and score 0, which is the same as not pairing them. So the
graph splits into connected components, each solved on its own by the shortest
augmenting path algorithm (Jonker–Volgenant's, as Crouse 2016 describes it for
rectangular matrices) on a dense cost matrix. Real runs have at most ~50 clusters
(PostHog's `min_cluster_size_fraction` is 2%) and their components are tiny; a
component of 1,000 × 1,000 clusters takes about a second.

Pure Python, deterministic: ties resolve to the lowest index.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def maximize(scores: Mapping[tuple[int, int], float]) -> list[tuple[int, int]]:
    """The (row, col) pairs of a maximum-total assignment over positive `scores`.

    `scores` maps (row, col) to a score; missing and non-positive entries mean "do not
    pair". Each row and each column is used at most once. Sorted by row.
    """
    edges = {key: s for key, s in scores.items() if s > 0.0}
    chosen: list[tuple[int, int]] = []
    for rows, cols in _components(edges):
        matrix = [[edges.get((r, c), 0.0) for c in cols] for r in rows]
        for i, j in _dense_max(matrix):
            if matrix[i][j] > 0.0:
                chosen.append((rows[i], cols[j]))
    return sorted(chosen)


def _components(edges: Mapping[tuple[int, int], float]) -> list[tuple[list[int], list[int]]]:
    """Rows and columns of each connected component (union-find over the edges)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(x: tuple[str, int]) -> tuple[str, int]:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for r, c in sorted(edges):
        a, b = find(("r", r)), find(("c", c))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
    for node in sorted(parent):
        rows, cols = groups.setdefault(find(node), ([], []))
        (rows if node[0] == "r" else cols).append(node[1])
    return list(groups.values())


def _dense_max(matrix: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Maximum-total assignment of a dense n × m matrix: min(n, m) (row, col) pairs."""
    n, m = len(matrix), len(matrix[0])
    top = max(max(row) for row in matrix)
    if n <= m:
        cost = [[top - v for v in row] for row in matrix]
        return [(i, j) for i, j in enumerate(_min_rows(cost))]
    cost = [[top - matrix[i][j] for i in range(n)] for j in range(m)]
    return sorted((i, j) for j, i in enumerate(_min_rows(cost)))


def _min_rows(cost: Sequence[Sequence[float]]) -> list[int]:
    """For n ≤ m: the column of each row in a minimum-cost assignment.

    One shortest augmenting path per row (Dijkstra over reduced costs, with dual
    potentials u, v keeping reduced costs non-negative), then augment along it.
    """
    n, m = len(cost), len(cost[0])
    u = [0.0] * n
    v = [0.0] * m
    col_of = [-1] * n
    row_of = [-1] * m
    for start in range(n):
        shortest = [math.inf] * m
        via = [-1] * m
        done = [False] * m
        visited_rows = [start]
        row, reach, sink = start, 0.0, -1
        while sink < 0:
            line, base = cost[row], reach - u[row]
            best, best_col = math.inf, -1
            for j in range(m):
                if done[j]:
                    continue
                reduced = base + line[j] - v[j]
                if reduced < shortest[j]:
                    shortest[j], via[j] = reduced, row
                # Prefer a free column on ties: the path ends sooner.
                if shortest[j] < best or (
                    shortest[j] == best and best_col >= 0 and row_of[j] < 0 <= row_of[best_col]
                ):
                    best, best_col = shortest[j], j
            reach = best
            done[best_col] = True
            if row_of[best_col] < 0:
                sink = best_col
            else:
                row = row_of[best_col]
                visited_rows.append(row)
        u[start] += reach
        for r in visited_rows[1:]:
            u[r] += reach - shortest[col_of[r]]
        for j in range(m):
            if done[j]:
                v[j] -= reach - shortest[j]
        j = sink
        while True:
            r = via[j]
            row_of[j] = r
            col_of[r], j = j, col_of[r]
            if r == start:
                break
    return col_of
