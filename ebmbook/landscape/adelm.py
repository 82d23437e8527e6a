"""Attraction-Diffusion Energy Landscape Mapping (ADELM, thesis Algorithm 3, Sec 5.1).

Each iteration proposes a state, finds its local mode Y, and runs AD trials between Y and every
basin representative Z_j in both directions, all as one batch. Y joins the basin with the lowest
successful barrier (and becomes its representative if it is lower), or opens a new basin if every
trial fails. Every ``consolidate_every`` iterations, representatives that AD connects are merged
(the lower one stays representative).

The state space enters through a *backend* (:class:`SpinBackend` for +-1 spins of an SK glass,
:class:`ContinuousBackend` for torch states), which proposes, descends and runs AD trials.

Parallel work and seeds (see :mod:`ebmbook.parallel`)
-----------------------------------------------------
A batch of AD trials is cut into chunks of ``backend.chunk_size`` consecutive trials; each chunk
is one task -- a top-level function called on plain data (the coupling matrix or the energy, the
chunk's starts, targets and alphas, the sampler's scalars and a seed) -- submitted to the
``executor`` (``None``: in-process). Inside a task the chunk runs as one batch (one numba call
over the trials, or one tensor of chains). Chunk ``k`` of a batch seeded ``s`` draws from a
generator built from ``child(s, k)``; iteration ``n`` of :func:`adelm` seeds its proposal with
``child(root, n, 0)``, its AD batch with ``child(root, n, 1)`` and a consolidation with
``child(root, n, 2)``, where ``root`` comes from the ``seed`` argument or, if none is given, from
one draw of the backend's generator. So the map depends on the seed and the chunk size only, not
on the executor or its number of workers.

Resuming
--------
With ``checkpoint=path``, :func:`adelm` saves its state (the modes, labels and representatives
so far, and the seed root) atomically every ``checkpoint_every`` iterations (skipping a save
while saving would take more than ``SAVE_SHARE`` of the run's time: the file grows with the
map), at the end, and when it is interrupted (Ctrl-C, a lost Dask scheduler or worker, any
error inside an iteration): the state after the last finished iteration is saved and
:class:`MapInterrupted` says how many iterations are kept. Called again with the same
arguments, it resumes from there; since iteration ``n`` draws only from ``child(root, n, .)``,
the resumed map is the uninterrupted one exactly. A checkpoint made with another seed, backend
or ``consolidate_every`` is refused, and ``n_iter`` may grow (continuing a finished map to more
iterations).
"""

from __future__ import annotations

import concurrent.futures
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from ..energies.precision import check_precision
from ..parallel import child, get_executor, map_tasks, numpy_rng, seed_sequence, torch_generator
from ..sampling.spins import sk_anneal
from .ad import (ADResult, attraction_diffusion, attraction_diffusion_spins, local_modes,
                 local_modes_spins)


class _Couplings:
    """The plain data an SK kernel needs (``J``), standing in for the model inside a task."""

    def __init__(self, J: np.ndarray):
        self.J = J

    @property
    def n(self) -> int:
        return self.J.shape[0]


def _spin_ad_task(J, starts, targets, alpha, params, seed, record) -> ADResult:
    """One chunk of spin AD trials (a task): one compiled call over the chunk."""
    return attraction_diffusion_spins(_Couplings(J), starts, targets, alpha=alpha,
                                      rng=numpy_rng(seed), record=record, **params)


def _continuous_ad(energy, starts, targets, alpha, params, generator, record) -> ADResult:
    # the only call of attraction_diffusion; ``params`` (ContinuousBackend._ad_params) carries
    # the sampler's keywords, the step size among them
    return attraction_diffusion(energy, starts, targets, alpha=alpha, generator=generator,
                                record=record, **params)


