"""The generic training loop: checkpoints, bit-identical resume, divergence checks, progress and
Ctrl-C, for any learner that provides one update.

A *learner* (Algorithm 1's :class:`ebmbook.learning.trainer.MLLearner`, or the Co-Op learner of
Appendix A) has

* ``stat_names``: the names of the per-step statistics its ``step`` returns;
* ``step(t, generator) -> dict[str, float]``: one update. It must check for divergence *before*
  it changes any state and then raise :class:`Divergence`, so the state at the start of the step
  can be saved;
* ``state_dict()`` / ``load_state_dict(d)``: everything that changes during training (weights,
  optimiser, persistent bank...).

:func:`fit` owns the rest. Checkpoints are written only between steps, atomically, so a
checkpoint is always a consistent state and resuming from it gives bit-identical results to an
uninterrupted run. Ctrl-C (SIGINT) is deferred while a step runs: the step finishes, a
checkpoint is saved after it and ``KeyboardInterrupt`` is raised; a second Ctrl-C aborts at once
(the previous checkpoint stays). An interrupt that does not come through SIGINT (raised inside
the step) leaves the last periodic checkpoint, which is also consistent.
"""

from __future__ import annotations

import pickle
import signal
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch

from .._config import config_dict, config_hash
from ..io import atomic_torch_save

CHECKPOINT = "checkpoint.pt"
#: the first session of a run resumed from a checkpoint written before sessions were recorded
UNKNOWN_FIRST_SESSION = "unknown (the run began before its sessions were recorded)"
#: the record of a session that ran steps without a ``session`` label
UNLABELLED_SESSION = "unlabelled (a session that gave no label)"


class Divergence(Exception):
    """Raised by a learner's ``step`` (before it changes any state) when training has diverged."""

    def __init__(self, what: str, advice: str = ""):
        super().__init__(what)
        self.what, self.advice = what, advice


def check_data_batch(x: torch.Tensor) -> None:
    """Raise :class:`Divergence` (a data problem, not a model one) if a training batch holds
    NaN or inf values."""
    if not bool(torch.isfinite(x).all()):
        raise Divergence(f"the training batch holds {int((~torch.isfinite(x)).sum())} NaN/inf "
                         "values (not finite)", "Clean the training data: the data source "
                         "returned non-finite values, so no model setting can help.")


def check_statistic(name: str, value: float, threshold: float) -> None:
    """Raise :class:`Divergence` if a step statistic is not finite or exceeds ``threshold``."""
    if not np.isfinite(value):
        raise Divergence(f"{name} = {value} (not finite)")
    if abs(value) > threshold:
        raise Divergence(f"|{name}| = {abs(value):.3g} exceeds divergence_threshold = "
                         f"{threshold:.3g}")


class TrainingDivergedError(RuntimeError):
    """Raised when an energy or gradient becomes NaN/inf or explodes during training."""

    DEFAULT_ADVICE = ("Lower the learning rate (adam_lr / sgd_lr), raise eps_data (e.g. to 2*eps) "
                      "or the number of Langevin steps, or check that the data are scaled to the "
                      "range the potential expects.")

    def __init__(self, step: int, what: str, checkpoint: Path | None, advice: str = ""):
        where = f" The last good state was saved to {checkpoint}." if checkpoint else ""
        super().__init__(f"training diverged at step {step}: {what}.{where} "
                         f"{advice or self.DEFAULT_ADVICE}")
        self.step = step
        self.checkpoint = checkpoint


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or belongs to another configuration."""


class ForeignCheckpointError(CheckpointError):
    """A readable checkpoint that belongs to another configuration (``path``: the file), e.g.
    an ADELM file of a map with another T, alpha or seed."""

    def __init__(self, path, message: str):
        super().__init__(message)
        self.path = Path(path)


class TrainLog:
    """Per-step statistics of a run: one numpy array of length ``n_steps`` per name (NaN where
    not run yet), readable as attributes (``log.d_st``), plus the wall time ``wall_s``."""

    def __init__(self, wall_s: float = 0.0, **arrays: np.ndarray):
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        self.wall_s = float(wall_s)

    @classmethod
    def empty(cls, n: int, names=("d_st", "r_st", "u_pos", "u_neg", "lr")) -> "TrainLog":
        return cls(**{k: np.full(n, np.nan) for k in names})

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"TrainLog has no statistic {name!r}; it has {sorted(arrays)}")

    def names(self) -> list[str]:
        return list(self.arrays)

    def record(self, step: int, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            if k not in self.arrays:
                raise KeyError(f"the learner returned a statistic {k!r} its stat_names lack")
            self.arrays[k][step] = v

    def truncated(self, n: int) -> "TrainLog":
        return TrainLog(self.wall_s, **{k: v[:n] for k, v in self.arrays.items()})

    def state_dict(self) -> dict:
        return {**self.arrays, "wall_s": self.wall_s}

    def __repr__(self) -> str:
        return f"TrainLog({', '.join(self.arrays)}; {len(next(iter(self.arrays.values()), []))} steps)"


class Learner(Protocol):
    """What :func:`fit` needs of a learner: ``stat_names``, ``step(t, generator)``,
    ``state_dict()`` and ``load_state_dict(d)`` (see the module docstring)."""

    stat_names: tuple[str, ...]

    def step(self, t: int, generator: torch.Generator) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class FitResult:
    """What :func:`fit` returns: the per-step log, the number of steps done, the step the run
    resumed from (0 for a fresh run) and the checkpoint file, if one was kept."""

    log: TrainLog
    steps_done: int
    resumed_from: int = 0
    checkpoint: Path | None = None
    extras: dict = field(default_factory=dict)
    sessions: list = field(default_factory=list)


def checkpoint_sessions(state: dict) -> list[str]:
    """The session labels a loaded checkpoint records (:func:`fit`'s ``session``), oldest first;
    one written before sessions were kept gives :data:`UNKNOWN_FIRST_SESSION` as its first."""
    return [str(x) for x in state.get("sessions", [UNKNOWN_FIRST_SESSION])]


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Load a checkpoint file, or raise :class:`CheckpointError` naming it and the fix."""
    path = Path(path)
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile,
            ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}): "
                              "delete it to start the run over") from None


