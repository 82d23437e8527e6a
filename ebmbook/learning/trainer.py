"""Algorithm 1: maximum-likelihood learning of a potential with Langevin negative samples.

Each step t (:func:`ml_step`):

1. positive samples ``X+ = x + eps_data * Z`` from the training data (eq. 3.1);
2. negative samples: L Langevin steps (eq. 3.3) of the model's own sampler from its
   initialisation (noise, data or a persistent bank), :meth:`EnergyModel.short_run`;
3. ``d_st = mean U(X+) - mean U(X-)`` (eq. 2.9) is the loss; its gradient in theta is the ML
   gradient (2.8), applied by the optimiser schedule.

``TrainConfig.precision = "bf16"`` runs every evaluation of U (the negatives' Langevin steps and
the loss) under bfloat16 autocast; the weights, the optimiser state, the chains and d_st stay
in float32 (:mod:`ebmbook.energies.precision`).

Every step returns d_st, r_st (Sec 2.3.1), the two mean energies and the rate. The generic
loop :func:`ebmbook.learning.fit.fit` owns checkpoints, bit-identical resume, divergence,
progress and Ctrl-C; :func:`train` wires Algorithm 1 into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
from torch import nn

from .._config import neutral_field, require_choice, require_int, require_positive
from ..energies.potentials import RescaledPotential
from ..energies.precision import PRECISIONS, evaluation
from ..sampling.init import DataInit, NoiseInit, PersistentBank, random_index
from ..sampling.model import EnergyModel
from .fit import (CHECKPOINT, Divergence, FitResult, TrainingDivergedError,  # noqa: F401
                  TrainLog, check_data_batch, check_statistic, checkpoint_sessions, fit,
                  read_checkpoint)
from .optim import OptimizerSchedule

INITS = ("uniform", "gaussian", "data", "persistent")
OPTIMIZERS = ("adam", "sgd", "hybrid")
ML_STATS = ("d_st", "r_st", "u_pos", "u_neg", "lr")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of Algorithm 1 (names follow Sec 3.1)."""

    n_steps: int = 1000
    batch_size: int = 100
    eps: float = 0.01            # Langevin step size epsilon
    n_langevin: int = 100        # L
    tau: float = 1.0             # noise indicator (0 or 1); the noise sd is eps * tau
    eps_data: float = 0.0        # data perturbation of eq. (3.1)
    init: str = "persistent"     # uniform | gaussian | data | persistent
    noise_scale: float = 1.0     # half-width (uniform) or sd (gaussian) of noise states
    bank_size: int = 10000       # persistent bank size (0: one per training example)
    optimizer: str = "adam"      # adam | sgd | hybrid
    adam_lr: float = 1e-4
    sgd_lr: float = 0.01         # gamma_0 of eq. (3.4)
    sgd_lr_min: float = 0.0005
    sgd_decay: float = 1.0       # per-step factor
    switch_step: int = 0         # hybrid: first SGD step
    rescale: bool = True         # U = F / (eps^2 / 2), eq. (3.2)
    prior_sigma: float | None = None   # Gaussian prior of eq. (3.10)
    mh: bool = False             # MH-adjusted Langevin for the negatives
    checkpoint_every: int = 500
    divergence_threshold: float = 1e8
    seed: int = 0
    precision: str = neutral_field("fp32")   # arithmetic of U and its gradients (fp32 | bf16)

    def __post_init__(self) -> None:
        require_choice(self, "precision", PRECISIONS)
        require_int(self, "n_steps", "batch_size", "checkpoint_every")
        require_int(self, "n_langevin", "bank_size", "switch_step", "seed", minimum=0)
        require_positive(self, "eps", "noise_scale", "adam_lr", "sgd_lr", "sgd_decay",
                         "divergence_threshold")
        require_positive(self, "tau", "eps_data", "sgd_lr_min", allow_zero=True)
        require_choice(self, "init", INITS)
        require_choice(self, "optimizer", OPTIMIZERS)
        if self.sgd_decay > 1:
            raise ValueError(f"config field 'sgd_decay' = {self.sgd_decay!r} is invalid: "
                             "it must be in (0, 1] (a per-step decay factor)")
        if self.prior_sigma is not None:
            require_positive(self, "prior_sigma")
        if self.mh and self.tau == 0:
            raise ValueError("config field 'mh' = True is invalid with tau = 0: "
                             "MH needs Langevin noise")
        if self.init == "persistent" and self.bank_size and self.bank_size < self.batch_size:
            raise ValueError(f"config field 'bank_size' = {self.bank_size} is invalid: it must "
                             f"be 0 (one per example) or >= batch_size = {self.batch_size}")


