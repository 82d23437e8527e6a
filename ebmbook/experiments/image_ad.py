"""Chapter 4.3.3: Attraction-Diffusion in the 16x16 image space of a learned digit energy
(Figs 4.11-4.13).

The energy is the descriptor U(x) of the committed Co-Op pair ``coop_digits03`` (digits 0-3),
the same network the digits 0-3 latent map of Chapter 5 composes with its generator, used here
directly on images: ``U_box(x) = U(x) / s + wall`` (:class:`ebmbook.energies.BoxedEnergy`),
with ``s`` the sd of U over held-out images (so temperatures and barriers read in data-energy
sds) and a quadratic wall outside the pixel range [-1, 1]. The thesis's image space is bounded
(8 grey levels); without the wall a piecewise-linear ConvNet energy keeps falling along some
rays and no chain settles.

1. **Minima** (:func:`find_minima`). Local modes of the latent energy (5.2) from a grid of
   latent starts; their images g(z*) settle by a short gradient descent on ``U_box`` in image
   space (``settle_steps``). The minima are picked among them by what the digit judge reads
   (a choice of what to show, not of any tuning): A is the lowest mode, C the next mode the
   judge reads as A's digit (the thesis's C lies in A's group), B the lowest mode read as
   another digit and D the lowest read as a third digit (for the second path of Fig 4.13).
   A full descent (``full_descent_steps``) is also run, to show why the minima are settled
   only briefly: this descriptor was learned by short-run revisions and its long descents leave
   the digits for oversaturated scribbles (the non-convergent behaviour of Chapter 3).
2. **Metastable boundaries** (Figs 4.11, 4.12; :func:`ebmbook.landscape.tuning.metastable_boundary`):
   for each ordered pair of A, B, C and each T of a log grid, the search of Sec 4.3.3: start at
   a strong alpha, run ``n_trials`` AD trials, lower alpha by ``factor`` while any succeeds;
   the last alpha with a success is alpha*(T), and the lowest barrier met is recorded. The
   Langevin step grows with T, ``eps = eps_scale * sqrt(T)``, so that one step moves the chain
   by the same amount of energy at every T (a Gibbs sweep, the thesis's unit, adapts to T by
   itself); the ladder starts at ``pull_start / T``, i.e. at the same pull in energy per unit
   of distance.
3. **Paths** (Fig 4.13): at the coldest T, AD from A to B and from A to D at the weakest
   alpha of the walk that succeeded, recorded as energies and images, against the 1D linear
   interpolation between the same minima.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations
from typing import ClassVar

import numpy as np
import torch

from .._config import require_choice, require_int, require_positive
from .._timing import timed
from ..artifacts import Artifact, load_or_train
from ..data.images import load_images
from ..diagnostics.clustering import Judge, fit_judge
from ..energies.potentials import BoxedEnergy
from ..landscape.ad import ADResult, attraction_diffusion
from ..landscape.adelm import ContinuousBackend
from ..landscape.barriers import linear_barrier
from ..landscape.tuning import Boundary, metastable_boundary
from ..parallel import child, seed_sequence, torch_generator
from ..registry import MODEL_SIZES, model_spec
from ..results import Metric
from ..sampling.descent import local_modes
from ._base import ExperimentConfig
from ._common import progress_bar

NAMES = ("A", "B", "C")


def _increasing(cfg, name):
    v = getattr(cfg, name)
    if len(v) < 1 or any(not t > 0 for t in v) or list(v) != sorted(set(v)):
        raise ValueError(f"config field {name!r} = {v!r} is invalid: it must be a strictly "
                         "increasing sequence of positive numbers")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    model: str = "coop_digits03"
    model_size: str = "cpu"          # which size of the Co-Op artifact to load (cpu: committed)
    latent_grid: int = 8             # latent descents from an n x n grid on [-2.5, 2.5]^2
    latent_rate: float = 0.3
    latent_steps: int = 300
    settle_rate: float = 0.05        # image-space descent that settles g(z*)
    settle_steps: int = 50
    full_descent_steps: int = 2000   # the long descent shown beside the minima
    stiffness: float = 10.0          # of the wall outside [-1, 1]
    temperatures: tuple = (3e-4, 1e-3, 3e-3, 1e-2)
    eps_scale: float = 0.3           # Langevin step eps = eps_scale * sqrt(T)
    delta: float = 1.0               # AD success radius (L2, pixels in [-1, 1]; thesis 150/255)
    improvement_limit: int = 50      # AD failure: steps without getting closer (thesis: M = 20)
    max_steps: int = 3000
    pull_start: float = 4.0          # the walk starts at alpha = pull_start / T
    pull_min: float = 0.1            # ... and ends by alpha = pull_min / T
    factor: float = 0.75             # alpha <- factor * alpha (thesis: 0.97)
    n_trials: int = 4                # AD trials per alpha (thesis: 20)
    alphas_per_batch: int = 8
    path_trials: int = 4
    path_every: int = 5              # record a path state every this many steps
    line_points: int = 64
    progress: bool = True

    SIZES: ClassVar = {
        "ci": {},
        "paper": {"model_size": "paper", "factor": 0.97, "n_trials": 20, "alphas_per_batch": 32,
                  "temperatures": (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2),
                  "latent_grid": 16, "max_steps": 10000, "path_trials": 20},
    }

    def __post_init__(self):
        super().__post_init__()
        require_choice(self, "model_size", MODEL_SIZES)
        require_positive(self, "latent_rate", "settle_rate", "stiffness", "eps_scale", "delta",
                         "pull_start", "pull_min")
        require_int(self, "latent_grid", minimum=2)
        require_int(self, "latent_steps", "improvement_limit", "max_steps", "n_trials",
                    "alphas_per_batch", "path_trials", "path_every", "line_points")
        require_int(self, "settle_steps", "full_descent_steps", minimum=0)
        _increasing(self, "temperatures")
        if not 0 < self.factor < 1:
            raise ValueError(f"config field 'factor' = {self.factor!r} is invalid: it must be "
                             "in (0, 1)")
        if not self.pull_min < self.pull_start:
            raise ValueError("config field 'pull_min' must be below 'pull_start'")
        # the explicit Langevin step is stable on the wall while eps^2 k / (2T) < 2
        if self.eps_scale ** 2 * self.stiffness / 2 >= 2:
            raise ValueError(f"eps_scale = {self.eps_scale} and stiffness = {self.stiffness} "
                             "make Langevin unstable on the pixel-range wall: keep "
                             "eps_scale**2 * stiffness < 4")


@dataclass
class Minima:
    """The image minima and where they came from."""

    names: list                 # "A", "B", "C", "D"
    z: torch.Tensor             # (4, d) latent modes
    raw: torch.Tensor           # g(z*) (4, 1, H, W)
    images: torch.Tensor        # settled by settle_steps of image-space descent
    long_descent: torch.Tensor  # the same after full_descent_steps
    energies: np.ndarray        # U_box of the settled images
    raw_energies: np.ndarray
    long_energies: np.ndarray
    reads: np.ndarray           # judge's digit of each settled image
    raw_reads: np.ndarray
    long_reads: np.ndarray
    n_latent_modes: int


@dataclass
class Path:
    """One AD path against the 1D line between the same minima (Fig 4.13)."""

    start: str
    target: str
    alpha: float
    temperature: float
    linear_energy: np.ndarray   # (line_points,) along the segment
    linear_images: torch.Tensor
    ad: ADResult | None         # the successful trial's batch (None if no trial succeeded)
    trial: int                  # which trial succeeded (-1 if none)
    states: torch.Tensor | None   # that trial's recorded states up to its arrival
    steps: np.ndarray | None

    target_energy: float = float("-inf")

    @property
    def ad_barrier(self) -> float:
        """The highest energy of the successful trial's path completed by the target (see
        :meth:`Result.ad_barrier`); inf if no trial succeeded."""
        if self.trial < 0:
            return float("inf")
        return max(float(self.ad.barrier[self.trial]), self.target_energy)

    @property
    def linear_barrier(self) -> float:
        return float(self.linear_energy.max())


@dataclass
class Result:
    config: Config
    judge: Judge
    unit: float
    minima: Minima
    temperatures: np.ndarray
    boundaries: dict            # (i, j) -> [Boundary per T], i -> j ordered pairs of A, B, C
    linear: dict                # (i, j) -> 1D barrier (symmetric)
    paths: list
    timings: dict = field(default_factory=dict)

    def alpha_star(self) -> dict:
        """(i, j) -> alpha*(T) array (nan where the walk found no success)."""
        return {k: np.array([b.alpha for b in v]) for k, v in self.boundaries.items()}

    def pull_star(self) -> dict:
        """(i, j) -> alpha*(T) * T: the boundary as a pull in energy per unit of distance."""
        return {k: a * self.temperatures for k, a in self.alpha_star().items()}

    def ad_barrier(self) -> dict:
        """(i, j) -> lowest barrier met on the walk at each T (inf where none succeeded), and
        never below the target's own energy: a trial stops within delta of its target, possibly
        lower than the target itself, and the path is completed by the target."""
        e = self.minima.energies
        return {(i, j): np.array([max(b.barrier, e[j]) for b in v])
                for (i, j), v in self.boundaries.items()}

    def pairs_found(self) -> int:
        """Ordered pairs whose boundary the walk crossed at every temperature."""
        return int(sum(all(b.found for b in v) for v in self.boundaries.values()))

    def asymmetry(self) -> dict:
        """{i, j} -> alpha*(i -> j) / alpha*(j -> i) at the coldest T (>= 1: the stronger role
        over the weaker)."""
        a = self.alpha_star()
        out = {}
        for i, j in self.boundaries:
            if i < j:
                x, y = a[(i, j)][0], a[(j, i)][0]
                out[(i, j)] = float(max(x, y) / min(x, y)) if min(x, y) > 0 else float("nan")
        return out

    def weakest_pair(self) -> tuple[int, int] | None:
        """The unordered pair that merges at the weakest alpha at the coldest T (the smaller of
        its two roles)."""
        a = self.alpha_star()
        best, arg = np.inf, None
        for i, j in self.boundaries:
            if i < j:
                v = min(a[(i, j)][0], a[(j, i)][0])
                if np.isfinite(v) and v < best:
                    best, arg = v, (i, j)
        return arg

    def median_pull(self) -> np.ndarray:
        """The median over ordered pairs of alpha* T at each T."""
        return np.nanmedian(np.stack(list(self.pull_star().values())), axis=0)

    def frac_ad_below_linear(self) -> float:
        """Share of ordered pairs whose lowest AD barrier at the coldest T is below the 1D
        barrier of the same pair."""
        b = self.ad_barrier()
        below = [b[k][0] < self.linear[k] for k in self.boundaries]
        return float(np.mean(below)) if below else float("nan")

    def metrics(self) -> dict[str, Metric]:
        mi = self.minima
        b = self.ad_barrier()
        cold_ad = np.array([b[k][0] for k in self.boundaries])
        lin = np.array([self.linear[k] for k in self.boundaries])
        asym = self.asymmetry()
        weak = self.weakest_pair()
        same = weak == (0, 2)    # A and C: the pair the judge reads as one digit
        a = self.alpha_star()
        pull = self.pull_star()
        out = {
            "alpha_star_pairs": Metric(self.pairs_found(), "ordered pairs of A, B, C whose "
                                       "metastable boundary the walk crossed at every T"),
            "frac_ad_below_1d_image": Metric(self.frac_ad_below_linear(), "share of ordered "
                                             "pairs whose AD barrier (coldest T) is below the "
                                             "1D barrier"),
            "median_barrier_ad_image": Metric(float(np.median(cold_ad)), "median lowest AD "
                                              "barrier, coldest T (data-energy sds)"),
            "median_barrier_1d_image": Metric(float(np.median(lin)), "median 1D barrier"),
            "median_rise_1d_image": Metric(float(np.median(lin - np.maximum(
                mi.energies[[i for i, _ in self.boundaries]],
                mi.energies[[j for _, j in self.boundaries]]))), "median 1D barrier above "
                "the higher end"),
            "max_asymmetry": Metric(max(asym.values()) if asym else float("nan"),
                                    "largest alpha*(i->j) / alpha*(j->i) at the coldest T"),
            "weakest_pair_is_same_digit": Metric(int(same), "1 if A and C (read as one digit) "
                                                 "merge at the weakest alpha"),
            "minima_reads_kept": Metric(int(np.sum(mi.reads == mi.raw_reads)), "minima the "
                                        "judge reads as the same digit after settling"),
            "long_descent_reads_kept": Metric(int(np.sum(mi.long_reads == mi.raw_reads)),
                                              "minima still read as the same digit after the "
                                              "long descent"),
            "unit": Metric(self.unit, "s: the sd of U over held-out images"),
        }
        mp = self.median_pull()
        d = float(np.prod(mi.images.shape[1:]))
        cold = mp[:-1] if len(mp) > 1 else mp
        out["pull_ratio_cold"] = Metric(float(np.nanmax(cold) / np.nanmin(cold)), "largest over "
                                        "smallest median alpha* T, all T but the warmest")
        out["pull_rise_warmest"] = Metric(float(mp[-1] / mp[0]), "median alpha* T at the "
                                          "warmest T over that at the coldest")
        out["warm_alpha_over_d_delta"] = Metric(
            float(np.nanmedian([v[-1] for v in a.values()]) / (d / self.config.delta)),
            "median alpha* at the warmest T over d / delta")
        for k, (i, j) in enumerate(self.boundaries):
            name = f"{NAMES[i]}{NAMES[j]}"
            out[f"alpha_star_{name}_coldest"] = Metric(float(a[(i, j)][0]), f"alpha* from "
                                                       f"{NAMES[i]} to {NAMES[j]}, coldest T")
            out[f"pull_star_{name}_warmest"] = Metric(float(pull[(i, j)][-1]), f"alpha* T from "
                                                      f"{NAMES[i]} to {NAMES[j]}, warmest T")
        return out


def fit_digit_judge(art: Artifact) -> Judge:
    """The judge: logistic regression on the pixels of the held-out (``test``) images of every
    class of the pair's data set, which its nets never saw; its accuracy measured on the
    ``train`` split of every class."""
    opts = dict(size=art.spec.image_size, scale="symmetric")
    tr = load_images(art.spec.dataset, split="test", **opts)
    te = load_images(art.spec.dataset, split="train", **opts)
    return fit_judge(tr.images, tr.labels, te.images, te.labels)


def find_minima(art: Artifact, energy: BoxedEnergy, judge: Judge, c: Config) -> Minima:
    """A, B, C, D: settled images of latent modes, chosen by the judge's reading (see the
    module docstring)."""
    unit = energy.unit
    L = art.latent_energy(prior=True, unit=unit)
    if L.latent_dim != 2:
        raise ValueError(f"{c.model} has a {L.latent_dim}-D latent space; the grid of latent "
                         "starts needs 2 (use a digits 0-3 pair such as coop_digits03)")
    t = torch.linspace(-2.5, 2.5, c.latent_grid)
    z, u = local_modes(L, torch.cartesian_prod(t, t), rate=c.latent_rate,
                       n_steps=c.latent_steps)
    z, u = z.detach(), u.detach().numpy()
    keep: list[int] = []
    for i in np.argsort(u, kind="stable"):            # distinct modes, lowest first
        if all(float((z[i] - z[k]).norm()) > 0.3 for k in keep):
            keep.append(int(i))
    with torch.no_grad():
        raw = art.generator(z[keep])
    reads = judge.predict(raw)
    a = 0
    same = [k for k in range(1, len(keep)) if reads[k] == reads[a]]
    other = [k for k in range(len(keep)) if reads[k] != reads[a]]
    if not same or not other:
        raise RuntimeError(f"the {len(keep)} latent modes do not hold two modes of one digit and "
                           "one of another (judge reads: " + ", ".join(map(str, reads)) + "); "
                           "raise latent_grid")
    b = other[0]
    third = [k for k in other if reads[k] != reads[b]]
    d = third[0] if third else other[1] if len(other) > 1 else b
    pick = [a, b, same[0], d]
    raw = raw[pick]
    settled = raw
    if c.settle_steps:
        settled, _ = local_modes(energy, raw, rate=c.settle_rate, n_steps=c.settle_steps)
        settled = settled.detach()
    long = raw
    if c.full_descent_steps:
        long, _ = local_modes(energy, raw, rate=c.settle_rate, n_steps=c.full_descent_steps)
        long = long.detach()
    with torch.no_grad():
        e = [energy(x).numpy().astype(np.float64) for x in (settled, raw, long)]
    return Minima(names=["A", "B", "C", "D"], z=z[keep][pick], raw=raw, images=settled,
                  long_descent=long, energies=e[0], raw_energies=e[1], long_energies=e[2],
                  reads=judge.predict(settled), raw_reads=judge.predict(raw),
                  long_reads=judge.predict(long), n_latent_modes=len(keep))


def _eps(c: Config, T: float) -> float:
    """The Langevin step at temperature T: ``eps_scale * sqrt(T)``."""
    return c.eps_scale * float(np.sqrt(T))


def _walk(energy, X: torch.Tensor, i: int, j: int, c: Config, T: float, seed) -> Boundary:
    """The metastable-boundary walk from X[i] toward X[j] at T: the ladder from
    ``pull_start / T`` down to ``pull_min / T``."""
    be = ContinuousBackend(energy, None, temperature=T, alpha=c.pull_start / T, eps=_eps(c, T),
                           delta=c.delta, improvement_limit=c.improvement_limit,
                           max_steps=c.max_steps, chunk_size=c.n_trials * c.alphas_per_batch)
    return metastable_boundary(be, X[i:i + 1], X[j:j + 1], alpha_start=c.pull_start / T,
                               alpha_min=c.pull_min / T, n_trials=c.n_trials, factor=c.factor,
                               alphas_per_batch=c.alphas_per_batch, seed=seed)


def boundaries(energy, X: torch.Tensor, c: Config, *, seed, progress: bool = False) -> dict:
    """alpha*(T) for every ordered pair of the first three states of ``X`` (Figs 4.11/4.12):
    (i, j) -> [Boundary per T]."""
    root = seed_sequence(seed)
    pairs = list(permutations(range(3), 2))
    out: dict = {p: [] for p in pairs}
    jobs = [(p, k, T) for p in pairs for k, T in enumerate(c.temperatures)]
    for p, k, T in progress_bar(progress, jobs, desc="metastable boundaries"):
        out[p].append(_walk(energy, X, *p, c, T, child(root, pairs.index(p), k)))
    return out


def ad_path(energy, X: torch.Tensor, i: int, j: int, walk: Boundary, c: Config, T: float, *,
            seed, names=NAMES) -> Path:
    """AD from X[i] to X[j] at T at the weakest alpha of ``walk`` that succeeded (or, if no
    trial of that batch succeeds, the next stronger alphas of the walk), recorded."""
    gen = torch_generator(seed_sequence(seed))
    lin, prof = linear_barrier(energy, X[i:i + 1], X[j:j + 1], n_points=c.line_points,
                               return_path=True)
    t = torch.linspace(0, 1, 9).view(-1, 1, 1, 1)
    line_imgs = (1 - t) * X[i] + t * X[j]
    ok_alphas = walk.alphas[walk.success_rate > 0][::-1]        # weakest first
    n = c.path_trials
    for al in ok_alphas:
        res = attraction_diffusion(energy, X[i:i + 1].expand(n, *X.shape[1:]),
                                   X[j:j + 1].expand(n, *X.shape[1:]), temperature=T,
                                   alpha=float(al), eps=_eps(c, T),
                                   generator=gen, delta=c.delta,
                                   improvement_limit=c.improvement_limit,
                                   max_steps=c.max_steps, record=True,
                                   record_states=c.path_every)
        hit = np.flatnonzero(res.success)
        if hit.size:
            k = int(hit[np.argmin(res.barrier[hit])])
            m = int(np.searchsorted(res.path_steps, res.steps[k])) + 1
            return Path(names[i], names[j], float(al), T, prof[0], line_imgs, res, k,
                        res.path_states[k, :m], res.path_steps[:m], float(prof[0, -1]))
    return Path(names[i], names[j], float("nan"), T, prof[0], line_imgs, None, -1, None, None,
                float(prof[0, -1]))


def run(config: Config) -> Result:
    c = config
    timings: dict[str, float] = {}
    root = seed_sequence(c.seed)
    bar = progress_bar(c.progress, total=3, desc="image-space AD")
    with timed(timings, "minima"):
        art = load_or_train(c.model, model_spec(c.model, c.model_size), device=c.device,
                            progress=False)
        judge = fit_digit_judge(art)
        unit = float(art.metrics.get("data_energy_sd", 1.0))
        energy = BoxedEnergy(art.energy, unit=unit, stiffness=c.stiffness)
        for p in energy.parameters():
            p.requires_grad_(False)
        mi = find_minima(art, energy, judge, c)
    bar.update()
    with timed(timings, "boundaries"):
        X = mi.images
        B = boundaries(energy, X, c, seed=child(root, 0), progress=c.progress)
        lin = {}
        for i, j in B:
            lin[(i, j)] = float(linear_barrier(energy, X[i:i + 1], X[j:j + 1],
                                               n_points=c.line_points)[0])
    bar.update()
    with timed(timings, "paths"):
        T0 = float(c.temperatures[0])
        paths = [ad_path(energy, X, 0, 1, B[(0, 1)][0], c, T0, seed=child(root, 1), names=mi.names)]
        # A -> D: D is not in the boundary search; walk it at the coldest T to find its alpha
        dwalk = _walk(energy, X, 0, 3, c, T0, child(root, 2))
        paths.append(ad_path(energy, X, 0, 3, dwalk, c, T0, seed=child(root, 3), names=mi.names))
    bar.update()
    bar.close()
    return Result(config=c, judge=judge, unit=unit, minima=mi,
                  temperatures=np.asarray(c.temperatures, dtype=np.float64), boundaries=B,
                  linear=lin, paths=paths, timings=timings)

