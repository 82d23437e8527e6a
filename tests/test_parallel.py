"""Executors for the embarrassingly parallel mapping work: the same seed gives the same map
in-process, on a process pool and on a Dask LocalCluster; specs are validated; order is kept."""

import concurrent.futures as cf
import sys
import time

import numpy as np
import pytest
import torch

from ebmbook.energies.landscapes import ToyLandscape1D
from ebmbook.energies.spin import SKModel
from ebmbook.landscape.adelm import ContinuousBackend, SpinBackend, adelm
from ebmbook.landscape.barriers import ad_barrier_matrix
from ebmbook.landscape.tuning import basins_vs_alpha, energy_drift, metastable_boundary
from ebmbook.parallel import (InlineExecutor, child, get_executor, map_tasks, seed_sequence,
                              validate_executor_spec)


def _toy_propose(n, g):
    return 0.5 + 10.0 * torch.rand((n, 1), generator=g, dtype=torch.float64)


def _map_everything(ex) -> dict:
    """Every executor-aware entry point on small problems, all under seed 0 and one executor."""
    model = SKModel.from_seed(24, 1)
    be = SpinBackend(model, temperature=0.1, alpha=1.35, rng=np.random.default_rng(0),
                     proposal="anneal", anneal_sweeps=30, chunk_size=8)
    res = adelm(be, 40, consolidate_every=20, executor=ex)
    out = {"labels": res.labels, "reps": res.reps, "barriers": res.barriers,
           "n_success": res.n_success, "energies": res.energies}
    out["M"] = ad_barrier_matrix(be, res.reps, res.rep_energies, [1.35, 2.0, 5.0], executor=ex)
    out["tune"] = basins_vs_alpha(be, [0.5, 1.35, 5.0], n_iter=10, executor=ex)
    out["drift"] = energy_drift(model, res.reps[:3], [0.1, 0.5], 20, np.random.default_rng(1),
                                executor=ex)
    # 8 alphas per batch (the answer comes in the second batch)
    b = metastable_boundary(be, res.reps[:1], -res.reps[:1], alpha_start=20.0, n_trials=6,
                            factor=0.9, executor=ex, alphas_per_batch=8)
    out.update(boundary=b.alpha, boundary_barrier=b.barrier, boundary_rates=b.success_rate)
    # the torch path: a toy energy, per-trial alphas in one tensor per task, traces padded
    cb = ContinuousBackend(ToyLandscape1D(), _toy_propose, temperature=0.01, alpha=40.0,
                           eps=0.015, generator=torch.Generator().manual_seed(0),
                           improvement_limit=30, max_steps=400, chunk_size=3)
    s = torch.full((7, 1), 10.0, dtype=torch.float64)
    t = torch.full((7, 1), 9.0, dtype=torch.float64)
    r = cb.ad(s, t, alpha=np.array([40.0, 20.0, 40.0, 5.0, 20.0, 40.0, 40.0]), record=True,
              executor=ex)
    out.update(c_success=r.success, c_barrier=r.barrier, c_steps=r.steps,
               c_path=r.path_energy, c_final=r.final.numpy())
    # the Ch5 experiment, shrunk: every number it reports, its tuning curves and barriers
    from ebmbook.experiments import sk_spin_glass as sk
    cfg = sk.Config.for_size("ci", n_spins=24, adelm_iter=40, tune_iter=8,
                             tune_alphas=(0.5, 1.35, 5.0), drift_modes=3, drift_sweeps=20,
                             gwl_iter=50_000, n_lowest=30, e_min=-0.9, progress=False)
    ch5 = sk._run(cfg, ex)
    out.update({f"ch5_{k}": v for k, v in ch5.metrics().items() if k != "adelm_it_per_s"})  # not timings
    out.update(ch5_drift=ch5.drift, ch5_tune=ch5.tune_counts, ch5_M=ch5.adelm_barriers,
               ch5_mirror_barrier=ch5.mirror_path.get("barrier", np.nan))
    return out


@pytest.fixture(scope="module")
def inline_map():
    return _map_everything(None)


def _assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k]), equal_nan=True), k


def test_inline_map_is_reproducible_and_nontrivial(inline_map):
    assert len(np.unique(inline_map["labels"])) >= 2
    assert np.isfinite(inline_map["M"]).any() and inline_map["boundary"] > 0
    assert inline_map["c_success"].any() and inline_map["c_path"].shape[0] == 7
    with get_executor("inline") as ex:
        _assert_same(inline_map, _map_everything(ex))


def test_same_seed_same_map_on_a_process_pool(inline_map):
    with get_executor("process:2") as ex:
        assert isinstance(ex, cf.ProcessPoolExecutor)
        _assert_same(inline_map, _map_everything(ex))


def test_same_seed_same_map_on_a_dask_local_cluster(inline_map):
    distributed = pytest.importorskip("distributed")
    with get_executor("dask:2") as ex:
        assert isinstance(ex, cf.Executor)
        _assert_same(inline_map, _map_everything(ex))
    # a Client passed in is used as is (its concurrent.futures view) and left open
    with distributed.Client(n_workers=1, threads_per_worker=1, processes=False,
                            dashboard_address=None) as client:
        with get_executor(client) as ex:
            assert map_tasks(ex, divmod, [(7, 2), (9, 4)]) == [(3, 1), (2, 1)]
        assert client.status == "running"


@pytest.mark.parametrize("spec", ["threads", "process:0", "process:two", "dask:many", "",
                                  "inline:2", 3, 2.5])
