"""The sampler's gradient-only chains (``langevin(..., gradient_only=True)`` and
``langevin_together``) against the oracle of the default chain: the same numbers bit for bit,
and the same draws from every generator; and against a quadratic's closed form."""

import pytest
import torch

from ebmbook.energies.potentials import (DeepFRAME, FrameGradient, MLPPotential,
                                         RescaledPotential, StackedGradient, StackedMLP)
from ebmbook.sampling.langevin import Chains, energy_and_grad, langevin, langevin_together


@pytest.fixture(autouse=True)
def _bf16_arithmetic(monkeypatch):
    """These tests check the bf16 arithmetic itself: emulate it where the CPU lacks it (the
    package would otherwise run fp32 in its place; tests/test_precision.py tests that)."""
    monkeypatch.setenv("EBMBOOK_BF16", "always")


def _stack(k, seed, eps=0.125, **kw):
    torch.manual_seed(seed)
    return RescaledPotential(StackedMLP.from_nets([MLPPotential() for _ in range(k)]), eps, **kw)


@pytest.fixture
def prepared_calls(monkeypatch):
    """Every call of RescaledPotential.prepared_gradient: (n, number of others, returned None)."""
    calls = []
    original = RescaledPotential.prepared_gradient

    def counted(self, n, others=(), **kw):
        out = original(self, n, others, **kw)
        calls.append((n, len(others), out is None))
        return out

    monkeypatch.setattr(RescaledPotential, "prepared_gradient", counted)
    return calls


def _same(a, b):
    assert torch.equal(a.x, b.x)
    assert torch.equal(a.grad_norm, b.grad_norm)
    assert a.r == b.r
    assert (a.r_groups is None) == (b.r_groups is None)
    if a.r_groups is not None:
        assert torch.equal(a.r_groups, b.r_groups)
    assert (a.path is None) == (b.path is None)
    if a.path is not None:
        assert torch.equal(a.path, b.path)


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("noise,rescale", [(1.0, True), (0.0, True), (1.0, False)])
def test_gradient_only_chain_is_the_default_chain_bit_for_bit(prepared_calls, groups, noise,
                                                              rescale):
    energy = _stack(3, 0, rescale=rescale)
    x = torch.randn(3 * 50, 2)
    runs = {}
    for opt in (False, True):
        gen = torch.Generator().manual_seed(1)
        runs[opt] = langevin(energy, x, n_steps=25, eps=0.125, noise=noise, generator=gen,
                             groups=groups, record_at=[0, 4, 25], gradient_only=opt)
        runs[opt, "gen"] = gen.get_state()
    assert prepared_calls == [(150, 0, False)]      # used once, and only when asked for
    _same(runs[True], runs[False])
    assert torch.equal(runs[True, "gen"], runs[False, "gen"])


@pytest.mark.parametrize("groups_a", [2, 1])
def test_batches_together_are_each_batch_alone_bit_for_bit(prepared_calls, groups_a):
    """Three batches with their own stacks, eps, scales, noise (one noiseless) and generators
    in one program give each what langevin() gives it alone; a one-network batch beside the
    others included (its r is the mean of a contiguous path, as langevin's)."""
    energies = [_stack(2, 0), _stack(1, 1, eps=0.01), _stack(2, 2, rescale=False)]
    eps, noise, groups = [0.125, 0.01, 0.3], [1.0, 1.0, 0.0], [groups_a, 1, 2]
    xs = [torch.randn(2 * 40, 2), torch.randn(40, 2), torch.randn(2 * 40, 2)]
    gens = [torch.Generator().manual_seed(s) for s in (3, 4, 5)]
    refs = [torch.Generator().manual_seed(s) for s in (3, 4, 5)]
    together = langevin_together([Chains(e, x, eps=ep, noise=nz, generator=g, groups=k)
                                  for e, x, ep, nz, g, k in zip(energies, xs, eps, noise, gens,
                                                                groups)], n_steps=100)
    assert prepared_calls == [(80, 2, False)]       # one program for the three batches
    for e, x, ep, nz, k, out, gen, ref in zip(energies, xs, eps, noise, groups, together, gens,
                                              refs):
        alone = langevin(e, x, n_steps=100, eps=ep, noise=nz, generator=ref, groups=k)
        _same(out, alone)
        assert torch.equal(gen.get_state(), ref.get_state())


