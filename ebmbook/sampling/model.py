"""A potential together with the sampler it was trained with: :class:`EnergyModel`.

The energy U of a DeepFRAME model is defined through its Langevin step size: U = F / (eps^2/2)
(eq. 3.2). Its short-run samples are L steps of that sampler with noise tau from the model's own
initialisation (noise, data or a persistent bank). These pieces belong together, so they travel
together: a call site asks the model for samples and never passes eps beside an energy.

* ``model.energy``                       U, a callable ``(n, ...) -> (n,)``;
* ``model.init(n, generator)``           starting states as in training;
* ``model.short_run(n, generator)``      L steps from ``init`` (the negatives s_t of Algorithm 1);
* ``model.long_run(x, n_steps, gamma=)`` a long (optionally tempered, eq. 3.6, or MH) chain;
* ``model.generator_map(z)``             the deterministic generator M(Z) of Sec 3.3;
* ``model.params(gamma=, mh=)``          the :class:`LangevinParams` of one step, for kernels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch

from .._config import check_int
from ..energies.potentials import batched_energy
from .init import Initializer, NoiseInit
from .langevin import (LangevinParams, LangevinResult, frozen_parameters, init, langevin,
                       step)


@dataclass
class EnergyModel:
    """An energy U with its Langevin sampler (eps, tau, L) and its initialisation.

    energy:      U, a callable mapping ``(n, *state_shape)`` to ``(n,)`` (usually a
                 :class:`ebmbook.energies.RescaledPotential` around the network F).
    eps:         the Langevin step size epsilon.
    tau:         the noise indicator of Algorithm 1 (0 or 1).
    n_langevin:  L, the number of steps of a short run.
    initializer: where chains start (see :mod:`ebmbook.sampling.init`).
    state_shape: the shape of one state.
    mh:          whether the short runs are MH-adjusted (MALA).
    precision:   the arithmetic of U and grad U in every chain of this model (``"fp32"``,
                 ``"bf16"``; see :mod:`ebmbook.energies.precision`). States stay float32.
    """

    energy: Callable[[torch.Tensor], torch.Tensor]
    eps: float
    tau: float
    n_langevin: int
    initializer: Initializer
    state_shape: tuple[int, ...]
    mh: bool = False
    precision: str = "fp32"

    def __post_init__(self) -> None:
        LangevinParams(eps=self.eps, noise=self.tau, precision=self.precision)  # validates
        self.n_langevin = check_int("n_langevin", self.n_langevin)
        self.state_shape = tuple(self.state_shape)

    # ------------------------------------------------------------------ pieces
    @property
    def net(self) -> torch.nn.Module | None:
        """The network F inside the energy, if the energy wraps one."""
        return getattr(self.energy, "net", None)

    def params(self, gamma: float | torch.Tensor = 1.0, mh: bool = False,
               clamp: tuple[float, float] | None = None) -> LangevinParams:
        """One step of this model's sampler at temperature factor ``gamma`` (noise tau*gamma)."""
        return LangevinParams(eps=self.eps, noise=self.tau * gamma, mh=mh, clamp=clamp,
                              precision=self.precision)

    def init(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` starting states drawn the way the model was trained (noise, data or bank)."""
        x, _ = self.initializer.draw(check_int("n", n, 1), generator)
        return x

    # ------------------------------------------------------------------ sampling
    def short_run(self, n: int | None = None, generator: torch.Generator | None = None, *,
                  x: torch.Tensor | None = None, n_steps: int | None = None,
                  record_at=None, record_energy: bool = False,
                  progress: bool = False) -> LangevinResult:
        """L Langevin steps (eps, tau of the model) from ``x``, or from ``n`` states of
        :meth:`init`: the short-run samples s_t of Algorithm 1."""
        if (n is None) == (x is None):
            raise ValueError("give exactly one of n (states drawn by init) or x (start states)")
        if x is None:
            x = self.init(n, generator)
        return langevin(self.energy, x, n_steps=self.n_langevin if n_steps is None else n_steps,
                        eps=self.eps, noise=self.tau, mh=self.mh, generator=generator,
                        record_at=record_at, record_energy=record_energy, progress=progress,
                        precision=self.precision)

    def long_run(self, x: torch.Tensor, n_steps: int, *, gamma: float | torch.Tensor = 1.0,
                 mh: bool = False, generator: torch.Generator | None = None,
                 record_energy: bool = False, record_at=None, clamp=None,
                 progress: bool = False) -> LangevinResult:
        """``n_steps`` of the model's sampler from ``x`` at temperature factor ``gamma``
        (eq. 3.6: noise tau * gamma; one value per chain is allowed), MH-adjusted with ``mh``."""
        return langevin(self.energy, x, n_steps=n_steps, eps=self.eps, noise=self.tau * gamma,
                        mh=mh, generator=generator, record_energy=record_energy,
                        record_at=record_at, clamp=clamp, progress=progress,
                        precision=self.precision)

    def generator_map(self, z: torch.Tensor, n_steps: int | None = None,
                      differentiable: bool = False) -> torch.Tensor:
        """M(Z) of Sec 3.3: L noiseless steps ``X <- X - eps^2/2 grad U(X)`` from ``X_0 = Z``.

        With ``differentiable`` the result stays on the autograd graph of ``z`` (to optimise Z
        through the unrolled chain); otherwise it is computed without a graph."""
        n_steps = self.n_langevin if n_steps is None else check_int("n_steps", n_steps)
        if not differentiable:
            return langevin(self.energy, z.detach(), n_steps=n_steps, eps=self.eps, noise=0.0,
                            precision=self.precision).x
        params = LangevinParams(eps=self.eps, noise=0.0, differentiable=True,
                                precision=self.precision)
        state = init(z, self.energy, differentiable=True, precision=self.precision)
        for _ in range(n_steps):
            state, _ = step(state, self.energy, params)
        return state.x

    def energies(self, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
        """U over a large batch, ``chunk`` states at a time, as float64 on the CPU ``(n,)``."""
        with frozen_parameters(self.energy):
            return batched_energy(self.energy, x, chunk)

    def with_energy(self, energy: Callable[[torch.Tensor], torch.Tensor]) -> "EnergyModel":
        """The same sampler and initialisation around another energy (e.g. earlier weights)."""
        return dataclasses.replace(self, energy=energy)

    def with_initializer(self, initializer: Initializer) -> "EnergyModel":
        """The same energy and sampler, with chains starting from ``initializer``."""
        return dataclasses.replace(self, initializer=initializer)

    def with_precision(self, precision: str) -> "EnergyModel":
        """The same model, its energy evaluated in ``precision`` (``"fp32"`` or ``"bf16"``)."""
        return dataclasses.replace(self, precision=precision)

    def __repr__(self) -> str:
        prec = "" if self.precision == "fp32" else f", precision={self.precision!r}"
        return (f"EnergyModel(eps={self.eps:g}, tau={self.tau:g}, L={self.n_langevin}, "
                f"init={self.initializer!r}, state_shape={self.state_shape}{prec})")


def noise_model(energy, eps: float, state_shape, *, tau: float = 1.0, n_langevin: int = 100,
                kind: str = "uniform", scale: float = 1.0, device="cpu") -> EnergyModel:
    """An :class:`EnergyModel` whose chains start from noise (a convenience for analytic U)."""
    return EnergyModel(energy=energy, eps=eps, tau=tau, n_langevin=n_langevin,
                       initializer=NoiseInit(kind, tuple(state_shape), scale, device),
                       state_shape=tuple(state_shape))
