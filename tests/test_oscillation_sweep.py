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


def test_only_the_ci_config_lives_in_the_committed_folder():
    assert osw.directory(osw.Config()) == registry.committed_root() / "oscillation_sweep"
    assert osw.directory(osw.Config(n_steps=3000)).parent == registry.cache_root()
    with pytest.raises(ValueError, match="acf_steps"):
        osw.Config(n_steps=10, acf_steps=20)


def test_the_committed_sweep_matches_the_ci_config():
    r = osw.load(osw.Config())
    assert r is not None, ("artifacts/oscillation_sweep/sweep.json is missing or was made with "
                           "another config: rebuild it with `ebmbook run oscillation_sweep`")
    assert [x.setting for x in r.runs] == [s for s, _ in osw.SETTINGS]
    assert r.manifest["wall_time_s"] > 0 and r.manifest["git_commit"]
