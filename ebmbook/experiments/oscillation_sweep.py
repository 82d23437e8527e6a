"""Strong oscillation, investigated (Fig 3.3, Sec 3.2.2; issue 11 part 2).

Sec 3.2.2: strong oscillation of d_st (a clearly negative lag-1 autocorrelation, uncentred)
tends to come with non-convergent learning. Measured on the book's models so far: +0.15 for
Adam on the 2D density, +0.31 for the 16x16 Adam image model. This module sweeps what the thesis
varies in non-convergent learning, one setting at a time around a base run, on a FashionMNIST
DeepFRAME model small enough for a CPU (8x8 images, width 8, noise-initialised short-run
Langevin): the Adam rate, noise vs persistent initialisation, the chain length L and the data
noise. Each run trains ``n_steps`` updates and reports the lag-1 ACF of d_st (uncentred, as in
Fig 3.3) and of r_st (centred) over its last ``acf_steps`` steps.

Sizes: ``ci`` is that 8x8 model; ``cpu`` repeats the sweep at the size of the book's committed
16x16 image models (width 16, all 60 000 training images), and adds the committed Adam model's
own chain length, L = 100; ``paper`` is the thesis's 28x28 (for a GPU).

The sweeps take a quarter of an hour (``ci``) and about an hour (``cpu``) on one CPU thread,
beyond a notebook's budget, so each is kept as an artifact: ``artifacts/oscillation_sweep/`` and
``artifacts/oscillation_sweep-cpu/`` hold ``sweep.json`` with every run's numbers, the config
that produced them (and its hash), the git commit, the machine and the wall time. ``run`` loads
it when the config's hash matches and computes (and saves) the sweep otherwise, resuming after
the last finished run if it was interrupted; ``ebmbook run oscillation_sweep --size cpu``
rebuilds the committed file when it is missing.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._config import require_int
from .._timing import Stopwatch
from ..diagnostics.stats import autocorrelation
from ..learning.fit import read_checkpoint
from ..learning.trainer import TrainingDivergedError, train
from ..models import ImageModelSpec
from ..registry import model_spec
from ..results import Metric
from . import _tables
from ._base import ExperimentConfig
from ._common import progress_bar

NAME = "oscillation_sweep"
FILE = "sweep.json"
#: how many updates before a divergence are kept (the run-up to it)
PRE_STEPS = 250

#: one setting per run: its name and the TrainConfig fields it changes from the base run
SETTINGS: tuple = (
    ("base (Adam 1e-4, noise init, L = 20)", {}),
    ("Adam 3e-4", {"adam_lr": 3e-4}),
    ("Adam 1e-3", {"adam_lr": 1e-3}),
    ("persistent init", {"init": "persistent", "bank_size": 1000}),
    ("L = 10", {"n_langevin": 10}),
    ("L = 50", {"n_langevin": 50}),
    ("data noise 0.03", {"eps_data": 0.03}),
)
#: the ``cpu`` sweep adds the chain length of the committed 16x16 Adam model
SETTINGS_CPU: tuple = SETTINGS + (("L = 100 (the committed model's)", {"n_langevin": 100}),)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    n_steps: int = 2500
    acf_steps: int = 2000
    n_per_class: int = 500
    image_size: int = 8
    width: int = 8
    settings: tuple = SETTINGS
    progress: bool = True

    SIZES: ClassVar = {
        "ci": {},
        "cpu": {"n_per_class": 6000, "image_size": 16, "width": 16, "settings": SETTINGS_CPU},
        "paper": {"n_steps": 20_000, "acf_steps": 10_000, "n_per_class": 6000,
                  "image_size": 28, "width": 32},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require_int(self, "n_steps", "acf_steps", "n_per_class", "image_size", "width")
        if self.acf_steps > self.n_steps:
            raise ValueError(f"config field 'acf_steps' = {self.acf_steps} is invalid: it must "
                             f"be at most n_steps = {self.n_steps}")
        if not self.settings:
            raise ValueError("config field 'settings' must name at least one run")

    def spec(self, overrides: dict) -> ImageModelSpec:
        """The model of one run: the non-convergent recipe (Adam, noise init) at this size."""
        base = model_spec("fmnist_nonconvergent", "ci")
        t = dataclasses.replace(base.train, **{
            **dict(n_steps=self.n_steps, adam_lr=1e-4, n_langevin=20,
                   checkpoint_every=max(self.n_steps, 1), seed=self.seed,
                   divergence_threshold=1e12), **overrides})
        return dataclasses.replace(base, image_size=self.image_size, width=self.width,
                                   n_per_class=self.n_per_class, train=t)

    def key(self) -> str:
        """Hash of everything that determines the sweep's numbers."""
        return _tables.config_key(self)


