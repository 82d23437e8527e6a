"""Algorithm 1 for K small networks at once: :func:`train_stacked`.

The toy chapters learn many MLP potentials of one shape (two densities, or one density under
three initialisations), each with hundreds of thousands of Langevin steps at batch 100. At that
size a step is bound by per-op overhead and small matrix products, so K separate runs cost
almost K times one. :func:`train_stacked` runs the K runs in lockstep as one program: the
networks become one :class:`~ebmbook.energies.potentials.StackedMLP`, their negative chains one
batch of ``K * batch_size`` chains, and their K losses one sum whose gradient reaches each
network only from its own term. Each run keeps its own data, its own initialiser (noise, data
or its own persistent bank) and its own statistics; they share the step size, the chain length,
the optimiser schedule and the random-number stream.

So a stacked run is K honest runs of Algorithm 1, but not bit-identical to K separate
:func:`~ebmbook.learning.trainer.train` calls: the random numbers are drawn in another order
and the batched matrix products round differently. The tests check it against separate runs
statistically and check each network's gradient against its own loss.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..energies.potentials import MLPPotential, StackedMLP
from ..energies.precision import evaluation
from ..sampling.init import StackedInit
from ..sampling.langevin import langevin
from .fit import Divergence, TrainLog, check_data_batch, check_statistic, fit
from .trainer import (ML_STATS, TrainConfig, TrainResult, as_data_source, build_model,
                      build_optimizer, make_initializer, perturb_data)

#: the fields in which the runs of one stack may differ
PER_RUN_FIELDS = ("init", "noise_scale", "bank_size")


@dataclass(frozen=True)
class StackedConfig:
    """The configs of the K runs of a stack (what its checkpoint's hash guards)."""

    configs: tuple[TrainConfig, ...]


def check_stackable(configs: Sequence[TrainConfig]) -> None:
    """Raise ValueError, naming the field, unless the configs differ only in
    :data:`PER_RUN_FIELDS`."""
    if not configs:
        raise ValueError("a stack needs at least one TrainConfig")
    ref = configs[0]
    for k, c in enumerate(configs[1:], 1):
        for f in dataclasses.fields(TrainConfig):
            if f.name not in PER_RUN_FIELDS and getattr(c, f.name) != getattr(ref, f.name):
                raise ValueError(
                    f"config {k} differs from config 0 in {f.name!r} ({getattr(c, f.name)!r} vs "
                    f"{getattr(ref, f.name)!r}): runs trained together may differ only in "
                    f"{', '.join(PER_RUN_FIELDS)}; train the others in another stack")


def _stat(name: str, k: int) -> str:
    return f"{name}[{k}]"


class StackedMLLearner:
    """Algorithm 1 for a stack of K MLPs, as a learner for :func:`~ebmbook.learning.fit.fit`."""

    def __init__(self, nets: Sequence[MLPPotential], datas: Sequence[Any],
                 configs: Sequence[TrainConfig], generator: torch.Generator,
                 device: str | torch.device = "cpu"):
        if not (len(nets) == len(datas) == len(configs)):
            raise ValueError(f"give one network, data source and config per run; got "
                             f"{len(nets)}, {len(datas)} and {len(configs)}")
        check_stackable(configs)
        self.configs = tuple(configs)
        self.cfg = cfg = configs[0]
        self.k = len(nets)
        self.net = StackedMLP.from_nets([n.to(device) for n in nets])
        self.sources = [as_data_source(d, device) for d in datas]
        probe = self.sources[0].sample(1, generator=torch.Generator(device=generator.device)
                                       .manual_seed(cfg.seed + 1))
        self.state_shape, dtype = tuple(probe.shape[1:]), probe.dtype
        inits = [make_initializer(c, src, self.state_shape, dtype, generator, device)
                 for c, src in zip(configs, self.sources)]
        self.initializers = [i for i, _ in inits]
        self.banks = [b for _, b in inits]
        self.model = build_model(self.net, cfg, StackedInit(self.initializers), self.state_shape)
        self.optimizer = build_optimizer(self.net.parameters(), cfg)
        self.stat_names = tuple(_stat(s, k) for k in range(self.k) for s in ML_STATS)

    def step(self, t: int, generator: torch.Generator) -> dict[str, float]:
        """One update of every run (the stacked form of :func:`~ebmbook.learning.trainer.ml_step`)."""
        cfg, k, b = self.cfg, self.k, self.cfg.batch_size
        x_pos = perturb_data(torch.cat([src.sample(b, generator=generator)
                                        for src in self.sources]), cfg, generator)
        y0, handle = self.model.initializer.draw(b, generator)
        m = self.model
        neg = langevin(m.energy, y0, n_steps=cfg.n_langevin, eps=m.eps, noise=m.tau, mh=m.mh,
                       generator=generator, precision=m.precision, groups=k)
        check_data_batch(x_pos)
        with evaluation(cfg.precision, x_pos.device):
            u_pos = m.energy(x_pos).to(x_pos.dtype).view(k, b).mean(1)
            u_neg = m.energy(neg.x).to(x_pos.dtype).view(k, b).mean(1)
        d_st = u_pos - u_neg
        d = d_st.tolist()
        r = neg.r_groups.tolist() if k > 1 else [neg.r]
        for j in range(k):
            if not (np.isfinite(d[j]) and np.isfinite(r[j])):
                raise Divergence(f"run {j} of the stack: d_st = {d[j]}, r_st = {r[j]} (not finite)")
            check_statistic(f"d_st of run {j} of the stack", d[j], cfg.divergence_threshold)
        self.model.initializer.update(handle, neg.x)
        self.optimizer.zero_grad()
        d_st.sum().backward()
        lr = self.optimizer.lr(t)
        self.optimizer.step(t)
        up, un = u_pos.tolist(), u_neg.tolist()
        out = {}
        for j in range(k):
            out.update({_stat("d_st", j): d[j], _stat("r_st", j): r[j],
                        _stat("u_pos", j): up[j], _stat("u_neg", j): un[j], _stat("lr", j): lr})
        return out

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "banks": [b.state_dict() if b is not None else None for b in self.banks]}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        for bank, s in zip(self.banks, state["banks"]):
            if bank is not None:
                bank.load_state_dict(s)


