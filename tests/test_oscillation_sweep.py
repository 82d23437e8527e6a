"""The image oscillation sweep (ebmbook.experiments.oscillation_sweep): one run per setting,
the lag-1 ACF of each, and the sweep kept as an artifact that is loaded only for its own config."""

import json

import numpy as np
import pytest

from ebmbook import registry
from ebmbook.experiments import oscillation_sweep as osw

TINY = dict(n_steps=30, acf_steps=20, n_per_class=20, settings=(
    ("base", {}), ("Adam 1e-3", {"adam_lr": 1e-3})), progress=False)


@pytest.fixture
def roots(tmp_path, monkeypatch):
    from ebmbook.experiments import _tables
    monkeypatch.setattr(_tables, "committed_root", lambda: tmp_path / "committed")
    monkeypatch.setattr(_tables, "cache_root", lambda: tmp_path / "cache")
    return tmp_path


def test_a_sweep_runs_each_setting_saves_itself_and_is_loaded_back(roots, monkeypatch):
    c = osw.Config(**TINY)
    r = osw.run(c)
    assert [x.setting for x in r.runs] == ["base", "Adam 1e-3"]
    for x in r.runs:
        assert len(x.d_st) == 20 and -1.0 <= x.acf1_d <= 1.0
        # the reported ACF is the uncentred lag-1 autocorrelation of the kept trace
        d = np.asarray(x.d_st)
        assert x.acf1_d == pytest.approx(float(d[:-1] @ d[1:] / (d @ d)))
    f = osw.directory(c) / osw.FILE
    assert f.parent.parent == roots / "cache"          # not the ci config: the cache
    saved = json.loads(f.read_text())
    assert saved["manifest"]["config_key"] == c.key()
    assert saved["manifest"]["command"] == "ebmbook run oscillation_sweep --size ci"
    # a second run loads the file instead of training
    monkeypatch.setattr(osw, "one_run", lambda *a, **k: pytest.fail("retrained"))
    again = osw.run(c)
    assert [x.acf1_d for x in again.runs] == [x.acf1_d for x in r.runs]
    # another config does not load it
    assert osw.load(osw.Config(**{**TINY, "n_steps": 31})) is None


def test_the_best_run_is_the_most_negative_and_nan_never_wins():
    runs = [osw.Run("a", 0.2, 0.0, None, [], []), osw.Run("b", -0.3, 0.0, None, [], []),
            osw.Run("c", float("nan"), 0.0, 5, [], [])]
    r = osw.Result(config=osw.Config(), runs=runs, manifest={})
    assert r.best().setting == "b"
    m = r.metrics()
    assert m["acf1_d_adam_best"] == -0.3 and np.isnan(m["acf1_d_sweep_2"])


