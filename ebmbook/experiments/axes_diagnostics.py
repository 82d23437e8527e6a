"""Chapter 2 diagnostics at toy scale: Fig 2.4 (d_st and r_st over training), Fig 2.5 (r_st
across initialisation x eps x L) and Fig 3.3 / 3.4 (strong vs weak oscillation).

All runs learn an MLP potential of the 8-Gaussian mixture with Algorithm 1.

* Oscillation (Fig 2.4, 3.3, 3.4), eps = 0.125, tau = 1, three runs: ``adam`` (Adam,
  persistent bank), ``sgd_fast`` (plain SGD at a high rate, chains started from the data) and
  ``sgd_slow`` (plain SGD at a low rate, persistent bank). The lag-1 autocorrelation of the
  uncentred d_st separates strong oscillation (clearly negative) from weak oscillation (about
  0) (Sec 3.2.2). Sec 3.2.2 names Adam and SGD at a high rate as causes of strong oscillation,
  and notes that non-convergent learning in low dimensions often oscillates only weakly; on
  this 2D density the Adam run indeed does not oscillate strongly (measured here), while the
  fast-SGD run does.
* Gradient strength (Fig 2.5): for each initialisation (noise, data, persistent), a low eps and
  the tuned eps, and two chain lengths L, the average Langevin gradient r_st at the end of
  training. The thesis's claims (Sec 2.3.2): with low eps, noise initialisation makes
  r_st * L roughly constant (the path from noise to data is covered whatever L is), while data
  and persistent initialisation collapse (r_st -> 0); with the tuned eps, r_st balances with
  the noise for every initialisation.

  The three initialisations of one (eps, L) cell are trained together as one stacked program
  (:func:`ebmbook.learning.stacked.train_stacked`), each with its own chains and statistics.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._config import require_int, require_positive, require_range
from ..data.toy2d import toy_density
from ..diagnostics.stats import autocorrelation, cross_correlation, pearson
from ..energies.potentials import MLPPotential
from ..learning.stacked import train_stacked
from ..learning.trainer import TrainConfig, TrainLog, train
from ..results import Metric
from ._base import ExperimentConfig
from ._common import seeded

FIG25_INITS = ("gaussian", "data", "persistent")
OSCILLATION_RUNS = ("adam", "sgd_fast", "sgd_slow")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    density: str = "gmm"
    # oscillation runs (Fig 2.4, 3.3, 3.4)
    osc_steps: int = 3000
    osc_eps: float = 0.125
    osc_langevin: int = 50
    osc_bank: int = 10000
    adam_lr: float = 1e-3
    fast_sgd_lr: float = 2.0     # gamma_0; chains from the data, L = fast_langevin
    fast_langevin: int = 20
    slow_sgd_lr: float = 0.1     # gamma_0; persistent bank
    acf_window: int = 2000       # last steps used for the ACF (thesis: ~2000)
    max_lag: int = 15
    burn_in: float = 0.25        # fraction of steps dropped before summary statistics
    # gradient-strength grid (Fig 2.5)
    grid_steps: int = 800
    grid_eps_low: float = 0.001
    grid_eps_tuned: float = 0.125
    grid_langevin: tuple[int, ...] = (25, 100)
    grid_adam_lr: float = 1e-3
    grid_bank: int = 10000
    batch_size: int = 100

    SIZES: ClassVar = {
        "ci": {},
        "paper": {"osc_steps": 20000, "osc_langevin": 100, "grid_steps": 10000,
                  "grid_langevin": (50, 100, 200)},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        toy_density(self.density)
        require_int(self, "osc_steps", "osc_langevin", "osc_bank", "fast_langevin", "acf_window",
                    "max_lag", "grid_steps", "grid_bank", "batch_size")
        require_positive(self, "osc_eps", "adam_lr", "fast_sgd_lr", "slow_sgd_lr", "grid_eps_low",
                         "grid_eps_tuned", "grid_adam_lr")
        require_range(self, "burn_in", 0.0, 0.9)
        if len(self.grid_langevin) < 2 or min(self.grid_langevin) < 1:
            raise ValueError(f"config field 'grid_langevin' = {self.grid_langevin!r} is invalid: "
                             "it must list at least two chain lengths >= 1")

    def oscillation_config(self, kind: str) -> TrainConfig:
        common = dict(n_steps=self.osc_steps, batch_size=self.batch_size, eps=self.osc_eps,
                      n_langevin=self.osc_langevin, init="persistent", bank_size=self.osc_bank,
                      seed=self.seed)
        if kind == "adam":
            return TrainConfig(optimizer="adam", adam_lr=self.adam_lr, **common)
        if kind == "sgd_fast":
            common.update(init="data", n_langevin=self.fast_langevin)
            return TrainConfig(optimizer="sgd", sgd_lr=self.fast_sgd_lr,
                               sgd_lr_min=self.fast_sgd_lr, **common)
        if kind == "sgd_slow":
            return TrainConfig(optimizer="sgd", sgd_lr=self.slow_sgd_lr,
                               sgd_lr_min=self.slow_sgd_lr, **common)
        raise ValueError(f"kind must be one of {OSCILLATION_RUNS}, got {kind!r}")

    def grid_config(self, init: str, eps: float, n_langevin: int) -> TrainConfig:
        return TrainConfig(n_steps=self.grid_steps, batch_size=self.batch_size, eps=eps,
                           n_langevin=n_langevin, init=init, bank_size=self.grid_bank,
                           optimizer="adam", adam_lr=self.grid_adam_lr, seed=self.seed)


@dataclass
class OscillationStats:
    acf_d: np.ndarray        # ACF of uncentred d_st, lags 0..max_lag
    acf_r: np.ndarray        # ACF of centred r_st
    lags: np.ndarray         # cross-correlation lags -max_lag..max_lag
    xcorr: np.ndarray        # cross-correlation of d_st (uncentred) and r_st (centred)
    corr_d_r: float          # Pearson correlation of d_st and r_st after burn-in
    d_mean: float
    d_sd: float


@dataclass
class Result:
    config: Config
    logs: dict[str, TrainLog]                       # keyed by OSCILLATION_RUNS
    oscillation: dict[str, OscillationStats]
    r_final: dict[tuple[str, str, int], float]      # (init, 'low'|'tuned', L) -> final r_st
    r_first: dict[tuple[str, str, int], float]      # ... -> r_st at step 0
    grid_logs: dict[tuple[str, str, int], TrainLog]

    def metrics(self) -> dict[str, Metric]:
        """The oscillation numbers (lag-1 ACF of d_st, d_st-r_st correlation; Fig 2.4, 3.3,
        3.4) and the gradient-strength summaries of Fig 2.5, each with its description."""
        a, f, w = (self.oscillation[k] for k in OSCILLATION_RUNS)
        out = {
            "acf1_d_adam": Metric(a.acf_d[1], "lag-1 ACF of d_st, Adam, persistent init"),
            "acf1_d_sgd_fast": Metric(f.acf_d[1],
                                      "lag-1 ACF of d_st, SGD at a high rate, data init"),
            "acf1_d_sgd": Metric(w.acf_d[1],
                                 "lag-1 ACF of d_st, SGD at a low rate, persistent init"),
        }
        for key, st, run in (("corr_d_r", a, "Adam run"), ("corr_d_r_sgd_fast", f, "fast SGD"),
                             ("corr_d_r_sgd", w, "slow SGD")):
            out[key] = Metric(st.corr_d_r,
                              f"Pearson correlation of d_st and r_st after burn-in ({run})")
        out["d_mean_adam"] = Metric(a.d_mean, "mean d_st after burn-in (Adam run)")
        out["d_sd_adam"] = Metric(a.d_sd, "sd of d_st after burn-in (Adam run)")
        Ls, r = self.config.grid_langevin, self.r_final
        noise_rL = [r[("gaussian", "low", L)] * L for L in Ls]
        out["noise_low_rL_ratio"] = Metric(max(noise_rL) / min(noise_rL),
                                           "max/min of r_st*L over L, noise init, low eps")
        collapse = max(r[(i, "low", L)] / self.r_first[(i, "low", L)]
                       for i in ("data", "persistent") for L in Ls)
        out["informative_low_r_collapse"] = Metric(
            collapse, "largest end/start r_st ratio, data & persistent init, low eps")
        tuned = [r[(i, "tuned", L)] for i in FIG25_INITS for L in Ls]
        out["tuned_r_spread"] = Metric(max(tuned) / min(tuned),
                                       "max/min of final r_st over inits and L, tuned eps")
        return out


def oscillation_stats(log: TrainLog, window: int, max_lag: int, burn_in: float) -> OscillationStats:
    n = len(log.d_st)
    tail = slice(max(int(burn_in * n), n - window), n)
    d, r = log.d_st[tail], log.r_st[tail]
    lags, xc = cross_correlation(d, r, max_lag, center_x=False, center_y=True)
    after = slice(int(burn_in * n), n)
    return OscillationStats(
        acf_d=autocorrelation(d, max_lag, center=False), acf_r=autocorrelation(r, max_lag),
        lags=lags, xcorr=xc, corr_d_r=pearson(log.d_st[after], log.r_st[after]),
        d_mean=float(np.mean(log.d_st[after])), d_sd=float(np.std(log.d_st[after])))


def final_r(log: TrainLog, frac: float = 0.1) -> float:
    """Mean r_st over the last ``frac`` of training."""
    k = max(1, int(frac * len(log.r_st)))
    return float(np.mean(log.r_st[-k:]))


def run(config: Config, progress: bool = True) -> Result:
    q = toy_density(config.density)
    logs, osc = {}, {}
    for kind in OSCILLATION_RUNS:
        with seeded(config.seed):
            net = MLPPotential()
        logs[kind] = train(net, q, config.oscillation_config(kind), progress=progress,
                           device=config.device).log
        osc[kind] = oscillation_stats(logs[kind], config.acf_window, config.max_lag,
                                      config.burn_in)
    r_final, r_first, grid_logs = {}, {}, {}
    eps_levels = {"low": config.grid_eps_low, "tuned": config.grid_eps_tuned}
    for level, L in itertools.product(eps_levels, config.grid_langevin):
        # the three initialisations share every other setting: one stacked program trains them
        nets = []
        for _ in FIG25_INITS:
            with seeded(config.seed):
                nets.append(MLPPotential())
        runs = train_stacked(nets, [q] * len(FIG25_INITS),
                             [config.grid_config(i, eps_levels[level], L) for i in FIG25_INITS],
                             progress=progress, device=config.device,
                             desc=f"train eps {level}, L {L}")
        for init, res in zip(FIG25_INITS, runs):
            grid_logs[(init, level, L)] = res.log
            r_final[(init, level, L)] = final_r(res.log)
            r_first[(init, level, L)] = float(res.log.r_st[0])
    return Result(config=config, logs=logs, oscillation=osc, r_final=r_final,
                  r_first=r_first, grid_logs=grid_logs)


# ----------------------------------------------------------------------------- Fig 3.3, thesis regime

REGIME_MODEL = "fmnist_nonconvergent28"


@dataclass
class RegimeOscillation:
    """Fig 3.3 in the thesis's regime: the d_st record of the 28x28 noise-initialised run (uniform
    noise, L = 100, eps_data = 3 eps, Adam), finished or still in training."""
    name: str
    status: str                 # "finished" or "partial, N of M updates"
    steps_done: int
    burn_in: int
    d_st: np.ndarray            # the record, first steps_done updates
    acf: np.ndarray             # centred ACF of d_st after burn-in, lags 0..max_lag
    acf_uncentred: np.ndarray
    halves: list                # [(mean, sd), (mean, sd)] of d_st over the window's halves
    command: str
    period: dict | None = None  # acf_period of the centred ACF to a longer lag (period_lag)
    period_lag: int = 0

    def metrics(self) -> dict[str, Metric]:
        out = {"acf_lag1_thesis_regime": Metric(
                   self.acf[1], f"centred lag-1 ACF of d_st after update {self.burn_in}, "
                   f"{self.name} ({self.status})"),
               "thesis_regime_updates": Metric(self.steps_done,
                                               f"updates of {self.name} in its d_st record")}
        for k in range(2, len(self.acf)):
            out[f"acf_lag{k}_thesis_regime"] = Metric(
                self.acf[k], f"centred lag-{k} ACF of d_st after burn-in, {self.name}")
        for i, (m, s) in enumerate(self.halves, 1):
            out[f"thesis_regime_half{i}_mean"] = Metric(m, f"mean d_st, half {i} of the window")
            out[f"thesis_regime_half{i}_sd"] = Metric(s, f"sd of d_st, half {i} of the window")
        if self.period is not None:
            first = self.period["first_negative_lag"]
            out["thesis_regime_acf_first_negative_lag"] = Metric(
                float("nan") if first is None else first, "first lag at which the centred ACF "
                f"of d_st is negative (up to lag {self.period_lag}; about a quarter period)")
            out["thesis_regime_acf_min_lag"] = Metric(
                self.period["min_lag"], "lag of the centred ACF's minimum (about half a period)")
            out["thesis_regime_acf_min"] = Metric(self.period["min"], "that minimum")
        return out


def thesis_regime_oscillation(name: str = REGIME_MODEL, burn_in: int = 1000,
                              max_lag: int = 5, period_lag: int = 100) -> RegimeOscillation:
    """The committed record of ``name`` (:func:`ebmbook.artifacts.training_record`) summarised by
    :func:`ebmbook.diagnostics.stats.oscillation_window` after ``burn_in`` updates, and the
    centred ACF out to ``period_lag`` read for a period (:func:`~ebmbook.diagnostics.stats.acf_period`;
    None where the window is too short for it)."""
    from ..artifacts import training_record
    from ..diagnostics.stats import acf_period, oscillation_window
    rec = training_record(name)
    d = np.asarray(rec.log.d_st, dtype=float)[: rec.steps_done]
    w = oscillation_window(d, burn_in, max_lag)
    period = None
    if w["n"] >= 4 * period_lag:
        period = acf_period(oscillation_window(d, burn_in, period_lag)["acf"])
    return RegimeOscillation(name=name, status=rec.status, steps_done=rec.steps_done,
                             burn_in=burn_in, d_st=d, acf=w["acf"],
                             acf_uncentred=w["acf_uncentred"], halves=w["halves"],
                             command=rec.command, period=period, period_lag=period_lag)
