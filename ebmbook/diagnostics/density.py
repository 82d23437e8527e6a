"""Densities on a 2D grid (Fig 3.1): the learned exp(-U) normalised on a grid, KDE of samples,
and KL divergence / total variation between grid densities.

Grids are ``n x n`` cell centres over ``[-extent, extent]^2``; arrays are indexed ``[iy, ix]``.
A grid density is a probability mass per cell (it sums to 1); log-densities are kept in log
space so that a sharply peaked model (e.g. U = F / (eps^2/2) with small eps) never underflows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from scipy.special import logsumexp


@dataclass(frozen=True)
class Grid:
    """An ``n x n`` grid of cell centres over ``[-extent, extent]^2`` (see the module
    docstring)."""

    extent: float
    n: int = 200

    @property
    def centres(self) -> np.ndarray:
        h = 2 * self.extent / self.n
        return -self.extent + h * (np.arange(self.n) + 0.5)

    @property
    def cell(self) -> float:
        return 2 * self.extent / self.n

    def points(self) -> torch.Tensor:
        """All cell centres as an ``(n*n, 2)`` float32 tensor, row-major in ``[iy, ix]``."""
        c = self.centres
        xx, yy = np.meshgrid(c, c)  # xx[iy, ix] = c[ix]
        return torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1)).float()


def grid_log_density(energy, grid: Grid, batch: int = 20000, device: str = "cpu") -> np.ndarray:
    """Log mass per cell of exp(-U) normalised on the grid: ``-U - logsumexp(-U)``."""
    pts = grid.points().to(device)
    with torch.no_grad():
        u = torch.cat([energy(pts[i:i + batch]).double().cpu() for i in range(0, len(pts), batch)])
    neg = -u.numpy().reshape(grid.n, grid.n)
    return neg - logsumexp(neg)


def grid_log_prob(log_prob, grid: Grid) -> np.ndarray:
    """Log mass per cell of a density given by its exact ``log_prob``, renormalised on the grid."""
    with torch.no_grad():
        lp = log_prob(grid.points()).double().numpy().reshape(grid.n, grid.n)
    return lp - logsumexp(lp)


def kde_grid(samples, grid: Grid, bandwidth: float) -> np.ndarray:
    """Gaussian KDE of 2D samples on the grid (mass per cell, sums to 1).

    Binned KDE: a 2D histogram on the grid convolved with an isotropic Gaussian of standard
    deviation ``bandwidth`` (in state units). Mass falling outside the grid is dropped and the
    result renormalised.
    """
    s = np.asarray(samples.detach().cpu() if torch.is_tensor(samples) else samples, float)
    if s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"samples must have shape (n, 2), got {s.shape}")
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    edges = np.linspace(-grid.extent, grid.extent, grid.n + 1)
    h, _, _ = np.histogram2d(s[:, 1], s[:, 0], bins=[edges, edges])  # [iy, ix]
    k = gaussian_filter(h, sigma=bandwidth / grid.cell, mode="constant", truncate=5.0)
    total = k.sum()
    if total <= 0:
        raise ValueError("no samples fall inside the grid")
    return k / total


def log_of(p: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """log of a grid mass, with ``floor`` for empty cells, renormalised."""
    p = np.maximum(np.asarray(p, float), floor)
    return np.log(p / p.sum())


def kl_divergence(log_p: np.ndarray, log_q: np.ndarray) -> float:
    """KL(p || q) = sum p (log p - log q) for normalised log grid masses."""
    p = np.exp(log_p)
    return float(np.sum(p * (log_p - log_q)))


def total_variation(log_p: np.ndarray, log_q: np.ndarray) -> float:
    """Total variation ``0.5 * sum |p - q|`` for normalised log grid masses."""
    return float(0.5 * np.abs(np.exp(log_p) - np.exp(log_q)).sum())
