"""How U is mapped (thesis Chapters 4-5): the map of any energy (:func:`map_energy`, an
:class:`EnergyMap`, with the label-free tuning of T and alpha beside it), local mode search,
Attraction-Diffusion (eq. 4.6), ADELM (Algorithm 3), Generalized Wang-Landau (eq. 4.4), barrier
estimates, saddles refined from paths and verified by their Hessian index, disconnectivity
graphs (Algorithm 2), tuning helpers, and an exact flooding oracle for small landscapes.

Independent trials (AD batches, tuning sweeps, barrier matrices) run as tasks on a
``concurrent.futures.Executor`` chosen with :func:`ebmbook.parallel.get_executor`."""

from .ad import (ADResult, attraction_diffusion, attraction_diffusion_spins, local_modes,
                 local_modes_spins)
from .adelm import (ADELMResult, ContinuousBackend, SpinBackend, ad_batches, adelm,
                    connected_groups, pairwise_ad)
from .barriers import ad_barrier_matrix, greedy_barrier, linear_barrier
from .dgraph import DisconnectivityGraph, disconnectivity_graph, merge_consistency
from .exact import ExactLandscape, enumerate_sk, grid_landscape
from .gwl import GWLMap, GWLResult, gwl, gwl_map, minimax_on_edges
from .mapping import (AlphaTuning, BarrierComparison, ChainProposals, EnergyMap,
                      GaussianProposals, MapSettings, TemperatureTuning, basin_of,
                      compare_barriers, map_energy, tune_alpha, tune_and_map, tune_temperature)
from .neb import NEBResult, nudged_elastic_band, path_energy_profile
from .saddles import (RefinedPath, SaddleCheck, check_saddle, hessian_vector_product,
                      lowest_hessian_eigenvalues, merge_pairs, polish_saddle, refine_barriers,
                      refine_path, resample_path)
from .tuning import (Boundary, basins_vs_alpha, energy_drift, metastable_boundary,
                     typical_barrier)

__all__ = [
    "map_energy", "EnergyMap", "MapSettings", "tune_and_map", "tune_temperature", "tune_alpha",
    "TemperatureTuning", "AlphaTuning", "basin_of", "compare_barriers", "BarrierComparison",
    "GaussianProposals", "ChainProposals",
    "ADResult", "attraction_diffusion", "attraction_diffusion_spins", "local_modes",
    "local_modes_spins", "ADELMResult", "ContinuousBackend", "SpinBackend", "adelm",
    "pairwise_ad", "ad_batches", "connected_groups", "ad_barrier_matrix", "greedy_barrier",
    "linear_barrier",
    "DisconnectivityGraph", "disconnectivity_graph", "merge_consistency", "ExactLandscape",
    "enumerate_sk", "grid_landscape", "GWLMap", "GWLResult", "gwl", "gwl_map",
    "minimax_on_edges", "basins_vs_alpha", "energy_drift", "metastable_boundary", "Boundary",
    "typical_barrier",
    "NEBResult", "nudged_elastic_band", "path_energy_profile",
    "RefinedPath", "SaddleCheck", "check_saddle", "hessian_vector_product",
    "lowest_hessian_eigenvalues", "merge_pairs", "polish_saddle", "refine_barriers",
    "refine_path", "resample_path",
]
