"""Fig 3.2, 3.5, 3.6: convergent vs non-convergent DeepFRAME learning on FashionMNIST (Sec 3.2).

Two trained potentials, named in :mod:`ebmbook.registry` and kept as artifacts
(:mod:`ebmbook.artifacts`), each sampled through its :class:`ebmbook.sampling.model.EnergyModel`.
By default they are the thesis-regime models of issue 23, at FashionMNIST's own 28x28 size,
width 32:

* ``nonconvergent`` (default ``fmnist_nonconvergent28``) - Adam, uniform-noise initialised
  short-run Langevin (eps = 0.01, tau = 1, L = 100, eps_data = 3 eps; Sec 3.3). Its short-run
  samples look like data, its long-run samples fall to far lower energy (oversaturation, Fig 3.2
  left, Fig 3.5).
* ``convergent`` (default ``fmnist_convergent28``) - the hybrid optimiser of Sec 3.4.2 (Adam,
  then SGD with the rescaled rate of eq. 3.4), persistent bank, tau = 1. Long-run chains should
  stay in the data's energy spectrum (Fig 3.2 right, Fig 3.6).

The earlier 16x16, width-16 pair (``fmnist_nonconvergent``, ``fmnist_convergent``) is still
registered and can be chosen by name. Model sizes (:func:`ebmbook.registry.model_spec`): ``ci``
(8x8, seconds; tests exercise the whole path with it), ``cpu`` (the committed artifacts, trained
for hours on one CPU core; a run still in training is evaluated from its committed checkpoint
and its status says so: :func:`ebmbook.artifacts.book_model`) and ``paper`` (100k updates; for a
GPU: ``--device cuda``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .._config import neutral_field, require_choice, require_int
from ..artifacts import Artifact, book_model
from ..energies.precision import PRECISIONS
from ..registry import DEEPFRAME_MODELS, MODEL_SIZES, model_spec
from ..results import Metric
from ..sampling.init import random_index
from ._base import ExperimentConfig

# ----------------------------------------------------------------------------- experiment


@dataclass(frozen=True)
class Config(ExperimentConfig):
    nonconvergent: str = "fmnist_nonconvergent28"   # DeepFRAME recipes of ebmbook.registry
    convergent: str = "fmnist_convergent28"
    model_size: str = "cpu"        # which trained artifacts: ci | cpu | paper
    n_short: int = 64              # short-run samples per model
    longrun_chains: int = 8        # chains per long run (kept small: 10^4 steps each)
    longrun_steps: int = 10_000
    n_strip: int = 8               # images in a sampling-path strip
    n_data: int = 1000             # test images for the data energy spectrum
    mh_steps: int = 1000           # MH-adjusted long run of the convergent model (0: skip)
    mh_chains: int = 4
    # arithmetic of U in every chain: fp32 by measurement (benchmarks/precision.py: bf16 gives
    # the same verdicts, but the long runs record their energy path, which is kept exact by one
    # more fp32 forward pass per step; at 16 chains that makes bf16 1.2x slower than fp32)
    precision: str = neutral_field("fp32")

    SIZES: ClassVar = {
        "ci": {},
        "paper": {"model_size": "paper", "n_short": 100, "longrun_chains": 64,
                  "longrun_steps": 100_000, "mh_steps": 20_000},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self, "model_size", MODEL_SIZES)
        require_choice(self, "precision", PRECISIONS)
        require_choice(self, "nonconvergent", sorted(DEEPFRAME_MODELS))
        require_choice(self, "convergent", sorted(DEEPFRAME_MODELS))
        require_int(self, "n_short", "longrun_chains", "longrun_steps", "n_strip", "n_data",
                    "mh_chains")
        require_int(self, "mh_steps", minimum=0)
        if self.n_strip > self.longrun_steps + 1:
            raise ValueError(f"config field 'n_strip' = {self.n_strip} is invalid: it must be at "
                             f"most longrun_steps + 1 = {self.longrun_steps + 1}")


@dataclass
class ModelRun:
    """Samples and energies of one trained model."""

    name: str
    artifact: Artifact
    data_energy: np.ndarray          # U on test images
    short_run: torch.Tensor          # (n_short, 1, s, s)
    short_energy: np.ndarray
    longrun_start: str               # "noise" or "data"
    longrun_energy: np.ndarray       # (steps + 1, chains) energy along the long-run paths
    longrun: torch.Tensor            # (chains, 1, s, s) final long-run states
    strip_steps: np.ndarray          # steps at which the strip images were kept
    strip: torch.Tensor              # (n_strip, 1, s, s): chain 0 along its path
    mh_energy: np.ndarray | None = None     # final energies of the MH-adjusted chains
    mh_accept: float = float("nan")
    status: str = "finished"         # or "partial, k of M updates" (a run still in training)

    @property
    def data_mean(self) -> float:
        return float(self.data_energy.mean())

    @property
    def data_sd(self) -> float:
        return float(self.data_energy.std(ddof=1))

    @property
    def longrun_mean(self) -> float:
        """Mean energy of the long-run chains over the last 10% of their path."""
        k = max(1, self.longrun_energy.shape[0] // 10)
        return float(self.longrun_energy[-k:].mean())

    @property
    def longrun_z(self) -> float:
        return (self.longrun_mean - self.data_mean) / self.data_sd


@dataclass
class Result:
    config: Config
    data: torch.Tensor               # a few test images, for display
    models: dict[str, ModelRun]      # by role: "nonconvergent", "convergent"

    def metrics(self) -> dict[str, Metric]:
        """The energy spectra of Fig 3.2 / 3.5 / 3.6 and the runs behind them, with their
        descriptions. ``mh_accept_convergent`` only when the MH-adjusted run was made."""
        c, n = self.models["convergent"], self.models["nonconvergent"]
        out = {}
        # the convergent model's data energies are the unsuffixed data_energy_mean / _sd
        for run, label, data_tag, tag in ((c, "convergent", "", "_convergent"),
                                          (n, "non-convergent", "_nonconvergent",
                                           "_nonconvergent")):
            out[f"data_energy_mean{data_tag}"] = Metric(
                run.data_mean, f"mean U of {len(run.data_energy)} test images ({label} model)")
            out[f"data_energy_sd{data_tag}"] = Metric(run.data_sd,
                                                      f"sd of U on test images ({label} model)")
            out[f"longrun_energy{tag}"] = Metric(
                run.longrun_mean, f"mean U, last 10% of the long runs ({label})")
            out[f"longrun_z{tag}"] = Metric(run.longrun_z,
                                            f"(long-run - data mean) / data sd, {label}")
            out[f"shortrun_energy{tag}"] = Metric(run.short_energy.mean(),
                                                  f"mean U of short-run samples ({label})")
        out["longrun_steps"] = Metric(self.config.longrun_steps,
                                      "Langevin steps per long-run chain")
        out["image_size"] = Metric(c.artifact.spec.image_size,
                                   "side of the training images (pixels)")
        out["train_steps_convergent"] = Metric(c.artifact.manifest["steps_done"],
                                               "updates of the convergent artifact")
        out["train_steps_nonconvergent"] = Metric(n.artifact.manifest["steps_done"],
                                                  "updates of the non-convergent artifact")
        if np.isfinite(c.mh_accept):
            out["mh_accept_convergent"] = Metric(c.mh_accept, "MALA acceptance rate (convergent)")
        return out


def load_models(config: Config, progress: bool = True) -> dict[str, tuple[Artifact, str]]:
    """The two models by role, each with its status (:func:`ebmbook.artifacts.book_model`: at
    the committed size the committed model or its run in training, otherwise trained now if not
    cached)."""
    return {role: book_model(getattr(config, role), config.model_size, config.device, progress)
            for role in ("nonconvergent", "convergent")}


def run_model(art: Artifact, config: Config, data: torch.Tensor, generator: torch.Generator,
              progress: bool = True, status: str = "finished") -> ModelRun:
    """Short-run samples, a long run (from noise for a noise-initialised model, Fig 3.5; from
    data otherwise, Fig 3.6) with its energy path and image strip, and the optional MH run."""
    dev = config.device
    model = art.model.with_precision(config.precision)   # energies below are measured in fp32
    sr = model.short_run(config.n_short, generator)
    c = config.longrun_chains
    if art.spec.train.init in ("uniform", "gaussian"):
        start, y0 = "noise", model.init(c, generator)
    else:
        idx = random_index(len(data), c, generator, "cpu", replacement=False)
        start, y0 = "data", data[idx].to(dev)
    # strip steps: 0, then log-spaced up to the end (the early steps change the image most)
    steps = np.unique(np.r_[0, np.geomspace(10, config.longrun_steps, config.n_strip - 1)
                            .astype(int)])
    lr = model.long_run(y0, config.longrun_steps, generator=generator, record_energy=True,
                        record_at=tuple(int(s) for s in steps), progress=progress)
    run = ModelRun(name=art.name, artifact=art,
                   data_energy=model.energies(data.to(dev)).numpy(),
                   short_run=sr.x.cpu(), short_energy=model.energies(sr.x).numpy(),
                   longrun_start=start, longrun_energy=lr.energy.double().cpu().numpy(),
                   longrun=lr.x.cpu(), strip_steps=steps, strip=lr.path[:, 0].cpu(),
                   status=status)
    if config.mh_steps and art.spec.train.init == "persistent":
        mh = model.long_run(lr.x[: config.mh_chains], config.mh_steps, mh=True,
                            generator=generator, progress=progress)
        run.mh_energy = model.energies(mh.x).numpy()
        run.mh_accept = mh.accept_rate
    return run


def run(config: Config, progress: bool = True) -> Result:
    arts = load_models(config, progress)
    shapes = {role: a.spec.shape for role, (a, _) in arts.items()}
    if shapes["convergent"] != shapes["nonconvergent"]:
        raise ValueError(f"the two models see images of different shapes {shapes}: choose a "
                         "convergent and a non-convergent model of the same image size")
    data = arts["convergent"][0].spec.load_data("test")[: config.n_data]
    gen = torch.Generator(device=config.device).manual_seed(config.seed)
    models = {role: run_model(a, config, data, gen, progress, status)
              for role, (a, status) in arts.items()}
    return Result(config=config, data=data[:64], models=models)


def train_ci_model(name: str = "fmnist_convergent", directory=None, device: str = "cpu",
                   progress: bool = True) -> Artifact:
    """Run the ``ebmbook train <name> --size ci`` path end to end (train with checkpoints, save
    the artifact with its manifest, reload it by hash) in ``directory`` (default:
    ``_build/artifacts/<name>-ci-demo``, replaced by each call; a temporary folder per call was
    never removed). Seconds on one CPU core; lets a notebook exercise the training path."""
    from ..artifacts import train_artifact
    from ..registry import cache_root, rebuild_command
    spec = model_spec(name, "ci")
    d = directory or cache_root() / f"{name}-ci-demo"
    return train_artifact(name, spec, d, device=device, progress=progress, resume=False,
                          checkpoint_dir=f"{d}/checkpoint", command=rebuild_command(name, "ci"))
