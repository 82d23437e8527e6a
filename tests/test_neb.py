"""The doubly-nudged elastic band against oracles: the Müller–Brown potential's stationary points
(found here with scipy from an independent numpy implementation), a quadratic bowl whose minimum
energy path is a straight line, hand-computed (D)NEB forces and the linear-interpolation bound;
a batch of bands against each band relaxed alone."""

import math

import numpy as np
import pytest
import torch
from scipy import optimize

from ebmbook.energies.landscapes import MullerBrown
from ebmbook.landscape import linear_barrier, nudged_elastic_band, path_energy_profile
from ebmbook.landscape.neb import (improved_tangent, linear_bands, neb_force,
                                  nudged_elastic_bands)

# --- an independent numpy Müller–Brown with analytic gradient and Hessian -----------------------
_A = np.array([-200.0, -100.0, -170.0, 15.0])
_a = np.array([-1.0, -1.0, -6.5, 0.7])
_b = np.array([0.0, 0.0, 11.0, 0.6])
_c = np.array([-10.0, -10.0, -6.5, 0.7])
_x0 = np.array([1.0, 0.0, -0.5, -1.0])
_y0 = np.array([0.0, 0.5, 1.5, 1.0])


def _terms(p):
    dx, dy = p[0] - _x0, p[1] - _y0
    e = _A * np.exp(_a * dx * dx + _b * dx * dy + _c * dy * dy)
    return e, 2 * _a * dx + _b * dy, _b * dx + 2 * _c * dy


def mb_np(p):
    return _terms(p)[0].sum()


def mb_grad(p):
    e, qx, qy = _terms(p)
    return np.array([(e * qx).sum(), (e * qy).sum()])


def mb_hess(p):
    e, qx, qy = _terms(p)
    hxx = (e * (qx * qx + 2 * _a)).sum()
    hxy = (e * (qx * qy + _b)).sum()
    hyy = (e * (qy * qy + 2 * _c)).sum()
    return np.array([[hxx, hxy], [hxy, hyy]])


def _minimum(guess):
    r = optimize.minimize(mb_np, guess, jac=mb_grad, method="BFGS", options={"gtol": 1e-10})
    return r.x


def _saddle(guess):
    r = optimize.root(mb_grad, guess, jac=mb_hess, tol=1e-12)
    assert r.success
    return r.x


@pytest.fixture(scope="module")
def mb_points():
    """Oracle minima (deepest, second, intermediate) and saddles (high, low) of Müller–Brown."""
    minima = [_minimum(g) for g in ((-0.56, 1.44), (0.62, 0.03), (-0.05, 0.47))]
    saddles = [_saddle(g) for g in ((-0.82, 0.62), (0.21, 0.29))]
    return minima, saddles


def _t(p):
    return torch.as_tensor(np.asarray(p), dtype=torch.float64)


# --- (1) the potential and its stationary points ------------------------------------------------
def test_muller_brown_matches_independent_formula_and_known_points(mb_points):
    mb = MullerBrown()
    rng = np.random.default_rng(0)
    pts = rng.uniform([-1.5, -0.5], [1.0, 2.0], size=(50, 2))
    u = mb(torch.as_tensor(pts)).numpy()
    np.testing.assert_allclose(u, [mb_np(p) for p in pts], rtol=1e-12, atol=1e-10)

    minima, saddles = mb_points
    for p, (x, y, e) in zip(minima, MullerBrown.minima):
        assert np.linalg.norm(mb_grad(p)) < 1e-6
        assert np.all(np.linalg.eigvalsh(mb_hess(p)) > 0)
        assert np.hypot(p[0] - x, p[1] - y) < 2e-3 and abs(mb_np(p) - e) < 0.01
    for p, (x, y, e) in zip(saddles, MullerBrown.saddles):
        assert np.linalg.norm(mb_grad(p)) < 1e-6
        ev = np.linalg.eigvalsh(mb_hess(p))
        assert ev[0] < 0 < ev[1]                                   # one negative eigenvalue
        assert np.hypot(p[0] - x, p[1] - y) < 2e-3 and abs(mb_np(p) - e) < 0.01


