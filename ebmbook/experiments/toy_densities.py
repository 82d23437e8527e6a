"""Fig 3.1: convergent vs non-convergent ML on the 2D toy densities (Sec 3.2.1.1).

For each density (8-Gaussian mixture, 4 rings) two MLP potentials are learned with Algorithm 1:

* convergent: SGD, tau = 1, eps = 0.125, persistent bank (authors' defaults: bank 10,000,
  L = 500, constant gamma_0 = 0.1, 200k steps). At ``ci`` size (L = 100, 8000 steps) gamma_0
  anneals from 0.3 by x0.9997 per step to a floor of 0.05: with a constant rate the grid KL of
  such a short run swings between about 0.1 and 0.7 from one thousand steps to the next
  (measured here), and annealing settles it (Sec 3.1.1 recommends annealed SGD for the same
  reason);
* non-convergent: Adam at 1e-4, eps = 0.01, L = 100, Gaussian noise initialisation.

The result holds three grid densities per model - the truth q, the learned p_theta = exp(-U)
normalised on a 200 x 200 grid, and a KDE of short-run samples s_t - and the numbers
KL(q || p_theta) and KL(q || KDE).

At ``ci`` size the four models are trained as one stacked program
(:func:`ebmbook.learning.stacked.train_stacked`): the models of one kind form a group (one
optimiser schedule, one random stream, each model with its own data, bank and statistics), and
the chains of both groups move together until the non-convergent group's 2000 updates are done.
Every number is the same, bit for bit, as when each kind is trained alone (as this page did
before), in about 0.7 of the time (``benchmarks/langevin.py --only stacked``). At ``paper``
size the two kinds' chains differ in length (L = 500 and 100), so each kind is its own stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from .._config import neutral_field, require_choice, require_int, require_positive
from ..data.toy2d import toy_density
from ..diagnostics.density import (Grid, grid_log_density, grid_log_prob, kde_grid,
                                   kl_divergence, log_of, total_variation)
from ..energies.potentials import MLPPotential
from ..energies.precision import PRECISIONS
from ..learning.stacked import train_stacked
from ..learning.trainer import TrainConfig, TrainLog
from ..results import Metric
from ..sampling.init import StoredStates
from ._base import ExperimentConfig
from ._common import seeded

MODELS = ("convergent", "nonconvergent")
MODEL_NAMES = {"convergent": "convergent (SGD, persistent)",
               "nonconvergent": "non-convergent (Adam, noise)"}


@dataclass(frozen=True)
class Config(ExperimentConfig):
    densities: tuple[str, ...] = ("gmm", "rings")
    conv_steps: int = 8000
    conv_eps: float = 0.125
    conv_langevin: int = 100
    conv_bank: int = 10000
    conv_lr: float = 0.3          # SGD gamma_0 at the start
    conv_lr_min: float = 0.05     # ... its floor
    conv_decay: float = 0.9997    # ... and its per-step decay
    nonconv_steps: int = 2000
    nonconv_eps: float = 0.01
    nonconv_langevin: int = 100
    nonconv_lr: float = 1e-4      # Adam
    batch_size: int = 100
    grid_n: int = 200
    kde_samples: int = 10000
    kde_bandwidth: dict = field(default_factory=lambda: {"gmm": 0.075, "rings": 0.15})
    # arithmetic of U: fp32 by measurement (benchmarks/precision.py: bf16 gives the same
    # verdicts but takes 3.4x as long at batch 100, where this MLP is overhead-bound)
    precision: str = neutral_field("fp32")

    SIZES: ClassVar = {
        "ci": {},
        "paper": {"conv_steps": 200_000, "conv_langevin": 500, "conv_lr": 0.1,
                  "conv_lr_min": 0.1, "conv_decay": 1.0, "nonconv_steps": 100_000},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require_int(self, "conv_steps", "conv_langevin", "conv_bank", "nonconv_steps",
                    "nonconv_langevin", "batch_size", "grid_n", "kde_samples")
        require_positive(self, "conv_eps", "conv_lr", "conv_lr_min", "conv_decay", "nonconv_eps",
                         "nonconv_lr")
        require_choice(self, "precision", PRECISIONS)
        for d in self.densities:
            toy_density(d)  # raises on an unknown name
            if d not in self.kde_bandwidth:
                raise ValueError(f"config field 'kde_bandwidth' has no entry for density {d!r}")

    def train_config(self, model: str) -> TrainConfig:
        if model == "convergent":
            return TrainConfig(n_steps=self.conv_steps, batch_size=self.batch_size,
                               eps=self.conv_eps, n_langevin=self.conv_langevin, tau=1.0,
                               init="persistent", bank_size=self.conv_bank, optimizer="sgd",
                               sgd_lr=self.conv_lr, sgd_lr_min=self.conv_lr_min,
                               sgd_decay=self.conv_decay,
                               seed=self.seed, precision=self.precision)
        if model == "nonconvergent":
            return TrainConfig(n_steps=self.nonconv_steps, batch_size=self.batch_size,
                               eps=self.nonconv_eps, n_langevin=self.nonconv_langevin, tau=1.0,
                               init="gaussian", optimizer="adam", adam_lr=self.nonconv_lr,
                               seed=self.seed, precision=self.precision)
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")


@dataclass
class ModelResult:
    density: str
    model: str
    log_learned: np.ndarray     # log mass per cell of p_theta
    log_kde: np.ndarray         # log mass per cell of the short-run KDE (floored)
    short_run: np.ndarray       # a subset of short-run samples, for scatter plots
    kl: float                   # KL(q || p_theta)
    kl_kde: float               # KL(q || KDE of short-run samples)
    tv: float                   # total variation(q, p_theta)
    train_log: TrainLog
    wall_s: float


@dataclass
class Result:
    config: Config
    grids: dict[str, Grid]
    log_true: dict[str, np.ndarray]
    models: dict[tuple[str, str], ModelResult]

    def metrics(self) -> dict[str, Metric]:
        """``{density}_kl_{model}``, ``{density}_kl_kde_{model}``, ``{density}_tv_{model}`` and
        ``{density}_train_s_{model}`` for every pair, each with its description."""
        out = {}
        for (d, m), r in self.models.items():
            who = f"{d}, {MODEL_NAMES[m]}"
            out[f"{d}_kl_{m}"] = Metric(r.kl, f"KL(q || p_theta), {who}")
            out[f"{d}_kl_kde_{m}"] = Metric(r.kl_kde, f"KL(q || short-run KDE), {who}")
            out[f"{d}_tv_{m}"] = Metric(r.tv, f"total variation(q, p_theta), {who}")
            out[f"{d}_train_s_{m}"] = Metric(
                r.wall_s, f"training wall time (s), {who}; the models are trained together as "
                "one program (one per chain length), so this is their shared time")
        return out


def short_run_samples(result, n: int, generator: torch.Generator) -> torch.Tensor:
    """n short-run samples s_t from a trained model, with the init it was trained with.

    Persistent models start from states drawn from their bank (with replacement, without
    writing back); noise models start from fresh noise. Each chain takes L Langevin steps of
    the model's own sampler, as in training.
    """
    model = result.model
    if result.bank is not None:
        model = model.with_initializer(StoredStates(result.bank.states))
    return model.short_run(n, generator).x


def run(config: Config, progress: bool = True) -> Result:
    grids, log_true, models = {}, {}, {}
    densities = {d: toy_density(d) for d in config.densities}
    for d, q in densities.items():
        grids[d] = Grid(q.extent, config.grid_n)
        log_true[d] = grid_log_prob(q.log_prob, grids[d])
    # every (density, kind) model, each from the same initial weights, trained as one stacked
    # program: the models of one kind are a group of train_stacked (their configs differ only in
    # the data), and the two groups' chains run together while both have updates left. Kinds
    # whose chains differ in length (the paper size's L) are trained as separate stacks.
    stacks: dict[int, list] = {}
    for m in MODELS:
        tcfg = config.train_config(m)
        for d in densities:
            stacks.setdefault(tcfg.n_langevin, []).append(((d, m), tcfg))
    trained = {}
    for members in stacks.values():
        nets = []
        for _ in members:
            with seeded(config.seed):
                nets.append(MLPPotential())
        runs = train_stacked(nets, [densities[d] for (d, _), _ in members],
                             [c for _, c in members], progress=progress, device=config.device,
                             desc="train")
        trained.update({key: res for (key, _), res in zip(members, runs)})
    for m in MODELS:
        for d in densities:
            res = trained[(d, m)]
            grid = grids[d]
            gen = torch.Generator(device=config.device).manual_seed(config.seed + 7)
            s = short_run_samples(res, config.kde_samples, gen).cpu()
            log_learned = grid_log_density(res.energy, grid, device=config.device)
            log_kde = log_of(kde_grid(s, grid, config.kde_bandwidth[d]))
            models[(d, m)] = ModelResult(
                density=d, model=m, log_learned=log_learned, log_kde=log_kde,
                short_run=s[:2000].numpy(), kl=kl_divergence(log_true[d], log_learned),
                kl_kde=kl_divergence(log_true[d], log_kde),
                tv=total_variation(log_true[d], log_learned), train_log=res.log,
                wall_s=res.log.wall_s)
    return Result(config=config, grids=grids, log_true=log_true, models=models)