@dataclass
class Run:
    setting: str
    acf1_d: float          # lag-1 ACF of d_st, uncentred, over the last acf_steps steps
    acf1_r: float          # lag-1 ACF of r_st, centred
    diverged_at: int | None
    d_st: list             # the last acf_steps values (for Fig 3.3 panels)
    r_st: list
    # a diverged run: the lag-1 ACF (uncentred) of d_st over its last PRE_STEPS good updates,
    # and those values (None for a run that did not diverge, or a table from before they were
    # kept)
    acf1_d_pre: float | None = None
    d_st_pre: list | None = None


@dataclass
class Result:
    config: Config
    runs: list
    manifest: dict

    def best(self) -> Run:
        """The run with the most negative lag-1 ACF of d_st."""
        return min(self.runs, key=lambda r: r.acf1_d if np.isfinite(r.acf1_d) else np.inf)

    def metrics(self, suffix: str = "") -> dict[str, Metric]:
        """The sweep's numbers; ``suffix`` (e.g. ``"_16x16"``) tells two sizes apart on a page."""
        b = self.best()
        px = f"{self.config.image_size}x{self.config.image_size}"
        out = {f"acf1_d_adam_best{suffix}": Metric(
            b.acf1_d, f"most negative lag-1 ACF of d_st in the {px} sweep ({b.setting})")}
        for i, r in enumerate(self.runs):
            out[f"acf1_d_sweep_{i}{suffix}"] = Metric(r.acf1_d, f"lag-1 ACF of d_st "
                                                      f"(uncentred), {px}, {r.setting}")
        return out


def one_run(spec: ImageModelSpec, acf_steps: int, setting: str, progress: bool) -> Run:
    data = spec.load_data("train")
    pre = None
    with tempfile.TemporaryDirectory() as d:
        diverged = None
        try:
            log = train(spec.build_net(), data, spec.train, checkpoint_dir=d,
                        progress=progress).log
        except TrainingDivergedError as err:
            log, diverged = None, err.step      # a diverged run has no steady ACF to report
            if err.checkpoint is not None:      # but its run-up to the divergence is kept
                good = np.asarray(read_checkpoint(err.checkpoint)["log"]["d_st"],
                                  dtype=float)[:err.step]
                pre = good[-PRE_STEPS:]
    dd = np.asarray(log.d_st if log is not None else [], dtype=float)[-acf_steps:]
    rr = np.asarray(log.r_st if log is not None else [], dtype=float)[-acf_steps:]
    ok = len(dd) > 2 and np.isfinite(dd).all() and np.isfinite(rr).all()
    pre_ok = pre is not None and len(pre) > 2 and np.isfinite(pre).all()
    return Run(setting=setting,
               acf1_d=float(autocorrelation(dd, 1, center=False)[1]) if ok else float("nan"),
               acf1_r=float(autocorrelation(rr, 1, center=True)[1]) if ok else float("nan"),
               diverged_at=diverged, d_st=dd.tolist(), r_st=rr.tolist(),
               acf1_d_pre=float(autocorrelation(pre, 1, center=False)[1]) if pre_ok else None,
               d_st_pre=pre.tolist() if pre is not None else None)


def directory(config: Config) -> Path:
    """``artifacts/oscillation_sweep[-<size>]`` for a size's default config (committed), else
    the cache."""
    return _tables.directory(NAME, config)


def load(config: Config) -> Result | None:
    """The saved sweep of this config, or None (absent, another config, or unreadable)."""
    d = _tables.load(NAME, config, FILE)
    if d is None:
        return None
    return Result(config=config, runs=[Run(**r) for r in d["runs"]], manifest=d["manifest"])


def run(config: Config) -> Result:
    found = load(config)
    if found is not None:
        return found
    done, before = _tables.load_partial(NAME, config, FILE)
    clock, commit = Stopwatch(already=before), _tables.code_version()
    runs = [Run(**r) for r in done]
    for name, overrides in progress_bar(config.progress, config.settings[len(runs):],
                                        desc="sweep"):
        runs.append(one_run(config.spec(dict(overrides)), config.acf_steps, name, False))
        _tables.save_partial(NAME, config, [dataclasses.asdict(r) for r in runs],
                             clock.seconds, FILE)
    manifest = _tables.save(NAME, config, {"runs": [dataclasses.asdict(r) for r in runs]},
                            clock.seconds, FILE, commit=commit)
    return Result(config=config, runs=runs, manifest=manifest)
