"""Fig 3.8-3.11: order to chaos, the hybrid optimiser, the Gaussian prior and the pathological
runs (Sec 3.4, 3.5).

* Fig 3.8: the maximal Lyapunov exponent of the SDE (3.8) for the convergent artifact over the
  noise scale gamma (Benettin method, :mod:`ebmbook.diagnostics.lyapunov`), with the long-run
  samples of each gamma. The thesis finds the exponent turning positive close to gamma = 1.
* Fig 3.9: the weight snapshots of the convergent artifact, which was trained with the hybrid
  optimiser (Adam, then SGD): long-run chains from data at each snapshot and the gap between
  their energy and the data's, in units of the data's energy sd.
* Fig 3.10: noise-initialised learning with the Gaussian prior of eq. (3.10), trained here.
* Fig 3.11: expansion-only learning (noise init, L = 5) and contraction-only learning
  (persistent, tau = 0), trained here, with their d_st / r_st traces.

The three small training runs use the ``ci`` training path in every size (they are cheap and
meant to show a qualitative outcome); their sizes grow with ``paper``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .._config import require_choice, require_int, require_positive
from ..artifacts import Artifact, load_or_train
from ..diagnostics.lyapunov import LyapunovResult, maximal_lyapunov
from ..learning.trainer import (TrainConfig, TrainingDivergedError, TrainLog, build_energy,
                                build_model, load_checkpoint_state, train)
from ..models import ImageModelSpec
from ..results import Metric
from ..registry import MODEL_SIZES, model_spec
from ..sampling.init import NoiseInit, random_index
from ._base import ExperimentConfig
from ._common import lyapunov_estimate, start_states

MODEL = "fmnist_convergent"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    model_size: str = "cpu"
    gammas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
    lyap_chains: int = 4
    # Lyapunov counts are integration steps of dt = eps^2 / (2 lyap_substeps); see run_lyapunov
    lyap_substeps: int = 4
    lyap_burn: int = 800
    lyap_align: int = 200
    lyap_steps: int = 800
    lyap_renorm: int = 4
    lyap_delta0: float = 0.1
    hybrid_chains: int = 8
    hybrid_steps: int = 2000
    # small training runs (Fig 3.10, 3.11)
    small_image_size: int = 16
    small_width: int = 8
    small_batch: int = 32
    small_n_per_class: int = 200
    prior_steps: int = 200
    prior_langevin: int = 20
    prior_sigma: float = 0.05
    prior_longrun: int = 1000
    expansion_steps: int = 300
    contraction_steps: int = 300
    contraction_langevin: int = 10

    SIZES: ClassVar = {
        "ci": {},
        "paper": {"model_size": "paper", "lyap_chains": 16, "lyap_burn": 40_000,
                  "lyap_align": 8000, "lyap_steps": 40_000, "hybrid_chains": 64,
                  "hybrid_steps": 100_000, "small_image_size": 28, "small_width": 32,
                  "small_batch": 100, "small_n_per_class": 6000, "prior_steps": 20_000,
                  "prior_langevin": 100, "prior_longrun": 100_000, "expansion_steps": 2000, "contraction_steps": 5000,
                  "contraction_langevin": 100},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self, "model_size", MODEL_SIZES)
        require_int(self, "lyap_chains", "lyap_steps", "lyap_renorm", "lyap_substeps", "hybrid_chains",
                    "hybrid_steps", "small_image_size", "small_width", "small_batch",
                    "small_n_per_class", "prior_steps", "prior_langevin", "prior_longrun", "expansion_steps",
                    "contraction_steps", "contraction_langevin")
        require_int(self, "lyap_burn", "lyap_align", minimum=0)
        require_positive(self, "lyap_delta0", "prior_sigma")
        if not self.gammas or min(self.gammas) < 0:
            raise ValueError(f"config field 'gammas' = {self.gammas!r} is invalid: it must be a "
                             "non-empty tuple of numbers >= 0")
        if self.lyap_renorm > self.lyap_steps:
            raise ValueError(f"config field 'lyap_renorm' = {self.lyap_renorm} is invalid: it "
                             f"must be at most lyap_steps = {self.lyap_steps}")

    def small_spec(self, run: str) -> ImageModelSpec:
        """The spec of one of the small runs: ``prior``, ``expansion`` or ``contraction``."""
        common = dict(batch_size=self.small_batch, eps=0.01, eps_data=0.01, optimizer="adam",
                      adam_lr=5e-4, checkpoint_every=10_000, seed=self.seed,
                      divergence_threshold=1e12)
        if run == "prior":
            t = TrainConfig(n_steps=self.prior_steps, n_langevin=self.prior_langevin, tau=1.0,
                            init="uniform", prior_sigma=self.prior_sigma, **common)
        elif run == "expansion":
            t = TrainConfig(n_steps=self.expansion_steps, n_langevin=5, tau=1.0, init="uniform",
                            **common)
        elif run == "contraction":
            t = TrainConfig(n_steps=self.contraction_steps, n_langevin=self.contraction_langevin,
                            tau=0.0, init="persistent", bank_size=max(self.small_batch, 500),
                            **common)
        else:
            raise ValueError(f"run must be 'prior', 'expansion' or 'contraction', got {run!r}")
        return ImageModelSpec(image_size=self.small_image_size, width=self.small_width,
                              n_down=2, n_per_class=self.small_n_per_class, bank_keep=0,
                              metric_images=200, train=t)


@dataclass
class SmallRun:
    name: str
    spec: ImageModelSpec
    log: TrainLog
    steps_done: int
    diverged_at: int | None
    samples: torch.Tensor            # persistent-bank states, or fresh short-run samples
    longrun: torch.Tensor | None = None


@dataclass
class Result:
    config: Config
    artifact: Artifact
    lyapunov: LyapunovResult
    hybrid_steps: np.ndarray
    hybrid_longrun: list             # per snapshot: (chains, 1, s, s)
    hybrid_gap: np.ndarray           # (long-run mean - data mean) / data sd per snapshot
    hybrid_data_energy: np.ndarray
    hybrid_longrun_energy: np.ndarray
    switch_step: int
    small: dict[str, SmallRun]

    def metrics(self) -> dict[str, Metric]:
        """The Lyapunov exponents (Fig 3.8), the hybrid optimiser's energy gaps (Fig 3.9) and
        the pathological runs' gradient strengths (Fig 3.11), with their descriptions."""
        out = {"lyapunov_zero_gamma": Metric(
            self.lyapunov.zero_crossing(),
            "gamma at which the maximal Lyapunov exponent turns positive")}
        for g, e in zip(self.lyapunov.gammas, self.lyapunov.exponent):
            out[f"lyapunov_gamma_{g:g}"] = Metric(
                e, f"maximal Lyapunov exponent at gamma={g:g} (per unit time)")
        for s, gap in zip(self.hybrid_steps, self.hybrid_gap):
            out[f"hybrid_gap_step_{int(s)}"] = Metric(
                gap, "(long-run - data energy) / data sd at this snapshot")
        at_switch = self.hybrid_gap[self.hybrid_steps <= self.switch_step][-1]
        out["hybrid_gap_at_switch"] = Metric(
            at_switch, "gap at the last Adam snapshot (start of the SGD phase)")
        out["hybrid_gap_final"] = Metric(self.hybrid_gap[-1],
                                         "gap at the last snapshot (end of the SGD phase)")
        exp, con = self.small["expansion"].log, self.small["contraction"].log
        out["expansion_r_st_growth"] = Metric(
            _ratio_end_start(exp.r_st),
            f"r_st at the end / at the start (mean of {_ends(exp.r_st)} steps each), "
            "expansion-only run")
        out["contraction_r_st_end_over_peak"] = Metric(
            _ratio_end_peak(con.r_st),
            f"r_st at the end (mean of the last {_ends(con.r_st)} steps) / its peak, "
            "contraction-only run")
        return out


