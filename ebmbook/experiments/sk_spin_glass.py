"""Chapter 5.2.1: ADELM and GWL maps of one SK spin glass (Figs 5.1-5.5).

Normalisation (see :mod:`ebmbook.energies.spin`): energies are reported per spin (ground state
near -0.76 for large N), chains target ``exp(-(H/T + alpha * Hamming))`` with the extensive
``H = N e`` (spin-glass T_c = 1), so the thesis's T = 0.1 and alpha = 1.35 apply as written.

One run: tune T (energy drift of unmagnetised chains) and alpha (basins found in a few ADELM
iterations over a log grid), map with ADELM (Algorithm 3; proposals are random states cooled by a
short annealing run, then steepest descent; no consolidation during the run, one closing
consolidation pass is only counted) and estimate AD barriers between the
basin representatives, map the lowest modes with GWL (eq. 4.4) plus greedy-interpolation
barriers, and compare the two maps: overlap of modes, DG merge order, mirror symmetry.

``Config.executor`` chooses where the independent AD trials, the tuning sweeps and the barrier
matrix run (:mod:`ebmbook.parallel`: in-process by default, a process pool, or Dask). Seeds are
split per task from ``Config.seed``, so the numbers are the same whichever executor runs them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._config import require_int, require_positive
from ..energies.spin import SKModel
from ..landscape.adelm import ADELMResult, SpinBackend, adelm, connected_groups
from ..landscape.barriers import ad_barrier_matrix, greedy_barrier
from ..landscape.dgraph import DisconnectivityGraph, disconnectivity_graph, merge_consistency
from ..landscape.gwl import GWLMap, GWLResult, gwl, gwl_map
from ..landscape.tuning import basins_vs_alpha, energy_drift
from ..parallel import get_executor, validate_executor_spec
from ..results import Metric
from ._base import ExperimentConfig
from ._common import progress_bar


@dataclass(frozen=True)
class Config(ExperimentConfig):
    n_spins: int = 100
    temperature: float = 0.1
    alpha: float = 1.35
    improvement_limit: int = 100
    delta: int = 0
    max_sweeps: int = 5000
    adelm_iter: int = 1000
    consolidate_every: int = 0
    proposal: str = "anneal"
    anneal_t_start: float = 1.0
    anneal_t_end: float = 0.1
    anneal_sweeps: int = 100
    tune_alphas: tuple = (0.3, 0.6, 1.0, 1.35, 2.0, 3.0, 5.0)
    tune_iter: int = 50
    drift_temperatures: tuple = (0.05, 0.1, 0.3, 1.0)
    drift_modes: int = 8
    drift_sweeps: int = 200
    barrier_alpha_factors: tuple = (1.0, 1.5, 2.25, 3.4, 5.0, 10.0)
    barrier_repeats: int = 2
    gwl_iter: int = 2_000_000
    gwl_temperature: float = 0.5
    gwl_penalty: float = 0.01
    gwl_bins: int = 45
    e_min: float = -0.8
    e_max: float = -0.35
    n_lowest: int = 500
    progress: bool = True
    # where the AD trial batches, tuning sweeps and barrier matrix run (ebmbook.parallel):
    # None/"inline", "process:N", "dask", "dask:N" or "dask:tcp://host:8786"; the numbers do
    # not depend on it
    executor: str | None = None

    SIZES: ClassVar = {
        "ci": {},
        "paper": {"adelm_iter": 5000, "tune_iter": 100,
                  "tune_alphas": tuple(np.round(np.logspace(-0.7, 1.0, 12), 3).tolist()),
                  "drift_sweeps": 2000, "barrier_repeats": 5, "gwl_iter": 500_000_000,
                  "n_lowest": 500},
    }

    def __post_init__(self):
        super().__post_init__()
        require_int(self, "n_spins", minimum=4)
        require_int(self, "improvement_limit", "max_sweeps", "adelm_iter", "tune_iter",
                    "drift_modes", "drift_sweeps", "barrier_repeats", "gwl_iter", "gwl_bins",
                    "n_lowest", "anneal_sweeps")
        require_int(self, "delta", "consolidate_every", minimum=0)
        require_positive(self, "temperature", "alpha", "gwl_temperature", "anneal_t_start",
                         "anneal_t_end")
        if self.proposal not in ("uniform", "anneal"):
            raise ValueError("config field 'proposal' must be 'uniform' or 'anneal'")
        require_positive(self, "gwl_penalty", allow_zero=True)
        if self.n_spins > 128:
            raise ValueError("config field 'n_spins' must be <= 128 (GWL packs states in 128 bits)")
        if not self.e_min < self.e_max:
            raise ValueError("config field 'e_min' must be below 'e_max'")
        if not (self.executor is None or isinstance(self.executor, str)):
            raise ValueError(f"config field 'executor' = {self.executor!r} is invalid: it must "
                             "be None or a string such as 'inline', 'process:2', 'dask:2' or "
                             "'dask:tcp://host:8786'")
        try:
            validate_executor_spec(self.executor)
        except ValueError as exc:
            raise ValueError(f"config field 'executor' is invalid: {exc}") from None
        for name in ("tune_alphas", "drift_temperatures", "barrier_alpha_factors"):
            v = getattr(self, name)
            if not (len(v) >= 1 and all(x > 0 for x in v)):
                raise ValueError(f"config field '{name}' must be a non-empty tuple of numbers > 0")


@dataclass
class Result:
    config: Config
    model: SKModel
    drift: np.ndarray              # (n_T, modes, sweeps + 1) energies per spin
    tune_counts: np.ndarray        # basins found per alpha
    adelm: ADELMResult
    adelm_barriers: np.ndarray     # AD barrier matrix between representatives
    adelm_dg: DisconnectivityGraph
    gwl: GWLResult
    gwl_map: GWLMap
    gwl_dg: DisconnectivityGraph
    match: np.ndarray              # ADELM rep -> index among GWL lowest modes (-1 if absent)
    rep_mirror: np.ndarray         # ADELM rep -> rep index of its mirror (-1 if not a rep)
    merge_flags: np.ndarray
    global_pair: tuple             # (lowest rep, rep index of its mirror or -1)
    mirror_path: dict              # AD and greedy paths between the global modes
    timings: dict
    numbers: dict

    def metrics(self) -> dict[str, Metric]:
        """The numbers ch5 reports, each with its description (also printed by
        ``ebmbook run sk_spin_glass``)."""
        c, n = self.config, self.numbers
        at = list(c.tune_alphas).index(c.alpha) if c.alpha in c.tune_alphas else None
        out = {}
        if at is not None:
            out["tune_basins_at_alpha"] = Metric(
                int(self.tune_counts[at]), f"basins in {c.tune_iter} ADELM iterations at "
                f"alpha={c.alpha}")
        described = {
            "adelm_basins": "ADELM basins (Algorithm 3, no consolidation during the run)",
            "adelm_basins_consolidated": "basins left after one closing pass merging "
                                         "AD-connected representatives",
            "adelm_basins_in_gwl_lowest": f"ADELM representatives (or their mirror states) "
                                          f"among GWL's {c.n_lowest} lowest modes",
            "adelm_basins_in_gwl_lowest_exact": "the same, identical state only",
            "adelm_low_modes_missing_from_gwl": "ADELM modes below GWL's highest listed energy "
                                                "that GWL's list lacks",
            "gwl_modes": "modes in the GWL map (lowest found, capped at n_lowest)",
            "gwl_basins_visited": "distinct basins GWL visited",
            "dg_merge_consistency": "fraction of comparable ADELM merges in GWL's order "
                                    "(n/a: none comparable)",
            "dg_comparable_merges": "ADELM merges with matched representatives on both sides",
            "mirror_coverage": "fraction of ADELM basins whose representative's mirror was also "
                               "found as a mode",
            "mirror_rep_pairs": "pairs of ADELM representatives that are mirror images",
            "adelm_lowest_energy": "lowest ADELM mode, energy per spin",
            "gwl_lowest_energy": "lowest GWL mode, energy per spin",
            "gwl_sweeps_to_adelm_lowest10": "GWL sweeps until the 10 lowest ADELM basins were "
                                            "visited",
            "adelm_iterations": "ADELM iterations (proposals mapped)",
            "gwl_sweeps": "GWL run length in sweeps (single-flip proposals / N)",
        }
        for name, value in n.items():
            out[name] = Metric(value, described[name])
        out["adelm_it_per_s"] = Metric(self.timings["adelm_it_per_s"],
                                       "ADELM iterations per second")
        return out


def _find_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """For each row of A, the index of the identical row of B (or -1)."""
    lookup = {row.tobytes(): k for k, row in enumerate(np.asarray(B, dtype=np.int8))}
    return np.array([lookup.get(row.tobytes(), -1) for row in np.asarray(A, dtype=np.int8)],
                    dtype=np.int64)


def run(config: Config) -> Result:
    with get_executor(config.executor) as ex:
        return _run(config, ex)


def _run(config: Config, ex) -> Result:
    """One run with every batch of independent trials on the executor ``ex``."""
    rng = np.random.default_rng(config.seed)
    model = SKModel.from_seed(config.n_spins, config.seed)
    N = model.n
    timings = {}
    bar = progress_bar(config.progress, total=6, desc="SK spin glass")

    def backend(alpha=config.alpha):
        return SpinBackend(model, temperature=config.temperature, alpha=alpha, rng=rng,
                           delta=config.delta, improvement_limit=config.improvement_limit,
                           max_sweeps=config.max_sweeps, proposal=config.proposal,
                           anneal_t_start=config.anneal_t_start,
                           anneal_t_end=config.anneal_t_end, anneal_sweeps=config.anneal_sweeps)

    # Fig 5.2 top: energy drift of unmagnetised chains from local modes
    t0 = time.perf_counter()
    be = backend()
    modes, _ = be.local_modes(be.propose(config.drift_modes))
    drift = energy_drift(model, modes, config.drift_temperatures, config.drift_sweeps, rng,
                         executor=ex)
    # Fig 5.2 bottom: basins in a few ADELM iterations over alpha
    counts = basins_vs_alpha(be, config.tune_alphas, n_iter=config.tune_iter, executor=ex)
    timings["tuning"] = time.perf_counter() - t0
    bar.update()

    # Fig 5.3: ADELM map and AD barriers between the representatives
    t0 = time.perf_counter()
    res = adelm(be, config.adelm_iter, consolidate_every=config.consolidate_every,
                progress=config.progress, executor=ex)
    timings["adelm"] = time.perf_counter() - t0
    timings["adelm_it_per_s"] = config.adelm_iter / timings["adelm"]
    bar.update()
    t0 = time.perf_counter()
    ladder = config.alpha * np.asarray(config.barrier_alpha_factors)
    M = ad_barrier_matrix(be, res.reps, res.rep_energies, ladder,
                          n_repeats=config.barrier_repeats, executor=ex)
    adg = disconnectivity_graph(M, counts=res.counts)
    timings["ad_barriers"] = time.perf_counter() - t0
    bar.update()

    # Fig 5.1: GWL map of the lowest modes
    t0 = time.perf_counter()
    g = gwl(model, n_iter=config.gwl_iter, rng=rng, temperature=config.gwl_temperature,
            e_range=(config.e_min, config.e_max), n_bins=config.gwl_bins,
            penalty=config.gwl_penalty, start=res.reps[:1])
    gm = gwl_map(g, model, n_lowest=config.n_lowest)
    gdg = disconnectivity_graph(gm.barriers)
    timings["gwl"] = time.perf_counter() - t0
    bar.update()

    # Fig 5.4: overlay and consistency. A representative matches the GWL mode with the same
    # state; for the count of basins "among GWL's lowest" a representative whose mirror state is
    # in the list counts too (U(s) = U(-s), so it is a lowest mode all the same).
    match = _find_rows(res.reps, gm.states)
    in_gwl = (match >= 0) | (_find_rows(-res.reps, gm.states) >= 0)
    frac, flags = merge_consistency(adg, gdg, match)
    rep_mirror = _find_rows(-res.reps, res.reps)
    # how many basins remain if AD-connected representatives are merged once at the end
    groups = connected_groups(be, res.reps, executor=ex)
    bar.update()

    # Fig 5.5: AD path between the two mirror global modes vs the DG barrier
    t0 = time.perf_counter()
    # (the mirror of the lowest representative is used even when ADELM did not map it)
    i0 = int(np.argmin(res.rep_energies))
    j0 = int(rep_mirror[i0])
    mirror_path = {}
    pair = (i0, j0)
    if True:
        a, b = res.reps[i0:i0 + 1], -res.reps[i0:i0 + 1]
        for factor in config.barrier_alpha_factors:
            r = be.ad(np.repeat(a, 4, 0), np.repeat(b, 4, 0), alpha=config.alpha * factor,
                      record=True, executor=ex)
            if r.success.any():
                k = int(np.argmin(np.where(r.success, r.barrier, np.inf)))
                L = int(r.steps[k]) + 1
                mirror_path = {"alpha": config.alpha * factor,
                               "energy": r.path_energy[k, :L], "distance": r.path_distance[k, :L],
                               "barrier": float(r.barrier[k])}
                break
        gb, gpath = greedy_barrier(model, a, b, return_paths=True)
        mirror_path["greedy_barrier"] = float(gb[0])
        mirror_path["greedy_path"] = gpath[0]
        if j0 >= 0:
            mirror_path["adelm_dg_barrier"] = float(adg.cophenetic()[i0, j0])
        gi, gj = _find_rows(np.concatenate([a, b]), gm.states)
        if gi >= 0 and gj >= 0:
            mirror_path["gwl_dg_barrier"] = float(gdg.cophenetic()[gi, gj])
    timings["mirror_path"] = time.perf_counter() - t0
    bar.update()
    bar.close()

    # GWL effort needed to reach the lowest basins ADELM found
    first = np.full(res.n_basins, -1, dtype=np.int64)
    ok = match >= 0
    first[ok] = g.first_seen[gm.index[match[ok]]]
    order = np.argsort(res.rep_energies)[:10]
    reached = first[order]
    numbers = {
        "adelm_basins": res.n_basins,
        "adelm_basins_in_gwl_lowest": int(in_gwl.sum()),
        "adelm_basins_in_gwl_lowest_exact": int(ok.sum()),
        "adelm_basins_consolidated": int(groups.max()) + 1,
        # ADELM modes at or below GWL's highest listed energy that GWL's list lacks (mirror
        # states counted as present): 0 means the list is complete where ADELM looked
        "adelm_low_modes_missing_from_gwl": int(np.sum(
            (res.energies <= gm.energies.max())
            & (_find_rows(res.modes, gm.states) < 0) & (_find_rows(-res.modes, gm.states) < 0))),
        "gwl_modes": len(gm.energies),
        "gwl_basins_visited": g.n_basins,
        "dg_merge_consistency": frac,
        "dg_comparable_merges": int((flags >= 0).sum()),
        # Fig 5.1's blue dots: basins whose mode's mirror state was also found during the run
        "mirror_coverage": float((_find_rows(-res.reps, res.modes) >= 0).mean()),
        "mirror_rep_pairs": int((rep_mirror >= 0).sum() // 2),
        "adelm_lowest_energy": float(res.rep_energies.min()),
        "gwl_lowest_energy": float(gm.energies.min()),
        "gwl_sweeps_to_adelm_lowest10": float(reached.max() / N) if (reached >= 0).all()
        else float("nan"),
        "adelm_iterations": config.adelm_iter,
        "gwl_sweeps": config.gwl_iter / N,
    }
    return Result(config=config, model=model, drift=drift, tune_counts=counts, adelm=res,
                  adelm_barriers=M, adelm_dg=adg, gwl=g, gwl_map=gm, gwl_dg=gdg, match=match,
                  rep_mirror=rep_mirror, merge_flags=flags, global_pair=pair,
                  mirror_path=mirror_path, timings=timings, numbers=numbers)
