"""Reduced-precision energies against oracles whose answers are known exactly.

Only the network evaluating U (and grad U) runs in bfloat16; states, noise, MH ratios and
optimiser states stay in float32. Each oracle runs in both precisions, so a bf16 path that
drifted from the law it should sample would fail here, not in a figure.
"""

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

import dataclasses

from ebmbook._config import _hashed, config_hash
from ebmbook.energies.potentials import MLPPotential, RescaledPotential
from ebmbook.energies.precision import check_precision, evaluation
from ebmbook.learning.trainer import TrainConfig, train
from ebmbook.registry import model_spec
from ebmbook.sampling.langevin import LangevinParams, energy_and_grad, langevin
from ebmbook.sampling.model import noise_model


@pytest.fixture(autouse=True)
def _bf16_arithmetic(monkeypatch):
    """These tests check the bf16 arithmetic itself: emulate it where the CPU lacks it (the
    package would otherwise run fp32 in its place; tests/test_precision.py tests that)."""
    monkeypatch.setenv("EBMBOOK_BF16", "always")

PRECISIONS = ("fp32", "bf16")


class QuadraticNet(nn.Module):
    """U(x) = ||W x||^2 / 2 written as a network: its matrix product runs in bf16 under
    autocast, so the bf16 path is really exercised (a pointwise-only energy would stay fp32)."""

    def __init__(self, w: torch.Tensor, learnable: bool = False):
        super().__init__()
        self.lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            self.lin.weight.copy_(w)
        self.lin.weight.requires_grad_(learnable)

    def forward(self, x):
        h = self.lin(x).float()
        return 0.5 * (h * h).sum(1)


