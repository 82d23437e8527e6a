"""Chapter 5.2.2.3-4: ADELM maps of Co-Op latent energies of texture patches at four scales
(Figs 5.9-5.11, Tables 5.1-5.2).

The thesis cuts an ivy photo into patches at four scales: scale 1 shows single textons (near
uniform colour), scale 2 parts of leaves, scales 3 and 4 texture with no distinct features. The
ivy photo is not available offline, so the book cuts scikit-image's CC0 ``brick`` photo (the
bundled texture whose scale-2 patches fall into the most distinct groups, measured by
:func:`texton_distinctness`); any photo works through ``texture="path/to/photo.jpg"``
(:mod:`ebmbook.data.patches`). All patches are resized to the nets' 16x16.

* **Textons (Fig 5.10, Table 5.1)**: the Co-Op pair ``coop_texton`` (1000 scale-2 patches,
  4-D latent space) is mapped with the digits' unsupervised rules
  (:func:`ebmbook.landscape.mapping.tune_and_map`: T by energy drift, alpha by leakage), then
  mapped again at ``strong_factor`` times that alpha
  (:meth:`ebmbook.landscape.mapping.EnergyMap.remap`). A basin of the weak map *reappears* in
  the strong one when the two maps' basins correspond both ways (:func:`match_basins`).
* **Four scales (Fig 5.11, Table 5.2)**: the pair ``coop_scales`` (1000 patches of each scale,
  8-D latent space), one map. Each basin is labelled by the scale a judge reads in its members'
  images (logistic regression on pixels, fitted on held-out patches of known scale).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from .._config import (check_int, neutral_field, require_choice, require_folder, require_int,
                       require_positive, runtime_field)
from .._timing import timed
from ..artifacts import Artifact, load_or_train
from ..data.images import PATCH_DATASETS
from ..data.patches import PATCH_SIZES, multiscale_patches, photo
from ..diagnostics.clustering import Judge, fit_judge, read_shares
from ..landscape.mapping import EnergyMap, MapSettings, basin_of
from ..parallel import child, seed_sequence
from ..registry import MODEL_SIZES, model_spec
from ..results import Metric
from ._base import ExperimentConfig
from ._common import (generator_shares, judge_of_size, map_checkpoint,
                      map_coop_pair as map_pair, progress_bar, read_basins as read)

if TYPE_CHECKING:
    from ..landscape.dgraph import DisconnectivityGraph

BUNDLED = tuple(d.removesuffix("_patches") for d in PATCH_DATASETS)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    texture: str = "brick"           # a bundled texture (brick, grass, gravel) or an image file
    model_size: str = "cpu"          # which size of the Co-Op artifacts (cpu: committed)
    # the four-scale pair: the 16x16 coop_scales, or coop_scales_32 (32x32 patches, the stable
    # 28x28 recipe; the scale judge is fitted at the pair's own size)
    scales_model: str = neutral_field("coop_scales")
    texton: MapSettings = field(default_factory=lambda: MapSettings(adelm_iter=30))
    scales: MapSettings = field(default_factory=lambda: MapSettings(
        adelm_iter=40, delta=0.5, barrier_alpha_factors=(1.0, 3.0)))
    strong_factor: float = 3.0       # the second texton map's alpha, relative to the tuned one
    distinctness_k: int = 5          # KMeans clusters of the texton-distinctness score
    distinctness_patches: int = 600
    members_shown: int = 3
    progress: bool = True
    map_checkpoint: str = runtime_field("")   # a folder for the maps' checkpoints ("": none)

    # sizes whose maps are in artifacts/maps
    COMMITTED_MAP_SIZES: ClassVar = ("ci", "thesis")
    SIZES: ClassVar = {
        # the ci four-scale map's first T grid (the default) picked 0.01, its coldest; a grid
        # from 0.003 picked 0.003 (no T met the rule; 0.36 barrier scales there) and alpha = 30,
        # the top of the alpha grid; from 0.0003 and to alpha = 100, T = 0.001 (the rule met)
        # and alpha = 100 (leakage 0.6). On this grid alpha = 1000 is the pick, the top again:
        # at T = 0.001 AD joins almost nothing, and the leakage stays at most 0.6 from 0.3 to
        # 1000, so the rule takes whatever the grid's top is and no wider grid brackets it
        "ci": {"scales": MapSettings(adelm_iter=40, delta=0.5, barrier_alpha_factors=(1.0, 3.0),
                                     drift_temperatures=(0.0003, 0.001, 0.003, 0.01, 0.03, 0.1,
                                                         0.3, 1.0),
                                     tune_alphas=(0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0,
                                                  1000.0))},
        # the maps at thesis length (issue 24): 500 ADELM iterations after 10 tuning iterations
        # per alpha, the drift measured above the chains' running minimum. The texton map keeps
        # the ci grids (both ci picks were interior) on the 16x16 coop_texton; the four-scale
        # map is of the 32x32 pair coop_scales_32, with AD in bf16 (as the 28x28 MNIST map,
        # where fp32 gave the same alpha sweep), a T grid reaching below the first ci map's pick
        # (0.01, the default grid's coldest) and an alpha grid finer than the default one and
        # reaching past it both ways
        "thesis": {"texton": MapSettings(adelm_iter=500, tune_iter=10,
                                         drift_reference="running"),
                   "scales_model": "coop_scales_32", "scales": MapSettings(
                       adelm_iter=500, tune_iter=10, delta=0.5, drift_reference="running",
                       ad_precision="bf16", barrier_alpha_factors=(1.0, 3.0),
                       drift_temperatures=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
                       tune_alphas=(0.3, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0, 100.0))},
        "paper": {"model_size": "paper", "distinctness_patches": 1000,
                  "texton": MapSettings.paper(1000),
                  "scales": MapSettings.paper(5000, delta=0.5)},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self, "model_size", MODEL_SIZES)
        require_choice(self, "scales_model", ("coop_scales", "coop_scales_32"))
        if not isinstance(self.texture, str) or not self.texture:
            raise ValueError(f"config field 'texture' = {self.texture!r} is invalid: it must be "
                             f"one of {', '.join(BUNDLED)} or the path of an image file")
        require_positive(self, "strong_factor")
        require_int(self, "distinctness_k", minimum=2)
        require_int(self, "distinctness_patches", minimum=10)
        require_int(self, "members_shown", minimum=0)
        require_folder(self, "map_checkpoint")
        for name in ("texton", "scales"):
            if not isinstance(getattr(self, name), MapSettings):
                raise ValueError(f"config field {name!r} must be a MapSettings")


def dataset_of(texture: str) -> str:
    """The data set name of a texture's patches: ``<name>_patches`` for a bundled one,
    ``patches:<path>`` for an image file."""
    return f"{texture}_patches" if texture in BUNDLED else f"patches:{texture}"


def load_texture_pair(name: str, texture: str, size: str, device: str = "cpu",
                      progress: bool = False) -> Artifact:
    """The Co-Op pair ``name`` (``coop_texton``, ``coop_scales``, ``coop_scales_32``) of a
    texture: the committed artifact for the registry's texture at ``cpu`` size; for another
    texture or size the same recipe on its patches, trained into ``_build/artifacts`` on first
    use."""
    spec = model_spec(name, size)
    data = dataset_of(texture)
    if spec.dataset != data:
        spec = dataclasses.replace(spec, dataset=data)
    return load_or_train(name, spec, device=device, progress=progress)


#: the largest sd of the pixel noise the scale judge is trained to see through (see
#: :func:`fit_scale_judge`)
SCALE_JUDGE_NOISE = 0.1


def fit_scale_judge(art: Artifact, noise: float = SCALE_JUDGE_NOISE, seed: int = 0) -> Judge:
    """A judge of patch scale: logistic regression on the spatial-frequency content
    (:func:`~ebmbook.diagnostics.clustering.spectrum_features`; on raw pixels a linear judge
    reads scale barely better than chance) of the held-out patches of every scale (the ``test``
    split, never seen in training), its accuracy measured on the clean training patches.

    The patches are cut from a downsampled photo and hold almost no power at the highest
    frequencies, so a judge fitted on them alone reads any faint pixel noise as fine structure:
    flat patches plus N(0, 0.01^2) noise read as scale 2 every time, and so did the Co-Op
    generators' samples, whatever their shape (``TRAINING_NOTES.md``). With ``noise > 0`` the
    judge is fitted on the clean patches and a copy of them with Gaussian noise of an sd drawn
    uniformly from [0, noise] per patch (seeded by ``seed``), so that it reads scale from
    structure rather than from noise; ``noise=0`` fits the clean patches only."""
    if noise < 0:
        raise ValueError(f"noise = {noise!r} is invalid: it must be >= 0 (an sd)")
    spec = dataclasses.replace(art.spec, classes=None)
    tr, te = spec.load_labelled("test"), spec.load_labelled("train")
    X, y = tr.images, np.asarray(tr.labels)
    if noise > 0:
        g = torch.Generator().manual_seed(seed)
        sd = noise * torch.rand((len(X),) + (1,) * (X.dim() - 1), generator=g, dtype=X.dtype)
        X = torch.cat([X, X + sd * torch.randn(X.shape, generator=g, dtype=X.dtype)])
        y = np.concatenate([y, y])
    return fit_judge(X, y, te.images, te.labels, features="spectrum")


@dataclass
class Distinctness:
    """How distinctly a texture's patches group, per texture and scale (silhouette of KMeans
    on the pixels of the patches; higher: more distinct groups)."""

    textures: tuple
    scales: tuple
    silhouette: np.ndarray          # (textures, scales)


def texton_distinctness(textures=BUNDLED, *, k: int = 5, n: int = 600, size: int = 16,
                        seed: int = 0) -> Distinctness:
    """The silhouette score of KMeans (``k`` clusters) on ``n`` patches of each scale of each
    texture: how clearly the patches fall into groups. It picks the texture whose scale-2
    patches show the most distinct textons."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    S = np.zeros((len(textures), len(PATCH_SIZES)))
    for i, t in enumerate(textures):
        u, lab = multiscale_patches(t, size, n_per_scale=n, seed=seed)
        for j in range(len(PATCH_SIZES)):
            X = u[lab == j + 1].reshape(n, -1)
            km = KMeans(k, n_init=3, random_state=seed).fit(X)
            S[i, j] = silhouette_score(X, km.labels_, random_state=seed)
    return Distinctness(textures=tuple(textures), scales=tuple(range(1, len(PATCH_SIZES) + 1)),
                        silhouette=S)




