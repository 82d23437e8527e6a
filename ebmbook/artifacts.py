"""Trained image potentials kept as reproducible artifacts (see ARCHITECTURE.md, "Artifacts").

This module is the orchestration: train a model spec (:mod:`ebmbook.models`) with Algorithm 1,
save it with :mod:`ebmbook.store`, and load it back as a network with its energy. An artifact
folder holds

* ``weights.pt``   - the state dict of the DeepFRAME network F (Sec 3.1.3);
* ``log.npz``      - the per-step training log (d_st, r_st, energies, rate; Sec 2.3.1);
* ``extras.pt``    - optional tensors a figure needs (weight snapshots for Fig 3.9, a sample of
  the persistent bank);
* ``manifest.json`` - written last: the model spec and its hash, seed, git commit, the exact
  command that rebuilds it, wall time, machine and the metrics the book quotes.

:func:`load_artifact` returns ``None`` unless the manifest's hash equals the hash of the spec
asked for, and raises :class:`~ebmbook.store.ArtifactError` (one line naming the file and the
fix) for a damaged file. :func:`load_or_train` trains a spec that has no artifact into a cache
folder under ``_build/`` and never overwrites a committed artifact.

Specs and their hashes live in :mod:`ebmbook.models`, rebuild commands in
:mod:`ebmbook.registry`, manifests and machine records in :mod:`ebmbook.store`: import them
from there.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import registry, store
from ._config import config_hash
from .energies.generator import LatentEnergy
from .energies.potentials import RescaledPotential, batched_energy
from .io import atomic_torch_save
from .learning.coop import build_coop_model, train_coop
from .learning.fit import UNKNOWN_FIRST_SESSION  # noqa: F401  (re-exported)
from .learning.fit import CHECKPOINT, read_checkpoint
from .learning.trainer import (TensorData, TrainLog, build_energy, build_model,
                               load_checkpoint_state, train)
from .models import CoopModelSpec, ImageModelSpec, spec_hash
from .results import project_root
from .sampling.init import DataInit, NoiseInit, StoredStates
from .sampling.model import EnergyModel
from .store import LOG, MANIFEST, ArtifactError

WEIGHTS = "weights.pt"
EXTRAS = "extras.pt"

__all__ = ["Artifact", "ArtifactError", "artifact_from_checkpoint", "artifacts_root",
           "cache_root", "data_energy_stats", "load_artifact", "load_or_train", "read_manifest",
           "save_artifact", "train_artifact", "WEIGHTS", "EXTRAS"]


@dataclass
class Artifact:
    """A loaded artifact: the network, its energy U, the manifest and the extras.

    ``model`` is the trained model with its own sampling (:class:`EnergyModel`: U with the eps,
    tau, L and initialisation it was trained with). A persistent-bank model starts its chains
    from the stored bank sample (its steady state) when the artifact keeps one."""

    name: str
    spec: ImageModelSpec
    net: nn.Module
    energy: RescaledPotential
    manifest: dict
    directory: Path
    log: TrainLog | None = None
    extras: dict = field(default_factory=dict)
    model: EnergyModel | None = None
    generator: nn.Module | None = None   # Co-Op artifacts: the generator g(z)

    @property
    def metrics(self) -> dict:
        return self.manifest.get("metrics", {})

    def latent_energy(self, prior: bool = True, unit: float | str = 1.0) -> LatentEnergy:
        """The cooperative energy (5.2) over latent states, ``U(g(z)) [+ ||z||^2 / 2]``, of a
        Co-Op artifact, divided by ``unit``; ``unit="data"`` divides by the sd of U over the
        training data recorded in the manifest (``data_energy_sd``), so that energies and
        barriers read in data-energy sds, as the book's latent maps do."""
        if self.generator is None:
            raise ValueError(f"artifact {self.name} has no generator: the latent energy (5.2) "
                             "exists only for a Co-Op pair (a CoopModelSpec)")
        if unit == "data":
            unit = float(self.metrics.get("data_energy_sd", 1.0))
        return LatentEnergy(self.energy, self.generator, prior=prior, unit=float(unit))


def _initializer(spec: ImageModelSpec, extras: dict, device: str):
    """Where the chains of a loaded model start: as in training, from stored states for a
    persistent bank (fresh uniform noise if none was kept)."""
    t = spec.train
    if t.init == "persistent" and extras.get("bank") is not None:
        return StoredStates(extras["bank"].to(device))
    if t.init == "data":
        return DataInit(TensorData(spec.load_data("train").to(device)))
    kind = "uniform" if t.init == "persistent" else t.init
    return NoiseInit(kind, spec.shape, t.noise_scale, device)


