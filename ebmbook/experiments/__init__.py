"""One module per figure family. Each has a frozen config with ``ci`` and ``paper`` sizes and a
``run(config) -> Result``, called both by the notebooks and by ``ebmbook run``."""

from ._base import EXPERIMENTS, ExperimentConfig, get_experiment

__all__ = ["EXPERIMENTS", "ExperimentConfig", "get_experiment"]
