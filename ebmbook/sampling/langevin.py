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
For plain ULA, :func:`langevin` has fast paths that do :func:`step`'s arithmetic op for op
without its per-step bookkeeping (the same numbers bit for bit, tested):

* an energy with ``has_value_and_grad`` and ``value_and_grad(x) -> (U, grad U)`` (the toy MLPs'
  hand-written backpropagation) is evaluated through it;
* **gradient-only protocol** (opt-in, ``gradient_only=True``, and :func:`langevin_together`):
  an energy may offer ``prepared_gradient(n, others=()) -> grad | None``, where ``grad(x)``
  maps a batch of ``n`` states (followed by the ``n_i`` states of each ``(energy_i, n_i)`` of
  ``others``) to a new tensor of their gradients grad U at the energies' current parameters,
  in the shape of ``x`` (the numbers ``value_and_grad`` gives, where there is one). ``grad``
  may name a ``shape`` (a reshape of the flat batch into rows of whole chains, e.g. ``(K, n,
  dim)`` for K networks) that the chain then keeps its states in. The parameters must not
  change while ``grad`` is in use; None means it cannot (then the other paths run). The chain
  prepares the gradient once, never computes U, and writes the noise and the per-chain gradient
  norms into preallocated buffers. :func:`langevin_together` runs several batches of chains
  (each with its own energy, eps, noise and generator, as :func:`langevin` would run it alone)
  as one such program: ``train_stacked``'s negative chains
  (:meth:`~ebmbook.energies.potentials.RescaledPotential.prepared_gradient`).
  An energy with a true ``prepared_by_default`` is run on its program without being asked,
  in any precision it names in ``prepared_precisions`` (the program is then called as
  ``prepared_gradient(n, others, precision=...)`` for a precision other than fp32): the
  (leaky) ReLU DeepFRAME's :class:`~ebmbook.energies.potentials.FrameGradient`, which replays
  autograd's backward ops with weights cast once, so fp32 and bf16 chains give the autograd
  chain's numbers bit for bit (``tests/test_langevin_gradient.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

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
             precision: str = "fp32", groups: int = 1,
             gradient_only: bool = False) -> LangevinResult:
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
    gradient_only: run the chain on the energy's ``prepared_gradient`` where it offers one (the
        gradient-only protocol of the module docstring; fp32 plain ULA with one scalar noise and
        no ``record_energy`` only): U is not evaluated along the chain. Opt-in, so that no
        other caller's numbers depend on it; where tested it gives the numbers of the default
        path bit for bit (``tests/test_langevin_gradient.py``).
    """
    n_steps = check_int("n_steps", n_steps)
    groups = _check_groups(groups, x)
    params = LangevinParams(eps=eps, noise=noise, mh=mh, clamp=clamp, precision=precision,
                            exact_energy=record_energy)
    keep = set(record_at or ())
    if ((gradient_only or getattr(energy, "prepared_by_default", False))
            and _gradient_path(energy, x, params)):
        grad = _prepare(energy, x.shape[0], [], precision)
        if grad is not None:
            return _gradient_chain([x], [params], [generator], [groups], grad, n_steps, keep,
                                   progress)[0]
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

    return _result(state.x, n_steps, params, torch.stack(norms), energies, path, groups,
                   accept_rate=float(accepted / n_steps) if (mh and n_steps) else 1.0)


@dataclass(frozen=True)
class Chains:
    """One batch of chains for :func:`langevin_together`, with what :func:`langevin` would take
    for it: its energy, initial states ``x``, step size, noise tau * gamma (one number), MH,
    generator, precision and ``groups``."""

    energy: Energy
    x: torch.Tensor
    eps: float
    noise: float = 1.0
    mh: bool = False
    generator: torch.Generator | None = None
    precision: str = "fp32"
    groups: int = 1


def langevin_together(chains: Sequence[Chains], *, n_steps: int) -> list[LangevinResult]:
    """``n_steps`` Langevin steps of several batches of chains in lockstep: for each
    :class:`Chains` ``c``, what ``langevin(c.energy, c.x, n_steps=n_steps, eps=c.eps,
    noise=c.noise, mh=c.mh, generator=c.generator, precision=c.precision, groups=c.groups)``
    gives, bit for bit (``tests/test_langevin_gradient.py``), and the same draws from each
    batch's generator.

    When every batch is fp32 plain ULA and the first energy's ``prepared_gradient(n_0,
    [(energy_1, n_1), ...])`` (the gradient-only protocol, see the module docstring) gives one
    program for all of them, the batches run as one chain: one gradient evaluation per step for
    every batch (e.g. the networks of several stacks of MLPs at once), each batch with its own
    drift, noise and generator. Otherwise each batch runs alone through
    ``langevin(..., gradient_only=True)``. The batches must have states of one shape, dtype and
    device to share a program.
    """
    n_steps = check_int("n_steps", n_steps)
    chains = list(chains)
    params = [LangevinParams(eps=c.eps, noise=c.noise, mh=c.mh, precision=c.precision)
              for c in chains]
    groups = [_check_groups(c.groups, c.x) for c in chains]
    grad = None
    first = chains[0].x if chains else None
    if chains and all(_gradient_path(c.energy, c.x, p) and c.x.shape[1:] == first.shape[1:]
                      and c.x.dtype == first.dtype and c.x.device == first.device
                      and p.precision == params[0].precision
                      for c, p in zip(chains, params)):
        grad = _prepare(chains[0].energy, first.shape[0],
                        [(c.energy, c.x.shape[0]) for c in chains[1:]], params[0].precision)
    if grad is None:
        return [langevin(c.energy, c.x, n_steps=n_steps, eps=c.eps, noise=c.noise, mh=c.mh,
                         generator=c.generator, precision=c.precision, groups=c.groups,
                         gradient_only=True) for c in chains]
    return _gradient_chain([c.x for c in chains], params, [c.generator for c in chains],
                           groups, grad, n_steps)


def _check_groups(groups: int, x: torch.Tensor) -> int:
    groups = check_int("groups", groups, 1)
    if x.shape[0] % groups:
        raise ValueError(f"groups = {groups} must divide the number of chains {x.shape[0]}")
    return groups


def _result(x: torch.Tensor, n_steps: int, params: LangevinParams, grad_norm: torch.Tensor,
            energies: list | None, path: list, groups: int,
            accept_rate: float = 1.0) -> LangevinResult:
    """The :class:`LangevinResult` of a finished run from its per-step records (``grad_norm``:
    ``(n_steps + 1,)``, or ``(n_steps + 1, groups)`` with groups)."""
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


def _plain_ula(x: torch.Tensor, params: LangevinParams, precisions=("fp32",)) -> bool:
    """Plain ULA (no MH, no clamp) in one of ``precisions`` (default: full precision only), a
    chain not differentiated through."""
    return (params.precision in precisions and not params.mh and params.clamp is None
            and not params.differentiable and not x.requires_grad)


def _fast_path(energy: Energy, x: torch.Tensor, params: LangevinParams) -> bool:
    """Whether :func:`langevin` may run :func:`_value_and_grad_chain`: an energy that computes
    its own gradient (``has_value_and_grad``) in a plain ULA chain."""
    return _plain_ula(x, params) and bool(getattr(energy, "has_value_and_grad", False))


def _gradient_path(energy: Energy, x: torch.Tensor, params: LangevinParams) -> bool:
    """Whether a chain may run on the energy's prepared gradient (:func:`_gradient_chain`): a
    plain ULA chain with one scalar noise whose energies are not recorded, in a precision the
    energy's program offers (``prepared_precisions``, default fp32), and an energy that offers
    ``prepared_gradient``."""
    return (_plain_ula(x, params, getattr(energy, "prepared_precisions", ("fp32",)))
            and not params.exact_energy and not isinstance(params.noise, torch.Tensor)
            and callable(getattr(energy, "prepared_gradient", None)))


def _prepare(energy: Energy, n: int, others: list, precision: str):
    """``energy.prepared_gradient(n, others)``, with ``precision`` passed where it is not fp32
    (an energy that offers reduced precision names it in ``prepared_precisions``)."""
    if precision == "fp32":
        return energy.prepared_gradient(n, others) if others else energy.prepared_gradient(n)
    return energy.prepared_gradient(n, others, precision=precision)


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
    return _result(x, n_steps, params, torch.stack(norms), energies, path, groups)


def _chain_constant(values: list[float], sizes: list[int], like: torch.Tensor):
    """A per-batch constant of :func:`_gradient_chain`: the float itself for one batch, else a
    tensor of the states' shape holding each batch's value (a float32 multiply by either gives
    the same numbers, so a batch's chains do not depend on the batches beside it; a multiply of
    two tensors of one shape costs a fraction of a broadcast over 2-D states' short rows)."""
    if len(values) == 1:
        return values[0]
    per_chain = torch.tensor(values, dtype=like.dtype, device=like.device).repeat_interleave(
        torch.tensor(sizes, device=like.device))
    return per_chain.view((-1,) + (1,) * (like.dim() - 1)).expand_as(like).contiguous()


def _layout(grad, flat: torch.Size, spans: list[tuple[int, int]]) -> tuple[int, ...]:
    """The shape the chain keeps its states in: ``grad.shape`` where the program declares one
    that holds the flat batch ``flat`` and splits it into rows of whole chains with every
    batch's chains whole rows; else the flat batch's own shape."""
    shape = tuple(getattr(grad, "shape", None) or flat)
    n_event = len(flat) - 1
    rows = shape[0] if shape else 0
    if (shape == tuple(flat) or math.prod(shape) != math.prod(flat) or len(shape) <= n_event
            or shape[len(shape) - n_event:] != tuple(flat[1:]) or flat[0] % max(rows, 1)):
        return tuple(flat)
    per_row = flat[0] // rows
    return shape if all(lo % per_row == 0 and hi % per_row == 0 for lo, hi in spans) \
        else tuple(flat)


def _gradient_chain(xs: list[torch.Tensor], params: list[LangevinParams],
                    generators: list[torch.Generator | None], groups: list[int],
                    grad: Callable[[torch.Tensor], torch.Tensor], n_steps: int,
                    keep: set[int] = frozenset(), progress: bool = False
                    ) -> list[LangevinResult]:
    """Plain ULA chains of one or more batches ``xs`` on a prepared gradient program ``grad``
    (the gradient-only protocol) that takes their states concatenated: :func:`step`'s
    arithmetic op for op (``X - drift * g``, plus ``sd * Z`` with Z drawn from each batch's
    generator where its sd > 0), as :func:`_value_and_grad_chain` does, so the numbers of
    :func:`langevin` bit for bit. U is not computed; the noise is drawn into one buffer and the
    gradient norm of every chain at every step into one array, reduced to the batch means of
    each group at the end. The states stay in the program's ``shape`` where it declares one (a
    stack of networks: ``(K, n, dim)``). Scalar noise per batch only."""
    sizes = [x.shape[0] for x in xs]
    x = (xs[0] if len(xs) == 1 else torch.cat(xs)).detach()
    flat = x.shape
    bounds = list(itertools.accumulate(sizes, initial=0))
    spans = list(zip(bounds[:-1], bounds[1:]))
    shape = _layout(grad, flat, spans)
    per_row = flat[0] // shape[0]
    rows = [(lo // per_row, hi // per_row) for lo, hi in spans]     # each batch's rows
    drift = _chain_constant([p.drift for p in params], sizes, x)
    sds = [p.noise_sd(x) for p in params]
    noisy = [(gen, lo, hi, sd) for gen, (lo, hi), sd in zip(generators, rows, sds) if sd > 0]
    sd = _chain_constant(sds, sizes, x) if len(noisy) == len(xs) else None
    x = x.reshape(shape)
    drift, sd = [c.view(shape) if isinstance(c, torch.Tensor) else c for c in (drift, sd)]
    chain_dims = shape[:len(shape) - (len(flat) - 1)]
    norms = torch.empty((n_steps + 1, *chain_dims), dtype=x.dtype, device=x.device)
    z = torch.empty_like(x) if noisy else None
    # each noisy batch's block of the noise buffer: (its generator, the block, its shape)
    draws = [(gen, z[lo:hi], z[lo:hi].shape) for gen, lo, hi, _ in noisy]
    # ||g|| of each chain, as flat_norm computes it (over its flattened state)
    one_dim = len(flat) == 2
    vector_norm = torch.linalg.vector_norm
    path = []
    with torch.no_grad():
        g = grad(x)
        vector_norm(g if one_dim else g.reshape(*chain_dims, -1), dim=-1, out=norms[0])
        if 0 in keep:
            path.append(x.reshape(flat).clone())
        steps = range(1, n_steps + 1)
        if progress:
            from .._progress import tqdm
            steps = tqdm(steps, desc="Langevin", leave=False)
        for t in steps:
            x = x - g.mul_(drift)
            for gen, block, size in draws:
                torch.randn(size, generator=gen, out=block)
            if sd is not None:
                x.add_(z.mul_(sd))
            else:
                for _, lo, hi, s in noisy:
                    x[lo:hi].add_(z[lo:hi].mul_(s))
            g = grad(x)
            vector_norm(g if one_dim else g.reshape(*chain_dims, -1), dim=-1, out=norms[t])
            if t in keep:
                path.append(x.reshape(flat).clone())
        # the batch mean of each group at each step (n_steps + 1, groups) per batch
        norms = norms.view(n_steps + 1, -1)
        per_group = {n // k for n, k in zip(sizes, groups)}
        if len(per_group) == 1:
            means = norms.view(n_steps + 1, -1, per_group.pop()).mean(2)
            cols = list(itertools.accumulate(groups, initial=0))
            blocks = [means[:, a:b] for a, b in zip(cols[:-1], cols[1:])]
        else:
            blocks = [norms[:, lo:hi].reshape(n_steps + 1, k, -1).mean(2)
                      for (lo, hi), k in zip(spans, groups)]
    x = x.view(flat)
    return [_result(x[lo:hi], n_steps, p, block[:, 0].contiguous() if k == 1
                    else block.contiguous(), None, [s[lo:hi] for s in path], k)
            for (lo, hi), p, k, block in zip(spans, params, groups, blocks)]