class DoubleWellNet(nn.Module):
    """U(x) = 2 (h^2 - 1)^2 + h / 2 with h = w x (w = 1, through a bf16 matrix product)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.lin.weight.fill_(1.0)

    def forward(self, x):
        h = self.lin(x).float()[:, 0]
        return 2.0 * (h * h - 1) ** 2 + 0.5 * h


W = torch.tensor([[1.0, 0.0, 0.0], [0.8, 1.4, 0.0], [0.0, -0.6, 0.9]])


@pytest.mark.parametrize("precision", PRECISIONS)
def test_ula_on_a_quadratic_network_matches_the_discrete_lyapunov_covariance(precision):
    # x' = M x + eps z with M = I - h A, h = eps^2/2, A = W^T W: the stationary covariance S
    # solves S = M S M^T + eps^2 I exactly (a discrete Lyapunov equation), not A^-1.
    eps = 0.6
    a = (W.T @ W).double().numpy()
    m = np.eye(3) - eps ** 2 / 2 * a
    exact = scipy.linalg.solve_discrete_lyapunov(m, eps ** 2 * np.eye(3))
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(20000, 3)
    energy = QuadraticNet(W)
    snaps = []
    for _ in range(6):   # 300 steps of burn-in, then snapshots 40 steps apart
        x = langevin(energy, x, n_steps=300 if not snaps else 40, eps=eps, generator=g,
                     precision=precision).x
        snaps.append(x.double().numpy())
    cov = np.mean([np.cov(s.T) for s in snaps], axis=0)
    err = np.linalg.norm(cov - exact) / np.linalg.norm(exact)
    assert err < 0.02, f"{precision}: relative covariance error {err:.4f}"
    # the oracle is sharp: the continuous-time answer A^-1 is far outside the tolerance
    assert np.linalg.norm(np.linalg.inv(a) - exact) / np.linalg.norm(exact) > 0.05


def _double_well_bins(temp):
    grid = np.linspace(-2.5, 2.5, 4001)
    dens = np.exp(-(2.0 * (grid ** 2 - 1) ** 2 + 0.5 * grid) / temp)
    dens /= np.trapezoid(dens, grid)
    edges = np.linspace(-2.0, 2.0, 21)
    exact = np.array([np.trapezoid(dens[(grid >= lo) & (grid <= hi)],
                                   grid[(grid >= lo) & (grid <= hi)])
                      for lo, hi in zip(edges[:-1], edges[1:])])
    return edges, exact


def _tv(samples, edges, exact):
    h, _ = np.histogram(samples, edges)
    return 0.5 * np.abs(h / len(samples) - exact).sum()


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("gamma", [0.8, 1.3])
def test_tempered_chains_match_quadrature(precision, gamma):
    # noise gamma targets exp(-U / gamma^2); with MH the chain is exact at any step size
    edges, exact = _double_well_bins(gamma ** 2)
    x0 = torch.linspace(-1.5, 1.5, 20000)[:, None]
    g = torch.Generator().manual_seed(1)
    out = langevin(DoubleWellNet(), x0, n_steps=800, eps=0.6 * gamma, noise=gamma, mh=True,
                   generator=g, precision=precision).x[:, 0].numpy()
    assert _tv(out, edges, exact) < 0.02


@pytest.mark.parametrize("precision", PRECISIONS)
def test_mala_stays_exact_because_its_ratio_uses_full_precision_energies(precision):
    edges, exact = _double_well_bins(1.0)
    x0 = torch.linspace(-1.5, 1.5, 20000)[:, None]
    g = torch.Generator().manual_seed(2)
    mala = langevin(DoubleWellNet(), x0, n_steps=800, eps=0.7, mh=True, generator=g,
                    precision=precision).x[:, 0].numpy()
    g = torch.Generator().manual_seed(2)
    ula = langevin(DoubleWellNet(), x0, n_steps=800, eps=0.7, generator=g,
                   precision=precision).x[:, 0].numpy()
    assert _tv(mala, edges, exact) < 0.02
    assert _tv(ula, edges, exact) > 5 * _tv(mala, edges, exact)


def test_mh_energies_are_recomputed_in_full_precision():
    energy = QuadraticNet(W)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    u32, _ = energy_and_grad(energy, x)
    u16, g16 = energy_and_grad(energy, x, precision="bf16")
    u_exact, g_exact = energy_and_grad(energy, x, precision="bf16", exact_energy=True)
    assert not torch.equal(u16, u32)              # bf16 really rounds ...
    assert torch.equal(u_exact, u32)              # ... and the MH energies do not
    assert torch.equal(g_exact, g16)              # the gradient stays the cheap one
    assert u16.dtype == g16.dtype == torch.float32


@pytest.mark.parametrize("precision", PRECISIONS)
def test_ml_learning_recovers_a_gaussian_precision_matrix(precision):
    # data N(0, S): the ML fixed point of F(x) = ||L x||^2 / 2 is L^T L = S^-1
    cov = torch.tensor([[0.5, 0.2], [0.2, 0.3]])
    chol = torch.linalg.cholesky(cov)

    class Data:
        def sample(self, n, generator=None):
            return torch.randn(n, 2, generator=generator) @ chol.T

    net = QuadraticNet(0.6 * torch.eye(2), learnable=True)
    cfg = TrainConfig(n_steps=600, batch_size=200, eps=0.5, n_langevin=10, init="persistent",
                      bank_size=400, optimizer="sgd", sgd_lr=0.2, sgd_lr_min=0.02,
                      sgd_decay=0.995, rescale=False, mh=True, seed=0, precision=precision)
    res = train(net, Data(), cfg, progress=False)
    w = res.net.lin.weight.detach()
    learned = (w.T @ w).numpy()
    truth = torch.linalg.inv(cov).numpy()
    err = np.linalg.norm(learned - truth) / np.linalg.norm(truth)
    assert err < 0.1, f"{precision}: learned precision {learned.round(2)} vs {truth.round(2)}"


@pytest.mark.parametrize("activation,leak", [("leaky_relu", 0.05), ("relu", 0.0)])
@pytest.mark.parametrize("prior", [None, 0.7])
def test_hand_written_mlp_gradient_equals_autograd(activation, leak, prior):
    torch.manual_seed(0)
    energy = RescaledPotential(MLPPotential(activation=activation, leak=leak), eps=0.125,
                               prior_sigma=prior)
    assert energy.has_value_and_grad
    x = torch.randn(300, 2)
    u, g = energy.value_and_grad(x)
    xg = x.clone().requires_grad_(True)
    u_ref = energy(xg)
    (g_ref,) = torch.autograd.grad(u_ref.sum(), xg)
    torch.testing.assert_close(u, u_ref.detach(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-4)
    # the sampler takes that path, and its chains equal those of plain autograd
    path = langevin(energy, x, n_steps=5, eps=0.125, generator=torch.Generator().manual_seed(0)).x
    plain = langevin(lambda z: energy(z), x, n_steps=5, eps=0.125,
                     generator=torch.Generator().manual_seed(0)).x
    torch.testing.assert_close(path, plain, rtol=1e-5, atol=1e-5)


def test_smooth_mlps_fall_back_to_autograd():
    energy = RescaledPotential(MLPPotential(activation="swish"), eps=0.125)
    assert not energy.has_value_and_grad
    with pytest.raises(ValueError, match="ReLU"):
        energy.net.value_and_grad(torch.zeros(2, 2))
    u, g = energy_and_grad(energy, torch.zeros(2, 2))   # autograd path
    assert g.shape == (2, 2)


def test_bf16_chains_are_reproducible_and_close_to_fp32():
    torch.manual_seed(0)
    energy = RescaledPotential(MLPPotential(), eps=0.125)
    model = noise_model(energy, 0.125, (2,), n_langevin=20)
    runs = {p: model.with_precision(p).short_run(500, torch.Generator().manual_seed(4)).x
            for p in PRECISIONS}
    again = model.with_precision("bf16").short_run(500, torch.Generator().manual_seed(4)).x
    assert torch.equal(runs["bf16"], again)
    assert runs["bf16"].dtype == torch.float32
    assert not torch.equal(runs["bf16"], runs["fp32"])
    assert float((runs["bf16"] - runs["fp32"]).abs().median()) < 0.05


def test_precision_is_validated_with_the_choices_named():
    with pytest.raises(ValueError, match="'fp32', 'bf16', 'tf32'"):
        check_precision("fp16")
    with pytest.raises(ValueError, match="CUDA"):
        check_precision("tf32", "cpu")
    with pytest.raises(ValueError, match="precision"):
        LangevinParams(eps=0.1, precision="half")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")
    with evaluation("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    with evaluation("bf16", "cpu"):
        assert torch.is_autocast_enabled("cpu")
    assert not torch.is_autocast_enabled("cpu")


def test_precision_enters_a_config_hash_only_when_it_is_not_the_default():
    # committed artifacts were stored before the field existed: at fp32 their hashes stand
    base = TrainConfig()
    assert config_hash(base) == config_hash(TrainConfig(precision="fp32"))
    assert config_hash(TrainConfig(precision="bf16")) != config_hash(base)
    spec = dataclasses.replace(model_spec("fmnist_convergent", "cpu"),
                               train=TrainConfig(precision="bf16"))
    fp32 = dataclasses.replace(spec, train=dataclasses.replace(spec.train, precision="fp32"))
    assert config_hash(fp32) != config_hash(spec)
    assert "precision" not in _hashed(fp32)["train"]
    assert _hashed(spec)["train"]["precision"] == "bf16"


def test_a_recorded_energy_path_is_in_full_precision_whatever_the_chain():
    energy = QuadraticNet(W)
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    res = langevin(energy, x, n_steps=6, eps=0.3, generator=torch.Generator().manual_seed(1),
                   precision="bf16", record_energy=True, record_at=range(7))
    exact = torch.stack([energy_and_grad(energy, s)[0] for s in res.path])
    assert torch.equal(res.energy, exact)


def test_cli_offers_exactly_the_package_precisions():
    from ebmbook.cli import PRECISION_CHOICES
    from ebmbook.energies.precision import PRECISIONS as PACKAGE_PRECISIONS
    assert PRECISION_CHOICES == PACKAGE_PRECISIONS


def test_bf16_runs_as_fp32_where_the_cpu_lacks_it(monkeypatch):
    """On a CPU without native bfloat16 (an AVX2-only EPYC emulates it at 18-35x the cost of
    fp32) "bf16" computes in fp32, silently inside the package, with a note for the commands
    naming the override; EBMBOOK_BF16=always emulates it; a CPU with AMX-BF16 runs it."""
    from ebmbook.energies import precision as P
    monkeypatch.delenv("EBMBOOK_BF16")
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not P.native_bf16("cpu")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # silent: a page's output stays clean
        assert P.effective_precision("bf16", "cpu") == "fp32"
    cfg = TrainConfig(precision="bf16")
    assert P.asks_for_bf16(cfg) and not P.asks_for_bf16(TrainConfig())
    assert "no native bfloat16" in P.fallback_note(cfg) and "EBMBOOK_BF16=always" in \
        P.fallback_note(cfg)
    assert P.fallback_note(TrainConfig()) is None
    assert P.effective_precision("fp32", "cpu") == "fp32"
    with evaluation("bf16", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    torch.manual_seed(0)
    energy = RescaledPotential(QuadraticNet(torch.randn(3, 3)), eps=0.125)
    x = torch.randn(5, 3)
    u16, g16 = energy_and_grad(energy, x, precision="bf16")
    u32, g32 = energy_and_grad(energy, x, precision="fp32")
    assert torch.equal(g16, g32) and torch.equal(u16, u32)
    monkeypatch.setenv("EBMBOOK_BF16", "always")
    assert P.effective_precision("bf16", "cpu") == "bf16"
    with evaluation("bf16", "cpu"):
        assert torch.is_autocast_enabled("cpu")
    monkeypatch.setenv("EBMBOOK_BF16", "sometimes")
    with pytest.raises(ValueError, match="EBMBOOK_BF16.*'auto' or 'always'"):
        P.effective_precision("bf16", "cpu")
    monkeypatch.delenv("EBMBOOK_BF16")
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert P.native_bf16("cpu") and P.effective_precision("bf16", "cpu") == "bf16"
    assert P.fallback_note(cfg) is None


def test_the_fast_gradient_program_follows_the_same_fallback(monkeypatch):
    from ebmbook.energies import precision as P
    from ebmbook.energies.potentials import DeepFRAME, FrameGradient
    torch.manual_seed(0)
    energy = RescaledPotential(DeepFRAME(channels=1, image_size=8, width=4), eps=0.125)
    x = torch.rand(3, 1, 8, 8)
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.delenv("EBMBOOK_BF16")
    fast = FrameGradient(energy, 3, "bf16")
    assert fast.dtype == torch.float32
    assert torch.allclose(fast(x), FrameGradient(energy, 3, "fp32")(x))
    monkeypatch.setenv("EBMBOOK_BF16", "always")
    assert FrameGradient(energy, 3, "bf16").dtype == torch.bfloat16


def test_the_manifests_record_whether_bf16_was_native():
    from ebmbook import store
    info = store.machine()
    assert isinstance(info["cpu_bf16_native"], bool) and info["cpu"]
