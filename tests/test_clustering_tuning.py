"""Cluster scores, the judge, the tuning rules for T and alpha, and latent inference, each against
an oracle: hand-counted partitions and scikit-learn's metrics, synthetic tuning curves with a
known answer, and the closed-form posterior mode of a linear generator."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch import nn

from ebmbook.diagnostics.clustering import (basin_readings, fit_judge, matched_baselines,
                                            partition_scores, purity, read_shares)
from ebmbook.landscape.tuning import (continuous_energy_drift, drift_above, drift_rise,
                                      drift_rule_met, drift_temperature, leakage_alpha)
from ebmbook.learning.coop import infer_latents


def test_purity_and_scores_on_a_hand_made_partition():
    true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    pred = np.array([5, 5, 7, 7, 7, 7, 9, 9, 9, 9])
    # cluster 5: {0,0} -> 2; cluster 7: {0,1,1,1} -> 3; cluster 9: {2,2,2,2} -> 4  => 9 / 10
    assert purity(true, pred) == pytest.approx(0.9)
    s = partition_scores(true, pred)
    assert s["nmi"] == pytest.approx(normalized_mutual_info_score(true, pred))
    assert s["ari"] == pytest.approx(adjusted_rand_score(true, pred))
    assert s["k"] == 3
    # a relabelled perfect partition scores 1 on all three; one cluster has purity = top class
    assert partition_scores(true, true + 10) == {"purity": 1.0, "nmi": 1.0, "ari": 1.0, "k": 3}
    assert purity(true, np.zeros(10)) == pytest.approx(0.4)


def test_scores_reject_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        purity([0, 1], [0])
    with pytest.raises(ValueError, match="1-D"):
        purity(np.zeros((2, 2)), np.zeros((2, 2)))


def test_matched_baselines_with_one_item_per_cluster_give_the_only_partition():
    X = np.random.default_rng(0).normal(size=(3, 5))
    out = matched_baselines(X, 3, seed=0)
    for labels in out.values():
        assert len(set(labels.tolist())) == 3


def test_matched_baselines_recover_separated_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    X = np.concatenate([c + rng.normal(size=(30, 2)) for c in centres])
    y = np.repeat([0, 1, 2], 30)
    out = matched_baselines(X, 3, seed=0)
    for lab in out.values():
        assert partition_scores(y, lab)["ari"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k must be"):
        matched_baselines(X, 0)


def test_judge_reads_separable_classes_and_basins():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 1, 4, 4))
    y = np.repeat([0, 1], 100)
    X[y == 1, 0, 0, 0] += 6.0
    judge = fit_judge(X[::2], y[::2], X[1::2], y[1::2])
    assert judge.accuracy > 0.95 and judge.n_test == 100
    basins = np.array([0, 0, 0, 1, 1, 2])
    reads = np.array([3, 3, 4, 5, 5, 6])
    np.testing.assert_allclose(read_shares(reads, [3, 5, 7]), [2 / 6, 2 / 6, 0.0])
    label, share, size = basin_readings(basins, reads)
    assert label.tolist() == [3, 5, 6]
    np.testing.assert_allclose(share, [2 / 3, 1.0, 1.0])
    assert size.tolist() == [3, 2, 1]


def test_drift_temperature_picks_the_warmest_quiet_temperature():
    T = [0.1, 1.0, 10.0]
    steps = np.arange(11)
    # the energy rises linearly at rate 0.01 * T per step for 4 chains
    drift = np.stack([np.tile(0.01 * t * steps, (4, 1)) for t in T])
    # mean rise over the last half: 0.01 * T * mean(5..10) = 0.075 * T
    assert drift_temperature(T, drift, barrier_scale=1.0, fraction=0.1) == 1.0
    assert drift_temperature(T, drift, barrier_scale=1.0, fraction=1.0) == 10.0
    assert drift_temperature(T, drift, barrier_scale=1e-6) == 0.1   # none qualifies: coldest


def test_with_no_quiet_temperature_the_rule_takes_the_quietest_not_the_coldest():
    """Langevin on U/T with a fixed step overshoots once T is small enough (its drift term
    grows as 1/T): the coldest T can be the noisiest. With no T under the limit the rule takes
    the smallest rise, the coldest of a tie; with one under it, the warmest such T as before."""
    T = [1e-4, 3e-4, 1e-3, 1e-2]
    steps = np.arange(11)
    rise_rate = [0.5, 0.02, 0.03, 0.1]          # per step: the coldest overshoots
    drift = np.stack([np.tile(r * steps, (3, 1)) for r in rise_rate])
    # mean rise over the last half: 7.5 * rate -> 3.75, 0.15, 0.225, 0.75
    assert drift_temperature(T, drift, barrier_scale=1.0, fraction=0.1) == 3e-4
    assert drift_temperature(T, drift, barrier_scale=1.0, fraction=0.2) == 3e-4
    assert drift_temperature(T, drift, barrier_scale=1.0, fraction=0.3) == 1e-3
    assert not drift_rule_met(drift, barrier_scale=1.0, fraction=0.1)
    assert drift_rule_met(drift, barrier_scale=1.0, fraction=0.2)
    tie = np.stack([np.tile(0.02 * steps, (3, 1))] * 4)
    assert drift_temperature(T, tie, barrier_scale=1.0, fraction=0.01) == 1e-4
    assert drift_temperature(T, tie, barrier_scale=1.0, fraction=1.0) == 1e-2


def test_the_running_reference_does_not_count_continued_descent_as_drift():
    steps = np.arange(11, dtype=np.float64)
    sliding = 1.0 - 0.1 * steps                 # still descending at the end: 1.0 ... 0.0
    shaking = 0.3 * (steps % 2)                 # thermal excursions above a fixed floor
    drift = np.stack([np.stack([sliding, sliding]), np.stack([shaking, shaking])])
    # "lowest": the slide's last half (0.5 ... 0.0, mean 0.25) sits above its final minimum
    np.testing.assert_allclose(drift_rise(drift, "lowest"), [0.25, 0.3 * 3 / 6])
    # "running": a chain that only descends never rises above its lowest so far
    np.testing.assert_allclose(drift_rise(drift, "running"), [0.0, 0.3 * 3 / 6])
    np.testing.assert_allclose(drift_above(drift, "running")[1, 0], shaking)
    assert drift_rise(drift).tolist() == drift_rise(drift, "lowest").tolist()   # the default
    # a cold T still sliding down and a warm one shaking at 0.15 on average: "lowest"
    # rejects the cold one (0.25; with neither quiet enough it falls back to the quieter, the
    # warm one), "running" keeps both
    T = [0.01, 0.1]
    assert drift_temperature(T, drift, barrier_scale=1.0, fraction=0.1) == 0.1
    assert drift_temperature(T, drift, barrier_scale=1.0, fraction=0.2) == 0.1
    assert drift_temperature(T, drift[::-1].copy(), barrier_scale=1.0, fraction=0.2) == 0.01
    assert drift_temperature(T, drift[::-1].copy(), barrier_scale=1.0, fraction=0.2,
                             reference="running") == 0.1
    with pytest.raises(ValueError, match="reference must be one of"):
        drift_rise(drift, "first")


class Quadratic(nn.Module):
    def forward(self, x):
        return 0.5 * (x ** 2).sum(1)


def test_continuous_energy_drift_matches_equipartition():
    # Langevin on U/T with U = |x|^2/2 in d dims has stationary E[U] = d T / 2 (up to the
    # step's bias: per-dim variance eps^2 / (2c - c^2) with c = eps^2 / (2T), +3% here)
    d, T, eps = 4, 2.0, 0.5
    x0 = torch.zeros(400, d)
    drift = continuous_energy_drift(Quadratic(), x0, [T, 4 * T], n_steps=300, eps=eps, seed=0)
    assert drift.shape == (2, 400, 301)
    assert np.all(drift[:, :, 0] == 0)
    assert drift[0, :, 100:].mean() == pytest.approx(d * T / 2, rel=0.1)
    assert drift[1, :, 100:].mean() == pytest.approx(d * 4 * T / 2, rel=0.1)


class LinearGenerator(nn.Module):
    def __init__(self, W):
        super().__init__()
        self.W = nn.Parameter(W, requires_grad=False)
        self.latent_dim = W.shape[1]

    def forward(self, z):
        return z @ self.W.T


def test_infer_latents_finds_the_closed_form_posterior_mode():
    # x = W z + noise(sigma): the posterior mode is (W^T W / s^2 + I)^-1 W^T x / s^2
    g = torch.Generator().manual_seed(0)
    W = torch.randn(6, 2, generator=g, dtype=torch.float64)
    x = torch.randn(5, 6, generator=g, dtype=torch.float64)
    sigma = 0.5
    A = W.T @ W / sigma ** 2 + torch.eye(2, dtype=torch.float64)
    expected = torch.linalg.solve(A, (x @ W).T / sigma ** 2).T
    z, _ = infer_latents(LinearGenerator(W), x, sigma=sigma, n_starts=2, rate=0.02,
                         n_steps=3000, generator=g)
    torch.testing.assert_close(z, expected, atol=1e-5, rtol=0)


def test_leakage_alpha_takes_the_strongest_alpha_without_leakage():
    alphas = [1.0, 3.0, 10.0, 30.0]
    counts = [8, 7, 3, 1]
    leakage = [0.2, 0.9, 2.5, 1.0]      # at 30 there is no leakage but one basin: excluded
    assert leakage_alpha(alphas, counts, leakage) == 3.0
    assert leakage_alpha(alphas, counts, leakage, limit=3.0) == 10.0
    assert leakage_alpha(alphas, counts, [5, 5, 5, 5]) == 1.0      # none qualifies: weakest


def test_alpha_sweep_counts_equal_basins_vs_alpha():
    from ebmbook.energies.landscapes import MultiWell1D
    from ebmbook.landscape.adelm import ContinuousBackend
    from ebmbook.landscape.tuning import alpha_sweep, basins_vs_alpha

    def propose(n, g):
        return torch.rand((n, 1), generator=g, dtype=torch.float64) * 8 - 4
    be = ContinuousBackend(MultiWell1D(), propose, temperature=0.05, alpha=1.0, eps=0.05,
                           max_steps=300, descent_steps=300)
    alphas = [0.1, 10.0, 1000.0]
    counts, leak = alpha_sweep(be, alphas, n_iter=5, seed=3)
    assert counts.tolist() == basins_vs_alpha(be, alphas, n_iter=5, seed=3).tolist()
    assert leak.shape == (3,) and np.all(leak >= 0)
    assert counts[-1] <= counts[0]


def test_bad_inputs_name_the_fix():
    from ebmbook.energies.generator import LatentEnergy
    W = torch.randn(6, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="unit must be > 0"):
        LatentEnergy(Quadratic(), LinearGenerator(W), unit=0.0)
    with pytest.raises(ValueError, match="n_starts"):
        infer_latents(LinearGenerator(W), torch.zeros(2, 6, dtype=torch.float64), n_starts=0)
    with pytest.raises(ValueError, match="differ in length"):
        fit_judge(np.zeros((4, 3)), [0, 1, 0], np.zeros((2, 3)), [0, 1])
