"""Order to chaos investigated (ebmbook.experiments.order_to_chaos): the finite-size exponent
map on an energy whose exponent is known, the zero crossings read from it, and the config."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ebmbook.experiments import order_to_chaos as oc


class _Quadratic(torch.nn.Module):
    """U(x) = k |x|^2 / 2: linear dynamics, every separation shrinks by (1 - h k) per
    integration step of h, so the exponent is log(1 - h k) / h ~ -k at every gamma and delta0."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return 0.5 * self.k * x.flatten(1).pow(2).sum(1)


def test_the_map_of_a_quadratic_energy_is_its_known_exponent_everywhere():
    k, eps = 2.0, 0.1
    art = SimpleNamespace(model=SimpleNamespace(energy=_Quadratic(k), eps=eps))
    x0 = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    M = oc.lyapunov_map(art, x0, (0.0, 1.0, 3.0), (1e-3, 0.1, 1.0), base_steps=40, seed=0)
    h = eps ** 2 / 2
    assert M.shape == (3, 3)
    np.testing.assert_allclose(M, np.log(1 - h * k) / h, rtol=1e-3)
    # refining the integration step moves the estimate toward the SDE's exponent, -k
    fine = oc.lyapunov_estimate(art, x0, (1.0,), 0.1, 40, 4, seed=0).exponent[0]
    assert abs(fine + k) < abs(M[1, 1] + k)


def test_zero_crossings_of_a_study_row():
    st = oc.ModelStudy(name="m", activation="a", gammas=np.array([0.0, 1.0, 2.0]),
                       delta0s=np.array([0.1, 1.0]),
                       lyap_map=np.array([[-2.0, -1.0, 1.0], [-1.0, -1.0, -1.0]]), frames={})
    assert st.zero_gamma(0) == pytest.approx(1.5)
    assert np.isnan(st.zero_gamma(1))


def test_config_refuses_bad_grids():
    with pytest.raises(ValueError, match="delta0s"):
        oc.Config(delta0s=(1.0, 0.1))
    with pytest.raises(ValueError, match="delta0s"):
        oc.Config(delta0s=(0.0, 0.1))
    with pytest.raises(ValueError, match="base_steps"):
        oc.Config(base_steps=2)
