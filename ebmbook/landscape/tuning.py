"""Tuning helpers for Attraction-Diffusion (thesis Sec 5.1 and Figs 4.11, 4.12, 5.2).

* :func:`basins_vs_alpha` -- number of ADELM basins found in a few iterations over a grid of
  alpha (Fig 5.2 bottom): ~one basin per iteration as alpha -> 0, one basin as alpha -> inf, and
  a critical range in between.
* :func:`energy_drift` -- energy of unmagnetised chains started at local modes, over T
  (Fig 5.2 top): T must be cold enough that the drift stays below the landscape's barriers.
* :func:`alpha_sweep` -- the same with the leakage of each run (representatives reached per
  new mode); :func:`leakage_alpha` turns the sweep into an alpha, and
  :func:`drift_temperature` turns an energy-drift run into a T, measured against
  :func:`typical_barrier` (the median rise of the 1D barrier between random pairs of modes).
* :func:`metastable_boundary` -- alpha*(T) for a pair of minima (Figs 4.11/4.12): start high,
  run ``n_trials`` AD trials per alpha, lower alpha by ``factor`` while any trial succeeds; it
  also returns the lowest barrier met (a :class:`Boundary`).

These are the rules and sweeps. :mod:`ebmbook.landscape.mapping` composes them into the
label-free tuning of a map (:func:`~ebmbook.landscape.mapping.tune_temperature`,
:func:`~ebmbook.landscape.mapping.tune_alpha`) beside :func:`~ebmbook.landscape.mapping.map_energy`.

Each sweep point is a task on the ``executor`` (see :mod:`ebmbook.parallel`): one ADELM run per
alpha, one batch of chains per temperature, the chunks of each batch of the boundary search.
Point ``k`` is seeded ``child(root, k)``, so the result does not depend on the executor.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._config import check_int
from ..parallel import child, get_executor, map_tasks, numpy_rng, seed_sequence
from ..sampling.spins import sk_sweeps
from .adelm import ad_batches, adelm
from .barriers import linear_barrier


def _basins_task(backend, alpha: float, n_iter: int, consolidate_every: int,
                 seed) -> tuple[int, float]:
    """One point of :func:`alpha_sweep` (a task): ADELM in-process at one alpha. Returns the
    number of basins and the mean number of representatives each new mode reached
    (``n_success``, over the iterations after the first)."""
    be = copy.copy(backend)
    be.alpha = alpha
    res = adelm(be, n_iter, consolidate_every=consolidate_every, seed=seed)
    return res.n_basins, float(np.mean(res.n_success[1:])) if n_iter > 1 else 0.0


def alpha_sweep(backend, alphas, n_iter: int = 100, consolidate_every: int = 0,
                progress: bool = False, *, seed: Any = None,
                executor: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Basins found by ``n_iter`` ADELM iterations at each alpha (same backend otherwise), and
    the *leakage* at each alpha: the mean number of basin representatives that AD reached from
    a new mode (Sec 5.1.2: ideally one; many means T or alpha is too high).

    Each alpha is one task: an ADELM run seeded ``child(root, k)`` (``root`` from ``seed``, or
    one draw of the backend's generator) on a copy of the backend without its generator, so on
    a process pool or Dask the backend must be picklable (for a continuous backend: its energy
    and ``propose``)."""
    alphas = [float(a) for a in alphas]
    root = seed_sequence(backend.seed_source() if seed is None else seed)
    plain = backend.detached()
    tasks = [(plain, a, n_iter, consolidate_every, child(root, k)) for k, a in enumerate(alphas)]
    out = map_tasks(executor, _basins_task, tasks, desc="alpha grid" if progress else None)
    return (np.array([c for c, _ in out], dtype=np.int64),
            np.array([lk for _, lk in out], dtype=np.float64))


def basins_vs_alpha(backend, alphas, n_iter: int = 100, consolidate_every: int = 0,
                    progress: bool = False, *, seed: Any = None,
                    executor: Any = None) -> np.ndarray:
    """The basin counts of :func:`alpha_sweep` alone (Fig 5.2 bottom)."""
    return alpha_sweep(backend, alphas, n_iter, consolidate_every, progress, seed=seed,
                       executor=executor)[0]


def leakage_alpha(alphas, counts, leakage, limit: float = 1.0) -> float:
    """The thesis's diagnostic turned into a rule for alpha (Sec 5.1.2): the strongest alpha
    of the grid at which AD from a new mode reaches on average at most ``limit`` basin
    representatives (no leakage between basins) while more than one basin is found; the
    weakest alpha of the grid if none qualifies."""
    a = np.asarray(alphas, dtype=np.float64).reshape(-1)
    c = np.asarray(counts).reshape(-1)
    lk = np.asarray(leakage, dtype=np.float64).reshape(-1)
    if not (a.size == c.size == lk.size and a.size >= 1):
        raise ValueError("alphas, counts and leakage must have the same length >= 1")
    ok = np.flatnonzero((lk <= limit) & (c > 1))
    return float(a[ok].max()) if ok.size else float(a.min())


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


