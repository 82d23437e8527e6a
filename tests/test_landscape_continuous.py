"""Continuous-state mapping: AD on the 1D toy of Fig 4.8, linear barriers, ADELM, Fig 4.5 GMM."""

import numpy as np
import pytest
import torch

from ebmbook.energies.landscapes import GaussianMixtureLoss, ToyLandscape1D
from ebmbook.landscape.ad import attraction_diffusion, local_modes
from ebmbook.landscape.adelm import ContinuousBackend, adelm
from ebmbook.landscape.barriers import linear_barrier
from ebmbook.landscape.exact import grid_landscape
from ebmbook.landscape.tuning import metastable_boundary

# the documented AD setting for the toy: T = 0.01, alpha = 40 (alpha * T = 0.4 in units of U)
AD = dict(temperature=0.01, alpha=40.0, eps=0.015, delta=0.05, improvement_limit=300,
          max_steps=20000)


def _trials(x0, xs, n, gen):
    s = torch.full((n, 1), x0, dtype=torch.float64)
    t = torch.full((n, 1), xs, dtype=torch.float64)
    return attraction_diffusion(ToyLandscape1D(), s, t, generator=gen, **AD)


def test_ad_succeeds_within_a_basin_and_fails_across_the_barrier():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    within = _trials(10.0, 5.1, 40, gen)
    back = _trials(5.1, 10.0, 40, gen)
    across = _trials(2.0, 5.1, 40, gen)
    assert within.success.mean() >= 0.9 and back.success.mean() >= 0.9
    assert not across.success.any()
    # successful paths stay in the noisy floor, far below the 0.25 barrier
    assert np.all(within.barrier[within.success] < 0.05)
    # the linear path from the left basin crosses the barrier
    lin = linear_barrier(ToyLandscape1D(), torch.tensor([[2.0]], dtype=torch.float64),
                         torch.tensor([[5.1]], dtype=torch.float64), n_points=500)
    assert lin[0] > 0.24


def test_rwm_ad_and_batched_equals_reseeded():
    gen = torch.Generator().manual_seed(3)
    s = torch.full((8, 1), 10.0, dtype=torch.float64)
    t = torch.full((8, 1), 9.0, dtype=torch.float64)
    kw = dict(AD, sampler="rwm", eps=0.05)
    a = attraction_diffusion(ToyLandscape1D(), s, t, generator=gen, **kw)
    b = attraction_diffusion(ToyLandscape1D(), s, t,
                             generator=torch.Generator().manual_seed(3), **kw)
    assert a.success.all() and np.array_equal(a.steps, b.steps)


def test_adelm_on_the_toy_finds_the_two_macroscopic_basins():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1)

    def propose(n, g):
        return 0.5 + 10.0 * torch.rand((n, 1), generator=g, dtype=torch.float64)

    be = ContinuousBackend(ToyLandscape1D(), propose, generator=gen, descent_rate=0.002,
                           descent_steps=3000, eps=AD["eps"],
                           **{k: v for k, v in AD.items() if k not in ("max_steps", "eps")},
                           max_steps=8000)
    res = adelm(be, 8)
    x = res.modes[:, 0].numpy()
    left = x < ToyLandscape1D.barrier_x
    assert left.any() and (~left).any()
    assert res.n_basins == 2
    assert len(set(res.labels[left])) == 1 and len(set(res.labels[~left])) == 1
    assert set(res.labels[left]) != set(res.labels[~left])


def test_gmm_loss_landscape_is_label_swap_symmetric():
    g = GaussianMixtureLoss.example()
    ax = np.linspace(-7, 8, 61)
    X, Y = np.meshgrid(ax, ax, indexing="ij")
    u = g(torch.as_tensor(np.stack([X.ravel(), Y.ravel()], 1))).numpy().reshape(X.shape)
    assert np.allclose(u, u.T)
    ex = grid_landscape(u)
    assert len(ex.minima) >= 4
    # the global minima sit at the two free data means, in either order
    r, c = np.unravel_index(ex.minima[:2], u.shape)
    assert {(round(ax[i]), round(ax[j])) for i, j in zip(r, c)} == {(-4, -1), (-1, -4)}
    m, _ = local_modes(g, torch.tensor([[-3.5, -0.5]], dtype=torch.float64), rate=0.05)
    assert np.allclose(m.numpy(), [[-4, -1]], atol=0.15)