def _continuous_ad_task(energy, starts, targets, alpha, params, seed, record) -> ADResult:
    """One chunk of continuous AD trials (a task): one tensor of chains, ``alpha`` a scalar or
    one value per trial."""
    gen = torch_generator(seed, device=starts.device)
    a = np.asarray(alpha, dtype=np.float64)
    return _continuous_ad(energy, starts, targets, float(a) if a.ndim == 0 else a, params, gen,
                          record)


def _merge_results(parts: Sequence[tuple[np.ndarray, ADResult]], B: int, pad: str) -> ADResult:
    """Assemble one ADResult of B trials from parts covering trial indices ``idx``. Per-step
    traces of different lengths are padded as one batch would have them: with zeros for spins
    (``pad="zero"``), with each trial's last value for continuous chains (``pad="edge"``)."""
    if len(parts) == 1 and len(parts[0][0]) == B and np.array_equal(parts[0][0], np.arange(B)):
        return parts[0][1]
    rs = [r for _, r in parts]

    def gather(name):
        dt = np.result_type(*[getattr(r, name) for r in rs]) if rs else np.float64
        out = np.zeros(B, dtype=dt)
        for idx, r in parts:
            out[idx] = getattr(r, name)
        return out

    res = ADResult(success=gather("success").astype(bool), barrier=gather("barrier"),
                   steps=gather("steps"), final_distance=gather("final_distance"))
    for name in ("path_energy", "path_distance"):
        if rs and getattr(rs[0], name) is not None:
            L = max(getattr(r, name).shape[1] for r in rs)
            out = np.zeros((B, L), dtype=np.result_type(*[getattr(r, name) for r in rs]))
            for idx, r in parts:
                v = getattr(r, name)
                out[idx, :v.shape[1]] = v
                if pad == "edge" and v.shape[1] < L:
                    out[idx, v.shape[1]:] = v[:, -1:]
            setattr(res, name, out)
    if rs and rs[0].final is not None:
        f0 = rs[0].final
        final = f0.new_empty((B,) + tuple(f0.shape[1:]))
        for idx, r in parts:
            final[torch.as_tensor(idx, device=f0.device)] = r.final
        res.final = final
    return res


def ad_batches(backend, batches: Iterable[tuple], *, executor: Any = None,
               record: bool = False, desc: str | None = None,
               store: Any = None) -> list[ADResult]:
    """Run several batches of AD trials as one set of tasks on ``executor``.

    Each batch is ``(starts, targets, alpha, seed)`` (``alpha`` None: the backend's; a scalar or
    one value per trial; ``seed`` None: one draw from the backend's generator). A batch is cut
    into chunks of ``backend.chunk_size`` trials, chunk ``k`` seeded ``child(seed, k)``; all
    chunks of all batches are submitted before any result is awaited. Returns one
    :class:`ADResult` per batch, trials in order. ``desc`` shows a progress bar over the tasks.

    ``store`` (e.g. the :class:`~ebmbook.landscape.mapping.StageProgress` of a resumable
    :meth:`~ebmbook.landscape.mapping.MapStages.get`) keeps finished
    chunks across an interruption: its ``done`` maps a task index (chunks numbered over all
    batches) to a stored result, which is used instead of running the task, and ``put(i, r)``
    is called as each new chunk finishes. With explicit seeds the result is the same as an
    uninterrupted run's.
    """
    tasks, owners, sizes = [], [], []
    for bi, (starts, targets, alpha, seed) in enumerate(batches):
        ss = seed_sequence(backend.seed_source() if seed is None else seed)
        starts, targets = backend.as_batch(starts, targets)
        B = int(starts.shape[0])
        a = backend.alpha if alpha is None else alpha
        a = np.asarray(a, dtype=np.float64)
        if a.ndim and a.shape != (B,):
            raise ValueError(f"alpha must be a scalar or have one value per trial ({B}), "
                             f"got shape {a.shape}")
        sizes.append(B)
        for k, lo in enumerate(range(0, B, backend.chunk_size)):
            hi = min(lo + backend.chunk_size, B)
            ak = float(a) if a.ndim == 0 else a[lo:hi]
            tasks.append(backend.ad_task(starts[lo:hi], targets[lo:hi], ak, child(ss, k), record))
            owners.append((bi, np.arange(lo, hi)))
    done = {} if store is None else dict(store.done)
    todo = [i for i in range(len(tasks)) if i not in done]
    ran = map_tasks(executor, backend.ad_task_fn, [tasks[i] for i in todo], desc=desc,
                    on_result=None if store is None else lambda k, r: store.put(todo[k], r))
    results = [done.get(i) for i in range(len(tasks))]
    for i, r in zip(todo, ran):
        results[i] = r
    parts = [[] for _ in sizes]
    for (bi, idx), r in zip(owners, results):
        parts[bi].append((idx, r))
    return [_merge_results(p, B, backend.pad) if p else _empty_result(record)
            for p, B in zip(parts, sizes)]