def match_basins(a: EnergyMap, b: EnergyMap) -> list[tuple[int, int]]:
    """Basins that correspond between two maps of one landscape: pairs (i, j) such that the
    representative of ``a``'s basin i descends into ``b``'s basin j and ``b``'s representative
    j descends into ``a``'s basin i (:func:`ebmbook.landscape.mapping.basin_of`)."""
    ab = basin_of(b, a.adelm.reps.detach())
    ba = basin_of(a, b.adelm.reps.detach())
    return [(i, int(j)) for i, j in enumerate(ab) if ba[j] == i]


@dataclass
class ScaleSummary:
    """Per scale: the basins read as it, their mode energies and their substructure."""

    basins: np.ndarray              # (4,) basins whose majority reading is scale k
    mode_energy: np.ndarray         # (4,) mean energy of the modes read as scale k
    substructure: np.ndarray        # (4,) see :func:`scale_summary`


def scale_summary(m: EnergyMap, n_scales: int = len(PATCH_SIZES), *,
                  dg: DisconnectivityGraph | None = None) -> ScaleSummary:
    """Basins per scale (the judge's majority reading of a basin's members), the mean energy
    of the modes read as each scale, and each scale's substructure: the largest DG merge height
    among its basins above the lowest of them, over the sd of its modes' energies (0 for a
    scale with one basin, nan with none). ``dg``: the DG to read the merges from, in the units
    of the modes' energies (default ``m.dg``)."""
    res = m.adelm
    e = np.asarray(res.energies, dtype=np.float64)
    dg = m.dg if dg is None else dg
    C = dg.cophenetic()
    lab = m.basin_label
    basins, energy, sub = np.zeros(n_scales, int), np.full(n_scales, np.nan), np.full(n_scales,
                                                                                    np.nan)
    for k in range(1, n_scales + 1):
        S = np.flatnonzero(lab == k)
        basins[k - 1] = S.size
        modes = m.reads == k
        if modes.any():
            energy[k - 1] = float(e[modes].mean())
        if S.size == 1:
            sub[k - 1] = 0.0
        elif S.size > 1:
            inner = C[np.ix_(S, S)][np.triu_indices(S.size, 1)]
            inner = inner[np.isfinite(inner)]
            low = float(np.min(dg.leaf_energy[S]))
            members = np.isin(res.labels, S)
            sd = float(np.std(e[members])) or 1.0
            sub[k - 1] = (float(inner.max()) - low) / sd if inner.size else float("inf")
    return ScaleSummary(basins=basins, mode_energy=energy, substructure=sub)


