"""Algorithm 1: maximum-likelihood learning of a potential with Langevin negative samples.

Each step t:

1. positive samples ``X+ = x + eps_data * Z`` from the training data (eq. 3.1);
2. negative samples: L Langevin steps (eq. 3.3) from noise, data or a persistent bank;
3. ``d_st = mean U(X+) - mean U(X-)`` (eq. 2.9) is the loss; its gradient in theta is the ML
   gradient (2.8), applied by the optimiser schedule.

Every step logs d_st, r_st (Sec 2.3.1), the two mean energies and the rate. Checkpoints
(weights, optimiser, bank, RNG state, logs) are written atomically every ``checkpoint_every``
steps, on Ctrl-C, and before a divergence error; ``train`` resumes from the latest checkpoint of
the same config and gives bit-identical weights to an uninterrupted run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
from torch import nn

from .._config import (config_dict, config_hash, require_choice, require_int,
                       require_positive)
from ..energies.potentials import RescaledPotential
from ..io import atomic_torch_save
from ..sampling.init import PersistentBank, noise_init
from ..sampling.langevin import langevin
from .optim import OptimizerSchedule

INITS = ("uniform", "gaussian", "data", "persistent")
OPTIMIZERS = ("adam", "sgd", "hybrid")


class TrainingDivergedError(RuntimeError):
    """Raised when an energy or gradient becomes NaN/inf or explodes during training."""

    def __init__(self, step: int, what: str, checkpoint: Path | None):
        where = f" The last good state was saved to {checkpoint}." if checkpoint else ""
        super().__init__(
            f"training diverged at step {step}: {what}.{where} Lower the learning rate "
            "(adam_lr / sgd_lr), raise eps_data (e.g. to 2*eps) or the number of Langevin "
            "steps, or check that the data are scaled to the range the potential expects.")
        self.step = step
        self.checkpoint = checkpoint


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

    def __post_init__(self) -> None:
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
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...


class TensorData:
    """A finite training set: each batch is drawn uniformly with replacement."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    def __len__(self) -> int:
        return self.x.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        idx = torch.randint(len(self), (n,), generator=generator, device=self.x.device)
        return self.x[idx]


@dataclass
class TrainLog:
    """Per-step records of a run (numpy arrays of length ``n_steps``)."""

    d_st: np.ndarray
    r_st: np.ndarray
    u_pos: np.ndarray
    u_neg: np.ndarray
    lr: np.ndarray
    wall_s: float = 0.0

    @classmethod
    def empty(cls, n: int) -> "TrainLog":
        z = lambda: np.full(n, np.nan)  # noqa: E731
        return cls(z(), z(), z(), z(), z())

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("d_st", "r_st", "u_pos", "u_neg", "lr", "wall_s")}


@dataclass
class TrainResult:
    net: nn.Module
    energy: RescaledPotential
    log: TrainLog
    bank: PersistentBank | None
    config: TrainConfig
    steps_done: int
    resumed_from: int = 0
    extras: dict = field(default_factory=dict)


def build_energy(net: nn.Module, cfg: TrainConfig) -> RescaledPotential:
    """The energy U that Langevin samples for a network F under ``cfg``."""
    return RescaledPotential(net, cfg.eps, rescale=cfg.rescale, prior_sigma=cfg.prior_sigma)


def _as_source(data: Any) -> DataSource:
    if isinstance(data, torch.Tensor):
        return TensorData(data)
    if hasattr(data, "sample"):
        return data
    raise TypeError("data must be a tensor of training states or an object with "
                    f".sample(n, generator); got {type(data).__name__}")