def _empty_result(record: bool) -> ADResult:
    z = np.zeros(0)
    return ADResult(success=np.zeros(0, dtype=bool), barrier=z, steps=np.zeros(0, np.int64),
                    final_distance=z, path_energy=np.zeros((0, 1)) if record else None,
                    path_distance=np.zeros((0, 1)) if record else None)


class _Backend:
    """What both backends share: the seed source, the executor-aware ``ad`` and ``detached``."""

    _generator_attr = "rng"

    def seed_source(self):
        g = getattr(self, self._generator_attr)
        if g is None:
            raise ValueError(f"{type(self).__name__} has no generator ({self._generator_attr}="
                             "None): pass an explicit seed")
        return g

    def detached(self):
        """A copy without the live generator: plain data that can be sent to a task (which
        then runs with an explicit seed)."""
        be = copy.copy(self)
        setattr(be, self._generator_attr, None)
        return be

    def ad(self, starts, targets, alpha=None, record: bool = False, *, seed: Any = None,
           executor: Any = None) -> ADResult:
        """A batch of AD trials from ``starts`` toward ``targets`` (``alpha``: the backend's, a
        scalar or one per trial), cut into tasks of ``chunk_size`` trials on ``executor``.
        ``seed`` None takes one draw from the backend's generator."""
        return ad_batches(self, [(starts, targets, alpha, seed)], executor=executor,
                          record=record)[0]


