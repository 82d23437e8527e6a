"""The yardstick of issue 23 (long runs in the data's spread, oversaturated minima below it):
hand-computed metrics, and an unfinished run evaluated from its checkpoint equals the finished
run of the same length."""

import numpy as np
import pytest
import torch

from ebmbook import artifacts, registry
from ebmbook.experiments import thesis_regime
from ebmbook.experiments.thesis_regime import Config, Result


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    for mod in (artifacts, registry):
        monkeypatch.setattr(mod, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(artifacts, "project_root", lambda: tmp_path)
    return tmp_path


def test_metrics_are_z_scores_against_the_data_and_saturation_excesses():
    class Art:
        spec = registry.model_spec("fmnist_convergent28", "ci")
        manifest = {"steps_done": 30}

    data = torch.zeros(2, 1, 2, 2)
    data[0, 0, 0, 0] = 1.0                                   # data: 1 of 8 pixels saturated
    descent = torch.ones(2, 1, 2, 2)                          # all saturated
    longrun = torch.full((2, 1, 2, 2), 0.5)                   # none
    res = Result(config=Config(), artifact=Art(), data=data,
                 data_energy=np.array([1.0, 3.0]),            # mean 2, sd 1
                 longrun=longrun, longrun_energy=np.array([2.5, 3.5]),
                 descent=descent, descent_energy=np.array([-4.0, -6.0]), seconds={})
    m = res.metrics()
    assert m["conv_longrun_z"] == pytest.approx(1.0)
    assert m["conv_descent_z"] == pytest.approx(-7.0)
    assert m["conv_descent_saturation_excess"] == pytest.approx(1 - 1 / 8)
    assert m["conv_longrun_saturation_excess"] == pytest.approx(-1 / 8)
    assert m["conv_model_image_size"] == 8 and m["conv_train_updates"] == 30


def test_a_checkpointed_run_is_evaluated_as_the_finished_run_of_its_length(isolated):
    spec = registry.model_spec("fmnist_convergent28", "ci")
    ckpt = isolated / "ck"
    assert artifacts.train_artifact("fmnist_convergent28", spec, isolated / "long",
                                    progress=False, stop_after=20, checkpoint_dir=ckpt) is None
    cfg = Config.for_size("ci", checkpoint=str(ckpt))
    partial = thesis_regime.run(cfg, progress=False)
    assert partial.artifact.manifest["steps_done"] == 20
    artifacts.train_artifact("fmnist_convergent28", spec.with_steps(20), isolated / "short",
                             progress=False, checkpoint_dir=isolated / "ck2")
    short = artifacts.load_artifact(isolated / "short", spec.with_steps(20))
    for k, v in short.net.state_dict().items():
        assert torch.equal(v, partial.artifact.net.state_dict()[k])
    # gamma = 0 is a descent: every chain ends below where it started
    start = partial.artifact.model.energies(partial.data).numpy()
    assert (partial.descent_energy < start).all()


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
