"""ADELM against GWL on the SK glass, and what the comparison depends on (Figs 5.3, 5.4,
Sec 5.2.1; issue 11 part 3).

The thesis: 58 ADELM basins after 5000 iterations, 44 of them among GWL's 500 lowest modes. At
``ci`` size the book's map finds more basins, and a smaller share of them among GWL's lowest.
This module maps the same glass (the ``ci`` instance of :mod:`ebmbook.experiments.sk_spin_glass`)
once with GWL, then runs ADELM with each of a grid of settings around the thesis's: the
magnetisation alpha around 1.35, the improvement limit M (AD gives up after M sweeps without
getting closer) and consolidation during the run (merging AD-connected representatives every
``consolidate_every`` iterations). For each: the basins, how many are among GWL's lowest modes
(a mirror state counts, as on the SK page), the share, how many representatives lie at or below
the energy of GWL's highest listed mode (only those can be in the list), and the basins left after one closing consolidation. For the base setting it also compares the barriers of the two maps: for every
pair of representatives that GWL's list holds, the AD DG's merge height minus the GWL DG's (the
thesis: GWL's are usually slightly lower).

The grid takes several minutes on one CPU thread at ``ci`` size, and about an hour at ``paper``
size (5000 ADELM iterations per setting, 5e8 GWL proposals), so each table is an artifact with
its manifest (``artifacts/sk_sensitivity/table.json`` and ``artifacts/sk_sensitivity-paper/``,
each loaded for its own config only; ``ebmbook run sk_sensitivity --size ci|paper`` rebuilds it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._config import require_int
from .._timing import Stopwatch
from ..energies.spin import SKModel
from ..landscape.adelm import SpinBackend, adelm, connected_groups
from ..landscape.barriers import ad_barrier_matrix
from ..landscape.dgraph import disconnectivity_graph
from ..landscape.gwl import gwl, gwl_map
from ..results import Metric
from . import _tables
from ._base import ExperimentConfig
from ._common import SKMapConfig, find_rows, progress_bar

NAME = "sk_sensitivity"

#: (alpha, improvement limit M, consolidate_every) of each ADELM run; the first is the base
GRID: tuple = ((1.35, 100, 0), (1.0, 100, 0), (1.8, 100, 0), (1.35, 300, 0), (1.0, 300, 0),
               (1.8, 300, 0), (1.35, 100, 100))


@dataclass(frozen=True)
class Config(ExperimentConfig):
    grid: tuple = GRID
    adelm_iter: int = 1000
    progress: bool = True

    SIZES: ClassVar = {"ci": {}, "paper": {"adelm_iter": 5000}}

    def __post_init__(self) -> None:
        super().__post_init__()
        require_int(self, "adelm_iter")
        if not self.grid or any(len(g) != 3 or not g[0] > 0 or int(g[1]) < 1 or int(g[2]) < 0
                                for g in self.grid):
            raise ValueError(f"config field 'grid' = {self.grid!r} is invalid: it must hold "
                             "(alpha > 0, improvement limit >= 1, consolidate_every >= 0) "
                             "triples")

    def sk(self) -> SKMapConfig:
        """The SK page's config at this size (the glass, T, the GWL run, the proposals)."""
        return SKMapConfig.for_size(self.size, seed=self.seed, progress=False)


@dataclass
class Row:
    alpha: float
    improvement_limit: int
    consolidate_every: int
    basins: int
    in_gwl_lowest: int
    share: float
    consolidated: int
    # representatives at or below the energy of GWL's highest listed mode: only those can be
    # in the list, so in_gwl_lowest / below_gwl_cut is the share of the ones that could be
    below_gwl_cut: int
    seconds: float


@dataclass
class Result:
    config: Config
    rows: list
    barrier_gap_median: float      # AD DG merge height - GWL DG merge height, median over pairs
    barrier_gap_frac_gwl_lower: float
    barrier_pairs: int
    manifest: dict

    def metrics(self, suffix: str = "") -> dict[str, Metric]:
        """The grid's numbers; ``suffix`` (e.g. ``"_paper"``) tells two sizes' tables apart on
        one page. The base row (the thesis's setting) is also reported as
        ``adelm_basins{suffix}`` and ``adelm_basins_in_gwl_lowest{suffix}``."""
        out = {}
        for i, r in enumerate(self.rows):
            tag = (f"alpha = {r.alpha:g}, M = {r.improvement_limit}"
                   + (f", consolidating every {r.consolidate_every}" if r.consolidate_every
                      else ""))
            out[f"sk_grid_{i}_basins{suffix}"] = Metric(r.basins, f"ADELM basins ({tag})")
            out[f"sk_grid_{i}_share_in_gwl{suffix}"] = Metric(
                r.share, f"share of them among GWL's lowest modes ({tag})")
        if suffix:
            b, n = self.rows[0], self.config.adelm_iter
            out[f"adelm_basins{suffix}"] = Metric(
                b.basins, f"ADELM basins after {n} iterations (alpha = {b.alpha:g}, "
                f"M = {b.improvement_limit})")
            out[f"adelm_basins_in_gwl_lowest{suffix}"] = Metric(
                b.in_gwl_lowest, "of them among GWL's lowest modes (a mirror state counts)")
        best = max(self.rows, key=lambda r: r.share)
        out[f"sk_grid_best_share{suffix}"] = Metric(best.share, "the highest share over the grid")
        out[f"sk_barrier_gap_median{suffix}"] = Metric(
            self.barrier_gap_median, "median over pairs of representatives in GWL's list of "
            "(AD DG merge height - GWL DG merge height), energy per spin")
        out[f"sk_barrier_frac_gwl_lower{suffix}"] = Metric(
            self.barrier_gap_frac_gwl_lower, "share of those pairs whose GWL merge is lower")
        return out