def image_scale_summary(m: EnergyMap, spread) -> ScaleSummary:
    """:func:`scale_summary` of an image-space map of a four-scale descriptor
    (:mod:`ebmbook.experiments.image_map` at size ``scales``), whose barriers and DG read in
    data-energy sds (``spread``, an :class:`~ebmbook.experiments.image_map.Spread`) while its
    mode energies are U: the barriers are taken back to U first, so that every quantity of the
    summary is in the energy's own units (the substructure, a ratio of U differences, is then
    the same whatever spread the map was read in)."""
    from ..landscape.dgraph import disconnectivity_graph
    raw = np.asarray(m.barriers, dtype=np.float64) * spread.sd + spread.mean
    return scale_summary(m, dg=disconnectivity_graph(raw, counts=m.counts))   # the DG in U


def image_scale_metrics(r, n_scales: int = len(PATCH_SIZES)) -> dict[str, Metric]:
    """The numbers of an image-space map of a four-scale descriptor (an
    :class:`ebmbook.experiments.image_map.Result` with the scale judge): the map's own
    (prefixed ``scales_image_``) and, per scale k, ``image_basins_scale<k>``,
    ``image_mode_energy_scale<k>`` (data-energy sds above the held-out patches' mean),
    ``image_substructure_scale<k>``, and ``image_lowest_energy_scale``."""
    s = image_scale_summary(r.map, r.spread)
    z = r.spread.z(s.mode_energy)
    out = dict(r.metrics())
    for k in range(1, n_scales + 1):
        out[f"image_basins_scale{k}"] = Metric(int(s.basins[k - 1]), "basins of the image-space "
                                               f"map the judge reads as scale {k}")
        out[f"image_mode_energy_scale{k}"] = Metric(float(z[k - 1]), "mean energy of its modes "
                                                    f"read as scale {k} (held-out sds)")
        out[f"image_substructure_scale{k}"] = Metric(
            float(s.substructure[k - 1]), f"scale {k}: largest merge among its basins above the "
            "lowest, over its modes' energy sd")
    out["image_lowest_energy_scale"] = Metric(int(np.nanargmin(z)) + 1 if np.isfinite(z).any()
                                              else -1, "the scale whose modes have the lowest "
                                              "mean energy on the image-space map")
    return out


