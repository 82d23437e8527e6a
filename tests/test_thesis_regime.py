"""The yardstick of issue 23 (long runs in the data's spread, oversaturated minima below it,
Fig 3.8 with both noise conventions): hand-computed metrics, a saved table that loads as the same
result, and an unfinished run evaluated from its checkpoint equals the finished
run of the same length."""

import dataclasses

import numpy as np
import pytest
import torch

from ebmbook import artifacts, registry
from ebmbook.experiments import _tables, thesis_regime
from ebmbook.experiments.thesis_regime import Config, Result


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    for mod in (artifacts, registry, _tables):
        monkeypatch.setattr(mod, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(_tables, "committed_root", lambda: tmp_path / "committed")
    monkeypatch.setattr(artifacts, "project_root", lambda: tmp_path)
    return tmp_path


def _runs(name="fmnist_convergent28", image_size=28):
    data = np.zeros((2, 1, 2, 2))
    data[0, 0, 0, 0] = 1.0                                   # data: 1 of 8 pixels saturated
    nan = np.array([1.0, np.nan])
    return thesis_regime.ModelRuns(
        name=name, image_size=image_size, steps_done=30, data=data,
        data_energy=np.array([1.0, 3.0]),                    # mean 2, sd 1
        data_saturation=0.125, longrun=np.full((2, 1, 2, 2), 0.5),   # none saturated
        longrun_energy=np.array([2.5, 3.5]), descent=np.ones((2, 1, 2, 2)),  # all saturated
        descent_energy=np.array([-4.0, -6.0]), curve_steps=np.array([10, 20]),
        longrun_curve_z=nan, descent_curve_z=np.array([-3.0, -7.0]),
        longrun_curve_saturation=nan, descent_curve_saturation=np.array([0.5, 1.0]))


def hand_made_result() -> Result:
    """A Result with known answers (also the cheap Result of tests/test_results_book.py)."""
    chaos = thesis_regime.Chaos(
        gammas=np.array([0.0, 1.0, 2.0]), delta0s=np.array([0.1]),
        maps={"shared": np.array([[-1.0, -0.5, 1.0]]),          # crosses at 1 + 0.5 / 1.5
              "independent": np.array([[-1.0, 1.0, 2.0]])},     # crosses at 0.5
        frame_gammas=np.array([0.0, 1.0, 2.0]), frames=np.zeros((3, 1, 1, 2, 2)),
        frame_z=np.zeros((3, 1)), frame_saturation=np.array([0.5, 0.25, 0.0]))
    return Result(config=Config(), main=_runs(), others=[_runs("other", 16)], chaos=chaos)


def test_metrics_are_z_scores_against_the_data_and_saturation_excesses():
    m = hand_made_result().metrics()
    assert m["conv_longrun_z"] == pytest.approx(1.0)
    assert m["conv_descent_z"] == pytest.approx(-7.0)
    assert m["conv_descent_saturation_excess"] == pytest.approx(1 - 1 / 8)
    assert m["conv_longrun_saturation_excess"] == pytest.approx(-1 / 8)
    assert m["conv_model_image_size"] == 28 and m["conv_train_updates"] == 30
    assert m["conv_descent_z_other"] == pytest.approx(-7.0)
    assert m["lyapunov_zero_gamma_shared"] == pytest.approx(4 / 3)
    assert m["lyapunov_zero_gamma_independent"] == pytest.approx(0.5)


def test_sign_changes_find_every_crossing_and_its_direction():
    chaos = hand_made_result().chaos
    assert chaos.sign_changes("shared") == [(pytest.approx(4 / 3), "+")]
    chaos.maps["shared"] = np.array([[3.0, 1.0, -1.0]])         # positive, then negative at 1.5
    assert chaos.sign_changes("shared") == [(pytest.approx(1.5), "-")]
    assert chaos.zero_gamma("shared") == 0.0                      # "positive from the start"
    chaos.maps["shared"] = np.array([[-1.0, -2.0, -0.5]])
    assert chaos.sign_changes("shared") == []


def test_a_saved_table_loads_as_the_same_result_and_other_configs_do_not_load_it(isolated):
    cfg = Config(model_size="ci", compare=("fmnist_convergent28",), n_chains=3,
                 longrun_steps=6, descent_steps=10, record_every=4, n_data=40, lyap_chains=2,
                 lyap_steps=4, frame_chains=2, frame_steps=3, delta0s=(0.1,),
                 gammas=(0.0, 1.0), progress=False)
    res = thesis_regime.run(cfg)
    assert res.manifest["config_key"]
    np.testing.assert_array_equal(res.main.curve_steps, [4, 8, 10])
    assert np.isnan(res.main.longrun_curve_z[-1])          # the long run stopped at step 8
    back = thesis_regime.load(cfg)
    m, mb = res.metrics(), back.metrics()
    assert set(m) == set(mb)
    for k in m:
        assert mb[k] == pytest.approx(m[k], abs=1e-4, nan_ok=True), k
    np.testing.assert_allclose(back.chaos.frames, res.chaos.frames, atol=1e-5)
    assert thesis_regime.load(dataclasses.replace(cfg, descent_steps=11)) is None


def test_a_checkpointed_run_is_evaluated_as_the_finished_run_of_its_length(isolated):
    spec = registry.model_spec("fmnist_convergent28", "ci")
    ckpt = isolated / "ck"
    assert artifacts.train_artifact("fmnist_convergent28", spec, isolated / "long",
                                    progress=False, stop_after=20, checkpoint_dir=ckpt) is None
    cfg = Config(model_size="ci", compare=(), n_chains=8, longrun_steps=20, descent_steps=40,
                 record_every=20, n_data=100, lyap_chains=2, lyap_steps=4, frame_chains=2,
                 frame_steps=2, delta0s=(0.1,), checkpoint=str(ckpt), progress=False)
    partial = thesis_regime.run(cfg)
    assert partial.main.steps_done == 20
    assert thesis_regime.load(cfg) is None                    # a checkpoint is never saved
    artifacts.train_artifact("fmnist_convergent28", spec.with_steps(20), isolated / "short",
                             progress=False, checkpoint_dir=isolated / "ck2")
    short = artifacts.load_artifact(isolated / "short", spec.with_steps(20))
    for k, v in short.net.state_dict().items():
        assert torch.equal(v, partial.artifact.net.state_dict()[k])
    # gamma = 0 is a descent: every chain ends below where it started
    start = partial.artifact.model.energies(torch.as_tensor(partial.main.data)).numpy()
    assert (partial.main.descent_energy < start).all()


def test_a_model_still_in_training_is_not_retrained_by_accident(tmp_path, monkeypatch, capsys):
    # a 5-hour run must not start because a page asked for an unfinished model
    from ebmbook import store
    from ebmbook.cli import main
    folder = tmp_path / "artifacts" / "fmnist_convergent28"
    spec = registry.model_spec("fmnist_convergent28", "cpu")
    store.write_partial(folder, spec, name="fmnist_convergent28", steps_done=500,
                        n_steps=12000, checkpoint=folder / "partial" / "checkpoint.pt",
                        resume_command="ebmbook train fmnist_convergent28 --size cpu "
                                       "--checkpoint-dir artifacts/fmnist_convergent28/partial")
    monkeypatch.setattr(artifacts, "artifacts_root", lambda: tmp_path / "artifacts")
    monkeypatch.setattr(artifacts, "train_artifact", lambda *a, **k: pytest.fail("trained"))
    assert main(["run", "thesis_regime", "--size", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "still in training (partial, 500 of 12000 updates)" in err
    assert "--checkpoint" in err and "resume it with" in err
    # with neither a finished artifact nor a run in training, the error names the command that
    # trains it (the committed size is never trained by a page)
    import shutil
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match="train it with `ebmbook train fmnist_convergent28"):
        thesis_regime.load_model(Config.for_size("ci"))