def load(config: Config) -> Result | None:
    """The saved table of this config, or None (absent, another config, or unreadable)."""
    found = _tables.load(NAME, config)
    fields = {f.name for f in dataclasses.fields(Row)}
    if found is None or any(set(r) != fields for r in found["rows"]):
        return None      # absent, or written by an older version with other columns
    return Result(config=config, rows=[Row(**r) for r in found["rows"]],
                  barrier_gap_median=found["barrier_gap_median"],
                  barrier_gap_frac_gwl_lower=found["barrier_gap_frac_gwl_lower"],
                  barrier_pairs=found["barrier_pairs"], manifest=found["manifest"])


def run(config: Config) -> Result:
    found = load(config)
    if found is not None:
        return found
    clock, commit = Stopwatch(), _tables.code_version()
    sk = config.sk()
    rng = np.random.default_rng(config.seed)
    model = SKModel.from_seed(sk.n_spins, sk.seed)

    def backend(alpha, limit):
        return SpinBackend(model, temperature=sk.temperature, alpha=alpha, rng=rng,
                           delta=sk.delta, improvement_limit=limit, max_sweeps=sk.max_sweeps,
                           proposal=sk.proposal, anneal_t_start=sk.anneal_t_start,
                           anneal_t_end=sk.anneal_t_end, anneal_sweeps=sk.anneal_sweeps)

    rows, base = [], None
    for k, (alpha, limit, every) in enumerate(progress_bar(config.progress, config.grid,
                                                           desc="ADELM grid")):
        row_clock = Stopwatch()
        be = backend(float(alpha), int(limit))
        res = adelm(be, config.adelm_iter, consolidate_every=int(every), seed=[config.seed, k])
        if base is None:
            g = gwl(model, n_iter=sk.gwl_iter, rng=rng, temperature=sk.gwl_temperature,
                    e_range=(sk.e_min, sk.e_max), n_bins=sk.gwl_bins, penalty=sk.gwl_penalty,
                    start=res.reps[:1])
            gm = gwl_map(g, model, n_lowest=sk.n_lowest)
            base = (be, res, gm)
        gm = base[2]
        in_gwl = (find_rows(res.reps, gm.states) >= 0) | (find_rows(-res.reps, gm.states) >= 0)
        groups = connected_groups(be, res.reps, seed=[config.seed, k, 1])
        # a representative above GWL's highest listed energy cannot be in the list at all
        low = res.rep_energies <= gm.energies.max()
        rows.append(Row(alpha=float(alpha), improvement_limit=int(limit),
                        consolidate_every=int(every), basins=int(res.n_basins),
                        in_gwl_lowest=int(in_gwl.sum()),
                        share=float(in_gwl.sum() / max(res.n_basins, 1)),
                        consolidated=int(groups.max()) + 1, below_gwl_cut=int(low.sum()),
                        seconds=round(row_clock.seconds, 1)))
    # barriers of the base map against GWL's, over the pairs GWL's list holds
    be, res, gm = base
    M = ad_barrier_matrix(be, res.reps, res.rep_energies,
                          float(config.grid[0][0]) * np.asarray(sk.barrier_alpha_factors),
                          n_repeats=sk.barrier_repeats, seed=[config.seed, 99])
    C_ad = disconnectivity_graph(M, counts=res.counts).cophenetic()
    C_gwl = disconnectivity_graph(gm.barriers).cophenetic()
    match = find_rows(res.reps, gm.states)
    idx = np.flatnonzero(match >= 0)
    gaps = [C_ad[i, j] - C_gwl[match[i], match[j]] for a, i in enumerate(idx) for j in idx[a + 1:]
            if np.isfinite(C_ad[i, j]) and np.isfinite(C_gwl[match[i], match[j]])]
    gaps = np.asarray(gaps, dtype=float)
    payload = {"rows": [dataclasses.asdict(r) for r in rows],
               "barrier_gap_median": float(np.median(gaps)) if gaps.size else float("nan"),
               "barrier_gap_frac_gwl_lower": float(np.mean(gaps > 0)) if gaps.size
               else float("nan"),
               "barrier_pairs": int(gaps.size)}
    manifest = _tables.save(NAME, config, payload, clock.seconds, commit=commit)
    return Result(config=config, rows=rows, barrier_gap_median=payload["barrier_gap_median"],
                  barrier_gap_frac_gwl_lower=payload["barrier_gap_frac_gwl_lower"],
                  barrier_pairs=payload["barrier_pairs"], manifest=manifest)
