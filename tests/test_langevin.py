"""Langevin sampler against densities with known moments."""

import numpy as np
import pytest
import torch

from ebmbook.sampling.langevin import energy_and_grad, langevin


def quadratic(lams):
    lam = torch.tensor(lams)
    return lambda x: 0.5 * (lam * x * x).sum(1)


def test_ula_matches_its_exact_discretised_covariance():
    # For U = 1/2 sum lam_i x_i^2 the unadjusted chain x' = (1 - h lam) x + sqrt(2h) z with
    # h = eps^2/2 has stationary variance 1 / (lam (1 - h lam / 2)) per coordinate.
    lams, eps = [1.0, 4.0], 0.5
    g = torch.Generator().manual_seed(0)
    x0 = torch.zeros(4000, 2)
    out = langevin(quadratic(lams), x0, n_steps=400, eps=eps, generator=g).x
    h = eps ** 2 / 2
    expected = np.array([1 / (l * (1 - h * l / 2)) for l in lams])
    var = out.var(0).numpy()
    assert np.allclose(var, expected, rtol=0.06)
    assert np.allclose(out.mean(0).numpy(), 0, atol=0.06)
    # and that exact value differs from the target variance 1/lam by more than the tolerance
    assert abs(expected[1] - 0.25) / 0.25 > 0.15


def test_mala_is_exact_for_a_correlated_gaussian():
    mu = torch.tensor([1.0, -2.0])
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.5]])
    prec = torch.linalg.inv(cov)

    def energy(x):
        d = x - mu
        return 0.5 * ((d @ prec) * d).sum(1)

    g = torch.Generator().manual_seed(1)
    res = langevin(energy, torch.zeros(4000, 2), n_steps=600, eps=0.6, mh=True, generator=g)
    x = res.x.double()
    assert 0.3 < res.accept_rate < 1.0
    assert torch.allclose(x.mean(0), mu.double(), atol=0.05)
    emp = torch.cov(x.T)
    assert torch.allclose(emp, cov.double(), atol=0.05)


def test_mala_reproduces_a_double_well_histogram_where_ula_is_biased():
    def energy(x):
        return 2.0 * (x[:, 0] ** 2 - 1) ** 2 + 0.5 * x[:, 0]

    grid = np.linspace(-2.5, 2.5, 2001)
    dens = np.exp(-(2.0 * (grid ** 2 - 1) ** 2 + 0.5 * grid))
    dens /= np.trapezoid(dens, grid)
    edges = np.linspace(-2.0, 2.0, 21)
    exact = np.array([np.trapezoid(dens[(grid >= a) & (grid <= b)], grid[(grid >= a) & (grid <= b)])
                      for a, b in zip(edges[:-1], edges[1:])])

    def tv(samples):
        h, _ = np.histogram(samples, edges)
        return 0.5 * np.abs(h / len(samples) - exact).sum()

    x0 = torch.linspace(-1.5, 1.5, 6000)[:, None]
    g = torch.Generator().manual_seed(2)
    mala = langevin(energy, x0, n_steps=800, eps=0.7, mh=True, generator=g).x[:, 0].numpy()
    g = torch.Generator().manual_seed(2)
    ula = langevin(energy, x0, n_steps=800, eps=0.7, generator=g).x[:, 0].numpy()
    assert tv(mala) < 0.03
    assert tv(ula) > 2 * tv(mala)


def test_temperature_factor_scales_the_stationary_variance():
    # noise = gamma targets exp(-U / gamma^2): variance gamma^2 / lam (with MH, exact)
    g = torch.Generator().manual_seed(3)
    gamma = 0.5
    out = langevin(quadratic([2.0]), torch.zeros(5000, 1), n_steps=300, eps=0.5,
                   noise=gamma, mh=True, generator=g).x
    assert out.var().item() == pytest.approx(gamma ** 2 / 2.0, rel=0.06)


def test_noiseless_path_and_r_statistic_are_exact():
    eps, L = 0.4, 7
    h = eps ** 2 / 2
    x0 = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    res = langevin(quadratic([1.0, 1.0]), x0, n_steps=L, eps=eps, noise=0.0,
                   record_energy=True, record_at=[0, 3, L])
    decay = torch.tensor([(1 - h) ** k for k in range(L + 1)])
    norms = x0.norm(dim=1)
    assert torch.allclose(res.x, x0 * (1 - h) ** L, atol=1e-6)
    assert torch.allclose(res.grad_norm, decay * norms.mean(), atol=1e-5)
    assert res.r == pytest.approx(h * (decay * norms.mean()).mean().item(), rel=1e-5)
    assert res.energy.shape == (L + 1, 2)
    assert torch.allclose(res.path[1], x0 * (1 - h) ** 3, atol=1e-6)


def test_seed_reproduces_bit_for_bit_and_validation():
    e = quadratic([1.0, 2.0])
    a = langevin(e, torch.ones(5, 2), n_steps=20, eps=0.3,
                 generator=torch.Generator().manual_seed(9)).x
    b = langevin(e, torch.ones(5, 2), n_steps=20, eps=0.3,
                 generator=torch.Generator().manual_seed(9)).x
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="eps"):
        langevin(e, torch.ones(5, 2), n_steps=2, eps=-1.0)
    with pytest.raises(ValueError, match="mh=True needs noise"):
        langevin(e, torch.ones(5, 2), n_steps=2, eps=0.1, noise=0.0, mh=True)
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        energy_and_grad(lambda x: x.sum(), torch.ones(5, 2))
