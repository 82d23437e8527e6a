"""Image-space AD (Sec 4.3.3): the boxed energy against its formula, the config's checks, and
a tiny run on the committed digits 0-3 pair whose numbers agree with the objects behind them."""

import numpy as np
import pytest
import torch

from ebmbook.energies.potentials import BoxedEnergy
from ebmbook.experiments import image_ad as ia
from ebmbook.landscape.ad import local_modes


class _Linear(torch.nn.Module):
    """U(x) = w . x: falls forever along -w, like a piecewise-linear net along some rays."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w, requires_grad=False)

    def forward(self, x):
        return (x.reshape(x.shape[0], -1) * self.w).sum(1)


def test_boxed_energy_is_the_scaled_energy_inside_and_a_quadratic_wall_outside():
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    E = BoxedEnergy(_Linear(w), unit=2.0, bound=1.0, stiffness=10.0)
    inside = torch.tensor([[0.3, -0.9, 1.0]], dtype=torch.float64)
    assert E(inside).item() == pytest.approx((inside[0] @ w).item() / 2)
    out = torch.tensor([[1.5, -1.2, 0.0]], dtype=torch.float64)
    wall = 0.5 * 10.0 * (0.5 ** 2 + 0.2 ** 2)
    assert E(out).item() == pytest.approx((out[0] @ w).item() / 2 + wall)
    # descent settles where the wall balances the slope: x_i = -sign(w_i)(1 + |w_i| / (2 k))
    x, _ = local_modes(E, torch.zeros(1, 3, dtype=torch.float64), rate=0.02, n_steps=5000)
    want = -torch.sign(w) * (1 + w.abs() / 2 / 10.0)
    assert torch.allclose(x[0], want, atol=1e-6)
    for bad in (dict(unit=0.0), dict(bound=-1.0), dict(stiffness=0.0)):
        with pytest.raises(ValueError, match="must be > 0"):
            BoxedEnergy(_Linear(w), **bad)


def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="temperatures"):
        ia.Config(temperatures=(1e-2, 1e-3))
    with pytest.raises(ValueError, match="factor"):
        ia.Config(factor=1.0)
    with pytest.raises(ValueError, match="unstable"):
        ia.Config(eps_scale=1.0, stiffness=10.0)
    with pytest.raises(ValueError, match="pull_min"):
        ia.Config(pull_min=5.0, pull_start=4.0)


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    cfg = ia.Config.for_size("ci", temperatures=(1e-3,), n_trials=2, max_steps=600,
                             latent_grid=6, full_descent_steps=20, path_trials=2,
                             progress=False)
    return ia.run(cfg)


def test_a_tiny_run_is_consistent_with_its_parts(tiny):
    r, c = tiny, tiny.config
    mi = r.minima
    # A and C are read as one digit, B and D as others; A is the lowest latent mode
    assert mi.raw_reads[0] == mi.raw_reads[2] and mi.raw_reads[1] != mi.raw_reads[0]
    assert mi.images.shape == (4, 1, 16, 16)
    assert len(r.boundaries) == 6
    for (i, j), walks in r.boundaries.items():
        for b, T in zip(walks, r.temperatures):
            ladder = c.pull_start / T * c.factor ** np.arange(len(b.alphas))
            assert np.allclose(b.alphas, ladder)
            if b.found:
                assert b.alpha == pytest.approx(b.alphas[-2]) and b.success_rate[-1] == 0
                assert b.barrier >= mi.energies[i] - 1e-6    # the path starts at the start
    m = r.metrics()
    assert m["alpha_star_pairs"] == r.pairs_found()
    assert 0 <= m["frac_ad_below_1d_image"] <= 1
    for p in r.paths:
        if p.trial >= 0:
            # the recorded path ends within delta of its target, and its barrier is the path's
            # highest energy completed by the target
            assert p.ad.final_distance[p.trial] <= c.delta
            assert p.ad_barrier == pytest.approx(max(p.ad.path_energy[p.trial].max(),
                                                     p.target_energy), rel=1e-5)


def test_find_minima_names_what_it_needs():
    from types import SimpleNamespace
    from ebmbook.experiments.digit_maps import load_pair
    c = ia.Config(latent_grid=2, latent_steps=5, settle_steps=0, full_descent_steps=0)
    mnist = load_pair("coop_mnist", "cpu")
    E = BoxedEnergy(mnist.energy, 1.0)
    with pytest.raises(ValueError, match="8-D latent space.*needs 2"):
        ia.find_minima(mnist, E, None, c)
    # a judge that reads every mode as one digit leaves no B to pick
    d03 = load_pair("coop_digits03", "cpu")
    judge = SimpleNamespace(predict=lambda x: np.zeros(len(x), dtype=int))
    with pytest.raises(RuntimeError, match="raise latent_grid"):
        ia.find_minima(d03, BoxedEnergy(d03.energy, 1.0), judge, c)
