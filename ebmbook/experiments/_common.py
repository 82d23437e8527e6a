"""Helpers shared by experiment modules (an experiment never imports another experiment: what
two of them share lives here or in a layer below)."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Sequence

import numpy as np
import torch

from .._config import (config_hash, require_folder, require_int, require_positive,
                       runtime_field)
from ..diagnostics.lyapunov import LyapunovResult, maximal_lyapunov
from ..parallel import validate_executor_spec
from ._base import ExperimentConfig

if TYPE_CHECKING:  # pragma: no cover
    from ..artifacts import Artifact


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch's global RNG inside the block only (for nn.Module weight initialisation)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def progress_bar(enabled: bool, iterable=None, **kw):
    """A tqdm bar, or a silent one when ``enabled`` is False or the ``TQDM_DISABLE`` environment
    variable (set by the book build) is set (:func:`ebmbook._progress.tqdm`)."""
    from .._progress import tqdm
    if not enabled:
        kw["disable"] = True
    return tqdm(iterable, **kw)


def read_basins(m, judge):
    """The judge's reading of each mode's image of the map ``m``, and each basin's majority
    reading and its share, set on ``m`` (returned)."""
    from ..diagnostics.clustering import basin_readings
    m.reads = judge.predict(m.images(m.modes))
    m.basin_label, m.basin_share, _ = basin_readings(m.labels, m.reads)
    return m


def judge_of_size(judge, art, fit):
    """``judge`` if it was fitted at the image size of the pair ``art`` (it reads
    ``image_size ** 2`` inputs), else ``fit(art)``: a judge of the pair's own size."""
    if judge is None or judge.n_inputs != art.spec.image_size ** 2:
        return fit(art)
    return judge


def generator_shares(art, judge, classes, n: int = 1000, seed: int = 0) -> np.ndarray:
    """The share of ``n`` generator samples g(z), z ~ N(0, I), of a Co-Op pair ``art`` that
    ``judge`` reads as each label of ``classes``, in that order: what the pair can propose at
    all (a class its generator never proposes cannot own a basin of its latent map). Seeded
    ``child(seed, 11)``."""
    from ..parallel import child, seed_sequence, torch_generator
    g = torch_generator(child(seed_sequence(seed), 11))
    z = torch.randn((n, art.spec.latent_dim), generator=g)
    with torch.no_grad():
        reads = judge.predict(art.generator(z))
    from ..diagnostics.clustering import read_shares
    return read_shares(reads, classes)


def map_checkpoint(config: ExperimentConfig, map_id: str) -> Path | None:
    """The file where the ADELM map ``map_id`` of a run of ``config`` saves its checkpoint, in
    the folder ``config.map_checkpoint`` (None when that is empty: no checkpoint).

    ``<folder>/<experiment>-<key>-<map_id>.pt``, where ``<key>`` hashes every config field that
    shapes the numbers (not ``progress``, ``executor`` nor the folder itself): the same command
    finds its files again, and another size, seed or setting never picks up a map it did not
    make. ``map_id`` tells an experiment's maps apart (a short name, e.g. ``"mnist"``)."""
    folder = getattr(config, "map_checkpoint", "")
    if not folder:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", map_id):
        raise ValueError(f"map_id {map_id!r} must be a file-name-safe word")
    return Path(folder) / f"{_maps_prefix(config)}-{map_id}.pt"


def _map_key(config: ExperimentConfig) -> tuple[str, str]:
    """(experiment, key of every config field that shapes its maps) of a run's map files: all
    fields but the runtime ones and those the experiment lists in its ``NOT_MAP_FIELDS``
    (settings of what is computed from a finished map, e.g. its scoring)."""
    ignored = ("progress", "executor", *getattr(type(config), "NOT_MAP_FIELDS", ()))
    return (type(config).__module__.rsplit(".", 1)[-1],
            config_hash(config, ignore=ignored)[:12])


def _maps_prefix(config: ExperimentConfig) -> str:
    return "-".join(_map_key(config))


def committed_map_sizes(config: ExperimentConfig) -> tuple[str, ...]:
    """The named sizes whose default maps are committed: the experiment's
    ``COMMITTED_MAP_SIZES`` (default: ``("ci",)``)."""
    return tuple(getattr(type(config), "COMMITTED_MAP_SIZES", ("ci",)))


def _is_committed_default(config: ExperimentConfig, key) -> bool:
    """Whether ``key(config)`` is that of the default config of a committed size."""
    return any(key(config) == key(type(config).for_size(size))
               for size in committed_map_sizes(config))


