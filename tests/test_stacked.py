"""K small networks trained as one program (``StackedMLP``, ``train_stacked``) against the
oracle of K separate networks and runs."""

import numpy as np
import pytest
import torch

from ebmbook.energies.potentials import MLPPotential, RescaledPotential, StackedMLP
from ebmbook.learning.stacked import check_stackable, train_stacked
from ebmbook.learning.trainer import TrainConfig, train
from ebmbook.sampling.init import StackedInit, StoredStates
from ebmbook.sampling.langevin import langevin


def _nets(k, seed=0, **kw):
    torch.manual_seed(seed)
    return [MLPPotential(**kw) for _ in range(k)]


@pytest.mark.parametrize("activation", ["leaky_relu", "relu", "swish"])
def test_stack_equals_its_networks(activation):
    nets = _nets(3, activation=activation)
    stack = StackedMLP.from_nets(nets)
    x = torch.randn(3 * 40, 2)
    blocks = x.chunk(3)
    want = torch.cat([n(b) for n, b in zip(nets, blocks)])
    assert torch.allclose(stack(x), want, atol=1e-5, rtol=1e-5)
    if stack.has_value_and_grad:
        xg = x.clone().requires_grad_(True)
        (g_ref,) = torch.autograd.grad(
            sum(n(b).sum() for n, b in zip(nets, xg.chunk(3))), xg)
        u, g = stack.value_and_grad(x)
        assert torch.allclose(u, want, atol=1e-5, rtol=1e-5)
        assert torch.allclose(g, g_ref, atol=1e-5, rtol=1e-5)
    else:
        with pytest.raises(ValueError, match="leaky"):
            stack.value_and_grad(x)


def test_stack_round_trip_and_errors():
    nets = _nets(2)
    stack = StackedMLP.from_nets(nets)
    with torch.no_grad():
        stack.weights[0][1].add_(1.0)
    back = stack.unstack()
    assert torch.equal(back[0]._linears[0].weight, nets[0]._linears[0].weight)
    assert torch.equal(back[1]._linears[0].weight, nets[1]._linears[0].weight + 1.0)
    stack.copy_into(nets)
    assert torch.equal(nets[1]._linears[0].weight, back[1]._linears[0].weight)
    with pytest.raises(ValueError, match="shape"):
        StackedMLP.from_nets([MLPPotential(), MLPPotential(widths=(8, 8))])
    with pytest.raises(ValueError, match=r"\(k \* n, 2\) with k = 2"):
        stack(torch.randn(5, 2))
    with pytest.raises(ValueError, match="holds 2 networks"):
        stack.copy_into(nets[:1])


def test_stacked_init_draws_and_updates_blocks():
    a, b = StoredStates(torch.zeros(4, 2)), StoredStates(torch.ones(4, 2))
    x, handle = StackedInit([a, b]).draw(3, torch.Generator().manual_seed(0))
    assert x.shape == (6, 2) and bool((x[:3] == 0).all()) and bool((x[3:] == 1).all())


def test_langevin_groups_give_each_block_its_own_r():
    """Noiseless chains are deterministic, so each block's r_st must equal a separate run's."""
    nets = _nets(2)
    stack = RescaledPotential(StackedMLP.from_nets(nets), 0.1)
    x = torch.randn(2 * 30, 2)
    res = langevin(stack, x, n_steps=15, eps=0.1, noise=0.0, groups=2)
    assert res.grad_norm.shape == (16, 2)
    for k, (net, block) in enumerate(zip(nets, x.chunk(2))):
        alone = langevin(RescaledPotential(net, 0.1), block, n_steps=15, eps=0.1, noise=0.0)
        assert float(res.r_groups[k]) == pytest.approx(alone.r, rel=1e-5)
        assert torch.allclose(res.x.chunk(2)[k], alone.x, atol=1e-5)
    assert res.r == pytest.approx(float(res.r_groups.mean()), rel=1e-6)
    with pytest.raises(ValueError, match="must divide"):
        langevin(stack, x[:59], n_steps=1, eps=0.1, groups=2)


def _deterministic_config(**kw):
    # every random draw is made irrelevant: a one-point data set, chains started from the data
    # and noiseless Langevin, so a stacked run and a separate run must agree number for number
    return TrainConfig(n_steps=12, batch_size=8, eps=0.1, n_langevin=5, tau=0.0, init="data",
                       optimizer="sgd", sgd_lr=0.5, sgd_lr_min=0.5, **kw)


def test_stacked_runs_equal_separate_runs_when_nothing_is_random():
    points = [torch.tensor([[0.5, -0.3]]).repeat(16, 1), torch.tensor([[-1.0, 0.8]]).repeat(16, 1)]
    cfg = _deterministic_config()
    nets = _nets(2, seed=1)
    alone = []
    for net, data in zip(_nets(2, seed=1), points):
        alone.append(train(net, data, cfg, progress=False))
    runs = train_stacked(nets, points, [cfg, cfg], progress=False)
    for k in range(2):
        np.testing.assert_allclose(runs[k].log.d_st, alone[k].log.d_st, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(runs[k].log.r_st, alone[k].log.r_st, rtol=1e-4, atol=1e-6)
        for p, q in zip(nets[k].parameters(), alone[k].net.parameters()):
            assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)
    # the two runs learned different data, so a leak between them would show here
    assert not np.allclose(runs[0].log.d_st, runs[1].log.d_st)
    assert runs[0].extras["stacked_with"] == 2
    assert runs[0].model.energy is runs[0].energy and runs[0].net is nets[0]


def test_stacked_resume_is_bit_identical(tmp_path):
    from ebmbook.data.toy2d import toy_density
    cfg = TrainConfig(n_steps=10, batch_size=20, eps=0.125, n_langevin=5, init="persistent",
                      bank_size=50, optimizer="adam", adam_lr=1e-3, checkpoint_every=3)
    datas = [toy_density("gmm"), toy_density("rings")]
    full = train_stacked(_nets(2), datas, [cfg, cfg], progress=False)
    train_stacked(_nets(2), datas, [cfg, cfg], progress=False, checkpoint_dir=tmp_path,
                  stop_after=4)
    resumed = train_stacked(_nets(2), datas, [cfg, cfg], progress=False,
                            checkpoint_dir=tmp_path)
    for a, b in zip(full, resumed):
        assert resumed[0].resumed_from == 4
        np.testing.assert_array_equal(a.log.d_st, b.log.d_st)
        assert torch.equal(a.bank.states, b.bank.states)


def test_only_per_run_fields_may_differ():
    a = TrainConfig(init="persistent")
    check_stackable([a, TrainConfig(init="gaussian", bank_size=5)])
    with pytest.raises(ValueError, match="'eps'"):
        check_stackable([a, TrainConfig(init="persistent", eps=0.5)])
    with pytest.raises(ValueError, match="one network, data source and config per run"):
        train_stacked(_nets(2), [torch.zeros(4, 2)], [a, a], progress=False)
