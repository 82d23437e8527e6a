"""Explorers (ebmbook.explore): the frames each one computes, checked against what the sampler
must do, and the two views (a grid figure for the static book, widgets in a live session)."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ebmbook import explore as ex  # noqa: E402
from ebmbook.sampling.init import NoiseInit  # noqa: E402
from ebmbook.sampling.model import EnergyModel  # noqa: E402
from ebmbook.results import STATIC_ENV  # noqa: E402
from ebmbook.diagnostics.lyapunov import gamma_frames  # noqa: E402


def _quadratic_model(eps=0.1):
    """U(x) = |x|^2 / 2: Langevin at temperature factor gamma samples N(0, gamma^2 I)."""
    energy = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)   # noqa: E731
    return EnergyModel(energy=energy, eps=eps, tau=1.0, n_langevin=10,
                       initializer=NoiseInit("gaussian", (1, 4, 4), 1.0, "cpu"),
                       state_shape=(1, 4, 4))


def test_gamma_frames_sample_the_tempered_density():
    model = _quadratic_model()
    x0 = torch.zeros(200, 1, 4, 4)
    data = 0.5 * np.random.default_rng(0).chisquare(16, size=4000)   # U of N(0, I) samples
    frames = gamma_frames(model, x0, [0.0, 0.5, 1.0], 1500, data_energy=data,
                             generator=torch.Generator().manual_seed(0))
    assert sorted(frames) == [(0.0,), (0.5,), (1.0,)]
    for (g,), f in frames.items():
        sd = float(f.images.std())
        # the Euler-Maruyama chain's stationary sd is gamma / sqrt(1 - eps^2 / 4)
        assert sd == pytest.approx(g / np.sqrt(1 - 0.01 / 4), abs=0.03), g
        assert f.images.shape == (200, 1, 4, 4)
    # gamma = 1 sits in the data's energy spread; gamma = 0 falls to the minimum, far below
    mu, s = data.mean(), data.std()
    assert abs(np.mean(frames[(1.0,)].energy_z)) < 0.2
    assert np.allclose(frames[(0.0,)].energy_z, -mu / s, atol=1e-6)
    with pytest.raises(ValueError, match="gammas"):
        gamma_frames(model, x0, [-1.0], 10, data_energy=data)


class _DoubleWell:
    """U(x) = h (x^2 - 1)^2 in one dimension: minima at +-1, barrier h at 0."""

    def __init__(self, h=2.0):
        self.h = h

    def __call__(self, x):
        x = x.reshape(x.shape[0])
        return self.h * (x * x - 1) ** 2


def test_ad_frames_cross_the_barrier_only_with_enough_pull_and_record_its_height():
    E = _DoubleWell()
    frames = ex.ad_frames(E, torch.tensor([[-1.0]]), torch.tensor([[1.0]]), [0.05],
                          [0.01, 200.0], n_trials=20, eps=0.05, delta=0.05,
                          improvement_limit=100, max_steps=3000,
                          generator=torch.Generator().manual_seed(0))
    weak, strong = frames[(0.05, 0.01)], frames[(0.05, 200.0)]
    assert weak.success_rate == 0.0 and not weak.succeeded
    assert strong.success_rate == 1.0 and strong.succeeded
    # a successful path climbs over the barrier (U = 2 at x = 0), and not far above it at T small
    assert strong.path_energy.max() >= 2.0 - 0.1
    assert 1.8 <= strong.barrier <= 3.0
    assert strong.start_energy == pytest.approx(0.0, abs=1e-9)


def _toy_map():
    """A 3-basin map: basins 0 and 1 merge at 1.0, basin 2 joins them at 3.0."""
    from ebmbook.landscape.dgraph import disconnectivity_graph
    M = np.array([[0.0, 1.0, 3.0], [1.0, 0.5, 4.0], [3.0, 4.0, 0.2]])
    modes = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1).expand(10, 1, 2, 2) / 10
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    adelm = SimpleNamespace(modes=modes, labels=labels, counts=np.bincount(labels),
                            reps=modes[[0, 5, 8]])
    return SimpleNamespace(adelm=adelm, dg=disconnectivity_graph(M, counts=adelm.counts),
                           images=lambda x: x, basin_label=np.array([3, 3, -1]),
                           basin_share=np.array([1.0, 0.67, np.nan]))


def test_basin_frames_take_members_of_each_basin_and_its_nearest_merge():
    frames = ex.basin_frames(_toy_map(), n_members=3, class_names=list("abcd"))
    assert list(frames) == [("basin 0",), ("basin 1",), ("basin 2",)]   # largest first
    f0, f2 = frames[("basin 0",)], frames[("basin 2",)]
    assert f0.n_modes == 5 and f0.reading == "d (100%)" and f2.reading == ""
    assert torch.all(f0.members < 0.5)            # members of basin 0 are modes 0-4
    assert torch.all(torch.isin(frames[("basin 1",)].members[:, 0, 0, 0].mul(10).round(),
                                torch.tensor([5.0, 6.0, 7.0])))
    np.testing.assert_allclose(f0.merge_heights, [np.nan, 1.0, 3.0])
    np.testing.assert_allclose(f2.merge_heights, [3.0, 3.0, np.nan])


def test_an_explorer_draws_every_frame_statically_and_one_frame_per_widget_state():
    frames = {(a, b): (a, b) for a in (1, 2) for b in ("x", "y", "z")}
    seen = []

    def draw(f, ax):
        seen.append(f)
        ax.plot([0, f[0]])

    e = ex.Explorer({"a": [1, 2], "b": ["x", "y", "z"]}, frames, draw, ncols=3)
    fig = e.show(static=True)
    assert sorted(seen) == sorted(frames) and len(fig.axes) == 6
    assert [a.get_title() for a in fig.axes][:2] == ["a = 1, b = x", "a = 1, b = y"]
    seen.clear()
    w = e.show(static=False)
    assert list(w.controls) == ["a", "b"]
    assert type(w.controls["a"]).__name__ == "SelectionSlider"   # numbers slide
    assert type(w.controls["b"]).__name__ == "Dropdown"          # names drop down
    assert seen == [(1, "x")]
    w.controls["b"].value = "z"
    assert seen[-1] == (1, "z")
    with pytest.raises(ValueError, match="missing"):
        ex.Explorer({"a": [1, 2, 3]}, {(1,): 0, (2,): 0}, draw)


def test_static_mode_follows_the_book_environment(monkeypatch):
    monkeypatch.delenv(STATIC_ENV, raising=False)
    assert not ex.static_mode()
    monkeypatch.setenv(STATIC_ENV, "1")
    assert ex.static_mode()