class SpinBackend(_Backend):
    """ADELM on an SK glass: mode-search proposals, steepest single-flip descent, Gibbs AD with
    Hamming magnetisation (eq. 4.6). ``rng`` is the numpy Generator that seeds what is not
    given an explicit seed (each call takes one draw from it).

    Proposals (Algorithm 3 step 1, which leaves them open):

    * ``proposal="uniform"``: uniformly random states. On an N = 100 glass their descents end
      at a median energy of about -0.62 per spin, far above the 500 lowest modes (about -0.67
      on the seed-0 instance), and almost never reach the same mode twice.
    * ``proposal="anneal"``: a uniformly random state cooled by ``anneal_sweeps`` Gibbs sweeps
      on ``exp(-H/T)`` with T falling geometrically from ``anneal_t_start`` to ``anneal_t_end``
      (:func:`ebmbook.sampling.spins.sk_anneal`). Its descents land in the low-energy funnels,
      both mirror funnels equally often (the chain is symmetric under s -> -s), which is what a
      GWL proposal gives in the thesis.

    ``chunk_size`` trials make one task (one compiled call over the chunk): a trial costs about
    0.1-0.5 ms at N = 100, so 32 trials amortise the per-task cost of a process pool or a Dask
    worker while leaving several tasks per ADELM iteration to share out. Results depend on it
    (each chunk has its own seed), never on the executor.
    """

    pad = "zero"

    def __init__(self, model, *, temperature: float, alpha: float,
                 rng: np.random.Generator | None = None, delta: int = 0,
                 improvement_limit: int = 100, max_sweeps: int = 5000, method: str = "gibbs",
                 proposal: str = "uniform", anneal_t_start: float = 1.0,
                 anneal_t_end: float = 0.2, anneal_sweeps: int = 50, chunk_size: int = 32):
        self.model, self.temperature, self.alpha, self.rng = model, temperature, alpha, rng
        self.delta, self.improvement_limit = delta, improvement_limit
        self.max_sweeps, self.method = max_sweeps, method
        if proposal not in ("uniform", "anneal"):
            raise ValueError(f"proposal must be 'uniform' or 'anneal', got {proposal!r}")
        if not (anneal_t_start > 0 and anneal_t_end > 0 and int(anneal_sweeps) >= 1):
            raise ValueError("anneal temperatures must be > 0 and anneal_sweeps >= 1")
        if not (isinstance(chunk_size, int) and chunk_size >= 1):
            raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
        if method not in ("gibbs", "metropolis"):
            raise ValueError(f"method must be 'gibbs' or 'metropolis', got {method!r}")
        self.proposal, self.chunk_size = proposal, chunk_size
        self.schedule = np.geomspace(anneal_t_start, anneal_t_end, int(anneal_sweeps))

    def propose(self, n: int, seed: Any = None) -> np.ndarray:
        """``n`` proposals, drawn from ``seed`` if given, else from the backend's generator."""
        rng = self.seed_source() if seed is None else numpy_rng(seed_sequence(seed))
        x = (2 * rng.integers(0, 2, size=(n, self.model.n)) - 1).astype(np.int8)
        if self.proposal == "anneal":
            x = sk_anneal(self.model.J, x, self.schedule, rng)
        return x

    def local_modes(self, x):
        return local_modes_spins(self.model, x)

    ad_task_fn = staticmethod(_spin_ad_task)

    def ad_task(self, starts, targets, alpha, seed, record) -> tuple:
        """The arguments of one :func:`_spin_ad_task`: plain data only."""
        params = dict(temperature=self.temperature, delta=self.delta,
                      improvement_limit=self.improvement_limit, max_sweeps=self.max_sweeps,
                      method=self.method)
        return (self.model.J, np.ascontiguousarray(starts, dtype=np.int8),
                np.ascontiguousarray(targets, dtype=np.int8), alpha, params, seed, record)

    def as_batch(self, starts, targets):
        """(B, N) starts and targets (a single state counts as a batch of one; a single
        target is shared by every trial)."""
        s = np.asarray(starts, dtype=np.int8)
        s = s[None] if s.ndim == 1 else s
        return s, np.broadcast_to(np.asarray(targets, dtype=np.int8), s.shape)

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