def book_maps(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with the map folder of the book's runs: the committed ``artifacts/maps`` for
    the default config of a size in :func:`committed_map_sizes` (by default only ``ci``; seed 0,
    on the CPU; its progress setting aside), whose
    finished maps (ADELM, tuning and barrier stages, with a manifest from
    :func:`write_map_manifest`) a page then loads instead of running them; the build cache for
    any other config (another size, data set or setting). A map whose file is missing, or was
    made from other settings or weights, is computed and saved there; ``ebmbook run
    <experiment> --size ci --map-checkpoint artifacts/maps`` rebuilds the committed ones."""
    import dataclasses
    from ..registry import cache_root, committed_root
    # committed only where the map files' own key is the default's (so never for another
    # device, whose maps would be other files)
    committed = _is_committed_default(config, _map_key)
    folder = (committed_root() if committed else cache_root()) / "maps"
    return dataclasses.replace(config, map_checkpoint=str(folder))


def readout_checkpoint(config: ExperimentConfig, map_id: str) -> Path | None:
    """Where the read-outs of the finished map ``map_id`` (settings in the experiment's
    ``NOT_MAP_FIELDS``, outside the map's key) keep their stages: the map's own file, except
    when that file is a committed one (``artifacts/maps``) and ``config`` is not the default
    config of a committed size - then a file of its own in the build cache, keyed by the whole
    config. A stage is one slot per name, so another descent length run against a committed map
    would otherwise replace the committed read-out in ``artifacts/maps``. None without a map
    folder."""
    ckpt = map_checkpoint(config, map_id)
    if ckpt is None:
        return None
    from ..registry import cache_root, committed_root
    if ckpt.parent.resolve() != (committed_root() / "maps").resolve():
        return ckpt
    def full(c):
        return config_hash(c, ignore=("progress", "executor"))
    if _is_committed_default(config, full):
        return ckpt
    return cache_root() / "maps" / f"{_maps_prefix(config)}-{map_id}-readouts-{full(config)[:12]}.pt"


def map_manifest_path(config: ExperimentConfig) -> Path | None:
    """``<map folder>/<experiment>-<config key>.json`` (None without a map folder)."""
    folder = getattr(config, "map_checkpoint", "")
    return Path(folder) / f"{_maps_prefix(config)}.json" if folder else None


def write_map_manifest(config: ExperimentConfig, *, command: str, commit: str,
                       seconds: float, status: str = "finished",
                       dropped: Sequence[str] = ()) -> Path | None:
    """After a run with a map folder: the manifest of its maps (the command that rebuilds
    them, the code's commit, the wall time, the files, and the ``status``: ``"finished"``, or
    for a run stopped part-way e.g. ``"partial, 120 of 300 ADELM iterations"``, which the same
    ``command`` resumes), written atomically. ``dropped``: files copied by
    :func:`reuse_map_files` that were refused and made anew; the ``reused`` record lists them,
    since its time counts the earlier run whole, the dropped files' work included."""
    import json
    import time
    from ..io import atomic_write_text
    path = map_manifest_path(config)
    if path is None:
        return None
    from ..store import machine
    experiment, key = _map_key(config)
    files = sorted(p.name for p in path.parent.glob(f"{experiment}-{key}-*.pt"))
    before = read_map_manifest(config) or {}
    resumed = str(before.get("status", "")).startswith("partial")
    if resumed:                                         # a resumed run: time in total
        seconds += float(before.get("wall_time_s", 0.0))
    manifest = {"experiment": experiment, "config_key": key,
                "size": getattr(config, "size", None), "seed": getattr(config, "seed", None),
                "status": status, "command": command, "git_commit": commit,
                "wall_time_s": round(seconds, 1), "machine": machine(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": files}
    if resumed and "reused" in before:                  # see reuse_map_files
        reused = dict(before["reused"])
        gone = sorted(set(reused.get("dropped", [])) | set(dropped))
        if gone:
            reused["dropped"] = gone
            reused["dropped_note"] = ("copies refused as another map's (another T or alpha) and "
                                      "made anew; wall_time_s counts the earlier run whole, "
                                      "their discarded work included")
        manifest["reused"] = reused
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return path


def reuse_map_files(config: ExperimentConfig, key: str) -> list[str]:
    """Start the maps of ``config`` from the finished files of the same experiment's earlier
    run with config key ``key`` (another setting, in the same map folder): copy its map and
    stage files to this config's names, and write this config's manifest as ``"partial"``, with
    the earlier run's wall time and a ``"reused"`` record (its key, commit, command, time,
    machine, and its own ``"reused"`` record where it was itself continued), so
    that the finished manifest counts both runs' time and says where the carried work came
    from. Returns the copied file names.

    What carries over is decided where the files are read, not here: a stage stored under the
    digest of other inputs is computed anew (:class:`~ebmbook.landscape.mapping.MapStages`), so
    widening a tuning grid reruns that rule alone and keeps the ADELM run when the rule picks
    the same T and alpha. An ADELM checkpoint made with another T, alpha or seed is refused when
    it is read (:class:`~ebmbook.learning.fit.ForeignCheckpointError`); ``ebmbook run
    --reuse-maps-of`` then deletes that copy and the map runs anew (the manifest's ``reused``
    record and time still count the earlier run whole). Refuses when this config already has
    map files, or when ``key`` names no
    finished run."""
    import json
    import shutil
    import time
    from ..io import atomic_write_text
    folder = getattr(config, "map_checkpoint", "")
    if not folder:
        raise ValueError("reusing map files needs a map folder (--map-checkpoint DIR)")
    experiment, new_key = _map_key(config)
    if not re.fullmatch(r"[0-9a-f]{12}", str(key)):
        raise ValueError(f"the key {key!r} must be the 12 hex digits of an earlier run's map "
                         f"files (<experiment>-<key>-<map>.pt in {folder})")
    if key == new_key:
        raise ValueError(f"the key {key} is this run's own: there is nothing to reuse")
    folder = Path(folder)
    old_manifest = folder / f"{experiment}-{key}.json"
    try:
        old = json.loads(old_manifest.read_text())
    except (OSError, ValueError):
        raise ValueError(f"no readable manifest {old_manifest}: the key must name an earlier "
                         f"{experiment} run in {folder}") from None
    # manifests written before maps recorded a status are of finished maps (the ci maps')
    if old.get("status", "finished") != "finished":
        raise ValueError(f"{old_manifest} is {old.get('status')!r}: resume that run with its own "
                         f"command ({old.get('command')}) before reusing it")
    mine = sorted(folder.glob(f"{experiment}-{new_key}-*.pt"))
    if mine:
        raise ValueError(f"this run already has map files ({', '.join(p.name for p in mine)}): "
                         "run without reusing, or delete them first")
    copied = []
    for src in sorted(folder.glob(f"{experiment}-{key}-*.pt")):
        dst = folder / src.name.replace(f"{experiment}-{key}-", f"{experiment}-{new_key}-", 1)
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
        copied.append(dst.name)
    if not copied:
        raise ValueError(f"{old_manifest} lists no map files in {folder}")
    # the earlier run's machine, and its own record where it too was continued from another
    # run, so that a chain of continuations (possibly on different CPUs) stays traceable
    reused = {k: old.get(k) for k in ("config_key", "size", "command", "git_commit",
                                      "wall_time_s", "created")}
    reused.update({k: old[k] for k in ("machine", "reused") if k in old})
    atomic_write_text(map_manifest_path(config), json.dumps({
        "experiment": experiment, "config_key": new_key, "size": getattr(config, "size", None),
        "seed": getattr(config, "seed", None),
        "status": f"partial, started from the files of {experiment}-{key}",
        "wall_time_s": float(old.get("wall_time_s", 0.0)), "reused": reused,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": copied}, indent=2) + "\n")
    return copied


def read_map_manifest(config: ExperimentConfig) -> dict | None:
    """The manifest of this config's maps in its map folder, or None when there is none."""
    import json
    path = map_manifest_path(config)
    try:
        return json.loads(path.read_text()) if path is not None else None
    except (OSError, ValueError):
        return None


@dataclass
class CommittedMap:
    """What :func:`load_committed_map` found: the config, its map manifest (None when the
    checkout has none), the experiment's result when the committed run is finished and shown
    (else None), and otherwise the one-line ``message`` the page prints in its place."""

    config: ExperimentConfig
    manifest: dict | None
    result: object | None
    message: str | None

    def metrics(self, prefix: str, keys=None) -> dict:
        """The result's metrics (only ``keys``, in that order, when given) renamed
        ``<prefix>_<key>``, e.g. for ``Results.add_metrics``; a KeyError names a missing key."""
        if self.result is None:
            raise ValueError(f"no finished map to read metrics from: {self.message}")
        ms = self.result.metrics()
        missing = [k for k in keys or () if k not in ms]
        if missing:
            raise KeyError(f"the {type(self.result).__name__} has no metrics {missing}; "
                           f"it has {sorted(ms)}")
        return {f"{prefix}_{k}": ms[k] for k in (keys if keys is not None else ms)}


def load_committed_map(config: ExperimentConfig, run, label: str, *, shown: bool = True,
                       not_shown: str = "shown at ci size only (the committed map)"
                       ) -> CommittedMap:
    """Load the committed maps of ``config`` (a size other than the page's own, e.g. the
    thesis-length run a ``ci`` page also shows) when its manifest says they are finished:
    ``run(config)`` then reads the stored stages instead of computing them. Prints one line,
    either where the maps came from or why they are not shown (``label: <why>``): not shown at
    this size (``shown`` False, ``not_shown`` says why), no committed run in this checkout, or
    the run's status and the command that resumes it."""
    man = read_map_manifest(config)
    if shown and man is not None and man.get("status") == "finished":
        result = run(config)
        print(f"{label}: committed by `{man['command']}` at {man['git_commit'][:10]} "
              f"({man['wall_time_s']:.0f} s)")
        return CommittedMap(config, man, result, None)
    why = (not_shown if not shown else "no committed run in this checkout" if man is None
           else f"{man.get('status')}; `{man['command']}` resumes it")
    print(f"{label}: {why}")
    return CommittedMap(config, man, None, f"{label}: {why}")


def map_coop_pair(name: str, art: "Artifact", settings, judge, *, seed, progress: bool = True,
                  checkpoint: Path | str | None = None):
    """The map of a Co-Op pair's latent energy (5.2) in data-energy sds, proposals
    z ~ N(0, I), T and alpha tuned without labels
    (:func:`ebmbook.landscape.mapping.tune_and_map`); each mode's image read by ``judge``
    (:func:`read_basins`). ``checkpoint``: the file its ADELM run saves to and resumes from
    (see :func:`map_checkpoint`)."""
    from ..landscape.mapping import GaussianProposals, tune_and_map
    E = art.latent_energy(prior=True, unit="data")
    m = tune_and_map(E, GaussianProposals(E.latent_dim), settings, seed=seed, progress=progress,
                     name=name, decoder=art.generator, checkpoint=checkpoint)
    return read_basins(m, judge)


def find_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """For each row of A, the index of the identical row of B, or -1 (rows compared as int8,
    e.g. +-1 spin states; the last of several identical rows of B is the one returned)."""
    lookup = {row.tobytes(): k for k, row in enumerate(np.asarray(B, dtype=np.int8))}
    return np.array([lookup.get(row.tobytes(), -1) for row in np.asarray(A, dtype=np.int8)],
                    dtype=np.int64)


# ----------------------------------------------------------------------------- Lyapunov (Sec 3.4.1)


def start_states(art: Artifact, n: int, seed: int) -> torch.Tensor:
    """``n`` seeded random states of the artifact's persistent bank (its steady state), or of
    its training images when it kept no bank: where the Lyapunov chains start."""
    bank = art.extras.get("bank")
    if bank is None:
        bank = art.spec.load_data("train")
    idx = torch.randperm(len(bank), generator=torch.Generator().manual_seed(seed))
    return bank[idx[:n]]


def lyapunov_estimate(art: Artifact, x0: torch.Tensor, gammas, delta0: float, base_steps: int,
                      substeps: int, seed: int, noise: str = "shared") -> LyapunovResult:
    """One Benettin estimate per gamma: ``base_steps`` sampler steps of burn-in and of
    measurement (a quarter to align the perturbation), each split into ``substeps``
    integration steps, renormalised every sampler step, separation ``delta0``; ``noise``: the
    convention of :func:`~ebmbook.diagnostics.lyapunov.maximal_lyapunov`."""
    k = substeps
    return maximal_lyapunov(art.model.energy, x0, gammas, eps=art.model.eps, substeps=k,
                            n_burn=base_steps * k, n_align=base_steps // 4 * k,
                            n_steps=base_steps * k, renorm_every=k, delta0=delta0,
                            generator=torch.Generator().manual_seed(seed), noise=noise)


# ----------------------------------------------------------------------------- SK glass (Sec 5.2.1)


@dataclass(frozen=True)
class SKMapConfig(ExperimentConfig):
    """One SK glass (eq. 5.1) mapped with ADELM and GWL (Sec 5.2.1): the config of
    :mod:`ebmbook.experiments.sk_spin_glass`, whose glass, temperature, AD settings,
    proposals and GWL run :mod:`ebmbook.experiments.sk_sensitivity` reuses."""

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
    # a folder where the ADELM map saves its checkpoint ("": none; see map_checkpoint)
    map_checkpoint: str = runtime_field("")

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
        require_folder(self, "map_checkpoint")
        for name in ("tune_alphas", "drift_temperatures", "barrier_alpha_factors"):
            v = getattr(self, name)
            if not (len(v) >= 1 and all(x > 0 for x in v)):
                raise ValueError(f"config field '{name}' must be a non-empty tuple of numbers > 0")
