"""The maximal Lyapunov exponent of tempered Langevin dynamics (Sec 3.4.1, eq. 3.7, Fig 3.8).

The SDE (3.8) ``dX = -grad U(X) dt + gamma sqrt(2) dB`` is discretised with the Langevin step of
eq. (3.6): with ``h = eps^2 / 2``,

    X <- X - h grad U(X) + eps * gamma * Z,

so one step advances time by ``h``. The Benettin et al. (1976) estimate of (3.7) follows a
reference chain X and a shadow chain Y = X + delta0 * v that share every noise draw Z; every
``renorm_every`` steps the separation d = ||Y - X|| is measured, log(d / delta0) is accumulated and
Y is pulled back onto the sphere of radius delta0 around X along the same direction. The
exponent is the accumulated log growth divided by the elapsed time ``n_steps * h``.

All gammas and all chains run as one batch (reference and shadow chains stacked), so a sweep
over gamma costs one batched Langevin run. For U = 1/2 x^T A x the separation obeys
dd/dt = -A d exactly (the shared noise cancels), and the estimate is -lambda_min(A) (up to the
O(h) discretisation error log(1 - h lambda) / h).

Two conventions for the noise of the shadow chain (``noise=``):

* ``"shared"`` (default): both chains use the same draws (synchronous coupling). The exponent is
  then that of the SDE's stochastic flow, the definition (3.7) applied to one realisation of
  the Brownian motion B_t of (3.8): noise moves both chains alike, and only the way the drift
  stretches or folds the flow separates them;
* ``"independent"``: each chain draws its own noise. The separation then also holds the
  difference of two independent noise paths, of order gamma * sqrt(2 dt) per step against the
  radius ``delta0``, so the estimate is positive for every gamma > 0 and grows as delta0
  shrinks: it measures how far two independent chains wander apart, not a property of the flow.
  At gamma = 0 the two conventions are the same computation.

The visual side of Fig 3.8: :func:`gamma_frames` runs the same chains of a trained model at each
gamma and reports the long-run samples with their energies against the data's (one
:class:`GammaFrame` per gamma; :mod:`ebmbook.explore` draws them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..sampling.langevin import LangevinParams, flat_norm, frozen_parameters, init, step

Energy = Callable[[torch.Tensor], torch.Tensor]
NOISE_CONVENTIONS = ("shared", "independent")


@dataclass
class LyapunovResult:
    """gammas ``(G,)``; exponent ``(G,)`` (mean over chains, per unit time of eq. 3.8);
    exponent_chains ``(G, C)``; running ``(K, G)`` estimate after each of the K renormalisations;
    samples ``(G, C, ...)`` final reference states (long-run samples at each gamma)."""

    gammas: np.ndarray
    exponent: np.ndarray
    exponent_chains: np.ndarray
    running: np.ndarray
    samples: torch.Tensor
    eps: float
    n_steps: int
    substeps: int = 1
    noise: str = "shared"

    @property
    def dt(self) -> float:
        """The integration time step, ``eps^2 / (2 substeps)``."""
        return self.eps ** 2 / (2 * self.substeps)

    @property
    def time(self) -> float:
        """The measured SDE time, ``n_steps * dt``."""
        return self.n_steps * self.dt

    @property
    def exponent_per_step(self) -> np.ndarray:
        """The exponent per step of the sampler (one step of size eps is eps^2/2 of time)."""
        return self.exponent * self.eps ** 2 / 2

    def zero_crossing(self) -> float:
        return zero_crossing(self.gammas, self.exponent)


def zero_crossing(gammas: Sequence[float], exponent: Sequence[float]) -> float:
    """The gamma at which the exponent first turns positive (linear interpolation between the
    last non-positive and the first positive grid point); NaN if it never does, the first gamma
    if it is positive throughout."""
    g = np.asarray(gammas, dtype=float)
    e = np.asarray(exponent, dtype=float)
    order = np.argsort(g)
    g, e = g[order], e[order]
    pos = np.nonzero(e > 0)[0]
    if len(pos) == 0:
        return float("nan")
    i = pos[0]
    if i == 0:
        return float(g[0])
    return float(g[i - 1] + (g[i] - g[i - 1]) * (0 - e[i - 1]) / (e[i] - e[i - 1]))


def maximal_lyapunov(energy: Energy, x0: torch.Tensor, gammas: Sequence[float], *,
                     eps: float, n_steps: int, n_burn: int = 0, n_align: int = 0,
                     delta0: float = 1e-3,
                     renorm_every: int = 10, substeps: int = 1,
                     generator: torch.Generator | None = None,
                     clamp: tuple[float, float] | None = None,
                     noise: str = "shared", progress: bool = False) -> LyapunovResult:
    """Benettin estimate of the maximal Lyapunov exponent of (3.8) for each gamma.

    ``x0``: ``(C, ...)`` initial states, used for every gamma (C chains per gamma).
    ``eps``: eps of the Langevin step; ``substeps``: the number of Euler-Maruyama steps
    each Langevin step is split into, so the integration time step is
    ``dt = eps^2 / (2 substeps)`` and the noise per step has sd ``gamma sqrt(2 dt)``.
    ``substeps = 1`` is the sampler's own step; a larger value estimates the exponent of the
    SDE (3.8) rather than of the discrete sampler map (check convergence in ``substeps``).
    ``n_burn``, ``n_align``, ``n_steps`` and ``renorm_every`` count integration steps of ``dt``.
    ``n_burn``: steps run before measuring (the shadow chain is placed after burn-in).
    ``n_align``: steps (with renormalisation) after the shadow chain is placed whose growth is
    not counted, so the perturbation first aligns with the most expanding direction.
    ``delta0``: the L2 radius of the perturbation; ``renorm_every``: steps between
    renormalisations. ``clamp``: optional box for both chains (e.g. the image range).
    ``noise``: ``"shared"`` (both chains take the same draws) or ``"independent"`` (see the
    module docstring).
    """
    if noise not in NOISE_CONVENTIONS:
        raise ValueError(f"noise = {noise!r} is invalid: it must be one of {NOISE_CONVENTIONS}")
    if not (isinstance(n_steps, int) and n_steps >= 1):
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if not (isinstance(renorm_every, int) and 1 <= renorm_every <= n_steps):
        raise ValueError(f"renorm_every must be an integer in [1, n_steps], got {renorm_every!r}")
    for name, val in (("n_burn", n_burn), ("n_align", n_align)):
        if not (isinstance(val, int) and val >= 0):
            raise ValueError(f"{name} must be an integer >= 0, got {val!r}")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    if not (isinstance(substeps, int) and substeps >= 1):
        raise ValueError(f"substeps must be an integer >= 1, got {substeps!r}")
    if not delta0 > 0:
        raise ValueError(f"delta0 must be > 0, got {delta0!r}")
    g = np.asarray(gammas, dtype=float)
    if g.ndim != 1 or len(g) == 0 or (g < 0).any():
        raise ValueError(f"gammas must be a non-empty 1D sequence of numbers >= 0, got {gammas!r}")

    C = x0.shape[0]
    G = len(g)
    shape = (-1,) + (1,) * (x0.dim() - 1)
    dev, dt = x0.device, x0.dtype
    x = x0.detach().repeat(G, *([1] * (x0.dim() - 1))).clone()          # (G*C, ...)
    h = eps ** 2 / (2 * substeps)
    # one integration step of dt = h is the kernel's Langevin step with eps = sqrt(2 h) and a
    # per-chain noise factor gamma (noise sd gamma sqrt(2 h))
    gam = torch.tensor(g, dtype=dt, device=dev).repeat_interleave(C)
    params = LangevinParams(eps=math.sqrt(2 * h), noise=gam, clamp=clamp)
    pair_params = LangevinParams(eps=math.sqrt(2 * h), noise=torch.cat([gam, gam]), clamp=clamp)

    bar = None
    if progress:
        from .._progress import tqdm
        bar = tqdm(total=n_burn + n_align + n_steps, desc="Lyapunov", leave=False)
    with frozen_parameters(energy):
        state = init(x, energy)
        for _ in range(n_burn):
            state, _ = step(state, energy, params, generator)
            if bar is not None:
                bar.update(1)
        x = state.x

        v = torch.randn(x.shape, generator=generator, device=dev, dtype=dt)
        y = x + delta0 * v / flat_norm(v).view(shape)
        pair = init(torch.cat([x, y]), energy)      # reference and shadow chains as one batch
        log_sum = torch.zeros(x.shape[0], dtype=torch.float64, device=dev)
        running = []
        for j in range(1 - n_align, n_steps + 1):   # j <= 0: alignment, j >= 1: measured
            z = torch.randn(x.shape, generator=generator, device=dev, dtype=dt)
            if noise == "shared":
                zz = torch.cat([z, z])
            else:
                zz = torch.cat([z, torch.randn(x.shape, generator=generator, device=dev,
                                               dtype=dt)])
            pair, _ = step(pair, energy, pair_params, z=zz)
            x, y = pair.x.split(x.shape[0])
            renorm = False
            if j <= 0:
                if (j + n_align) % renorm_every == 0 or j == 0:
                    d = flat_norm(y - x).clamp_min(torch.finfo(dt).tiny)
                    renorm = True
            elif j % renorm_every == 0 or j == n_steps:
                d = flat_norm(y - x).clamp_min(torch.finfo(dt).tiny)
                renorm = True
                log_sum += torch.log(d.double() / delta0)
                running.append((log_sum / (j * h)).view(G, C).mean(1).cpu().numpy())
            if renorm:
                y = x + (y - x) * (delta0 / d).view(shape)
                pair = init(torch.cat([x, y]), energy)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    per_chain = (log_sum / (n_steps * h)).view(G, C).cpu().numpy()
    return LyapunovResult(gammas=g, exponent=per_chain.mean(1), exponent_chains=per_chain,
                          running=np.stack(running), samples=x.view(G, C, *x0.shape[1:]).cpu(),
                          eps=float(eps), n_steps=n_steps, substeps=substeps, noise=noise)


@dataclass
class GammaFrame:
    """Long-run samples at one gamma and their energies (data-energy sds from the data mean)."""

    gamma: float
    images: torch.Tensor
    energy_z: np.ndarray
    saturation: float           # share of pixels beyond +-0.95
    data_lo: float              # the data's central 95 % (same units)
    data_hi: float


def gamma_frames(model, x0: torch.Tensor, gammas: Sequence[float], n_steps: int, *,
                 data_energy: np.ndarray, generator: torch.Generator | None = None,
                 progress: bool = False) -> dict[tuple, GammaFrame]:
    """Run the same chains ``x0`` for ``n_steps`` of ``model``'s sampler at each temperature
    factor gamma (noise tau * gamma, eq. 3.6; all gammas as one batch, one value per chain).
    ``model`` is a trained model (it carries its own eps; ``long_run`` and ``energies``).
    ``data_energy``: energies of data images, the yardstick of each frame. Returns
    ``{(gamma,): GammaFrame}`` (keyed as an :class:`ebmbook.explore.Explorer`'s frames)."""
    gammas = [float(g) for g in gammas]
    if not gammas or any(g < 0 for g in gammas):
        raise ValueError(f"gammas must be a non-empty sequence of numbers >= 0, got {gammas!r}")
    k = len(x0)
    x = x0.repeat(len(gammas), *([1] * (x0.dim() - 1)))
    g = torch.tensor(gammas, dtype=x.dtype, device=x.device).repeat_interleave(k)
    res = model.long_run(x, n_steps, gamma=g, generator=generator, progress=progress)
    u = model.energies(res.x).numpy()
    d = np.asarray(data_energy, dtype=np.float64)
    mu, sd = float(d.mean()), float(d.std())
    lo, hi = (np.quantile(d, [0.025, 0.975]) - mu) / sd
    out = {}
    for i, gm in enumerate(gammas):
        xs = res.x[i * k:(i + 1) * k].detach()
        out[(gm,)] = GammaFrame(gamma=gm, images=xs, energy_z=(u[i * k:(i + 1) * k] - mu) / sd,
                                saturation=float((xs.abs() > 0.95).float().mean()),
                                data_lo=float(lo), data_hi=float(hi))
    return out