class ContinuousBackend(_Backend):
    """ADELM on a continuous energy (torch): proposals from ``propose(n, generator)``, gradient
    descent to the local mode, Langevin (or RWM) AD with L2 magnetisation.

    ``generator`` seeds what is not given an explicit seed (each call takes one draw from it).
    ``chunk_size`` chains make one task (one tensor); on a process pool or Dask the ``energy``
    must be picklable (a module-level class or an ``nn.Module``, not a closure), while
    ``propose`` always runs in the calling process except in :func:`basins_vs_alpha`.
    """

    pad = "edge"
    _generator_attr = "generator"

    def __init__(self, energy: Callable, propose: Callable, *, temperature: float, alpha: float,
                 eps: float, generator: torch.Generator | None = None, delta: float = 0.05,
                 improvement_limit: int = 100, max_steps: int = 10000,
                 descent_rate: float = 0.01, descent_steps: int = 2000, sampler="langevin",
                 chunk_size: int = 256, precision: str = "fp32"):
        self.energy, self._propose = energy, propose
        self.temperature, self.alpha, self.eps = temperature, alpha, eps
        self.generator, self.delta, self.improvement_limit = generator, delta, improvement_limit
        self.max_steps, self.descent_rate, self.descent_steps = max_steps, descent_rate, descent_steps
        self.sampler = sampler
        self.precision = check_precision(precision)     # of U in AD (see attraction_diffusion)
        if not (isinstance(chunk_size, int) and chunk_size >= 1):
            raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
        self.chunk_size = chunk_size

    def propose(self, n, seed: Any = None):
        """``n`` proposals, drawn from ``seed`` if given, else from the backend's generator."""
        gen = self.seed_source() if seed is None else torch_generator(seed_sequence(seed))
        return self._propose(n, gen)

    def local_modes(self, x):
        m, u = local_modes(self.energy, x, rate=self.descent_rate, n_steps=self.descent_steps)
        return m, u.detach().cpu().numpy()

    def _ad_params(self) -> dict:
        """Keywords of ``attraction_diffusion`` besides the trials, alpha and generator."""
        # the one place the Langevin step size eps is handed to attraction_diffusion
        out = dict(temperature=self.temperature, eps=self.eps, delta=self.delta,
                   improvement_limit=self.improvement_limit, max_steps=self.max_steps,
                   sampler=self.sampler)
        if self.precision != "fp32":
            out["precision"] = self.precision
        return out

    ad_task_fn = staticmethod(_continuous_ad_task)

    def ad_task(self, starts, targets, alpha, seed, record) -> tuple:
        """The arguments of one :func:`_continuous_ad_task`."""
        return (self.energy, starts.detach(), targets.detach(), alpha, self._ad_params(), seed,
                record)

    def as_batch(self, starts, targets):
        """Starts and targets of the same shape (a single target is shared by every trial)."""
        return starts, (targets.expand_as(starts) if targets.shape != starts.shape else targets)

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


def pairwise_ad(backend, a, b, alpha=None, *, seed: Any = None, executor: Any = None):
    """AD between a[k] and b[k] in both directions as one batch of 2K trials (cut into tasks on
    ``executor``). Returns (success (K,), barrier (K,)) with the lower barrier of the successful
    directions (inf if neither succeeded)."""
    K = a.shape[0]
    res = backend.ad(backend.cat([a, b]), backend.cat([b, a]), alpha=alpha, seed=seed,
                     executor=executor)
    s1, s2 = res.success[:K], res.success[K:]
    bar = np.minimum(np.where(s1, res.barrier[:K], np.inf), np.where(s2, res.barrier[K:], np.inf))
    return s1 | s2, bar


def connected_groups(backend, reps, alpha=None, *, seed: Any = None,
                     executor: Any = None) -> np.ndarray:
    """Group basin representatives that AD connects (the consolidation step of ADELM).

    One AD trial per direction runs for every pair (i, j), all pairs as one batch (cut into tasks
    on ``executor``); pairs where either direction succeeds are joined (union-find). Returns
    ``group`` (L,) with groups numbered 0..G-1 in order of their first member.
    """
    L = reps.shape[0]
    parent = list(range(L))
    if L >= 2:
        ii, jj = np.triu_indices(L, 1)
        ok, _ = pairwise_ad(backend, backend.take(reps, ii), backend.take(reps, jj), alpha=alpha,
                            seed=seed, executor=executor)

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


#: the largest share of an ADELM run's time that its periodic checkpoint saves may take
SAVE_SHARE = 0.05


class MapInterrupted(RuntimeError):
    """An ADELM run stopped part-way (Ctrl-C, a lost scheduler, an error in an iteration) whose
    finished iterations were saved to its checkpoint: the same call resumes it."""

    def __init__(self, done: int, n_iter: int, checkpoint: Path, cause: BaseException):
        self.done, self.n_iter, self.checkpoint = done, n_iter, checkpoint
        if isinstance(cause, KeyboardInterrupt):
            self.what = "interrupted"
        else:
            why = str(cause).strip().splitlines()
            self.what = f"stopped by {type(cause).__name__}" + (f": {why[0]}" if why else "")
            if isinstance(cause, concurrent.futures.CancelledError) and not why:
                # what a Dask client raises for its tasks once its scheduler is gone
                self.what += " (the executor cancelled its tasks: a lost Dask scheduler?)"
        super().__init__(self.describe("run the same command again to resume"))

    def describe(self, resume: str) -> str:
        """The message with another way to resume than "run the same command again" (the CLI
        gives the command itself)."""
        return (f"ADELM {self.what}; {self.done} of {self.n_iter} iterations are saved in "
                f"{self.checkpoint}: {resume}")