def _ends(r: np.ndarray) -> int:
    """How many finite steps at each end of ``r`` the ratios below average over."""
    r = np.asarray(r, dtype=float)
    return max(1, min(20, int(np.isfinite(r).sum()) // 5))


def _ratio_end_start(r: np.ndarray) -> float:
    r = np.asarray(r, dtype=float)
    r = r[np.isfinite(r)]
    k = _ends(r)
    return float(np.mean(r[-k:]) / np.mean(r[:k]))


def _ratio_end_peak(r: np.ndarray) -> float:
    r = np.asarray(r, dtype=float)
    r = r[np.isfinite(r)]
    k = _ends(r)
    return float(np.mean(r[-k:]) / np.max(r))



def _train_small(name: str, spec: ImageModelSpec, device: str, progress: bool,
                 generator: torch.Generator, longrun_steps: int = 0) -> SmallRun:
    """Train one small run (a divergence ends it and is recorded), then draw short-run samples
    as in training and, with ``longrun_steps``, continue them into a long run."""
    data = spec.load_data("train").to(device)
    net = spec.build_net()
    with tempfile.TemporaryDirectory() as d:
        diverged = None
        try:
            res = train(net, data, spec.train, checkpoint_dir=d, progress=progress, device=device)
            log, done, net = res.log, res.steps_done, res.net
            bank = res.bank.states if res.bank is not None else None
        except TrainingDivergedError as err:
            state = load_checkpoint_state(d, device)
            log, done, diverged = state["log"], err.step, err.step
            net.load_state_dict(state["net"])
            bank = state["bank"]["states"] if state.get("bank") else None
    t = spec.train
    # a fresh-noise model for the samples: persistent runs show their bank (the negatives
    # themselves), the others L steps of their own sampler from uniform noise
    model = build_model(net, t, NoiseInit("uniform", spec.shape, t.noise_scale, device),
                        spec.shape)
    y0 = model.init(16, generator)
    if bank is not None:
        samples = bank[random_index(len(bank), 16, generator, bank.device, replacement=False)]
    else:
        samples = model.short_run(x=y0, generator=generator).x
    longrun = None
    if longrun_steps:
        longrun = model.long_run(samples, longrun_steps, generator=generator,
                                 progress=progress).x.cpu()
    return SmallRun(name=name, spec=spec, log=log, steps_done=done, diverged_at=diverged,
                    samples=samples.clamp(-1e3, 1e3).cpu(), longrun=longrun)


def run_lyapunov(art: Artifact, config: Config, generator: torch.Generator,
                 progress: bool = True) -> LyapunovResult:
    """Finite-size Lyapunov exponent of (3.8), per unit time of U, for every gamma.

    The convergent artifact is a LeakyReLU network, so F is piecewise linear and grad F jumps
    across activation boundaries. Near such a boundary the Euler-Maruyama chain zig-zags with an
    amplitude of about dt |grad U|, and two chains closer than that separate by a finite jump;
    the infinitesimal (small ``delta0``) estimate then measures this chatter and grows as dt
    shrinks instead of converging. ``lyap_delta0`` is therefore kept well above the chatter
    amplitude (|grad F| ~ 0.02 per sampler step here) and the Langevin step is split into
    ``lyap_substeps`` integration steps; the notebook shows both dependences.
    """
    x0 = start_states(art, config.lyap_chains, config.seed).to(config.device)
    return maximal_lyapunov(art.model.energy, x0, config.gammas, eps=art.model.eps,
                            n_steps=config.lyap_steps, n_burn=config.lyap_burn,
                            n_align=config.lyap_align, renorm_every=config.lyap_renorm,
                            substeps=config.lyap_substeps,
                            delta0=config.lyap_delta0, generator=generator, progress=progress)


def lyapunov_sensitivity(art: Artifact, config: Config, delta0s=(1e-5, None), substeps=(1, 4),
                         gammas=(0.0, 1.0, 3.0), base_steps: int = 100) -> list[dict]:
    """The Lyapunov estimate's dependence on the initial separation and the time step.

    For each ``delta0`` (``None``: the config's ``lyap_delta0``) and each number of integration
    substeps k, the same bank states run ``base_steps`` sampler steps of burn-in and of
    measurement (a quarter for alignment), renormalising every sampler step. Returns one row
    per (delta0, substeps, gamma) with the exponent per unit time.
    """
    x0 = art.extras["bank"][: config.lyap_chains].to(config.device)
    rows = []
    for d0 in delta0s:
        d0 = config.lyap_delta0 if d0 is None else d0
        for k in substeps:
            r = lyapunov_estimate(art, x0, gammas, d0, base_steps, k, config.seed)
            rows += [{"delta0": d0, "substeps": k, "gamma": g, "exponent (per unit time)": e}
                     for g, e in zip(r.gammas, r.exponent)]
    return rows


def run_hybrid(art: Artifact, config: Config, generator: torch.Generator, progress: bool = True):
    """Long-run chains from data at each weight snapshot of the hybrid-trained artifact."""
    spec = art.spec
    steps = art.extras["snapshot_steps"].numpy()
    data = spec.load_data("test")[:500].to(config.device)
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed))
    x0 = data[idx[: config.hybrid_chains]]
    net = spec.build_net().to(config.device)
    model = art.model.with_energy(build_energy(net, spec.train))
    longrun, gaps, de, le = [], [], [], []
    for sd in art.extras["snapshots"]:
        net.load_state_dict(sd)
        lr = model.long_run(x0, config.hybrid_steps, generator=generator, record_energy=True,
                            progress=progress)
        e_data = model.energies(data).numpy()
        k = max(1, config.hybrid_steps // 10)
        e_long = float(lr.energy[-k:].double().mean())
        longrun.append(lr.x.cpu())
        gaps.append((e_long - e_data.mean()) / e_data.std(ddof=1))
        de.append(e_data.mean())
        le.append(e_long)
    return steps, longrun, np.asarray(gaps), np.asarray(de), np.asarray(le)


def run(config: Config, progress: bool = True) -> Result:
    spec = model_spec(MODEL, config.model_size)
    art = load_or_train(MODEL, spec, device=config.device, progress=progress)
    gen = torch.Generator(device=config.device).manual_seed(config.seed)
    lyap = run_lyapunov(art, config, gen, progress)
    steps, longrun, gaps, de, le = run_hybrid(art, config, gen, progress)
    small = {name: _train_small(name, config.small_spec(name), config.device, progress, gen,
                                config.prior_longrun if name == "prior" else 0)
             for name in ("prior", "expansion", "contraction")}
    return Result(config=config, artifact=art, lyapunov=lyap, hybrid_steps=steps,
                  hybrid_longrun=longrun, hybrid_gap=gaps, hybrid_data_energy=de,
                  hybrid_longrun_energy=le, switch_step=spec.train.switch_step, small=small)
