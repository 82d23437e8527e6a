"""Paths refined into saddles, checked against saddles known exactly (by symmetry, or found by
scipy from a dense Hessian, which only a test may form), and the Hessian-vector index check on
points of known index; many paths refined as one batch against each path alone, and a map's
barriers refined on a process pool against the same in-process."""

import numpy as np
import pytest
import scipy.optimize
import torch

from ebmbook.landscape.saddles import (check_saddle, hessian_vector_product,
                                       lowest_hessian_eigenvalues, refine_path, refine_paths,
                                       resample_path)


def wells(centres, weights=None, sigma=1.0):
    c = torch.as_tensor(centres, dtype=torch.float64)
    logw = torch.log(torch.as_tensor(weights if weights is not None else [1.0] * len(c),
                                     dtype=torch.float64))

    def U(x):
        d2 = ((x.unsqueeze(1) - c) ** 2).sum(-1)
        return -torch.logsumexp(logw - d2 / (2 * sigma ** 2), dim=1)
    return U


def quadratic(diag):
    a = torch.as_tensor(diag, dtype=torch.float64)
    return lambda x: 0.5 * (a * x * x).sum(1)


def dense_hessian(U, x):
    return torch.autograd.functional.hessian(lambda y: U(y.unsqueeze(0)).sum(), x).numpy()


def test_hessian_vector_product_and_lanczos_match_the_dense_hessian():
    U = wells(np.random.default_rng(0).normal(size=(3, 5)) * 2)
    x = torch.tensor([0.3, -0.2, 0.1, 0.5, -0.4], dtype=torch.float64)
    H = dense_hessian(U, x)
    v = torch.randn(5, dtype=torch.float64)
    np.testing.assert_allclose(hessian_vector_product(U, x, v).numpy(), H @ v.numpy(), atol=1e-10)
    vals, vecs = lowest_hessian_eigenvalues(U, x, k=2)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(H)[:2], atol=1e-6)
    assert vecs.shape == (2, 5)