def artifacts_root() -> Path:
    """The committed artifacts' folder (:func:`ebmbook.registry.committed_root`)."""
    return registry.committed_root()


def cache_root() -> Path:
    """Where other specs' artifacts are trained and cached (:func:`ebmbook.registry.cache_root`)."""
    return registry.cache_root()


def _checkpoint_dir(name: str, spec: ImageModelSpec, checkpoint_dir: str | Path | None) -> Path:
    if checkpoint_dir is not None:
        return Path(checkpoint_dir)
    return project_root() / "_build" / "checkpoints" / f"{name}-{spec_hash(spec)}"


@torch.no_grad()
def data_energy_stats(energy: Callable, spec: ImageModelSpec, device: str = "cpu") -> dict:
    """Mean and sd of U on the first ``spec.metric_images`` test images (a cheap, deterministic
    re-measurable metric, quoted in every manifest)."""
    x = spec.load_data("test")[: spec.metric_images].to(device)
    u = batched_energy(energy, x)
    return {"data_energy_mean": float(u.mean()), "data_energy_sd": float(u.std())}


def save_artifact(directory: str | Path, name: str, spec: ImageModelSpec, net: nn.Module, *,
                  log: TrainLog | None = None, extras: dict | None = None,
                  metrics: dict | None = None, command: str = "", wall_s: float = 0.0,
                  steps_done: int | None = None, commit: str | None = None,
                  info: dict | None = None) -> Path:
    """Write an artifact folder atomically, file by file, manifest last (:func:`store.save`;
    ``commit``: the code's commit to record, default the working tree's now; ``info``: further
    manifest fields)."""
    tensors: dict[str, Any] = {WEIGHTS: net.state_dict()}
    if extras:
        tensors[EXTRAS] = extras
    steps = int(steps_done if steps_done is not None else spec.train.n_steps)
    return store.save(directory, spec, tensors=tensors,
                      log=log.state_dict() if log is not None else None, name=name,
                      seed=spec.train.seed, command=command, wall_s=wall_s, metrics=metrics,
                      info={"steps_done": steps, **(info or {})}, commit=commit)


def read_manifest(directory: str | Path) -> dict | None:
    """The manifest in ``directory`` (``None`` if none; :class:`ArtifactError` if damaged)."""
    return store.read_manifest(directory)


def _load_weights(d: Path, stored, fname: str, net: nn.Module, fix: str,
                  device: str) -> nn.Module:
    """``net`` with the state dict ``fname`` of a stored artifact, frozen in eval mode; a
    missing or mismatched file raises :class:`ArtifactError` naming it."""
    if fname not in stored.tensors:
        raise ArtifactError(d / fname, f"is missing (not listed in {MANIFEST})", fix)
    try:
        net.load_state_dict(stored.tensors[fname])
    except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
        raise ArtifactError(d / fname, "does not fit the network of its manifest's spec "
                            f"({type(exc).__name__})", fix) from None
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _load_log(d: Path, stored, fix: str) -> TrainLog | None:
    if stored.log is None:
        return None
    try:
        return TrainLog(**{k: (float(v) if k == "wall_s" else v) for k, v in stored.log.items()})
    except (TypeError, ValueError) as exc:
        raise ArtifactError(d / LOG, f"is not a training log ({type(exc).__name__})",
                            fix) from None


def load_artifact(directory: str | Path, spec: ImageModelSpec | CoopModelSpec, device: str = "cpu",
                  name: str | None = None) -> Artifact | None:
    """The artifact in ``directory`` if its manifest's hash equals ``spec``'s; else ``None``.
    A damaged file raises :class:`ArtifactError` naming it and how to restore or rebuild it."""
    d = Path(directory)
    model = name or d.name
    # the command to suggest when even the manifest is unreadable: only if it trains into d
    rebuild = None
    if d.resolve() == registry.default_directory(model, spec).resolve():
        rebuild = registry.command_for(model, spec)
    stored = store.load(d, spec, rebuild=rebuild)
    if stored is None:
        return None
    fix = stored.fix()
    if isinstance(spec, CoopModelSpec):
        return _load_coop(d, spec, stored, fix, device, name)
    net = _load_weights(d, stored, WEIGHTS, spec.build_net(), fix, device)
    log = _load_log(d, stored, fix)
    extras = stored.tensors.get(EXTRAS, {})
    model = build_model(net, spec.train, _initializer(spec, extras, device), spec.shape)
    return Artifact(name=name or stored.manifest.get("name", d.name), spec=spec, net=net,
                    energy=model.energy, manifest=stored.manifest, directory=d, log=log,
                    extras=extras, model=model)


