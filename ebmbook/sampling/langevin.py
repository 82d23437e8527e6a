"""Batched Langevin dynamics on an energy U (thesis eq. 1.2, 3.3 and 3.6).

One step moves every chain of the batch at once::

    X <- X - (eps^2 / 2) * grad U(X) + eps * noise * Z,        Z ~ N(0, I)

``noise`` is tau * gamma: tau in {0, 1} switches the noise off or on (Algorithm 1) and gamma is
the temperature factor of eq. (3.6). With noise > 0 the chain targets exp(-U / noise^2); with
``mh=True`` each proposal is accepted with the Metropolis-Hastings ratio of that target (MALA),
so the chain is exact for any step size.

In the rescaled form (3.2)-(3.3) the network F is wrapped as U = F / (eps^2 / 2), and the step
above becomes X <- X - grad F(X) + eps * Z; see :class:`ebmbook.energies.RescaledPotential`.

An energy is any callable mapping a batch ``(n, ...)`` to energies ``(n,)``. Every random draw
goes through the explicit ``generator``, so a seed reproduces a run bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

Energy = Callable[[torch.Tensor], torch.Tensor]


def energy_and_grad(energy: Energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Energies ``(n,)`` and gradients ``dU/dx`` (shape of ``x``) for a batch of states.

    Gradients are taken with respect to the states only; parameters of ``energy`` are not
    accumulated into (``torch.autograd.grad`` with ``inputs=x``).
    """
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        u = energy(xg)
        if u.shape != (x.shape[0],):
            raise ValueError(f"an energy must return shape (batch,) = ({x.shape[0]},), "
                             f"got {tuple(u.shape)}; sum over non-batch dimensions in U")
        (g,) = torch.autograd.grad(u.sum(), xg)
    return u.detach(), g.detach()


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).norm(dim=1)


@dataclass
class LangevinResult:
    """What a Langevin run returns.

    x:            final states, same shape as the input.
    grad_norm:    ``(n_steps + 1,)`` batch-mean of ||grad U|| at each visited state 0..L.
    r:            ``eps^2 / 2`` times the path mean of ``grad_norm``: r_st of Sec 2.3.1.
    energy:       ``(n_steps + 1, n)`` energies along the path, if ``record_energy``.
    path:         ``(len(record_at), n, ...)`` states at the requested steps, if any.
    accept_rate:  mean MH acceptance (1.0 without MH).
    """

    x: torch.Tensor
    grad_norm: torch.Tensor
    r: float
    energy: torch.Tensor | None = None
    path: torch.Tensor | None = None
    accept_rate: float = 1.0


def langevin(energy: Energy, x: torch.Tensor, *, n_steps: int, step_size: float,
             noise: float = 1.0, mh: bool = False, generator: torch.Generator | None = None,
             record_energy: bool = False, record_at: list[int] | tuple[int, ...] | None = None,
             clamp: tuple[float, float] | None = None, progress: bool = False) -> LangevinResult:
    """Run ``n_steps`` of Langevin dynamics from the batch ``x`` (see module docstring).

    Parameters
    ----------
    energy: callable ``(n, ...) -> (n,)``.
    x: initial states; the batch dimension is first.
    n_steps: number of updates L (0 returns the input and its gradient statistics).
    step_size: eps > 0.
    noise: tau * gamma >= 0; 0 gives noiseless gradient descent with step eps^2/2.
    mh: Metropolis-Hastings correction toward exp(-U / noise^2) (needs noise > 0).
    generator: the torch.Generator for the noise and the MH uniforms.
    record_energy: keep the ``(n_steps + 1, n)`` energy path.
    record_at: step indices whose states are kept in ``path`` (0 is the input).
    clamp: optional (lo, hi) box applied after each step (not used with MH).
    progress: show a tqdm bar.
    """
    if not (isinstance(n_steps, int) and n_steps >= 0):
        raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
    if not (step_size > 0 and math.isfinite(step_size)):
        raise ValueError(f"step_size must be a finite number > 0, got {step_size!r}")
    if not (noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if mh and noise == 0:
        raise ValueError("mh=True needs noise > 0: a noiseless step has no MH target")
    if mh and clamp is not None:
        raise ValueError("clamp cannot be combined with mh=True (it would break detailed balance)")

    eps = float(step_size)
    drift = eps * eps / 2.0
    sd = eps * float(noise)
    keep = set(record_at or ())
    path = []

    u, g = energy_and_grad(energy, x)
    x = x.detach().clone()
    norms = [_flat_norm(g).mean()]
    energies = [u] if record_energy else None
    if 0 in keep:
        path.append(x.clone())
    accepted = torch.zeros((), dtype=torch.float64, device=x.device)

    steps = range(1, n_steps + 1)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="Langevin", leave=False)
    for step in steps:
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        prop = x - drift * g
        if sd > 0:
            prop = prop + sd * z
        if clamp is not None:
            prop = prop.clamp(*clamp)
        u_p, g_p = energy_and_grad(energy, prop)
        if mh:
            temp = noise * noise
            # log q(x | x') - log q(x' | x) for the Gaussian proposal of variance sd^2
            fwd = _flat_norm(prop - x + drift * g) ** 2
            bwd = _flat_norm(x - prop + drift * g_p) ** 2
            log_ratio = -(u_p - u) / temp - (bwd - fwd) / (2 * sd * sd)
            log_uni = torch.rand(x.shape[0], generator=generator, device=x.device,
                                 dtype=log_ratio.dtype).log()
            acc = log_uni < log_ratio
            accepted += acc.double().mean()
            shape = (-1,) + (1,) * (x.dim() - 1)
            x = torch.where(acc.view(shape), prop, x)
            g = torch.where(acc.view(shape), g_p, g)
            u = torch.where(acc, u_p, u)
        else:
            x, u, g = prop, u_p, g_p
        norms.append(_flat_norm(g).mean())
        if record_energy:
            energies.append(u)
        if step in keep:
            path.append(x.clone())

    grad_norm = torch.stack(norms)
    return LangevinResult(
        x=x,
        grad_norm=grad_norm,
        r=float(drift * grad_norm.mean()),
        energy=torch.stack(energies) if record_energy else None,
        path=torch.stack(path) if path else None,
        accept_rate=float(accepted / n_steps) if (mh and n_steps) else 1.0,
    )