# --- (2)-(3) Müller–Brown barriers --------------------------------------------------------------
def test_climbing_dneb_finds_high_saddle_through_intermediate_minimum(mb_points):
    (m_deep, m_second, m_mid), (s_high, _) = mb_points
    mb = MullerBrown()
    r = nudged_elastic_band(mb, _t(m_deep), _t(m_second), n_images=16, spring=10.0,
                            climbing=True, step=1e-3, tol=1e-2, max_iter=2000)
    assert r.converged and r.max_force <= 1e-2
    assert r.path.shape == (18, 2) and r.energy.shape == (18,)
    assert torch.equal(r.path[0], _t(m_deep)) and torch.equal(r.path[-1], _t(m_second))
    assert abs(r.barrier - mb_np(s_high)) < 0.5
    assert np.linalg.norm(r.saddle.numpy() - s_high) < 0.02
    assert r.energy[r.saddle_index] == r.energy.max()
    # the path runs through the intermediate minimum
    d_mid = (r.path - _t(m_mid)).norm(dim=1)
    assert float(d_mid.min()) < 0.1
    assert abs(float(r.energy[int(d_mid.argmin())]) - mb_np(m_mid)) < 1.0
    # the dense profile along the band bounds the saddle from above, and not by much
    s, u = path_energy_profile(mb, r.path, n_points=256)
    assert s[0] == 0 and s[-1] == pytest.approx(1.0) and np.all(np.diff(s) > 0)
    assert mb_np(s_high) - 1e-6 <= u.max() < mb_np(s_high) + 0.5
    s_img, u_img = r.profile()
    assert s_img.shape == (18,) and np.all(np.diff(s_img) > 0) and u_img[0] == r.energy[0]


@pytest.mark.parametrize("climbing", [False, True])
def test_dneb_barrier_between_intermediate_and_second_minimum(mb_points, climbing):
    (_, m_second, m_mid), (_, s_low) = mb_points
    mb = MullerBrown()
    r = nudged_elastic_band(mb, _t(m_mid), _t(m_second), n_images=16, spring=10.0,
                            climbing=climbing, step=3e-3, tol=1e-2, max_iter=2000)
    assert r.converged
    assert abs(r.barrier - mb_np(s_low)) < 0.5
    if climbing:
        assert np.linalg.norm(r.saddle.numpy() - s_low) < 0.02
        assert abs(r.barrier - mb_np(s_low)) < 0.01


def test_quickmin_also_finds_the_saddle(mb_points):
    (_, m_second, m_mid), (_, s_low) = mb_points
    r = nudged_elastic_band(MullerBrown(), _t(m_mid), _t(m_second), n_images=10, spring=10.0,
                            climbing=True, optimizer="quickmin", step=3e-3, tol=1e-2)
    assert r.converged and np.linalg.norm(r.saddle.numpy() - s_low) < 0.02


# --- (5) the linear interpolation is an upper bound -----------------------------------------------
def test_linear_barrier_is_above_the_dneb_barrier(mb_points):
    (m_deep, m_second, m_mid), _ = mb_points
    mb = MullerBrown()
    bars = []
    for p, q in ((m_deep, m_second), (m_mid, m_second), (m_deep, m_mid)):
        r = nudged_elastic_band(mb, _t(p), _t(q), n_images=12, spring=10.0, climbing=True,
                                step=1e-3, tol=1e-2, max_iter=1000)
        assert r.converged
        lin = linear_barrier(mb, _t(p)[None], _t(q)[None], n_points=64)[0]
        assert lin >= r.barrier
        bars.append((lin, r.barrier))
    # between the deepest and the second minimum the line crosses a high ridge
    assert bars[0][0] > bars[0][1] + 20


# --- (4) a straight valley: a straight, evenly spaced band ---------------------------------------
def _bowl(x):
    return 0.5 * (0.5 * x[:, 0] ** 2 + 4 * x[:, 1] ** 2 + 4 * x[:, 2] ** 2)


