"""Benettin estimate of the maximal Lyapunov exponent against quadratic potentials, whose
exponent is known in closed form: for U = 1/2 x^T A x it is -lambda_min(A)."""

import math

import numpy as np
import pytest
import torch

from ebmbook.diagnostics.lyapunov import maximal_lyapunov, zero_crossing


def quadratic_form(A):
    return lambda x: 0.5 * ((x @ A) * x).sum(1)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 3.0])
def test_quadratic_exponent_is_minus_smallest_eigenvalue(gamma):
    # a rotated, non-diagonal A with eigenvalues 0.5, 2, 5
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    A = Q @ torch.diag(torch.tensor([0.5, 2.0, 5.0], dtype=torch.float64)) @ Q.T
    x0 = torch.randn(6, 3, generator=g, dtype=torch.float64)
    eps = 0.05   # h = 1.25e-3: measured time 10 after an alignment time 10
    res = maximal_lyapunov(quadratic_form(A), x0, [gamma], eps=eps, n_steps=8000, n_align=8000,
                           renorm_every=50, generator=g)
    h = eps ** 2 / 2
    exact_discrete = math.log(1 - h * 0.5) / h
    assert res.exponent.shape == (1,) and res.exponent_chains.shape == (1, 6)
    assert res.exponent[0] == pytest.approx(-0.5, abs=0.02)
    assert res.exponent[0] == pytest.approx(exact_discrete, abs=0.02)
    assert res.samples.shape == (1, 6, 3)


def test_batched_gammas_match_separate_runs_and_unstable_direction_is_positive():
    # U = 1/2 (x1^2 - 0.3 x2^2): a saddle with exponent +0.3 for any gamma
    A = torch.diag(torch.tensor([1.0, -0.3], dtype=torch.float64))
    x0 = torch.zeros(4, 2, dtype=torch.float64)
    res = maximal_lyapunov(quadratic_form(A), x0, [0.0, 0.5], eps=0.05, n_steps=4000, n_align=4000,
                           renorm_every=20, generator=torch.Generator().manual_seed(1))
    assert np.allclose(res.exponent, 0.3, atol=0.01)
    assert res.running.shape == (200, 2)


def test_zero_crossing_interpolates_and_handles_edges():
    assert zero_crossing([0.0, 0.5, 1.0, 1.5], [-2.0, -1.0, 1.0, 2.0]) == pytest.approx(0.75)
    assert math.isnan(zero_crossing([0, 1], [-1, -0.5]))
    assert zero_crossing([0, 1], [0.1, 0.5]) == 0


@pytest.mark.parametrize("kw", [{"n_steps": 0}, {"renorm_every": 0}, {"eps": -1.0},
                                {"delta0": 0.0}, {"n_burn": -1}, {"substeps": 0}])
def test_bad_arguments_raise(kw):
    args = dict(eps=0.1, n_steps=10, renorm_every=5)
    args.update(kw)
    with pytest.raises(ValueError, match=next(iter(kw))):
        maximal_lyapunov(lambda x: (x * x).sum(1), torch.zeros(2, 2), [1.0], **args)


def _rotated_quadratic():
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    return Q @ torch.diag(torch.tensor([0.5, 2.0, 5.0], dtype=torch.float64)) @ Q.T


def test_quadratic_estimate_is_stable_under_halving_dt():
    # same SDE time (align 5, measure 5), dt halved twice via substeps; the estimate moves by
    # the O(dt) discretisation error only, and approaches -lambda_min = -0.5
    A = _rotated_quadratic()
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    eps = 0.1    # dt = 5e-3 / substeps
    est = []
    for k in (1, 2, 4):
        n = 1000 * k
        r = maximal_lyapunov(quadratic_form(A), x0, [1.0], eps=eps, substeps=k, n_steps=n,
                             n_align=n, renorm_every=10 * k, generator=torch.Generator().manual_seed(3))
        assert r.dt == pytest.approx(eps ** 2 / (2 * k)) and r.time == pytest.approx(5.0)
        est.append(r.exponent[0])
    assert abs(est[2] - est[1]) < abs(est[1] - est[0]) + 1e-9
    assert abs(est[2] - est[1]) < 2e-3
    assert est[2] == pytest.approx(-0.5, abs=5e-3)


def test_double_well_without_noise_is_negative():
    # U = (x^2 - 1)^2: gradient flow falls into x = +-1, where U'' = 8, so the exponent is -8;
    # started away from the minima and with a small step it must not come out positive
    U = lambda x: ((x ** 2 - 1) ** 2).sum(1)
    x0 = torch.tensor([[-1.7], [-0.3], [0.2], [1.4]], dtype=torch.float64)
    r = maximal_lyapunov(U, x0, [0.0], eps=0.02, substeps=1, n_burn=10000, n_steps=5000,
                         renorm_every=10, delta0=1e-6, generator=torch.Generator().manual_seed(0))
    assert (r.exponent_chains < 0).all()
    assert r.exponent[0] == pytest.approx(-8.0, rel=0.02)


def test_independent_noise_convention():
    """Shared noise gives the flow's exponent (-lambda_min for a quadratic, whatever gamma);
    independent noise adds the gap between two noise paths, so it is positive for gamma > 0 and
    grows as delta0 shrinks, and it is the same computation at gamma = 0."""
    A = torch.diag(torch.tensor([0.5, 2.0], dtype=torch.float64))
    x0 = torch.zeros(4, 2, dtype=torch.float64)
    kw = dict(eps=0.05, n_steps=4000, n_align=4000, renorm_every=10)
    out = {}
    for noise in ("shared", "independent"):
        for delta0 in (1e-2, 1e-4):
            out[noise, delta0] = maximal_lyapunov(
                quadratic_form(A), x0, [0.0, 1.0], delta0=delta0, noise=noise,
                generator=torch.Generator().manual_seed(3), **kw)
    shared, indep = out["shared", 1e-2], out["independent", 1e-2]
    assert shared.noise == "shared" and indep.noise == "independent"
    assert indep.exponent[0] == shared.exponent[0]                  # gamma = 0: no noise at all
    assert shared.exponent[1] == pytest.approx(-0.5, abs=0.05)
    assert indep.exponent[1] > 0
    assert out["independent", 1e-4].exponent[1] > indep.exponent[1] + 1.0
    assert out["shared", 1e-4].exponent[1] == pytest.approx(shared.exponent[1], abs=0.05)
    with pytest.raises(ValueError, match="noise"):
        maximal_lyapunov(quadratic_form(A), x0, [1.0], noise="common", **kw)
