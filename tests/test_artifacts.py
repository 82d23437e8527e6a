"""Artifacts: the `ebmbook train` path (checkpointed, resumable bit for bit), the manifest, loading
by spec hash, and every committed artifact re-measured against the metric its manifest quotes."""

import json
from pathlib import Path

import pytest
import torch

from ebmbook import artifacts
from ebmbook.artifacts import (ImageModelSpec, data_energy_stats, load_artifact, load_or_train,
                               spec_hash)
from ebmbook.cli import main
from ebmbook.experiments.image_learning import MODELS, model_spec
from ebmbook.learning.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def _train(tmp, tag, *extra):
    out, ckpt = tmp / tag, tmp / f"{tag}-ckpt"
    rc = main(["train", "fmnist_convergent", "--size", "ci", "--out", str(out),
               "--checkpoint-dir", str(ckpt), "--quiet", *extra])
    assert rc == 0
    return out


def test_train_command_resumes_bit_identically_and_writes_a_manifest(tmp_path, capsys):
    full = _train(tmp_path, "full")
    part = _train(tmp_path, "part", "--stop-after", "13")
    assert "stopped after 13 steps" in capsys.readouterr().out
    assert not (part / "manifest.json").exists()        # nothing saved by an interrupted run
    part = _train(tmp_path, "part")                       # resume from the checkpoint
    w_full = torch.load(full / "weights.pt", weights_only=True)
    w_part = torch.load(part / "weights.pt", weights_only=True)
    assert w_full.keys() == w_part.keys()
    assert all(torch.equal(w_full[k], w_part[k]) for k in w_full)
    ext_full = torch.load(full / "extras.pt", weights_only=True)
    ext_part = torch.load(part / "extras.pt", weights_only=True)
    assert torch.equal(ext_full["bank"], ext_part["bank"])
    assert ext_full["snapshot_steps"].tolist() == [10, 20, 30]

    m = json.loads((full / "manifest.json").read_text())
    spec = model_spec("fmnist_convergent", "ci")
    assert m["spec_hash"] == spec_hash(spec)
    assert m["command"] == "ebmbook train fmnist_convergent --size ci"
    assert m["steps_done"] == spec.train.n_steps and m["seed"] == spec.train.seed
    for key in ("git_commit", "wall_time_s", "machine", "created", "spec"):
        assert key in m
    assert m["metrics"] == json.loads((part / "manifest.json").read_text())["metrics"]

    art = load_artifact(full, spec)
    assert art is not None and art.log.d_st.shape == (spec.train.n_steps,)
    again = data_energy_stats(art.energy, spec)
    assert again["data_energy_mean"] == pytest.approx(m["metrics"]["data_energy_mean"], rel=1e-6)


def test_an_artifact_of_another_spec_is_not_loaded_and_load_or_train_trains(tmp_path, monkeypatch):
    spec = model_spec("fmnist_nonconvergent", "ci")
    out = tmp_path / "nc"
    artifacts.train_artifact("fmnist_nonconvergent", spec, out, progress=False,
                             checkpoint_dir=tmp_path / "ck")
    other = spec.with_steps(spec.train.n_steps + 1)
    assert spec_hash(other) != spec_hash(spec)
    assert load_artifact(out, other) is None
    assert load_artifact(tmp_path / "missing", spec) is None

    monkeypatch.setattr(artifacts, "artifacts_root", lambda: tmp_path / "committed")
    monkeypatch.setattr(artifacts, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(artifacts, "project_root", lambda: tmp_path)
    art = load_or_train("fmnist_nonconvergent", spec.with_steps(5), progress=False)
    assert art.directory == tmp_path / "cache" / f"fmnist_nonconvergent-{spec_hash(spec.with_steps(5))}"
    assert art.manifest["steps_done"] == 5


def test_an_incomplete_artifact_folder_is_not_loaded(tmp_path):
    spec = model_spec("fmnist_nonconvergent", "ci")
    out = tmp_path / "nc"
    artifacts.train_artifact("fmnist_nonconvergent", spec, out, progress=False,
                             checkpoint_dir=tmp_path / "ck")
    (out / "manifest.json").unlink()
    assert load_artifact(out, spec) is None


@pytest.mark.parametrize("field,value", [("image_size", 2), ("width", 0), ("dataset", "cifar"),
                                         ("snapshot_every", -1)])
def test_bad_spec_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ImageModelSpec(**{field: value})


def test_a_net_too_deep_for_the_image_is_refused():
    with pytest.raises(ValueError, match="image_size"):
        ImageModelSpec(image_size=4, n_down=4, train=TrainConfig())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_artifact_matches_its_manifest(name):
    spec = model_spec(name, "cpu")
    d = ROOT / "artifacts" / name
    art = load_artifact(d, spec, name=name)
    assert art is not None, (f"artifacts/{name} is missing or its spec hash differs from "
                             f"model_spec({name!r}, 'cpu'); rebuild it with "
                             f"`ebmbook train {name} --size cpu`")
    assert art.manifest["command"].startswith(f"ebmbook train {name}")
    quoted = art.metrics
    fresh = data_energy_stats(art.energy, spec)
    assert fresh["data_energy_mean"] == pytest.approx(quoted["data_energy_mean"], rel=1e-4)
    assert fresh["data_energy_sd"] == pytest.approx(quoted["data_energy_sd"], rel=1e-3)


def test_an_unfinished_run_saved_from_its_checkpoint_equals_the_shorter_run(tmp_path):
    spec = model_spec("fmnist_convergent", "ci")
    assert artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "long", progress=False,
                                    stop_after=20, checkpoint_dir=tmp_path / "ck") is None
    cut = artifacts.artifact_from_checkpoint("fmnist_convergent", spec, tmp_path / "cut",
                                             size="ci", checkpoint_dir=tmp_path / "ck")
    short = artifacts.train_artifact("fmnist_convergent", spec.with_steps(20), tmp_path / "short",
                                     progress=False, checkpoint_dir=tmp_path / "ck2")
    assert cut.manifest["spec_hash"] == short.manifest["spec_hash"]
    assert cut.manifest["command"] == "ebmbook train fmnist_convergent --size ci --steps 20"
    for k, v in short.net.state_dict().items():
        assert torch.equal(v, cut.net.state_dict()[k])
    assert torch.equal(cut.extras["bank"], short.extras["bank"])
    assert cut.extras["snapshot_steps"].tolist() == [10, 20]
    assert cut.metrics == short.metrics