@pytest.mark.parametrize("doubly_nudged", [True, False])
def test_band_relaxes_to_straight_evenly_spaced_line(doubly_nudged):
    a = torch.tensor([-1.0, 0.0, 0.0], dtype=torch.float64)
    n = 8
    s = torch.linspace(0, 1, n + 2, dtype=torch.float64)
    init = torch.stack([-1 + 2 * s ** 2, 0.3 * torch.sin(math.pi * s),
                        0.2 * torch.sin(2 * math.pi * s)], 1)            # bent, uneven
    r = nudged_elastic_band(_bowl, a, -a, n_images=n, spring=5.0, init_path=init, step=0.05,
                            tol=1e-7, doubly_nudged=doubly_nudged, max_iter=3000)
    assert r.converged
    assert float(r.path[:, 1:].abs().max()) < 1e-5                        # on the x axis
    np.testing.assert_allclose(r.path[:, 0].numpy(), np.linspace(-1, 1, n + 2), atol=1e-3)
    assert r.saddle_index in (0, n + 1)                                   # highest: an endpoint


# --- the force, by hand --------------------------------------------------------------------------
def test_tangent_and_dneb_force_by_hand():
    x = torch.tensor([[0.0, 0, 0], [1, 1, 0], [2, 0, 0]], dtype=torch.float64)
    g = torch.tensor([[0.0, 1, 1]], dtype=torch.float64)
    # monotone profile: the upwind tangent towards the higher neighbour
    t = improved_tangent(x, torch.tensor([0.0, 1, 2], dtype=torch.float64))
    torch.testing.assert_close(t[0], torch.tensor([1, -1, 0], dtype=torch.float64) / 2 ** .5)
    t = improved_tangent(x, torch.tensor([2.0, 1, 0], dtype=torch.float64))
    torch.testing.assert_close(t[0], torch.tensor([1, 1, 0], dtype=torch.float64) / 2 ** .5)
    # a maximum: dV+ = 1, dV- = 2, V+ > V-  ->  t ~ 2 (1,-1,0) + 1 (1,1,0) = (3,-1,0)
    u = torch.tensor([0.0, 2, 1], dtype=torch.float64)
    t = improved_tangent(x, u)[0]
    torch.testing.assert_close(t, torch.tensor([3, -1, 0], dtype=torch.float64) / 10 ** .5)
    k = 2.0
    f_perp = torch.tensor([-0.3, -0.9, -1.0], dtype=torch.float64)      # -g + (g.t) t
    fs_perp = k * torch.tensor([-0.6, -1.8, 0.0], dtype=torch.float64)  # k(0,-2,0) minus tangent
    dneb = fs_perp - (fs_perp @ f_perp) / (f_perp @ f_perp) * f_perp
    # equal segment lengths: no parallel spring force
    f, measure = neb_force(x, u, g, k, doubly_nudged=False)
    torch.testing.assert_close(f[0], f_perp)
    assert float(measure[0]) == pytest.approx(1.9 ** .5)
    f, _ = neb_force(x, u, g, k, doubly_nudged=True)
    torch.testing.assert_close(f[0], f_perp + dneb)
    assert abs(float(dneb @ t)) < 1e-12 and abs(float(dneb @ f_perp)) < 1e-12
    f, measure = neb_force(x, u, g, k, doubly_nudged=True, climb_index=0)
    torch.testing.assert_close(f[0], torch.tensor([-0.6, -0.8, -1.0], dtype=torch.float64))
    assert float(measure[0]) == pytest.approx(2 ** .5)
    # a batch of bands, one climbing index each: each band's force as alone
    fb, mb = neb_force(torch.stack([x, x]), torch.stack([u, u]), torch.stack([g, g]), k,
                       climb_index=torch.tensor([0, -1]))
    fn, mn = neb_force(x, u, g, k)
    assert torch.equal(fb[0], f) and torch.equal(mb[0], measure)
    assert torch.equal(fb[1], fn) and torch.equal(mb[1], mn)
    # uneven segments: spring k (|x2-x1| - |x1-x0|) along the tangent
    x2 = x.clone()
    x2[2] = torch.tensor([3.0, -1, 0])
    t2 = improved_tangent(x2, u)[0]
    f, _ = neb_force(x2, u, g, k, doubly_nudged=False)
    gt = g[0] @ t2
    torch.testing.assert_close(f[0], -g[0] + gt * t2 + k * (8 ** .5 - 2 ** .5) * t2)