@dataclass
class Boundary:
    """The outcome of :func:`metastable_boundary`.

    alpha:   the metastable boundary alpha*, the last alpha of the walk where a trial succeeded
             (``nan`` if even the first failed);
    barrier: the lowest barrier of a successful trial met on the walk (``inf`` if none);
    alphas, success_rate: the alphas walked, from the top, and the share of trials that
             succeeded at each (the last is 0 unless the ladder ran out).
    """

    alpha: float
    barrier: float
    alphas: np.ndarray
    success_rate: np.ndarray

    @property
    def found(self) -> bool:
        """True when the walk crossed the boundary: some alpha succeeded and a lower one failed
        (False if the first alpha already failed or the ladder ran out first)."""
        return bool(np.isfinite(self.alpha) and self.success_rate.size
                    and self.success_rate[-1] == 0)


def metastable_boundary(backend, a, b, *, alpha_start: float, n_trials: int = 20,
                        factor: float = 0.97, alpha_min: float = 1e-6, seed: Any = None,
                        executor: Any = None, alphas_per_batch: int = 1) -> Boundary:
    """The metastable boundary alpha* for AD from ``a`` toward ``b`` (single states with a batch
    dimension of 1), by the search of Sec 4.3.3: starting at ``alpha_start``, run ``n_trials``
    trials per alpha and lower alpha by ``factor`` while any trial succeeds. Returns a
    :class:`Boundary`: the last alpha with a success and the lowest barrier met on the way.

    The ladder ``alpha_start * factor**k`` (down to ``alpha_min``) is walked ``alphas_per_batch``
    alphas at a time: the trials of those alphas form one batch of AD trials, seeded
    ``child(root, j)`` for the j-th batch and cut into tasks of ``backend.chunk_size`` trials on
    the executor (on a continuous backend the trials of a chunk are one tensor of chains, their
    alphas mixed). Alphas past the first failure in a batch are wasted work; in exchange a
    batch of many alphas costs little more than one on a CPU. The answer depends on ``seed``,
    ``alphas_per_batch`` and the chunk size, never on the executor.
    """
    if not (alpha_start > 0 and 0 < factor < 1 and alpha_min >= 0):
        raise ValueError("alpha_start must be > 0, factor in (0, 1) and alpha_min >= 0")
    check_int("alphas_per_batch", alphas_per_batch, 1)
    check_int("n_trials", n_trials, 1)
    ladder, alpha = [], float(alpha_start)
    while alpha > alpha_min:
        ladder.append(alpha)
        alpha *= factor
    root = seed_sequence(backend.seed_source() if seed is None else seed)
    A, B = backend.repeat(a, n_trials), backend.repeat(b, n_trials)
    last, best = float("nan"), float("inf")
    walked, rates = [], []
    with get_executor(executor) as ex:
        for j, lo in enumerate(range(0, len(ladder), alphas_per_batch)):
            block = ladder[lo:lo + alphas_per_batch]
            k = len(block)
            res, = ad_batches(backend, [(backend.cat([A] * k), backend.cat([B] * k),
                                         np.repeat(block, n_trials), child(root, j))],
                              executor=ex)
            ok = res.success.reshape(k, n_trials)
            bar = res.barrier.reshape(k, n_trials)
            for i, al in enumerate(block):
                walked.append(al)
                rates.append(float(ok[i].mean()))
                if not ok[i].any():
                    return Boundary(last, best, np.array(walked), np.array(rates))
                last = al
                best = min(best, float(bar[i][ok[i]].min()))
    return Boundary(last, best, np.array(walked), np.array(rates))


def continuous_energy_drift(energy, modes, temperatures, *, n_steps: int, eps: float,
                            seed: Any = None) -> np.ndarray:
    """Energy of unmagnetised chains started at local ``modes`` (M, ...) of a continuous energy
    U, for each temperature T: the AD sampler with alpha = 0 (Langevin on U/T with step ``eps``,
    :func:`ebmbook.sampling.langevin.langevin`). Returns (len(temperatures), M, n_steps + 1)
    energies U; temperature ``k`` is seeded ``child(root, k)``."""
    from ..parallel import torch_generator
    from ..sampling.langevin import langevin
    from .ad import MagnetisedEnergy
    T = [float(t) for t in np.asarray(temperatures, dtype=np.float64).reshape(-1)]
    if not all(t > 0 for t in T):
        raise ValueError(f"temperatures must be > 0, got {T}")
    root = seed_sequence(seed)
    out = []
    for k, t in enumerate(T):
        V = MagnetisedEnergy(energy, modes, t, 0.0)   # V = U / T
        res = langevin(V, modes.detach(), n_steps=int(n_steps), eps=eps, noise=1.0,
                       generator=torch_generator(child(root, k), device=modes.device),
                       record_energy=True)
        out.append(res.energy.detach().cpu().numpy().astype(np.float64).T * t)   # back to U
    return np.stack(out)


#: what a chain's energy is measured above in the drift rule (:func:`drift_rise`)
DRIFT_REFERENCES = ("lowest", "running")