class DataSource(Protocol):
    """Training data as Algorithm 1 draws it: ``sample(n, generator)`` returns a batch of ``n``
    training states (:class:`TensorData` for a tensor)."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...


class TensorData:
    """A finite training set: each batch is drawn uniformly with replacement."""

    def __init__(self, x: torch.Tensor):
        n_bad = int((~torch.isfinite(x)).sum())
        if n_bad:
            first = int((~torch.isfinite(x.reshape(len(x), -1))).any(1).nonzero()[0])
            raise ValueError(f"the training data hold {n_bad} NaN/inf values (first in example "
                             f"{first}): clean or drop those examples before training")
        self.x = x

    def __len__(self) -> int:
        return self.x.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.x[random_index(len(self), n, generator, self.x.device, replacement=True)]


def build_energy(net: nn.Module, cfg: TrainConfig) -> RescaledPotential:
    """The energy U that Langevin samples for a network F under ``cfg`` (any config with the
    fields ``eps``, ``rescale`` and ``prior_sigma``: Algorithm 1's or Co-Op's)."""
    return RescaledPotential(net, cfg.eps, rescale=cfg.rescale, prior_sigma=cfg.prior_sigma)


def build_model(net: nn.Module, cfg: TrainConfig, initializer, state_shape) -> EnergyModel:
    """The :class:`EnergyModel` of a network F trained (or being trained) under ``cfg``."""
    return EnergyModel(energy=build_energy(net, cfg), eps=cfg.eps, tau=cfg.tau,
                       n_langevin=cfg.n_langevin, initializer=initializer,
                       state_shape=tuple(state_shape), mh=cfg.mh,
                       precision=getattr(cfg, "precision", "fp32"))


def perturb_data(x_pos: torch.Tensor, cfg: TrainConfig, generator: torch.Generator
                 ) -> torch.Tensor:
    """The positive samples of eq. (3.1): the data batch plus ``cfg.eps_data`` Gaussian noise
    (drawn from ``generator``; unchanged when ``eps_data`` is 0)."""
    if cfg.eps_data > 0:
        x_pos = x_pos + cfg.eps_data * torch.randn(x_pos.shape, generator=generator,
                                                   device=generator.device,
                                                   dtype=x_pos.dtype).to(x_pos.device)
    return x_pos


def build_optimizer(params, cfg: TrainConfig) -> OptimizerSchedule:
    """The optimiser schedule of ``cfg`` over ``params`` (SGD's rate rescaled by eps^2 / 2 when
    U is the rescaled energy, eq. 3.4)."""
    sgd_scale = cfg.eps ** 2 / 2 if cfg.rescale else 1.0
    return OptimizerSchedule(params, cfg.optimizer, adam_lr=cfg.adam_lr, sgd_lr=cfg.sgd_lr,
                             sgd_lr_min=cfg.sgd_lr_min, sgd_decay=cfg.sgd_decay,
                             switch_step=cfg.switch_step, sgd_scale=sgd_scale)


def make_initializer(cfg: TrainConfig, source: DataSource, state_shape: tuple[int, ...],
                     dtype: torch.dtype, generator: torch.Generator, device
                     ) -> tuple[Any, PersistentBank | None]:
    """The initialiser of the negative chains that ``cfg.init`` asks for, and the persistent
    bank if it is one (its noise states are drawn from ``generator``)."""
    if cfg.init == "persistent":
        size = cfg.bank_size or len(source)  # one persistent state per training example
        bank = PersistentBank.from_noise(size, state_shape, "uniform", generator,
                                         cfg.noise_scale, device, dtype)
        return bank, bank
    if cfg.init == "data":
        return DataInit(source), None
    return NoiseInit(cfg.init, state_shape, cfg.noise_scale, device, dtype), None


def as_data_source(data: Any, device) -> DataSource:
    """``data`` as a :class:`DataSource`: a tensor becomes :class:`TensorData` on ``device``,
    an object with ``sample(n, generator)`` is used as it is, anything else is a TypeError."""
    if isinstance(data, torch.Tensor):
        return TensorData(data.to(device))
    if hasattr(data, "sample"):
        return data
    raise TypeError("data must be a tensor of training states or an object with "
                    f".sample(n, generator); got {type(data).__name__}")


def ml_step(model: EnergyModel, source: DataSource, optimizer: OptimizerSchedule,
            cfg: TrainConfig, t: int, generator: torch.Generator) -> dict[str, float]:
    """One update of Algorithm 1 at step ``t``; returns its statistics (``ML_STATS``).

    Raises :class:`Divergence` before any state changes if the data batch or d_st / r_st are
    not finite, or ``|d_st|`` exceeds ``cfg.divergence_threshold``.
    """
    x_pos = perturb_data(source.sample(cfg.batch_size, generator=generator), cfg, generator)
    y0, handle = model.initializer.draw(cfg.batch_size, generator)
    neg = model.short_run(x=y0, generator=generator)
    check_data_batch(x_pos)
    with evaluation(cfg.precision, x_pos.device):   # the loss's energies in the model's precision
        u_pos = model.energy(x_pos).to(x_pos.dtype).mean()   # ... averaged in the states' dtype
        u_neg = model.energy(neg.x).to(x_pos.dtype).mean()
    d_st = u_pos - u_neg
    d = d_st.item()
    if not (np.isfinite(d) and np.isfinite(neg.r)):
        raise Divergence(f"d_st = {d}, r_st = {neg.r} (not finite)")
    check_statistic("d_st", d, cfg.divergence_threshold)
    model.initializer.update(handle, neg.x)
    optimizer.zero_grad()
    d_st.backward()
    lr = optimizer.lr(t)
    optimizer.step(t)
    return {"d_st": d, "r_st": neg.r, "u_pos": u_pos.item(), "u_neg": u_neg.item(), "lr": lr}


class MLLearner:
    """Algorithm 1 as a learner for :func:`fit`: the network F, its :class:`EnergyModel`, the
    data and the optimiser schedule; ``step`` is :func:`ml_step`."""

    stat_names = ML_STATS

    def __init__(self, net: nn.Module, data: Any, cfg: TrainConfig, generator: torch.Generator,
                 device: str | torch.device = "cpu"):
        self.cfg = cfg
        self.net = net.to(device)
        self.source = as_data_source(data, device)
        probe = self.source.sample(1, generator=torch.Generator(device=generator.device)
                                   .manual_seed(cfg.seed + 1))
        state_shape, dtype = tuple(probe.shape[1:]), probe.dtype
        initializer, self.bank = make_initializer(cfg, self.source, state_shape, dtype,
                                                  generator, device)
        self.model = build_model(self.net, cfg, initializer, state_shape)
        self.optimizer = build_optimizer(self.net.parameters(), cfg)

    @property
    def energy(self) -> RescaledPotential:
        return self.model.energy

    def step(self, t: int, generator: torch.Generator) -> dict[str, float]:
        return ml_step(self.model, self.source, self.optimizer, self.cfg, t, generator)

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "bank": self.bank.state_dict() if self.bank is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.bank is not None:
            self.bank.load_state_dict(state["bank"])


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained network F and its energy U, the per-step log,
    the persistent bank (if the chains were persistent), the config, the steps done, the step
    the run resumed from and the model (U with its sampler)."""

    net: nn.Module
    energy: RescaledPotential
    log: TrainLog
    bank: PersistentBank | None
    config: TrainConfig
    steps_done: int
    resumed_from: int = 0
    model: EnergyModel | None = None
    extras: dict = field(default_factory=dict)
    sessions: list = field(default_factory=list)   # labels of the sessions that trained it


