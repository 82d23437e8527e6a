"""The two 2D densities of Fig 3.1, with exact log densities and seeded samplers.

* :class:`GaussianMixture2D`: ``n`` equal Gaussians with means on a circle of ``radius`` and
  isotropic standard deviation ``sd`` (thesis: 8 components, radius 1, sd 0.15).
* :class:`Rings2D`: ``n`` rings of radii ``spacing * k`` (k = 1..n) with radial standard
  deviation ``sd`` (thesis: 4 rings of radius 1..4, sd 0.15). A sample draws a ring, a radius
  ``r ~ N(r_k, sd^2)`` and a uniform angle, so the density at distance r from the origin is
  ``sum_k N(r; r_k, sd^2) / (n * 2 pi r)``; the mass this misses at r < 0 is below 1e-10.
"""

from __future__ import annotations

import math

import torch


def _device(generator: torch.Generator | None) -> torch.device:
    """Samples are drawn on the generator's device (CPU without one)."""
    return generator.device if generator is not None else torch.device("cpu")


class ToyDensity:
    """Base: ``sample(n, generator) -> (n, 2)`` (on the generator's device),
    ``log_prob(x) -> (n,)``, ``extent``."""

    name = "toy"
    extent: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """The true energy -log q(x), a valid U for the samplers."""
        return -self.log_prob(x)


class GaussianMixture2D(ToyDensity):
    name = "gmm"

    def __init__(self, n: int = 8, radius: float = 1.0, sd: float = 0.15):
        if n < 1 or radius <= 0 or sd <= 0:
            raise ValueError(f"need n >= 1, radius > 0, sd > 0; got n={n}, radius={radius}, sd={sd}")
        self.n, self.radius, self.sd = n, radius, sd
        angles = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        self.means = radius * torch.stack([angles.cos(), angles.sin()], 1)
        self.extent = radius + 4 * sd

    def sample(self, n, generator=None):
        dev = _device(generator)
        k = torch.randint(self.n, (n,), generator=generator, device=dev)
        z = torch.randn(n, 2, generator=generator, dtype=torch.float64, device=dev)
        return (self.means.to(dev)[k] + self.sd * z).float()

    def log_prob(self, x):
        x = x.double()
        d2 = (x[:, None, :] - self.means[None].to(x.device)).pow(2).sum(-1)
        comp = -d2 / (2 * self.sd ** 2) - math.log(2 * math.pi * self.sd ** 2)
        return torch.logsumexp(comp, 1) - math.log(self.n)


class Rings2D(ToyDensity):
    name = "rings"

    def __init__(self, n: int = 4, spacing: float = 1.0, sd: float = 0.15):
        if n < 1 or spacing <= 0 or sd <= 0:
            raise ValueError(f"need n >= 1, spacing > 0, sd > 0; got n={n}, spacing={spacing}, sd={sd}")
        self.n, self.spacing, self.sd = n, spacing, sd
        self.radii = spacing * torch.arange(1, n + 1, dtype=torch.float64)
        self.extent = n * spacing + 4 * sd

    def sample(self, n, generator=None):
        dev = _device(generator)
        k = torch.randint(self.n, (n,), generator=generator, device=dev)
        r = self.radii.to(dev)[k] + self.sd * torch.randn(n, generator=generator,
                                                            dtype=torch.float64, device=dev)
        theta = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64, device=dev)
        return torch.stack([r * theta.cos(), r * theta.sin()], 1).float()

    def log_prob(self, x):
        x = x.double()
        r = x.norm(dim=1).clamp_min(1e-12)
        comp = (-(r[:, None] - self.radii[None].to(x.device)) ** 2 / (2 * self.sd ** 2)
                - 0.5 * math.log(2 * math.pi * self.sd ** 2))
        return torch.logsumexp(comp, 1) - math.log(self.n) - torch.log(2 * math.pi * r)


TOY_DENSITIES = {"gmm": GaussianMixture2D, "rings": Rings2D}


def toy_density(name: str) -> ToyDensity:
    """The Fig 3.1 density called ``name`` ('gmm' or 'rings') with the thesis's parameters."""
    if name not in TOY_DENSITIES:
        raise ValueError(f"unknown toy density {name!r}; choose one of {sorted(TOY_DENSITIES)}")
    return TOY_DENSITIES[name]()
