"""The compiled SK kernels' building blocks (ebmbook.sampling.spins: flip_accepted, flip_spin)
and the record-taking kernels of ebmbook.landscape._kernels (ad_trials, gwl_kernel)."""

import math

import numpy as np
import pytest

from ebmbook.energies.spin import SKModel
from ebmbook.landscape import _kernels as K
from ebmbook.sampling.spins import _LOGIT_CUTOFF, flip_accepted, flip_spin, local_fields


def _energy(J, s):
    return -0.5 * s @ J @ s


def test_flip_spin_keeps_the_local_fields_and_changes_the_energy_by_2_s_h():
    model = SKModel.from_seed(12, 1)
    J = model.J
    rng = np.random.default_rng(0)
    s = (2 * rng.integers(0, 2, 12) - 1).astype(np.int8)
    h = local_fields(J, s)
    for i in (0, 5, 11, 5):
        dH = 2.0 * s[i] * h[i]
        before = _energy(J, s.astype(float))
        flip_spin(J, s, h, i)
        np.testing.assert_allclose(h, J @ s, atol=1e-12)
        assert _energy(J, s.astype(float)) == pytest.approx(before + dH, abs=1e-12)


def test_flip_accepted_matches_metropolis_and_heat_bath_and_skips_certain_draws():
    # certain outcomes consume no uniform draw: the generator state does not move
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    assert flip_accepted(-0.3, True, rng) and flip_accepted(0.0, True, rng)
    assert not flip_accepted(_LOGIT_CUTOFF + 1.0, True, rng)
    assert not flip_accepted(_LOGIT_CUTOFF + 1.0, False, rng)
    assert rng.bit_generator.state == state
    # otherwise one draw, accepted with min(1, e^-x) (Metropolis) or 1 / (1 + e^x) (heat bath)
    n, x = 20_000, 0.7
    for metropolis, p in ((True, math.exp(-x)), (False, 1.0 / (1.0 + math.exp(x)))):
        rng = np.random.default_rng(2)
        hits = sum(flip_accepted(x, metropolis, rng) for _ in range(n))
        assert abs(hits / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def _trials(model, B=6, seed=0):
    rng = np.random.default_rng(seed)
    N = model.n
    starts = (2 * rng.integers(0, 2, (B, N)) - 1).astype(np.int8)
    targets = starts.copy()
    for b in range(1, B):                       # trial b's target is b spins away
        targets[b, rng.choice(N, size=b, replace=False)] *= -1
    return K.ADTrials(starts, targets, np.full(B, 5.0), np.linspace(1.0, 4.0, B))


def test_ad_trials_records_agree_with_the_outcome_and_a_trial_on_its_target_succeeds_at_once():
    model = SKModel.from_seed(20, 2)
    trials = _trials(model)
    settings = K.ADSettings(delta=0, improvement_limit=20, max_sweeps=300, metropolis=False)
    out, trace = K.run_ad_trials(model.J, trials, settings, np.random.default_rng(5), record=True)
    assert out.success[0] and out.sweeps[0] == 0 and out.final_distance[0] == 0
    assert out.barrier[0] == pytest.approx(_energy(model.J, trials.starts[0].astype(float)))
    for b in range(len(out.success)):
        t = out.sweeps[b]
        assert trace.distance[b, t] == out.final_distance[b]
        assert trace.max_energy[b, :t + 1].max() == out.barrier[b]
        assert out.success[b] == (out.final_distance[b] <= settings.delta)
    assert out.success[1:].any() and not out.success.all()
    # a failed trial stopped after improvement_limit sweeps without a new best distance
    assert (out.sweeps[~out.success] >= settings.improvement_limit).all()
    # the inputs are not modified
    np.testing.assert_array_equal(trials.starts, _trials(model).starts)


def test_the_gwl_visit_penalty_flattens_the_visits_over_bins():
    """Eq. 4.4: the penalty (the thesis's gamma) pushes the chain out of visited bins, so at a
    temperature where the plain Metropolis chain stays in a few bins, the penalised chain
    visits more (basin, energy) bins and spreads its visits more evenly."""
    assert "penalty" in K.GWLSettings._fields and "gamma" not in K.GWLSettings._fields
    from ebmbook.landscape.gwl import gwl
    model = SKModel.from_seed(16, 3)
    runs = [gwl(model, n_iter=20_000, rng=np.random.default_rng(0), temperature=0.3,
                e_range=(-1.0, 0.0), n_bins=10, penalty=p, max_basins=500, max_pairs=20_000)
            for p in (0.0, 0.05)]
    cells = [int((r.visits > 0).sum()) for r in runs]
    top = [r.visits.max() / r.visits.sum() for r in runs]
    assert runs[0].visits.sum() == runs[1].visits.sum() == 20_000
    assert cells[1] > cells[0] and top[1] < top[0]