def train_stacked(nets: Sequence[MLPPotential], datas: Sequence[Any],
                  configs: Sequence[TrainConfig], *, checkpoint_dir: str | Path | None = None,
                  resume: bool = True, progress: bool = True, device: str = "cpu",
                  stop_after: int | None = None, desc: str = "train") -> list[TrainResult]:
    """Run Algorithm 1 for K MLP potentials at once (see the module docstring).

    ``nets[k]`` learns from ``datas[k]`` (a tensor or a sampler) under ``configs[k]``; the
    configs may differ only in :data:`PER_RUN_FIELDS`, and the random-number stream is seeded
    by ``configs[0].seed``. The trained weights are copied back into ``nets``. Returns one
    :class:`~ebmbook.learning.trainer.TrainResult` per run, each with its own statistics; the
    wall time in each log is that of the whole stack (``extras["stacked_with"]`` = K).
    Checkpoints, resume and ``stop_after`` work as in :func:`~ebmbook.learning.trainer.train`.
    """
    configs = tuple(configs)
    gen = torch.Generator(device=device).manual_seed(configs[0].seed if configs else 0)
    learner = StackedMLLearner(nets, datas, configs, gen, device)
    res = fit(learner, StackedConfig(configs), configs[0].n_steps, generator=gen,
              checkpoint_dir=checkpoint_dir, checkpoint_every=configs[0].checkpoint_every,
              resume=resume, stop_after=stop_after, progress=progress, device=device,
              desc=desc)
    learner.net.copy_into(nets)
    out = []
    for j, (net, cfg, init, bank) in enumerate(zip(nets, configs, learner.initializers,
                                                   learner.banks)):
        log = TrainLog(res.log.wall_s, **{s: res.log.arrays[_stat(s, j)] for s in ML_STATS})
        model = build_model(net, cfg, init, learner.state_shape)
        out.append(TrainResult(net=net, energy=model.energy, log=log, bank=bank, config=cfg,
                               steps_done=res.steps_done, resumed_from=res.resumed_from,
                               model=model, extras={"stacked_with": len(configs)}))
    return out
