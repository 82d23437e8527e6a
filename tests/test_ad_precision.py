"""Attraction-Diffusion with U evaluated in bfloat16 (``precision="bf16"``): the magnetised
energy's hand-written gradient against autograd, barriers that are float32 energies of a state
on the path, and a whole map against the exact wells of ``test_mapping``."""

import dataclasses

import numpy as np
import pytest
import torch

from ebmbook.energies.potentials import DeepFRAME, RescaledPotential
from ebmbook.landscape.ad import MagnetisedEnergy, attraction_diffusion
from ebmbook.landscape.mapping import MapSettings, map_energy
from ebmbook.sampling.langevin import energy_and_grad
from test_mapping import SETTINGS, Wells, WideProposals, _exact_barrier, _well_of


@pytest.fixture(autouse=True)
def _bf16_arithmetic(monkeypatch):
    """These tests check the bf16 arithmetic itself: emulate it where the CPU lacks it (the
    package would otherwise run fp32 in its place; tests/test_precision.py tests that)."""
    monkeypatch.setenv("EBMBOOK_BF16", "always")


def test_the_magnetised_gradient_is_autograds():
    """On an energy that autocast leaves in float32 (no matrix product), V and grad V of the
    bf16 path are autograd's on the whole V: per-chain alpha, and a chain at its target (zero
    pull) included."""
    U = Wells()
    x = torch.randn(6, 4)
    targets = torch.randn(6, 4)
    targets[2] = x[2]                                   # distance 0: no pull, no NaN
    for alpha in (2.5, torch.linspace(0.5, 3.0, 6)):
        fast = MagnetisedEnergy(U, targets, 0.3, alpha, precision="bf16")
        slow = MagnetisedEnergy(U, targets, 0.3, alpha)
        assert fast.has_value_and_grad and not getattr(slow, "has_value_and_grad", False)
        v, g = fast.value_and_grad(x)
        v_ref, g_ref = energy_and_grad(slow, x)
        torch.testing.assert_close(v, v_ref, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)
        assert torch.isfinite(g).all()
    with pytest.raises(ValueError, match="precision"):
        MagnetisedEnergy(U, targets, 0.3, 1.0, precision="fp16")


def _frame():
    torch.manual_seed(0)
    return RescaledPotential(DeepFRAME(1, 12, 8, 2), eps=0.05)


def test_a_bf16_barrier_is_the_float32_energy_of_a_state_on_the_path():
    """The chain follows bf16 energies, but the barrier it reports is U in float32 at the state
    where they peaked: one of the recorded states' exact energies, and within bf16 rounding of
    the fp32 chain's barrier from the same starts and noise."""
    U = _frame()
    gen = torch.Generator().manual_seed(0)
    starts, targets = torch.rand(8, 1, 12, 12, generator=gen), torch.rand(8, 1, 12, 12, generator=gen)
    kw = dict(temperature=50.0, alpha=20.0, eps=0.05, delta=0.5, improvement_limit=30,
              max_steps=60, record_states=1)
    res = attraction_diffusion(U, starts, targets, precision="bf16",
                               generator=torch.Generator().manual_seed(1), **kw)
    ref = attraction_diffusion(U, starts, targets, generator=torch.Generator().manual_seed(1),
                               **kw)
    with torch.no_grad():
        path_u = torch.stack([U(res.path_states[:, k]) for k in range(res.path_states.shape[1])],
                             1).numpy()
    for b in range(8):
        # the peak is a visited state, and its float32 energy is what is reported
        assert np.any(path_u[b, :res.steps[b] + 1] == res.barrier[b]), b
        assert res.barrier[b] <= path_u[b, :res.steps[b] + 1].max()
    spread = np.abs(ref.barrier).max()
    np.testing.assert_allclose(res.barrier, ref.barrier, atol=0.02 * spread)
    with pytest.raises(ValueError, match="sampler='langevin'"):
        attraction_diffusion(U, starts, targets, sampler="rwm", precision="bf16", **kw)


def test_a_bf16_map_finds_the_three_wells_and_their_barriers():
    """The map of test_mapping with AD in bf16: the same three wells at their depths, barriers
    between the segment's maximum and 0.3 above it, and a fingerprint of its own (an fp32
    checkpoint cannot be resumed as a bf16 map)."""
    m = map_energy(Wells(), WideProposals(), seed=0, precision="bf16", **SETTINGS)
    U = Wells()
    assert m.n_basins == 3 and m.settings.ad_precision == "bf16"
    well = _well_of(m)
    assert sorted(well) == [0, 1, 2]
    for a in range(3):
        for b in range(a + 1, 3):
            exact = _exact_barrier(U, well[a], well[b])
            assert exact - 1e-4 <= m.barriers[a, b] <= exact + 0.3, (a, b)
    assert "precision" not in MapSettings().ad_options()
    assert MapSettings(ad_precision="bf16").ad_options()["precision"] == "bf16"
    with pytest.raises(ValueError, match="ad_precision"):
        dataclasses.replace(MapSettings(), ad_precision="tf32")


def test_an_fp32_checkpoint_is_not_resumed_as_a_bf16_map(tmp_path):
    from ebmbook.learning.fit import CheckpointError
    ckpt = tmp_path / "map.pt"
    small = {**SETTINGS, "n_iterations": 3}
    map_energy(Wells(), WideProposals(), seed=0, checkpoint=str(ckpt), **small)
    again = map_energy(Wells(), WideProposals(), seed=0, checkpoint=str(ckpt), **small)
    assert again.n_basins >= 1                              # fp32: resumed (finished) as is
    with pytest.raises(CheckpointError, match="another map"):
        map_energy(Wells(), WideProposals(), seed=0, checkpoint=str(ckpt), precision="bf16",
                   **small)