def train(net: nn.Module, data: Any, cfg: TrainConfig, *, checkpoint_dir: str | Path | None = None,
          resume: bool = True, progress: bool = True, device: str = "cpu",
          stop_after: int | None = None,
          callback: Callable[[int, nn.Module], None] | None = None) -> TrainResult:
    """Run Algorithm 1 on ``net`` (the network F) with ``data`` (tensor or sampler).

    ``checkpoint_dir``: where ``checkpoint.pt`` is kept; with ``resume`` an existing checkpoint
    of the same config is continued. ``stop_after``: stop (with a checkpoint) after this many
    steps of the run in total - used to test interruption. ``callback(step, net)`` is called
    after every update (e.g. to save snapshots for a figure).
    """
    source = _as_source(data)
    net = net.to(device)
    energy = build_energy(net, cfg)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)

    probe = source.sample(1, generator=torch.Generator(device=device).manual_seed(cfg.seed + 1))
    state_shape = tuple(probe.shape[1:])

    bank = None
    if cfg.init == "persistent":
        size = cfg.bank_size or len(source)  # one persistent state per training example
        bank = PersistentBank.from_noise(size, state_shape, "uniform", gen, cfg.noise_scale, device)

    sgd_scale = cfg.eps ** 2 / 2 if cfg.rescale else 1.0
    opt = OptimizerSchedule(net.parameters(), cfg.optimizer, adam_lr=cfg.adam_lr,
                            sgd_lr=cfg.sgd_lr, sgd_lr_min=cfg.sgd_lr_min,
                            sgd_decay=cfg.sgd_decay, switch_step=cfg.switch_step,
                            sgd_scale=sgd_scale)
    log = TrainLog.empty(cfg.n_steps)

    ckpt = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir is not None else None
    chash = config_hash(cfg)
    start = 0
    if ckpt is not None and resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state["config_hash"] != chash:
            raise ValueError(f"checkpoint {ckpt} belongs to a different config "
                             f"(hash {state['config_hash']} != {chash}); delete it or use "
                             "another checkpoint_dir")
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["optimizer"])
        if bank is not None:
            bank.load_state_dict(state["bank"])
        gen.set_state(state["generator"])
        for k, v in state["log"].items():
            setattr(log, k, v)
        start = state["step"]

    def save(step: int, gen_state: torch.Tensor) -> None:
        if ckpt is None:
            return
        atomic_torch_save({"step": step, "config": config_dict(cfg), "config_hash": chash,
                           "net": net.state_dict(), "optimizer": opt.state_dict(),
                           "bank": bank.state_dict() if bank is not None else None,
                           "generator": gen_state, "log": log.state_dict()}, ckpt)

    end = cfg.n_steps if stop_after is None else min(cfg.n_steps, stop_after)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.n_steps, initial=start, desc="train", leave=False)
    t0 = time.perf_counter() - log.wall_s
    step = start
    try:
        for step in range(start, end):
            gen_state = gen.get_state()
            x_pos = source.sample(cfg.batch_size, generator=gen)
            if cfg.eps_data > 0:
                x_pos = x_pos + cfg.eps_data * torch.randn(x_pos.shape, generator=gen, device=device)

            idx = None
            if cfg.init == "persistent":
                y0, idx = bank.draw(cfg.batch_size, generator=gen)
            elif cfg.init == "data":
                y0 = source.sample(cfg.batch_size, generator=gen)
            else:
                y0 = noise_init(cfg.init, (cfg.batch_size, *state_shape), gen, cfg.noise_scale, device)

            neg = langevin(energy, y0, n_steps=cfg.n_langevin, step_size=cfg.eps,
                           noise=cfg.tau, mh=cfg.mh, generator=gen)
            x_neg = neg.x

            u_pos = energy(x_pos).mean()
            u_neg = energy(x_neg).mean()
            d_st = u_pos - u_neg
            bad = None
            if not torch.isfinite(d_st) or not np.isfinite(neg.r):
                bad = f"d_st = {d_st.item()}, r_st = {neg.r} (not finite)"
            elif abs(d_st.item()) > cfg.divergence_threshold:
                bad = (f"|d_st| = {abs(d_st.item()):.3g} exceeds divergence_threshold = "
                       f"{cfg.divergence_threshold:.3g}")
            if bad:
                save(step, gen_state)
                raise TrainingDivergedError(step, bad, ckpt)

            if idx is not None:
                bank.write(idx, x_neg)
            opt.zero_grad()
            d_st.backward()
            lr = opt.lr(step)
            opt.step(step)

            log.d_st[step], log.r_st[step] = d_st.item(), neg.r
            log.u_pos[step], log.u_neg[step], log.lr[step] = u_pos.item(), u_neg.item(), lr
            if callback is not None:
                callback(step, net)
            if bar is not None:
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(d_st=f"{log.d_st[step]:.3g}", r_st=f"{neg.r:.3g}")
            if ckpt is not None and (step + 1) % cfg.checkpoint_every == 0:
                log.wall_s = time.perf_counter() - t0
                save(step + 1, gen.get_state())
        else:
            step = end
    except KeyboardInterrupt:
        log.wall_s = time.perf_counter() - t0
        save(step, gen_state)
        raise
    finally:
        if bar is not None:
            bar.close()
    log.wall_s = time.perf_counter() - t0
    if end > start or ckpt is not None:
        save(end, gen.get_state())
    return TrainResult(net=net, energy=energy, log=log, bank=bank, config=cfg,
                       steps_done=end, resumed_from=start)
