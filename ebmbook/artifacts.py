"""Trained image potentials kept as reproducible artifacts (see ARCHITECTURE.md, "Artifacts").

An artifact is a folder ``artifacts/<name>/`` holding

* ``weights.pt``   - the state dict of the DeepFRAME network F (Sec 3.1.3);
* ``log.npz``      - the per-step training log (d_st, r_st, energies, rate; Sec 2.3.1);
* ``extras.pt``    - optional tensors a figure needs (weight snapshots for Fig 3.9, a sample of
  the persistent bank);
* ``manifest.json`` - written last: the model spec and its hash, seed, git commit, the exact
  command that rebuilds it, wall time, machine and the metrics the book quotes.

Every file is written atomically (temp file + rename) and the manifest last, so a folder with
a manifest is complete. :func:`load_artifact` returns ``None`` unless the manifest's hash equals
the hash of the spec asked for; :func:`load_or_train` then trains (at whatever size the spec
says) into a cache folder under ``_build/`` and never overwrites a committed artifact.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ._config import config_dict, config_hash, require_choice, require_int, require_positive
from .data.images import DATASETS, ImageOptions, load_images
from .energies.potentials import DeepFRAME, RescaledPotential, batched_energy
from .io import atomic_torch_save, atomic_write, atomic_write_text
from .learning.trainer import TrainConfig, TrainLog, build_energy, train
from .results import project_root

MANIFEST = "manifest.json"
WEIGHTS = "weights.pt"
LOG = "log.npz"
EXTRAS = "extras.pt"


@dataclass(frozen=True)
class ImageModelSpec:
    """Everything that determines a trained image potential: data, network and Algorithm 1.

    ``snapshot_every``: keep a copy of the weights every this many steps (0: none), e.g. for the
    hybrid-optimiser checkpoints of Fig 3.9. ``bank_keep``: how many persistent-bank states to
    store with the artifact (for long-run chains started from the steady state).
    ``metric_images``: the number of test images on which the quoted data energy is measured.
    """

    dataset: str = "fashion_mnist"
    image_size: int = 16
    classes: tuple[int, ...] | None = None
    n_per_class: int | None = None
    width: int = 16
    n_down: int = 2
    activation: str = "leaky_relu"
    leak: float = 0.05
    train: TrainConfig = field(default_factory=TrainConfig)
    snapshot_every: int = 0
    bank_keep: int = 256
    metric_images: int = 1000

    def __post_init__(self) -> None:
        require_choice(self, "dataset", DATASETS)
        require_int(self, "image_size", minimum=4)
        require_int(self, "width")
        require_int(self, "n_down", "snapshot_every", "bank_keep", minimum=0)
        require_int(self, "metric_images")
        require_positive(self, "leak", allow_zero=True)
        if not isinstance(self.train, TrainConfig):
            raise ValueError("config field 'train' must be a TrainConfig")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        self.build_net()  # raises a ValueError naming the size if the net does not fit

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1, self.image_size, self.image_size)

    def build_net(self) -> DeepFRAME:
        """A freshly initialised network (weights seeded by ``train.seed``)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.train.seed)
            return DeepFRAME(1, self.image_size, width=self.width, n_down=self.n_down,
                             activation=self.activation, leak=self.leak)

    def options(self, split: str = "train") -> ImageOptions:
        return ImageOptions(classes=self.classes, size=self.image_size, scale="symmetric",
                            split=split, n_per_class=self.n_per_class if split == "train" else None)

    def load_data(self, split: str = "train") -> torch.Tensor:
        """The images ``(n, 1, s, s)`` in [-1, 1] of one split."""
        return load_images(self.dataset, self.options(split)).images

    def with_steps(self, n_steps: int) -> "ImageModelSpec":
        """The same spec trained for ``n_steps``; every other field (the hybrid switch step,
        the snapshot and checkpoint periods) is kept, so the first ``n_steps`` of the longer
        run and the shorter run are the same computation."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, n_steps=n_steps))


def spec_hash(spec: ImageModelSpec) -> str:
    return config_hash(spec)


@dataclass
class Artifact:
    """A loaded artifact: the network, its energy U, the manifest and the extras."""

    name: str
    spec: ImageModelSpec
    net: nn.Module
    energy: RescaledPotential
    manifest: dict
    directory: Path
    log: TrainLog | None = None
    extras: dict = field(default_factory=dict)

    @property
    def metrics(self) -> dict:
        return self.manifest.get("metrics", {})


def artifacts_root() -> Path:
    return project_root() / "artifacts"


def cache_root() -> Path:
    return project_root() / "_build" / "artifacts"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=project_root(), timeout=10)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=project_root(), timeout=10)
        return commit + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict:
    info = {"host": socket.gethostname(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


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
                  steps_done: int | None = None) -> Path:
    """Write an artifact folder atomically, file by file, manifest last."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / MANIFEST).unlink(missing_ok=True)  # the folder is incomplete until the new manifest
    atomic_torch_save({k: v.detach().cpu() for k, v in net.state_dict().items()}, d / WEIGHTS)
    if log is not None:
        arrays = {k: np.asarray(v) for k, v in log.state_dict().items()}

        def _write_log(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: numpy would add ".npz" to a path
                np.savez_compressed(f, **arrays)
        atomic_write(d / LOG, _write_log)
    if extras:
        atomic_torch_save(extras, d / EXTRAS)
    manifest = {
        "name": name,
        "spec": config_dict(spec),
        "spec_hash": spec_hash(spec),
        "seed": spec.train.seed,
        "steps_done": int(steps_done if steps_done is not None else spec.train.n_steps),
        "git_commit": _git_commit(),
        "command": command,
        "wall_time_s": round(float(wall_s), 1),
        "machine": machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "metrics": metrics or {},
        "files": sorted(p.name for p in d.iterdir() if p.is_file() and not p.name.startswith(".")
                        and p.name != MANIFEST) + [MANIFEST],
    }
    atomic_write_text(d / MANIFEST, json.dumps(manifest, indent=2, default=float))
    return d


def read_manifest(directory: str | Path) -> dict | None:
    p = Path(directory) / MANIFEST
    if not p.exists():
        return None
    return json.loads(p.read_text())


def load_artifact(directory: str | Path, spec: ImageModelSpec, device: str = "cpu",
                  name: str | None = None) -> Artifact | None:
    """The artifact in ``directory`` if its manifest's hash equals ``spec``'s; else ``None``."""
    d = Path(directory)
    manifest = read_manifest(d)
    if manifest is None or manifest.get("spec_hash") != spec_hash(spec):
        return None
    net = spec.build_net()
    net.load_state_dict(torch.load(d / WEIGHTS, map_location="cpu", weights_only=True))
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    log = None
    if (d / LOG).exists():
        with np.load(d / LOG) as z:
            log = TrainLog(**{k: (float(z[k]) if k == "wall_s" else z[k]) for k in z.files})
    extras = torch.load(d / EXTRAS, map_location="cpu", weights_only=True) if (d / EXTRAS).exists() else {}
    return Artifact(name=name or manifest.get("name", d.name), spec=spec, net=net,
                    energy=build_energy(net, spec.train), manifest=manifest, directory=d,
                    log=log, extras=extras)


def rebuild_command(name: str, size: str, steps: int | None = None) -> str:
    cmd = f"ebmbook train {name} --size {size}"
    return cmd + (f" --steps {steps}" if steps is not None else "")


def train_artifact(name: str, spec: ImageModelSpec, directory: str | Path, *,
                   device: str = "cpu", resume: bool = True, progress: bool = True,
                   stop_after: int | None = None, command: str | None = None,
                   checkpoint_dir: str | Path | None = None) -> Artifact | None:
    """Train ``spec`` with Algorithm 1 (checkpointed, resumable) and save it to ``directory``.

    Checkpoints go to ``checkpoint_dir`` (default ``_build/checkpoints/<name>-<hash>``, outside
    git). With ``stop_after`` the run stops there (checkpointed) and nothing is saved: call again
    to resume. Returns the loaded artifact, or ``None`` when stopped early.
    """
    h = spec_hash(spec)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else (
        project_root() / "_build" / "checkpoints" / f"{name}-{h}")
    snap_dir = ckpt_dir / "snapshots"
    x = spec.load_data("train").to(device)
    net = spec.build_net()

    def snapshot(step: int, module: nn.Module) -> None:
        if spec.snapshot_every and (step + 1) % spec.snapshot_every == 0:
            atomic_torch_save({k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
                              snap_dir / f"step_{step + 1:07d}.pt")

    res = train(net, x, spec.train, checkpoint_dir=ckpt_dir, resume=resume, progress=progress,
                device=device, stop_after=stop_after, callback=snapshot)
    if res.steps_done < spec.train.n_steps:
        return None
    return _finish(name, spec, directory, res.net, res.log, res.bank.states if res.bank else None,
                   snap_dir, command, device, res.steps_done)


def _finish(name, spec, directory, net, log, bank_states, snap_dir, command, device, steps_done):
    extras: dict[str, Any] = {}
    if spec.snapshot_every:
        files = sorted(f for f in Path(snap_dir).glob("step_*.pt")
                       if int(f.stem.split("_")[1]) <= steps_done)
        extras["snapshot_steps"] = torch.tensor([int(f.stem.split("_")[1]) for f in files])
        extras["snapshots"] = [torch.load(f, map_location="cpu", weights_only=True) for f in files]
    if bank_states is not None and spec.bank_keep:
        g = torch.Generator().manual_seed(spec.train.seed + 11)
        idx = torch.randperm(len(bank_states), generator=g)[: spec.bank_keep]
        extras["bank"] = bank_states[idx.to(bank_states.device)].detach().cpu().clone()
    energy = build_energy(net, spec.train)
    metrics = data_energy_stats(energy, spec, device)
    metrics["final_r_st"] = float(np.nanmean(log.r_st[max(0, steps_done - 50): steps_done]))
    metrics["final_d_st"] = float(np.nanmean(log.d_st[max(0, steps_done - 50): steps_done]))
    if command is None:
        command = " ".join(shlex.quote(a) for a in sys.argv) if sys.argv else ""
    save_artifact(directory, name, spec, net, log=log, extras=extras, metrics=metrics,
                  command=command, wall_s=log.wall_s, steps_done=steps_done)
    return load_artifact(directory, spec, device=device, name=name)


def artifact_from_checkpoint(name: str, spec: ImageModelSpec, directory: str | Path, *,
                             size: str, checkpoint_dir: str | Path | None = None,
                             device: str = "cpu") -> Artifact:
    """Save the state of an unfinished run of ``spec`` (its latest checkpoint, at step k) as the
    artifact of ``spec.with_steps(k)``. That is the same computation: ``with_steps`` changes
    nothing but the number of steps, so ``ebmbook train <name> --size <size> --steps k``
    (the command written to the manifest) rebuilds it bit for bit."""
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else (
        project_root() / "_build" / "checkpoints" / f"{name}-{spec_hash(spec)}")
    state = torch.load(ckpt_dir / "checkpoint.pt", map_location=device, weights_only=False)
    if state["config_hash"] != config_hash(spec.train):
        raise ValueError(f"checkpoint {ckpt_dir} does not belong to this spec")
    k = int(state["step"])
    spec_k = spec.with_steps(k)
    net = spec_k.build_net().to(device)
    net.load_state_dict(state["net"])
    log = TrainLog(**{key: (v[:k] if isinstance(v, np.ndarray) else v)
                      for key, v in state["log"].items()})
    bank = state["bank"]["states"] if state.get("bank") else None
    return _finish(name, spec_k, directory, net, log, bank, ckpt_dir / "snapshots",
                   rebuild_command(name, size, k), device, k)


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
    return train_artifact(name, spec, cache, device=device, progress=progress,
                          command=command or f"load_or_train({name!r})")