# --- (6) one batched energy call per iteration; frozen parameters ---------------------------------
class _CountingMB(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))
        self.batches = []
        self.param_grad_flags = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        self.param_grad_flags.append(self.scale.requires_grad)
        return self.scale * MullerBrown()(x)


def test_one_energy_call_per_iteration_with_all_images(mb_points):
    (_, m_second, m_mid), _ = mb_points
    e = _CountingMB()
    r = nudged_elastic_band(e, _t(m_mid), _t(m_second), n_images=7, spring=10.0, step=3e-3,
                            tol=1e-2, max_iter=50)
    assert r.iterations == 50 and not r.converged
    assert e.batches == [9] + [7] * 50
    assert not any(e.param_grad_flags)                    # no parameter graph while relaxing
    assert e.scale.requires_grad and e.scale.grad is None  # restored, untouched
    # max_iter=0: only the initial evaluation, the straight band
    e.batches.clear()
    r = nudged_elastic_band(e, _t(m_mid), _t(m_second), n_images=3, max_iter=0)
    assert e.batches == [5] and r.iterations == 0
    torch.testing.assert_close(r.path[2], (_t(m_mid) + _t(m_second)) / 2)


# --- (6b) a batch of bands: each band as if alone; a converged band stops ------------------------
def _same(r, q):
    assert torch.equal(r.path, q.path) and torch.equal(r.energy, q.energy)
    assert (r.barrier, r.saddle_index, r.iterations, r.converged, r.max_force, r.climbing) == \
        (q.barrier, q.saddle_index, q.iterations, q.converged, q.max_force, q.climbing)


@pytest.mark.parametrize("options", [dict(climbing=True, step=1e-3, spring=10.0),
                                     dict(climbing=False, step=3e-3, spring=10.0, max_move=0.01),
                                     dict(climbing=True, step=3e-3, optimizer="quickmin"),
                                     dict(climbing=True, step=1e-3, doubly_nudged=False)])
def test_a_batch_of_bands_gives_each_band_its_result_alone(mb_points, options):
    (m_deep, m_second, m_mid), _ = mb_points
    mb = MullerBrown()
    pairs = [(m_deep, m_second), (m_mid, m_second), (m_deep, m_mid), (m_second, m_deep)]
    a = torch.stack([_t(p) for p, _ in pairs])
    b = torch.stack([_t(q) for _, q in pairs])
    batch = nudged_elastic_bands(mb, linear_bands(a, b, 12), tol=1e-2, max_iter=1500, **options)
    alone = [nudged_elastic_band(mb, _t(p), _t(q), n_images=12, tol=1e-2, max_iter=1500,
                                 **options) for p, q in pairs]
    assert len(batch) == 4
    for r, q in zip(batch, alone):
        _same(r, q)
    # the bands really took different numbers of steps (each stopped on its own)
    assert len({r.iterations for r in batch}) > 1
    assert any(r.converged for r in batch)


def test_a_converged_band_is_no_longer_evaluated_or_moved(mb_points):
    (m_deep, m_second, m_mid), _ = mb_points
    n, opts = 7, dict(spring=10.0, climbing=True, step=3e-3, tol=1e-2, max_iter=3000)
    fast = nudged_elastic_band(MullerBrown(), _t(m_mid), _t(m_second), n_images=n, **opts)
    slow = nudged_elastic_band(MullerBrown(), _t(m_deep), _t(m_second), n_images=n, **opts)
    assert fast.converged and slow.converged and 0 < fast.iterations < slow.iterations
    # band 0: the fast band from its line; band 1: the slow one; band 2: the fast band's own
    # relaxed path, converged before it moves
    lines = linear_bands(torch.stack([_t(m_mid), _t(m_deep)]),
                         torch.stack([_t(m_second), _t(m_second)]), n)
    bands = torch.cat([lines, fast.path.unsqueeze(0)])
    e = _CountingMB()
    r = nudged_elastic_bands(e, bands, **opts)
    _same(r[0], fast)
    _same(r[1], slow)
    assert r[2].iterations == 0 and r[2].converged and torch.equal(r[2].path, fast.path)
    # one call per iteration over the images of the bands still moving
    k0, k1 = fast.iterations, slow.iterations
    assert e.batches == [3 * (n + 2)] + [2 * n] * k0 + [n] * (k1 - k0)
    assert not any(e.param_grad_flags)