def test_ad_records_its_states_without_changing_the_run():
    from ebmbook.energies.landscapes import MultiWell1D
    from ebmbook.landscape.ad import attraction_diffusion
    starts = torch.tensor([[-3.0], [-2.5], [1.0]], dtype=torch.float64)
    targets = torch.tensor([[2.0]], dtype=torch.float64).expand_as(starts)
    kw = dict(temperature=0.1, alpha=5.0, eps=0.05, max_steps=400, delta=0.05)
    plain = attraction_diffusion(MultiWell1D(), starts, targets,
                                 generator=torch.Generator().manual_seed(0), **kw)
    rec = attraction_diffusion(MultiWell1D(), starts, targets,
                               generator=torch.Generator().manual_seed(0), record_states=10, **kw)
    torch.testing.assert_close(rec.final, plain.final)
    assert np.array_equal(rec.steps, plain.steps)
    assert rec.path_states.shape[:2] == (3, len(rec.path_steps))
    assert rec.path_steps[0] == 0 and np.all(np.diff(rec.path_steps) == 10)
    torch.testing.assert_close(rec.path_states[:, 0], starts)
    # the last recorded state of a trial that finished before it is its final state
    done_early = rec.steps < rec.path_steps[-1]
    assert done_early.any()
    torch.testing.assert_close(rec.path_states[done_early, -1], rec.final[done_early])


class _TiltedDoubleWell:
    """U(x) = (x^2 - 1)^2 + c x: minima near -1 and +1, the left one lower for c > 0."""

    def __init__(self, c: float):
        self.c = c

    def __call__(self, x):
        x = x.reshape(x.shape[0])
        return (x * x - 1) ** 2 + self.c * x

    def min_and_max_slope(self):
        # stationary points of U' = 4x^3 - 4x + c: U'' = 0 at x = +-1/sqrt(3), where |U'| peaks
        # between the minima; the roots of U' are the minima and the saddle
        r = np.sort(np.roots([4.0, 0.0, -4.0, self.c]).real)
        s = 1 / np.sqrt(3)
        return r, 8 * s / 3 + self.c, 8 * s / 3 - self.c


def test_metastable_boundary_matches_the_zero_noise_threshold_both_ways():
    """Oracle: at low T a chain pulled from one minimum toward the other by alpha ||x - x*||
    stalls where U'(x)/T = alpha, so it crosses iff alpha exceeds the steepest uphill slope of U
    on its way divided by T: (8/(3 sqrt 3) + c)/T rightward, (8/(3 sqrt 3) - c)/T leftward.
    Thermal kicks can only help (alpha* a little below), the finite improvement limit a little
    above; both are within a few rungs of the ladder at T = 0.003."""
    torch.set_num_threads(1)
    well = _TiltedDoubleWell(0.5)
    (left, saddle, right), up_right, up_left = well.min_and_max_slope()
    T = 0.003
    be = ContinuousBackend(well, lambda n, g: torch.randn((n, 1), generator=g,
                                                          dtype=torch.float64),
                           temperature=T, alpha=1.0, eps=0.006, delta=0.05,
                           improvement_limit=200, max_steps=20000)
    a = torch.tensor([[left]], dtype=torch.float64)
    b = torch.tensor([[right]], dtype=torch.float64)
    found = {}
    for name, (x0, x1, slope) in {"right": (a, b, up_right), "left": (b, a, up_left)}.items():
        r = metastable_boundary(be, x0, x1, alpha_start=1.3 * slope / T, n_trials=10,
                                factor=0.97, seed=1, alphas_per_batch=8)
        assert r.found and r.success_rate[-1] == 0 and np.all(r.success_rate[:-1] > 0)
        assert 0.9 <= r.alpha / (slope / T) <= 1.06, (name, r.alpha / (slope / T))
        # a successful path crosses the saddle, and stays close to the line at this alpha
        u_saddle = float(well(torch.tensor([saddle], dtype=torch.float64)))
        assert u_saddle - 1e-3 <= r.barrier <= u_saddle + 0.05
        found[name] = r.alpha
    # the asymmetry of the two roles: leaving the deep well needs the stronger pull
    assert found["right"] > 1.5 * found["left"]


def test_per_trial_alphas_share_one_tensor_and_mean_what_they_say():
    """Trials at several alphas in one batch: each behaves as its alpha says (a strong pull
    crosses the toy's barrier, alpha 0 never reaches the target), and the magnetised energy of
    each chain is U/T + its own alpha times its distance."""
    from ebmbook.landscape.ad import MagnetisedEnergy
    gen = torch.Generator().manual_seed(0)
    s = torch.full((6, 1), 2.0, dtype=torch.float64)
    t = torch.full((6, 1), 5.1, dtype=torch.float64)
    alphas = [0.0, 0.0, 0.0, 400.0, 400.0, 400.0]
    res = attraction_diffusion(ToyLandscape1D(), s, t, generator=gen,
                               **{**AD, "alpha": alphas, "improvement_limit": 100})
    assert not res.success[:3].any() and res.success[3:].all()
    V = MagnetisedEnergy(ToyLandscape1D(), t, 0.01, torch.tensor(alphas, dtype=torch.float64))
    x = torch.linspace(0, 6, 6, dtype=torch.float64)[:, None]
    want = ToyLandscape1D()(x) / 0.01 + torch.tensor(alphas, dtype=torch.float64) * (x - 5.1).abs()[:, 0]
    assert torch.allclose(V(x), want)
    with pytest.raises(ValueError, match="one value per trial"):
        attraction_diffusion(ToyLandscape1D(), s, t, generator=gen, **{**AD, "alpha": [1.0, 2.0]})
