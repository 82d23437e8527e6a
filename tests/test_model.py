"""The sampler kernel and the trained-model object against analytic oracles."""

import math

import numpy as np
import pytest
import torch

from ebmbook.sampling.init import PersistentBank, StoredStates
from ebmbook.sampling.langevin import LangevinParams, frozen_parameters, init, langevin, step
from ebmbook.sampling.model import EnergyModel, noise_model


def quad(x):
    return 0.5 * x.reshape(len(x), -1).pow(2).sum(1)


def test_tempered_long_run_targets_exp_of_minus_u_over_gamma_squared():
    # U = |x|^2 / 2 at temperature factor gamma: the MH-exact chain samples N(0, gamma^2 I)
    model = noise_model(quad, eps=0.6, state_shape=(2,), n_langevin=10)
    g = torch.Generator().manual_seed(0)
    x0 = torch.zeros(4000, 2)
    for gamma in (0.5, 1.5):
        r = model.long_run(x0, 300, gamma=gamma, mh=True, generator=g)
        var = r.x.var(0).mean().item()
        assert var == pytest.approx(gamma ** 2, rel=0.06), gamma
        assert 0.3 < r.accept_rate < 1


def test_per_chain_noise_gives_each_chain_its_own_temperature():
    g = torch.Generator().manual_seed(1)
    gam = torch.tensor([0.5] * 2000 + [2.0] * 2000)
    x = langevin(quad, torch.zeros(4000, 1), n_steps=400, eps=0.2, noise=gam, generator=g).x
    # ULA on a quadratic: the stationary variance is gamma^2 / (1 - h/2), h = eps^2/2 = 0.02
    h = 0.02
    assert x[:2000].var().item() == pytest.approx(0.25 / (1 - h / 2), rel=0.08)
    assert x[2000:].var().item() == pytest.approx(4.0 / (1 - h / 2), rel=0.08)


def test_shared_noise_moves_two_copies_of_a_chain_identically():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 3, generator=g)
    params = LangevinParams(eps=0.3, noise=1.0)
    z = torch.randn(5, 3, generator=g)
    pair, _ = step(init(torch.cat([x, x]), quad), quad, params, z=torch.cat([z, z]))
    a, b = pair.x.split(5)
    assert torch.equal(a, b)
    assert torch.allclose(a, x - 0.045 * x + 0.3 * z)      # h = eps^2/2 = 0.045, grad U = x


def test_generator_map_is_differentiable_and_matches_the_linear_oracle():
    # M(Z) = (1 - h)^L Z for U = |x|^2/2, so d sum M(Z) / dZ = (1 - h)^L everywhere
    eps, L = 0.4, 7
    model = noise_model(quad, eps, (3,), n_langevin=L)
    z = torch.randn(4, 3).requires_grad_(True)
    model.generator_map(z, differentiable=True).sum().backward()
    assert torch.allclose(z.grad, torch.full_like(z, (1 - eps ** 2 / 2) ** L))


def test_stored_states_are_drawn_with_replacement_and_never_written():
    states = torch.arange(6.0).view(6, 1)
    model = EnergyModel(quad, eps=0.1, tau=1.0, n_langevin=3,
                        initializer=StoredStates(states), state_shape=(1,))
    x0 = model.init(50, torch.Generator().manual_seed(0))
    assert set(x0.view(-1).tolist()) <= set(range(6))
    model.short_run(50, torch.Generator().manual_seed(0))
    assert torch.equal(model.initializer.states, states)


def test_a_persistent_bank_writes_back_through_update():
    bank = PersistentBank(torch.zeros(10, 2))
    x, idx = bank.draw(4, torch.Generator().manual_seed(0))
    bank.update(idx, x + 1)
    assert bank.states.sum().item() == 8 and len(set(idx.tolist())) == 4


def test_frozen_parameters_are_restored_even_after_an_error():
    net = torch.nn.Linear(2, 1)
    net.bias.requires_grad_(False)
    with pytest.raises(RuntimeError):
        with frozen_parameters(net):
            assert not net.weight.requires_grad
            raise RuntimeError("boom")
    assert net.weight.requires_grad and not net.bias.requires_grad


@pytest.mark.parametrize("kw, match", [
    (dict(eps=0.0), "eps"), (dict(eps=math.inf), "eps"), (dict(n_langevin=-1), "n_langevin"),
    (dict(tau=-1.0), "noise"),
])
def test_bad_model_fields_are_named(kw, match):
    base = dict(energy=quad, eps=0.1, tau=1.0, n_langevin=3,
                initializer=StoredStates(torch.zeros(2, 1)), state_shape=(1,))
    with pytest.raises(ValueError, match=match):
        EnergyModel(**{**base, **kw})


def test_short_run_needs_exactly_one_start():
    model = noise_model(quad, 0.1, (1,))
    with pytest.raises(ValueError, match="exactly one"):
        model.short_run(3, x=torch.zeros(3, 1))
    with pytest.raises(ValueError, match="exactly one"):
        model.short_run()


def test_numpy_integer_step_counts_are_accepted():
    r = langevin(quad, torch.zeros(3, 2), n_steps=np.int64(4), eps=0.1)
    assert r.grad_norm.shape == (5,)
    with pytest.raises(ValueError, match="n_steps"):
        langevin(quad, torch.zeros(3, 2), n_steps=2.5, eps=0.1)
