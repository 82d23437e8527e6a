"""Tuning helpers for Attraction-Diffusion (thesis Sec 5.1 and Figs 4.11, 4.12, 5.2).

* :func:`basins_vs_alpha` -- number of ADELM basins found in a few iterations over a grid of
  alpha (Fig 5.2 bottom): ~one basin per iteration as alpha -> 0, one basin as alpha -> inf, and
  a critical range in between.
* :func:`energy_drift` -- energy of unmagnetised chains started at local modes, over T
  (Fig 5.2 top): T must be cold enough that the drift stays below the landscape's barriers.
* :func:`metastable_boundary` -- alpha*(T) for a pair of minima (Figs 4.11/4.12): start high,
  run ``n_trials`` AD trials per alpha, lower alpha by ``factor`` while any trial succeeds.
"""

from __future__ import annotations

import copy

import numpy as np

from ..sampling.spins import sk_sweeps
from .adelm import adelm


def basins_vs_alpha(backend, alphas, n_iter: int = 100, consolidate_every: int = 0,
                    progress: bool = False) -> np.ndarray:
    """Basins found by ``n_iter`` ADELM iterations at each alpha (same backend otherwise)."""
    out = []
    it = list(alphas)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="alpha grid")
    for a in it:
        be = copy.copy(backend)
        be.alpha = float(a)
        out.append(adelm(be, n_iter, consolidate_every=consolidate_every).n_basins)
    return np.array(out)


def energy_drift(model, modes: np.ndarray, temperatures, n_sweeps: int,
                 rng: np.random.Generator, method: str = "gibbs") -> np.ndarray:
    """Energy per spin of unmagnetised chains started at ``modes`` (M, N) for every temperature,
    all chains in one batch. Returns (len(temperatures), M, n_sweeps + 1)."""
    T = np.asarray(temperatures, dtype=np.float64)
    modes = np.asarray(modes, dtype=np.int8)
    M = modes.shape[0]
    starts = np.tile(modes, (len(T), 1))
    temps = np.repeat(T, M)
    _, E = sk_sweeps(model.J, starts, n_sweeps=n_sweeps, temperature=temps, rng=rng,
                     method=method)
    return E.reshape(len(T), M, n_sweeps + 1)


def metastable_boundary(backend, a, b, *, alpha_start: float, n_trials: int = 20,
                        factor: float = 0.97, alpha_min: float = 1e-6) -> float:
    """The metastable boundary alpha* for AD from ``a`` toward ``b`` (single states with a batch
    dimension of 1): starting at ``alpha_start``, run ``n_trials`` trials (one batch) per alpha and
    lower alpha by ``factor`` while any trial succeeds. Returns the last alpha with a success
    (``nan`` if even ``alpha_start`` fails)."""
    alpha, last = float(alpha_start), float("nan")
    while alpha > alpha_min:
        res = backend.ad(backend.repeat(a, n_trials), backend.repeat(b, n_trials), alpha=alpha)
        if not res.success.any():
            break
        last = alpha
        alpha *= factor
    return last