def train(net: nn.Module, data: Any, cfg: TrainConfig, *, checkpoint_dir: str | Path | None = None,
          resume: bool = True, progress: bool = True, device: str = "cpu",
          stop_after: int | None = None,
          callback: Callable[[int, nn.Module], None] | None = None,
          session: str | None = None) -> TrainResult:
    """Run Algorithm 1 on ``net`` (the network F) with ``data`` (tensor or sampler).

    ``checkpoint_dir``: where ``checkpoint.pt`` is kept; with ``resume`` an existing checkpoint
    of the same config is continued, bit for bit. ``stop_after``: stop (with a checkpoint) after
    this many steps of the run in total. ``callback(step, net)`` is called after every update
    (e.g. to save snapshots for a figure). ``session``: this call's label in the checkpoint's
    record of sessions. See :func:`ebmbook.learning.fit.fit`.
    """
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    learner = MLLearner(net, data, cfg, gen, device)
    cb = None if callback is None else (lambda t, lr: callback(t, lr.net))
    res = fit(learner, cfg, cfg.n_steps, generator=gen, checkpoint_dir=checkpoint_dir,
              checkpoint_every=cfg.checkpoint_every, resume=resume, stop_after=stop_after,
              progress=progress, callback=cb, device=device, session=session)
    return TrainResult(net=learner.net, energy=learner.energy, log=res.log, bank=learner.bank,
                       config=cfg, steps_done=res.steps_done, resumed_from=res.resumed_from,
                       model=learner.model, sessions=res.sessions)


def load_checkpoint_state(checkpoint_dir: str | Path, device: str = "cpu") -> dict:
    """The learner state, step, log and sessions of ``checkpoint_dir/checkpoint.pt`` (for
    inspecting a run that stopped, e.g. on divergence): ``{"step", "net", "optimizer", "bank",
    "log", "config_hash", "sessions"}``."""
    state = read_checkpoint(Path(checkpoint_dir) / CHECKPOINT, device)
    return {"step": int(state["step"]), **state["learner"], "log": TrainLog(**state["log"]),
            "config_hash": state["config_hash"], "sessions": checkpoint_sessions(state)}
