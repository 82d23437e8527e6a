"""Random-walk Metropolis on an energy: the gradient-free kernel (used by Attraction-Diffusion
as the alternative to Langevin, Sec 4.3).

Same interface as :mod:`ebmbook.sampling.langevin`: :func:`init` makes the state and the pure
:func:`step` proposes ``X' = X + eps Z`` for every chain and accepts with probability
``min(1, exp(-(U(X') - U(X)) / noise^2))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._config import check_positive
from .langevin import Energy, _per_chain


@dataclass(frozen=True)
class RWMParams:
    """eps: proposal sd (> 0); noise: the temperature factor, target exp(-U / noise^2)."""

    eps: float
    noise: float = 1.0

    def __post_init__(self) -> None:
        for name in ("eps", "noise"):
            check_positive(name, getattr(self, name))


@dataclass
class RWMState:
    """The chains of a random-walk Metropolis run: states ``x`` and their energies ``(n,)``."""

    x: torch.Tensor
    energy: torch.Tensor

    def select(self, mask: torch.Tensor, other: "RWMState") -> "RWMState":
        return RWMState(torch.where(_per_chain(mask, self.x), self.x, other.x),
                        torch.where(mask, self.energy, other.energy))


@torch.no_grad()
def init(x: torch.Tensor, energy: Energy) -> RWMState:
    """The starting :class:`RWMState` of the chains ``x``: the states (detached) and their
    energies."""
    x = x.detach()
    return RWMState(x, energy(x))


@torch.no_grad()
def step(state: RWMState, energy: Energy, params: RWMParams,
         generator: torch.Generator | None = None) -> tuple[RWMState, torch.Tensor]:
    """One Metropolis step of every chain; returns the new state and the accepted mask."""
    x = state.x
    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    prop = RWMState(x + params.eps * z, None)
    prop.energy = energy(prop.x)
    log_ratio = -(prop.energy - state.energy) / (params.noise * params.noise)
    uni = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
    acc = uni.log() < log_ratio
    return prop.select(acc, state), acc
