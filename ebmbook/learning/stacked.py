"""Algorithm 1 for K small networks at once: :func:`train_stacked`.

The toy chapters learn many MLP potentials of one shape (two densities under two recipes, or one
density under three initialisations), each with hundreds of thousands of Langevin steps at
batch 100. At that size a step is bound by per-op overhead and small matrix products, so K
separate runs cost almost K times one. :func:`train_stacked` runs the K runs in lockstep as one
program: their negative chains are one batch of ``K * batch_size`` chains through one batched
network program, and each network's gradient comes only from its own loss term.

**Groups.** Runs whose configs agree in everything but :data:`PER_RUN_FIELDS` (the
initialisation) form a *group*: one :class:`~ebmbook.energies.potentials.StackedMLP`, one
optimiser schedule and one random stream, seeded by the group's ``seed``. Groups may differ in
anything else - optimiser and rate, eps, tau, the number of updates - except
:data:`SHARED_FIELDS`, which the common chain program needs. The toy chapter's two convergent
models (SGD, eps 0.125, 8000 updates) and two non-convergent ones (Adam, eps 0.01, 2000
updates) are two groups of one stack: for the first 2000 updates one chain program moves the
chains of all four networks, each with its own drift, scale and noise; then the finished group
stops updating (its weights, bank and optimiser are left as they were after its last update)
and the program holds the other two.

Each group draws from its own generator, in the order in which a stack of that group alone draws
(data, then initial states, then the chains' noise step by step), and the groups' negative
chains run through :func:`~ebmbook.sampling.langevin.langevin_together`, which gives each group
what :func:`~ebmbook.sampling.langevin.langevin` gives it alone, bit for bit. So a run's numbers
are the same whether its group is trained alone or beside other groups (tested in
``tests/test_stacked.py``).

A stacked run is K honest runs of Algorithm 1, but not bit-identical to K separate
:func:`~ebmbook.learning.trainer.train` calls: the random numbers of a group are drawn in another
order and the batched matrix products round differently. The tests check it against separate runs
number for number where no random draw is made (tolerance 1e-4), and each network's gradient
against its own loss.

**Speed.** For fp32 (leaky) ReLU networks without MH or a prior, the energies offer the
sampler's gradient-only protocol
(:meth:`~ebmbook.energies.potentials.RescaledPotential.prepared_gradient`), so the chains of all
active groups run as one program that skips the generic sampler's per-step bookkeeping: the
weights are prepared once per update, the network's value is not computed (a chain needs only
its gradient), the noise is drawn into one buffer and the per-step gradient norms into one
array. For the toy MLP at batch 100 a chain step costs about two thirds of a step of
``langevin()`` on the same stack, and a training update (with its loss, optimiser and
bookkeeping) about 0.7 to 0.75 (``benchmarks/langevin.py --only stacked``); the batched matrix
products themselves are about half of what is left (cProfile). Other settings (bf16, MH, a prior,
smooth activations) run each group through ``langevin()`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..energies.potentials import MLPPotential, StackedMLP
from ..energies.precision import evaluation
from ..sampling.init import StackedInit
from ..sampling.langevin import Chains, langevin, langevin_together
from .fit import Divergence, TrainLog, check_data_batch, check_statistic, fit
from .trainer import (ML_STATS, TrainConfig, TrainResult, as_data_source, build_model,
                      build_optimizer, make_initializer, perturb_data)

#: the fields in which the runs of one group may differ
PER_RUN_FIELDS = ("init", "noise_scale", "bank_size")
#: the fields that every run of a stack shares (the chain program's batch and length, and the
#: checkpoint period of the one loop)
SHARED_FIELDS = ("batch_size", "n_langevin", "checkpoint_every")


@dataclass(frozen=True)
class StackedConfig:
    """The configs of the K runs of a stack (what its checkpoint's hash guards)."""

    configs: tuple[TrainConfig, ...]


def check_stackable(configs: Sequence[TrainConfig]) -> None:
    """Raise ValueError, naming the field, unless the configs agree in :data:`SHARED_FIELDS`."""
    if not configs:
        raise ValueError("a stack needs at least one TrainConfig")
    ref = configs[0]
    for k, c in enumerate(configs[1:], 1):
        for name in SHARED_FIELDS:
            if getattr(c, name) != getattr(ref, name):
                raise ValueError(
                    f"config {k} differs from config 0 in {name!r} ({getattr(c, name)!r} vs "
                    f"{getattr(ref, name)!r}): runs trained together share "
                    f"{', '.join(SHARED_FIELDS)} (their chains run in lockstep); train the "
                    "others in another stack")


def stack_groups(configs: Sequence[TrainConfig]) -> list[tuple[int, ...]]:
    """The groups of a stack: indices of the runs whose configs agree in everything but
    :data:`PER_RUN_FIELDS`, in order of first appearance."""
    check_stackable(configs)
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        key = tuple((f, v) for f, v in vars(c).items() if f not in PER_RUN_FIELDS)
        groups.setdefault(key, []).append(i)
    return [tuple(g) for g in groups.values()]


def _stat(name: str, k: int) -> str:
    return f"{name}[{k}]"


class _Group:
    """The runs of one group: what a stack of these runs alone would hold (their networks as one
    :class:`StackedMLP`, data sources, initialisers, one optimiser schedule) and its generator."""

    def __init__(self, runs: Sequence[int], nets, datas, configs, generator: torch.Generator,
                 device):
        self.runs = tuple(runs)
        self.cfg = cfg = configs[self.runs[0]]
        self.k = len(self.runs)
        self.generator = generator
        self.net = StackedMLP.from_nets([nets[i].to(device) for i in self.runs])
        self.sources = [as_data_source(datas[i], device) for i in self.runs]
        probe = self.sources[0].sample(1, generator=torch.Generator(device=generator.device)
                                       .manual_seed(cfg.seed + 1))
        self.state_shape, dtype = tuple(probe.shape[1:]), probe.dtype
        inits = [make_initializer(configs[i], src, self.state_shape, dtype, generator, device)
                 for i, src in zip(self.runs, self.sources)]
        self.initializers = [i for i, _ in inits]
        self.banks = [b for _, b in inits]
        self.model = build_model(self.net, cfg, StackedInit(self.initializers), self.state_shape)
        self.optimizer = build_optimizer(self.net.parameters(), cfg)

    def chains(self, y0: torch.Tensor) -> Chains:
        """The group's negative chains from ``y0`` (its model's sampler, its generator)."""
        m = self.model
        return Chains(m.energy, y0, eps=m.eps, noise=m.tau, mh=m.mh, generator=self.generator,
                      precision=m.precision, groups=self.k)


class StackedMLLearner:
    """Algorithm 1 for a stack of K MLPs in groups (see the module docstring), as a learner for
    :func:`~ebmbook.learning.fit.fit`. ``generator`` is the first group's stream (the one
    :func:`fit` saves); the other groups' generators are part of :meth:`state_dict`."""

    #: run the active groups' chains together (:func:`langevin_together`); False runs each
    #: group's through :func:`langevin` alone (the same numbers; the benchmark's reference)
    chains_together = True

    def __init__(self, nets: Sequence[MLPPotential], datas: Sequence[Any],
                 configs: Sequence[TrainConfig], generator: torch.Generator,
                 device: str | torch.device = "cpu"):
        if not (len(nets) == len(datas) == len(configs)):
            raise ValueError(f"give one network, data source and config per run; got "
                             f"{len(nets)}, {len(datas)} and {len(configs)}")
        self.configs = tuple(configs)
        self.k = len(nets)
        self.groups = []
        for i, runs in enumerate(stack_groups(self.configs)):
            gen = generator if i == 0 else torch.Generator(device=generator.device).manual_seed(
                self.configs[runs[0]].seed)
            self.groups.append(_Group(runs, nets, datas, self.configs, gen, device))
        shapes = {(g.net.dim, g.net.widths, g.net.activation, g.net.leak) for g in self.groups}
        if len(shapes) > 1:
            raise ValueError("only networks of one shape can be stacked; got "
                             + ", ".join(map(str, sorted(shapes, key=str))))
        self.state_shape = self.groups[0].state_shape
        by_run = {r: (g, j) for g in self.groups for j, r in enumerate(g.runs)}
        self.initializers = [by_run[r][0].initializers[by_run[r][1]] for r in range(self.k)]
        self.banks = [by_run[r][0].banks[by_run[r][1]] for r in range(self.k)]
        self.n_steps = max(c.n_steps for c in self.configs)
        self.stat_names = tuple(_stat(s, k) for k in range(self.k) for s in ML_STATS)

    def _negatives(self, active: list[_Group], y0s: list[torch.Tensor]):
        chains = [g.chains(y0) for g, y0 in zip(active, y0s)]
        n_steps = active[0].cfg.n_langevin      # shared by every run of the stack
        if self.chains_together:
            negs = langevin_together(chains, n_steps=n_steps)
        else:
            negs = [langevin(c.energy, c.x, n_steps=n_steps, eps=c.eps, noise=c.noise, mh=c.mh,
                             generator=c.generator, precision=c.precision, groups=c.groups)
                    for c in chains]
        return ([neg.x for neg in negs],
                [neg.r_groups.tolist() if g.k > 1 else [neg.r] for g, neg in zip(active, negs)])

    def step(self, t: int, generator: torch.Generator) -> dict[str, float]:
        """One update of every run that has updates left (the stacked form of
        :func:`~ebmbook.learning.trainer.ml_step`); a finished group is left untouched."""
        active = [g for g in self.groups if t < g.cfg.n_steps]
        others = [(g, g.generator.get_state()) for g in active if g.generator is not generator]
        try:
            drawn = []
            for g in active:
                b, gen = g.cfg.batch_size, g.generator
                x_pos = perturb_data(torch.cat([src.sample(b, generator=gen)
                                                for src in g.sources]), g.cfg, gen)
                drawn.append((x_pos, *g.model.initializer.draw(b, gen)))
            negs, rs = self._negatives(active, [y0 for _, y0, _ in drawn])
            losses = []
            for g, (x_pos, _, _), neg, r in zip(active, drawn, negs, rs):
                k, b = g.k, g.cfg.batch_size
                check_data_batch(x_pos)
                with evaluation(g.cfg.precision, x_pos.device):
                    u_pos = g.model.energy(x_pos).to(x_pos.dtype).view(k, b).mean(1)
                    u_neg = g.model.energy(neg).to(x_pos.dtype).view(k, b).mean(1)
                d_st = u_pos - u_neg
                d = d_st.tolist()
                for j, run in enumerate(g.runs):
                    if not (np.isfinite(d[j]) and np.isfinite(r[j])):
                        raise Divergence(f"run {run} of the stack: d_st = {d[j]}, r_st = {r[j]} "
                                         "(not finite)")
                    check_statistic(f"d_st of run {run} of the stack", d[j],
                                    g.cfg.divergence_threshold)
                losses.append((d_st, d, u_pos, u_neg))
        except Divergence:
            for g, state in others:     # nothing may change before a divergence is raised
                g.generator.set_state(state)
            raise
        out = {}
        for g, (_, _, handle), neg, r, (d_st, d, u_pos, u_neg) in zip(active, drawn, negs, rs,
                                                                      losses):
            g.model.initializer.update(handle, neg)
            g.optimizer.zero_grad()
            d_st.sum().backward()
            lr = g.optimizer.lr(t)
            g.optimizer.step(t)
            up, un = u_pos.tolist(), u_neg.tolist()
            for j, run in enumerate(g.runs):
                out.update({_stat("d_st", run): d[j], _stat("r_st", run): r[j],
                            _stat("u_pos", run): up[j], _stat("u_neg", run): un[j],
                            _stat("lr", run): lr})
        return out

    def copy_into(self, nets: Sequence[MLPPotential]) -> None:
        """Write each run's trained weights into ``nets`` (in the runs' order)."""
        for g in self.groups:
            g.net.copy_into([nets[i] for i in g.runs])

    def state_dict(self) -> dict:
        return {"groups": [{"net": g.net.state_dict(), "optimizer": g.optimizer.state_dict(),
                            "generator": None if i == 0 else g.generator.get_state()}
                           for i, g in enumerate(self.groups)],
                "banks": [b.state_dict() if b is not None else None for b in self.banks]}

    def load_state_dict(self, state: dict) -> None:
        groups = state.get("groups")
        if groups is None:      # a checkpoint of a one-group stack written before groups existed
            groups = [{"net": state["net"], "optimizer": state["optimizer"], "generator": None}]
        if len(groups) != len(self.groups):
            raise ValueError(f"the checkpoint holds {len(groups)} groups of runs, this stack "
                             f"{len(self.groups)}")
        for g, s in zip(self.groups, groups):
            g.net.load_state_dict(s["net"])
            g.optimizer.load_state_dict(s["optimizer"])
            if s["generator"] is not None:
                g.generator.set_state(s["generator"])
        for bank, s in zip(self.banks, state["banks"]):
            if bank is not None:
                bank.load_state_dict(s)


def train_stacked(nets: Sequence[MLPPotential], datas: Sequence[Any],
                  configs: Sequence[TrainConfig], *, checkpoint_dir: str | Path | None = None,
                  resume: bool = True, progress: bool = True, device: str = "cpu",
                  stop_after: int | None = None, desc: str = "train",
                  session: str | None = None) -> list[TrainResult]:
    """Run Algorithm 1 for K MLP potentials at once (see the module docstring).

    ``nets[k]`` learns from ``datas[k]`` (a tensor or a sampler) under ``configs[k]``; the
    configs must agree in :data:`SHARED_FIELDS`, and runs whose configs agree in all but
    :data:`PER_RUN_FIELDS` form a group with one random stream, seeded by its ``seed``. A run
    makes its own ``n_steps`` updates; the loop runs until the longest is done. The trained
    weights are copied back into ``nets``. Returns one
    :class:`~ebmbook.learning.trainer.TrainResult` per run, each with its own statistics (its
    log has its own ``n_steps`` entries); the wall time in each log is that of the whole stack
    (``extras["stacked_with"]`` = K). Checkpoints, resume, ``stop_after`` (counted in the
    stack's updates) and ``session`` work as in :func:`~ebmbook.learning.trainer.train`.
    """
    configs = tuple(configs)
    gen = torch.Generator(device=device).manual_seed(configs[0].seed if configs else 0)
    learner = StackedMLLearner(nets, datas, configs, gen, device)
    res = fit(learner, StackedConfig(configs), learner.n_steps, generator=gen,
              checkpoint_dir=checkpoint_dir, checkpoint_every=configs[0].checkpoint_every,
              resume=resume, stop_after=stop_after, progress=progress, device=device,
              desc=desc, session=session)
    learner.copy_into(nets)
    out = []
    for j, (net, cfg, init, bank) in enumerate(zip(nets, configs, learner.initializers,
                                                   learner.banks)):
        n = cfg.n_steps
        log = TrainLog(res.log.wall_s, **{s: res.log.arrays[_stat(s, j)][:n] for s in ML_STATS})
        model = build_model(net, cfg, init, learner.state_shape)
        out.append(TrainResult(net=net, energy=model.energy, log=log, bank=bank, config=cfg,
                               steps_done=min(res.steps_done, n),
                               resumed_from=min(res.resumed_from, n), model=model,
                               extras={"stacked_with": len(configs)},
                               sessions=list(res.sessions)))
    return out