def test_a_piecewise_linear_energy_has_a_zero_hessian_and_no_saddle():
    """A LeakyReLU network is linear between its kinks: its Hessian is exactly zero almost
    everywhere (ARPACK cannot even start there). The eigenvalues are zeros, orthonormal
    eigenvectors come back, and no point is accepted as a saddle (index 0)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.LeakyReLU(0.05),
                              torch.nn.Linear(16, 1)).double()
    U = lambda x: net(x).squeeze(-1)  # noqa: E731
    x = torch.randn(6, dtype=torch.float64)
    assert not hessian_vector_product(U, x, torch.randn(6, dtype=torch.float64)).any()
    vals, vecs = lowest_hessian_eigenvalues(U, x, k=3)
    assert np.array_equal(vals, np.zeros(3))
    np.testing.assert_allclose(vecs.reshape(3, -1) @ vecs.reshape(3, -1).T, np.eye(3), atol=1e-12)
    got = check_saddle(U, x, grad_tol=1e9)
    assert got.index == 0 and not got.ok


@pytest.mark.parametrize("diag, index", [([1.0, 2.0, 3.0, 4.0], 0), ([-1.0, 2.0, 3.0, 4.0], 1),
                                         ([-1.0, -0.5, 3.0, 4.0], 2)])
def test_index_check_accepts_only_index_one(diag, index):
    U = quadratic(diag)
    got = check_saddle(U, torch.zeros(4, dtype=torch.float64), k=3)
    assert got.index == index and got.ok == (index == 1)
    assert got.grad_norm == 0.0
    # a point of index 1 that is not stationary is not a saddle either
    off = check_saddle(U, torch.tensor([0.1, 0.0, 0.0, 0.0], dtype=torch.float64))
    assert off.index == (1 if index else 0) or index == 2
    assert not off.ok
    with pytest.raises(ValueError, match="k must be >= 2"):
        check_saddle(U, torch.zeros(4, dtype=torch.float64), k=1)


def test_resample_path_is_even_in_arc_length():
    path = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]])   # length 4, uneven segments
    out = resample_path(path, 5)
    np.testing.assert_allclose(out.numpy(), [[0, 0], [1, 0], [1, 1], [1, 2], [1, 3]], atol=1e-6)
    assert torch.equal(resample_path(path[:1].repeat(2, 1), 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="two states"):
        resample_path(path[:1], 3)


def test_a_curved_path_between_symmetric_wells_refines_to_the_midpoint():
    # two equal wells: the saddle is their midpoint by symmetry
    U = wells([[1.5, 0, 0, 0, 0, 0], [-1.5, 0, 0, 0, 0, 0]])
    s = torch.linspace(0, 1, 40, dtype=torch.float64)
    path = torch.zeros(40, 6, dtype=torch.float64)
    path[:, 0] = 1.5 - 3.0 * s
    path[:, 1] = 0.8 * torch.sin(np.pi * s)              # an AD-like detour off the line
    path[:, 2] = 0.3 * torch.sin(2 * np.pi * s)
    r = refine_path(U, path, n_images=12, max_iter=5000, tol=1e-6, grad_tol=1e-4)
    assert r.verified, (r.band.max_force, r.check)
    exact = float(U(torch.zeros(1, 6, dtype=torch.float64)))
    assert r.barrier == pytest.approx(exact, abs=1e-3)
    assert float(r.saddle.norm()) < 0.02
    # the detour's own highest point was a worse (higher) bound
    assert float(U(path).max()) > exact + 0.05


def _wiggly(ma, mb, rng, n=30, size=0.2):
    """The segment from ma to mb with a smooth detour, as an AD path would take."""
    t = torch.linspace(0, 1, n, dtype=torch.float64).unsqueeze(1)
    line = torch.as_tensor(ma) + t * torch.as_tensor(mb - ma)
    return line + size * torch.sin(np.pi * t) * torch.as_tensor(rng.normal(size=len(ma)))


def test_unequal_wells_refine_to_the_saddle_on_their_axis():
    # two isotropic wells: the minimum-energy path is their axis, so the saddle is the maximum
    # of U along it, found exactly by a 1-D search (independent of the band)
    rng = np.random.default_rng(2)
    axis = rng.normal(size=6)
    axis /= np.linalg.norm(axis)
    centres = np.stack([np.zeros(6), 2.5 * axis])
    U = wells(centres, weights=[1.0, 0.4], sigma=0.9)
    on_axis = lambda t: float(U(torch.as_tensor(t * axis).unsqueeze(0)))  # noqa: E731
    best = scipy.optimize.minimize_scalar(lambda t: -on_axis(t), bounds=(0.2, 2.3),
                                          method="bounded", options={"xatol": 1e-10})
    exact = torch.as_tensor(best.x * axis)
    ma, mb = _minimum(U, centres[0]), _minimum(U, centres[1])
    r = refine_path(U, _wiggly(ma, mb, rng), n_images=14, max_iter=8000, tol=1e-6,
                    grad_tol=1e-4)
    assert r.verified, (r.band.max_force, r.check)
    assert r.barrier == pytest.approx(on_axis(best.x), abs=1e-3)
    assert float((r.saddle - exact).norm()) < 0.02


def test_saddles_of_four_wells_are_exact_stationary_points_of_index_one():
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0, 0, 0, 0, 0], [2.4, 0.5, 0, 0.3, 0, 0],
                        [0.4, 2.6, 0.5, 0, 0, 0.2], [2.2, 2.5, -0.6, 0, 0.4, 0]], dtype=float)
    U = wells(centres, weights=[1.0, 0.6, 0.8, 0.5], sigma=0.9)
    pairs = ((0, 1), (0, 2), (1, 3))
    ends = [(_minimum(U, centres[a]), _minimum(U, centres[b])) for a, b in pairs]
    # AD-like paths of different lengths, refined as one batch (a missing path gives None)
    paths = [_wiggly(ma, mb, rng, n=n) for (ma, mb), n in zip(ends, (30, 41, 23))]
    opts = dict(n_images=14, max_iter=8000, tol=1e-6, grad_tol=1e-4)
    batch = refine_paths(U, paths[:2] + [None] + paths[2:], **opts)
    assert len(batch) == 4 and batch[2] is None
    del batch[2]
    for (a, b), (ma, mb), path, r in zip(pairs, ends, paths, batch):
        # the batch gives each path what it gets alone, bit for bit
        alone = refine_path(U, path, **opts)
        assert torch.equal(r.band.path, alone.band.path) and r.barrier == alone.barrier
        assert r.band.iterations == alone.band.iterations and torch.equal(r.saddle, alone.saddle)
        assert r.verified, (a, b, r.band.max_force, r.check)
        # Newton with the dense Hessian (a test may form it) from the refined saddle lands on
        # an exact stationary point next to it, of index 1 by the dense eigenvalues
        sol = scipy.optimize.root(lambda x: _grad(U, x), r.saddle.numpy(),
                                  jac=lambda x: dense_hessian(U, torch.as_tensor(x)), tol=1e-12)
        assert sol.success and np.linalg.norm(_grad(U, sol.x)) < 1e-9
        exact = torch.as_tensor(sol.x)
        assert np.sum(np.linalg.eigvalsh(dense_hessian(U, exact)) < 0) == 1
        assert r.barrier == pytest.approx(float(U(exact.unsqueeze(0))), abs=1e-3)
        assert float((r.saddle - exact).norm()) < 0.02
        # and it is no higher than the straight line's highest point
        line = torch.as_tensor(np.array([ma + t * (mb - ma) for t in np.linspace(0, 1, 201)]))
        assert r.barrier <= float(U(line).max()) + 1e-9


def _grad(U, x):
    xt = torch.as_tensor(x, dtype=torch.float64).unsqueeze(0).requires_grad_(True)
    (g,) = torch.autograd.grad(U(xt).sum(), xt)
    return g.squeeze(0).numpy()


def _minimum(U, x0):
    res = scipy.optimize.minimize(lambda x: float(U(torch.as_tensor(x).unsqueeze(0))), x0,
                                  jac=lambda x: _grad(U, x), method="BFGS", tol=1e-10)
    return res.x


MAP_CENTRES = torch.zeros(3, 4, dtype=torch.float64)
MAP_CENTRES[0, 0], MAP_CENTRES[1, 0], MAP_CENTRES[2, 1] = -3.0, 3.0, 5.0


class MapWells(torch.nn.Module):
    """``wells(MAP_CENTRES, weights=[0.5, 0.3, 0.2])`` as a module, which a process pool can
    pickle (by reference to this module)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("c", MAP_CENTRES.clone())
        self.register_buffer("logw", torch.log(torch.tensor([0.5, 0.3, 0.2],
                                                            dtype=torch.float64)))

    def forward(self, x):
        d2 = ((x.unsqueeze(1) - self.c) ** 2).sum(-1)
        return -torch.logsumexp(self.logw - d2 / 2, dim=1)


