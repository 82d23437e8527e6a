"""Issue 23's yardstick for a convergent model: realistic long runs, oversaturated minima.

Secs 3.2.3, 3.4.1 and 5.2.3.1 rest on two properties of a convergent DeepFRAME model, measured
here on one model with the same data and the same starting images:

* **long runs stay in the data's energy spread.** Chains from test images run for
  ``longrun_steps`` of the model's own sampler at gamma = 1 (noise tau * gamma, eq. 3.6); their
  final energies, as z-scores against the test images' energies, should satisfy |z| <= 2;
* **its minima lie far below and are oversaturated.** From the same images, gamma = 0 (the
  noiseless descent ``X <- X - eps^2/2 grad U``) runs for ``descent_steps``; its energies should
  fall far below the data (z < -3) and its share of saturated pixels (|x| > 0.95) should exceed
  the data's by at least 0.2.

Every energy is measured in fp32, whatever precision the chains ran in. ``checkpoint`` evaluates
an unfinished run from its latest checkpoint (the model of its first k updates, saved as the
artifact of ``spec.with_steps(k)`` under ``_build/artifacts``), so a long training can be
followed while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .._config import require_choice, require_int
from .._timing import timed
from ..artifacts import Artifact, artifact_from_checkpoint, load_or_train
from .. import registry
from ..registry import MODEL_SIZES, MODELS, model_spec
from ..results import Metric
from ..sampling.init import random_index
from ._base import ExperimentConfig

SATURATED = 0.95    # a pixel beyond +-0.95 (of the [-1, 1] range) counts as saturated


@dataclass(frozen=True)
class Config(ExperimentConfig):
    model: str = "fmnist_convergent28"
    model_size: str = "ci"
    n_chains: int = 16
    longrun_steps: int = 20_000
    descent_steps: int = 2000
    n_data: int = 1000
    checkpoint: str = ""      # a checkpoint folder of an unfinished run of the model ("": none)

    SIZES: ClassVar = {
        "ci": {"longrun_steps": 200, "descent_steps": 100, "n_chains": 8, "n_data": 200},
        "cpu": {"model_size": "cpu"},
        "paper": {"model_size": "paper", "n_chains": 64, "longrun_steps": 100_000},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self, "model", tuple(MODELS))
        require_choice(self, "model_size", MODEL_SIZES)
        require_int(self, "n_chains", "longrun_steps", "descent_steps", "n_data")


@dataclass
class Result:
    config: Config
    artifact: Artifact
    data: torch.Tensor              # the starting test images (n_chains, 1, s, s)
    data_energy: np.ndarray         # U of n_data test images
    longrun: torch.Tensor           # final gamma = 1 states
    longrun_energy: np.ndarray
    descent: torch.Tensor           # final gamma = 0 states
    descent_energy: np.ndarray
    seconds: dict

    def _z(self, u: np.ndarray) -> float:
        d = self.data_energy
        return float((np.mean(u) - d.mean()) / d.std())

    @staticmethod
    def saturation(x: torch.Tensor) -> float:
        """The share of pixels beyond +-0.95."""
        return float((x.abs() > SATURATED).float().mean())

    def metrics(self) -> dict[str, Metric]:
        spec = self.artifact.spec
        return {
            "conv_model_image_size": Metric(spec.image_size, "side of the model's images"),
            "conv_train_updates": Metric(int(self.artifact.manifest["steps_done"]),
                                         "updates of the evaluated model"),
            "conv_longrun_steps": Metric(self.config.longrun_steps,
                                         "gamma = 1 steps per long-run chain"),
            "conv_longrun_z": Metric(self._z(self.longrun_energy),
                                     "mean long-run energy (gamma = 1), as a data z-score"),
            "conv_descent_z": Metric(self._z(self.descent_energy),
                                     "mean energy after gamma = 0 descent, as a data z-score"),
            "conv_descent_saturation_excess": Metric(
                self.saturation(self.descent) - self.saturation(self.data),
                "saturated-pixel share after descent minus the data's"),
            "conv_longrun_saturation_excess": Metric(
                self.saturation(self.longrun) - self.saturation(self.data),
                "saturated-pixel share after the long run minus the data's"),
        }


def load_model(config: Config, progress: bool = True) -> Artifact:
    """The model to evaluate: the finished artifact at ``config.model_size``, or the state of an
    unfinished run in ``config.checkpoint``."""
    from ..artifacts import artifacts_root, load_artifact
    from ..store import read_partial
    spec = model_spec(config.model, config.model_size)
    if not config.checkpoint:
        folder = artifacts_root() / config.model
        partial = read_partial(folder) if config.model_size == registry.COMMITTED_SIZE else None
        if partial is not None and load_artifact(folder, spec, config.device,
                                                 config.model) is None:
            raise ValueError(
                f"{config.model} is still in training ({partial['status']}): evaluate its "
                f"checkpoint with --checkpoint {partial['checkpoint'].rsplit('/', 1)[0]}, or "
                f"resume it with `{partial['resume_command']}`")
        return load_or_train(config.model, spec, device=config.device, progress=progress)
    out = registry.cache_root() / f"{config.model}-{config.model_size}-from-checkpoint"
    return artifact_from_checkpoint(config.model, spec, out, size=config.model_size,
                                    checkpoint_dir=config.checkpoint, device=config.device)


def run(config: Config, progress: bool = True) -> Result:
    art = load_model(config, progress)
    model = art.model
    data = art.spec.load_data("test")[: config.n_data].to(config.device)
    gen = torch.Generator(device=config.device).manual_seed(config.seed)
    x0 = data[random_index(len(data), config.n_chains, gen, config.device, replacement=False)]
    seconds: dict[str, float] = {}
    with timed(seconds, "longrun"):
        long = model.long_run(x0, config.longrun_steps, gamma=1.0, generator=gen,
                              progress=progress)
    with timed(seconds, "descent"):
        down = model.long_run(x0, config.descent_steps, gamma=0.0, generator=gen,
                              progress=progress)
    return Result(config=config, artifact=art, data=x0.cpu(),
                  data_energy=model.energies(data).numpy(),
                  longrun=long.x.cpu(), longrun_energy=model.energies(long.x).numpy(),
                  descent=down.x.cpu(), descent_energy=model.energies(down.x).numpy(),
                  seconds=seconds)
