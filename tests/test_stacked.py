"""K small networks trained as one program (``StackedMLP``, ``train_stacked``) against the
oracle of K separate networks and runs."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from ebmbook.energies.potentials import (MLPPotential, RescaledPotential, StackedGradient,
                                         StackedMLP)
from ebmbook.learning.fit import Divergence
from ebmbook.learning.stacked import (StackedMLLearner, check_stackable, stack_groups,
                                      train_stacked)
from ebmbook.learning.trainer import TrainConfig, train
from ebmbook.sampling.init import StackedInit, StoredStates
from ebmbook.sampling.langevin import langevin, langevin_together


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


def test_only_shared_fields_must_agree_and_groups_form_by_config():
    a = TrainConfig(init="persistent")
    check_stackable([a, TrainConfig(init="gaussian", bank_size=5)])
    check_stackable([a, TrainConfig(eps=0.5, optimizer="sgd", n_steps=7)])   # another group
    with pytest.raises(ValueError, match="'n_langevin'"):
        check_stackable([a, TrainConfig(init="persistent", n_langevin=7)])
    with pytest.raises(ValueError, match="'batch_size'"):
        check_stackable([a, a, TrainConfig(batch_size=50)])
    with pytest.raises(ValueError, match="one network, data source and config per run"):
        train_stacked(_nets(2), [torch.zeros(4, 2)], [a, a], progress=False)
    b = TrainConfig(eps=0.5)
    # runs that differ only in PER_RUN_FIELDS share a group, in order of first appearance
    assert stack_groups([a, TrainConfig(init="data"), b, a, b]) == [(0, 1, 3), (2, 4)]
    with pytest.raises(ValueError, match="one shape"):
        train_stacked([MLPPotential(), MLPPotential(widths=(8, 8))], [torch.zeros(4, 2)] * 2,
                      [TrainConfig(batch_size=2, bank_size=4), TrainConfig(batch_size=2, eps=0.5,
                                                                           bank_size=4)],
                      progress=False)


def test_stacked_gradient_equals_value_and_grad_bit_for_bit():
    """The chain's gradient program over two stacks at once is StackedMLP.value_and_grad of
    each, number for number."""
    a, b = StackedMLP.from_nets(_nets(2, seed=3)), StackedMLP.from_nets(_nets(3, seed=4))
    x = torch.randn(5, 40, 2)
    g = StackedGradient([a, b], 40)(x)
    assert torch.equal(g[:2].reshape(-1, 2), a.value_and_grad(x[:2].reshape(-1, 2))[1])
    assert torch.equal(g[2:].reshape(-1, 2), b.value_and_grad(x[2:].reshape(-1, 2))[1])
    with pytest.raises(ValueError, match="shape"):
        StackedGradient([a], 40)(x)
    with pytest.raises(ValueError, match="leaky"):
        StackedGradient([StackedMLP.from_nets(_nets(1, activation="swish"))], 4)


def _two_group_configs(**kw):
    sgd = TrainConfig(n_steps=9, batch_size=20, eps=0.125, n_langevin=6, tau=1.0,
                      init="persistent", bank_size=60, optimizer="sgd", sgd_lr=0.3,
                      sgd_lr_min=0.05, sgd_decay=0.99, seed=0, **kw)
    adam = TrainConfig(n_steps=4, batch_size=20, eps=0.01, n_langevin=6, tau=1.0,
                       init="gaussian", optimizer="adam", adam_lr=1e-3, seed=5, **kw)
    return sgd, adam


def test_groups_chains_together_are_langevin_of_each_group_bit_for_bit():
    """One program (langevin_together) for two groups with different eps, scale and streams (and one noiseless
    group) gives each group exactly what langevin() gives it alone."""
    from ebmbook.data.toy2d import toy_density
    sgd, adam = _two_group_configs()
    quiet = dataclasses.replace(sgd, tau=0.0, init="data", seed=2, rescale=False)
    configs = [sgd, adam, sgd, quiet, adam]
    datas = [toy_density("gmm"), toy_density("rings")] * 2 + [toy_density("gmm")]
    learner = StackedMLLearner(_nets(5), datas, configs, torch.Generator().manual_seed(0))
    groups = learner.groups
    assert [g.runs for g in groups] == [(0, 2), (1, 4), (3,)]
    y0s = [g.model.initializer.draw(20, g.generator)[0] for g in groups]
    states = [g.generator.get_state() for g in groups]
    negs = langevin_together([g.chains(y0) for g, y0 in zip(groups, y0s)], n_steps=6)
    outs = [neg.x for neg in negs]
    rs = [neg.r_groups.tolist() if g.k > 1 else [neg.r] for g, neg in zip(groups, negs)]
    for g, y0, state, out, r in zip(groups, y0s, states, outs, rs):
        gen = torch.Generator().set_state(state)
        m = g.model
        ref = langevin(m.energy, y0, n_steps=6, eps=m.eps, noise=m.tau, generator=gen,
                       groups=g.k)
        assert torch.equal(out, ref.x)
        assert r == (ref.r_groups.tolist() if g.k > 1 else [ref.r])
        assert torch.equal(gen.get_state(), g.generator.get_state())   # the same draws


def _run(configs, datas, nets=None, **kw):
    nets = nets if nets is not None else _nets(len(configs))
    return nets, train_stacked(nets, datas, configs, progress=False, **kw)


def test_a_group_beside_others_is_the_group_alone_bit_for_bit():
    """Two groups of one stack (SGD vs Adam, eps 0.125 vs 0.01, 9 vs 4 updates, a persistent
    bank vs noise) give the numbers of each group trained alone; the shorter group stops after
    its own 4 updates and is left as it was."""
    from ebmbook.data.toy2d import toy_density
    sgd, adam = _two_group_configs()
    q = [toy_density("gmm"), toy_density("rings")]
    nets, both = _run([sgd, sgd, adam, adam], q + q, nets=_nets(2) + _nets(2))
    alone_nets = {}
    alone = {}
    for name, cfg in (("sgd", sgd), ("adam", adam)):
        alone_nets[name], alone[name] = _run([cfg, cfg], q)
    for k, (name, j) in enumerate([("sgd", 0), ("sgd", 1), ("adam", 0), ("adam", 1)]):
        ref = alone[name][j]
        assert len(both[k].log.d_st) == ref.config.n_steps == both[k].steps_done
        for s in ("d_st", "r_st", "u_pos", "u_neg", "lr"):
            np.testing.assert_array_equal(both[k].log.arrays[s], ref.log.arrays[s])
        for p, r in zip(nets[k].parameters(), alone_nets[name][j].parameters()):
            assert torch.equal(p, r)
        if ref.bank is not None:
            assert torch.equal(both[k].bank.states, ref.bank.states)
        assert both[k].extras["stacked_with"] == 4


def test_mixed_stack_equals_separate_runs_when_nothing_is_random():
    """Per-run optimisers, step sizes and lengths against K separate train() calls: with a
    one-point data set, chains from the data and no noise, every number must agree (up to the
    rounding of batched against single matrix products)."""
    points = [torch.tensor([[0.5, -0.3]]).repeat(16, 1), torch.tensor([[-1.0, 0.8]]).repeat(16, 1)]
    sgd = _deterministic_config()
    adam = dataclasses.replace(sgd, n_steps=5, eps=0.05, optimizer="adam", adam_lr=1e-2)
    configs = [sgd, adam, adam, sgd]
    datas = [points[0], points[0], points[1], points[1]]
    nets, runs = _run(configs, datas, nets=_nets(4, seed=1))
    for k, (cfg, data) in enumerate(zip(configs, datas)):
        alone = train(_nets(4, seed=1)[k], data, cfg, progress=False)
        assert len(runs[k].log.d_st) == cfg.n_steps
        np.testing.assert_allclose(runs[k].log.d_st, alone.log.d_st, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(runs[k].log.r_st, alone.log.r_st, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(runs[k].log.lr, alone.log.lr, rtol=1e-6)
        for p, q in zip(nets[k].parameters(), alone.net.parameters()):
            assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)


def test_mixed_stack_resumes_bit_for_bit_before_and_after_a_group_finishes(tmp_path):
    from ebmbook.data.toy2d import toy_density
    sgd, adam = _two_group_configs(checkpoint_every=3)
    configs, datas = [sgd, adam, sgd], [toy_density("gmm"), toy_density("rings"),
                                        toy_density("rings")]
    full_nets, full = _run(configs, datas)
    for stop, where in ((2, "a"), (6, "b")):
        _run(configs, datas, checkpoint_dir=tmp_path / where, stop_after=stop)
        nets, resumed = _run(configs, datas, checkpoint_dir=tmp_path / where)
        for a, b, na, nb in zip(full, resumed, full_nets, nets):
            assert b.resumed_from == min(stop, b.config.n_steps)
            np.testing.assert_array_equal(a.log.d_st, b.log.d_st)
            np.testing.assert_array_equal(a.log.r_st, b.log.r_st)
            if a.bank is not None:
                assert torch.equal(a.bank.states, b.bank.states)
            for p, q in zip(na.parameters(), nb.parameters()):
                assert torch.equal(p, q)


def test_a_divergence_leaves_every_group_as_it_was():
    from ebmbook.data.toy2d import toy_density
    sgd, adam = _two_group_configs()
    adam = dataclasses.replace(adam, divergence_threshold=1e-12)   # fails on the first update
    learner = StackedMLLearner(_nets(2), [toy_density("gmm")] * 2, [sgd, adam],
                               torch.Generator().manual_seed(0))
    before = copy.deepcopy(learner.state_dict())
    fit_gen = learner.groups[0].generator
    with pytest.raises(Divergence, match="run 1 of the stack"):
        learner.step(0, fit_gen)
    after = learner.state_dict()
    assert torch.equal(before["groups"][1]["generator"], after["groups"][1]["generator"])
    for b, a in zip(before["groups"], after["groups"]):
        for key in b["net"]:
            assert torch.equal(b["net"][key], a["net"][key])
    assert torch.equal(before["banks"][0]["states"], after["banks"][0]["states"])
