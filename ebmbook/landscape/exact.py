"""Exact landscape maps by flooding (union-find over all states sorted by energy).

Adding states in increasing energy and joining each to its already-added neighbours gives every
local minimum (a state with no lower neighbour) and, for every pair of minima, the exact
minimax barrier: the lowest energy E such that the two minima are connected through states of
energy <= E. This is the oracle the book tests its barrier estimates against (Sec 4.2.1):

* :func:`enumerate_sk` -- all 2^N states of a small SK glass (N <= 22), single-flip edges;
* :func:`grid_landscape` -- a continuous 1D or 2D landscape sampled on a grid, nearest-neighbour
  edges (the DGs of Figs 4.1, 4.4 and 4.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernels import flood


@dataclass
class ExactLandscape:
    """Minima and exact barriers of a flooded landscape.

    minima:   node indices of the local minima, in increasing energy.
    energies: their energies.
    barriers: (K, K) symmetric minimax barriers; the diagonal holds the minima energies.
    events:   (K - 1, 3) merge events [height, i, j] in increasing height, where i and j index
              ``minima`` and are the lowest minima of the two groups that merge.
    states:   for spin systems, the (K, N) +-1 minima states; else None.
    """

    minima: np.ndarray
    energies: np.ndarray
    barriers: np.ndarray
    events: np.ndarray
    states: np.ndarray | None = None


def _from_flood(E: np.ndarray, nbr: np.ndarray) -> ExactLandscape:
    order = np.argsort(E, kind="stable")
    minima, ev_h, ev_a, ev_b = flood(order, E, nbr)
    pos = {int(m): k for k, m in enumerate(minima)}
    K = len(minima)
    M = np.full((K, K), np.inf)
    np.fill_diagonal(M, E[minima])
    groups = {k: [k] for k in range(K)}
    events = np.empty((len(ev_h), 3))
    for n, (hgt, a, b) in enumerate(zip(ev_h, ev_a, ev_b)):
        ia, ib = pos[int(a)], pos[int(b)]
        ga, gb = groups.pop(ia), groups.pop(ib)
        M[np.ix_(ga, gb)] = hgt
        M[np.ix_(gb, ga)] = hgt
        # the kernel keeps the lower minimum as the component's label (ties: ev_a's)
        groups[ia if E[a] <= E[b] else ib] = ga + gb
        events[n] = (hgt, ia, ib)
    return ExactLandscape(minima=minima, energies=E[minima], barriers=M, events=events)


def index_to_spins(idx: np.ndarray, N: int) -> np.ndarray:
    """States as +-1 spins: bit i of the index set means spin i = -1."""
    idx = np.asarray(idx, dtype=np.int64)
    bits = (idx[:, None] >> np.arange(N)[None, :]) & 1
    return (1 - 2 * bits).astype(np.int8)


def spins_to_index(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s)
    return ((s < 0).astype(np.int64) << np.arange(s.shape[1])[None, :]).sum(axis=1)


def sk_all_energies(model, chunk: int = 1 << 16) -> np.ndarray:
    """Energy per spin of every one of the 2^N states, indexed as in :func:`index_to_spins`."""
    N = model.n
    n = 1 << N
    E = np.empty(n)
    for lo in range(0, n, chunk):
        idx = np.arange(lo, min(lo + chunk, n))
        E[lo:lo + len(idx)] = model(index_to_spins(idx, N).astype(np.float64))
    return E


def enumerate_sk(model) -> ExactLandscape:
    """Exhaustive map of a small SK glass (eq. 5.1): every single-flip-stable minimum and the exact
    minimax barriers (energies per spin). Feasible for N <= 22 (2^N states)."""
    N = model.n
    if N > 22:
        raise ValueError(f"exhaustive enumeration needs N <= 22, got N = {N}")
    E = sk_all_energies(model)
    idx = np.arange(1 << N, dtype=np.int64)
    nbr = (idx[:, None] ^ (np.int64(1) << np.arange(N, dtype=np.int64))[None, :]).astype(np.int64)
    out = _from_flood(E, nbr)
    out.states = index_to_spins(out.minima, N)
    return out


def grid_landscape(values: np.ndarray) -> ExactLandscape:
    """Exact map of a landscape sampled on a 1D or 2D grid (nearest-neighbour edges).
    ``minima`` are flat grid indices (``np.unravel_index`` them for 2D)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        n = v.shape[0]
        i = np.arange(n)
        nbr = np.stack([i - 1, i + 1], axis=1)
        nbr[nbr >= n] = -1
    elif v.ndim == 2:
        r, c = np.indices(v.shape)
        cand = [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
        nbr = np.stack([np.where((rr >= 0) & (rr < v.shape[0]) & (cc >= 0) & (cc < v.shape[1]),
                                 rr * v.shape[1] + cc, -1).ravel() for rr, cc in cand], axis=1)
    else:
        raise ValueError(f"values must be 1D or 2D, got {v.ndim}D")
    return _from_flood(v.ravel(), nbr.astype(np.int64))