def test_refine_barriers_puts_a_map_merges_on_the_exact_saddles():
    """A map of three wells: AD barriers are upper bounds; refined, every DG merge sits on an
    exact saddle (here on the segment between two wells, by the axial symmetry of two isotropic
    wells; the third is far enough not to move it by more than 1e-5)."""
    from ebmbook.landscape.barriers import linear_barrier
    from ebmbook.landscape.mapping import map_energy
    from ebmbook.landscape.saddles import merge_pairs, refine_barriers

    centres = MAP_CENTRES
    U = MapWells()
    propose = lambda n, g: 4.0 * torch.randn((n, 4), generator=g, dtype=torch.float64)  # noqa
    m = map_energy(U, propose, temperature=0.1, alpha=5.0, eps=0.1, n_iterations=12, delta=0.3,
                   max_steps=400, descent_steps=300, barrier_factors=(1.0, 2.0, 4.0, 8.0),
                   chunk_size=8, seed=0)
    assert m.n_basins == 3
    well = torch.cdist(m.representatives, centres).argmin(1).numpy()
    r = refine_barriers(m, n_images=12, max_iter=4000, tol=1e-6, grad_tol=1e-4)
    pairs = merge_pairs(m.barriers, m.dg)
    assert len(pairs) == 2 and set(r.barrier_kind) == set(pairs)
    assert all(k == "saddle" for k in r.barrier_kind.values())
    for (a, b), x in r.saddles.items():
        i, j = well[a], well[b]
        exact = float(linear_barrier(U, centres[i:i + 1], centres[j:j + 1], n_points=8001)[0])
        assert r.barriers[a, b] == pytest.approx(exact, abs=1e-3)
        assert r.barriers[a, b] <= m.barriers[a, b] + 1e-6       # never above the AD bound
        assert check_saddle(U, x, grad_tol=1e-4).ok
    # the rebuilt DG merges at the refined heights, and the unrefined pair is left as it was
    np.testing.assert_allclose(np.sort(r.dg.merges[:, 2]),
                               np.sort([r.barriers[a, b] for a, b in pairs]))
    (other,) = {(0, 1), (0, 2), (1, 2)} - set(pairs)
    assert r.barriers[other] == m.barriers[other]
    assert "refine" in r.timings and r.timings["refine"] > 0
    # the bands one after another, and in tasks of one band on a process pool: the same map
    opts = dict(n_images=12, max_iter=4000, tol=1e-6, grad_tol=1e-4)
    for again in (refine_barriers(m, batch=False, **opts),
                  refine_barriers(m, executor="process:2", chunk_size=1, **opts)):
        np.testing.assert_array_equal(again.barriers, r.barriers)
        assert again.barrier_kind == r.barrier_kind and set(again.saddles) == set(r.saddles)
        assert all(torch.equal(again.saddles[p], r.saddles[p]) for p in r.saddles)
        np.testing.assert_array_equal(again.dg.merges, r.dg.merges)
    with pytest.raises(ValueError, match="chunk_size"):
        refine_barriers(m, chunk_size=0, **opts)


