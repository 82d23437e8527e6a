"""One module per figure family. Each has a frozen config with ``ci`` and ``paper`` sizes and a
``run(config) -> Result``, called both by the notebooks and by ``ebmbook run``."""

from ._base import EXPERIMENTS, ExperimentConfig, get_experiment
from ._common import CommittedMap, book_maps, load_committed_map, read_map_manifest

__all__ = ["EXPERIMENTS", "ExperimentConfig", "get_experiment", "book_maps", "read_map_manifest",
           "CommittedMap", "load_committed_map"]
