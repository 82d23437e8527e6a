"""Tuning helpers for Attraction-Diffusion (thesis Sec 5.1 and Figs 4.11, 4.12, 5.2).

* :func:`basins_vs_alpha` -- number of ADELM basins found in a few iterations over a grid of
  alpha (Fig 5.2 bottom): ~one basin per iteration as alpha -> 0, one basin as alpha -> inf, and
  a critical range in between.
* :func:`energy_drift` -- energy of unmagnetised chains started at local modes, over T
  (Fig 5.2 top): T must be cold enough that the drift stays below the landscape's barriers.
* :func:`metastable_boundary` -- alpha*(T) for a pair of minima (Figs 4.11/4.12): start high,
  run ``n_trials`` AD trials per alpha, lower alpha by ``factor`` while any trial succeeds.

Each sweep point is a task on the ``executor`` (see :mod:`ebmbook.parallel`): one ADELM run per
alpha, one batch of chains per temperature, one batch of trials per alpha of the boundary search.
Point ``k`` is seeded ``child(root, k)``, so the result does not depend on the executor.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..parallel import child, get_executor, is_inline, map_tasks, numpy_rng, seed_sequence
from ..sampling.spins import sk_sweeps
from .adelm import ad_batches, adelm


def _basins_task(backend, alpha: float, n_iter: int, consolidate_every: int, seed) -> int:
    """One point of :func:`basins_vs_alpha` (a task): ADELM in-process at one alpha."""
    be = copy.copy(backend)
    be.alpha = alpha
    return adelm(be, n_iter, consolidate_every=consolidate_every, seed=seed).n_basins


def basins_vs_alpha(backend, alphas, n_iter: int = 100, consolidate_every: int = 0,
                    progress: bool = False, *, seed: Any = None,
                    executor: Any = None) -> np.ndarray:
    """Basins found by ``n_iter`` ADELM iterations at each alpha (same backend otherwise).

    Each alpha is one task: an ADELM run seeded ``child(root, k)`` (``root`` from ``seed``, or
    one draw of the backend's generator) on a copy of the backend without its generator, so on
    a process pool or Dask the backend must be picklable (for a continuous backend: its energy
    and ``propose``)."""
    alphas = [float(a) for a in alphas]
    root = seed_sequence(backend.seed_source() if seed is None else seed)
    plain = backend.detached()
    tasks = [(plain, a, n_iter, consolidate_every, child(root, k)) for k, a in enumerate(alphas)]
    return np.array(map_tasks(executor, _basins_task, tasks,
                              desc="alpha grid" if progress else None), dtype=np.int64)


def _drift_task(J, modes, temperature: float, n_sweeps: int, method: str, seed) -> np.ndarray:
    """One temperature of :func:`energy_drift` (a task): every mode's chain in one batch."""
    _, E = sk_sweeps(J, modes, n_sweeps=n_sweeps, temperature=temperature, rng=numpy_rng(seed),
                     method=method)
    return E


def energy_drift(model, modes: np.ndarray, temperatures, n_sweeps: int, rng: Any,
                 method: str = "gibbs", *, executor: Any = None) -> np.ndarray:
    """Energy per spin of unmagnetised chains started at ``modes`` (M, N) for every temperature.
    Returns (len(temperatures), M, n_sweeps + 1).

    ``rng`` (a Generator, which gives one draw, or an int / SeedSequence) seeds the run; each
    temperature is one task (seeded ``child(root, k)``) running all M chains in one batch."""
    T = [float(t) for t in np.asarray(temperatures, dtype=np.float64).reshape(-1)]
    modes = np.ascontiguousarray(np.asarray(modes, dtype=np.int8))
    root = seed_sequence(rng)
    tasks = [(model.J, modes, t, int(n_sweeps), method, child(root, k)) for k, t in enumerate(T)]
    out = map_tasks(executor, _drift_task, tasks)
    return np.stack(out).reshape(len(T), modes.shape[0], n_sweeps + 1)


def metastable_boundary(backend, a, b, *, alpha_start: float, n_trials: int = 20,
                        factor: float = 0.97, alpha_min: float = 1e-6, seed: Any = None,
                        executor: Any = None, alphas_per_round: int | None = None) -> float:
    """The metastable boundary alpha* for AD from ``a`` toward ``b`` (single states with a batch
    dimension of 1): starting at ``alpha_start``, run ``n_trials`` trials (one batch) per alpha and
    lower alpha by ``factor`` while any trial succeeds. Returns the last alpha with a success
    (``nan`` if even ``alpha_start`` fails).

    The k-th alpha of the ladder ``alpha_start * factor**k`` (down to ``alpha_min``) has its own
    seed ``child(root, k)``, so its trials are the same whether the ladder is walked one alpha at
    a time or ``alphas_per_round`` alphas are tried at once on the executor (the alphas past the
    first failure are then wasted work, the answer is the same). Default: one per round
    in-process, 8 per round on any other executor.
    """
    if not (alpha_start > 0 and 0 < factor < 1 and alpha_min >= 0):
        raise ValueError("alpha_start must be > 0, factor in (0, 1) and alpha_min >= 0")
    if alphas_per_round is not None and not (isinstance(alphas_per_round, int)
                                             and alphas_per_round >= 1):
        raise ValueError(f"alphas_per_round must be an integer >= 1, got {alphas_per_round!r}")
    ladder, alpha = [], float(alpha_start)
    while alpha > alpha_min:
        ladder.append(alpha)
        alpha *= factor
    root = seed_sequence(backend.seed_source() if seed is None else seed)
    A, B = backend.repeat(a, n_trials), backend.repeat(b, n_trials)
    last = float("nan")
    with get_executor(executor) as ex:
        per_round = alphas_per_round or (1 if is_inline(ex) else 8)
        for lo in range(0, len(ladder), per_round):
            block = ladder[lo:lo + per_round]
            results = ad_batches(backend, [(A, B, al, child(root, lo + i))
                                           for i, al in enumerate(block)], executor=ex)
            for al, res in zip(block, results):
                if not res.success.any():
                    return last
                last = al
    return last