def test_linear_bands_and_batch_errors():
    a = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[4.0, 0.0], [1.0, -2.0]], dtype=torch.float64)
    bands = linear_bands(a, b, 3)
    assert bands.shape == (2, 5, 2)
    torch.testing.assert_close(bands[0, :, 0], torch.tensor([0.0, 1, 2, 3, 4],
                                                            dtype=torch.float64))
    assert torch.equal(bands[:, 0], a) and torch.equal(bands[:, -1], b)
    # the single band's default start is this line
    r = nudged_elastic_band(MullerBrown(), a[1], b[1], n_images=3, max_iter=0)
    assert torch.equal(r.path, bands[1])
    assert nudged_elastic_bands(MullerBrown(), bands[:0]) == []
    with pytest.raises(ValueError, match="at least one image"):
        nudged_elastic_bands(MullerBrown(), bands[:, :2])
    with pytest.raises(ValueError, match=r"\(B, n_images \+ 2, ...\)"):
        nudged_elastic_bands(MullerBrown(), bands[0])
    bad = bands.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="bands must be finite"):
        nudged_elastic_bands(MullerBrown(), bad)
    with pytest.raises(ValueError, match="tol"):
        nudged_elastic_bands(MullerBrown(), bands, tol=-1.0)
    with pytest.raises(ValueError, match="same shape"):
        linear_bands(a, b[:, :1], 3)
    # an exploding band names itself: band 0 lies on the ridge y = 0, band 1 slides off it
    explode = lambda x: -(x[:, 1] ** 2) ** 4                       # noqa: E731
    two = linear_bands(torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=torch.float64),
                       torch.tensor([[1.0, 0.0], [4.0, 1.0]], dtype=torch.float64), 3)
    with pytest.raises(ValueError, match=r"not finite on band\(s\) 1;"):
        nudged_elastic_bands(explode, two, step=10.0, max_iter=200)


# --- (7) errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(b=torch.zeros(3, dtype=torch.float64)), "a and b"),
    (dict(n_images=0), "n_images"),
    (dict(n_images=2.5), "n_images"),
    (dict(a=torch.tensor([float("nan"), 0.0], dtype=torch.float64)), "a must be finite"),
    (dict(b=torch.tensor([float("inf"), 0.0], dtype=torch.float64)), "b must be finite"),
    (dict(init_path=torch.zeros(5, 2, dtype=torch.float64)), "init_path"),
    (dict(optimizer="adam"), "optimizer"),
    (dict(step=0.0), "step"),
    (dict(spring=-1.0), "spring"),
    (dict(max_iter=-1), "max_iter"),
    (dict(tol=-1.0), "tol"),
])
def test_invalid_arguments_raise(kwargs, match):
    args = dict(a=torch.tensor([-0.05, 0.47], dtype=torch.float64),
                b=torch.tensor([0.62, 0.03], dtype=torch.float64))
    args.update(kwargs)
    a, b = args.pop("a"), args.pop("b")
    with pytest.raises(ValueError, match=match):
        nudged_elastic_band(MullerBrown(), a, b, **args)


def test_exploding_band_raises_a_clear_error():
    a = torch.tensor([-0.05, 0.47], dtype=torch.float64)
    with pytest.raises(ValueError, match="not finite"):
        nudged_elastic_band(lambda x: -(x ** 2).sum(1) ** 4, a, a + 1, n_images=3,
                            step=10.0, max_iter=200)
