"""Grid densities, KDE and divergences against analytic values."""

import math

import numpy as np
import pytest
import torch

from ebmbook.data.toy2d import GaussianMixture2D, Rings2D, toy_density
from ebmbook.diagnostics.density import (Grid, grid_log_density, grid_log_prob, kde_grid,
                                         kl_divergence, log_of, total_variation)


def gaussian_energy(mu, sd):
    mu = torch.tensor(mu)
    return lambda x: ((x - mu) ** 2).sum(1) / (2 * sd ** 2)


def test_grid_density_sums_to_one_and_self_kl_is_zero():
    grid = Grid(3.0, 200)
    lp = grid_log_density(gaussian_energy([0.0, 0.0], 0.5), grid)
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-10)
    assert kl_divergence(lp, lp) == pytest.approx(0.0, abs=1e-12)
    assert total_variation(lp, lp) == pytest.approx(0.0, abs=1e-12)


def test_kl_of_shifted_gaussians_matches_closed_form():
    grid = Grid(4.0, 400)
    sd, mu = 0.5, [0.6, 0.0]
    lp = grid_log_density(gaussian_energy([0.0, 0.0], sd), grid)
    lq = grid_log_density(gaussian_energy(mu, sd), grid)
    exact = (0.6 ** 2) / (2 * sd ** 2)
    assert kl_divergence(lp, lq) == pytest.approx(exact, rel=0.01)
    assert kl_divergence(lq, lp) == pytest.approx(exact, rel=0.01)


def test_sharp_model_does_not_underflow():
    # U scaled by 2/eps^2 with eps=0.01: exp(-U) underflows in float64 away from the peak, but
    # the log-space KL stays finite and large.
    grid = Grid(2.0, 100)
    lq = grid_log_density(gaussian_energy([0.0, 0.0], 0.5), grid)
    lp = grid_log_density(lambda x: 2e4 * ((x - 1.0) ** 2).sum(1), grid)
    kl = kl_divergence(lq, lp)
    assert math.isfinite(kl) and kl > 100


@pytest.mark.parametrize("density", [GaussianMixture2D(), Rings2D()])
def test_toy_log_prob_is_normalised_and_matches_samples(density):
    grid = Grid(density.extent, 400)
    lp = density.log_prob(grid.points()).numpy()
    assert np.exp(lp).sum() * grid.cell ** 2 == pytest.approx(1.0, abs=2e-3)
    s = density.sample(100000, torch.Generator().manual_seed(0))
    # a narrow KDE of many true samples: the smoothing bias alone is ~0.005 nats
    emp = log_of(kde_grid(s, Grid(density.extent, 150), 0.05))
    true = grid_log_prob(density.log_prob, Grid(density.extent, 150))
    assert kl_divergence(true, emp) < 0.03


def test_toy_sample_moments():
    g = torch.Generator().manual_seed(1)
    s = GaussianMixture2D().sample(50000, g).double()
    assert s.mean(0).abs().max() < 0.02
    assert (s ** 2).sum(1).mean().item() == pytest.approx(1 + 2 * 0.15 ** 2, rel=0.01)
    r = Rings2D().sample(50000, g).double().norm(dim=1)
    assert r.mean().item() == pytest.approx(2.5, abs=0.02)
    with pytest.raises(ValueError, match="unknown toy density"):
        toy_density("moons")


def test_binned_kde_agrees_with_direct_kde():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(3000, 2)) * [0.5, 0.3] + [0.2, -0.1]
    grid = Grid(2.0, 80)
    bw = 0.15
    pts = grid.points().numpy().astype(float)
    d2 = ((pts[:, None, :] - s[None, :, :]) ** 2).sum(-1)
    direct = np.exp(-d2 / (2 * bw ** 2)).sum(1).reshape(grid.n, grid.n)
    direct /= direct.sum()
    binned = kde_grid(s, grid, bw)
    assert 0.5 * np.abs(direct - binned).sum() < 0.02