def test_batches_that_cannot_share_a_program_run_alone():
    """An MH batch and a batch with a prior beside a plain one: each as langevin() alone."""
    energies = [_stack(2, 0), _stack(1, 1, prior_sigma=1.0), _stack(1, 2)]
    mh = [False, False, True]
    xs = [torch.randn(2 * 30, 2), torch.randn(30, 2), torch.randn(30, 2)]
    together = langevin_together(
        [Chains(e, x, eps=0.1, mh=m, generator=torch.Generator().manual_seed(i), groups=len(x) // 30)
         for i, (e, x, m) in enumerate(zip(energies, xs, mh))], n_steps=12)
    for i, (e, x, m, out) in enumerate(zip(energies, xs, mh, together)):
        alone = langevin(e, x, n_steps=12, eps=0.1, mh=m,
                         generator=torch.Generator().manual_seed(i), groups=len(x) // 30)
        _same(out, alone)
        assert out.accept_rate == alone.accept_rate
    with pytest.raises(ValueError, match="must divide"):
        langevin_together([Chains(energies[0], xs[0][:59], eps=0.1, groups=2)], n_steps=1)
    assert langevin_together([], n_steps=3) == []


class _Quadratic:
    """U = lam / 2 * ||x||^2 with the gradient-only protocol (a second, independent user)."""

    def __init__(self, lam):
        self.lam, self.calls = lam, 0

    def __call__(self, x):
        return 0.5 * self.lam * x.pow(2).sum(1)

    def prepared_gradient(self, n, others=()):
        self.calls += 1
        if others:
            return None
        return lambda x: x * self.lam


def test_the_protocol_is_opt_in_and_follows_the_closed_form():
    energy, x0 = _Quadratic(2.0), torch.randn(64, 3)
    default = langevin(energy, x0, n_steps=20, eps=0.3, noise=0.0)
    assert energy.calls == 0                         # no caller's chain changes unasked
    out = langevin(energy, x0, n_steps=20, eps=0.3, noise=0.0, gradient_only=True)
    assert energy.calls == 1
    factor = (1 - 0.045 * 2.0) ** torch.arange(21.0)     # x_t = (1 - drift lam)^t x_0
    assert torch.allclose(out.x, x0 * factor[-1], rtol=1e-5)
    assert torch.allclose(out.grad_norm, 2.0 * x0.norm(dim=1).mean() * factor, rtol=1e-5)
    assert torch.allclose(out.x, default.x, rtol=1e-5)
    # MH, a recorded energy path or a per-chain noise need U: the default chain runs
    for kw in ({"mh": True}, {"record_energy": True}, {"noise": torch.full((64,), 0.5)}):
        langevin(energy, x0, n_steps=3, eps=0.3, gradient_only=True, **kw)
    assert energy.calls == 1
    # an energy whose program cannot be shared: each batch alone, each on its own program
    a, b = langevin_together([Chains(energy, x0, eps=0.3, noise=0.0),
                              Chains(energy, x0[:8], eps=0.3, noise=0.0)], n_steps=20)
    assert energy.calls == 4 and torch.equal(a.x, out.x)


def test_prepared_gradient_only_where_one_program_is_exact():
    a, b = _stack(2, 0), _stack(3, 1, eps=0.5)
    g = a.prepared_gradient(2 * 10, [(b, 3 * 10)])
    assert isinstance(g, StackedGradient) and g.k == 5 and g.n == 10
    x = torch.randn(50, 2)
    ga, gb = g(x).split([20, 30])
    assert torch.equal(ga, a.value_and_grad(x[:20])[1])
    assert torch.equal(gb, b.value_and_grad(x[20:])[1])
    torch.manual_seed(0)
    assert a.prepared_gradient(21) is None                       # not one block per network
    assert a.prepared_gradient(20, [(b, 3 * 11)]) is None        # blocks of two sizes
    assert a.prepared_gradient(20, [(_stack(1, 2, prior_sigma=1.0), 10)]) is None
    assert RescaledPotential(MLPPotential(), 0.1).prepared_gradient(10) is None
    swish = RescaledPotential(StackedMLP.from_nets([MLPPotential(activation="swish")]), 0.1)
    assert swish.prepared_gradient(10) is None
    other = RescaledPotential(StackedMLP.from_nets([MLPPotential(widths=(8, 8))]), 0.1)
    assert a.prepared_gradient(20, [(other, 10)]) is None


class _ShapedQuadratic(_Quadratic):
    """The quadratic whose program declares a layout of rows of ``per_row`` chains."""

    def __init__(self, lam, per_row, dim):
        super().__init__(lam)
        self.per_row, self.dim = per_row, dim

    def prepared_gradient(self, n, others=()):
        total = n + sum(m for _, m in others)

        def grad(x):
            return x * self.lam

        grad.shape = (total // self.per_row, self.per_row, self.dim)
        return grad


@pytest.mark.parametrize("sizes", [(32, 32), (8, 56)])    # rows of 16: aligned, or not
def test_a_declared_shape_changes_no_number(sizes):
    """The chain keeps its states in the program's shape where every batch is whole rows, and
    in the flat shape otherwise; either way each batch gets what it gets alone."""
    x = torch.randn(sum(sizes), 3)
    xs = x.split(list(sizes))
    shaped = langevin_together([Chains(_ShapedQuadratic(2.0, 16, 3), b, eps=0.3, groups=2,
                                       generator=torch.Generator().manual_seed(i))
                                for i, b in enumerate(xs)], n_steps=15)
    for i, (b, out) in enumerate(zip(xs, shaped)):
        alone = langevin(_Quadratic(2.0), b, n_steps=15, eps=0.3, groups=2, gradient_only=True,
                         generator=torch.Generator().manual_seed(i))
        _same(out, alone)
        assert out.x.shape == b.shape


# --- the DeepFRAME program (FrameGradient): used by default, so it must be autograd's chain ---

def _frame(activation="leaky_relu", channels=1, seed=0, **kw):
    torch.manual_seed(seed)
    return RescaledPotential(DeepFRAME(channels, 12, 6, 2, activation=activation), 0.01, **kw)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("activation,channels", [("leaky_relu", 1), ("relu", 1),
                                                 ("leaky_relu", 3)])
def test_frame_program_is_the_autograd_chain_bit_for_bit(precision, activation, channels):
    """The oracle is the same chain through autograd (the energy wrapped in a Sequential, which
    offers no program): equal states, paths, gradient norms and generator draws; and the
    program's gradients are energy_and_grad's, in both precisions."""
    frame = _frame(activation, channels)
    x = torch.rand(20, channels, 12, 12) * 2 - 1
    g = FrameGradient(frame, 20, precision)(x)
    assert torch.equal(g, energy_and_grad(frame, x, precision=precision)[1])
    assert g.dtype == torch.float32 and g.shape == x.shape
    for noise in (1.0, 0.0):
        runs = {}
        for name, energy in (("program", frame), ("autograd", torch.nn.Sequential(frame))):
            gen = torch.Generator().manual_seed(3)
            runs[name] = langevin(energy, x, n_steps=12, eps=0.01, noise=noise, generator=gen,
                                  precision=precision, record_at=[0, 5, 12])
            runs[name, "gen"] = gen.get_state()
        _same(runs["program"], runs["autograd"])
        assert torch.equal(runs["program", "gen"], runs["autograd", "gen"])
    assert all(p.requires_grad for p in frame.parameters())   # the weights are untouched


def test_frame_program_runs_only_where_it_is_exact(monkeypatch):
    """Plain ULA chains of a (leaky) ReLU DeepFRAME use the program unasked; MH, a recorded
    energy path, a prior, a smooth activation or a second energy fall back to autograd."""
    calls = []
    original = FrameGradient.__call__
    monkeypatch.setattr(FrameGradient, "__call__", lambda self, x: calls.append(1)
                        or original(self, x))
    frame, x = _frame(), torch.rand(6, 1, 12, 12)
    langevin(frame, x, n_steps=4, eps=0.01, precision="bf16")
    assert len(calls) == 5                       # the start and 4 steps
    for kw in ({"mh": True}, {"record_energy": True}, {"clamp": (-1.0, 1.0)},
               {"noise": torch.full((6,), 0.5)}):
        langevin(frame, x, n_steps=2, eps=0.01, **kw)
    assert len(calls) == 5
    for energy in (_frame(prior_sigma=1.0), _frame("elu"), _frame("swish")):
        assert not FrameGradient.applies(energy) and not energy.prepared_by_default
        assert energy.prepared_gradient(6, precision="bf16") is None
        langevin(energy, x, n_steps=2, eps=0.01, precision="bf16")
    assert len(calls) == 5
    assert frame.prepared_gradient(6, [(_frame(seed=1), 6)]) is None
    assert frame.prepared_gradient(6, precision="tf32") is None
    assert frame.prepared_precisions == ("fp32", "bf16")
    with pytest.raises(ValueError, match=r"shape \(6, 1, 12, 12\)"):
        frame.prepared_gradient(6)(torch.rand(5, 1, 12, 12))
    with pytest.raises(ValueError, match="fp32' or 'bf16'"):
        FrameGradient(frame, 6, "tf32")
    with pytest.raises(ValueError, match="DeepFRAME"):
        FrameGradient(_frame(prior_sigma=1.0), 6)