def checkpoint_iterations(path: str | Path | None) -> int:
    """How many ADELM iterations the checkpoint file ``path`` holds (0 when there is none):
    whether a saved map is finished, without loading its energy."""
    if path is None or not Path(path).exists():
        return 0
    from ..learning.fit import read_checkpoint
    return int(read_checkpoint(path)["done"])


def proposal_seed(root: Any, n: int) -> np.random.SeedSequence:
    """The seed of iteration ``n``'s proposal in an :func:`adelm` run seeded ``root`` (an int
    or SeedSequence): ``child(root, n, 0)``. A proposal that records what it drew (e.g.
    :class:`~ebmbook.landscape.mapping.ChainProposals`) replays from it the iterations that a
    run resumed from its checkpoint did not redo."""
    return child(seed_sequence(root), n, 0)


def _fingerprint(backend, root, consolidate_every: int) -> dict:
    """What a checkpoint must match to be resumed: the seed root, the backend's kind and its
    sampler settings, the consolidation schedule and the energy's weights (a digest; None for
    an energy that is not an ``nn.Module``)."""
    fields = {k: getattr(backend, k) for k in ("temperature", "alpha", "eps", "delta",
                                                "improvement_limit", "max_steps", "chunk_size")
              if isinstance(getattr(backend, k, None), (int, float, str))}
    if getattr(backend, "precision", "fp32") != "fp32":     # fp32 maps keep their fingerprint
        fields["precision"] = backend.precision
    from ._digest import energy_fingerprint
    return {"entropy": str(root.entropy), "spawn_key": list(root.spawn_key),
            "backend": type(backend).__name__, "settings": fields,
            "consolidate_every": int(consolidate_every),
            "energy": energy_fingerprint(getattr(backend, "energy", None))}


