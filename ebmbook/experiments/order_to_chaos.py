"""Order to chaos, investigated (Fig 3.8, Sec 3.4.1; issue 11 part 1).

The thesis reports the maximal Lyapunov exponent of the sampler turning positive close to
gamma = 1. The convergent artifact ``fmnist_convergent`` is a LeakyReLU network: F is piecewise
linear in x, its Hessian is zero almost everywhere and the tangent map of (3.8) is the identity,
so the *infinitesimal* exponent is 0 at every gamma. Any transition must then come from a finite
separation crossing activation boundaries. This module measures:

1. **The finite-size exponent lambda(gamma, delta0)** on the LeakyReLU artifact over a log grid of
   the initial separation delta0, from well below the sampler's per-step zig-zag (about
   eps^2/2 |grad U|, a few hundredths) up to the typical distance between neighbouring training
   images, and gamma over [0, 3] (:func:`lyapunov_map`); the zero crossing in gamma of every
   row.
2. **A smooth model**: ``fmnist_convergent_smooth``, the same recipe with SiLU, where the
   infinitesimal exponent is defined. Its exponent at a small delta0, with the integration step
   refined (``substeps`` 1 and 4: the estimate of the SDE should not move), and its own
   lambda(gamma, delta0) map.
3. **The visual side**: long-run samples of each model at each gamma from the same bank states
   (:func:`ebmbook.diagnostics.lyapunov.gamma_frames`): the share of saturated pixels (beyond
   +-0.95) and the energy against the data's (oversaturated toward gamma = 0, realistic at 1,
   noisy above).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from .._config import require_choice, require_int
from ..artifacts import Artifact, load_or_train
from ..diagnostics.lyapunov import GammaFrame, gamma_frames, zero_crossing
from ..registry import MODEL_SIZES, model_spec
from ..results import Metric
from ._base import ExperimentConfig
from ._common import lyapunov_estimate, progress_bar, start_states

LEAKY, SMOOTH = "fmnist_convergent", "fmnist_convergent_smooth"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    model_size: str = "cpu"
    gammas: tuple = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
    delta0s: tuple = (1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0)
    chains: int = 4
    base_steps: int = 100          # sampler steps of burn-in and of measurement (a quarter align)
    smooth_delta0: float = 1e-3    # the smooth model's infinitesimal estimate
    refine_substeps: tuple = (1, 4)
    sat_chains: int = 8
    sat_steps: int = 1500
    n_data: int = 1000
    progress: bool = True

    SIZES: ClassVar = {
        "ci": {},
        "paper": {"model_size": "paper", "chains": 16, "base_steps": 2000,
                  "delta0s": (1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0, 3.0),
                  "refine_substeps": (1, 4, 16), "sat_chains": 64, "sat_steps": 100_000},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self, "model_size", MODEL_SIZES)
        require_int(self, "chains", "base_steps", "sat_chains", "sat_steps", "n_data")
        for name in ("gammas", "delta0s", "refine_substeps"):
            v = getattr(self, name)
            if not v or any(not x >= 0 for x in v) or list(v) != sorted(set(v)):
                raise ValueError(f"config field {name!r} = {v!r} is invalid: it must be a "
                                 "non-empty increasing tuple of numbers >= 0")
        if min(self.delta0s) <= 0 or not self.smooth_delta0 > 0:
            raise ValueError("config fields 'delta0s' and 'smooth_delta0' must be > 0")
        if self.base_steps < 4:
            raise ValueError(f"config field 'base_steps' = {self.base_steps} is invalid: it "
                             "must be at least 4 (a quarter of it aligns the perturbation)")


def lyapunov_map(art: Artifact, x0: torch.Tensor, gammas, delta0s, base_steps: int,
                 seed: int, progress: bool = False) -> np.ndarray:
    """lambda(delta0, gamma), per unit time: (len(delta0s), len(gammas))."""
    rows = []
    for d0 in progress_bar(progress, delta0s, desc="Lyapunov map", leave=False):
        rows.append(lyapunov_estimate(art, x0, gammas, d0, base_steps, 1, seed).exponent)
    return np.asarray(rows)


@dataclass
class ModelStudy:
    name: str
    activation: str
    gammas: np.ndarray
    delta0s: np.ndarray
    lyap_map: np.ndarray                 # (delta0, gamma)
    frames: dict                         # gamma -> GammaFrame (long-run samples)
    refined: dict = field(default_factory=dict)   # substeps -> exponents at the small delta0
    smooth_delta0: float = float("nan")

    def zero_gamma(self, row: int) -> float:
        return zero_crossing(self.gammas, self.lyap_map[row])

    def frame(self, gamma: float) -> GammaFrame:
        return self.frames[(float(gamma),)]


@dataclass
class Result:
    config: Config
    leaky: ModelStudy
    smooth: ModelStudy

    def metrics(self) -> dict[str, Metric]:
        out = {}
        for tag, st in (("", self.leaky), ("_smooth", self.smooth)):
            for i, d0 in enumerate(st.delta0s):
                out[f"lyapunov_zero_gamma{tag}_delta0_{d0:g}"] = Metric(
                    st.zero_gamma(i), f"{st.name}: gamma at which the finite-size exponent "
                    f"with delta0 = {d0:g} turns positive (nan: it never does on [0, 3])")
            for g in (0.0, 1.0):
                f = st.frame(g)
                out[f"saturation_gamma{g:g}{tag}"] = Metric(
                    f.saturation, f"{st.name}: share of long-run pixels beyond +-0.95 at "
                    f"gamma = {g:g}")
                out[f"longrun_energy_z_gamma{g:g}{tag}"] = Metric(
                    float(np.mean(f.energy_z)), f"{st.name}: long-run energy at gamma = {g:g} "
                    "(data-energy sds from the data mean)")
        ks = sorted(self.smooth.refined)
        fine = self.smooth.refined[ks[-1]]
        out["lyapunov_zero_gamma_smooth"] = Metric(
            zero_crossing(self.smooth.gammas, fine),
            f"{SMOOTH}: gamma at which the infinitesimal exponent (delta0 = "
            f"{self.smooth.smooth_delta0:g}, {ks[-1]} integration steps per sampler step) "
            "turns positive (nan: never)")
        i1 = int(np.argmin(np.abs(self.smooth.gammas - 1.0)))
        out["lyapunov_smooth_refinement_change"] = Metric(
            float(abs(self.smooth.refined[ks[-1]][i1] - self.smooth.refined[ks[0]][i1])),
            f"|change| of the smooth model's exponent at gamma = 1 from {ks[0]} to {ks[-1]} "
            "integration steps per sampler step (small: the SDE's exponent is resolved)")
        out["lyapunov_smooth_gamma1"] = Metric(float(self.smooth.refined[ks[-1]][i1]),
                                               f"{SMOOTH}: infinitesimal exponent at gamma = 1")
        return out


def study(name: str, config: Config, data_energy_n: int, progress: bool,
          refine: bool) -> ModelStudy:
    """Every measurement of this module on one registered model."""
    art = load_or_train(name, model_spec(name, config.model_size), device=config.device,
                        progress=progress)
    x0 = start_states(art, config.chains, config.seed).to(config.device)
    gammas = np.asarray(config.gammas, dtype=float)
    M = lyapunov_map(art, x0, config.gammas, config.delta0s, config.base_steps, config.seed,
                     progress)
    refined = {}
    if refine:
        for k in config.refine_substeps:
            refined[int(k)] = lyapunov_estimate(art, x0, config.gammas, config.smooth_delta0,
                                                config.base_steps, int(k),
                                                config.seed).exponent
    data = art.spec.load_data("test")[:data_energy_n].to(config.device)
    xs = start_states(art, config.sat_chains, config.seed + 1).to(config.device)
    frames = gamma_frames(art.model, xs, config.gammas, config.sat_steps,
                          data_energy=art.model.energies(data).numpy(),
                          generator=torch.Generator(device=config.device).manual_seed(
                              config.seed))
    return ModelStudy(name=name, activation=art.spec.activation, gammas=gammas,
                      delta0s=np.asarray(config.delta0s, dtype=float), lyap_map=M,
                      frames=frames, refined=refined, smooth_delta0=config.smooth_delta0)


def run(config: Config) -> Result:
    bar = progress_bar(config.progress, total=2, desc="order to chaos")
    leaky = study(LEAKY, config, config.n_data, config.progress, refine=False)
    bar.update()
    smooth = study(SMOOTH, config, config.n_data, config.progress, refine=True)
    bar.update()
    bar.close()
    return Result(config=config, leaky=leaky, smooth=smooth)
