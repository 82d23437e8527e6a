"""The noiseless descent kernel: gradient descent to the local mode of each state.

A descent is the Langevin kernel (:func:`ebmbook.sampling.langevin.step`) with the noise switched
off, ``X <- X - (eps^2 / 2) grad U(X)``, written here with the rate ``eps^2 / 2``. The landscape
layer uses it as the local mode search of ADELM (thesis Algorithm 3, step 2) and learning uses it
for the latent codes of a Co-Op generator; both call it from here.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .langevin import LangevinParams, flat_norm, frozen_parameters
from .langevin import init as langevin_init
from .langevin import step as langevin_kernel

__all__ = ["local_modes"]


def local_modes(energy: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *,
                rate: float = 0.01, n_steps: int = 2000, tol: float = 1e-6):
    """Gradient descent ``x <- x - rate * grad U`` on a batch until every gradient norm is
    below ``tol`` or ``n_steps`` are done (the noiseless Langevin kernel with eps^2/2 = rate).
    Returns (modes, energies)."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate!r}")
    params = LangevinParams(eps=math.sqrt(2 * rate), noise=0.0)
    with frozen_parameters(energy):
        state = langevin_init(x, energy)
        for _ in range(n_steps):
            if float(flat_norm(state.grad).max()) < tol:
                break
            state, _ = langevin_kernel(state, energy, params)
    return state.x, state.energy
