"""The Fréchet distance against closed forms, and the judge and baselines of Table 3.1."""

import numpy as np
import pytest
import torch

from ebmbook.diagnostics.frechet import (fit_feature_judge, frechet_distance,
                                         frechet_from_moments, gmm_samples,
                                         pca_basis, pca_gaussian_samples)


def test_moments_match_closed_forms():
    # identical Gaussians
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert frechet_from_moments([1, 2], cov, [1, 2], cov) == pytest.approx(0.0, abs=1e-9)
    # 1-D: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2
    assert frechet_from_moments([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)
    # diagonal covariances: sum over axes of the 1-D formula
    va, vb = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    want = 1.0 + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    got = frechet_from_moments([0, 0, 0], np.diag(va), [1, 0, 0], np.diag(vb))
    assert got == pytest.approx(want, rel=1e-9)
    # a rotation of both Gaussians leaves the distance unchanged
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    rot = frechet_from_moments([0, 0, 0], q @ np.diag(va) @ q.T, q @ [1, 0, 0],
                               q @ np.diag(vb) @ q.T)
    assert rot == pytest.approx(want, rel=1e-6)


def test_sample_distance_converges_to_the_gaussians_distance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40_000, 3)) * [1.0, 2.0, 3.0]
    b = rng.normal(size=(40_000, 3)) * [2.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    want = 1.0 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert frechet_distance(a, b) == pytest.approx(want, rel=0.03)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    with pytest.raises(ValueError, match="dimension"):
        frechet_distance(a, b[:, :2])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        frechet_distance(a[:1], b)


def _bars(n, seed):
    """Images of two classes: a horizontal (0) or a vertical (1) bar at a random place."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, 8, 8) + 0.1 * torch.randn(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    pos = torch.randint(1, 7, (n,), generator=g)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, pos[i], :] = 1.0
        else:
            x[i, 0, :, pos[i]] = 1.0
    return x, y.numpy()


def test_judge_learns_and_its_features_tell_sets_apart():
    x, y = _bars(600, 0)
    xt, yt = _bars(300, 1)
    judge = fit_feature_judge(x, y, xt, yt, epochs=4, width=8, n_features=16, seed=0)
    assert judge.accuracy > 0.95
    h, v = xt[yt == 0], xt[yt == 1]
    h2 = x[y == 0]
    same = judge.frechet(h, h2)
    other = judge.frechet(h, v)
    noise = judge.frechet(h, torch.rand(len(h), 1, 8, 8) * 2 - 1)
    assert same < 0.2 * other and same < 0.2 * noise
    # the same seed gives the same judge
    again = fit_feature_judge(x, y, xt, yt, epochs=4, width=8, n_features=16, seed=0)
    np.testing.assert_array_equal(judge.features(h), again.features(h))
    with pytest.raises(ValueError, match="divisible by 4"):
        fit_feature_judge(torch.zeros(4, 1, 6, 6), [0, 1, 0, 1], torch.zeros(2, 1, 6, 6), [0, 1])


def test_baselines_sample_the_data_they_are_fitted_to():
    x, _ = _bars(400, 2)
    for sampler in (pca_gaussian_samples, gmm_samples):
        s = sampler(x, 300, n_components=6, seed=0)
        assert s.shape == (300, 1, 8, 8) and float(s.abs().max()) <= 1.0
        np.testing.assert_array_equal(s, sampler(x, 300, n_components=6, seed=0))
        # unclipped, the pixel means agree with the data's (clipping biases them)
        free = sampler(x, 2000, n_components=6, seed=1, clip=(-10.0, 10.0))
        assert float((free.mean(0) - x.mean(0)).abs().max()) < 0.06
    with pytest.raises(ValueError, match="n_components"):
        pca_gaussian_samples(x, 10, n_components=0)


def test_pca_basis_matches_the_svd_projection():
    # oracle: the top-k right singular vectors of the centred data span the same plane, so the
    # two projections agree; the components are orthonormal and ordered by variance
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(500, 1, 6, 6, generator=g) * torch.linspace(3, 0.1, 36).reshape(1, 1, 6, 6)
         + 0.5)
    basis = pca_basis(x, 5)
    a = x.reshape(500, -1).double()
    mu = a.mean(0)
    _, _, v = torch.linalg.svd(a - mu, full_matrices=False)
    oracle = ((a - mu) @ v[:5].T @ v[:5] + mu).reshape(x.shape)
    np.testing.assert_allclose(basis.reconstruct(x).double().numpy(), oracle.numpy(), atol=1e-5)
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(5), atol=1e-10)
    var = basis.transform(x).var(0)
    assert np.all(np.diff(var) <= 0)
    assert basis.reconstruct(x).shape == x.shape
    # a basis handed in must have the requested number of components
    with pytest.raises(ValueError, match="components"):
        gmm_samples(x, 10, n_components=4, basis=basis)
    with pytest.raises(ValueError, match="pixels"):
        basis.transform(torch.zeros(3, 1, 5, 5))
