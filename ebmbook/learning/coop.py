"""Cooperative (Co-Op) learning of a descriptor U(x) and a generator g(z): Appendix A, Algorithm 4.

Each step s (:func:`coop_step`):

1. draw ``Z ~ N(0, I_d)`` and synthesise ``Y = g(Z)`` (:class:`GeneratorInit`, the initialiser
   of the descriptor's :class:`EnergyModel`);
2. revise the syntheses with K Langevin steps (eq. 1.2) under the descriptor energy U:
   ``Y~ = model.short_run(x=Y)`` - the generator is the warm start of the descriptor's sampler;
3. optionally (``infer_steps > 0``) revise the latent factors with Langevin on the posterior
   energy of Z | Y~ under the generator model (A.1), ``||Y~ - g(z)||^2 / (2 sigma^2) +
   ||z||^2 / 2``, started at Z (eq. A.2) - through the same kernel;
4. update U by the ML gradient (2.8): loss ``d_st = mean U(X+) - mean U(Y~)`` with a data batch
   X+ as positives and the revised images as negatives (Adam);
5. update g by the gradient (A.3): regress g(Z) onto Y~, loss ``mean ||Y~ - g(Z)||^2 /
   (2 sigma^2)`` (Adam).

An extension, off by default (``wide_share > 0``): step 4's negatives also hold the revised
images of codes drawn from a wider N(0, wide_sd^2 I), which the generator never regresses on.
Algorithm 4 shows the descriptor only the generator's images of N(0, I) codes, so nothing in it
raises U on what the generator makes further out; the latent maps' descents end there
(``TRAINING_NOTES.md``; ``benchmarks/latent_radius.py --wide-share``).

:class:`CoopLearner` plugs this into the generic :func:`ebmbook.learning.fit.fit` loop, which
owns checkpoints (both nets and both optimisers), bit-identical resume, divergence (checked in
the step before any state changes) and progress; :func:`train_coop` wires it up.

Defaults. Two published settings exist: the authors' MATLAB maps (10 descriptor steps of size
0.3 with reference sd 1, Adam rate 5e-5 for both nets, batch 50, generator noise sd 0.3, latent
dimension 8 for digits) and Xie et al.'s CoopNets for MNIST (15 steps of 0.002 with reference sd
0.016 and a 4x4 stride-2 descriptor). This package's DeepFRAME energy is rescaled,
U = F / (eps^2 / 2) (eq. 3.2), so a descriptor step is ``X - grad F(X) + eps Z``: the size of
the drift is learned by F, and eps only sets the noise sd in pixel units. Read that way, 0.3 on
images in [-1, 1] would add noise of sd 0.3 * sqrt(10) ~ 0.95 per revision and drown a 16x16 or
28x28 digit, whereas Xie et al.'s 0.002 over 15 steps (sd ~ 0.008) is a nearly deterministic
revision, the same regime as the project's short-run DeepFRAME models (eps ~ 0.01) and the 4x4
stride-2 DeepFRAME it already uses. So the descriptor defaults follow Xie et al. (``eps=0.002``,
``n_langevin=15``; their reference sd 0.016 is ``prior_sigma=0.016``, off by default as in
:class:`ebmbook.learning.trainer.TrainConfig`, since a learned F can absorb a Gaussian factor),
and the rest follows the MATLAB maps the thesis's figures come from (Adam 5e-5 for both nets,
batch 50, generator noise sd 0.3). Latent inference is off by default (``infer_steps=0``): the
generator then regresses onto the revision of its own output from the Z that made it.

Note (a fact of the algorithm): without latent inference the regression of Y~ on the Z that
produced Y shrinks the generator by the autocorrelation of the descriptor's K-step kernel
(regression to the mean), so the generator's spread is only kept when the revision is small (the
default regime above) or Z is inferred (``infer_steps > 0``). In the linear-Gaussian oracle of
the tests with a well-mixing MH revision and ``infer_steps=0``, the descriptor still learned its
precision (3.92 vs 4) but the generator collapsed onto the data mean (output variance ~1e-4 vs
0.25); with MH-exact inference it fits the probabilistic-PCA fixed point s^2 - sigma^2.

Data noise and precision. ``eps_data`` perturbs the positives as in Algorithm 1 (eq. 3.1,
``X+ = X + eps_data * N(0, I)``; off by default). On MNIST-5k digits, without it the
descriptor's gradient strength r_st kept rising until the revision diverged, at every descriptor
rate tried, with or without latent inference; with ``eps_data = 0.03`` it levels off
(``TRAINING_NOTES.md``). ``precision`` is the arithmetic of the descriptor's U in its revisions
and its loss, as in :class:`ebmbook.learning.trainer.TrainConfig`; the generator stays fp32.

The latent energy (5.2) of a trained pair is :meth:`CoopResult.latent_energy`, i.e.
:class:`ebmbook.energies.generator.LatentEnergy`: ``U(g(z)) + ||z||^2 / 2``. The prior term (the
authors' MATLAB omitted it) makes exp(-U_latent) a proper density (the joint of z and its image)
and pulls its modes toward the origin; without it, far-out z whose g(z) saturates (tanh) sit on a
flat plateau of U(g(z)) and can look like minima to a mode search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .._config import neutral_field, require_choice, require_int, require_positive
from ..energies.generator import GeneratorPosterior, LatentEnergy, latent_dim_of
from ..energies.potentials import RescaledPotential
from ..energies.precision import PRECISIONS, evaluation
from ..sampling.descent import local_modes
from ..sampling.langevin import flat_norm, langevin
from ..sampling.model import EnergyModel
from .fit import Divergence, TrainLog, check_data_batch, check_statistic, fit
from .trainer import DataSource, as_data_source, build_energy, perturb_data

COOP_STATS = ("d_st", "r_st", "u_pos", "u_neg", "g_loss", "shift", "z_r")


@dataclass(frozen=True)
class CoopConfig:
    """Hyper-parameters of Algorithm 4 (see the module docstring for the defaults)."""

    n_steps: int = 1000
    batch_size: int = 50          # m: latent samples (and data examples) per step
    eps: float = 0.002            # descriptor Langevin step size (noise sd eps * tau)
    n_langevin: int = 15          # K: descriptor revision steps
    tau: float = 1.0              # noise indicator of the descriptor's Langevin
    rescale: bool = True          # U = F / (eps^2 / 2), eq. (3.2)
    prior_sigma: float | None = None   # reference Gaussian sd of the descriptor (eq. 3.10)
    mh: bool = False              # MH-adjusted descriptor revision
    descriptor_lr: float = 5e-5   # Adam rate of the descriptor F
    # the descriptor's rate at step t is descriptor_lr * descriptor_lr_decay ** t (1: constant;
    # the authors' MATLAB CoopNets lower theirs tenfold over a run)
    descriptor_lr_decay: float = neutral_field(1.0)
    generator_lr: float = 5e-5    # Adam rate of the generator g
    generator_sigma: float = 0.3  # sd of the generator's Gaussian observation model (A.1)
    infer_steps: int = 0          # Langevin steps of the latent inference (A.2); 0: off
    infer_eps: float = 0.1        # step size delta of the latent inference
    infer_mh: bool = False        # MH-adjusted latent inference (exact for any delta)
    eps_data: float = neutral_field(0.0)   # data perturbation of the positives (eq. 3.1)
    precision: str = neutral_field("fp32")  # arithmetic of the descriptor's U (fp32 | bf16)
    # wide negatives (an extension, not in Algorithm 4): each step also draws
    # round(wide_share * batch_size) codes from N(0, wide_sd^2 I), revises their images like
    # the others and adds them to the descriptor's negatives only (the generator never
    # regresses on them), so that the descriptor sees the generator's extrapolations
    wide_share: float = neutral_field(0.0)
    wide_sd: float = neutral_field(3.0)
    # with wide_sd_low set, each wide code's sd is drawn uniformly from [wide_sd_low, wide_sd],
    # so that the negatives cover the shell between the prior's codes and the widest ones
    wide_sd_low: float | None = neutral_field(None)
    checkpoint_every: int = 500
    divergence_threshold: float = 1e8
    seed: int = 0

    def __post_init__(self) -> None:
        require_int(self, "n_steps", "batch_size", "checkpoint_every")
        require_int(self, "n_langevin", "infer_steps", "seed", minimum=0)
        require_positive(self, "eps", "descriptor_lr", "generator_lr", "generator_sigma",
                         "infer_eps", "divergence_threshold")
        require_positive(self, "tau", "eps_data", "wide_share", allow_zero=True)
        require_positive(self, "wide_sd")
        if self.wide_sd_low is not None and not 0 < self.wide_sd_low <= self.wide_sd:
            raise ValueError(f"config field 'wide_sd_low' = {self.wide_sd_low!r} is invalid: it "
                             f"must be in (0, wide_sd = {self.wide_sd}] (or None: every wide "
                             "code at wide_sd)")
        require_choice(self, "precision", PRECISIONS)
        if not 0 < self.descriptor_lr_decay <= 1:
            raise ValueError(f"config field 'descriptor_lr_decay' = {self.descriptor_lr_decay!r} "
                             "is invalid: it must be in (0, 1] (the rate's factor per step; 1 "
                             "keeps it constant)")
        if self.prior_sigma is not None:
            require_positive(self, "prior_sigma")
        if self.mh and self.tau == 0:
            raise ValueError("config field 'mh' = True is invalid with tau = 0: "
                             "MH needs Langevin noise")


def wide_count(cfg: CoopConfig) -> int:
    """How many wide negatives (codes from N(0, wide_sd^2 I)) a Co-Op step adds: 0 when off,
    else ``round(wide_share * batch_size)`` and at least one."""
    return max(1, round(cfg.wide_share * cfg.batch_size)) if cfg.wide_share > 0 else 0


class GeneratorInit:
    """The descriptor's initialiser in Co-Op learning: ``draw(n, generator)`` returns the
    syntheses ``g(z)`` (detached) of ``z ~ N(0, I_d)`` and, as the handle, the ``z``;
    ``update`` keeps nothing (the latents are fresh every step)."""

    def __init__(self, generator_net: nn.Module, device: str | torch.device = "cpu",
                 dtype: torch.dtype | None = None):
        self.net = generator_net
        self.latent_dim = latent_dim_of(generator_net)
        self.device, self.dtype = torch.device(device), dtype or torch.get_default_dtype()

    def draw(self, n: int, generator: torch.Generator | None = None, sd: float = 1.0,
             sd_low: float | None = None):
        """``n`` syntheses and their codes ``z ~ N(0, sd^2 I)`` (``sd_low`` given: each code's
        sd uniform on ``[sd_low, sd]``, drawn after the codes; the wide negatives)."""
        where = generator.device if generator is not None else self.device
        z = torch.randn((n, self.latent_dim), generator=generator, device=where,
                        dtype=self.dtype)
        if sd_low is not None:
            u = torch.rand((n, 1), generator=generator, device=where, dtype=self.dtype)
            z = (sd_low + (sd - sd_low) * u) * z
        elif sd != 1.0:
            z = sd * z
        z = z.to(self.device)
        with torch.no_grad():
            y = self.net(z)
        return y, z

    def update(self, handle, states) -> None:
        pass

    def __repr__(self) -> str:
        return f"GeneratorInit(latent_dim={self.latent_dim})"


def build_coop_model(descriptor_net: nn.Module, generator_net: nn.Module, cfg: CoopConfig,
                     state_shape, device: str | torch.device = "cpu",
                     dtype: torch.dtype | None = None) -> EnergyModel:
    """The descriptor's :class:`EnergyModel` under ``cfg``: its energy U (rescaled as in
    Algorithm 1), sampler (eps, tau, K, MH) and the generator as its initialiser."""
    return EnergyModel(energy=build_energy(descriptor_net, cfg), eps=cfg.eps, tau=cfg.tau,
                       n_langevin=cfg.n_langevin,
                       initializer=GeneratorInit(generator_net, device, dtype),
                       state_shape=tuple(state_shape), mh=cfg.mh, precision=cfg.precision)


def coop_step(model: EnergyModel, generator_net: nn.Module, source: DataSource,
              d_opt: torch.optim.Optimizer, g_opt: torch.optim.Optimizer, cfg: CoopConfig,
              t: int, generator: torch.Generator) -> dict[str, float]:
    """One update of Algorithm 4 at step ``t``; returns its statistics (``COOP_STATS``):

    d_st (descriptor loss, eq. 2.9), r_st (Sec 2.3.1, of the revision), u_pos / u_neg (mean U of
    data and revised images), g_loss (the generator's regression loss), shift (mean L2 distance
    the descriptor moved a synthesis) and z_r (r_st of the latent inference; 0 when off).

    Raises :class:`Divergence` before any state changes if the data batch or a statistic is not
    finite, or ``|d_st|`` or the generator loss exceeds ``cfg.divergence_threshold``.
    """
    x_pos = source.sample(cfg.batch_size, generator=generator)
    check_data_batch(x_pos)
    x_pos = perturb_data(x_pos, cfg, generator)                       # eq. (3.1)
    y, z = model.initializer.draw(cfg.batch_size, generator)          # step 1
    rev = model.short_run(x=y, generator=generator)                   # step 2
    y_rev = rev.x.detach()
    z_r = 0.0
    if cfg.infer_steps > 0:                                           # step 3
        post = langevin(GeneratorPosterior(generator_net, y_rev, cfg.generator_sigma), z,
                        n_steps=cfg.infer_steps, eps=cfg.infer_eps, noise=1.0,
                        mh=cfg.infer_mh, generator=generator)
        z, z_r = post.x.detach(), post.r
    negatives = y_rev
    n_wide = wide_count(cfg)
    if n_wide:                                                        # wide negatives
        y_w, _ = model.initializer.draw(n_wide, generator, sd=cfg.wide_sd,
                                        sd_low=cfg.wide_sd_low)
        negatives = torch.cat([y_rev, model.short_run(x=y_w, generator=generator).x.detach()])
    with evaluation(cfg.precision, x_pos.device):   # the loss's energies in U's precision
        u_pos = model.energy(x_pos).to(x_pos.dtype).mean()
        u_neg = model.energy(negatives).to(x_pos.dtype).mean()
    d_st = u_pos - u_neg
    resid = (y_rev - generator_net(z)).reshape(cfg.batch_size, -1)
    g_loss = resid.pow(2).sum(1).mean() / (2 * cfg.generator_sigma ** 2)
    d, g = d_st.item(), g_loss.item()
    shift = flat_norm(y_rev - y).mean().item()
    if not (np.isfinite(rev.r) and np.isfinite(z_r) and np.isfinite(shift)):
        raise Divergence(f"d_st = {d}, r_st = {rev.r}, latent r_st = {z_r}, shift = {shift} "
                         "(not finite)")
    check_statistic("d_st", d, cfg.divergence_threshold)
    check_statistic("generator loss", g, cfg.divergence_threshold)
    d_opt.zero_grad(set_to_none=True)                                 # step 4
    d_st.backward()
    if cfg.descriptor_lr_decay != 1:     # a function of t alone: a resumed run gets the same rate
        for group in d_opt.param_groups:
            group["lr"] = cfg.descriptor_lr * cfg.descriptor_lr_decay ** t
    d_opt.step()
    g_opt.zero_grad(set_to_none=True)                                 # step 5
    g_loss.backward()
    g_opt.step()
    return {"d_st": d, "r_st": rev.r, "u_pos": u_pos.item(), "u_neg": u_neg.item(),
            "g_loss": g, "shift": shift, "z_r": z_r}


class CoopLearner:
    """Algorithm 4 as a learner for :func:`fit`: the descriptor F and its :class:`EnergyModel`
    (initialised by the generator), the generator g, the data and one Adam per net."""

    stat_names = COOP_STATS

    def __init__(self, descriptor_net: nn.Module, generator_net: nn.Module, data: Any,
                 cfg: CoopConfig, generator: torch.Generator, device: str | torch.device = "cpu"):
        self.cfg = cfg
        self.descriptor = descriptor_net.to(device)
        self.generator = generator_net.to(device)
        self.source = as_data_source(data, device)
        probe = self.source.sample(1, generator=torch.Generator(device=generator.device)
                                   .manual_seed(cfg.seed + 1))
        state_shape, dtype = tuple(probe.shape[1:]), probe.dtype
        self.model = build_coop_model(self.descriptor, self.generator, cfg, state_shape,
                                      device, dtype)
        with torch.no_grad():
            out = self.generator(torch.zeros(1, latent_dim_of(self.generator), device=device,
                                             dtype=dtype))
        if tuple(out.shape[1:]) != state_shape:
            raise ValueError(f"the generator makes states of shape {tuple(out.shape[1:])} but the "
                             f"data have shape {state_shape}")
        self.d_opt = torch.optim.Adam(self.descriptor.parameters(), lr=cfg.descriptor_lr)
        self.g_opt = torch.optim.Adam(self.generator.parameters(), lr=cfg.generator_lr)

    @property
    def energy(self) -> RescaledPotential:
        return self.model.energy

    def step(self, t: int, generator: torch.Generator) -> dict[str, float]:
        return coop_step(self.model, self.generator, self.source, self.d_opt, self.g_opt,
                         self.cfg, t, generator)

    def state_dict(self) -> dict:
        return {"descriptor": self.descriptor.state_dict(), "generator": self.generator.state_dict(),
                "descriptor_opt": self.d_opt.state_dict(), "generator_opt": self.g_opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.descriptor.load_state_dict(state["descriptor"])
        self.generator.load_state_dict(state["generator"])
        self.d_opt.load_state_dict(state["descriptor_opt"])
        self.g_opt.load_state_dict(state["generator_opt"])


@dataclass
class CoopResult:
    """What :func:`train_coop` returns: the trained descriptor and generator networks, the
    descriptor's energy U and its sampler (``model``, initialised by the generator), the
    per-step log, the config, the steps done and the step the run resumed from."""

    descriptor: nn.Module
    generator: nn.Module
    energy: RescaledPotential
    model: EnergyModel          # the descriptor's sampler, initialised by the generator
    log: TrainLog
    config: CoopConfig
    steps_done: int
    resumed_from: int = 0
    extras: dict = field(default_factory=dict)
    sessions: list = field(default_factory=list)   # labels of the sessions that trained it

    def latent_energy(self, prior: bool = True) -> LatentEnergy:
        """The cooperative energy (5.2) over latent states, ``U(g(z)) [+ ||z||^2 / 2]``."""
        return LatentEnergy(self.energy, self.generator, prior=prior)


def train_coop(descriptor_net: nn.Module, generator_net: nn.Module, data: Any, cfg: CoopConfig,
               *, checkpoint_dir: str | Path | None = None, resume: bool = True,
               progress: bool = True, device: str = "cpu", stop_after: int | None = None,
               callback: Callable[[int, "CoopLearner"], None] | None = None,
               session: str | None = None) -> CoopResult:
    """Run Algorithm 4 on a descriptor F and a generator g with ``data`` (tensor or sampler).

    ``checkpoint_dir``: where ``checkpoint.pt`` is kept; with ``resume`` an existing checkpoint
    of the same config is continued, bit for bit. ``stop_after``: stop (with a checkpoint) after
    this many steps in total. ``callback(step, learner)`` runs after every update (the learner
    holds ``.descriptor``, ``.generator`` and ``.model``). ``session``: this call's label in the
    checkpoint's record of sessions. See :func:`ebmbook.learning.fit.fit`.
    """
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    learner = CoopLearner(descriptor_net, generator_net, data, cfg, gen, device)
    res = fit(learner, cfg, cfg.n_steps, generator=gen, checkpoint_dir=checkpoint_dir,
              checkpoint_every=cfg.checkpoint_every, resume=resume, stop_after=stop_after,
              progress=progress, callback=callback, device=device, desc="co-op",
              session=session)
    return CoopResult(descriptor=learner.descriptor, generator=learner.generator,
                      energy=learner.energy, model=learner.model, log=res.log, config=cfg,
                      steps_done=res.steps_done, resumed_from=res.resumed_from,
                      sessions=res.sessions)


def infer_latents(generator_net: nn.Module, x: torch.Tensor, *, sigma: float = 0.3,
                  n_starts: int = 4, rate: float = 0.01, n_steps: int = 300,
                  generator: torch.Generator | None = None,
                  chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The latent code of each image: the mode of the generator posterior (A.1)
    ``||x - g(z)||^2 / (2 sigma^2) + ||z||^2 / 2`` by gradient descent
    (:func:`ebmbook.sampling.descent.local_modes`) from ``n_starts`` N(0, I) starts (the first is
    z = 0), keeping the lowest. Returns (codes (n, d), posterior energies (n,))."""
    if not (isinstance(n_starts, int) and n_starts >= 1):
        raise ValueError(f"n_starts must be an integer >= 1, got {n_starts!r}")
    d = latent_dim_of(generator_net)
    codes, energies = [], []
    for lo in range(0, x.shape[0], chunk):
        xb = x[lo:lo + chunk]
        n = xb.shape[0]
        z0 = torch.randn((n_starts, n, d), generator=generator, dtype=xb.dtype,
                         device=generator.device if generator is not None else xb.device)
        z0 = z0.to(xb.device)
        z0[0] = 0.0
        post = GeneratorPosterior(generator_net, xb.repeat(n_starts, *([1] * (xb.dim() - 1))),
                                  sigma)
        z, u = local_modes(post, z0.reshape(n_starts * n, d), rate=rate, n_steps=n_steps)
        z, u = z.detach().reshape(n_starts, n, d), u.detach().reshape(n_starts, n)
        best = u.argmin(0)
        codes.append(z[best, torch.arange(n)])
        energies.append(u[best, torch.arange(n)])
    return torch.cat(codes), torch.cat(energies)
