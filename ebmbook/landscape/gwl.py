"""Generalized Wang-Landau mapping of spin-glass landscapes (thesis Sec 4.2.1.3, eq. 4.3-4.4;
Liang 2005; Zhou 2011).

The state space is partitioned into bins B_jk = {basin j} x {energy interval k} (eq. 4.3), with
basins the steepest-descent basins of single-flip-stable minima, discovered on the fly. A
single-flip Metropolis chain on ``exp(-H/T)`` is penalised for revisiting bins (eq. 4.4):

    accept(S -> S') = min(1, exp(-(H(S') - H(S))/T + penalty (N_phi(S) - N_phi(S'))))

Barriers come from the chain's crossings between basins: the higher energy of the crossing pair,
refined by ridge descent (flip a common spin in both states while they stay in their basins and
the higher energy drops). :func:`gwl_map` combines them (minimax over the crossing graph) with the
greedy interpolation barrier of Sec 5.2.1 and keeps the lower, as in the thesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels
from .barriers import greedy_barrier


@dataclass
class GWLResult:
    """Raw output of a GWL run (energies per spin).

    min_states (K, N), min_energies (K,): the basins' minima, in discovery order.
    first_seen (K,): iteration at which each basin was first proposed.
    visits (K, n_bins): the penalty counts N_jk.
    pair_keys (P, 2), pair_barriers (P,): lowest crossing barrier found per pair of basins.
    trace (n, 2): (energy per spin, basin) every ``trace_every`` iterations.
    """

    min_states: np.ndarray
    min_energies: np.ndarray
    first_seen: np.ndarray
    visits: np.ndarray
    pair_keys: np.ndarray
    pair_barriers: np.ndarray
    n_iter: int
    n_accepted: int
    trace: np.ndarray
    full: bool = False

    @property
    def n_basins(self) -> int:
        return len(self.min_energies)

    def lowest(self, n: int) -> np.ndarray:
        """Indices of the n lowest-energy basins, in increasing energy."""
        return np.argsort(self.min_energies, kind="stable")[:n]

    def crossing_barriers(self, subset: np.ndarray) -> np.ndarray:
        """Minimax barriers between the basins in ``subset`` over the graph of all recorded
        crossings (a path may pass through basins outside the subset). ``inf`` if unconnected;
        the diagonal holds the minima energies."""
        return minimax_on_edges(self.n_basins, self.pair_keys, self.pair_barriers, subset,
                                self.min_energies)


def minimax_on_edges(n_nodes: int, edges: np.ndarray, weights: np.ndarray,
                     subset: np.ndarray, node_energy: np.ndarray) -> np.ndarray:
    """Minimax path weights between ``subset`` nodes of an edge-weighted graph (Kruskal with
    union-find; exact for the graph)."""
    subset = np.asarray(subset)
    K = len(subset)
    M = np.full((K, K), np.inf)
    np.fill_diagonal(M, node_energy[subset])
    pos = -np.ones(n_nodes, dtype=np.int64)
    pos[subset] = np.arange(K)
    parent = np.arange(n_nodes)
    members = {int(v): [int(pos[v])] for v in subset}

    def find(u):
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u
    n_groups = K
    for e in np.argsort(weights, kind="stable"):
        if n_groups <= 1:
            break
        a, b = find(int(edges[e, 0])), find(int(edges[e, 1]))
        if a == b:
            continue
        ga, gb = members.pop(a, []), members.pop(b, [])
        if ga and gb:
            M[np.ix_(ga, gb)] = weights[e]
            M[np.ix_(gb, ga)] = weights[e]
            n_groups -= 1
        parent[b] = a
        if ga or gb:
            members[a] = ga + gb
    return M


def gwl(model, *, n_iter: int, rng: np.random.Generator, temperature: float = 0.5,
        e_range: tuple[float, float] = (-0.8, -0.35), n_bins: int = 45, penalty: float = 0.01,
        max_basins: int = 200_000, max_pairs: int = 2_000_000, ridge: bool = True,
        ridge_tries: int = 4, start: np.ndarray | None = None,
        trace_every: int = 0) -> GWLResult:
    """Run GWL (eq. 4.4) for ``n_iter`` single-flip proposals on an SK glass.

    ``e_range`` is the energy window per spin (the thesis's [-0.8, -0.35]); ``temperature``
    acts on the extensive energy (as everywhere for SK); ``penalty`` is the visit penalty
    (the thesis's gamma; ebmbook keeps gamma for the Langevin temperature factor). The
    chain starts at the minimum reached by descent from ``start`` (random if None). Proposals
    into a new basin once ``max_basins`` are known are rejected (``full`` reports it).
    """
    from .ad import local_modes_spins
    N = model.n
    if N > 128:
        raise ValueError(f"gwl packs states into 128 bits; N = {N} > 128")
    if not (n_iter >= 1 and temperature > 0 and penalty >= 0 and n_bins >= 1):
        raise ValueError("need n_iter >= 1, temperature > 0, penalty >= 0, n_bins >= 1")
    lo, hi = e_range
    if start is None:
        start = (2 * rng.integers(0, 2, size=(1, N)) - 1).astype(np.int8)
    s0, e0 = local_modes_spins(model, start)
    if not lo <= e0[0] < hi:
        raise ValueError(f"the starting minimum has energy {e0[0]:.3f} outside e_range {e_range}")
    basins = _kernels.GWLBasins(visits=np.zeros((max_basins, n_bins)),
                                states=np.zeros((max_basins, N), dtype=np.int8),
                                energies=np.zeros(max_basins),
                                first_seen=np.zeros(max_basins, dtype=np.int64))
    crossings = _kernels.GWLCrossings(pairs=np.zeros((max_pairs, 2), dtype=np.int64),
                                      barriers=np.zeros(max_pairs))
    settings = _kernels.GWLSettings(
        n_iter=int(n_iter), temperature=float(temperature), energy_low=float(lo * N),
        energy_high=float(hi * N), n_bins=int(n_bins), penalty=float(penalty),
        ridge=bool(ridge), ridge_tries=int(ridge_tries), trace_every=int(trace_every))
    n_trace = (n_iter // trace_every + 1) if trace_every else 0
    trace = np.zeros((n_trace, 2))
    nb, npairs, nacc, nt = _kernels.gwl_kernel(model.J, s0[0], settings, rng, basins, crossings,
                                               trace)
    trace = trace[:nt].copy()
    trace[:, 0] /= N
    return GWLResult(min_states=basins.states[:nb].copy(), min_energies=basins.energies[:nb] / N,
                     first_seen=basins.first_seen[:nb].copy(), visits=basins.visits[:nb].copy(),
                     pair_keys=crossings.pairs[:npairs].copy(),
                     pair_barriers=crossings.barriers[:npairs] / N,
                     n_iter=int(n_iter), n_accepted=int(nacc), trace=trace,
                     full=nb >= max_basins)


@dataclass
class GWLMap:
    """The GWL map of the lowest modes: states, energies, barrier matrix and its parts."""

    states: np.ndarray
    energies: np.ndarray
    barriers: np.ndarray
    crossing: np.ndarray
    greedy: np.ndarray
    index: np.ndarray  # indices into the GWLResult's basins


def gwl_map(result: GWLResult, model, n_lowest: int = 500, greedy: bool = True) -> GWLMap:
    """Barrier matrix between the ``n_lowest`` lowest GWL modes: the lower of (a) the minimax
    over GWL crossings (ridge-refined) and (b) the greedy interpolation barrier (Sec 5.2.1)."""
    idx = result.lowest(n_lowest)
    cross = result.crossing_barriers(idx)
    K = len(idx)
    G = np.full((K, K), np.inf)
    np.fill_diagonal(G, result.min_energies[idx])
    if greedy and K > 1:
        ii, jj = np.triu_indices(K, 1)
        S = result.min_states[idx]
        b = greedy_barrier(model, S[ii], S[jj])
        G[ii, jj] = G[jj, ii] = b
    return GWLMap(states=result.min_states[idx], energies=result.min_energies[idx],
                  barriers=np.minimum(cross, G), crossing=cross, greedy=G, index=idx)
