"""Batched Langevin dynamics on an energy U (thesis eq. 1.2, 3.3 and 3.6): the one sampler kernel.

One step moves every chain of the batch at once::

    X <- X - (eps^2 / 2) * grad U(X) + eps * noise * Z,        Z ~ N(0, I)

``noise`` is tau * gamma: tau in {0, 1} switches the noise off or on (Algorithm 1) and gamma is
the temperature factor of eq. (3.6). With noise > 0 the chain targets exp(-U / noise^2); with
``mh=True`` each proposal is accepted with the Metropolis-Hastings ratio of that target (MALA),
so the chain is exact for any step size.

In the rescaled form (3.2)-(3.3) the network F is wrapped as U = F / (eps^2 / 2), and the step
above becomes X <- X - grad F(X) + eps * Z; see :class:`ebmbook.energies.RescaledPotential`.

The kernel has the shape of BlackJAX's: :func:`init` makes a :class:`LangevinState` (states,
their energies and gradients) and the pure function :func:`step` maps ``(state, energy, params,
generator)`` to the next state. Everything that moves a continuous state by Langevin dynamics
calls :func:`step`: :func:`langevin` (a whole chain with its statistics), Attraction-Diffusion
(whose magnetised energy is just another energy), the Lyapunov pair of chains and the
deterministic generator M(Z) of Sec 3.3 (``noise = 0``, ``differentiable=True``).

An energy is any callable mapping a batch ``(n, ...)`` to energies ``(n,)``. Every random draw
goes through the explicit ``generator``, so a seed reproduces a run bit for bit.

Speed: while sampling, an ``nn.Module`` energy's parameters are switched to
``requires_grad=False`` (:func:`frozen_parameters`, restored afterwards so learning is
untouched) and image batches travel in channels-last memory, which the DeepFRAME convolutions
are laid out for; ``benchmarks/langevin.py`` measures both against the authors' style of loop.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from .._config import check_int
from ..energies.precision import check_precision, evaluation

Energy = Callable[[torch.Tensor], torch.Tensor]


def _memory_format(x: torch.Tensor) -> torch.Tensor:
    # 4-D image batches in channels-last memory: the layout the DeepFRAME convolutions use
    if x.dim() == 4 and x.shape[1] > 0:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def energy_and_grad(energy: Energy, x: torch.Tensor, *, create_graph: bool = False,
                    precision: str = "fp32", exact_energy: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Energies ``(n,)`` and gradients ``dU/dx`` (shape of ``x``) for a batch of states.

    Gradients are taken with respect to the states only (``torch.autograd.grad`` with
    ``inputs=x``); parameters of ``energy`` are not accumulated into. With ``create_graph`` the
    results stay attached to the graph of ``x`` (for differentiating through a chain).

    ``precision`` (:mod:`ebmbook.energies.precision`): the arithmetic of the energy's network;
    the states, and the returned energies and gradients, keep the dtype of ``x``. With
    ``exact_energy`` a reduced-precision evaluation returns energies recomputed in full
    precision (one more forward pass), as an MH acceptance ratio needs.

    An energy with a true ``has_value_and_grad`` attribute computes both itself (e.g. the toy
    MLP's hand-written backpropagation); it is used in fp32 without ``create_graph``.
    """
    if precision == "fp32" and not create_graph and getattr(energy, "has_value_and_grad", False):
        u, g = energy.value_and_grad(x.detach())
        _check_energy_shape(u, x)
        return u, g
    with torch.enable_grad():
        if create_graph:
            xg = x if x.requires_grad else x.requires_grad_(True)
        else:
            xg = _memory_format(x.detach()).requires_grad_(True)
        with evaluation(precision, x.device):
            u = energy(xg)
        _check_energy_shape(u, x)
        if u.dtype != x.dtype:
            u = u.to(x.dtype)
        (g,) = torch.autograd.grad(u.sum(), xg, create_graph=create_graph)
    if exact_energy and precision != "fp32":
        with torch.no_grad():
            u = energy(x.detach())
    if create_graph:
        return u, g
    return u.detach(), g.detach()


def _check_energy_shape(u: torch.Tensor, x: torch.Tensor) -> None:
    if u.shape != (x.shape[0],):
        raise ValueError(f"an energy must return shape (batch,) = ({x.shape[0]},), "
                         f"got {tuple(u.shape)}; sum over non-batch dimensions in U")