def test_polishing_takes_a_rough_climbing_image_onto_the_saddle():
    """A band stopped early leaves its climbing image off the saddle; minimum-mode following
    from it lands on the exact saddle (the midpoint of two equal wells) and passes the check."""
    from ebmbook.landscape.saddles import polish_saddle
    U = wells([[1.5, 0, 0, 0], [-1.5, 0, 0, 0]])
    rough = torch.tensor([0.3, 0.2, -0.1, 0.05], dtype=torch.float64)
    assert not check_saddle(U, rough, grad_tol=1e-4).ok
    x = polish_saddle(U, rough, n_steps=400, rate=0.5, grad_tol=1e-6)
    assert check_saddle(U, x, grad_tol=1e-5).ok and float(x.norm()) < 1e-3
    line = torch.zeros(20, 4, dtype=torch.float64)
    line[:, 0] = torch.linspace(1.5, -1.5, 20, dtype=torch.float64)
    line[:, 1] += 0.3 * torch.sin(torch.linspace(0, np.pi, 20, dtype=torch.float64))
    short = refine_path(U, line, n_images=8, max_iter=5, grad_tol=1e-5)
    polished = refine_path(U, line, n_images=8, max_iter=5, grad_tol=1e-5, polish_steps=400,
                           polish_rate=0.5)
    assert not short.verified and polished.verified
    assert polished.barrier == pytest.approx(float(U(torch.zeros(1, 4, dtype=torch.float64))),
                                             abs=1e-6)
