"""A generic artifact store: one folder of saved tensors plus a manifest, loaded by spec hash.

A stored artifact is a folder holding

* one or more torch files of named state dicts / tensors (e.g. ``weights.pt``, ``extras.pt``);
* optionally ``log.npz``, a log of numpy arrays;
* ``manifest.json``, written LAST: the spec (any frozen config dataclass) and its hash
  (:func:`ebmbook._config.config_hash`), the seed, git commit, the command that rebuilds it,
  wall time, machine, the metrics quoted from it and the list of its files.

Every file is written atomically (temp file + rename, :mod:`ebmbook.io`) and the old manifest is
removed before anything else is written, so a folder with a manifest is complete. :func:`load`
returns ``None`` when there is no manifest or its hash differs from the requested spec's; a file
that is there but cannot be read raises :class:`ArtifactError`, whose one-line message names the
file and how to restore or rebuild it.

The store knows nothing about what the tensors mean (networks, images, training): that is
:mod:`ebmbook.artifacts`.
"""

from __future__ import annotations

import json
import pickle
import platform
import socket
import subprocess
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ._config import config_dict, config_hash
from .io import atomic_savez, atomic_torch_save, atomic_write_text

MANIFEST = "manifest.json"
PARTIAL = "partial.json"
LOG = "log.npz"

# what reading a damaged torch / npz / json file raises (truncation, bad zip, bad CRC, bad pickle)
_READ_ERRORS = (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError,
                zipfile.BadZipFile, zlib.error)


class ArtifactError(ValueError):
    """A stored file that cannot be used. ``str(err)`` is one line: the file, what is wrong with
    it, and how to fix it."""

    def __init__(self, path: str | Path, problem: str, fix: str):
        self.path, self.problem, self.fix = Path(path), problem, fix
        super().__init__(f"{show_path(path)} {problem}: {fix}")

    def with_fix(self, fix: str) -> "ArtifactError":
        """The same error with another suggested fix (the caller knows a better way out)."""
        return ArtifactError(self.path, self.problem, fix)


def spec_hash(spec: Any) -> str:
    """The hash an artifact of ``spec`` is stored and looked up under."""
    return config_hash(spec)


def show_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies below it (what a user types)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


def _one_line(exc: BaseException, limit: int = 90) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.split(". ")[0]
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def restore_command(directory: str | Path) -> str | None:
    """``git checkout -- <directory>`` if the folder's files are tracked by git, else ``None``."""
    d = Path(directory).resolve()
    if not d.is_dir() or not _git(["ls-files", "--error-unmatch", "--", "."], d):
        return None
    top = _git(["rev-parse", "--show-toplevel"], d)
    if top is None:
        return None
    rel = d.relative_to(Path(top).resolve())
    try:
        Path.cwd().resolve().relative_to(Path(top).resolve())
        return f"git checkout -- {show_path(d)}"
    except ValueError:
        return f"git -C {top} checkout -- {rel}"


def repair_hint(directory: str | Path, rebuild: str | None = None) -> str:
    """How to get a damaged artifact folder back: restore it from git when tracked, and/or
    rebuild it with ``rebuild`` (a command), or else delete it and rebuild it."""
    ways = []
    restore = restore_command(directory)
    if restore:
        ways.append(f"restore it with `{restore}`")
    if rebuild:
        ways.append(f"rebuild it with `{rebuild}`")
    else:
        ways.append(f"delete {show_path(directory)} and rebuild it")
    return " or ".join(ways)


def git_commit(cwd: str | Path | None = None) -> str:
    """The commit of the working tree at ``cwd`` (``+dirty`` if tracked files changed, other
    than the committed artifacts: a training that spans sessions keeps rewriting its checkpoint
    under ``artifacts/``, which says nothing about the code that ran)."""
    cwd = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return "unknown"
    top = _git(["rev-parse", "--show-toplevel"], cwd)
    dirty = _git(["status", "--porcelain", "--untracked-files=no", "--", top or ".",
                  f":(exclude){top}/artifacts" if top else ":(exclude)artifacts"], cwd)
    return commit + ("+dirty" if dirty else "")