def generator_coverage(art: Artifact, judge: Judge, n: int = 1000, seed: int = 0,
                       n_scales: int = len(PATCH_SIZES)) -> np.ndarray:
    """The share of generator samples g(z), z ~ N(0, I), that the judge reads as each scale
    (the training data hold each scale in equal shares): what the pair can propose at all."""
    return generator_shares(art, judge, range(1, n_scales + 1), n=n, seed=seed)


@dataclass
class LongRunScales:
    """What a four-scale descriptor's own Langevin chains do with the scales (issue 24): a
    convergent descriptor's long-run chains stay on patches, so where they go says which scales
    its steady state holds (the Co-Op descriptors' long runs leave the patches altogether).

    steps:        Langevin steps of each chain (the model's eps and tau)
    kept:         per scale (1-4), the share of chains started on held-out patches of that
                  scale that the judge still reads as that scale after ``steps``
    end_shares:   the judge's shares of scales 1-4 over all those chains' end states
    bank_shares:  the judge's shares of scales 1-4 over the artifact's stored persistent-bank
                  states, the steady state the training chains reached (None without a bank)
    energy_z:     the end states' mean energy, in sds of the held-out patches' energies from
                  their mean
    pixel_range:  (min, max) pixel of the end states (the patches lie in [-1, 1])
    starts, ends: the chains' first and last states, ``n_per_scale`` of each scale in turn
    scale:        the scale of each chain's start
    """

    steps: int
    kept: np.ndarray
    end_shares: np.ndarray
    bank_shares: np.ndarray | None
    energy_z: float
    pixel_range: tuple[float, float]
    starts: torch.Tensor
    ends: torch.Tensor
    scale: np.ndarray