def test_bad_executor_specs_name_the_accepted_forms(spec):
    with pytest.raises(ValueError, match="accepted forms") as err:
        validate_executor_spec(spec)
    for form in ("'inline'", "'process:N'", "'dask:N'", "'dask:tcp://host:8786'"):
        assert form in str(err.value)
    with pytest.raises(ValueError, match="accepted forms"):
        with get_executor(spec):
            pass


def test_good_executor_specs_validate_without_starting_anything():
    for spec in (None, "inline", "process", "process:3", "dask", "dask:2",
                 "dask:tcp://10.0.0.1:8786", "dask:tls://scheduler:8786", InlineExecutor()):
        validate_executor_spec(spec)


def test_sk_config_validates_its_executor():
    from ebmbook.experiments.sk_spin_glass import Config
    assert Config.for_size("ci", executor="dask:2").executor == "dask:2"
    with pytest.raises(ValueError, match="executor"):
        Config.for_size("ci", executor="gpu")
    with pytest.raises(ValueError, match="executor"):
        Config.for_size("ci", executor=2)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ImportError, match=r'pip install "ebmbook\[dask\]"'):
        with get_executor("dask:1"):
            pass


def _slow_square(i, n):
    time.sleep(0.02 * (n - i))  # later tasks finish first
    return i * i


def test_map_tasks_keeps_task_order_and_raises_the_first_error():
    tasks = [(i, 6) for i in range(6)]
    with cf.ThreadPoolExecutor(3) as pool:
        assert map_tasks(pool, _slow_square, tasks) == [i * i for i in range(6)]
    assert map_tasks(None, _slow_square, tasks) == [i * i for i in range(6)]
    assert map_tasks("inline", divmod, []) == []
    with pytest.raises(ZeroDivisionError):
        map_tasks(None, divmod, [(1, 1), (1, 0), (2, 1)])


def test_map_tasks_reports_each_finished_task_in_order_as_it_comes():
    """on_result sees every successful task in task order; in-process, each right after it
    runs (before the next task starts), so partial work can be saved as it is made."""
    tasks = [(i, 6) for i in range(6)]
    with cf.ThreadPoolExecutor(3) as pool:
        seen = []
        map_tasks(pool, _slow_square, tasks, on_result=lambda i, r: seen.append((i, r)))
        assert seen == [(i, i * i) for i in range(6)]
    log = []
    map_tasks(None, lambda i: log.append(("ran", i)) or i, [(0,), (1,)],
              on_result=lambda i, r: log.append(("seen", i)))
    assert log == [("ran", 0), ("seen", 0), ("ran", 1), ("seen", 1)]
    seen = []
    with pytest.raises(ZeroDivisionError):
        map_tasks(None, divmod, [(1, 1), (1, 0), (2, 1)], on_result=lambda i, r: seen.append(i))
    assert seen == [0, 2]


def test_inline_executor_runs_at_submit_and_keeps_exceptions_in_the_future():
    ex = InlineExecutor()
    calls = []
    fut = ex.submit(calls.append, 1)
    assert calls == [1] and fut.done()
    bad = ex.submit(divmod, 1, 0)
    assert isinstance(bad.exception(), ZeroDivisionError)
    ex.shutdown()
    with pytest.raises(RuntimeError):
        ex.submit(divmod, 1, 1)


def test_seeds_are_split_by_key_like_spawn():
    root = np.random.SeedSequence(5)
    kids = np.random.SeedSequence(5).spawn(3)
    for k in range(3):
        assert np.array_equal(child(root, k).generate_state(4), kids[k].generate_state(4))
    assert np.array_equal(child(child(root, 1), 2).generate_state(4),
                          child(root, 1, 2).generate_state(4))
    # a generator gives one draw: reproducible, and different on the next call
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    a, b = seed_sequence(g1), seed_sequence(g2)
    assert a.entropy == b.entropy and seed_sequence(g1).entropy != a.entropy
    t1 = seed_sequence(torch.Generator().manual_seed(3))
    assert t1.entropy == seed_sequence(torch.Generator().manual_seed(3)).entropy


def test_chunking_cuts_tasks_but_the_backend_rng_is_not_touched_with_an_explicit_seed():
    model = SKModel.from_seed(20, 2)
    rng = np.random.default_rng(0)
    be = SpinBackend(model, temperature=0.1, alpha=1.35, rng=rng, chunk_size=4)
    y, _ = be.local_modes(be.propose(10))
    state = rng.bit_generator.state
    r1 = be.ad(y, -y, seed=7)
    assert rng.bit_generator.state == state
    r2 = be.ad(y, -y, seed=7, executor="inline")
    assert np.array_equal(r1.barrier, r2.barrier) and np.array_equal(r1.steps, r2.steps)
    # chunk 1 (trials 4-7) is one task: one batch drawing from child(seed, 1)
    plain = be.detached()
    assert plain.rng is None and be.rng is rng
    part = plain.ad_task_fn(*plain.ad_task(y[4:8], -y[4:8], 1.35,
                                           child(np.random.SeedSequence(7), 1), False))
    assert np.array_equal(part.steps, r1.steps[4:8])
    assert np.array_equal(part.barrier, r1.barrier[4:8])


def test_an_unreachable_scheduler_is_one_error_line_within_the_connect_timeout(monkeypatch,
                                                                                capsys):
    pytest.importorskip("distributed")
    import socket
    import time

    from ebmbook import parallel
    from ebmbook.cli import main
    with socket.socket() as s:                  # a loopback port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 2.0)
    t0 = time.perf_counter()
    assert main(["run", "sk_spin_glass", "--executor", f"dask:tcp://127.0.0.1:{port}"]) == 2
    assert time.perf_counter() - t0 < 20
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith(f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} "
                             "within 2 s")
    assert "'dask:N'" in err[0]