def machine() -> dict:
    from .energies.precision import cpu_model, native_bf16
    info = {"host": socket.gethostname(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cpu": cpu_model(), "cpu_threads": torch.get_num_threads(),
            # bf16 runs as bf16 only where native; elsewhere in fp32 (energies.precision)
            "cpu_bf16_native": native_bf16("cpu")}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def _cpu(obj: Any) -> Any:
    """``obj`` with every tensor detached and moved to the CPU (dicts, lists, tuples walked)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Mapping):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


# ----------------------------------------------------------------------------- writing


def save(directory: str | Path, spec: Any, *, tensors: Mapping[str, Any],
         log: Mapping[str, Any] | None = None, name: str | None = None, seed: int | None = None,
         command: str = "", wall_s: float = 0.0, metrics: Mapping | None = None,
         info: Mapping | None = None, commit: str | None = None) -> Path:
    """Write an artifact of ``spec`` into ``directory``: each ``tensors[file]`` with
    ``torch.save``, ``log`` (name -> array) as ``log.npz``, then ``manifest.json``.

    ``info``: further manifest fields (e.g. ``steps_done``). Files of a previous artifact in the
    folder that this one does not write are removed; nothing else in the folder is touched.
    """
    d = Path(directory)
    for fname in tensors:
        if Path(fname).name != fname or fname in (MANIFEST, LOG) or not fname.endswith(".pt"):
            raise ValueError(f"artifact file name {fname!r} is invalid: it must be a plain "
                             f"'<name>.pt' other than {MANIFEST!r} and {LOG!r}")
    d.mkdir(parents=True, exist_ok=True)
    try:
        old = read_manifest(d)
    except ArtifactError:
        old = None
    (d / MANIFEST).unlink(missing_ok=True)  # the folder is incomplete until the new manifest
    written = []
    for fname, obj in tensors.items():
        atomic_torch_save(_cpu(obj), d / fname)
        written.append(fname)
    if log is not None:
        atomic_savez(d / LOG, {k: np.asarray(v) for k, v in log.items()})
        written.append(LOG)
    for stale in set((old or {}).get("files", [])) - set(written) - {MANIFEST}:
        if Path(stale).name == stale:
            (d / stale).unlink(missing_ok=True)
    manifest = {"name": name if name is not None else d.name, "spec": config_dict(spec),
                "spec_hash": spec_hash(spec), "seed": seed, **(info or {}),
                "git_commit": commit if commit is not None else git_commit(),
                "command": command, "wall_time_s": round(float(wall_s), 1),
                "machine": machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "metrics": dict(metrics or {}), "files": sorted(written) + [MANIFEST]}
    atomic_write_text(d / MANIFEST, json.dumps(manifest, indent=2, default=float))
    return d


def partial_status(steps_done: int, n_steps: int) -> str:
    """The status of an unfinished run, as ``partial.json`` and the pages print it."""
    return f"partial, {int(steps_done)} of {int(n_steps)} updates"


def write_partial(directory: str | Path, spec: Any, *, name: str, steps_done: int,
                  n_steps: int, checkpoint: str | Path, resume_command: str,
                  wall_s: float = 0.0, started_commit: str | None = None) -> Path:
    """Record an unfinished long run in ``directory/partial.json``: which spec, how far it got
    ("partial, N of M updates"), the checkpoint it resumes from and the command that resumes it.

    A long training spans sessions on fresh machines: its checkpoint is committed beside this
    file, and whoever comes next runs ``resume_command``. The artifact's own ``manifest.json``
    replaces it when the run finishes (:func:`clear_partial`)."""
    d = Path(directory)
    info = {"name": name, "status": partial_status(steps_done, n_steps),
            "steps_done": int(steps_done), "n_steps": int(n_steps),
            "spec": config_dict(spec), "spec_hash": spec_hash(spec),
            "checkpoint": show_path(checkpoint), "resume_command": resume_command,
            "wall_time_s": round(float(wall_s), 1),
            "git_commit": started_commit if started_commit is not None else git_commit(),
            "machine": machine(), "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_text(d / PARTIAL, json.dumps(info, indent=2, default=float))
    return d / PARTIAL


def read_partial(directory: str | Path) -> dict | None:
    """The ``partial.json`` record of an unfinished run in ``directory``, or ``None``."""
    path = Path(directory) / PARTIAL
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(path, f"cannot be read ({_one_line(exc)})",
                            "restore it with git checkout, or delete it") from None


def clear_partial(directory: str | Path) -> None:
    """Forget the unfinished-run record of ``directory`` (its run has finished)."""
    (Path(directory) / PARTIAL).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- reading


def read_manifest(directory: str | Path, rebuild: str | None = None) -> dict | None:
    """The manifest of the artifact in ``directory``; ``None`` if there is none (nothing saved,
    or an interrupted save). A manifest that is not a complete JSON object with a
    ``spec_hash`` raises :class:`ArtifactError` (``rebuild``: a command to suggest)."""
    p = Path(directory) / MANIFEST
    if not p.exists():
        return None
    try:
        manifest = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(p, f"is truncated or corrupt ({_one_line(exc)})",
                            repair_hint(directory, rebuild)) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec_hash"), str):
        raise ArtifactError(p, "is not an artifact manifest (no 'spec_hash' field)",
                            repair_hint(directory, rebuild))
    return manifest


def read_torch(path: str | Path, fix: str, *, weights_only: bool = True,
               map_location: Any = "cpu") -> Any:
    """``torch.load(path)``; a file that cannot be read raises :class:`ArtifactError` naming it
    with ``fix``. (Also for checkpoints: ``weights_only=False``.)"""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(p, "is missing", fix)
    try:
        return torch.load(p, map_location=map_location, weights_only=weights_only)
    except _READ_ERRORS as exc:
        raise ArtifactError(p, f"is truncated or corrupt ({_one_line(exc)})", fix) from None


def read_arrays(path: str | Path, fix: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read now (so that a damaged member fails here)."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(p, "is missing", fix)
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    except _READ_ERRORS as exc:
        raise ArtifactError(p, f"is truncated or corrupt ({_one_line(exc)})", fix) from None


@dataclass
class Stored:
    """What :func:`load` read: the manifest, each torch file's content and the log."""

    directory: Path
    manifest: dict
    tensors: dict[str, Any] = field(default_factory=dict)   # file name -> loaded object
    log: dict[str, np.ndarray] | None = None

    def fix(self) -> str:
        """How to repair this artifact (for errors found while using what was loaded)."""
        return repair_hint(self.directory, self.manifest.get("command") or None)


def load(directory: str | Path, spec: Any, *, rebuild: str | None = None) -> Stored | None:
    """The artifact of ``spec`` in ``directory``, or ``None`` if the folder holds none (no
    manifest) or one of another spec (the manifest's hash differs). A damaged file raises
    :class:`ArtifactError`; ``rebuild`` is the command to suggest if the manifest names none."""
    d = Path(directory)
    manifest = read_manifest(d, rebuild)
    if manifest is None or manifest["spec_hash"] != spec_hash(spec):
        return None
    fix = repair_hint(d, manifest.get("command") or rebuild)
    files = manifest.get("files")
    if not isinstance(files, list):  # an older manifest without a file list
        files = sorted(p.name for p in d.iterdir() if p.suffix in (".pt", ".npz"))
    out = Stored(directory=d, manifest=manifest)
    for fname in files:
        if fname == MANIFEST:
            continue
        if fname == LOG:
            out.log = read_arrays(d / fname, fix)
        elif str(fname).endswith(".pt"):
            out.tensors[fname] = read_torch(d / fname, fix)
    return out
