"""Spin energies (eq. 5.1, 4.8) and spin samplers, against brute force and exact enumeration."""

import itertools

import numpy as np
import pytest
import torch

from ebmbook.energies.spin import IsingModel, SKModel, onsager_magnetisation
from ebmbook.experiments.mapping_principles import ising_remanence, loop_close_temperature
from ebmbook.sampling.spins import ising_sweeps, sk_sweeps


def test_sk_energy_matches_double_sum_and_is_mirror_symmetric():
    m = SKModel.from_seed(12, 3)
    rng = np.random.default_rng(0)
    s = (2 * rng.integers(0, 2, (5, 12)) - 1).astype(np.int8)
    brute = np.array([-sum(m.J[i, k] * x[i] * x[k] for i in range(12) for k in range(i + 1, 12))
                      for x in s]) / 12
    assert np.allclose(m(s), brute)
    assert np.allclose(m(-s), m(s))
    assert torch.allclose(m(torch.as_tensor(s, dtype=torch.float64)), torch.as_tensor(brute))
    # flip cost equals the energy difference of the flipped states
    cost = m.flip_cost(s)
    for i in range(12):
        t = s.copy()
        t[:, i] *= -1
        assert np.allclose(m.hamiltonian(t) - m.hamiltonian(s), cost[:, i])


def test_sk_couplings_have_variance_one_over_n():
    m = SKModel.from_seed(400, 0)
    off = m.J[np.triu_indices(400, 1)]
    assert abs(off.var() * 400 - 1) < 0.02 and abs(off.mean()) < 0.01


def test_sk_gibbs_matches_exact_boltzmann_mean_energy():
    m = SKModel.from_seed(8, 1)
    states = np.array(list(itertools.product([-1, 1], repeat=8)), dtype=np.int8)
    T = 0.7
    H = m.hamiltonian(states)
    w = np.exp(-(H - H.min()) / T)
    exact = float((w * H).sum() / w.sum()) / 8
    for method in ("gibbs", "metropolis"):
        s0 = np.ones((400, 8), dtype=np.int8)
        _, E = sk_sweeps(m.J, s0, n_sweeps=300, temperature=T, method=method,
                         rng=np.random.default_rng(1))
        est = E[:, 100:].mean()
        se = E[:, 100:].mean(axis=1).std() / np.sqrt(400)
        assert abs(est - exact) < 5 * se + 1e-3, (method, est, exact)


def test_sk_sweeps_magnetised_reach_target_and_are_reproducible():
    m = SKModel.from_seed(30, 2)
    rng = np.random.default_rng(0)
    s = (2 * rng.integers(0, 2, (4, 30)) - 1).astype(np.int8)
    tgt = (2 * rng.integers(0, 2, 30) - 1).astype(np.int8)
    out, _ = sk_sweeps(m.J, s, n_sweeps=5, temperature=0.1, target=tgt, alpha=50.0,
                       rng=np.random.default_rng(5))
    assert (out == tgt).all()
    a, Ea = sk_sweeps(m.J, s, n_sweeps=20, temperature=1.0, rng=np.random.default_rng(7))
    b, Eb = sk_sweeps(m.J, s, n_sweeps=20, temperature=1.0, rng=np.random.default_rng(7))
    assert (a == b).all() and np.array_equal(Ea, Eb)
    with pytest.raises(ValueError):
        sk_sweeps(m.J, s, n_sweeps=1, temperature=1.0, rng=rng, method="bogus")


def test_ising_energy_eq_4_8():
    rng = np.random.default_rng(0)
    s = np.where(rng.random((3, 4, 4)) < 0.5, 1, -1)
    T, H = 1.7, 0.3
    brute = []
    for x in s:
        bonds = sum(x[i, j] * (x[(i + 1) % 4, j] + x[i, (j + 1) % 4])
                    for i in range(4) for j in range(4))
        brute.append(-bonds / T - H * x.sum())
    assert np.allclose(IsingModel(T, H)(s), brute)


def test_ising_low_temperature_magnetisation_matches_onsager():
    rng = np.random.default_rng(0)
    T = np.array([1.8, 2.0])
    _, m = ising_sweeps(np.ones((2, 32, 32)), temperature=T, field=0.0, n_sweeps=300, rng=rng)
    assert np.allclose(m[100:].mean(0), onsager_magnetisation(T), atol=0.02)


def test_ising_hysteresis_loop_closes_near_onsager_tc():
    T = np.linspace(2.0, 2.6, 13)
    rem = ising_remanence(T, side=32, n_sweeps=1600, n_chains=8, rng=np.random.default_rng(0))
    close = loop_close_temperature(T, rem, 0.3)
    assert abs(close - 2.0 / np.log(1 + np.sqrt(2))) < 0.1
    assert rem[0] > 0.85  # the loop is wide open well below T_c