def descriptor_long_run(art: Artifact, judge: Judge, *, n_per_scale: int = 50,
                        steps: int = 1000, seed: int = 0,
                        n_scales: int = len(PATCH_SIZES)) -> LongRunScales:
    """Run ``n_per_scale`` chains from held-out patches of each scale (the first of each in
    the ``test`` split) for ``steps`` Langevin steps of ``art``'s own sampler (a DeepFRAME
    descriptor, e.g. ``brick_convergent``; seeded by ``seed``) and read where they end with
    ``judge`` (:func:`fit_scale_judge`): :class:`LongRunScales`."""
    n_per_scale, steps = check_int("n_per_scale", n_per_scale, 1), check_int("steps", steps, 1)
    if art.model is None or art.generator is not None:
        raise ValueError(f"artifact {art.name} is not a DeepFRAME descriptor with its own "
                         "sampler (a Co-Op pair's descriptor is mapped through its generator)")
    spec = dataclasses.replace(art.spec, classes=None)
    held = spec.load_labelled("test")
    labels = np.asarray(held.labels)
    scales = np.arange(1, n_scales + 1)
    idx = []
    for k in scales:
        have = np.flatnonzero(labels == k)
        if len(have) < n_per_scale:
            raise ValueError(f"only {len(have)} held-out patches of scale {k}, fewer than "
                             f"n_per_scale = {n_per_scale}")
        idx.append(have[:n_per_scale])
    idx = np.concatenate(idx)
    x0, y0 = held.images[idx], labels[idx]
    g = torch.Generator().manual_seed(int(seed))
    x = art.model.long_run(x0, steps, generator=g).x.detach().cpu()
    reads = judge.predict(x)
    e_data = art.model.energies(held.images).numpy()
    e_end = art.model.energies(x).numpy()
    bank = art.extras.get("bank")
    return LongRunScales(
        steps=int(steps), kept=np.array([float(np.mean(reads[y0 == k] == k)) for k in scales]),
        end_shares=read_shares(reads, scales),
        bank_shares=None if bank is None else read_shares(judge.predict(bank.cpu()), scales),
        energy_z=float((e_end.mean() - e_data.mean()) / (e_data.std() or 1.0)),
        pixel_range=(float(x.min()), float(x.max())), starts=x0, ends=x, scale=y0)


def texton_metrics(weak: EnergyMap, strong: EnergyMap, matches: list) -> dict[str, Metric]:
    """The numbers of the texton maps (Fig 5.10): the weak (tuned alpha) and strong maps of
    :func:`texton_maps` and the basins that reappear."""
    return {
        "texton_basins_weak_alpha": Metric(int(weak.n_basins),
                                           "basins of the texton map at the tuned alpha"),
        "texton_basins_strong_alpha": Metric(int(strong.n_basins),
                                             "basins of the texton map at the stronger alpha"),
        "texton_weak_alpha": Metric(weak.alpha, "the tuned alpha (leakage rule)"),
        "texton_strong_alpha": Metric(strong.alpha, "the stronger alpha"),
        "texton_temperature": Metric(weak.temperature, "T of the texton map (drift rule; "
                                     "data-energy sds)"),
        "texton_basins_reappearing": Metric(len(matches), "basins of the weak-alpha map that "
                                            "reappear in the strong-alpha map"),
        "adelm_iterations_texton": Metric(weak.n_iterations, "ADELM iterations of the texton "
                                          "map"),
    }


@dataclass
class Result:
    config: Config
    photo: np.ndarray
    distinctness: Distinctness
    judge: Judge
    texton_weak: EnergyMap
    texton_strong: EnergyMap
    matches: list
    scales: EnergyMap
    summary: ScaleSummary
    timings: dict
    coverage: np.ndarray = None     # share of generator samples read as each scale
    # the judge of the texton maps (``judge`` is the four-scale pair's; they differ when the
    # two pairs' image sizes do)
    texton_judge: Judge | None = None

    def metrics(self) -> dict[str, Metric]:
        d, s = self.distinctness, self.summary
        chosen = d.textures.index(self.config.texture) if self.config.texture in d.textures \
            else None
        out = {
            "texture_silhouette_scale2": Metric(
                float(d.silhouette[chosen, 1]) if chosen is not None else float("nan"),
                "silhouette of KMeans on the chosen texture's scale-2 patches"),
            "texture_most_distinct": Metric(
                int(chosen is not None and np.argmax(d.silhouette[:, 1]) == chosen),
                "1 if the chosen texture's scale-2 patches group most distinctly of the bundled "
                "textures"),
            "scale_judge_accuracy": Metric(self.judge.accuracy, "the scale judge's accuracy on "
                                           "patches it was not fitted on"),
            **texton_metrics(self.texton_weak, self.texton_strong, self.matches),
            "scales_basins": Metric(int(self.scales.n_basins), "basins of the four-scale map"),
            "adelm_iterations_scales": Metric(self.scales.n_iterations, "ADELM iterations of "
                                              "the four-scale map"),
            "scales_temperature": Metric(self.scales.temperature, "T of the four-scale map"),
            "scales_alpha": Metric(self.scales.alpha, "alpha of the four-scale map"),
        }
        for k in range(1, len(s.basins) + 1):
            out[f"basins_scale{k}"] = Metric(int(s.basins[k - 1]),
                                             f"basins the judge reads as scale {k}")
            out[f"mode_energy_scale{k}"] = Metric(float(s.mode_energy[k - 1]),
                                                  f"mean energy of the modes read as scale {k}")
            out[f"substructure_scale{k}"] = Metric(
                float(s.substructure[k - 1]), f"scale {k}: largest merge among its basins above "
                "the lowest, over its modes' energy sd")
        cov = self.coverage if self.coverage is not None else np.full(len(s.basins), np.nan)
        for k in range(1, len(cov) + 1):
            out[f"generator_share_scale{k}"] = Metric(
                float(cov[k - 1]), f"share of the four-scale generator's samples read as scale "
                f"{k} (data: {1 / len(cov):.2f})")
        out["lowest_energy_scale"] = Metric(int(np.nanargmin(s.mode_energy)) + 1
                                            if np.isfinite(s.mode_energy).any() else -1,
                                            "the scale whose modes have the lowest mean energy")
        return out


