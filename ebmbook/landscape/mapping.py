"""Map any energy: :func:`map_energy` gives an :class:`EnergyMap` (thesis Sec 5.1, Algorithm 3).

An energy is any callable (or ``nn.Module``) mapping a batch ``(n, ...)`` to energies ``(n,)``,
or a trained-model object that carries its own Langevin step (an
:class:`~ebmbook.sampling.model.EnergyModel`, or an artifact holding one as ``.model``). Its map
is one pipeline of the landscape layer:

1. **ADELM** (Algorithm 3, :func:`~ebmbook.landscape.adelm.adelm`): each iteration proposes a
   state, descends to its local mode and runs Attraction-Diffusion (eq. 4.6) between the mode
   and every basin representative at temperature T and magnetisation alpha;
2. **barriers**: AD between every pair of representatives on a ladder of alphas just above the
   tuned one (:func:`~ebmbook.landscape.barriers.ad_barrier_matrix`, Sec 5.1.1);
3. the **disconnectivity graph** of that barrier matrix
   (:func:`~ebmbook.landscape.dgraph.disconnectivity_graph`, Algorithm 2).

T and alpha are chosen without labels by the rules of Sec 5.1.2 (:func:`tune_temperature`: the
warmest T of a grid whose unmagnetised chains drift less than a fraction of a typical barrier;
:func:`tune_alpha`: the strongest alpha of a grid at which AD from a new mode reaches at most
one representative while more than one basin is found); :func:`tune_and_map` runs both and then
the map, from one :class:`MapSettings`.

Proposals are a tensor of starting states (each ADELM iteration starts from a row drawn at
random) or a callable ``(n, generator) -> states``: :class:`GaussianProposals` (``z ~ N(0, I)``,
for latent spaces) and :class:`ChainProposals` (states carried along a model's own Langevin
chain) are two.

Seeds
-----
Every random draw comes from ``seed`` (see :mod:`ebmbook.parallel`): with ``root =
seed_sequence(seed)``, the T rule draws from ``child(root, 0)`` (proposals), ``child(root, 1)``
(pairs) and ``child(root, 2)`` (chains), the alpha rule from ``child(root, 3)``, ADELM from
``child(root, 4)`` and the barrier matrix from ``child(root, 5)``. So :func:`map_energy` at the
tuned T and alpha with the same seed gives the map :func:`tune_and_map` gave. Each stage cuts its
AD trials into tasks of ``chunk_size`` chains on the ``executor`` (None: in-process, or e.g.
``"process:4"``, ``"dask:tcp://host:8786"``); the map depends on the seed and the chunk size,
never on the executor.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from .._config import neutral_field, require_choice, require_int, require_positive
from .._timing import timed
from ..parallel import child, seed_sequence, torch_generator
from ..sampling.descent import local_modes
from .ad import attraction_diffusion
from ._digest import _digest, _tensor_digest, energy_fingerprint
from .adelm import ADELMResult, ContinuousBackend, adelm
from .barriers import ad_barrier_matrix, linear_barrier
from .dgraph import DisconnectivityGraph, disconnectivity_graph
from .tuning import (DRIFT_REFERENCES, alpha_sweep, continuous_energy_drift, drift_rise,
                     drift_rule_met, drift_temperature, leakage_alpha, typical_barrier)

__all__ = ["map_energy", "EnergyMap", "MapSettings", "tune_and_map", "tune_temperature",
           "tune_alpha", "TemperatureTuning", "AlphaTuning", "basin_of", "compare_barriers",
           "BarrierComparison", "GaussianProposals", "ChainProposals", "MapStages", "StageProgress",
           "seed_key"]


# ----------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class MapSettings:
    """The settings of one map: the AD sampler, the local mode search, the label-free tuning
    of T and alpha (:func:`tune_and_map`), ADELM and the barrier ladder.

    ad_eps:               Langevin step of AD, in the units of the states
    delta:                AD success: within this L2 distance of the target
    improvement_limit:    AD failure: this many steps without getting closer
    max_steps:            AD failure: this many steps in all
    descent_rate:         gradient-descent rate of the local mode search
    descent_steps:        its number of steps (0: a proposal is its own mode)
    drift_temperatures:   the T grid of the drift rule (increasing)
    drift_modes:          local modes whose unmagnetised chains the drift rule runs
    drift_steps:          length of those chains
    drift_fraction:       the rule: drift at most this fraction of the typical barrier
    drift_reference:      what the drift is measured above: "lowest", the lowest energy of
                          the chain's run, or "running", the lowest so far, which does not
                          count a chain's continued descent as drift
                          (:func:`~ebmbook.landscape.tuning.drift_rise`)
    tune_alphas:          the alpha grid of the leakage rule (increasing)
    tune_iter:            ADELM iterations at each alpha of the grid
    leakage_limit:        the rule: at most this many representatives reached per new mode
    adelm_iter:           ADELM iterations of the map
    barrier_alpha_factors: the barrier ladder, in multiples of the map's alpha (increasing)
    barrier_repeats:      AD trials per direction, pair and alpha of the ladder
    chunk_size:           AD trials per task (one tensor of chains)
    ad_precision:         the arithmetic of U and grad U in AD, "fp32" or "bf16" (see
                          :func:`~ebmbook.landscape.ad.attraction_diffusion`: barriers are
                          float32 energies either way)
    """

    ad_eps: float = 0.1
    delta: float = 0.3
    improvement_limit: int = 50
    max_steps: int = 400
    descent_rate: float = 0.3
    descent_steps: int = 200
    drift_temperatures: tuple = (0.01, 0.03, 0.1, 0.3, 1.0)
    drift_modes: int = 8
    drift_steps: int = 200
    drift_fraction: float = 0.25
    tune_alphas: tuple = (0.3, 1.0, 3.0, 10.0, 30.0)
    tune_iter: int = 6
    leakage_limit: float = 1.0
    adelm_iter: int = 30
    barrier_alpha_factors: tuple = (1.0, 2.0, 4.0)
    barrier_repeats: int = 1
    chunk_size: int = 256
    ad_precision: str = neutral_field("fp32")
    drift_reference: str = neutral_field("lowest")

    #: the grids and the least number of points each needs
    _GRIDS: ClassVar[dict] = {"drift_temperatures": 2, "tune_alphas": 2,
                              "barrier_alpha_factors": 1}

    def __post_init__(self):
        require_positive(self, "ad_eps", "delta", "descent_rate", "drift_fraction")
        require_int(self, "improvement_limit", "max_steps", "drift_modes", "drift_steps",
                    "tune_iter", "adelm_iter", "barrier_repeats", "chunk_size")
        require_int(self, "descent_steps", minimum=0)
        require_choice(self, "ad_precision", ("fp32", "bf16"))
        require_choice(self, "drift_reference", DRIFT_REFERENCES)
        for name, least in self._GRIDS.items():
            v = getattr(self, name)
            if len(v) < least or any(not a > 0 for a in v) or list(v) != sorted(v):
                raise ValueError(f"config field {name!r} = {v!r} is invalid: it must be an "
                                 f"increasing sequence of at least {_count(least)} positive "
                                 "number" + ("s" if least > 1 else ""))

    @classmethod
    def paper(cls, adelm_iter: int, **overrides) -> "MapSettings":
        """The thesis's scale of a map: ``adelm_iter`` ADELM iterations (the thesis ran
        1000-5000), 100 tuning iterations per alpha, long descents and chains, and five AD
        repeats per barrier on a finer ladder."""
        return cls(**{**dict(adelm_iter=adelm_iter, tune_iter=100, drift_modes=32,
                             drift_steps=1000, max_steps=5000, descent_steps=2000,
                             barrier_alpha_factors=(1.0, 1.5, 2.25, 3.4, 5.0),
                             barrier_repeats=5), **overrides})

    def ad_options(self) -> dict:
        """The AD and mode-search keywords shared by :func:`map_energy` and :func:`tune_alpha`."""
        out = dict(delta=self.delta, improvement_limit=self.improvement_limit,
                   max_steps=self.max_steps, descent_rate=self.descent_rate,
                   descent_steps=self.descent_steps, chunk_size=self.chunk_size)
        if self.ad_precision != "fp32":    # fp32 maps keep their stage keys
            out["precision"] = self.ad_precision
        return out

    def map_options(self) -> dict:
        """The keywords of :func:`map_energy` besides the energy, proposals, T, alpha and seed."""
        return dict(eps=self.ad_eps, n_iterations=self.adelm_iter,
                    barrier_factors=self.barrier_alpha_factors,
                    barrier_repeats=self.barrier_repeats, **self.ad_options())

    def temperature_options(self) -> dict:
        """The keywords of :func:`tune_temperature` besides the energy, proposals and seed."""
        out = dict(temperatures=self.drift_temperatures, eps=self.ad_eps,
                   n_modes=self.drift_modes, n_steps=self.drift_steps,
                   fraction=self.drift_fraction, descent_rate=self.descent_rate,
                   descent_steps=self.descent_steps)
        if self.drift_reference != "lowest":    # maps tuned with "lowest" keep their stage keys
            out["reference"] = self.drift_reference
        return out

    def alpha_options(self) -> dict:
        """The keywords of :func:`tune_alpha` besides the energy, proposals, T and seed."""
        return dict(alphas=self.tune_alphas, eps=self.ad_eps, n_iterations=self.tune_iter,
                    limit=self.leakage_limit, **self.ad_options())


def _count(n: int) -> str:
    return {1: "one", 2: "two"}.get(n, str(n))


_D = MapSettings()


# ----------------------------------------------------------------------------- inputs

def _energy_and_eps(energy, eps):
    """(U, eps) from a plain energy and an explicit step, or from a trained-model object (an
    object with a callable ``energy`` and an ``eps``, or an artifact holding one as ``model``),
    whose own eps is used unless ``eps`` is given."""
    model = energy
    if not callable(model) and getattr(model, "eps", None) is None:
        model = getattr(model, "model", None)
    if model is not None and not callable(model) and callable(getattr(model, "energy", None)) \
            and getattr(model, "eps", None) is not None:
        return model.energy, float(model.eps if eps is None else eps)
    if not callable(energy):
        raise TypeError("energy must be a callable mapping a batch (n, ...) to (n,), or a "
                        "trained model with its own eps (an EnergyModel, or an artifact holding "
                        f"one as .model); got {type(energy).__name__}")
    if eps is None:
        raise ValueError("eps (the Langevin step of AD) is needed for a plain energy; only a "
                         "trained model carries its own")
    return energy, float(eps)


class GaussianProposals:
    """Proposals ``z ~ N(0, I)`` of shape ``(n, *shape)`` (e.g. a generator's latent space);
    picklable, so that tuning sweeps can run them on a process pool."""

    def __init__(self, shape):
        self.shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn((n,) + self.shape, generator=generator)

    def __repr__(self) -> str:
        return f"GaussianProposals({self.shape})"


class ChainProposals:
    """Proposals carried by a model's own sampler: ``n`` rows of ``states`` drawn at random,
    each moved ``n_steps`` steps of ``model.long_run`` (its eps and noise: for a model trained
    with noise, the training temperature). Each call appends the row indices it drew to
    ``drawn`` (in the calling process), so a map can be read against the starting states."""

    def __init__(self, model, states: torch.Tensor, n_steps: int):
        self.model, self.states, self.n_steps = model, states, int(n_steps)
        self.drawn: list[int] = []

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.states), (n,), generator=generator)
        self.drawn.extend(int(i) for i in idx)
        return self.model.long_run(self.states[idx], self.n_steps, generator=generator).x

    def rows_for(self, seeds) -> np.ndarray:
        """The row that a call for one proposal draws from the generator of each seed: the
        starts of a map's chains, ``drawn`` included, even for the iterations of a map resumed
        from its checkpoint, which this object never drew (seeds from
        :func:`~ebmbook.landscape.adelm.proposal_seed`)."""
        return np.array([int(torch.randint(len(self.states), (1,),
                                           generator=torch_generator(seed_sequence(s))))
                         for s in seeds], dtype=np.int64)


class _Rows:
    """Proposals from a tensor of starting states: ``n`` rows drawn at random."""

    def __init__(self, states: torch.Tensor):
        if states.dim() < 1 or len(states) == 0:
            raise ValueError("proposals: a tensor of starting states needs at least one row")
        self.states = states

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.states[torch.randint(len(self.states), (n,), generator=generator)]


def _as_proposals(proposals) -> Callable:
    if isinstance(proposals, torch.Tensor):
        return _Rows(proposals.detach())
    if callable(proposals):
        return proposals
    raise TypeError("proposals must be a tensor of starting states or a callable "
                    f"(n, generator) -> states; got {type(proposals).__name__}")


def _backend(energy, propose, temperature: float, alpha: float, eps: float, *, delta,
             improvement_limit, max_steps, descent_rate, descent_steps,
             chunk_size, precision: str = "fp32") -> ContinuousBackend:
    # no generator: every stage below passes its seed explicitly
    return ContinuousBackend(energy, propose, temperature=temperature, alpha=alpha, eps=eps,
                             delta=delta, improvement_limit=improvement_limit,
                             max_steps=max_steps, descent_rate=descent_rate,
                             descent_steps=descent_steps, chunk_size=chunk_size,
                             precision=precision)


# ----------------------------------------------------------------------------- finished stages

def _proposals_key(propose) -> str | None:
    """What identifies a proposal source across processes, or None (then nothing that drew
    from it is reused): a tensor's rows, a Gaussian's shape, a model chain's states, steps and
    model."""
    import hashlib
    h = hashlib.sha256()
    if isinstance(propose, _Rows):
        _tensor_digest(h, propose.states)
    elif isinstance(propose, GaussianProposals):
        h.update(repr(propose).encode())
    elif isinstance(propose, ChainProposals):
        fp = energy_fingerprint(getattr(propose.model, "energy", None))
        if fp is None:
            return None
        _tensor_digest(h, propose.states)
        h.update(f"{propose.n_steps} {fp} {getattr(propose.model, 'eps', None)} "
                 f"{getattr(propose.model, 'noise', None)}".encode())
    else:
        return None
    return h.hexdigest()[:20]


class MapStages:
    """The finished stages of one map (T rule, alpha rule, barrier matrix), kept beside its
    ADELM checkpoint in ``<checkpoint stem>.stages.pt``, so that a finished map loads instead of
    running again. Each stage is stored under a digest of everything it depends on (the
    energy's weights, the proposals, the seeds and settings); a stage whose digest differs, or
    an energy or proposal source without a stable digest, is computed anew. The file is
    written atomically after each stage."""

    def __init__(self, checkpoint, energy, propose):
        from pathlib import Path
        self.path = None if checkpoint is None else Path(checkpoint).with_suffix(".stages.pt")
        # the digests only where a file is kept (a proposal set of training images is tens of MB)
        fp = energy_fingerprint(energy) if self.path is not None else None
        self.base = None if fp is None else (fp, _proposals_key(propose))
        self.loaded: list[str] = []     # the stages read back from the file, in order

    def _digest(self, key) -> str | None:
        import hashlib
        if self.path is None or self.base is None or self.base[1] is None:
            return None
        return hashlib.sha256(repr((self.base, key)).encode()).hexdigest()

    def get(self, stage: str, key, compute: Callable, *, resumable: bool = False):
        """The stored value of ``stage`` if it was made with ``key`` (anything with a stable
        ``repr``: seeds, settings, digests), else ``compute()``, stored under ``key``.

        ``resumable``: ``compute`` takes the stage's :class:`StageProgress` (None where nothing
        is kept: no file or no stable digest), which holds the tasks an interrupted run of the
        same stage finished and keeps new ones in the file as they finish; pass it as ``store``
        to :func:`~ebmbook.landscape.barriers.ad_barrier_matrix`. Once the value is stored, the
        partial work is dropped."""
        digest = self._digest(key)
        if digest is None:
            return compute(None) if resumable else compute()
        stored = self._read()
        if stage in stored and stored[stage].get("digest") == digest:
            self.loaded.append(stage)
            return stored[stage]["value"]
        if resumable:
            entry = stored.get(stage + ":partial")
            done = entry["value"] if entry is not None and entry.get("digest") == digest else {}
            if done:
                self.loaded.append(stage + ":partial")
            value = compute(StageProgress(self.path, stored, stage + ":partial", digest, done))
        else:
            value = compute()
        stored = self._read()
        stored[stage] = {"digest": digest, "value": value}
        stored.pop(stage + ":partial", None)
        from ..io import atomic_torch_save
        atomic_torch_save(stored, self.path)
        return value

    def _read(self) -> dict:
        if not self.path.exists():
            return {}
        from ..learning.fit import read_checkpoint
        return read_checkpoint(self.path)


class StageProgress:
    """A stage's finished tasks (``done``: task index -> result), written into the stages file
    ``path`` (whose other entries, ``stored``, were read by :meth:`MapStages.get`) as they come
    in, at most every ``every`` seconds."""

    def __init__(self, path, stored: dict, entry: str, digest: str, done: dict,
                 every: float = 20.0):
        import time
        self.path, self.stored, self.entry, self.digest = path, stored, entry, digest
        self.done, self.every = dict(done), every
        self._saved = time.monotonic()

    def put(self, i: int, result) -> None:
        """Record task ``i``'s result; write the file if ``every`` seconds have passed."""
        import time
        self.done[i] = result
        if time.monotonic() - self._saved >= self.every:
            self.save()

    def save(self) -> None:
        import time
        from ..io import atomic_torch_save
        atomic_torch_save({**self.stored, self.entry: {"digest": self.digest,
                                                       "value": dict(self.done)}}, self.path)
        self._saved = time.monotonic()


def seed_key(seed) -> tuple:
    """A stable key of a seed (int, SeedSequence or generator root) for :class:`MapStages`."""
    root = seed_sequence(seed)
    return (str(root.entropy), tuple(root.spawn_key))


# ----------------------------------------------------------------------------- the map

def _label_pair_medians(M: np.ndarray) -> Callable[[np.ndarray], tuple[float, float]]:
    """For a symmetric (K, K) matrix: the function of K labels that gives the median of the
    finite entries above the diagonal between equal labels and between different labels (nan
    where there is none). The pairs are found once, so that a permutation test can call it for
    every shuffle."""
    ii, jj = np.triu_indices(len(M), 1)
    h = M[ii, jj]
    f = np.isfinite(h)
    ii, jj, h = ii[f], jj[f], h[f]

    def medians(labels: np.ndarray) -> tuple[float, float]:
        same = labels[ii] == labels[jj]
        return tuple(float(np.median(h[w])) if w.any() else float("nan") for w in (same, ~same))
    return medians


@dataclass
class EnergyMap:
    """The map of an energy: ADELM's modes and basins, the barrier matrix between the basin
    representatives and its disconnectivity graph.

    adelm:      the :class:`~ebmbook.landscape.adelm.ADELMResult` (every mode, its energy and
                basin label, the representatives and their energies, the basin sizes)
    barriers:   (K, K) AD barrier matrix between the representatives (diagonal: their
                energies; ``inf`` where no AD trial connected a pair)
    dg:         the :class:`~ebmbook.landscape.dgraph.DisconnectivityGraph` of ``barriers``
    temperature, alpha: the T and alpha of the map
    energy:     U, the callable that was mapped
    settings:   the :class:`MapSettings` it was mapped with
    name:       a name for titles
    decoder:    states -> images for figures (e.g. a generator g(z)); None: states are images
    proposals:  the proposal callable (used by :meth:`remap`)
    barrier_scale, drift: the T rule's typical barrier and the energies of its chains
                (n_T, modes, steps + 1), where T was tuned
    tune_counts, tune_leakage: the alpha rule's basins and leakage over its grid, where alpha
                was tuned
    reads, basin_label, basin_share: a reading of each mode (e.g. a judge's label, given by
                the caller), each basin's majority reading and its share; None until read
    timings:    seconds per stage
    saddles, barrier_kind: after :func:`~ebmbook.landscape.saddles.refine_barriers`, the
                verified saddle state of each refined pair ``(a, b)``, ``a < b``, and each
                refined pair's kind, ``"saddle"`` or ``"ad_bound"``; None before
    refinements: after refine_barriers, each refined pair's
                :class:`~ebmbook.landscape.saddles.RefinedPath` (its band and saddle check), or
                None where no AD trial connected the pair
    """

    adelm: ADELMResult
    barriers: np.ndarray
    dg: DisconnectivityGraph
    temperature: float
    alpha: float
    energy: Callable | None = None
    settings: MapSettings | None = None
    name: str = "map"
    decoder: Callable | None = None
    proposals: Callable | None = None
    barrier_scale: float = float("nan")
    drift: np.ndarray | None = None
    tune_counts: np.ndarray | None = None
    tune_leakage: np.ndarray | None = None
    reads: np.ndarray | None = None
    basin_label: np.ndarray | None = None
    basin_share: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    saddles: dict | None = None
    barrier_kind: dict | None = None
    refinements: dict | None = None

    @classmethod
    def from_map(cls, m: "EnergyMap", **changes) -> "EnergyMap":
        """The fields of ``m`` as an instance of ``cls`` (a subclass adding fields of its own),
        with ``changes`` applied."""
        base = {f.name: getattr(m, f.name) for f in dataclasses.fields(EnergyMap)}
        return cls(**{**base, **changes})

    @property
    def n_basins(self) -> int:
        """K, the number of basins."""
        return self.adelm.n_basins

    def owned_labels(self, share: float = 0.5, classes=None) -> list[int]:
        """The labels, in order, that own a basin: one whose modes are read mostly (a share of
        at least ``share``) as that label; only labels in ``classes`` count (default: the
        classes of the map's ``artifact``, where a subclass keeps one and its spec names some:
        a ten-digit judge may read a digits 0-3 mode as another digit). [] for a map not
        read."""
        if self.reads is None or self.basin_label is None:
            return []
        owned = np.unique(np.asarray(self.basin_label)[np.asarray(self.basin_share) >= share])
        return self._in_classes(owned, classes)

    def represented_labels(self, classes=None) -> list[int]:
        """The labels, in order, that the judge reads in some basin's representative (the image
        under its DG leaf): a looser reading than :meth:`owned_labels`, counted over the same
        ``classes``. [] for a map not read."""
        if self.reads is None:
            return []
        return self._in_classes(np.unique(self.representative_reads()), classes)

    def _in_classes(self, labels: np.ndarray, classes) -> list[int]:
        """The readings ``labels`` (-1: none) that are among ``classes`` (default: the classes
        of the map's ``artifact``, where a subclass keeps one and its spec names some)."""
        if classes is None:
            art = getattr(self, "artifact", None)
            classes = None if art is None else getattr(art.spec, "classes", None)
        return [int(v) for v in labels if v >= 0 and (classes is None or v in classes)]

    def representative_reads(self) -> np.ndarray | None:
        """(K,) the reading of each basin's lowest mode, the representative whose image stands
        under the basin's DG leaf (-1 for a basin without modes; None for a map not read)."""
        if self.reads is None:
            return None
        reads, basin = np.asarray(self.reads), np.asarray(self.labels)
        energy = np.asarray(self.mode_energies, dtype=np.float64)
        out = np.full(self.n_basins, -1, dtype=np.int64)
        for b in range(self.n_basins):
            idx = np.flatnonzero(basin == b)
            if idx.size:
                out[b] = int(reads[idx[np.argmin(energy[idx])]])
        return out

    def label_basins(self, label: int) -> list[dict]:
        """The basins a label leads or represents: every basin whose modes are read most often
        as ``label`` (its ``basin_label``) or whose representative is read as it, lowest
        representative first, each with ``basin``, ``modes`` (its size in modes),
        ``representative`` (its representative's reading), ``share`` (the label's share of the
        basin's modes), ``of_label`` (the share of all the modes read as ``label`` that lie in
        this basin), and ``rival`` and ``rival_share``: the other label read most often there
        (-1 and 0.0 where there is none). [] for a map not read, or a label that leads and
        represents no basin (its modes may still lie in basins led by other labels)."""
        if self.reads is None or self.basin_label is None:
            return []
        reads, basin = np.asarray(self.reads), np.asarray(self.labels)
        rep = self.representative_reads()
        n_label = int(np.sum(reads == label))
        rows = []
        for b in np.argsort(np.asarray(self.energies, dtype=np.float64), kind="stable"):
            if self.basin_label[b] != label and rep[b] != label:
                continue
            r = reads[basin == b]
            others, counts = np.unique(r[r != label], return_counts=True)
            top = int(np.argmax(counts)) if counts.size else None
            rows.append({"basin": int(b), "modes": int(r.size), "representative": int(rep[b]),
                         "share": float(np.mean(r == label)) if r.size else float("nan"),
                         "of_label": float(np.sum(r == label) / n_label) if n_label else 0.0,
                         "rival": int(others[top]) if top is not None else -1,
                         "rival_share": float(counts[top] / r.size) if top is not None else 0.0})
        return rows

    def same_label_merge_gap(self) -> tuple[float, float]:
        """Median DG merge height (cophenetic barrier) between basins read as the same label,
        and between basins read as different labels (nan where there is no such pair)."""
        return _label_pair_medians(self.dg.cophenetic())(np.asarray(self.basin_label))

    def same_label_barrier_gap(self, n_perm: int = 2000, seed: Any = 0
                               ) -> tuple[float, float, float]:
        """The direct barriers (``barriers``: AD's, or the saddle energies that
        :func:`~ebmbook.landscape.saddles.refine_barriers` put in their place; before the DG
        replaces each by its minimax over paths) between basins read as the same label and
        between basins read as different labels: their medians over the pairs AD connected,
        and the one-sided permutation p-value of the gap (same minus different), the share of
        ``n_perm`` shuffles of the basins' labels whose gap is at most the observed one (with
        the observed one counted among them).

        The DG's merge heights (:meth:`same_label_merge_gap`) cannot tell same from different
        labels on a staircase DG, where most basins join one growing tree at their own height:
        every pair then merges at the height of the later basin, whatever the labels. The direct
        barriers keep that information. Basins without a reading (label -1) are left out;
        ``nan`` where there is no connected pair of one kind or the other."""
        lab = np.asarray(self.basin_label)
        keep = lab >= 0
        B = np.asarray(self.barriers, dtype=np.float64)[np.ix_(keep, keep)]
        lab = lab[keep]
        medians = _label_pair_medians(B)
        s, d = medians(lab)
        if not np.isfinite(s - d):
            return s, d, float("nan")
        rng = np.random.default_rng(seed_sequence(seed))
        gaps = np.array([np.subtract(*medians(rng.permutation(lab))) for _ in range(n_perm)])
        gaps = gaps[np.isfinite(gaps)]
        return s, d, float((1 + np.sum(gaps <= s - d)) / (1 + gaps.size))

    def temperature_rule_met(self) -> float:
        """1.0 if some T of the grid met the drift rule (its rise at most ``drift_fraction`` of
        the typical barrier), 0.0 if none did and the quietest T was taken; nan where T was
        given rather than tuned."""
        if self.drift is None or self.settings is None or not np.isfinite(self.barrier_scale):
            return float("nan")
        return float(drift_rule_met(self.drift, self.barrier_scale,
                                    self.settings.drift_fraction, self.settings.drift_reference))

    @property
    def n_iterations(self) -> int:
        """The ADELM iterations the map ran: one mapped mode each."""
        return int(len(self.adelm.labels))

    @property
    def representatives(self) -> torch.Tensor:
        """(K, ...) the lowest mode of each basin."""
        return self.adelm.reps

    @property
    def energies(self) -> np.ndarray:
        """(K,) the representatives' energies."""
        return self.adelm.rep_energies

    @property
    def modes(self) -> torch.Tensor:
        """(n_iterations, ...) the local mode of every ADELM iteration."""
        return self.adelm.modes

    @property
    def mode_energies(self) -> np.ndarray:
        return self.adelm.energies

    @property
    def labels(self) -> np.ndarray:
        """(n_iterations,) the basin (0..K-1) of every mapped mode."""
        return self.adelm.labels

    @property
    def counts(self) -> np.ndarray:
        """(K,) modes per basin."""
        return self.adelm.counts

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """States as images: ``decoder(x)`` without a graph, or ``x`` itself."""
        if self.decoder is None:
            return x
        with torch.no_grad():
            return self.decoder(x)

    def basin_of(self, x: torch.Tensor) -> np.ndarray:
        """The basin of each state of ``x`` (see :func:`basin_of`)."""
        return basin_of(self, x)

    def ad_path(self, a: int, b: int, *, seed: Any, n_trials: int = 4,
                every: int = 5) -> torch.Tensor | None:
        """The states (every ``every`` steps, up to its arrival, then the target) of the first
        of ``n_trials`` AD trials from representative ``a`` to ``b`` that succeeds, trying the
        barrier ladder from its weakest alpha up; ``None`` if none succeeds. The trials draw
        from one generator seeded by ``seed``."""
        s = self.settings
        reps = self.adelm.reps.detach()
        gen = torch_generator(seed_sequence(seed))
        shape = (n_trials,) + tuple(reps.shape[1:])
        for factor in s.barrier_alpha_factors:
            res = attraction_diffusion(self.energy, reps[a:a + 1].expand(shape),
                                       reps[b:b + 1].expand(shape), temperature=self.temperature,
                                       alpha=self.alpha * factor, eps=s.ad_eps, generator=gen,
                                       delta=s.delta, improvement_limit=s.improvement_limit,
                                       max_steps=s.max_steps, record_states=every)
            ok = np.flatnonzero(res.success)
            if ok.size:
                k = int(ok[0])
                n = int(np.searchsorted(res.path_steps, res.steps[k])) + 1
                return torch.cat([res.path_states[k, :n], reps[b][None]])
        return None

    def remap(self, alpha: float, *, seed: Any = 0, executor: Any = None,
              progress: bool = False, checkpoint: str | None = None) -> "EnergyMap":
        """The same landscape mapped again at another magnetisation ``alpha`` (Fig 5.10): the
        same energy, proposals, T and settings (the tuning records are kept), ADELM and the
        barriers run anew from ``seed`` (``checkpoint``: as in :func:`map_energy`). Readings
        are not carried over."""
        m = map_energy(self.energy, self.proposals, temperature=self.temperature, alpha=alpha,
                       seed=seed, executor=executor, progress=progress, name=self.name,
                       decoder=self.decoder, checkpoint=checkpoint,
                       **self.settings.map_options())
        return dataclasses.replace(m, settings=self.settings, barrier_scale=self.barrier_scale,
                                   drift=self.drift, tune_counts=self.tune_counts,
                                   tune_leakage=self.tune_leakage)


def basin_of(m, x: torch.Tensor) -> np.ndarray:
    """The basin of each state of ``x`` in map ``m``: descend to its local mode by the map's
    mode search (``m.settings.descent_rate`` / ``descent_steps``) and take the basin of the
    nearest mode the map recorded (L2)."""
    modes, _ = local_modes(m.energy, x, rate=m.settings.descent_rate,
                           n_steps=m.settings.descent_steps)
    mapped = m.adelm.modes.detach()
    modes = modes.detach()
    nearest = torch.cdist(modes.reshape(len(modes), -1),
                          mapped.reshape(len(mapped), -1)).argmin(1).cpu().numpy()
    return m.adelm.labels[nearest]


def map_energy(energy, proposals, *, temperature: float, alpha: float, eps: float | None = None,
               n_iterations: int = _D.adelm_iter, seed: Any = 0, executor: Any = None,
               delta: float = _D.delta, improvement_limit: int = _D.improvement_limit,
               max_steps: int = _D.max_steps, descent_rate: float = _D.descent_rate,
               descent_steps: int = _D.descent_steps,
               barrier_factors=_D.barrier_alpha_factors, barrier_repeats: int = _D.barrier_repeats,
               chunk_size: int = _D.chunk_size, stage_seeds: tuple | None = None,
               name: str = "map", decoder: Callable | None = None,
               checkpoint: str | None = None, progress: bool = False,
               precision: str = "fp32") -> EnergyMap:
    """Map ``energy`` at temperature T and magnetisation alpha: ADELM, the AD barrier matrix
    between its representatives and their disconnectivity graph (see the module docstring).

    energy:      a callable or ``nn.Module`` mapping ``(n, ...)`` to ``(n,)``, or a trained model
                 carrying its own eps (an EnergyModel, or an artifact with one as ``.model``)
    proposals:   a tensor of starting states (a random row per iteration) or a callable
                 ``(n, generator) -> states``; it must be picklable for a process or Dask executor
                 only where it is sent to one (tuning), the energy always
    temperature: T of AD (the magnetised density is exp(-(U/T + alpha ||x - x*||)))
    alpha:       the magnetisation; the barrier ladder is ``alpha * barrier_factors``
    eps:         the Langevin step of AD (a trained model's own if omitted)
    n_iterations: ADELM iterations (proposals)
    seed:        root of every draw: ADELM from ``child(root, 4)``, barriers ``child(root, 5)``
    executor:    where AD trial batches run (None: in-process; ``"process:N"``; ``"dask:..."``)
    delta, improvement_limit, max_steps: AD success radius (L2) and failure rules
    descent_rate, descent_steps: the local mode search (``descent_steps=0``: none)
    barrier_repeats: AD trials per direction, pair and alpha of the ladder
    chunk_size:  AD trials per task
    precision:   the arithmetic of U and grad U in AD ("fp32" or "bf16"; barriers are float32
                 energies either way, see :func:`~ebmbook.landscape.ad.attraction_diffusion`)
    stage_seeds: (ADELM seed, barrier seed) given directly instead of the children of ``seed``
                 (to keep a map inside an existing tree of seeds)
    name, decoder: a title and a states-to-images function for figures
    checkpoint:  a file where ADELM saves its state as it goes (every iteration, unless saving
                 would take over 5 % of the run) and when it is interrupted
                 (:class:`~ebmbook.landscape.adelm.MapInterrupted`); the same call resumes from
                 it and gives the uninterrupted map exactly

    Returns an :class:`EnergyMap`; its ``settings`` hold the values used.
    """
    U, eps = _energy_and_eps(energy, eps)
    propose = _as_proposals(proposals)
    s = dataclasses.replace(_D, ad_eps=eps, delta=delta, improvement_limit=improvement_limit,
                            max_steps=max_steps, descent_rate=descent_rate,
                            descent_steps=descent_steps, adelm_iter=n_iterations,
                            barrier_alpha_factors=tuple(barrier_factors),
                            barrier_repeats=barrier_repeats, chunk_size=chunk_size,
                            ad_precision=precision)
    T, alpha = float(temperature), float(alpha)
    if not (T > 0 and math.isfinite(T) and alpha >= 0 and math.isfinite(alpha)):
        raise ValueError(f"temperature must be > 0 and alpha >= 0 (both finite), got "
                         f"{temperature!r} and {alpha!r}")
    if stage_seeds is None:
        root = seed_sequence(seed)
        stage_seeds = (child(root, 4), child(root, 5))
    adelm_seed, barrier_seed = stage_seeds
    timings: dict[str, float] = {}
    be = _backend(U, propose, T, alpha, s.ad_eps, **s.ad_options())
    with timed(timings, "adelm"):
        res = adelm(be, s.adelm_iter, progress=progress, seed=adelm_seed, executor=executor,
                    checkpoint=checkpoint)
    with timed(timings, "barriers"):
        ladder = alpha * np.asarray(s.barrier_alpha_factors)
        key = (T, ladder.tolist(), s.barrier_repeats, seed_key(barrier_seed),
               repr(s.ad_options()), _digest(res.reps), _digest(res.rep_energies))
        M = MapStages(checkpoint, U, propose).get(
            "barriers", key,
            lambda store: ad_barrier_matrix(be, res.reps, res.rep_energies, ladder,
                                            n_repeats=s.barrier_repeats, progress=progress,
                                            seed=barrier_seed, executor=executor, store=store),
            resumable=True)
    return EnergyMap(adelm=res, barriers=M, dg=disconnectivity_graph(M, counts=res.counts),
                     temperature=T, alpha=alpha, energy=U, settings=s, name=name,
                     decoder=decoder, proposals=propose, timings=timings)


# ----------------------------------------------------------------------------- tuning

@dataclass
class TemperatureTuning:
    """The drift rule for T (Sec 5.1.2, Fig 5.2 top; :func:`tune_temperature`).

    temperature:  the chosen T
    temperatures: the grid
    drift:        (n_T, modes, steps + 1) energies of the unmagnetised chains
    barrier_scale: the typical barrier the drift is measured against
    fraction:     the rule's fraction of it
    starts, modes: the proposals the chains' modes were descended from, and the modes
    reference:    what the drift was measured above (:func:`~ebmbook.landscape.tuning.drift_rise`)
    """

    temperature: float
    temperatures: tuple
    drift: np.ndarray
    barrier_scale: float
    fraction: float
    starts: torch.Tensor
    modes: torch.Tensor
    reference: str = "lowest"

    @property
    def rise(self) -> np.ndarray:
        """The rule's measure per temperature (:func:`~ebmbook.landscape.tuning.drift_rise`)."""
        return drift_rise(self.drift, self.reference)

    def rule(self) -> float:
        """The T the drift rule (:func:`~ebmbook.landscape.tuning.drift_temperature`) picks
        from this measurement, computed anew: a tuning stored by an earlier version of the
        rule gets this version's pick without rerunning its chains."""
        return drift_temperature(self.temperatures, self.drift, self.barrier_scale,
                                 self.fraction, self.reference)


@dataclass
class AlphaTuning:
    """The leakage rule for alpha (Sec 5.1.2, Fig 5.2 bottom; :func:`tune_alpha`).

    alpha:  the chosen alpha
    alphas: the grid
    counts, leakage: basins found and representatives reached per new mode, at each alpha
    limit:  the rule's leakage limit
    """

    alpha: float
    alphas: tuple
    counts: np.ndarray
    leakage: np.ndarray
    limit: float


def tune_temperature(energy, proposals, *, temperatures=_D.drift_temperatures,
                     eps: float | None = None, n_modes: int = _D.drift_modes,
                     n_steps: int = _D.drift_steps, fraction: float = _D.drift_fraction,
                     descent_rate: float = _D.descent_rate,
                     descent_steps: int = _D.descent_steps, seed: Any = 0,
                     reference: str = _D.drift_reference) -> TemperatureTuning:
    """T by the drift rule, with no label (Sec 5.1.2): descend ``n_modes`` proposals to their
    local modes, measure a typical barrier between them
    (:func:`~ebmbook.landscape.tuning.typical_barrier`), run unmagnetised Langevin chains of
    ``n_steps`` from the modes at every T of the grid
    (:func:`~ebmbook.landscape.tuning.continuous_energy_drift`), and take the warmest T whose
    chains rise on average at most ``fraction`` of that barrier above their lowest point, the
    lowest of the run or, with ``reference="running"``, the lowest so far
    (:func:`~ebmbook.landscape.tuning.drift_temperature`). Draws: proposals ``child(root, 0)``,
    pairs ``child(root, 1)``, chains ``child(root, 2)``."""
    U, eps = _energy_and_eps(energy, eps)
    propose = _as_proposals(proposals)
    root = seed_sequence(seed)
    starts = propose(n_modes, torch_generator(child(root, 0)))
    modes, _ = local_modes(U, starts, rate=descent_rate, n_steps=descent_steps)
    modes = modes.detach()
    scale = typical_barrier(U, modes, generator=torch_generator(child(root, 1)))
    drift = continuous_energy_drift(U, modes, temperatures, n_steps=n_steps, eps=eps,
                                    seed=child(root, 2))
    T = drift_temperature(temperatures, drift, scale, fraction, reference)
    return TemperatureTuning(temperature=T, temperatures=tuple(temperatures), drift=drift,
                             barrier_scale=scale, fraction=fraction, starts=starts, modes=modes,
                             reference=reference)


def tune_alpha(energy, proposals, *, temperature: float, alphas=_D.tune_alphas,
               eps: float | None = None, n_iterations: int = _D.tune_iter,
               limit: float = _D.leakage_limit, seed: Any = 0, executor: Any = None,
               progress: bool = False, delta: float = _D.delta,
               improvement_limit: int = _D.improvement_limit, max_steps: int = _D.max_steps,
               descent_rate: float = _D.descent_rate, descent_steps: int = _D.descent_steps,
               chunk_size: int = _D.chunk_size, precision: str = "fp32") -> AlphaTuning:
    """alpha by the leakage rule, with no label (Sec 5.1.2): ``n_iterations`` ADELM iterations
    at each alpha of the grid (one task each on ``executor``, seeded ``child(root, k)``;
    :func:`~ebmbook.landscape.tuning.alpha_sweep`), then the strongest alpha at which AD from a
    new mode reaches on average at most ``limit`` representatives while more than one basin is
    found (:func:`~ebmbook.landscape.tuning.leakage_alpha`). The AD keywords are those of
    :func:`map_energy`."""
    U, eps = _energy_and_eps(energy, eps)
    propose = _as_proposals(proposals)
    be = _backend(U, propose, float(temperature), alphas[0], eps, delta=delta,
                  improvement_limit=improvement_limit, max_steps=max_steps,
                  descent_rate=descent_rate, descent_steps=descent_steps, chunk_size=chunk_size,
                  precision=precision)
    counts, leak = alpha_sweep(be, alphas, n_iter=n_iterations, seed=seed, progress=progress,
                               executor=executor)
    return AlphaTuning(alpha=leakage_alpha(alphas, counts, leak, limit), alphas=tuple(alphas),
                       counts=counts, leakage=leak, limit=limit)


def tune_and_map(energy, proposals, settings: MapSettings | None = None, *,
                 temperature: "float | TemperatureTuning | None" = None,
                 alpha: "float | AlphaTuning | None" = None, seed: Any = 0,
                 executor: Any = None, progress: bool = False, name: str = "map",
                 decoder: Callable | None = None, checkpoint: str | None = None) -> EnergyMap:
    """Tune T (:func:`tune_temperature`) and alpha (:func:`tune_alpha`) without labels, then
    map (:func:`map_energy`, whose ADELM run saves to and resumes from ``checkpoint``), all
    from ``settings`` and one ``seed`` (draws as in the module docstring). ``temperature`` or
    ``alpha`` given as a number skips that rule; given as a :class:`TemperatureTuning` /
    :class:`AlphaTuning` (run with the same seed) reuses it. For a trained model the AD step is
    the model's own eps (recorded in the map's settings)."""
    s = settings if settings is not None else MapSettings()
    U, eps = _energy_and_eps(energy, s.ad_eps if callable(energy) else None)
    if eps != s.ad_eps:
        s = dataclasses.replace(s, ad_eps=eps)
    propose = _as_proposals(proposals)
    root = seed_sequence(seed)
    timings: dict[str, float] = {}
    stages = MapStages(checkpoint, U, propose)
    with timed(timings, "tune_T"):
        tT = temperature
        if tT is None:
            tT = stages.get("tune_T", (seed_key(root), repr(s.temperature_options()), eps),
                            lambda: tune_temperature(U, propose, seed=root,
                                                     **s.temperature_options()))
        if isinstance(tT, TemperatureTuning):
            # the rule applied to the stored measurement, so that a stage stored before a
            # change of the rule (its fallback, 2026-12-07) gets this code's pick
            tT = dataclasses.replace(tT, temperature=tT.rule())
        T = tT.temperature if isinstance(tT, TemperatureTuning) else float(tT)
    with timed(timings, "tune_alpha"):
        tA = alpha
        if tA is None:
            tA = stages.get("tune_alpha", (seed_key(child(root, 3)), T,
                                           repr(s.alpha_options())),
                            lambda: tune_alpha(U, propose, temperature=T, seed=child(root, 3),
                                               executor=executor, **s.alpha_options()))
        a = tA.alpha if isinstance(tA, AlphaTuning) else float(tA)
    m = map_energy(U, propose, temperature=T, alpha=a, seed=root, executor=executor,
                   progress=progress, name=name, decoder=decoder, checkpoint=checkpoint,
                   **s.map_options())
    m.settings = s
    if isinstance(tT, TemperatureTuning):
        m.barrier_scale, m.drift = tT.barrier_scale, tT.drift
    if isinstance(tA, AlphaTuning):
        m.tune_counts, m.tune_leakage = tA.counts, tA.leakage
    m.timings = {**timings, **m.timings}
    return m


# ----------------------------------------------------------------------------- barriers

@dataclass
class BarrierComparison:
    """Barriers between pairs of basin representatives by four methods (Fig 5.8; issue 26).

    pairs:           (P, 2) representative indices
    ad:              AD barrier (the map's barrier matrix)
    dneb:            DNEB barrier, band started from the line
    linear:          1D linear-interpolation barrier
    linear_profiles: (P, n_points) U along each line
    dneb_results:    the :class:`~ebmbook.landscape.neb.NEBResult` of each pair
    ad_path:         states of one successful AD trial for the first pair (or None)
    dneb_from_ad:    DNEB barrier, band started from an AD path and relaxed with a climbing
                     image (:func:`~ebmbook.landscape.saddles.refine_path`; nan where no AD
                     trial arrived); empty if not computed
    dneb_from_ad_verified: (P,) whether that climbing image is a verified index-1 saddle
    dneb_from_ad_results: the :class:`~ebmbook.landscape.saddles.RefinedPath` of each pair
    """

    pairs: np.ndarray
    ad: np.ndarray
    dneb: np.ndarray
    linear: np.ndarray
    linear_profiles: np.ndarray
    dneb_results: list
    ad_path: object = None
    dneb_from_ad: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dneb_from_ad_verified: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    dneb_from_ad_results: list = field(default_factory=list)

    def medians(self) -> dict[str, float]:
        """The median barrier of each method over the pairs where it is finite."""
        out = {}
        for k in ("ad", "dneb", "linear", "dneb_from_ad"):
            v = getattr(self, k)
            v = v[np.isfinite(v)]
            out[k] = float(np.median(v)) if v.size else float("nan")
        return out

    def frac_ad_below_linear(self) -> float:
        """The share of pairs (with a finite AD barrier) whose AD barrier is below the 1D one."""
        ok = np.isfinite(self.ad)
        return float(np.mean(self.ad[ok] < self.linear[ok])) if ok.any() else float("nan")

    def frac_dneb_from_ad_below(self, other: str, slack: float = 1e-6) -> float:
        """The share of pairs (where both are finite) whose DNEB-from-AD barrier is at most the
        ``other`` method's (``"ad"`` or ``"dneb"``) + ``slack``."""
        a, b = self.dneb_from_ad, getattr(self, other)
        ok = np.isfinite(a) & np.isfinite(b) if len(a) else np.zeros(0, dtype=bool)
        return float(np.mean(a[ok] <= b[ok] + slack)) if ok.any() else float("nan")

    def refined_checks(self) -> dict[str, float]:
        """Why DNEB-from-AD saddles pass or fail their check: the median gradient norm of the
        climbing images and the share of them with Hessian index exactly 1 (nan if none)."""
        checks = [r.check for r in self.dneb_from_ad_results if r is not None]
        if not checks:
            return {"median_grad_norm": float("nan"), "index1_share": float("nan")}
        return {"median_grad_norm": float(np.median([c.grad_norm for c in checks])),
                "index1_share": float(np.mean([c.index == 1 for c in checks]))}

    def verified_share(self) -> float:
        """The share of pairs whose DNEB-from-AD climbing image is a verified index-1 saddle."""
        v = self.dneb_from_ad_verified
        return float(np.mean(v)) if len(v) else float("nan")


def compare_barriers(m: EnergyMap, n_pairs: int, *, seed: Any, n_images: int = 14,
                     max_iter: int = 400, from_ad: bool = True,
                     grad_tol: float = 1e-2, polish_steps: int = 50,
                     connected_only: bool = False) -> BarrierComparison:
    """Fig 5.8: for up to ``n_pairs`` random pairs of the map's representatives (a permutation
    drawn from ``numpy.random.default_rng(seed)``), the 1D linear barrier, the DNEB barrier
    (:func:`ebmbook.landscape.neb.nudged_elastic_band`, climbing image, FIRE, started from the
    line) and the AD barrier of the map's barrier matrix, with one AD path of the first pair
    (:meth:`EnergyMap.ad_path`, seeded ``child(seed, 8)``). With ``from_ad``, a fourth method:
    DNEB with a climbing image started from an AD path of each pair (seeded ``child(seed, 9,
    k)`` for pair k; :func:`~ebmbook.landscape.saddles.refine_path`, the same band settings),
    its climbing image checked for a gradient norm below ``grad_tol`` and Hessian index 1, and
    polished by up to ``polish_steps`` steps of minimum-mode following where it fails
    (:func:`~ebmbook.landscape.saddles.polish_saddle`). The bands of each method relax as one
    batch (:func:`~ebmbook.landscape.neb.nudged_elastic_bands`). With ``connected_only`` the
    pairs are drawn from those with a finite AD barrier, so every method is compared on the
    same pairs."""
    from .neb import linear_bands, nudged_elastic_bands
    K = m.n_basins
    ii, jj = np.triu_indices(K, 1)
    if connected_only:          # only pairs the map's AD barrier connects (a finite barrier)
        keep = np.isfinite(np.asarray(m.barriers)[ii, jj])
        ii, jj = ii[keep], jj[keep]
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(ii))[:n_pairs]
    pairs = np.stack([ii[pick], jj[pick]], 1) if len(ii) else np.zeros((0, 2), dtype=np.int64)
    reps = m.adelm.reps.detach()
    lin, prof = (linear_barrier(m.energy, reps[pairs[:, 0]], reps[pairs[:, 1]], return_path=True)
                 if len(pairs) else (np.zeros(0), np.zeros((0, 64))))
    runs = (nudged_elastic_bands(m.energy, linear_bands(reps[pairs[:, 0]], reps[pairs[:, 1]],
                                                        n_images),
                                 climbing=True, max_iter=max_iter, step=0.01, max_move=0.1,
                                 tol=1e-3) if len(pairs) else [])
    dneb = [r.barrier for r in runs]
    ad = np.array([m.barriers[a, b] for a, b in pairs], dtype=np.float64)
    path = (m.ad_path(*pairs[0], seed=child(seed_sequence(seed), 8)) if len(pairs) else None)
    bc = BarrierComparison(pairs=pairs, ad=ad, dneb=np.asarray(dneb, dtype=np.float64),
                           linear=np.asarray(lin, dtype=np.float64), linear_profiles=prof,
                           dneb_results=runs, ad_path=path)
    if from_ad:
        from .saddles import refine_paths
        paths = [m.ad_path(a, b, seed=child(seed_sequence(seed), 9, k))
                 for k, (a, b) in enumerate(pairs)]
        refined = refine_paths(m.energy, paths, n_images=n_images, max_iter=max_iter, step=0.01,
                               tol=1e-3, grad_tol=grad_tol, polish_steps=polish_steps)
        bc.dneb_from_ad = np.array([np.nan if r is None else r.barrier for r in refined])
        bc.dneb_from_ad_verified = np.array([r is not None and r.verified for r in refined],
                                            dtype=bool)
        bc.dneb_from_ad_results = refined
    return bc
