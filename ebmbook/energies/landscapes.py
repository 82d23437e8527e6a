"""Low-dimensional landscapes of Chapter 4, as batched torch energies ``U(x) -> (batch,)``.

* :class:`ToyLandscape1D` -- the 1D landscape of Fig 4.8 with two flat, noisy basins separated
  by one large barrier near x = 4.5 (the authors' reference formula on [-1, 12]).
* :class:`GaussianMixtureLoss` -- the negative log-likelihood of a 1D Gaussian mixture as a
  function of two of its means, the others held fixed (Fig 4.5).
"""

from __future__ import annotations

import math

import numpy as np
import torch


class ToyLandscape1D:
    """``U(x) = x^2 [x<0] + (x-4)^2 [4<x<4.5] + (x-5)^2 [4.5<x<5] + (x-11)^4 [x>11]
    + .002 sin 10x + .003 sin 20x + .0085 cos 3x + .004 sin 25x`` (Fig 4.8).

    Input shape ``(batch,)`` or ``(batch, 1)``; output ``(batch,)``. The left basin is
    [0, 4.5), the right basin (4.5, 11]; the barrier at x = 4.5 has height 0.25 above the flat
    floors, while the noise terms make bumps of a few hundredths.
    """

    barrier_x = 4.5

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0])
        zero = torch.zeros_like(x)
        u = torch.where(x < 0, x * x, zero)
        u = u + torch.where((x > 4) & (x < 4.5), (x - 4) ** 2, zero)
        u = u + torch.where((x >= 4.5) & (x < 5), (x - 5) ** 2, zero)
        u = u + torch.where(x > 11, (x - 11) ** 4, zero)
        return (u + 0.002 * torch.sin(10 * x) + 0.003 * torch.sin(20 * x)
                + 0.0085 * torch.cos(3 * x) + 0.004 * torch.sin(25 * x))


class GaussianMixtureLoss:
    """Negative mean log-likelihood of 1D data under a Gaussian mixture whose means
    ``(mu_1, mu_2)`` are the state ``x`` (batch, 2) and whose other means, weights and common
    standard deviation are fixed (Fig 4.5). Label switching makes the landscape symmetric under
    ``(mu_1, mu_2) -> (mu_2, mu_1)`` when the two free components have equal weights.
    """

    def __init__(self, data: torch.Tensor, fixed_means=(), weights=None, sigma: float = 1.0):
        self.data = torch.as_tensor(data, dtype=torch.float64).reshape(-1)
        self.fixed = torch.as_tensor(fixed_means, dtype=torch.float64).reshape(-1)
        k = 2 + len(self.fixed)
        w = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else \
            torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (k,) or torch.any(w <= 0):
            raise ValueError(f"weights must be {k} positive numbers")
        self.logw = torch.log(w / w.sum())
        if not sigma > 0:
            raise ValueError("sigma must be > 0")
        self.sigma = float(sigma)

    @classmethod
    def example(cls, n: int = 600, seed: int = 0) -> "GaussianMixtureLoss":
        """The book's instance: data from four components of standard deviation 0.5 at
        (-4, -1, 2.5, 6) with equal weights; the components at 2.5 and 6 are held fixed."""
        rng = np.random.default_rng(seed)
        means = np.array([-4.0, -1.0, 2.5, 6.0])
        data = means[rng.integers(0, 4, size=n)] + 0.5 * rng.normal(size=n)
        return cls(torch.as_tensor(data), fixed_means=(2.5, 6.0), sigma=0.5)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        B = x.shape[0]
        mus = torch.cat([x.reshape(B, 2), self.fixed.expand(B, -1)], dim=1)  # (B, k)
        z = (self.data[None, :, None] - mus[:, None, :]) / self.sigma          # (B, n, k)
        logp = -0.5 * z * z - math.log(self.sigma * math.sqrt(2 * math.pi)) + self.logw
        return -torch.logsumexp(logp, dim=2).mean(dim=1)


class MultiWell1D:
    """A smooth 1D landscape with a handful of minima of different depths on [-4, 4], used to
    draw a disconnectivity graph step by step (Figs 4.1 and 4.4):
    ``U(x) = 0.05 x^2 + sin(2x) + 0.5 sin(5x + 1)``."""

    domain = (-4.0, 4.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0])
        return 0.05 * x * x + torch.sin(2 * x) + 0.5 * torch.sin(5 * x + 1)


class MullerBrown:
    """The Müller–Brown potential (Müller & Brown 1979), the standard 2D test of path and saddle
    finders (used for the DNEB barriers of :func:`ebmbook.landscape.nudged_elastic_band`)::

        U(x, y) = sum_k A_k exp(a_k (x - x0_k)^2 + b_k (x - x0_k)(y - y0_k) + c_k (y - y0_k)^2)

    with the standard parameters A = (-200, -100, -170, 15), a = (-1, -1, -6.5, 0.7),
    b = (0, 0, 11, 0.6), c = (-10, -10, -6.5, 0.7), x0 = (1, 0, -0.5, -1), y0 = (0, 0.5, 1.5, 1).

    Input ``(batch, 2)``; output ``(batch,)`` in the dtype and on the device of the input. It has
    three minima and two first-order saddles; their literature locations (rounded) are in
    :attr:`minima` and :attr:`saddles` as ``(x, y, U)`` rows -- refine them with a local solver
    where precision matters.
    """

    A = (-200.0, -100.0, -170.0, 15.0)
    a = (-1.0, -1.0, -6.5, 0.7)
    b = (0.0, 0.0, 11.0, 0.6)
    c = (-10.0, -10.0, -6.5, 0.7)
    x0 = (1.0, 0.0, -0.5, -1.0)
    y0 = (0.0, 0.5, 1.5, 1.0)
    # (x, y, U), rounded: deepest, second and intermediate minimum
    minima = ((-0.558, 1.442, -146.70), (0.623, 0.028, -108.17), (-0.050, 0.467, -80.77))
    # the saddle between the deepest and intermediate minima, then between intermediate and second
    saddles = ((-0.822, 0.624, -40.66), (0.212, 0.293, -72.25))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], 2)
        opts = dict(dtype=x.dtype, device=x.device)
        A, a, b, c, x0, y0 = (torch.tensor(v, **opts) for v in
                              (self.A, self.a, self.b, self.c, self.x0, self.y0))
        dx = x[:, :1] - x0                                              # (batch, 4)
        dy = x[:, 1:] - y0
        return (A * torch.exp(a * dx * dx + b * dx * dy + c * dy * dy)).sum(dim=1)
