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
With ``Config.map_checkpoint`` (a folder; ``ebmbook run sk_spin_glass --map-checkpoint DIR``) the
ADELM map saves its progress there, and the same run started again resumes it
(:func:`~ebmbook.experiments._common.map_checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._timing import timed
from ..energies.spin import SKModel
from ..landscape.adelm import ADELMResult, SpinBackend, adelm, connected_groups
from ..landscape.barriers import ad_barrier_matrix, greedy_barrier
from ..landscape.dgraph import DisconnectivityGraph, disconnectivity_graph, merge_consistency
from ..landscape.gwl import GWLMap, GWLResult, gwl, gwl_map
from ..landscape.tuning import basins_vs_alpha, energy_drift
from ..parallel import get_executor
from ..results import Metric
from ._common import SKMapConfig, find_rows, map_checkpoint, progress_bar


@dataclass(frozen=True)
class Config(SKMapConfig):
    """The glass, ADELM, AD-barrier and GWL settings of this page, with its ``ci`` and
    ``paper`` sizes (the fields are declared on :class:`~ebmbook.experiments._common.SKMapConfig`,
    which :mod:`ebmbook.experiments.sk_sensitivity` reads as well)."""


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


def run(config: Config) -> Result:
    with get_executor(config.executor) as ex:
        return _run(config, ex)


def _run(config: Config, ex) -> Result:
    """One run with every batch of independent trials on the executor ``ex``. The stages share
    one random stream (``rng``, also the backend's), so they run in this order."""
    rng = np.random.default_rng(config.seed)
    model = SKModel.from_seed(config.n_spins, config.seed)
    timings = {}
    bar = progress_bar(config.progress, total=6, desc="SK spin glass")
    with timed(timings, "tuning"):
        be = _backend(config, model, rng)
        drift, counts = _tune(config, be, rng, ex)
    bar.update()
    with timed(timings, "adelm"):
        # seed=rng: the root is one draw of the run's stream, as with no seed, but explicit,
        # as a checkpointed map needs (the stream is the same when the command is run again)
        res = adelm(be, config.adelm_iter, consolidate_every=config.consolidate_every,
                    progress=config.progress, executor=ex, seed=rng,
                    checkpoint=map_checkpoint(config, "adelm"))
    timings["adelm_it_per_s"] = config.adelm_iter / timings["adelm"]
    bar.update()
    with timed(timings, "ad_barriers"):
        M, adg = _ad_barriers(config, be, res, ex)
    bar.update()
    with timed(timings, "gwl"):
        g, gm, gdg = _gwl_lowest_modes(config, model, rng, start=res.reps[:1])
    bar.update()
    cmp = _compare_maps(be, res, adg, gm, gdg, ex)
    bar.update()
    with timed(timings, "mirror_path"):
        pair, mirror_path = _mirror_path(config, be, res, adg, gm, gdg, cmp.rep_mirror, ex)
    bar.update()
    bar.close()
    return Result(config=config, model=model, drift=drift, tune_counts=counts, adelm=res,
                  adelm_barriers=M, adelm_dg=adg, gwl=g, gwl_map=gm, gwl_dg=gdg,
                  match=cmp.match, rep_mirror=cmp.rep_mirror, merge_flags=cmp.merge_flags,
                  global_pair=pair, mirror_path=mirror_path, timings=timings,
                  numbers=_numbers(config, model.n, res, g, gm, cmp))


def _backend(config: Config, model: SKModel, rng: np.random.Generator) -> SpinBackend:
    """The ADELM / AD backend of the run (the thesis's T and alpha, annealed proposals)."""
    return SpinBackend(model, temperature=config.temperature, alpha=config.alpha, rng=rng,
                       delta=config.delta, improvement_limit=config.improvement_limit,
                       max_sweeps=config.max_sweeps, proposal=config.proposal,
                       anneal_t_start=config.anneal_t_start, anneal_t_end=config.anneal_t_end,
                       anneal_sweeps=config.anneal_sweeps)


def _tune(config: Config, be: SpinBackend, rng: np.random.Generator,
          ex) -> tuple[np.ndarray, np.ndarray]:
    """Fig 5.2: the energy drift of unmagnetised chains started at local modes, over the
    temperatures (top), and the basins a few ADELM iterations find at each alpha (bottom)."""
    modes, _ = be.local_modes(be.propose(config.drift_modes))
    drift = energy_drift(be.model, modes, config.drift_temperatures, config.drift_sweeps, rng,
                         executor=ex)
    counts = basins_vs_alpha(be, config.tune_alphas, n_iter=config.tune_iter, executor=ex)
    return drift, counts


def _ad_barriers(config: Config, be: SpinBackend, res: ADELMResult,
                 ex) -> tuple[np.ndarray, DisconnectivityGraph]:
    """Fig 5.3: AD barriers between the ADELM representatives (over the alpha ladder) and
    their DG."""
    ladder = config.alpha * np.asarray(config.barrier_alpha_factors)
    M = ad_barrier_matrix(be, res.reps, res.rep_energies, ladder,
                          n_repeats=config.barrier_repeats, executor=ex)
    return M, disconnectivity_graph(M, counts=res.counts)


def _gwl_lowest_modes(config: Config, model: SKModel, rng: np.random.Generator,
                      start: np.ndarray) -> tuple[GWLResult, GWLMap, DisconnectivityGraph]:
    """Fig 5.1: the GWL run from ``start``, its map of the lowest modes and their DG."""
    g = gwl(model, n_iter=config.gwl_iter, rng=rng, temperature=config.gwl_temperature,
            e_range=(config.e_min, config.e_max), n_bins=config.gwl_bins,
            penalty=config.gwl_penalty, start=start)
    gm = gwl_map(g, model, n_lowest=config.n_lowest)
    return g, gm, disconnectivity_graph(gm.barriers)


@dataclass
class _MapComparison:
    """Fig 5.4: the ADELM map against GWL's."""

    match: np.ndarray          # ADELM rep -> index among GWL's lowest modes (-1 if absent)
    in_gwl: np.ndarray         # rep (or its mirror state) among GWL's lowest modes
    merge_fraction: float      # share of comparable ADELM merges in GWL's order
    merge_flags: np.ndarray
    rep_mirror: np.ndarray     # rep -> rep index of its mirror (-1 if not a rep)
    groups: np.ndarray         # rep -> group after one closing AD consolidation pass


def _compare_maps(be: SpinBackend, res: ADELMResult, adg: DisconnectivityGraph, gm: GWLMap,
                  gdg: DisconnectivityGraph, ex) -> _MapComparison:
    """Overlay and consistency of the two maps. A representative matches the GWL mode with the
    same state; for the count of basins "among GWL's lowest" a representative whose mirror
    state is in the list counts too (U(s) = U(-s), so it is a lowest mode all the same). Also
    how many basins remain if AD-connected representatives are merged once at the end."""
    match = find_rows(res.reps, gm.states)
    in_gwl = (match >= 0) | (find_rows(-res.reps, gm.states) >= 0)
    frac, flags = merge_consistency(adg, gdg, match)
    rep_mirror = find_rows(-res.reps, res.reps)
    groups = connected_groups(be, res.reps, executor=ex)
    return _MapComparison(match=match, in_gwl=in_gwl, merge_fraction=frac, merge_flags=flags,
                          rep_mirror=rep_mirror, groups=groups)


def _mirror_path(config: Config, be: SpinBackend, res: ADELMResult, adg: DisconnectivityGraph,
                 gm: GWLMap, gdg: DisconnectivityGraph, rep_mirror: np.ndarray,
                 ex) -> tuple[tuple, dict]:
    """Fig 5.5: the AD and greedy paths between the lowest representative and its mirror state
    (used even when ADELM did not map the mirror), beside both DGs' barriers between them.
    Returns ``((lowest rep, rep index of its mirror or -1), path record)``."""
    i0 = int(np.argmin(res.rep_energies))
    j0 = int(rep_mirror[i0])
    a, b = res.reps[i0:i0 + 1], -res.reps[i0:i0 + 1]
    path = _lowest_ad_path(config, be, a, b, ex)
    gb, gpath = greedy_barrier(be.model, a, b, return_paths=True)
    path["greedy_barrier"] = float(gb[0])
    path["greedy_path"] = gpath[0]
    if j0 >= 0:
        path["adelm_dg_barrier"] = float(adg.cophenetic()[i0, j0])
    gi, gj = find_rows(np.concatenate([a, b]), gm.states)
    if gi >= 0 and gj >= 0:
        path["gwl_dg_barrier"] = float(gdg.cophenetic()[gi, gj])
    return (i0, j0), path


def _lowest_ad_path(config: Config, be: SpinBackend, a: np.ndarray, b: np.ndarray,
                    ex) -> dict:
    """Four recorded AD trials from ``a`` to ``b`` at each alpha of the barrier ladder, up the
    ladder until one succeeds: that alpha and its lowest-barrier successful trial's energy and
    distance traces (``{}`` if none succeeds)."""
    for factor in config.barrier_alpha_factors:
        r = be.ad(np.repeat(a, 4, 0), np.repeat(b, 4, 0), alpha=config.alpha * factor,
                  record=True, executor=ex)
        if r.success.any():
            k = int(np.argmin(np.where(r.success, r.barrier, np.inf)))
            n_points = int(r.steps[k]) + 1
            return {"alpha": config.alpha * factor, "energy": r.path_energy[k, :n_points],
                    "distance": r.path_distance[k, :n_points], "barrier": float(r.barrier[k])}
    return {}


def _numbers(config: Config, N: int, res: ADELMResult, g: GWLResult, gm: GWLMap,
             cmp: _MapComparison) -> dict:
    """The numbers the page quotes (described in :meth:`Result.metrics`)."""
    # GWL effort needed to reach the lowest basins ADELM found
    first = np.full(res.n_basins, -1, dtype=np.int64)
    ok = cmp.match >= 0
    first[ok] = g.first_seen[gm.index[cmp.match[ok]]]
    reached = first[np.argsort(res.rep_energies)[:10]]
    return {
        "adelm_basins": res.n_basins,
        "adelm_basins_in_gwl_lowest": int(cmp.in_gwl.sum()),
        "adelm_basins_in_gwl_lowest_exact": int(ok.sum()),
        "adelm_basins_consolidated": int(cmp.groups.max()) + 1,
        # ADELM modes at or below GWL's highest listed energy that GWL's list lacks (mirror
        # states counted as present): 0 means the list is complete where ADELM looked
        "adelm_low_modes_missing_from_gwl": int(np.sum(
            (res.energies <= gm.energies.max())
            & (find_rows(res.modes, gm.states) < 0) & (find_rows(-res.modes, gm.states) < 0))),
        "gwl_modes": len(gm.energies),
        "gwl_basins_visited": g.n_basins,
        "dg_merge_consistency": cmp.merge_fraction,
        "dg_comparable_merges": int((cmp.merge_flags >= 0).sum()),
        # Fig 5.1's blue dots: basins whose mode's mirror state was also found during the run
        "mirror_coverage": float((find_rows(-res.reps, res.modes) >= 0).mean()),
        "mirror_rep_pairs": int((cmp.rep_mirror >= 0).sum() // 2),
        "adelm_lowest_energy": float(res.rep_energies.min()),
        "gwl_lowest_energy": float(gm.energies.min()),
        "gwl_sweeps_to_adelm_lowest10": float(reached.max() / N) if (reached >= 0).all()
        else float("nan"),
        "adelm_iterations": config.adelm_iter,
        "gwl_sweeps": config.gwl_iter / N,
    }
