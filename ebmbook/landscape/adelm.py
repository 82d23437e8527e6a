"""Attraction-Diffusion Energy Landscape Mapping (ADELM, thesis Algorithm 3, Sec 5.1).

Each iteration proposes a state, finds its local mode Y, and runs AD trials between Y and every
basin representative Z_j in both directions, all as one batch. Y joins the basin with the lowest
successful barrier (and becomes its representative if it is lower), or opens a new basin if every
trial fails. Every ``consolidate_every`` iterations, representatives that AD connects are merged
(the lower one stays representative).

The state space enters through a *backend* (:class:`SpinBackend` for +-1 spins of an SK glass,
:class:`ContinuousBackend` for torch states), which proposes, descends and runs AD trials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .ad import (ADResult, attraction_diffusion, attraction_diffusion_spins, local_modes,
                 local_modes_spins)
from ..sampling.spins import sk_anneal


class SpinBackend:
    """ADELM on an SK glass: mode-search proposals, steepest single-flip descent, Gibbs AD with
    Hamming magnetisation (eq. 4.6). ``rng`` is the numpy Generator for every draw.

    Proposals (Algorithm 3 step 1, which leaves them open):

    * ``proposal="uniform"``: uniformly random states. On an N = 100 glass their descents end
      at a median energy of about -0.62 per spin, far above the 500 lowest modes (about -0.67
      on the seed-0 instance), and almost never reach the same mode twice.
    * ``proposal="anneal"``: a uniformly random state cooled by ``anneal_sweeps`` Gibbs sweeps
      on ``exp(-H/T)`` with T falling geometrically from ``anneal_t_start`` to ``anneal_t_end``
      (:func:`ebmbook.sampling.spins.sk_anneal`). Its descents land in the low-energy funnels,
      both mirror funnels equally often (the chain is symmetric under s -> -s), which is what a
      GWL proposal gives in the thesis.
    """

    def __init__(self, model, *, temperature: float, alpha: float, rng: np.random.Generator,
                 delta: int = 0, improvement_limit: int = 100, max_sweeps: int = 5000,
                 method: str = "gibbs", proposal: str = "uniform", anneal_t_start: float = 1.0,
                 anneal_t_end: float = 0.2, anneal_sweeps: int = 50):
        self.model, self.temperature, self.alpha, self.rng = model, temperature, alpha, rng
        self.delta, self.improvement_limit = delta, improvement_limit
        self.max_sweeps, self.method = max_sweeps, method
        if proposal not in ("uniform", "anneal"):
            raise ValueError(f"proposal must be 'uniform' or 'anneal', got {proposal!r}")
        if not (anneal_t_start > 0 and anneal_t_end > 0 and int(anneal_sweeps) >= 1):
            raise ValueError("anneal temperatures must be > 0 and anneal_sweeps >= 1")
        self.proposal = proposal
        self.schedule = np.geomspace(anneal_t_start, anneal_t_end, int(anneal_sweeps))

    def propose(self, n: int) -> np.ndarray:
        x = (2 * self.rng.integers(0, 2, size=(n, self.model.n)) - 1).astype(np.int8)
        if self.proposal == "anneal":
            x = sk_anneal(self.model.J, x, self.schedule, self.rng)
        return x

    def local_modes(self, x):
        return local_modes_spins(self.model, x)

    def ad(self, starts, targets, alpha=None, record=False) -> ADResult:
        return attraction_diffusion_spins(
            self.model, starts, targets, temperature=self.temperature,
            alpha=self.alpha if alpha is None else alpha, rng=self.rng, delta=self.delta,
            improvement_limit=self.improvement_limit, max_sweeps=self.max_sweeps,
            method=self.method, record=record)

    @staticmethod
    def cat(xs):
        return np.concatenate(xs, axis=0)

    @staticmethod
    def take(x, idx):
        return x[np.asarray(idx, dtype=np.int64)]

    @staticmethod
    def repeat(x, n):
        return np.repeat(x, n, axis=0)

    @staticmethod
    def to_numpy(x):
        return np.asarray(x)


class ContinuousBackend:
    """ADELM on a continuous energy (torch): proposals from ``propose(n, generator)``, gradient
    descent to the local mode, Langevin (or RWM) AD with L2 magnetisation."""

    def __init__(self, energy: Callable, propose: Callable, *, temperature: float, alpha: float,
                 step_size: float, generator: torch.Generator, delta: float = 0.05,
                 improvement_limit: int = 100, max_steps: int = 10000,
                 descent_step: float = 0.01, descent_steps: int = 2000, sampler="langevin"):
        self.energy, self._propose = energy, propose
        self.temperature, self.alpha, self.step_size = temperature, alpha, step_size
        self.generator, self.delta, self.improvement_limit = generator, delta, improvement_limit
        self.max_steps, self.descent_step, self.descent_steps = max_steps, descent_step, descent_steps
        self.sampler = sampler

    def propose(self, n):
        return self._propose(n, self.generator)

    def local_modes(self, x):
        m, u = local_modes(self.energy, x, step_size=self.descent_step, n_steps=self.descent_steps)
        return m, u.numpy()

    def ad(self, starts, targets, alpha=None, record=False) -> ADResult:
        return attraction_diffusion(
            self.energy, starts, targets, temperature=self.temperature,
            alpha=self.alpha if alpha is None else alpha, step_size=self.step_size,
            generator=self.generator, delta=self.delta,
            improvement_limit=self.improvement_limit, max_steps=self.max_steps,
            sampler=self.sampler, record=record)

    @staticmethod
    def cat(xs):
        return torch.cat(xs, 0)

    @staticmethod
    def take(x, idx):
        return x[torch.as_tensor(np.asarray(idx, dtype=np.int64))]

    @staticmethod
    def repeat(x, n):
        return x.repeat_interleave(n, 0)

    @staticmethod
    def to_numpy(x):
        return x.detach().cpu().numpy()


def pairwise_ad(backend, a, b, alpha=None):
    """AD between a[k] and b[k] in both directions as one batch of 2K trials. Returns
    (success (K,), barrier (K,)) with the lower barrier of the successful directions (inf if
    neither succeeded)."""
    K = a.shape[0]
    res = backend.ad(backend.cat([a, b]), backend.cat([b, a]), alpha=alpha)
    s1, s2 = res.success[:K], res.success[K:]
    bar = np.minimum(np.where(s1, res.barrier[:K], np.inf), np.where(s2, res.barrier[K:], np.inf))
    return s1 | s2, bar


def connected_groups(backend, reps, alpha=None) -> np.ndarray:
    """Group basin representatives that AD connects (the consolidation step of ADELM).

    One AD trial per direction runs for every pair (i, j), all pairs as one batch; pairs where
    either direction succeeds are joined (union-find). Returns ``group`` (L,) with groups
    numbered 0..G-1 in order of their first member.
    """
    L = reps.shape[0]
    parent = list(range(L))
    if L >= 2:
        ii, jj = np.triu_indices(L, 1)
        ok, _ = pairwise_ad(backend, backend.take(reps, ii), backend.take(reps, jj), alpha=alpha)

        def find(u):
            while parent[u] != u:
                parent[u] = parent[parent[u]]
                u = parent[u]
            return u
        for i, j, s in zip(ii, jj, ok):
            if s:
                ri, rj = find(int(i)), find(int(j))
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
        roots = [find(u) for u in range(L)]
    else:
        roots = list(range(L))
    first = {}
    return np.array([first.setdefault(r, len(first)) for r in roots], dtype=np.int64)


@dataclass
class ADELMResult:
    """Output of Algorithm 3.

    modes, energies: (n_iter, ...) local modes Y_n and their energies.
    labels:   (n_iter,) final basin label of each mode (after consolidations), 0..L-1.
    barriers: (n_iter,) lowest successful AD barrier when Y_n joined a basin (nan if it opened one).
    n_success:(n_iter,) how many representatives AD reached from Y_n (leakage diagnostic).
    reps, rep_energies: (L, ...) basin representatives (global modes Z_j) and their energies.
    counts:   (L,) number of modes per basin.
    """

    modes: object
    energies: np.ndarray
    labels: np.ndarray
    barriers: np.ndarray
    n_success: np.ndarray
    reps: object
    rep_energies: np.ndarray
    counts: np.ndarray = field(default=None)

    @property
    def n_basins(self) -> int:
        return len(self.rep_energies)


def adelm(backend, n_iter: int, *, proposals: Callable | None = None, consolidate_every: int = 0,
          progress: bool = False) -> ADELMResult:
    """Run Algorithm 3 for ``n_iter`` iterations (see module docstring).

    ``proposals(n)``, if given, replaces the backend's random initialisation (e.g. a GWL or a
    generator proposal). ``consolidate_every`` > 0 merges AD-connected representatives every that
    many iterations and once at the end.
    """
    if not (isinstance(n_iter, int) and n_iter >= 1):
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    modes, energies, raw_labels, bars, nsucc = [], [], [], [], []
    reps = None
    rep_E: list[float] = []
    alias = []  # alias[l] = current label of historical label l (after consolidations)
    it = range(n_iter)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="ADELM")

    def consolidate():
        nonlocal reps, rep_E
        L = len(rep_E)
        if L < 2:
            return
        group = connected_groups(backend, reps)
        G = int(group.max()) + 1
        if G == L:
            return
        best = []
        for g in range(G):
            members = np.flatnonzero(group == g)
            best.append(int(members[np.argmin([rep_E[u] for u in members])]))
        reps = backend.take(reps, best)
        rep_E = [rep_E[u] for u in best]
        for h in range(len(alias)):
            alias[h] = int(group[alias[h]])

    for n in it:
        x = proposals(1) if proposals is not None else backend.propose(1)
        y, ey = backend.local_modes(x)
        ey = float(np.asarray(ey).reshape(-1)[0])
        modes.append(y)
        energies.append(ey)
        if reps is None:
            reps, rep_E = y, [ey]
            alias.append(0)
            raw_labels.append(0)
            bars.append(np.nan)
            nsucc.append(0)
            continue
        L = len(rep_E)
        ok, bar = pairwise_ad(backend, backend.repeat(y, L), reps)
        nsucc.append(int(ok.sum()))
        if ok.any():
            lbl = int(np.argmin(bar))
            bars.append(float(bar[lbl]))
            if ey < rep_E[lbl]:
                reps = backend.cat([backend.take(reps, range(lbl)), y,
                                    backend.take(reps, range(lbl + 1, L))])
                rep_E[lbl] = ey
            # record in terms of a fresh historical label pointing at lbl
            alias.append(lbl)
        else:
            reps = backend.cat([reps, y])
            rep_E.append(ey)
            bars.append(np.nan)
            alias.append(L)
        raw_labels.append(len(alias) - 1)
        if consolidate_every and (n + 1) % consolidate_every == 0:
            consolidate()
    if consolidate_every:
        consolidate()
    labels = np.array([alias[h] for h in raw_labels], dtype=np.int64)
    L = len(rep_E)
    return ADELMResult(modes=backend.cat(modes), energies=np.array(energies), labels=labels,
                       barriers=np.array(bars), n_success=np.array(nsucc), reps=reps,
                       rep_energies=np.array(rep_E), counts=np.bincount(labels, minlength=L))