def texton_maps(config: Config, tex: Artifact | None = None, judge: Judge | None = None):
    """The texton maps of ``config`` alone (Fig 5.10; loaded from its map folder when finished
    there): the weak map (tuned alpha), the strong one (``strong_factor`` times it) and the
    basins that reappear. Read by ``judge`` if it was fitted at the texton pair's image size,
    else by a scale judge of that size. Returns (weak, strong, matches, judge)."""
    root = seed_sequence(config.seed)
    if tex is None:
        tex = load_texture_pair("coop_texton", config.texture, config.model_size, config.device,
                                config.progress)
    judge = judge_of_size(judge, tex, fit_scale_judge)
    weak = map_pair("textons", tex, config.texton, judge, seed=child(root, 0),
                    progress=config.progress, checkpoint=map_checkpoint(config, "textons"))
    strong = read(weak.remap(weak.alpha * config.strong_factor, seed=child(root, 1),
                             progress=config.progress,
                             checkpoint=map_checkpoint(config, "textons_strong")), judge)
    return weak, strong, match_basins(weak, strong), judge


def texton_maps_finished(config: Config) -> bool:
    """Whether both texton maps of ``config`` (weak and strong) have all their ADELM iterations
    saved in its map folder, so that :func:`texton_maps` loads them (a long run's four-scale map
    may still be unfinished)."""
    from ..landscape.adelm import checkpoint_iterations
    # without a map folder map_checkpoint is None, which holds no iterations
    return all(checkpoint_iterations(map_checkpoint(config, name)) >= config.texton.adelm_iter
               for name in ("textons", "textons_strong"))


def run(config: Config) -> Result:
    timings: dict[str, float] = {}
    bar = progress_bar(config.progress, total=3, desc="texture maps")
    root = seed_sequence(config.seed)
    with timed(timings, "distinctness"):
        u = photo(config.texture)
        dist = texton_distinctness(tuple(dict.fromkeys(BUNDLED + (config.texture,))),
                                   k=config.distinctness_k, n=config.distinctness_patches,
                                   seed=config.seed)
    with timed(timings, "load_and_judge"):
        tex = load_texture_pair("coop_texton", config.texture, config.model_size, config.device,
                                config.progress)
        sca = load_texture_pair(config.scales_model, config.texture, config.model_size,
                                config.device, config.progress)
        # the scale judge at the four-scale pair's image size (the texton pair's may differ)
        judge = fit_scale_judge(sca)
    bar.update()
    with timed(timings, "textons"):
        weak, strong, matches, texton_judge = texton_maps(config, tex, judge)
    bar.update()
    with timed(timings, "scales"):
        scales = map_pair("four scales", sca, config.scales, judge, seed=child(root, 2),
                          progress=config.progress, checkpoint=map_checkpoint(config, "scales"))
        summary = scale_summary(scales)
        coverage = generator_coverage(sca, judge, seed=config.seed)
    bar.update()
    bar.close()
    return Result(config=config, photo=u, distinctness=dist, judge=judge, texton_weak=weak,
                  texton_strong=strong, matches=matches, scales=scales, summary=summary,
                  timings=timings, coverage=coverage, texton_judge=texton_judge)