class _DeferredInterrupt:
    """Within the block, the first SIGINT only sets ``requested``; a second one raises at once.
    Outside the main thread (where signal handlers can't be set) it does nothing."""

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupt: finishing this step and saving a checkpoint "
              "(press Ctrl-C again to abort at once)", file=sys.stderr)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):
                self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def fit(learner: Learner, config: Any, n_steps: int, *, generator: torch.Generator,
        checkpoint_dir: str | Path | None = None, checkpoint_every: int = 500,
        resume: bool = True, stop_after: int | None = None, progress: bool = True,
        callback: Callable[[int, Learner], None] | None = None, device: str | torch.device = "cpu",
        desc: str = "train", session: str | None = None) -> FitResult:
    """Run ``learner.step`` for steps 0 to ``n_steps - 1`` (see the module docstring).

    ``config``: the (dataclass) configuration that defines the run; its hash guards the
    checkpoint. ``checkpoint_dir``: where ``checkpoint.pt`` is kept; with ``resume`` an existing
    checkpoint of the same config is continued. ``stop_after``: stop (with a checkpoint) after
    this many steps of the run in total. ``callback(step, learner)`` runs after every update.
    ``session``: a label for this call (e.g. the commit of the code that runs it). The checkpoint
    keeps the labels of the sessions that ran steps of the run, oldest first (``sessions`` of the
    result); a call that runs no step (a finished run resumed) adds none, nor does a session
    with the label of the one before; one without a label is kept as
    :data:`UNLABELLED_SESSION`. A checkpoint written before sessions were kept gives
    :data:`UNKNOWN_FIRST_SESSION` as its first.
    """
    log = TrainLog.empty(n_steps, learner.stat_names)
    ckpt = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    chash = config_hash(config)
    start = 0
    sessions: list[str] = []
    if ckpt is not None and resume and ckpt.exists():
        state = read_checkpoint(ckpt, device)
        if state.get("config_hash") != chash:
            raise CheckpointError(f"checkpoint {ckpt} belongs to a different config "
                                  f"(hash {state.get('config_hash')} != {chash}); delete it or "
                                  "use another checkpoint_dir")
        learner.load_state_dict(state["learner"])
        generator.set_state(state["generator"].to("cpu"))
        log = TrainLog(**state["log"])
        start = int(state["step"])
        sessions = checkpoint_sessions(state)

    def save(step: int, gen_state: torch.Tensor) -> None:
        if ckpt is None:
            return
        atomic_torch_save({"step": step, "config": config_dict(config), "config_hash": chash,
                           "learner": learner.state_dict(), "generator": gen_state,
                           "log": log.state_dict(), "sessions": list(sessions)}, ckpt)

    end = n_steps if stop_after is None else min(n_steps, stop_after)
    label = UNLABELLED_SESSION if session is None else str(session)
    if end > start and (not sessions or sessions[-1] != label):
        sessions.append(label)               # this call runs steps: it is one of the sessions
    bar = None
    if progress:
        from .._progress import tqdm
        bar = tqdm(total=n_steps, initial=start, desc=desc, leave=False)
    t0 = time.perf_counter() - log.wall_s
    try:
        with _DeferredInterrupt() as interrupt:
            for t in range(start, end):
                gen_state = generator.get_state()
                try:
                    stats = learner.step(t, generator)
                except Divergence as d:
                    log.wall_s = time.perf_counter() - t0
                    save(t, gen_state)          # nothing was changed by the failed step
                    raise TrainingDivergedError(t, d.what, ckpt, d.advice) from None
                log.record(t, stats)
                if callback is not None:
                    callback(t, learner)
                if bar is not None:
                    bar.update(1)
                    if t % 50 == 0:
                        bar.set_postfix({k: f"{v:.3g}" for k, v in list(stats.items())[:2]})
                if interrupt.requested or (ckpt is not None and (t + 1) % checkpoint_every == 0):
                    log.wall_s = time.perf_counter() - t0
                    save(t + 1, generator.get_state())
                if interrupt.requested:
                    raise KeyboardInterrupt
    finally:
        if bar is not None:
            bar.close()
    log.wall_s = time.perf_counter() - t0
    if end > start or ckpt is not None:
        save(end, generator.get_state())
    return FitResult(log=log, steps_done=end, resumed_from=start, checkpoint=ckpt,
                     sessions=list(sessions))
