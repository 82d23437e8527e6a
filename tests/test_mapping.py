"""ebmbook.map_energy on energies whose basins are known: a mixture of isotropic Gaussian wells
of known depth, whose barrier between two wells is the maximum of U on the segment joining
them (computed here on a fine grid); the same map in-process and on a process pool; trained-model
objects, tensor proposals, the label-free tuning helpers and remapping."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

import ebmbook
from ebmbook.landscape import mapping
from ebmbook.landscape.barriers import linear_barrier
from ebmbook.landscape.mapping import (EnergyMap, GaussianProposals, MapSettings,
                                       TemperatureTuning, basin_of, map_energy, tune_alpha,
                                       tune_and_map, tune_temperature)
from ebmbook.landscape.tuning import drift_temperature
from ebmbook.sampling.model import noise_model

D = 4
CENTRES = torch.zeros(3, D)
CENTRES[0, 0], CENTRES[1, 0], CENTRES[2, 1] = -3.0, 3.0, 5.0
WEIGHTS = (0.5, 0.3, 0.2)


class Wells(nn.Module):
    """U(x) = -log sum_k w_k exp(-|x - c_k|^2 / 2): three unit wells of depth -log w_k. With
    only two wells U depends on the position along their axis and (increasingly) on the distance
    from it, so every path between them rises at least as high as the segment does: the exact
    barrier is the segment's maximum. The third well is 5 or more sds away and shifts it by
    less than 1e-5."""

    def __init__(self):
        super().__init__()
        self.register_buffer("c", CENTRES.clone())
        self.register_buffer("logw", torch.log(torch.tensor(WEIGHTS)))

    def forward(self, x):
        d2 = ((x[:, None, :] - self.c[None]) ** 2).sum(-1)
        return -torch.logsumexp(self.logw - d2 / 2, 1)


class WideProposals:
    """x ~ N(0, 16 I): every well is proposed (picklable, as an executor needs)."""

    def __call__(self, n, generator):
        return 4.0 * torch.randn((n, D), generator=generator)


def _exact_barrier(U, i, j):
    """The maximum of U on the segment between wells i and j (float64, 4001 points)."""
    double = lambda x: U(x.float()).double()        # noqa: E731
    c = CENTRES.double()
    return float(linear_barrier(double, c[i:i + 1], c[j:j + 1], n_points=4001)[0])


SETTINGS = dict(temperature=0.1, alpha=5.0, eps=0.1, n_iterations=12, delta=0.3, max_steps=400,
                descent_steps=300, barrier_factors=(1.0, 2.0, 4.0, 8.0), chunk_size=8)


@pytest.fixture(scope="module")
def wells_map():
    return map_energy(Wells(), WideProposals(), seed=0, **SETTINGS)


def _well_of(m):
    """The well (index into CENTRES) of each representative."""
    d = torch.cdist(m.representatives.float(), CENTRES)
    assert float(d.min(1).values.max()) < 1e-3        # every representative is a well's centre
    return d.argmin(1).numpy()


def test_the_map_finds_the_three_wells_at_their_depths_with_the_saddle_barriers(wells_map):
    m, U = wells_map, Wells()
    assert isinstance(m, EnergyMap) and m.n_basins == 3
    well = _well_of(m)
    assert sorted(well) == [0, 1, 2]
    np.testing.assert_allclose(m.energies, -np.log(np.asarray(WEIGHTS)[well]), atol=1e-5)
    assert m.representatives.shape == (3, D) and m.barriers.shape == (3, 3)
    np.testing.assert_allclose(np.diag(m.barriers), m.energies)
    for a in range(3):
        for b in range(a + 1, 3):
            exact = _exact_barrier(U, well[a], well[b])
            # an AD path is a path: never below the saddle; at T = 0.1 it crosses close to it
            assert exact - 1e-4 <= m.barriers[a, b] <= exact + 0.3, (a, b)
            assert m.barriers[a, b] == m.barriers[b, a]
    # every mode lies in a well and carries that well's basin label
    mode_well = torch.cdist(m.modes.float(), CENTRES).argmin(1).numpy()
    np.testing.assert_array_equal(well[m.labels], mode_well)
    assert m.counts.sum() == 12 and len(m.labels) == 12 and m.n_iterations == 12
    # the DG has the representatives as leaves and merges at the barriers
    assert m.dg.n == 3
    np.testing.assert_allclose(m.dg.leaf_energy, m.energies)
    M = m.barriers
    assert sorted(m.dg.merges[:, 2]) == pytest.approx(sorted(
        [np.min(M[np.triu_indices(3, 1)]), np.sort(M[np.triu_indices(3, 1)])[1]]))


def test_basin_of_sends_states_to_the_basin_of_their_well(wells_map):
    m = wells_map
    well = _well_of(m)
    g = torch.Generator().manual_seed(1)
    x = CENTRES.repeat_interleave(5, 0) + 0.5 * torch.randn((15, D), generator=g)
    want = np.argsort(well)[np.repeat([0, 1, 2], 5)]     # basin whose representative is well k
    np.testing.assert_array_equal(m.basin_of(x), want)
    np.testing.assert_array_equal(basin_of(m, x), want)


def test_the_same_seed_gives_the_same_map_in_process_and_on_a_process_pool(wells_map):
    again = map_energy(Wells(), WideProposals(), seed=0, **SETTINGS)
    pooled = map_energy(Wells(), WideProposals(), seed=0, executor="process:2", **SETTINGS)
    for other in (again, pooled):
        np.testing.assert_array_equal(other.labels, wells_map.labels)
        np.testing.assert_array_equal(other.energies, wells_map.energies)
        np.testing.assert_array_equal(other.barriers, wells_map.barriers)
        assert torch.equal(other.representatives, wells_map.representatives)
        assert torch.equal(other.modes, wells_map.modes)
        np.testing.assert_array_equal(other.dg.merges, wells_map.dg.merges)
    other = map_energy(Wells(), WideProposals(), seed=1, **SETTINGS)
    assert not torch.equal(other.modes, wells_map.modes)


def test_a_trained_model_brings_its_own_eps_and_tensor_proposals_are_drawn_rows():
    model = noise_model(Wells(), eps=0.1, state_shape=(D,))
    starts = 4.0 * torch.randn((50, D), generator=torch.Generator().manual_seed(3))
    kw = {k: v for k, v in SETTINGS.items() if k != "eps"}
    m = map_energy(model, starts, seed=2, **{**kw, "n_iterations": 8})
    assert m.settings.ad_eps == 0.1 and m.energy is model.energy and m.n_basins == 3
    # the same map from the plain energy and the step given beside it
    m2 = map_energy(model.energy, starts, eps=0.1, seed=2, **{**kw, "n_iterations": 8})
    np.testing.assert_array_equal(m.barriers, m2.barriers)
    # an artifact-like object holding the model as .model
    holder = type("Artifact", (), {"model": model})()
    m3 = map_energy(holder, starts, seed=2, **{**kw, "n_iterations": 8})
    np.testing.assert_array_equal(m.labels, m3.labels)
    with pytest.raises(ValueError, match="eps"):
        map_energy(Wells(), starts, **kw)
    with pytest.raises(TypeError, match="proposals"):
        map_energy(Wells(), [1, 2], eps=0.1, **kw)


def test_the_tuning_helpers_follow_their_rules_and_a_tuned_map_is_map_energy_at_the_tuned_values(
        monkeypatch):
    s = MapSettings(ad_eps=0.1, delta=0.3, max_steps=300, descent_steps=300, chunk_size=16,
                    drift_temperatures=(0.03, 0.3, 3.0), drift_modes=6, drift_steps=60,
                    tune_alphas=(0.3, 3.0, 30.0), tune_iter=5, adelm_iter=8,
                    barrier_alpha_factors=(1.0, 4.0))
    U, prop = Wells(), WideProposals()
    tT = tune_temperature(U, prop, seed=5, **s.temperature_options())
    assert isinstance(tT, TemperatureTuning) and tT.temperature in s.drift_temperatures
    # the modes are the wells' centres, and the typical barrier lies between the barriers
    assert float(torch.cdist(tT.modes, CENTRES).min(1).values.max()) < 1e-3
    exact = [_exact_barrier(U, i, j) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(exact) - 1.61 <= tT.barrier_scale <= max(exact) - 0.69
    # the rule: the warmest T whose drift stays below the fraction of that barrier
    d = tT.drift
    rise = (d[:, :, d.shape[2] // 2:].mean(2) - d.min(2)).mean(1)
    ok = rise <= s.drift_fraction * tT.barrier_scale
    assert tT.temperature == max(np.asarray(s.drift_temperatures)[ok], default=0.03)
    np.testing.assert_allclose(tT.rise, rise)
    # measured above the running minimum instead: the same chains (same draws), its own pick
    assert "reference" not in s.temperature_options()       # the default keeps stage keys
    run = dataclasses.replace(s, drift_reference="running")
    asked = []

    def rule(*args, **kw):                     # the rule tune_temperature applies, recorded
        asked.append(kw.get("reference", args[4] if len(args) > 4 else "lowest"))
        return drift_temperature(*args, **kw)
    monkeypatch.setattr(mapping, "drift_temperature", rule)
    tR = tune_temperature(U, prop, seed=5, **run.temperature_options())
    assert asked == ["running"]
    np.testing.assert_array_equal(tR.drift, tT.drift)
    assert tR.reference == "running"
    assert np.all(tR.rise <= tT.rise + 1e-12)   # the running minimum is never below the run's
    assert tR.temperature == drift_temperature(s.drift_temperatures, d, tT.barrier_scale,
                                               s.drift_fraction, reference="running")
    assert tR.temperature >= tT.temperature
    with pytest.raises(ValueError, match="drift_reference"):
        MapSettings(drift_reference="first")
    tA = tune_alpha(U, prop, temperature=tT.temperature, seed=6, **s.alpha_options())
    assert tA.counts.shape == (3,) and tA.alpha in s.tune_alphas
    good = (tA.leakage <= s.leakage_limit) & (tA.counts > 1)
    assert tA.alpha == (max(np.asarray(s.tune_alphas)[good]) if good.any() else 0.3)
    # tune_and_map: T from children 0-2 of the seed, alpha from child 3, the map from 4 and 5
    m = tune_and_map(U, prop, s, seed=7)
    from ebmbook.parallel import child, seed_sequence
    root = seed_sequence(7)
    tT7 = tune_temperature(U, prop, seed=root, **s.temperature_options())
    tA7 = tune_alpha(U, prop, temperature=tT7.temperature, seed=child(root, 3),
                     **s.alpha_options())
    assert (m.temperature, m.alpha) == (tT7.temperature, tA7.alpha)
    np.testing.assert_array_equal(m.drift, tT7.drift)
    np.testing.assert_array_equal(m.tune_counts, tA7.counts)
    direct = map_energy(U, prop, temperature=m.temperature, alpha=m.alpha, seed=7,
                        **s.map_options())
    np.testing.assert_array_equal(direct.barriers, m.barriers)
    np.testing.assert_array_equal(direct.labels, m.labels)
    assert m.settings == s


def test_remap_at_a_strong_alpha_merges_the_wells_and_ad_path_reaches_its_target(wells_map):
    strong = wells_map.remap(200.0, seed=0)
    assert strong.n_basins == 1 and strong.temperature == wells_map.temperature
    assert strong.settings == wells_map.settings
    path = wells_map.ad_path(0, 1, seed=0)
    assert path is not None
    reps = wells_map.representatives
    torch.testing.assert_close(path[0], reps[0])
    torch.testing.assert_close(path[-1], reps[1])
    # the states are recorded every 5 steps up to the arrival, so the last is near the target
    assert float((path[-2] - reps[1]).norm()) < 0.2 * float((reps[0] - reps[1]).norm())


def test_the_top_level_names_and_bad_inputs():
    assert ebmbook.map_energy is map_energy and ebmbook.EnergyMap is EnergyMap
    assert {"map_energy", "EnergyMap"} <= set(dir(ebmbook)) and "map_energy" in ebmbook.__all__
    with pytest.raises(AttributeError):
        ebmbook.no_such_name
    with pytest.raises(TypeError, match="callable"):
        map_energy(object(), torch.zeros(3, D), temperature=1.0, alpha=1.0)
    with pytest.raises(ValueError, match="temperature"):
        map_energy(Wells(), torch.zeros(3, D), eps=0.1, temperature=0.0, alpha=1.0)
    with pytest.raises(ValueError, match="barrier_alpha_factors"):
        MapSettings(barrier_alpha_factors=(2.0, 1.0))
    assert GaussianProposals(3)(5, torch.Generator().manual_seed(0)).shape == (5, 3)


def _same_map(a, b):
    assert a.n_basins == b.n_basins
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.barriers, b.barriers)
    assert torch.equal(a.representatives, b.representatives)
    assert torch.equal(a.modes, b.modes)


@pytest.mark.parametrize("stop_at", [1, 7])
def test_an_interrupted_map_resumes_to_the_uninterrupted_map(tmp_path, monkeypatch, wells_map,
                                                             stop_at):
    """Ctrl-C during the AD batch of an ADELM iteration (the first pairwise batch is iteration
    1's): the finished iterations are saved, MapInterrupted names them and the same call resumes
    to exactly the map an uninterrupted run gives."""
    import importlib
    adelm_module = importlib.import_module("ebmbook.landscape.adelm")
    from ebmbook.landscape.adelm import MapInterrupted
    real, calls = adelm_module.pairwise_ad, {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    ckpt = tmp_path / "map.pt"
    monkeypatch.setattr(adelm_module, "pairwise_ad", flaky)
    with pytest.raises(MapInterrupted, match=rf"{stop_at} of 12 iterations are saved") as info:
        map_energy(Wells(), WideProposals(), seed=0, checkpoint=ckpt, **SETTINGS)
    assert isinstance(info.value.__cause__, KeyboardInterrupt) and ckpt.exists()
    # how far a saved map got is read without its energy: stop_at of 12, then all 12
    from ebmbook.landscape.adelm import checkpoint_iterations
    assert checkpoint_iterations(ckpt) == stop_at
    assert checkpoint_iterations(tmp_path / "none.pt") == 0 and checkpoint_iterations(None) == 0
    monkeypatch.setattr(adelm_module, "pairwise_ad", real)
    resumed = map_energy(Wells(), WideProposals(), seed=0, checkpoint=ckpt, **SETTINGS)
    _same_map(resumed, wells_map)
    assert checkpoint_iterations(ckpt) == 12
    # a finished checkpoint answers at once with the same map; another seed is refused
    _same_map(map_energy(Wells(), WideProposals(), seed=0, checkpoint=ckpt, **SETTINGS),
              wells_map)
    from ebmbook.learning.fit import CheckpointError, ForeignCheckpointError
    with pytest.raises(CheckpointError, match="another map") as refused:
        map_energy(Wells(), WideProposals(), seed=1, checkpoint=ckpt, **SETTINGS)
    # the refusal names the file (what --reuse-maps-of drops when it is a copy)
    assert isinstance(refused.value, ForeignCheckpointError) and refused.value.path == ckpt


def test_a_lost_worker_error_keeps_the_finished_iterations(tmp_path, monkeypatch, wells_map):
    """Any error inside an iteration (here what a Dask client raises when its scheduler goes
    away) saves the iterations before it; the CLI reports it in one line."""
    import concurrent.futures as cf

    import importlib
    adelm_module = importlib.import_module("ebmbook.landscape.adelm")
    from ebmbook.cli import _one_line, _user_error
    from ebmbook.landscape.adelm import MapInterrupted
    real, calls = adelm_module.pairwise_ad, {"n": 0}

    def lost(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise cf.CancelledError("scheduler connection lost")
        return real(*args, **kwargs)

    ckpt = tmp_path / "map.pt"
    monkeypatch.setattr(adelm_module, "pairwise_ad", lost)
    with pytest.raises(MapInterrupted) as info:
        map_energy(Wells(), WideProposals(), seed=0, checkpoint=ckpt, **SETTINGS)
    line = _one_line(info.value)
    assert _user_error(info.value) and "\n" not in line
    assert "CancelledError" in line and "4 of 12 iterations are saved" in line
    monkeypatch.setattr(adelm_module, "pairwise_ad", real)
    _same_map(map_energy(Wells(), WideProposals(), seed=0, checkpoint=ckpt, **SETTINGS), wells_map)


def test_chain_proposals_replay_the_starts_a_resumed_map_did_not_draw(tmp_path, monkeypatch):
    """ChainProposals records the training rows its chains start from, but a map resumed from
    its checkpoint never draws the saved iterations' rows: ``rows_for`` replays them from the
    iterations' seeds, and gives exactly the rows an uninterrupted map drew."""
    import importlib

    from ebmbook.landscape.adelm import MapInterrupted, proposal_seed
    from ebmbook.landscape.mapping import ChainProposals
    from ebmbook.parallel import child, seed_sequence
    adelm_module = importlib.import_module("ebmbook.landscape.adelm")
    model = noise_model(Wells(), eps=0.1, state_shape=(D,))
    states = 4.0 * torch.randn((40, D), generator=torch.Generator().manual_seed(3))
    kw = {**{k: v for k, v in SETTINGS.items() if k != "eps"}, "n_iterations": 8}
    whole = ChainProposals(model, states, 2)
    m = map_energy(model, whole, seed=0, **kw)
    seeds = [proposal_seed(child(seed_sequence(0), 4), n) for n in range(8)]   # ADELM's seed
    np.testing.assert_array_equal(whole.rows_for(seeds), whole.drawn)
    real, calls = adelm_module.pairwise_ad, {"n": 0}

    def stop(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(adelm_module, "pairwise_ad", stop)
    with pytest.raises(MapInterrupted, match="3 of 8"):
        map_energy(model, ChainProposals(model, states, 2), seed=0, checkpoint=tmp_path / "c.pt",
                   **kw)
    monkeypatch.setattr(adelm_module, "pairwise_ad", real)
    again = ChainProposals(model, states, 2)
    resumed = map_energy(model, again, seed=0, checkpoint=tmp_path / "c.pt", **kw)
    _same_map(resumed, m)
    assert again.drawn == whole.drawn[3:]            # only the iterations not saved drew
    np.testing.assert_array_equal(again.rows_for(seeds), whole.drawn)


class SchedulerClosingProposals(WideProposals):
    """WideProposals (the same draws) that close ``cluster``'s scheduler when asked for the
    proposal of iteration ``at``, before that iteration's AD batch is submitted: a scheduler
    lost mid-map, at an iteration fixed in advance. Records how many tasks the workers had run by
    then."""

    def __init__(self, cluster, at):
        self.cluster, self.at, self.calls, self.tasks_run = cluster, at, 0, None

    def __call__(self, n, generator):
        if self.calls == self.at:
            self.tasks_run = sum(w.state.executed_count for w in self.cluster.workers.values())
            self.cluster.sync(self.cluster.scheduler.close)
        self.calls += 1
        return super().__call__(n, generator)


@pytest.mark.timeout(180)
def test_a_map_whose_dask_scheduler_is_closed_resumes_in_process(tmp_path, monkeypatch,
                                                                 wells_map):
    """A real Dask scheduler (a LocalCluster on loopback: 2 workers of 1 thread each) closed
    mid-map: one MapInterrupted naming the iterations saved (not the client's CancelledError),
    and the same call in-process resumes to exactly the uninterrupted in-process map. Nothing
    can hang: the client gives a lost scheduler up after 3 s, connections time out after 3 s."""
    distributed = pytest.importorskip("distributed")
    import importlib

    import dask

    from ebmbook import parallel
    from ebmbook.cli import _one_line, _user_error
    from ebmbook.landscape.adelm import MapInterrupted
    adelm_module = importlib.import_module("ebmbook.landscape.adelm")
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 3.0)
    ckpt, at = tmp_path / "map.pt", 5
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        # worker threads, not processes: they start in a fraction of a second and unpickle
        # this test module's energy; the tasks still travel through the scheduler over TCP
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                           protocol="tcp", host="127.0.0.1",
                                           dashboard_address=None)
        try:
            proposals = SchedulerClosingProposals(cluster, at)
            with pytest.raises(MapInterrupted) as info:
                map_energy(Wells(), proposals, seed=0, checkpoint=ckpt,
                           executor="dask:" + cluster.scheduler_address, **SETTINGS)
        finally:
            cluster.close(timeout=30)
    # iterations 1 .. at-1 ran their AD batches on the cluster (iteration 0 has no AD)
    assert proposals.tasks_run >= at - 1
    err = info.value
    assert (err.done, err.n_iter) == (at, 12) and not isinstance(err.__cause__, KeyboardInterrupt)
    line = _one_line(err)
    assert _user_error(err) and "\n" not in line and len(line) < 300
    assert f"{at} of 12 iterations are saved in {ckpt}" in line
    # resumed in-process: only the iterations not saved run again, and the map is the same
    real, calls = adelm_module.pairwise_ad, {"n": 0}

    def counted(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(adelm_module, "pairwise_ad", counted)
    resumed = map_energy(Wells(), WideProposals(), seed=0, checkpoint=ckpt, **SETTINGS)
    assert calls["n"] == 12 - at
    _same_map(resumed, wells_map)
    np.testing.assert_array_equal(resumed.energies, wells_map.energies)
    np.testing.assert_array_equal(resumed.dg.merges, wells_map.dg.merges)


def test_a_checkpointed_map_needs_an_explicit_seed(tmp_path):
    """Without a seed the root is drawn afresh, so a resumed run could not match: refused."""
    import importlib
    adelm_module = importlib.import_module("ebmbook.landscape.adelm")
    from ebmbook.landscape.mapping import _backend
    be = _backend(Wells(), WideProposals(), 0.1, 5.0, 0.1, delta=0.3, improvement_limit=50,
                  max_steps=400, descent_rate=0.3, descent_steps=300, chunk_size=8)
    with pytest.raises(ValueError, match="needs an explicit seed"):
        adelm_module.adelm(be, 3, checkpoint=tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_compare_barriers_on_connected_pairs_only_draws_pairs_with_a_finite_ad_barrier(wells_map):
    """A map whose AD left a pair unconnected (inf): with connected_only every compared pair has
    a finite AD barrier, so the four methods are compared on the same pairs; the 1D line's
    barrier is the top of its profile and does not depend on which other pairs are drawn."""
    import dataclasses

    from ebmbook.landscape.mapping import compare_barriers
    m = wells_map
    assert m.n_basins == 3
    B = np.array(m.barriers, copy=True)
    B[0, 2] = B[2, 0] = np.inf
    cut = dataclasses.replace(m, barriers=B)
    everything = compare_barriers(cut, 3, seed=0, from_ad=False, max_iter=50)
    assert {tuple(p) for p in everything.pairs} == {(0, 1), (0, 2), (1, 2)}
    bc = compare_barriers(cut, 3, seed=0, from_ad=False, max_iter=50, connected_only=True)
    assert {tuple(p) for p in bc.pairs} == {(0, 1), (1, 2)}
    assert np.isfinite(bc.ad).all()
    np.testing.assert_allclose(bc.linear, bc.linear_profiles.max(1))
    # the same pairs, drawn from the same permutation: the same numbers as in the full draw
    for p, lin in zip(bc.pairs, bc.linear):
        k = [tuple(q) for q in everything.pairs].index(tuple(p))
        assert lin == everything.linear[k]


def test_a_finished_tuned_map_loads_its_stages_instead_of_running_them(tmp_path, monkeypatch):
    """tune_and_map with a checkpoint keeps the T rule, the alpha rule and the barrier matrix
    beside the ADELM checkpoint: the same call then loads the same map without running any
    stage, while an energy with other weights recomputes its stages and is refused the ADELM
    checkpoint of the first."""
    import ebmbook.landscape.mapping as mapping
    from ebmbook.learning.fit import CheckpointError
    s = MapSettings(ad_eps=0.1, delta=0.3, max_steps=300, descent_steps=300, chunk_size=16,
                    drift_temperatures=(0.03, 0.3, 3.0), drift_modes=6, drift_steps=60,
                    tune_alphas=(0.3, 3.0, 30.0), tune_iter=3, adelm_iter=6,
                    barrier_alpha_factors=(1.0, 4.0))
    props = 4.0 * torch.randn(64, D, generator=torch.Generator().manual_seed(0))
    ckpt = tmp_path / "m.pt"
    first = tune_and_map(Wells(), props, s, seed=3, checkpoint=ckpt)
    assert (tmp_path / "m.stages.pt").exists()
    uncached = tune_and_map(Wells(), props, s, seed=3)
    _same_map(first, uncached)

    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage ran again")
    for name in ("tune_temperature", "tune_alpha", "ad_barrier_matrix"):
        monkeypatch.setattr(mapping, name, refuse)
    import importlib
    monkeypatch.setattr(importlib.import_module("ebmbook.landscape.adelm"), "pairwise_ad", refuse)
    again = tune_and_map(Wells(), props, s, seed=3, checkpoint=ckpt)
    _same_map(first, again)
    assert (again.temperature, again.alpha) == (first.temperature, first.alpha)
    np.testing.assert_array_equal(again.drift, first.drift)
    np.testing.assert_array_equal(again.tune_counts, first.tune_counts)
    monkeypatch.undo()

    other = Wells()
    other.logw.add_(torch.tensor([0.0, 0.2, 0.0]))
    calls = []
    real = mapping.tune_temperature
    monkeypatch.setattr(mapping, "tune_temperature",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    with pytest.raises(CheckpointError, match="another map"):
        tune_and_map(other, props, s, seed=3, checkpoint=ckpt)
    assert calls == [1]
    # an energy without weights to digest keeps no stages
    plain = tmp_path / "plain.pt"
    tune_and_map(lambda x: Wells()(x), props, s, seed=3, checkpoint=plain)
    assert not (tmp_path / "plain.stages.pt").exists()


def _tuned_wells_map(checkpoint):
    """Settings, proposals and a small tuned map of the wells saved to ``checkpoint``: its T
    rule's pick, 30, is the warmest T of its grid."""
    s = MapSettings(ad_eps=0.1, delta=0.3, max_steps=300, descent_steps=300, chunk_size=16,
                    drift_temperatures=(0.3, 3.0, 30.0), drift_modes=6, drift_steps=60,
                    tune_alphas=(0.3, 3.0, 30.0), tune_iter=3, adelm_iter=6,
                    barrier_alpha_factors=(1.0, 4.0))
    props = 4.0 * torch.randn(64, D, generator=torch.Generator().manual_seed(0))
    return s, props, tune_and_map(Wells(), props, s, seed=3, checkpoint=checkpoint)


def test_a_widened_T_grid_reruns_the_T_rule_alone_when_its_pick_stays(tmp_path, monkeypatch):
    """A map's files started from those of a finished map whose T grid was narrower (what
    ``ebmbook run --reuse-maps-of`` does): the T rule runs again on the wider grid, and when it
    picks the same T the alpha rule, ADELM and the barrier matrix load, so the map is the first
    one's exactly."""
    import dataclasses
    import importlib
    import shutil

    import ebmbook.landscape.mapping as mapping
    s, props, first = _tuned_wells_map(tmp_path / "a.pt")
    for suffix in (".pt", ".stages.pt"):
        shutil.copyfile(tmp_path / f"a{suffix}", tmp_path / f"b{suffix}")
    # the grid reaches two steps colder; the pick (the warmest quiet T) stays
    assert first.temperature == 30.0
    wider = dataclasses.replace(s, drift_temperatures=(0.003, 0.03, *s.drift_temperatures))
    calls = []
    real = mapping.tune_temperature
    monkeypatch.setattr(mapping, "tune_temperature",
                        lambda *a, **k: calls.append(k["temperatures"]) or real(*a, **k))

    def refuse(*args, **kwargs):
        raise AssertionError("a stage whose inputs did not change ran again")
    monkeypatch.setattr(mapping, "tune_alpha", refuse)
    monkeypatch.setattr(mapping, "ad_barrier_matrix", refuse)
    monkeypatch.setattr(importlib.import_module("ebmbook.landscape.adelm"), "pairwise_ad", refuse)
    again = tune_and_map(Wells(), props, wider, seed=3, checkpoint=tmp_path / "b.pt")
    assert calls == [(0.003, 0.03, 0.3, 3.0, 30.0)]
    assert again.temperature == first.temperature
    assert again.drift.shape[0] == 5
    _same_map(first, again)


def test_temperature_rule_met_says_whether_some_T_was_under_the_limit(wells_map):
    import dataclasses
    steps = np.arange(11, dtype=np.float64)
    drift = np.stack([np.tile(r * steps, (2, 1)) for r in (0.02, 0.1)])   # rises 0.15, 0.75
    s = MapSettings(drift_temperatures=(0.1, 1.0), drift_fraction=0.25,
                    drift_reference="lowest")
    m = dataclasses.replace(wells_map, drift=drift, settings=s, barrier_scale=1.0)
    assert m.temperature_rule_met() == 1.0                      # 0.15 <= 0.25
    assert dataclasses.replace(m, barrier_scale=0.5).temperature_rule_met() == 0.0
    assert np.isnan(dataclasses.replace(m, drift=None).temperature_rule_met())   # T given


def test_a_stored_T_tuning_is_picked_by_the_present_rule(tmp_path, monkeypatch):
    """The T stage stores the drift measurement; its pick is computed anew on every load, so a
    stage stored under an earlier rule (here: its pick overwritten in the file) maps at the
    present rule's T, without rerunning the chains."""
    import dataclasses

    import ebmbook.landscape.mapping as mapping
    from ebmbook.io import atomic_torch_save
    from ebmbook.learning.fit import read_checkpoint
    s, props, first = _tuned_wells_map(tmp_path / "a.pt")
    stages = read_checkpoint(tmp_path / "a.stages.pt")
    stored = stages["tune_T"]["value"]
    assert stored.rule() == first.temperature == 30.0 and first.temperature_rule_met() == 1.0
    stages["tune_T"]["value"] = dataclasses.replace(stored, temperature=0.3)
    atomic_torch_save(stages, tmp_path / "a.stages.pt")

    def refuse(*args, **kwargs):
        raise AssertionError("a stored stage ran again")
    for name in ("tune_temperature", "tune_alpha", "ad_barrier_matrix"):
        monkeypatch.setattr(mapping, name, refuse)
    again = tune_and_map(Wells(), props, s, seed=3, checkpoint=tmp_path / "a.pt")
    assert again.temperature == 30.0
    _same_map(first, again)


def test_an_interrupted_barrier_stage_resumes_from_its_finished_tasks(tmp_path, monkeypatch):
    """The barrier matrix keeps its finished AD tasks in the stages file as they finish: a map
    interrupted in that stage reruns only the tasks it had not finished, and ends with the
    matrix of an uninterrupted run (the tasks' seeds are fixed), the partial entry then gone."""
    from ebmbook.landscape.mapping import StageProgress, map_energy
    from ebmbook.learning.fit import read_checkpoint
    kw = dict(temperature=0.3, alpha=3.0, seed=3, eps=0.1, delta=0.3, max_steps=300,
              descent_steps=300, chunk_size=2, n_iterations=8, barrier_factors=(1.0, 4.0))
    props = 4.0 * torch.randn(64, D, generator=torch.Generator().manual_seed(0))
    ref = map_energy(Wells(), props, **kw)
    L = ref.n_basins
    n_trials = 2 * (L * (L - 1) // 2) * 2 * 1       # directions x pairs x alphas x repeats
    n_tasks = -(-n_trials // kw["chunk_size"])
    assert L >= 3 and n_tasks >= 4

    real_put, puts = StageProgress.put, []

    def put_then_stop(self, i, r):
        real_put(self, i, r)
        self.save()
        puts.append(i)
        if len(puts) == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(StageProgress, "put", put_then_stop)
    ckpt = tmp_path / "m.pt"
    with pytest.raises(KeyboardInterrupt):
        map_energy(Wells(), props, checkpoint=ckpt, **kw)
    kept = read_checkpoint(tmp_path / "m.stages.pt")
    assert "barriers" not in kept and sorted(kept["barriers:partial"]["value"]) == puts == [0, 1]

    puts.clear()
    monkeypatch.setattr(StageProgress, "put", lambda self, i, r: puts.append(i) or
                        real_put(self, i, r))
    again = map_energy(Wells(), props, checkpoint=ckpt, **kw)
    assert puts == list(range(2, n_tasks))
    np.testing.assert_array_equal(again.barriers, ref.barriers)
    kept = read_checkpoint(tmp_path / "m.stages.pt")
    assert "barriers" in kept and "barriers:partial" not in kept


def test_owned_labels_and_the_merge_gap_of_a_hand_made_read_map():
    """Basins 0 and 1 read as label 0 merge at 1.0; basin 2, read as 1, joins them at 3.0;
    basin 3 is read as 0 by only 40 % of its modes and sits in a tree of its own."""
    from ebmbook.landscape.dgraph import disconnectivity_graph
    inf = np.inf
    M = np.array([[0.0, 1.0, 3.0, inf], [1.0, 0.5, 3.0, inf], [3.0, 3.0, -2.0, inf],
                  [inf, inf, inf, 0.2]])
    m = EnergyMap(adelm=None, barriers=M, dg=disconnectivity_graph(M), temperature=1.0,
                  alpha=1.0, reads=np.zeros(4), basin_label=np.array([0, 0, 1, 0]),
                  basin_share=np.array([0.9, 0.6, 1.0, 0.4]))
    assert m.owned_labels() == [0, 1]
    assert m.owned_labels(share=0.95) == [1]
    assert m.owned_labels(classes=(1, 2)) == [1]
    # same label: pairs (0,1) at 1.0, (0,3) and (1,3) never merge; different: (0,2), (1,2) at
    # 3.0, (2,3) never
    assert m.same_label_merge_gap() == (1.0, 3.0)
    assert dataclasses.replace(m, reads=None).owned_labels() == []


def test_label_basins_follow_a_label_into_the_basins_it_leads_or_represents():
    """Ten modes in three basins. Basin 0 is read mostly as 4, but its lowest mode (its
    representative) reads 9; basin 1 is mostly 9; basin 2 is mostly 2 with one 9 among its modes,
    so a 9 lives there but neither leads nor represents it."""
    import types
    from ebmbook.landscape.dgraph import disconnectivity_graph
    basin = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    energy = np.array([5.0, 1.0, 3.0, 4.0, 2.0, 0.0, 6.0, 7.0, 8.0, 9.0])
    reads = np.array([4, 9, 4, 4, 9, 9, 7, 2, 2, 9])
    adelm = types.SimpleNamespace(labels=basin, energies=energy, n_basins=3,
                                  rep_energies=np.array([1.0, 0.0, 7.0]))
    M = np.array([[1.0, 3.0, 4.0], [3.0, 0.0, 4.0], [4.0, 4.0, 7.0]])
    m = EnergyMap(adelm=adelm, barriers=M, dg=disconnectivity_graph(M), temperature=1.0,
                  alpha=1.0, reads=reads, basin_label=np.array([4, 9, 2]),
                  basin_share=np.array([0.75, 2 / 3, 2 / 3]))
    assert m.representative_reads().tolist() == [9, 9, 2]
    # the labels read in representatives, over the classes asked for (as owned_labels counts)
    assert m.represented_labels() == [2, 9] and m.represented_labels(classes=(2, 3)) == [2]
    assert m.owned_labels() == [2, 4, 9] and m.owned_labels(classes=(2, 3)) == [2]
    rows = m.label_basins(9)
    # lowest representative first: basin 1 (energy 0), then basin 0 (energy 1)
    assert [r["basin"] for r in rows] == [1, 0]
    # four modes read 9: two in basin 1, one in basin 0, one in basin 2 (listed nowhere)
    assert rows[0] == {"basin": 1, "modes": 3, "representative": 9, "share": pytest.approx(2 / 3),
                       "of_label": 0.5, "rival": 7, "rival_share": pytest.approx(1 / 3)}
    assert rows[1] == {"basin": 0, "modes": 4, "representative": 9, "share": 0.25,
                       "of_label": 0.25, "rival": 4, "rival_share": 0.75}
    assert [r["basin"] for r in m.label_basins(4)] == [0]
    assert m.label_basins(5) == []
    unread = dataclasses.replace(m, reads=None)
    assert unread.representative_reads() is None and unread.label_basins(9) == []
    assert unread.represented_labels() == []


def _labelled_map(M, labels):
    from ebmbook.landscape.dgraph import disconnectivity_graph
    k = len(labels)
    return EnergyMap(adelm=None, barriers=M, dg=disconnectivity_graph(M), temperature=1.0,
                     alpha=1.0, reads=np.zeros(k), basin_label=np.asarray(labels),
                     basin_share=np.ones(k))


def test_the_direct_barrier_gap_sees_what_the_dg_hides():
    """Eight basins in two alternating labels, each joined to the next by a low barrier (0.5):
    the DG connects every pair through that chain at 0.5, so its merge gap cannot tell the labels
    apart. The direct barriers are 1 within a label and 5 between labels (but 0.5 along the
    chain), which the direct gap reads. Its permutation p-value is checked against the exact
    one, from all 70 arrangements of the labels."""
    import itertools
    k = 8
    labels = np.array([0, 1] * 4)
    M = np.where(labels[:, None] == labels[None, :], 1.0, 5.0)
    for j in range(k - 1):
        M[j, j + 1] = M[j + 1, j] = 0.5
    np.fill_diagonal(M, 0.0)
    m = _labelled_map(M, labels)
    assert m.same_label_merge_gap() == (0.5, 0.5)       # the DG's merges do not see the labels
    s, d, p = m.same_label_barrier_gap(n_perm=4000, seed=0)
    assert (s, d) == (1.0, 5.0)
    ii, jj = np.triu_indices(k, 1)
    h = M[ii, jj]

    def gap(lab):
        same = lab[ii] == lab[jj]
        return np.median(h[same]) - np.median(h[~same])
    exact = np.mean([gap(np.isin(np.arange(k), c).astype(int)) <= s - d
                     for c in itertools.combinations(range(k), 4)])
    assert exact < 0.05
    assert p == pytest.approx(exact, abs=0.01)
    # labels that carry no information: the p-value is not small on average
    rng = np.random.default_rng(1)
    R = rng.uniform(1, 5, (k, k))
    R = np.triu(R, 1) + np.triu(R, 1).T
    ps = [_labelled_map(R, rng.permutation(labels)).same_label_barrier_gap(n_perm=400, seed=i)[2]
          for i in range(20)]
    assert 0.3 < np.mean(ps) < 0.8


def test_the_direct_barrier_gap_leaves_out_unread_basins_and_unconnected_pairs():
    inf = np.inf
    M = np.array([[0.0, 1.0, 3.0, 0.1], [1.0, 0.0, inf, 0.1], [3.0, inf, 0.0, 0.1],
                  [0.1, 0.1, 0.1, 0.0]])
    m = _labelled_map(M, [0, 0, 1, -1])
    s, d, p = m.same_label_barrier_gap(n_perm=50)
    assert (s, d) == (1.0, 3.0) and 0 < p <= 1
    # one label only: no different-label pair
    s, d, p = _labelled_map(M, [0, 0, 0, -1]).same_label_barrier_gap(n_perm=50)
    assert s == 2.0 and np.isnan(d) and np.isnan(p)
