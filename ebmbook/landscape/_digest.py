"""Digests that identify what a map was computed from (an energy's weights, a tensor of
states), so that a finished stage or an ADELM checkpoint is reused only for the same inputs."""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def _tensor_digest(h, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update((t.float() if t.dtype == torch.bfloat16 else t).numpy().tobytes())


def _digest(x) -> str:
    h = hashlib.sha256()
    if x is not None:
        _tensor_digest(h, torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x))
    return h.hexdigest()[:20]


def energy_fingerprint(energy) -> str | None:
    """A digest of an energy's weights (every parameter and buffer of an ``nn.Module``), or
    None for a callable without them, whose stages are then never reused."""
    if not isinstance(energy, torch.nn.Module):
        return None
    h = hashlib.sha256(type(energy).__name__.encode())
    for name, t in [*energy.named_parameters(), *energy.named_buffers()]:
        h.update(name.encode())
        _tensor_digest(h, t)
    return h.hexdigest()[:20]