def adelm(backend, n_iter: int, *, proposals: Callable | None = None, consolidate_every: int = 0,
          progress: bool = False, seed: Any = None, executor: Any = None,
          checkpoint: str | Path | None = None, checkpoint_every: int = 1) -> ADELMResult:
    """Run Algorithm 3 for ``n_iter`` iterations (see module docstring).

    ``proposals(n)``, if given, replaces the backend's random initialisation (e.g. a GWL or a
    generator proposal). ``consolidate_every`` > 0 merges AD-connected representatives every that
    many iterations and once at the end. ``seed`` (int, SeedSequence or generator; None: one draw
    from the backend's generator) fixes every random draw of the run; ``executor`` (an Executor
    or a spec of :func:`ebmbook.parallel.get_executor`; None: in-process) runs each iteration's
    AD trials. The iterations themselves are sequential (each depends on the map so far).
    ``checkpoint``: a file to save the state to every ``checkpoint_every`` iterations and to
    resume from (see "Resuming" in the module docstring; exact with the backend's own
    proposals, not with a stateful ``proposals`` callable).
    """
    if not (isinstance(n_iter, int) and n_iter >= 1):
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    if checkpoint is not None and seed is None:
        raise ValueError("a checkpointed ADELM run needs an explicit seed: a resumed run must "
                         "draw the same random numbers")
    root = seed_sequence(backend.seed_source() if seed is None else seed)
    modes, energies, raw_labels, bars, nsucc = [], [], [], [], []
    reps = None
    rep_E: list[float] = []
    alias = []  # alias[l] = current label of historical label l (after consolidations)
    start = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    fingerprint = _fingerprint(backend, root, consolidate_every)
    if ckpt is not None and ckpt.exists():
        from ..learning.fit import ForeignCheckpointError, read_checkpoint
        state = read_checkpoint(ckpt)
        if state.get("fingerprint") != fingerprint:
            raise ForeignCheckpointError(ckpt, f"ADELM checkpoint {ckpt} belongs to another map "
                                         "(another seed, backend setting or consolidation "
                                         "schedule): delete it or choose another checkpoint path")
        modes, energies, raw_labels = state["modes"], state["energies"], state["raw_labels"]
        bars, nsucc, reps = state["bars"], state["nsucc"], state["reps"]
        rep_E, alias, start = state["rep_E"], state["alias"], int(state["done"])
        if start > n_iter:
            raise ValueError(f"the checkpoint {ckpt} holds {start} iterations, more than "
                             f"n_iter = {n_iter}")

    last_save = {"end": time.perf_counter(), "cost": 0.0}

    def save(done: int, periodic: bool = False) -> None:
        # a file of every mode so far: a periodic save waits until the time since the last one
        # is SAVE_SHARE^-1 times what that one cost, so that saving stays a small share of a
        # long run of quick iterations; the saves at the end and on interruption always happen
        if periodic and time.perf_counter() - last_save["end"] < last_save["cost"] / SAVE_SHARE:
            return
        from ..io import atomic_torch_save
        t0 = time.perf_counter()
        atomic_torch_save({"fingerprint": fingerprint, "done": done, "modes": modes,
                           "energies": energies, "raw_labels": raw_labels, "bars": bars,
                           "nsucc": nsucc, "reps": reps, "rep_E": rep_E, "alias": alias}, ckpt)
        last_save["end"] = time.perf_counter()
        last_save["cost"] = last_save["end"] - t0

    it = range(start, n_iter)
    if progress:
        from .._progress import tqdm
        it = tqdm(it, desc="ADELM", initial=start, total=n_iter)

    def consolidate(ex, ss):
        nonlocal reps, rep_E
        L = len(rep_E)
        if L < 2:
            return
        group = connected_groups(backend, reps, seed=ss, executor=ex)
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

    def iteration(n: int, ex) -> None:
        nonlocal reps, rep_E
        x = (proposals(1) if proposals is not None
             else backend.propose(1, seed=proposal_seed(root, n)))
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
            return
        L = len(rep_E)
        ok, bar = pairwise_ad(backend, backend.repeat(y, L), reps, seed=child(root, n, 1),
                              executor=ex)
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
            consolidate(ex, child(root, n, 2))

    done = start
    snapshot = (reps, list(rep_E), list(alias))
    try:
        with get_executor(executor) as ex:
            for n in it:
                # what an iteration changes in place, to undo a half-done one
                snapshot = (reps, list(rep_E), list(alias))
                iteration(n, ex)
                done = n + 1
                if ckpt is not None and (done % checkpoint_every == 0 or done == n_iter):
                    save(done, periodic=done < n_iter)
            snapshot = (reps, list(rep_E), list(alias))
            if consolidate_every:
                consolidate(ex, child(root, n_iter, 2))
    except BaseException as exc:
        if ckpt is None:
            raise
        reps, rep_E, alias = snapshot
        del modes[done:], energies[done:], raw_labels[done:], bars[done:], nsucc[done:]
        save(done)
        raise MapInterrupted(done, n_iter, ckpt, exc) from exc
    labels = np.array([alias[h] for h in raw_labels], dtype=np.int64)
    L = len(rep_E)
    return ADELMResult(modes=backend.cat(modes), energies=np.array(energies), labels=labels,
                       barriers=np.array(bars), n_success=np.array(nsucc), reps=reps,
                       rep_energies=np.array(rep_E), counts=np.bincount(labels, minlength=L))
