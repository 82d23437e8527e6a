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
    res = maximal_lyapunov(quadratic_form(A), x0, [gamma], step_size=eps, n_steps=8000, n_align=8000,
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
    res = maximal_lyapunov(quadratic_form(A), x0, [0.0, 0.5], step_size=0.05, n_steps=4000, n_align=4000,
                           renorm_every=20, generator=torch.Generator().manual_seed(1))
    assert np.allclose(res.exponent, 0.3, atol=0.01)
    assert res.running.shape == (200, 2)


def test_zero_crossing_interpolates_and_handles_edges():
    assert zero_crossing([0.0, 0.5, 1.0, 1.5], [-2.0, -1.0, 1.0, 2.0]) == pytest.approx(0.75)
    assert math.isnan(zero_crossing([0, 1], [-1, -0.5]))
    assert zero_crossing([0, 1], [0.1, 0.5]) == 0


@pytest.mark.parametrize("kw", [{"n_steps": 0}, {"renorm_every": 0}, {"step_size": -1.0},
                                {"delta0": 0.0}, {"n_burn": -1}])
def test_bad_arguments_raise(kw):
    args = dict(step_size=0.1, n_steps=10, renorm_every=5)
    args.update(kw)
    with pytest.raises(ValueError, match=next(iter(kw))):
        maximal_lyapunov(lambda x: (x * x).sum(1), torch.zeros(2, 2), [1.0], **args)
