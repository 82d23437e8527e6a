"""Disconnectivity graphs (thesis Sec 4.2.1.1, Algorithm 2).

:func:`disconnectivity_graph` turns a symmetric barrier matrix (diagonal = basin minimum
energies, off-diagonal = lowest known barrier between two basins, ``inf`` where unknown) into a
:class:`DisconnectivityGraph`: leaves at the basin minima, and one internal node per merge at the
lowest barrier between the two groups it joins (greedy single linkage). The plot lives in
:mod:`ebmbook.plotting.landscape`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DisconnectivityGraph:
    """A DG as a binary tree over ``n`` leaves (node ids 0..n-1) and ``n - 1`` merges (node ids
    n..2n-2, in merge order).

    leaf_energy: (n,) basin minimum energies (leaf y-values).
    merges:      (n - 1, 3) rows [child_a, child_b, height]; row k creates node n + k.
    counts:      (n,) number of modes sorted into each basin (circle sizes).
    """

    leaf_energy: np.ndarray
    merges: np.ndarray
    counts: np.ndarray = field(default=None)

    def __post_init__(self):
        self.leaf_energy = np.asarray(self.leaf_energy, dtype=np.float64)
        self.merges = np.asarray(self.merges, dtype=np.float64).reshape(-1, 3)
        if self.counts is None:
            self.counts = np.ones(self.n, dtype=np.int64)
        self.counts = np.asarray(self.counts)

    @property
    def n(self) -> int:
        return len(self.leaf_energy)

    def height(self, node: int) -> float:
        return float(self.leaf_energy[node] if node < self.n else self.merges[node - self.n, 2])

    def children(self, node: int) -> tuple[int, int] | tuple[()]:
        if node < self.n:
            return ()
        a, b, _ = self.merges[node - self.n]
        return int(a), int(b)

    @property
    def root(self) -> int:
        return 2 * self.n - 2 if self.n > 1 else 0

    @property
    def n_trees(self) -> int:
        """How many separate trees the graph holds: groups with no finite barrier between them
        are joined at ``inf`` (:func:`disconnectivity_graph`), each such merge one tree more."""
        return int(1 + np.sum(~np.isfinite(self.merges[:, 2]))) if self.n else 0

    def subtree_min(self) -> np.ndarray:
        """Lowest leaf energy under every node; merges come after their children."""
        low = np.concatenate([self.leaf_energy, np.empty(len(self.merges))])
        for k, (a, b, _) in enumerate(self.merges):
            low[self.n + k] = min(low[int(a)], low[int(b)])
        return low

    def leaves(self, node: int) -> list[int]:
        """Leaf ids under ``node``, in plotting order."""
        low = self.subtree_min()
        out, stack = [], [node]
        while stack:
            v = stack.pop()
            if v < self.n:
                out.append(v)
            else:
                a, b = self.children(v)
                # lower subtree to the left, so the deepest basins sit together
                if low[a] > low[b]:
                    a, b = b, a
                stack.extend((b, a))
        return out

    def leaf_order(self) -> list[int]:
        return self.leaves(self.root)

    def parent(self) -> np.ndarray:
        """Parent id of every node (-1 for the root)."""
        p = np.full(2 * self.n - 1, -1, dtype=np.int64)
        for k, (a, b, _) in enumerate(self.merges):
            p[int(a)] = p[int(b)] = self.n + k
        return p

    def cophenetic(self) -> np.ndarray:
        """(n, n) matrix of the height at which each pair of leaves first shares a node (the
        diagonal holds the leaf energies). Equals single-linkage cophenetic distances."""
        C = np.diag(self.leaf_energy.copy())
        groups = {i: [i] for i in range(self.n)}
        for k, (a, b, hgt) in enumerate(self.merges):
            ga, gb = groups.pop(int(a)), groups.pop(int(b))
            C[np.ix_(ga, gb)] = hgt
            C[np.ix_(gb, ga)] = hgt
            groups[self.n + k] = ga + gb
        return C

    def clusters(self) -> list[frozenset]:
        """The leaf set of every internal node, in merge order."""
        groups = {i: frozenset([i]) for i in range(self.n)}
        out = []
        for k, (a, b, _) in enumerate(self.merges):
            g = groups.pop(int(a)) | groups.pop(int(b))
            groups[self.n + k] = g
            out.append(g)
        return out

    def partition(self, k: int) -> np.ndarray:
        """Labels (n,) of the leaves cut into ``k`` groups: the first ``n - k`` merges applied
        (the lowest barriers first), groups numbered 0..k-1 in order of their first leaf."""
        if not (isinstance(k, (int, np.integer)) and 1 <= k <= self.n):
            raise ValueError(f"k must be an integer in [1, {self.n}] (the number of leaves), "
                             f"got {k!r}")
        group = np.arange(2 * self.n - 1)
        for j, (a, b, _) in enumerate(self.merges[: self.n - k]):
            node = self.n + j
            for leaf in self.leaves(node):
                group[leaf] = node
        _, labels = np.unique(group[: self.n], return_inverse=True)
        first = {}
        return np.array([first.setdefault(g, len(first)) for g in labels], dtype=np.int64)

    def prune(self, depth: float) -> "DisconnectivityGraph":
        """Remove basins shallower than ``depth`` (Sec 4.2.1.1): a leaf whose parent merge lies
        less than ``depth`` above its minimum is absorbed into the rest of its parent's group
        (its mode count is added to that group's lowest leaf). Repeats until none is left."""
        M = self.cophenetic()
        counts = self.counts.astype(np.int64).copy()
        keep = np.ones(self.n, dtype=bool)
        changed = True
        while changed and keep.sum() > 1:
            changed = False
            idx = np.flatnonzero(keep)
            sub = M[np.ix_(idx, idx)].copy()
            np.fill_diagonal(sub, np.inf)
            merge_h = sub.min(axis=1)
            depths = merge_h - self.leaf_energy[idx]
            # absorb the shallowest offending leaf first
            order = np.argsort(depths)
            k = order[0]
            if depths[k] < depth:
                i = idx[k]
                partners = idx[(sub[k] == merge_h[k])]
                j = partners[np.argmin(self.leaf_energy[partners])]
                counts[j] += counts[i]
                keep[i] = False
                changed = True
        idx = np.flatnonzero(keep)
        dg = disconnectivity_graph(M[np.ix_(idx, idx)], counts=counts[idx])
        dg.kept = idx
        return dg


def disconnectivity_graph(barriers: np.ndarray, counts=None) -> DisconnectivityGraph:
    """Algorithm 2: build a DG from a symmetric barrier matrix.

    ``barriers[i, i]`` is basin i's minimum energy, ``barriers[i, j]`` the lowest barrier found
    between basins i and j (``inf`` if none). At each step the two groups with the lowest barrier
    merge into a new node at that height, and the merged group's barrier to any other group is
    the smaller of its parts' (step 4 of Algorithm 2). Ties go to the lowest (row, column).
    Groups still apart at ``inf`` merge at ``inf`` (the plot draws them at the top).
    """
    M = np.array(barriers, dtype=np.float64)
    n = M.shape[0]
    if M.ndim != 2 or M.shape[1] != n:
        raise ValueError(f"barriers must be a square matrix, got shape {M.shape}")
    if not np.allclose(M[np.isfinite(M)], M.T[np.isfinite(M)]) or \
            not np.array_equal(np.isfinite(M), np.isfinite(M.T)):
        raise ValueError("barriers must be symmetric")
    leaf = np.diag(M).copy()
    if not np.all(np.isfinite(leaf)):
        raise ValueError("the diagonal of barriers (basin minimum energies) must be finite")
    work = M.copy()
    np.fill_diagonal(work, np.inf)
    labels = list(range(n))
    active = np.ones(n, dtype=bool)
    merges = np.empty((max(n - 1, 0), 3))
    for k in range(n - 1):
        sub = np.where(active[:, None] & active[None, :], work, np.inf)
        np.fill_diagonal(sub, np.inf)
        flat = int(np.argmin(sub))
        i, j = divmod(flat, n)
        hgt = sub[i, j]
        if not np.isfinite(hgt):  # disconnected groups: join the first two active at inf
            i, j = np.flatnonzero(active)[:2]
        i, j = min(i, j), max(i, j)
        merges[k] = (min(labels[i], labels[j]), max(labels[i], labels[j]), hgt)
        # row i becomes the merged group; row j retires
        work[i, :] = np.minimum(work[i, :], work[j, :])
        work[:, i] = work[i, :]
        work[i, i] = np.inf
        active[j] = False
        labels[i] = n + k
    return DisconnectivityGraph(leaf_energy=leaf, merges=merges, counts=counts)


def merge_consistency(dg_a: DisconnectivityGraph, dg_b: DisconnectivityGraph,
                      match: np.ndarray) -> tuple[float, np.ndarray]:
    """Fraction of dg_a's merges that happen in the same order in dg_b (Fig 5.4).

    ``match[i]`` is the dg_b leaf of dg_a's leaf i, or -1 if unmatched. A merge of dg_a whose two
    sides both contain matched leaves is *consistent* when the matched leaves under it (mapped to
    dg_b) are exactly the matched leaves under their lowest common node in dg_b -- i.e. dg_b groups
    them together before adding any other matched leaf. Returns (fraction, per-merge flags with
    -1 for merges not compared).
    """
    match = np.asarray(match)
    matched_b = set(int(m) for m in match if m >= 0)
    clusters_b = dg_b.clusters()
    groups = {i: [i] for i in range(dg_a.n)}
    flags = np.full(len(dg_a.merges), -1, dtype=np.int64)
    for k, (a, b, _) in enumerate(dg_a.merges):
        ga, gb = groups.pop(int(a)), groups.pop(int(b))
        groups[dg_a.n + k] = ga + gb
        ma = {int(match[i]) for i in ga if match[i] >= 0}
        mb = {int(match[i]) for i in gb if match[i] >= 0}
        if not ma or not mb:
            continue
        union = ma | mb
        # smallest dg_b cluster containing the union (clusters are in increasing height)
        lca = next((c for c in clusters_b if union <= c), None)
        flags[k] = int(lca is not None and (lca & matched_b) == union)
    used = flags >= 0
    frac = float(flags[used].mean()) if used.any() else float("nan")
    return frac, flags
