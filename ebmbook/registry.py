"""The registry: the named image models the book uses, at each size, and where their artifacts
live.

* ``fmnist_nonconvergent`` - Adam, uniform-noise initialised short-run Langevin (eps = 0.01,
  tau = 1, L = 100; Sec 3.3): short-run samples look like data, long-run ones oversaturate.
* ``fmnist_convergent`` - the hybrid optimiser of Sec 3.4.2 (Adam, then SGD with the rescaled
  rate of eq. 3.4), persistent bank, tau = 1: long-run chains stay in the data's energy spectrum.

Sizes: ``ci`` (a few seconds; tests and notebooks exercise the training path with it), ``cpu``
(the committed artifacts in ``artifacts/<name>``: 16x16 images, width 16, trained on one CPU
thread in 38 and 9 minutes) and ``paper`` (28x28, width 32, 100k steps; for a GPU).

Only the ``cpu`` spec of a model lives in the committed folder ``artifacts/<name>``; any other
spec (another size, another number of steps) is kept in ``_build/artifacts/<name>-<spec hash>``.
"""

from __future__ import annotations

from pathlib import Path

from .learning.trainer import TrainConfig
from .models import ImageModelSpec, spec_hash
from .results import project_root

MODEL_SIZES = ("ci", "cpu", "paper")
COMMITTED_SIZE = "cpu"   # the size whose artifacts are committed in artifacts/<name>


def _nonconvergent(size: str) -> ImageModelSpec:
    if size == "ci":
        return ImageModelSpec(image_size=8, width=8, n_down=2, n_per_class=50, bank_keep=0,
                              metric_images=200, train=TrainConfig(
                                  n_steps=30, batch_size=32, eps=0.01, n_langevin=20, tau=1.0,
                                  eps_data=0.01, init="uniform", optimizer="adam", adam_lr=5e-4,
                                  checkpoint_every=10))
    if size == "cpu":
        return ImageModelSpec(image_size=16, width=16, n_down=2, bank_keep=0, train=TrainConfig(
            n_steps=1600, batch_size=64, eps=0.01, n_langevin=100, tau=1.0, eps_data=0.01,
            init="uniform", optimizer="adam", adam_lr=1e-4, checkpoint_every=100))
    return ImageModelSpec(image_size=28, width=32, n_down=3, bank_keep=0, train=TrainConfig(
        n_steps=100_000, batch_size=100, eps=0.01, n_langevin=100, tau=1.0, eps_data=0.01,
        init="uniform", optimizer="adam", adam_lr=1e-4, checkpoint_every=1000))


def _convergent(size: str) -> ImageModelSpec:
    if size == "ci":
        return ImageModelSpec(image_size=8, width=8, n_down=2, n_per_class=50, snapshot_every=10,
                              bank_keep=32, metric_images=200, train=TrainConfig(
                                  n_steps=30, batch_size=32, eps=0.01, n_langevin=10, tau=1.0,
                                  eps_data=0.01, init="persistent", bank_size=200,
                                  optimizer="hybrid", adam_lr=5e-4, sgd_lr=0.01,
                                  sgd_lr_min=0.0005, sgd_decay=0.9995, switch_step=15,
                                  checkpoint_every=10))
    if size == "cpu":
        return ImageModelSpec(image_size=16, width=16, n_down=2, snapshot_every=750, bank_keep=256,
                              train=TrainConfig(
                                  n_steps=6000, batch_size=64, eps=0.01, n_langevin=50, tau=1.0,
                                  eps_data=0.01, init="persistent", bank_size=2000,
                                  optimizer="hybrid", adam_lr=2e-4, sgd_lr=0.01,
                                  sgd_lr_min=0.0005, sgd_decay=0.9995, switch_step=3000,
                                  checkpoint_every=100))
    return ImageModelSpec(image_size=28, width=32, n_down=3, snapshot_every=12_500, bank_keep=256,
                          train=TrainConfig(
                              n_steps=100_000, batch_size=100, eps=0.01, n_langevin=100, tau=1.0,
                              eps_data=0.01, init="persistent", bank_size=0, optimizer="hybrid",
                              adam_lr=1e-4, sgd_lr=0.01, sgd_lr_min=0.0005, sgd_decay=0.99995,
                              switch_step=50_000, checkpoint_every=1000))


MODELS = {"fmnist_nonconvergent": _nonconvergent, "fmnist_convergent": _convergent}


def model_spec(name: str, size: str = "cpu", steps: int | None = None) -> ImageModelSpec:
    """The spec of a named image model at a size (``ci`` | ``cpu`` | ``paper``), optionally
    trained for ``steps`` instead (:meth:`ImageModelSpec.with_steps`)."""
    if name not in MODELS:
        raise ValueError(f"unknown image model {name!r}: choose one of "
                         + ", ".join(sorted(MODELS)))
    if size not in MODEL_SIZES:
        raise ValueError(f"model size {size!r} is invalid: it must be one of "
                         + ", ".join(MODEL_SIZES))
    spec = MODELS[name](size)
    return spec.with_steps(steps) if steps is not None else spec


def identify(name: str, spec_or_hash: ImageModelSpec | str,
             n_steps: int | None = None) -> tuple[str, int | None] | None:
    """``(size, steps)`` such that ``model_spec(name, size, steps)`` is this spec (or has this
    hash; give the spec's ``n_steps`` to recognise a ``--steps`` override from a hash alone).
    ``steps`` is ``None`` for the size's own number of steps; ``None`` if nothing matches."""
    if name not in MODELS:
        return None
    if isinstance(spec_or_hash, ImageModelSpec):
        h, n_steps = spec_hash(spec_or_hash), spec_or_hash.train.n_steps
    else:
        h = spec_or_hash
    for size in MODEL_SIZES:
        base = model_spec(name, size)
        if spec_hash(base) == h:
            return size, None
        if n_steps is not None and spec_hash(base.with_steps(n_steps)) == h:
            return size, n_steps
    return None


def rebuild_command(name: str, size: str, steps: int | None = None) -> str:
    """The ``ebmbook train`` command that rebuilds a registered model (written to manifests)."""
    cmd = f"ebmbook train {name} --size {size}"
    return cmd + (f" --steps {steps}" if steps is not None else "")


def command_for(name: str, spec: ImageModelSpec) -> str | None:
    """The ``ebmbook train`` command that trains ``spec``, if it is a registered model's."""
    found = identify(name, spec)
    return rebuild_command(name, *found) if found else None


def committed_root() -> Path:
    """Where the committed artifacts live: ``<project>/artifacts``."""
    return project_root() / "artifacts"


def cache_root() -> Path:
    """Where every other trained artifact goes: ``<project>/_build/artifacts`` (not in git)."""
    return project_root() / "_build" / "artifacts"


def default_directory(name: str, spec: ImageModelSpec) -> Path:
    """``artifacts/<name>`` for the committed (``cpu``) spec of a registered model, else
    ``_build/artifacts/<name>-<spec hash>``: a run of another size or another number of steps
    never lands on a committed artifact."""
    if name in MODELS and spec_hash(spec) == spec_hash(model_spec(name, COMMITTED_SIZE)):
        return committed_root() / name
    return cache_root() / f"{name}-{spec_hash(spec)}"