def test_an_interrupted_sweep_resumes_after_its_last_finished_run(roots, monkeypatch):
    c = osw.Config(**{**TINY, "settings": TINY["settings"] + (("L = 5", {"n_langevin": 5}),)})
    real, calls = osw.one_run, []

    def crash_on_third(spec, acf_steps, setting, progress):
        calls.append(setting)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(spec, acf_steps, setting, progress)

    monkeypatch.setattr(osw, "one_run", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        osw.run(c)
    assert osw.load(c) is None                       # no table until every run is done
    partial = osw.directory(c) / "sweep.partial.json"
    assert [r["setting"] for r in json.loads(partial.read_text())["rows"]] == ["base",
                                                                              "Adam 1e-3"]
    monkeypatch.setattr(osw, "one_run", lambda *a: calls.append(a[2]) or real(*a))
    r = osw.run(c)
    assert calls[3:] == ["L = 5"]                    # only the unfinished run is trained
    assert [x.setting for x in r.runs] == ["base", "Adam 1e-3", "L = 5"]
    assert not partial.exists() and osw.load(c) is not None
    # the finished runs are the ones an uninterrupted sweep gives (same seed, same numbers)
    fresh = [real(c.spec(dict(o)), c.acf_steps, n, False) for n, o in c.settings[:2]]
    assert [x.acf1_d for x in r.runs[:2]] == pytest.approx([x.acf1_d for x in fresh])


def test_each_sizes_default_config_lives_in_its_own_committed_folder():
    assert osw.directory(osw.Config()) == registry.committed_root() / "oscillation_sweep"
    assert (osw.directory(osw.Config.for_size("cpu"))
            == registry.committed_root() / "oscillation_sweep-cpu")
    assert osw.directory(osw.Config(n_steps=3000)).parent == registry.cache_root()
    assert osw.directory(osw.Config.for_size("cpu", seed=1)).parent == registry.cache_root()
    with pytest.raises(ValueError, match="acf_steps"):
        osw.Config(n_steps=10, acf_steps=20)


def test_the_committed_sweep_matches_the_ci_config():
    r = osw.load(osw.Config())
    assert r is not None, ("artifacts/oscillation_sweep/sweep.json is missing or was made with "
                           "another config: rebuild it with `ebmbook run oscillation_sweep`")
    assert [x.setting for x in r.runs] == [s for s, _ in osw.SETTINGS]
    assert r.manifest["wall_time_s"] > 0 and r.manifest["git_commit"]


def test_run_size_cpu_exists_only_where_an_experiment_defines_it(capsys):
    from ebmbook.cli import main
    assert main(["run", "toy_densities", "--size", "cpu"]) == 2
    assert "has the sizes ci, paper" in capsys.readouterr().err
    assert osw.Config.for_size("cpu").image_size == 16


def test_a_diverged_run_keeps_its_run_up_to_the_divergence():
    c = osw.Config(n_steps=60, acf_steps=20, n_per_class=20, progress=False)
    r = osw.one_run(c.spec({"adam_lr": 0.3}), c.acf_steps, "explodes", False)
    assert r.diverged_at is not None and np.isnan(r.acf1_d) and r.d_st == []
    pre = np.asarray(r.d_st_pre)
    assert len(pre) == min(r.diverged_at, osw.PRE_STEPS) and np.isfinite(pre).all()
    assert r.acf1_d_pre == pytest.approx(float(pre[:-1] @ pre[1:] / (pre @ pre)))
    # oracle: the same run stopped just before that step, with no divergence check, logs the
    # same d_st (same seed, same updates)
    t = r.diverged_at
    from ebmbook.learning.trainer import train
    spec = c.spec({"adam_lr": 0.3, "n_steps": t, "divergence_threshold": 1e300})
    log = train(spec.build_net(), spec.load_data("train"), spec.train, progress=False).log
    assert np.asarray(log.d_st)[-len(pre):] == pytest.approx(pre)
    # a run that does not diverge keeps none
    ok = osw.one_run(c.spec({}), c.acf_steps, "base", False)
    assert ok.diverged_at is None and ok.acf1_d_pre is None and ok.d_st_pre is None


def test_the_committed_cpu_sweep_matches_the_cpu_config():
    c = osw.Config.for_size("cpu")
    r = osw.load(c)
    assert r is not None, ("artifacts/oscillation_sweep-cpu/sweep.json is missing or was made "
                           "with another config: rebuild it with "
                           "`ebmbook run oscillation_sweep --size cpu` (about an hour)")
    assert [x.setting for x in r.runs] == [s for s, _ in osw.SETTINGS_CPU]
    for x in r.runs:      # every diverged run carries its run-up, every finished one its ACF
        assert (x.diverged_at is None) == np.isfinite(x.acf1_d) == (x.d_st_pre is None)
    assert not (osw.directory(c) / "sweep.partial.json").exists()


def test_the_manifest_names_the_code_that_started_the_run(roots, monkeypatch):
    from ebmbook.experiments import _tables
    versions = iter(["abc123 (at the start)", "def456 (checked out later)"])
    monkeypatch.setattr(_tables, "code_version", lambda: next(versions))
    c = osw.Config(**{**TINY, "settings": TINY["settings"][:1]})
    assert osw.run(c).manifest["git_commit"] == "abc123 (at the start)"