def drift_above(drift: np.ndarray, reference: str = "lowest") -> np.ndarray:
    """The energies of the drift rule's chains, ``drift`` (n_T, M, steps + 1) as from
    :func:`continuous_energy_drift`, measured above a reference, same shape.

    ``"lowest"``: above the lowest energy the chain reached in the whole run. A chain that is
    still sliding down (its start a mode search stopped short of the minimum) then counts its
    own descent during the last half as a rise, since its lowest point lies at the end.
    ``"running"``: above the lowest energy reached *so far* (the running minimum), which a chain
    that only descends never exceeds, so only thermal excursions count."""
    d = np.asarray(drift, dtype=np.float64)
    if d.ndim != 3:
        raise ValueError(f"drift must have shape (n_T, modes, steps + 1), got {d.shape}")
    if reference not in DRIFT_REFERENCES:
        raise ValueError(f"reference must be one of {DRIFT_REFERENCES}, got {reference!r}")
    if reference == "lowest":
        return d - d.min(axis=2, keepdims=True)
    return d - np.minimum.accumulate(d, axis=2)


def drift_rise(drift: np.ndarray, reference: str = "lowest") -> np.ndarray:
    """The drift rule's measure (Sec 5.1.2), per temperature: how far the chains' energy sits
    above the ``reference`` (:func:`drift_above`) over the last half of the run, on average over
    the steps and the chains. Returns (n_T,)."""
    above = drift_above(drift, reference)
    return above[:, :, above.shape[2] // 2:].mean(axis=2).mean(axis=1)


def drift_temperature(temperatures, drift: np.ndarray, barrier_scale: float,
                      fraction: float = 0.25, reference: str = "lowest") -> float:
    """The thesis's rule for T (Sec 5.1.2): the warmest T whose unmagnetised chains stay near
    their mode, i.e. whose energy over the last half of the run sits on average at most
    ``fraction`` of ``barrier_scale`` (a typical barrier of the landscape, e.g. the median 1D
    barrier between modes) above the chain's lowest energy (:func:`drift_rise`; ``reference``
    ``"lowest"``: the lowest of the run, ``"running"``: the lowest so far). Measuring from the
    lowest point rather than the start keeps a chain that first slides further down a shallow
    slope (a mode search stopped short of the minimum) from hiding its thermal excursion.
    ``drift`` is (n_T, M, steps + 1) as from :func:`continuous_energy_drift`.

    If no T qualifies, the quietest T (the smallest rise; the coldest of a tie). Not simply the
    coldest: the chains take Langevin steps on U/T with a fixed step, whose drift term grows as
    1/T, so below some T they overshoot and rise more than at warmer T (measured on the faces
    pair: 7.4 barrier scales at T = 1e-4 against 0.29 at 3e-4)."""
    T = np.asarray(temperatures, dtype=np.float64).reshape(-1)
    d = np.asarray(drift, dtype=np.float64)
    if d.ndim != 3 or d.shape[0] != T.size:
        raise ValueError(f"drift must have shape (n_T={T.size}, modes, steps + 1), got {d.shape}")
    if not barrier_scale > 0:
        raise ValueError(f"barrier_scale must be > 0, got {barrier_scale!r}")
    rise = drift_rise(d, reference)
    ok = np.flatnonzero(_quiet(rise, barrier_scale, fraction))
    if ok.size:
        return float(T[ok].max())
    quietest = np.flatnonzero(rise == rise.min())
    return float(T[quietest].min())


def _quiet(rise: np.ndarray, barrier_scale: float, fraction: float) -> np.ndarray:
    """Which temperatures meet the drift rule: rise at most ``fraction`` of ``barrier_scale``."""
    return rise <= fraction * barrier_scale


def drift_rule_met(drift: np.ndarray, barrier_scale: float, fraction: float = 0.25,
                   reference: str = "lowest") -> bool:
    """Whether some temperature of a drift measurement meets the rule of
    :func:`drift_temperature` (else that rule takes the quietest T)."""
    return bool(np.any(_quiet(drift_rise(drift, reference), barrier_scale, fraction)))


def typical_barrier(energy, modes, *, generator: torch.Generator) -> float:
    """A typical barrier of a continuous landscape, the yardstick of :func:`drift_temperature`
    (Sec 5.1.2): pair the local ``modes`` (M, ...) at random (one permutation drawn from
    ``generator``) and take the median rise of the 1D linear barrier
    (:func:`~ebmbook.landscape.barriers.linear_barrier`) above the higher end, over the pairs
    whose line crosses a barrier at all (pairs in one valley rise by ~0). If none does, the sd
    of the modes' energies (1 if that is 0)."""
    perm = torch.randperm(modes.shape[0], generator=generator)
    lin = linear_barrier(energy, modes, modes[perm])
    e_modes = energy(modes).detach().cpu().numpy()
    rises = (lin - np.maximum(e_modes, e_modes[perm.numpy()]))
    rises = rises[rises > 1e-6 * max(1.0, float(np.abs(e_modes).max()))]
    return float(np.median(rises)) if rises.size else float(np.std(e_modes)) or 1.0
