"""Local samplers for +-1 spins: batched Gibbs (heat-bath) and single-flip Metropolis sweeps.

Two families:

* SK-type dense couplings (eq. 5.1): :func:`sk_sweeps` runs systematic single-site sweeps on
  ``exp(-(H(s)/T + alpha * d(s, s*)))`` for a batch of chains, each with its own temperature,
  optional target state ``s*`` and magnetisation ``alpha`` (the Attraction-Diffusion density
  (4.6) with Hamming distance ``d``). The inner loop is compiled with numba; local fields are
  kept up to date so a flip costs O(N).
* 2D Ising with a field (eq. 4.8): :func:`ising_sweeps` runs checkerboard heat-bath sweeps,
  vectorised over chains with per-chain temperature and field.

Every random draw comes from the explicit ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is the `fast` extra; fall back to plain Python (slow but identical) without it
    from numba import njit
except ImportError:  # pragma: no cover
    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

# A flip whose log-odds against exceed this is never taken (probability < 1e-15); skipping the
# uniform draw for it keeps runs deterministic and saves most draws at low temperature.
_LOGIT_CUTOFF = 35.0


@njit(cache=True)
def flip_accepted(x, metropolis, rng):
    """Whether to take a single-spin flip whose cost, in units of the log-density, is ``x``
    (``x = dH / T`` for the Boltzmann density, plus ``alpha * dd`` for the magnetised one).

    ``metropolis``: accept with probability ``min(1, exp(-x))``; otherwise heat-bath (Gibbs):
    ``1 / (1 + exp(x))``. One uniform draw from ``rng`` (a numpy Generator) is used unless the
    outcome is certain: ``x <= 0`` under Metropolis, or ``x`` beyond ``_LOGIT_CUTOFF`` (never
    taken). The compiled SK kernels here and in :mod:`ebmbook.landscape._kernels` call it."""
    if x > _LOGIT_CUTOFF:
        return False
    if metropolis:
        if x <= 0.0:
            return True
        return rng.random() < math.exp(-x)
    return rng.random() < 1.0 / (1.0 + math.exp(x))


@njit(cache=True)
def local_fields(J, s):
    """``h = J s`` for one state (float64)."""
    N = s.shape[0]
    h = np.zeros(N)
    for i in range(N):
        acc = 0.0
        for k in range(N):
            acc += J[i, k] * s[k]
        h[i] = acc
    return h


@njit(cache=True)
def flip_spin(J, s, h, i):
    """Flip spin ``i`` of the state ``s`` in place and update its local fields ``h = J s`` in
    place (O(N)); the extensive energy changes by the ``2 s_i h_i`` computed before the flip."""
    s[i] = -s[i]
    two_si = 2.0 * s[i]
    N = s.shape[0]
    for k in range(N):
        h[k] += two_si * J[k, i]


@njit(cache=True)
def _sk_sweeps_kernel(J, S, temps, alphas, targets, use_target, n_sweeps, metropolis, rng,
                      energies):
    B, N = S.shape
    for b in range(B):
        s = S[b]
        h = local_fields(J, s)
        H = 0.0
        for i in range(N):
            H -= 0.5 * s[i] * h[i]
        energies[b, 0] = H / N
        invT = 1.0 / temps[b]
        a = alphas[b]
        for t in range(n_sweeps):
            for i in range(N):
                dH = 2.0 * s[i] * h[i]
                x = dH * invT
                if use_target:
                    x += a * (-1.0 if s[i] != targets[b, i] else 1.0)
                if flip_accepted(x, metropolis, rng):
                    flip_spin(J, s, h, i)
                    H += dH
            energies[b, t + 1] = H / N


def sk_sweeps(J: np.ndarray, s: np.ndarray, *, n_sweeps: int, temperature, rng: np.random.Generator,
              target: np.ndarray | None = None, alpha=0.0, method: str = "gibbs"):
    """Run ``n_sweeps`` systematic single-site sweeps on a batch of SK states.

    Target of each chain b: ``exp(-(H(s)/T_b + alpha_b * d(s, target_b)))`` with ``H`` the
    extensive SK energy and ``d`` the Hamming distance (eq. 4.6 for spins; ``alpha = 0`` or
    ``target=None`` gives the plain Boltzmann density of eq. 5.1).

    Parameters
    ----------
    J: (N, N) symmetric couplings (e.g. ``SKModel.J``).
    s: (B, N) +-1 states; not modified.
    temperature, alpha: scalars or (B,) arrays.
    target: optional (B, N) or (N,) +-1 target states.
    method: "gibbs" (heat-bath) or "metropolis" (single-flip Metropolis).

    Returns
    -------
    tuple
        ``(states (B, N) int8, energy per spin (B, n_sweeps + 1))``.
    """
    if method not in ("gibbs", "metropolis"):
        raise ValueError(f"method must be 'gibbs' or 'metropolis', got {method!r}")
    if not (isinstance(n_sweeps, int) and n_sweeps >= 0):
        raise ValueError(f"n_sweeps must be an integer >= 0, got {n_sweeps!r}")
    S = np.array(s, dtype=np.int8, copy=True, order="C")
    if S.ndim != 2 or S.shape[1] != J.shape[0]:
        raise ValueError(f"s must have shape (B, {J.shape[0]}), got {S.shape}")
    B, N = S.shape
    temps = np.broadcast_to(np.asarray(temperature, dtype=np.float64), (B,)).copy()
    if np.any(temps <= 0):
        raise ValueError("temperature must be > 0")
    alphas = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (B,)).copy()
    use_target = target is not None
    tg = (np.broadcast_to(np.asarray(target, dtype=np.int8), (B, N)).copy() if use_target
          else np.ones((1, N), dtype=np.int8))
    energies = np.empty((B, n_sweeps + 1))
    _sk_sweeps_kernel(np.ascontiguousarray(J, dtype=np.float64), S, temps, alphas, tg,
                      use_target, n_sweeps, method == "metropolis", rng, energies)
    return S, energies


@njit(cache=True)
def _sk_anneal_kernel(J, S, schedule, metropolis, rng):
    B, N = S.shape
    for b in range(B):
        s = S[b]
        h = local_fields(J, s)
        for t in range(schedule.shape[0]):
            invT = 1.0 / schedule[t]
            for i in range(N):
                if flip_accepted(2.0 * s[i] * h[i] * invT, metropolis, rng):
                    flip_spin(J, s, h, i)


def sk_anneal(J: np.ndarray, s: np.ndarray, schedule, rng: np.random.Generator,
              method: str = "gibbs") -> np.ndarray:
    """Simulated annealing of a batch of SK states: one systematic sweep on ``exp(-H(s)/T_t)``
    per entry ``T_t`` of ``schedule`` (extensive ``H`` of eq. 5.1, so ``T_c = 1``), all chains
    in one compiled call. Used as the mode-search proposal of ADELM (Algorithm 3 step 1 leaves
    the proposal open: random initialisation or an MCMC proposal). Returns the (B, N) states.
    """
    if method not in ("gibbs", "metropolis"):
        raise ValueError(f"method must be 'gibbs' or 'metropolis', got {method!r}")
    sched = np.ascontiguousarray(np.asarray(schedule, dtype=np.float64).reshape(-1))
    if sched.size == 0 or np.any(~np.isfinite(sched)) or np.any(sched <= 0):
        raise ValueError("schedule must be a non-empty sequence of temperatures > 0")
    S = np.array(s, dtype=np.int8, copy=True, order="C")
    if S.ndim != 2 or S.shape[1] != J.shape[0]:
        raise ValueError(f"s must have shape (B, {J.shape[0]}), got {S.shape}")
    _sk_anneal_kernel(np.ascontiguousarray(J, dtype=np.float64), S, sched,
                      method == "metropolis", rng)
    return S


def _checkerboard(side: int) -> np.ndarray:
    ii, jj = np.indices((side, side))
    return (ii + jj) % 2 == 0


def ising_sweeps(sigma: np.ndarray, *, temperature, field, n_sweeps: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Checkerboard heat-bath sweeps of the 2D Ising model with field (eq. 4.8).

    ``sigma``: (B, side, side) +-1 states with periodic boundaries; ``temperature`` and ``field``:
    scalars or (B,) arrays. Site i is set to +1 with probability
    ``sigmoid(2 (sum_nbrs sigma_j / T + H))``. Returns ``(states, magnetisation per site after
    each sweep (n_sweeps, B))``.
    """
    s = np.array(sigma, dtype=np.float64, copy=True)
    if s.ndim != 3 or s.shape[1] != s.shape[2] or s.shape[1] % 2:
        raise ValueError(f"sigma must have shape (B, side, side) with an even side, got {s.shape}")
    B, side, _ = s.shape
    invT = 1.0 / np.broadcast_to(np.asarray(temperature, dtype=np.float64), (B,))[:, None, None]
    H = np.broadcast_to(np.asarray(field, dtype=np.float64), (B,))[:, None, None]
    masks = (_checkerboard(side), ~_checkerboard(side))
    mags = np.empty((n_sweeps, B))
    for t in range(n_sweeps):
        for m in masks:
            nb = (np.roll(s, 1, 1) + np.roll(s, -1, 1) + np.roll(s, 1, 2) + np.roll(s, -1, 2))
            p_up = 1.0 / (1.0 + np.exp(-2.0 * (nb * invT + H)))
            u = rng.random((B, side, side))
            new = np.where(u < p_up, 1.0, -1.0)
            s = np.where(m, new, s)
        mags[t] = s.mean(axis=(1, 2))
    return s.astype(np.int8), mags
