"""The shape shared by every experiment: a sized, validated, frozen config."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

from .._config import require_choice, require_int

SIZE_NAMES = ("ci", "paper")


@dataclass(frozen=True)
class ExperimentConfig:
    """Base class. Subclasses add fields and a ``SIZES`` table of per-size overrides.

    ``Config.for_size("ci")`` gives the size that runs on two CPU cores inside CI;
    ``Config.for_size("paper")`` gives the thesis's settings (meant for a GPU). Both are the
    same code path with different numbers.
    """

    size: str = "ci"
    seed: int = 0
    device: str = "cpu"

    SIZES: ClassVar[dict[str, dict[str, Any]]] = {"ci": {}, "paper": {}}

    def __post_init__(self) -> None:
        require_choice(self, "size", tuple(self.SIZES))
        require_int(self, "seed", minimum=0)
        if not (self.device == "cpu" or self.device.startswith("cuda") or self.device == "mps"):
            raise ValueError(f"config field 'device' = {self.device!r} is invalid: "
                             "it must be 'cpu', 'cuda', 'cuda:N' or 'mps'")

    @classmethod
    def for_size(cls, size: str = "ci", **overrides: Any):
        """The config at a named size, with keyword overrides applied on top."""
        if size not in cls.SIZES:
            raise ValueError(f"config field 'size' = {size!r} is invalid: it must be one of "
                             + ", ".join(repr(s) for s in cls.SIZES))
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - fields
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)} for {cls.__name__}; "
                             f"known fields: {sorted(fields)}")
        return cls(**{**cls.SIZES[size], **overrides, "size": size})


# name -> module path; each module defines ``Config`` and ``run``.
EXPERIMENTS: dict[str, str] = {
    "toy_densities": "ebmbook.experiments.toy_densities",
    "axes_diagnostics": "ebmbook.experiments.axes_diagnostics",
    "mapping_principles": "ebmbook.experiments.mapping_principles",
    "sk_spin_glass": "ebmbook.experiments.sk_spin_glass",
    "image_learning": "ebmbook.experiments.image_learning",
    "short_run_generation": "ebmbook.experiments.short_run_generation",
    "chaos_and_optimisers": "ebmbook.experiments.chaos_and_optimisers",
    "digit_maps": "ebmbook.experiments.digit_maps",
    "image_ad": "ebmbook.experiments.image_ad",
    "texture_maps": "ebmbook.experiments.texture_maps",
    "face_map": "ebmbook.experiments.face_map",
    "image_map": "ebmbook.experiments.image_map",
    "order_to_chaos": "ebmbook.experiments.order_to_chaos",
    "oscillation_sweep": "ebmbook.experiments.oscillation_sweep",
    "sk_sensitivity": "ebmbook.experiments.sk_sensitivity",
    "thesis_regime": "ebmbook.experiments.thesis_regime",
}


def get_experiment(name: str):
    """The experiment module registered under ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])
