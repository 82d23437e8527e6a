"""Barrier estimates between minima; each is the highest energy on a connecting path, hence an
upper bound of the exact minimax barrier.

* :func:`ad_barrier_matrix` -- AD between basin representatives with alpha just above the
  metastable boundary (Sec 5.1.1): for each pair, the barrier from the weakest alpha on a ladder
  at which some trial succeeds.
* :func:`linear_barrier` -- the 1D linear interpolation barrier (Sec 4.2.1.2, Fig 4.13).
* :func:`greedy_barrier` -- the greedy discrete interpolation of Sec 5.2.1 for spins.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from . import _kernels
from .adelm import ad_batches


def linear_barrier(energy: Callable[[torch.Tensor], torch.Tensor], a: torch.Tensor,
                   b: torch.Tensor, n_points: int = 64, return_path: bool = False):
    """Max of U on the segment (1 - t) a + t b, t on ``n_points`` grid points, for a batch of
    pairs. Returns barriers (K,) (and the (K, n_points) energies with ``return_path``)."""
    t = torch.linspace(0, 1, n_points, dtype=a.dtype, device=a.device)
    K = a.shape[0]
    shape = (1, n_points) + (1,) * (a.dim() - 1)
    pts = (1 - t.view(shape)) * a.unsqueeze(1) + t.view(shape) * b.unsqueeze(1)
    with torch.no_grad():
        u = energy(pts.reshape((K * n_points,) + a.shape[1:])).reshape(K, n_points)
    bar = u.max(dim=1).values.cpu().numpy()
    return (bar, u.cpu().numpy()) if return_path else bar


def greedy_barrier(model, a: np.ndarray, b: np.ndarray, return_paths: bool = False):
    """Greedy discrete interpolation (Sec 5.2.1) between spin states a[k] and b[k]: repeatedly
    flip, among the spins that still differ from the target, the one that lowers the energy most
    (raises it least). Run in both directions; the lower barrier is kept. Energies per spin.

    Returns barriers (K,) and, with ``return_paths``, the (K, N + 1) energies along the better
    path (from a to b)."""
    A = np.ascontiguousarray(np.asarray(a, dtype=np.int8).reshape(-1, model.n))
    Bs = np.ascontiguousarray(np.asarray(b, dtype=np.int8).reshape(-1, model.n))
    K, N = A.shape
    both_a = np.concatenate([A, Bs])
    both_b = np.concatenate([Bs, A])
    bar = np.empty(2 * K)
    path = np.zeros((2 * K, N + 1) if return_paths else (1, 1))
    _kernels.greedy_path_batch(model.J, both_a, both_b, bar, return_paths, path)
    fwd, bwd = bar[:K], bar[K:]
    out = np.minimum(fwd, bwd) / N
    if not return_paths:
        return out
    # the backward path read in reverse goes from a to b; its energies at step k are those of
    # the reversed sequence (the path has len = hamming + 1 meaningful entries)
    paths = np.empty((K, N + 1))
    ham = (A != Bs).sum(axis=1)
    for k in range(K):
        if fwd[k] <= bwd[k]:
            paths[k] = path[k]
        else:
            rev = path[K + k, :ham[k] + 1][::-1]
            paths[k, :ham[k] + 1] = rev
            paths[k, ham[k] + 1:] = rev[-1]
    return out, paths / N


def ad_barrier_matrix(backend, reps, rep_energies: np.ndarray, alphas, n_repeats: int = 2,
                      progress: bool = False, *, seed: Any = None,
                      executor: Any = None, store: Any = None) -> np.ndarray:
    """Barrier matrix between basin representatives by AD (Sec 5.1.1).

    For every pair (i, j) and every alpha on the ladder ``alphas`` (increasing), ``n_repeats`` AD
    trials run in each direction -- all pairs, alphas and repeats as one batch, cut into tasks of
    ``backend.chunk_size`` trials on ``executor`` (None: in-process) and seeded from ``seed``
    (None: one draw of the backend's generator). The pair's barrier is the lowest successful
    barrier at the smallest alpha where any trial succeeded (the estimate is tightest just above
    the metastable boundary); ``inf`` if none succeeded. The diagonal holds ``rep_energies``.
    ``store`` keeps finished tasks across an interruption (see
    :func:`~ebmbook.landscape.adelm.ad_batches`).
    """
    alphas = np.asarray(sorted(alphas), dtype=np.float64)
    L = len(rep_energies)
    M = np.full((L, L), np.inf)
    np.fill_diagonal(M, rep_energies)
    if L < 2:
        return M
    ii, jj = np.triu_indices(L, 1)
    P, A, R = len(ii), len(alphas), n_repeats
    # layout: direction x pair x alpha x repeat
    pi = np.tile(np.repeat(np.arange(P), A * R), 2)
    ai = np.tile(np.repeat(np.arange(A), R), 2 * P)
    fwd = np.arange(2 * P * A * R) < P * A * R
    start_idx = np.where(fwd, ii[pi], jj[pi])
    target_idx = np.where(fwd, jj[pi], ii[pi])
    res, = ad_batches(backend, [(backend.take(reps, start_idx), backend.take(reps, target_idx),
                                 alphas[ai], seed)], executor=executor,
                      desc="AD barriers" if progress else None, store=store)
    ok = res.success.reshape(2, P, A, R).any(axis=0)           # (P, A, R) either direction
    bar = np.where(res.success, res.barrier, np.inf).reshape(2, P, A, R).min(axis=0)
    for p in range(P):
        hit = np.flatnonzero(ok[p].any(axis=1))
        if hit.size:
            M[ii[p], jj[p]] = M[jj[p], ii[p]] = bar[p, hit[0]].min()
    return M
