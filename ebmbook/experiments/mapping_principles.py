"""Chapter 4: principles of landscape mapping (Figs 4.1, 4.4, 4.5, 4.8, 4.9).

* the exact DG of a 1D landscape and of the 2D Gaussian-mixture loss over two means, by flooding
  a grid (Algorithm 2 on exact barriers);
* Attraction-Diffusion on the 1D toy landscape of Fig 4.8: magnetised landscapes toward
  X* = 5.1 and X* = 10, and batched AD trials within and across the large barrier;
* the magnetised Ising model (eq. 4.8): a (T, H) phase map, M(H) hysteresis loops started from
  sigma-, and the temperature at which the loop closes (compare Onsager's T_c ~= 2.269).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .._config import require_int, require_positive
from ..energies.landscapes import GaussianMixtureLoss, MultiWell1D, ToyLandscape1D
from ..energies.spin import ONSAGER_TC
from ..landscape.ad import attraction_diffusion
from ..landscape.barriers import linear_barrier
from ..landscape.dgraph import DisconnectivityGraph, disconnectivity_graph
from ..landscape.exact import ExactLandscape, grid_landscape
from ..results import Metric
from ..sampling.spins import ising_sweeps
from ._base import ExperimentConfig
from ._common import progress_bar


@dataclass(frozen=True)
class Config(ExperimentConfig):
    grid_1d: int = 1500
    grid_2d: int = 151
    ad_trials: int = 40
    ad_temperature: float = 0.01
    ad_alpha: float = 40.0
    ad_step: float = 0.015
    ad_limit: int = 300
    ad_max_steps: int = 20000
    ising_side: int = 32
    ising_chains: int = 8
    ising_sweeps: int = 1600
    ising_T_min: float = 2.0
    ising_T_max: float = 2.6
    ising_n_T: int = 13
    remanence_threshold: float = 0.3
    loop_side: int = 32
    loop_H_max: float = 0.6
    loop_H_steps: int = 25
    loop_sweeps: int = 40
    phase_n_T: int = 12
    phase_n_H: int = 13
    phase_sweeps: int = 200
    progress: bool = True

    SIZES: ClassVar = {
        "ci": {},
        "paper": {"grid_1d": 4000, "grid_2d": 301, "ad_trials": 200, "ising_side": 64,
                  "ising_chains": 16, "ising_sweeps": 6000, "ising_n_T": 25, "loop_side": 64,
                  "loop_sweeps": 200, "phase_n_T": 25, "phase_n_H": 25, "phase_sweeps": 1000},
    }

    def __post_init__(self):
        super().__post_init__()
        require_int(self, "grid_1d", "grid_2d", minimum=10)
        require_int(self, "ad_trials", "ad_limit", "ad_max_steps", "ising_chains",
                    "ising_sweeps", "ising_n_T", "loop_H_steps", "loop_sweeps", "phase_n_T",
                    "phase_n_H", "phase_sweeps")
        require_int(self, "ising_side", "loop_side", minimum=4)
        require_positive(self, "ad_temperature", "ad_alpha", "ad_step", "ising_T_min",
                         "ising_T_max", "remanence_threshold", "loop_H_max")
        if self.ising_side % 2 or self.loop_side % 2:
            raise ValueError("config fields 'ising_side' and 'loop_side' must be even")
        if self.ising_T_max <= self.ising_T_min:
            raise ValueError("config field 'ising_T_max' must exceed 'ising_T_min'")


@dataclass
class Result:
    config: Config
    x1d: np.ndarray
    u1d: np.ndarray
    exact1d: ExactLandscape
    dg1d: DisconnectivityGraph
    gmm_axis: np.ndarray
    gmm_u: np.ndarray
    exact2d: ExactLandscape
    dg2d: DisconnectivityGraph
    toy_x: np.ndarray
    toy_u: np.ndarray
    ad_table: list            # dicts: start, target, success_rate, median_barrier, mean_steps
    ad_paths: dict            # (start, target) -> (energy path, distance path) of one trial
    toy_linear_barrier: float
    phase_T: np.ndarray
    phase_H: np.ndarray
    phase_M: np.ndarray       # (n_T, n_H) mean magnetisation from random starts
    loop_T: np.ndarray
    loop_H: np.ndarray        # the H schedule: up then down
    loop_M: np.ndarray        # (len(loop_T), len(loop_H))
    rem_T: np.ndarray
    remanence: np.ndarray     # (n_T,) (M(sigma+) - M(sigma-)) / 2 at H = 0
    close_T: float

    def metrics(self) -> dict[str, Metric]:
        """Headline numbers with their descriptions (also printed by ``ebmbook run
        mapping_principles``)."""
        split = ToyLandscape1D.barrier_x
        right = [r["success_rate"] for r in self.ad_table
                 if r["start"] > split and r["target"] > split]
        across = [r["success_rate"] for r in self.ad_table
                  if (r["start"] < split) != (r["target"] < split)]
        return {
            "dg1d_minima": Metric(self.dg1d.n, "local minima of the 1D multi-well landscape"),
            "gmm_minima": Metric(len(self.exact2d.minima),
                                 "grid minima of the GMM loss over (mu1, mu2)"),
            "toy_ad_success_within": Metric(
                min(right), "lowest AD success rate between points of the right basin"),
            "toy_ad_success_across": Metric(
                max(across), "highest AD success rate across the barrier"),
            "toy_linear_barrier": Metric(self.toy_linear_barrier,
                                         "1D linear barrier from x=2 to x=5.1"),
            "ising_hysteresis_close_T": Metric(
                self.close_T, "temperature where the H=0 hysteresis gap closes"),
            "onsager_Tc": Metric(ONSAGER_TC, "Onsager critical temperature 2/ln(1+sqrt 2)"),
        }


def ising_remanence(temperatures, *, side: int, n_sweeps: int, n_chains: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Half the gap between the two branches of the M(H) loop at H = 0: chains started from
    sigma+ and sigma- evolve at H = 0 for ``n_sweeps`` (all temperatures and chains in one batch);
    returns (mean M over the second half from sigma+ minus that from sigma-) / 2 per T."""
    T = np.asarray(temperatures, dtype=np.float64)
    TT = np.tile(np.repeat(T, n_chains), 2)
    sign = np.repeat([1.0, -1.0], len(T) * n_chains)
    s = sign[:, None, None] * np.ones((len(TT), side, side))
    _, m = ising_sweeps(s, temperature=TT, field=0.0, n_sweeps=n_sweeps, rng=rng)
    avg = m[n_sweeps // 2:].mean(axis=0).reshape(2, len(T), n_chains).mean(axis=2)
    return (avg[0] - avg[1]) / 2


def loop_close_temperature(T: np.ndarray, remanence: np.ndarray, threshold: float) -> float:
    """The first temperature (linear interpolation on the grid) where the remanence falls below
    ``threshold``: where the hysteresis loop at H = 0 closes. ``nan`` if it never does."""
    below = np.flatnonzero(remanence < threshold)
    if below.size == 0:
        return float("nan")
    k = below[0]
    if k == 0:
        return float(T[0])
    r0, r1 = remanence[k - 1], remanence[k]
    return float(T[k - 1] + (r0 - threshold) / (r0 - r1) * (T[k] - T[k - 1]))


def hysteresis_loops(temperatures, H_schedule, *, side: int, n_sweeps: int,
                     rng: np.random.Generator) -> np.ndarray:
    """M(H) along ``H_schedule`` starting from sigma- (one chain per temperature, batched);
    returns (len(T), len(H)) magnetisation averaged over the sweeps at each H."""
    T = np.asarray(temperatures, dtype=np.float64)
    s = -np.ones((len(T), side, side))
    out = np.empty((len(T), len(H_schedule)))
    for k, H in enumerate(H_schedule):
        s, m = ising_sweeps(s, temperature=T, field=H, n_sweeps=n_sweeps, rng=rng)
        out[:, k] = m.mean(axis=0)
    return out


def run(config: Config) -> Result:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    steps = progress_bar(config.progress, total=5, desc="mapping principles")

    # Fig 4.1 / 4.4: exact DG of a 1D multi-well landscape
    wells = MultiWell1D()
    x1d = np.linspace(*wells.domain, config.grid_1d)
    u1d = wells(torch.as_tensor(x1d)).numpy()
    ex1 = grid_landscape(u1d)
    dg1 = disconnectivity_graph(ex1.barriers)
    steps.update()

    # Fig 4.5: GMM loss over two means, exact on a grid
    gmm = GaussianMixtureLoss.example(seed=config.seed)
    ax = np.linspace(-7, 8, config.grid_2d)
    X, Y = np.meshgrid(ax, ax, indexing="ij")
    pts = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], 1))
    gu = torch.cat([gmm(c) for c in pts.split(4096)]).numpy().reshape(X.shape)
    ex2 = grid_landscape(gu)
    dg2 = disconnectivity_graph(ex2.barriers).prune(0.01)
    steps.update()

    # Fig 4.8: AD on the 1D toy landscape, within and across the big barrier
    toy = ToyLandscape1D()
    tx = np.linspace(-1, 12, 2000)
    tu = toy(torch.as_tensor(tx)).numpy()
    pairs = [(10.0, 5.1), (5.1, 10.0), (2.0, 5.1), (2.0, 10.0), (10.0, 2.0)]
    n = config.ad_trials
    starts = torch.tensor([p[0] for p in pairs], dtype=torch.float64).repeat_interleave(n)[:, None]
    targets = torch.tensor([p[1] for p in pairs], dtype=torch.float64).repeat_interleave(n)[:, None]
    res = attraction_diffusion(toy, starts, targets, temperature=config.ad_temperature,
                               alpha=config.ad_alpha, eps=config.ad_step, generator=gen,
                               delta=0.05, improvement_limit=config.ad_limit,
                               max_steps=config.ad_max_steps, record=True)
    table, paths = [], {}
    for k, (a, b) in enumerate(pairs):
        sl = slice(k * n, (k + 1) * n)
        ok = res.success[sl]
        table.append({"start": a, "target": b, "success_rate": float(ok.mean()),
                      "median_barrier": float(np.median(res.barrier[sl][ok])) if ok.any()
                      else float("nan"), "mean_steps": float(res.steps[sl].mean())})
        n_points = int(res.steps[k * n]) + 1
        paths[(a, b)] = (res.path_energy[k * n, :n_points], res.path_distance[k * n, :n_points])
    lin = float(linear_barrier(toy, torch.tensor([[2.0]], dtype=torch.float64),
                               torch.tensor([[5.1]], dtype=torch.float64), n_points=400)[0])
    steps.update()

    # Fig 4.9: Ising phase map, hysteresis loops, and where the loop closes
    pT = np.linspace(1.5, 3.2, config.phase_n_T)
    pH = np.linspace(-0.3, 0.3, config.phase_n_H)
    TT, HH = np.meshgrid(pT, pH, indexing="ij")
    s0 = np.where(rng.random((TT.size, 16, 16)) < 0.5, 1.0, -1.0)
    _, m = ising_sweeps(s0, temperature=TT.ravel(), field=HH.ravel(),
                        n_sweeps=config.phase_sweeps, rng=rng)
    phase_M = m[config.phase_sweeps // 2:].mean(axis=0).reshape(TT.shape)
    loop_T = np.array([1.8, 2.1, 2.6])
    up = np.linspace(-config.loop_H_max, config.loop_H_max, config.loop_H_steps)
    H_sched = np.concatenate([up, up[::-1][1:]])
    loop_M = hysteresis_loops(loop_T, H_sched, side=config.loop_side, n_sweeps=config.loop_sweeps,
                              rng=rng)
    steps.update()
    rem_T = np.linspace(config.ising_T_min, config.ising_T_max, config.ising_n_T)
    rem = ising_remanence(rem_T, side=config.ising_side, n_sweeps=config.ising_sweeps,
                          n_chains=config.ising_chains, rng=rng)
    close_T = loop_close_temperature(rem_T, rem, config.remanence_threshold)
    steps.update()
    steps.close()
    return Result(config=config, x1d=x1d, u1d=u1d, exact1d=ex1, dg1d=dg1, gmm_axis=ax,
                  gmm_u=gu, exact2d=ex2, dg2d=dg2, toy_x=tx, toy_u=tu, ad_table=table,
                  ad_paths=paths, toy_linear_barrier=lin, phase_T=pT, phase_H=pH,
                  phase_M=phase_M, loop_T=loop_T, loop_H=H_sched, loop_M=loop_M, rem_T=rem_T,
                  remanence=rem, close_T=close_T)


__all__ = ["Config", "Result", "run", "ising_remanence", "loop_close_temperature",
           "hysteresis_loops", "ONSAGER_TC"]