def train_artifact(name: str, spec: ImageModelSpec, directory: str | Path, *,
                   device: str = "cpu", resume: bool = True, progress: bool = True,
                   stop_after: int | None = None, command: str | None = None,
                   checkpoint_dir: str | Path | None = None) -> Artifact | None:
    """Train ``spec`` with Algorithm 1 (checkpointed, resumable) and save it to ``directory``.

    Checkpoints go to ``checkpoint_dir`` (default ``_build/checkpoints/<name>-<hash>``, outside
    git). With ``stop_after`` the run stops there (checkpointed) and nothing is saved: call again
    to resume. Returns the loaded artifact, or ``None`` when stopped early.
    """
    ckpt_dir = _checkpoint_dir(name, spec, checkpoint_dir)
    # the code that trains is the code of the start: edits committed or made while a long run
    # goes on (in another part of the package) must not be recorded as what ran. The checkpoint
    # keeps the commit of each session that ran steps of the run (fit's ``session`` record), so
    # a run resumed across sessions names its first session's code and lists the others
    commit = store.git_commit()
    if isinstance(spec, CoopModelSpec):
        return _train_coop(name, spec, directory, ckpt_dir, device, resume, progress, stop_after,
                           command, commit)
    snap_dir = ckpt_dir / "snapshots"
    x = spec.load_data("train").to(device)
    net = spec.build_net()

    def snapshot(step: int, module: nn.Module) -> None:
        if spec.snapshot_every and (step + 1) % spec.snapshot_every == 0:
            atomic_torch_save({k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
                              snap_dir / f"step_{step + 1:07d}.pt")

    res = train(net, x, spec.train, checkpoint_dir=ckpt_dir, resume=resume, progress=progress,
                device=device, stop_after=stop_after, callback=snapshot, session=commit)
    if res.steps_done < spec.train.n_steps:
        return None
    return _finish(name, spec, directory, res.net, res.log, res.bank.states if res.bank else None,
                   snap_dir, command, device, res.steps_done, res.sessions)


def _commit_info(commits: list[str] | None) -> tuple[str | None, dict]:
    """The manifest's ``git_commit`` (the first session's) and, where later sessions ran other
    code, ``{"resumed_at_commits": [...]}``."""
    if not commits:
        return None, {}
    later = [c for c in commits[1:] if c != commits[0]]
    return commits[0], ({"resumed_at_commits": later} if later else {})


def _final_means(log, steps_done: int, stats: tuple[str, ...]) -> dict[str, float]:
    """``final_<stat>``: the mean of each logged statistic over a run's last 50 updates (the
    manifest's summary of where training ended)."""
    return {f"final_{stat}": float(np.nanmean(getattr(log, stat)[max(0, steps_done - 50):
                                                                  steps_done]))
            for stat in stats}


def _command_of_run(command: str | None) -> str:
    """``command``, or the command line of this process when none is given."""
    if command is not None:
        return command
    return " ".join(shlex.quote(a) for a in sys.argv) if sys.argv else ""


def _finish(name, spec, directory, net, log, bank_states, snap_dir, command, device, steps_done,
            commits=None):
    extras: dict[str, Any] = {}
    if spec.snapshot_every:
        fix = "delete the checkpoint folder and train again"
        files = sorted(f for f in Path(snap_dir).glob("step_*.pt")
                       if int(f.stem.split("_")[1]) <= steps_done)
        extras["snapshot_steps"] = torch.tensor([int(f.stem.split("_")[1]) for f in files])
        extras["snapshots"] = [store.read_torch(f, fix) for f in files]
    if bank_states is not None and spec.bank_keep:
        g = torch.Generator().manual_seed(spec.train.seed + 11)
        idx = torch.randperm(len(bank_states), generator=g)[: spec.bank_keep]
        extras["bank"] = bank_states[idx.to(bank_states.device)].detach().cpu().clone()
    energy = build_energy(net, spec.train)
    metrics = {**data_energy_stats(energy, spec, device),
               **_final_means(log, steps_done, ("r_st", "d_st"))}
    commit, info = _commit_info(commits)
    save_artifact(directory, name, spec, net, log=log, extras=extras, metrics=metrics,
                  command=_command_of_run(command), wall_s=log.wall_s, steps_done=steps_done,
                  commit=commit, info=info)
    return load_artifact(directory, spec, device=device, name=name)


def artifact_from_checkpoint(name: str, spec: ImageModelSpec, directory: str | Path, *,
                             size: str, checkpoint_dir: str | Path | None = None,
                             device: str = "cpu") -> Artifact:
    """Save the state of an unfinished run of ``spec`` (its latest checkpoint, at step k) as the
    artifact of ``spec.with_steps(k)``. That is the same computation: ``with_steps`` changes
    nothing but the number of steps, so ``ebmbook train <name> --size <size> --steps k``
    (the command written to the manifest) rebuilds it bit for bit."""
    ckpt_dir = _checkpoint_dir(name, spec, checkpoint_dir)
    state = load_checkpoint_state(ckpt_dir, device)   # a damaged file: one-line CheckpointError
    if state["config_hash"] != config_hash(spec.train):
        raise ValueError(f"checkpoint {store.show_path(ckpt_dir / CHECKPOINT)} does not belong "
                         f"to this spec (its training config hash is {state['config_hash']}, the "
                         f"spec's is {config_hash(spec.train)}): pass the checkpoint_dir of this "
                         "spec's run")
    k = int(state["step"])
    spec_k = spec.with_steps(k)
    net = spec_k.build_net().to(device)
    net.load_state_dict(state["net"])
    log = TrainLog(**{key: (v[:k] if isinstance(v, np.ndarray) else v)
                      for key, v in state["log"].state_dict().items()})
    bank = state["bank"]["states"] if state.get("bank") else None
    return _finish(name, spec_k, directory, net, log, bank, ckpt_dir / "snapshots",
                   registry.rebuild_command(name, size, k), device, k, state["sessions"])


def load_or_train(name: str, spec: ImageModelSpec, *, device: str = "cpu", progress: bool = True,
                  command: str | None = None) -> Artifact:
    """The committed artifact ``artifacts/<name>`` if its hash matches ``spec``; else a cached
    one in ``_build/artifacts/<name>-<hash>``; else train it there now (at ``spec``'s size)."""
    art = load_artifact(artifacts_root() / name, spec, device, name)
    if art is not None:
        return art
    cache = cache_root() / f"{name}-{spec_hash(spec)}"
    art = load_artifact(cache, spec, device, name)
    if art is not None:
        return art
    command = command or registry.command_for(name, spec) or f"load_or_train({name!r})"
    return train_artifact(name, spec, cache, device=device, progress=progress, command=command)


# ----------------------------------------------------------------------------- Co-Op pairs

GENERATOR = "generator.pt"


def _train_coop(name: str, spec: CoopModelSpec, directory, ckpt_dir: Path, device: str,
                resume: bool, progress: bool, stop_after: int | None,
                command: str | None, commit: str | None = None) -> Artifact | None:
    """Algorithm 4 on ``spec`` (checkpointed, resumable), saved as a Co-Op artifact: the
    descriptor's weights in ``weights.pt``, the generator's in ``generator.pt``."""
    descriptor, generator = spec.build_nets()
    x = spec.load_data("train").to(device)
    res = train_coop(descriptor, generator, x, spec.train, checkpoint_dir=ckpt_dir,
                     resume=resume, progress=progress, device=device, stop_after=stop_after,
                     session=commit)
    if res.steps_done < spec.train.n_steps:
        return None
    k = res.steps_done
    metrics = {**data_energy_stats(res.energy, spec, device),
               **_final_means(res.log, k, ("d_st", "r_st", "g_loss", "shift"))}
    commit, info = _commit_info(res.sessions)
    store.save(directory, spec, tensors={WEIGHTS: res.descriptor.state_dict(),
                                         GENERATOR: res.generator.state_dict()},
               log=res.log.state_dict(), name=name, seed=spec.train.seed,
               command=_command_of_run(command), wall_s=res.log.wall_s, metrics=metrics,
               info={"steps_done": k, **info}, commit=commit)
    return load_artifact(directory, spec, device=device, name=name)


def _load_coop(d: Path, spec: CoopModelSpec, stored, fix: str, device: str,
               name: str | None) -> Artifact:
    descriptor, generator = spec.build_nets()
    descriptor = _load_weights(d, stored, WEIGHTS, descriptor, fix, device)
    generator = _load_weights(d, stored, GENERATOR, generator, fix, device)
    log = _load_log(d, stored, fix)
    model = build_coop_model(descriptor, generator, spec.train, spec.shape, device)
    return Artifact(name=name or stored.manifest.get("name", d.name), spec=spec, net=descriptor,
                    energy=model.energy, manifest=stored.manifest, directory=d, log=log,
                    model=model, generator=generator)


@dataclass
class TrainingRecord:
    """The training log of a committed model, finished or still in training."""
    name: str
    log: TrainLog
    steps_done: int
    n_steps: int
    status: str                     # "finished" or "partial, N of M updates"
    command: str                    # rebuilds it, or resumes it


def _committed(name: str, size: str, device: str) -> tuple[Any, Artifact | None, dict | None]:
    """The spec of the committed model ``name`` at ``size`` with its finished artifact, or (when
    there is none) the ``partial.json`` record of its run still in training. Raises
    ``FileNotFoundError`` naming the command that trains it when there is neither."""
    spec = registry.model_spec(name, size)
    folder = artifacts_root() / name
    art = load_artifact(folder, spec, device, name)
    if art is not None:
        return spec, art, None
    partial = store.read_partial(folder)
    if partial is None or partial.get("spec_hash") != spec_hash(spec):
        raise FileNotFoundError(
            f"no committed artifact or partial run of {name} at size {size!r} in {folder}: "
            f"train it with `{registry.command_for(name, spec)}`")
    return spec, None, partial


def training_record(name: str, size: str = registry.COMMITTED_SIZE,
                    device: str = "cpu") -> TrainingRecord:
    """The per-update log of the committed model ``name``: from its finished artifact, or from
    the committed checkpoint of a run still in training (``artifacts/<name>/partial.json``), so a
    page can show the record of a run that spans sessions. Raises ``FileNotFoundError`` naming
    the command that trains it when there is neither."""
    spec, art, partial = _committed(name, size, device)
    if art is not None:
        if art.log is None:
            raise FileNotFoundError(f"the artifact of {name} in {art.directory} keeps no "
                                    f"training log: rebuild it with `{art.manifest['command']}`")
        n = int(art.manifest["steps_done"])
        return TrainingRecord(name, art.log, n, n, "finished", art.manifest["command"])
    state = read_checkpoint(project_root() / partial["checkpoint"])
    k = int(state["step"])
    log = TrainLog(**{key: (float(v) if key == "wall_s" else np.asarray(v))
                      for key, v in state["log"].items()})
    return TrainingRecord(name, log, k, int(partial["n_steps"]),
                          store.partial_status(k, partial["n_steps"]),
                          partial["resume_command"])


def committed_model(name: str, size: str = registry.COMMITTED_SIZE,
                    device: str = "cpu") -> tuple[Artifact, str]:
    """The committed model ``name`` and its status: the finished artifact (``"finished"``), or,
    while it is still in training, the model of its committed checkpoint (saved under the build
    cache as the artifact of its first k updates; ``"partial, k of M updates"``). Never trains:
    raises ``FileNotFoundError`` naming the command when there is neither."""
    spec, art, partial = _committed(name, size, device)
    if art is not None:
        return art, "finished"
    ckpt = (project_root() / partial["checkpoint"]).parent
    art = artifact_from_checkpoint(name, spec, cache_root() / f"{name}-{size}-from-checkpoint",
                                   size=size, checkpoint_dir=ckpt, device=device)
    return art, store.partial_status(art.manifest["steps_done"], spec.train.n_steps)


def book_model(name: str, size: str, device: str = "cpu",
               progress: bool = True) -> tuple[Artifact, str]:
    """The model a page evaluates, with its status: at the committed size the committed model
    (:func:`committed_model`: finished, or the state of a run still in training; never trained
    here, hours), at any other size the artifact of that size, trained now if not cached
    (:func:`load_or_train`; status ``"finished"``)."""
    if size == registry.COMMITTED_SIZE:
        return committed_model(name, size, device)
    return load_or_train(name, registry.model_spec(name, size), device=device,
                         progress=progress), "finished"