@contextlib.contextmanager
def frozen_parameters(energy) -> Iterator[None]:
    """Within the block, the parameters of ``energy`` (if it is an ``nn.Module``) do not require
    grad, so autograd records no parameter path while sampling; their flags are restored on exit,
    whatever happens inside."""
    params = [p for p in energy.parameters() if p.requires_grad] \
        if isinstance(energy, torch.nn.Module) else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def flat_norm(t: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each batch element, ``(n,)``."""
    return t.reshape(t.shape[0], -1).norm(dim=1)


def _mean_norm(g: torch.Tensor, groups: int) -> torch.Tensor:
    """The batch-mean of ||g||: a scalar, or ``(groups,)`` means of equal consecutive blocks."""
    if groups == 1:
        return flat_norm(g).mean()
    return flat_norm(g).view(groups, -1).mean(1)


def _per_chain(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A ``(n,)`` tensor viewed to broadcast against a batch ``like`` of shape ``(n, ...)``."""
    return v.view((-1,) + (1,) * (like.dim() - 1))


@dataclass(frozen=True)
class LangevinParams:
    """Parameters of one Langevin step.

    eps:   the step size epsilon > 0 (drift eps^2/2 * grad U, noise sd eps * noise).
    noise: tau * gamma >= 0, a number or a ``(n,)`` tensor (one temperature factor per chain).
    mh:    Metropolis-Hastings correction toward exp(-U / noise^2) (MALA; needs noise > 0).
    clamp: optional (lo, hi) box applied to each proposal (not with MH).
    differentiable: keep the autograd graph through the step (for the unrolled generator M(Z)).
    precision: the arithmetic of U and grad U (``"fp32"``, ``"bf16"``, ``"tf32"`` on CUDA);
           states, noise and the MH ratio stay in the states' dtype, and with MH the energies
           of the ratio are recomputed in full precision, so MALA stays exact.
    """

    eps: float
    noise: float | torch.Tensor = 1.0
    mh: bool = False
    clamp: tuple[float, float] | None = None
    differentiable: bool = False
    precision: str = "fp32"
    exact_energy: bool = False

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if not (isinstance(self.eps, numbers.Real) and self.eps > 0 and math.isfinite(self.eps)):
            raise ValueError(f"eps (the Langevin step size) must be a finite number > 0, "
                             f"got {self.eps!r}")
        object.__setattr__(self, "eps", float(self.eps))
        if isinstance(self.noise, torch.Tensor):
            if self.noise.dim() != 1 or not bool(torch.isfinite(self.noise).all()) \
                    or bool((self.noise < 0).any()):
                raise ValueError("a per-chain noise must be a 1-D tensor of finite numbers >= 0")
            if self.mh:
                raise ValueError("mh=True needs one scalar noise (one target for every chain)")
        elif not (isinstance(self.noise, numbers.Real) and self.noise >= 0
                  and math.isfinite(self.noise)):
            raise ValueError(f"noise (tau * gamma) must be a finite number >= 0, got {self.noise!r}")
        else:
            object.__setattr__(self, "noise", float(self.noise))
        if self.mh and self.noise == 0:
            raise ValueError("mh=True needs noise > 0: a noiseless step has no MH target")
        if self.mh and self.clamp is not None:
            raise ValueError("clamp cannot be combined with mh=True (it would break detailed balance)")

    @property
    def drift(self) -> float:
        """eps^2 / 2, the gradient step (and the time step of the SDE 3.8)."""
        return self.eps * self.eps / 2.0

    def noise_sd(self, x: torch.Tensor) -> torch.Tensor | float:
        """The noise sd eps * noise, broadcastable against the batch ``x``."""
        if isinstance(self.noise, torch.Tensor):
            return _per_chain(self.eps * self.noise.to(device=x.device, dtype=x.dtype), x)
        return self.eps * self.noise


@dataclass
class LangevinState:
    """Where a batch of chains is: states ``x`` ``(n, ...)``, energies ``(n,)``, gradients."""

    x: torch.Tensor
    energy: torch.Tensor
    grad: torch.Tensor

    def select(self, mask: torch.Tensor, other: "LangevinState") -> "LangevinState":
        """Chain by chain: this state where ``mask`` is True, ``other`` elsewhere."""
        m = _per_chain(mask, self.x)
        return LangevinState(torch.where(m, self.x, other.x),
                             torch.where(mask, self.energy, other.energy),
                             torch.where(m, self.grad, other.grad))


def init(x: torch.Tensor, energy: Energy, *, differentiable: bool = False,
         precision: str = "fp32", exact_energy: bool = False) -> LangevinState:
    """The kernel state at ``x``: its energies and gradients (see :func:`energy_and_grad` for
    ``precision`` and ``exact_energy``)."""
    if x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(f"states must have shape (n, ...) with n >= 1, got {tuple(x.shape)}")
    if not differentiable:
        x = x.detach()
    u, g = energy_and_grad(energy, x, create_graph=differentiable, precision=precision,
                           exact_energy=exact_energy)
    return LangevinState(x, u, g)


def step(state: LangevinState, energy: Energy, params: LangevinParams,
         generator: torch.Generator | None = None, z: torch.Tensor | None = None
         ) -> tuple[LangevinState, torch.Tensor]:
    """One tempered ULA (or, with ``params.mh``, MALA) step of every chain.

    ``z``: the standard normal draw to use (drawn from ``generator`` when omitted; passing it
    lets two chains share their noise, as the Lyapunov shadow chain does). Returns the new state
    and the ``(n,)`` bool tensor of accepted proposals (all True without MH).
    """
    x, g = state.x, state.grad
    sd = params.noise_sd(x)
    prop = x - params.drift * g
    if params.mh or isinstance(sd, torch.Tensor) or sd > 0:
        if z is None:
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        prop = prop + sd * z
    if params.clamp is not None:
        prop = prop.clamp(*params.clamp)
    new = init(prop, energy, differentiable=params.differentiable, precision=params.precision,
               exact_energy=params.mh or params.exact_energy)
    if not params.mh:
        return new, torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    temp = params.noise * params.noise
    var = sd * sd
    # log q(x | x') - log q(x' | x) for the Gaussian proposal of variance sd^2
    fwd = flat_norm(prop - x + params.drift * g) ** 2
    bwd = flat_norm(x - prop + params.drift * new.grad) ** 2
    log_ratio = -(new.energy - state.energy) / temp - (bwd - fwd) / (2 * var)
    log_uni = torch.rand(x.shape[0], generator=generator, device=x.device,
                         dtype=log_ratio.dtype).log()
    acc = log_uni < log_ratio
    return new.select(acc, state), acc


@dataclass
class LangevinResult:
    """What a Langevin run returns.

    x:            final states, same shape as the input.
    grad_norm:    ``(n_steps + 1,)`` batch-mean of ||grad U|| at each visited state 0..L.
    r:            ``eps^2 / 2`` times the path mean of ``grad_norm``: r_st of Sec 2.3.1.
    energy:       ``(n_steps + 1, n)`` energies along the path, if ``record_energy`` (in full
                  precision whatever the chain's ``precision``).
    path:         ``(len(record_at), n, ...)`` states at the requested steps, if any.
    accept_rate:  mean MH acceptance (1.0 without MH).
    r_groups:     with ``groups > 1``: ``(groups,)``, r_st of each block of chains.
    """

    x: torch.Tensor
    grad_norm: torch.Tensor
    r: float
    energy: torch.Tensor | None = None
    path: torch.Tensor | None = None
    accept_rate: float = 1.0
    r_groups: torch.Tensor | None = None


def langevin(energy: Energy, x: torch.Tensor, *, n_steps: int, eps: float,
             noise: float | torch.Tensor = 1.0, mh: bool = False,
             generator: torch.Generator | None = None,
             record_energy: bool = False, record_at: list[int] | tuple[int, ...] | None = None,
             clamp: tuple[float, float] | None = None, progress: bool = False,
             precision: str = "fp32", groups: int = 1) -> LangevinResult:
    """Run ``n_steps`` of Langevin dynamics from the batch ``x`` (see module docstring).

    Parameters
    ----------
    energy: callable ``(n, ...) -> (n,)``.
    x: initial states; the batch dimension is first.
    n_steps: number of updates (0 returns the input and its gradient statistics).
    eps: the step size epsilon > 0.
    noise: tau * gamma >= 0 (or one value per chain); 0 gives gradient descent with step eps^2/2.
    mh: Metropolis-Hastings correction toward exp(-U / noise^2) (needs noise > 0).
    generator: the torch.Generator for the noise and the MH uniforms.
    record_energy: keep the ``(n_steps + 1, n)`` energy path.
    record_at: step indices whose states are kept in ``path`` (0 is the input).
    clamp: optional (lo, hi) box applied after each step (not used with MH).
    progress: show a tqdm bar.
    precision: the arithmetic of U and grad U (``"fp32"``, ``"bf16"``; see
        :class:`LangevinParams`).
    groups: the chains form this many equal blocks of consecutive chains (e.g. the networks of
        a :class:`~ebmbook.energies.potentials.StackedMLP`); ``grad_norm`` is then
        ``(n_steps + 1, groups)``, one batch-mean per block, and ``r_groups`` gives r_st per
        block (``r`` stays the mean over all chains).
    """
    n_steps = check_int("n_steps", n_steps)
    groups = check_int("groups", groups, 1)
    if x.shape[0] % groups:
        raise ValueError(f"groups = {groups} must divide the number of chains {x.shape[0]}")
    params = LangevinParams(eps=eps, noise=noise, mh=mh, clamp=clamp, precision=precision,
                            exact_energy=record_energy)
    keep = set(record_at or ())
    if _fast_path(energy, x, params):
        return _value_and_grad_chain(energy, x, n_steps, params, generator, keep, progress,
                                     groups)
    path = []
    with frozen_parameters(energy):
        state = init(x, energy, precision=precision, exact_energy=mh or record_energy)
        norms = [_mean_norm(state.grad, groups)]
        energies = [state.energy] if record_energy else None
        if 0 in keep:
            path.append(x.detach().clone())
        accepted = torch.zeros((), dtype=torch.float64, device=x.device)
        steps = range(1, n_steps + 1)
        if progress:
            from .._progress import tqdm
            steps = tqdm(steps, desc="Langevin", leave=False)
        for k in steps:
            state, acc = step(state, energy, params, generator)
            if mh:
                accepted += acc.double().mean()
            norms.append(_mean_norm(state.grad, groups))
            if record_energy:
                energies.append(state.energy)
            if k in keep:
                path.append(state.x.clone())

    return _result(state.x, n_steps, params, norms, energies, path, groups,
                   accept_rate=float(accepted / n_steps) if (mh and n_steps) else 1.0)


def _result(x: torch.Tensor, n_steps: int, params: LangevinParams, norms: list,
            energies: list | None, path: list, groups: int,
            accept_rate: float = 1.0) -> LangevinResult:
    """The :class:`LangevinResult` of a finished run from its per-step records."""
    grad_norm = torch.stack(norms)
    out = x.contiguous()
    return LangevinResult(
        x=out.clone() if n_steps == 0 else out,
        grad_norm=grad_norm,
        r=float(params.drift * grad_norm.mean()),
        r_groups=params.drift * grad_norm.mean(0) if groups > 1 else None,
        energy=torch.stack(energies) if energies is not None else None,
        path=torch.stack(path).contiguous() if path else None,
        accept_rate=accept_rate,
    )


def _fast_path(energy: Energy, x: torch.Tensor, params: LangevinParams) -> bool:
    """Whether :func:`langevin` may run :func:`_value_and_grad_chain`: an energy that computes
    its own gradient (``has_value_and_grad``), full precision, plain ULA (no MH, no clamp) and
    a chain that is not differentiated through."""
    return (params.precision == "fp32" and not params.mh and params.clamp is None
            and not params.differentiable and not x.requires_grad
            and bool(getattr(energy, "has_value_and_grad", False)))


def _value_and_grad_chain(energy: Energy, x: torch.Tensor, n_steps: int, params: LangevinParams,
                          generator: torch.Generator | None, keep: set[int],
                          progress: bool, groups: int = 1) -> LangevinResult:
    """:func:`langevin` for an energy with its own ``value_and_grad`` (the toy MLP): the same
    arithmetic in the same order, so the same numbers bit for bit, without the per-step
    :class:`LangevinState` bookkeeping. At batch 100 the MLP's own matrix products take about
    90 microseconds a step, and the generic :func:`step` added about 50 more."""
    value_and_grad = energy.value_and_grad
    drift = params.drift
    sd = params.noise_sd(x)
    noisy = isinstance(sd, torch.Tensor) or sd > 0
    shape, device, dtype = x.shape, x.device, x.dtype
    path = []
    with torch.no_grad():
        x = x.detach()
        u, g = value_and_grad(x)
        _check_energy_shape(u, x)
        norms = [_mean_norm(g, groups)]
        energies = [u] if params.exact_energy else None
        if 0 in keep:
            path.append(x.clone())
        steps = range(1, n_steps + 1)
        if progress:
            from .._progress import tqdm
            steps = tqdm(steps, desc="Langevin", leave=False)
        for k in steps:
            prop = x - drift * g
            if noisy:
                prop = prop + sd * torch.randn(shape, generator=generator, device=device,
                                               dtype=dtype)
            x = prop
            u, g = value_and_grad(x)
            norms.append(_mean_norm(g, groups))
            if energies is not None:
                energies.append(u)
            if k in keep:
                path.append(x.clone())
    return _result(x, n_steps, params, norms, energies, path, groups)
