"""Artifacts: the `ebmbook train` path (checkpointed, resumable bit for bit), the manifest, loading
by spec hash, the generic store (atomic, manifest last, one clear error per damaged file), and
every committed artifact re-measured against the metric its manifest quotes."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ebmbook import artifacts, registry, store
from ebmbook.artifacts import data_energy_stats, load_artifact, load_or_train
from ebmbook.cli import main
from ebmbook.learning.trainer import TrainConfig
from ebmbook.models import ImageModelSpec, spec_hash
from ebmbook.registry import MODELS, model_spec
from ebmbook.store import ArtifactError

ROOT = Path(__file__).resolve().parents[1]
#: registered models whose committed run is still in training: they hold partial.json and a
#: checkpoint instead of a finished artifact (tested by test_a_committed_partial_run_resumes)
PARTIAL = sorted(n for n in MODELS if (ROOT / "artifacts" / n / store.PARTIAL).exists()
                 and not (ROOT / "artifacts" / n / store.MANIFEST).exists())
FINISHED = sorted(set(MODELS) - set(PARTIAL))


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
    h5 = spec_hash(spec.with_steps(5))
    assert art.directory == tmp_path / "cache" / f"fmnist_nonconvergent-{h5}"
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


@pytest.mark.parametrize("name", FINISHED)
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


# ----------------------------------------------------------------------------- specs and registry


@pytest.mark.parametrize("name", PARTIAL)
def test_a_committed_partial_run_resumes_from_its_checkpoint(name):
    # "partial, N of M updates": the checkpoint beside the record is that far into this very
    # spec's run (same training-config hash), and the recorded command resumes it
    from ebmbook._config import config_hash
    from ebmbook.learning.fit import read_checkpoint
    record = store.read_partial(ROOT / "artifacts" / name)
    spec = model_spec(name, "cpu")
    assert record["spec_hash"] == spec_hash(spec)
    assert record["status"] == f"partial, {record['steps_done']} of {spec.train.n_steps} updates"
    ckpt = read_checkpoint(ROOT / record["checkpoint"])
    assert ckpt["config_hash"] == config_hash(spec.train)
    assert int(ckpt["step"]) == record["steps_done"] < spec.train.n_steps
    assert np.isfinite(np.asarray(ckpt["log"]["d_st"])[: record["steps_done"]]).all()
    assert record["resume_command"] == (f"{registry.rebuild_command(name, 'cpu')} "
                                        f"--checkpoint-dir {Path(record['checkpoint']).parent}")


def test_every_registered_model_is_committed_finished_or_partial():
    for name in MODELS:
        d = ROOT / "artifacts" / name
        assert (d / store.MANIFEST).exists() or (d / store.PARTIAL).exists(), name


@pytest.mark.parametrize("name", FINISHED)
def test_the_registry_spec_hashes_to_the_committed_manifest(name):
    # the hash covers the class name and every field: moving or renaming them orphans artifacts
    manifest = json.loads((ROOT / "artifacts" / name / "manifest.json").read_text())
    assert spec_hash(model_spec(name, "cpu")) == manifest["spec_hash"]
    assert manifest["command"] == registry.rebuild_command(name, "cpu")


def test_only_the_committed_spec_defaults_to_the_committed_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "committed_root", lambda: tmp_path / "committed")
    monkeypatch.setattr(registry, "cache_root", lambda: tmp_path / "cache")
    name = "fmnist_convergent"
    committed = tmp_path / "committed" / name
    assert registry.default_directory(name, model_spec(name, "cpu")) == committed
    for spec in (model_spec(name, "ci"), model_spec(name, "paper"), model_spec(name, "cpu", 10)):
        cached = tmp_path / "cache" / f"{name}-{spec_hash(spec)}"
        assert registry.default_directory(name, spec) == cached
    assert registry.identify(name, model_spec(name, "ci", 7)) == ("ci", 7)
    assert registry.identify(name, spec_hash(model_spec(name, "paper"))) == ("paper", None)
    assert registry.identify(name, dataclasses.replace(model_spec(name, "ci"), width=4)) is None


# ----------------------------------------------------------------------------- the generic store


@dataclasses.dataclass(frozen=True)
class ToySpec:
    a: int = 1
    b: float = 0.5


def _save_toy(d, spec=ToySpec(), extras=True):
    tensors = {"weights.pt": {"w": torch.arange(6.0).reshape(2, 3)}}
    if extras:
        tensors["extras.pt"] = {"snapshots": [{"w": torch.ones(2)}], "bank": torch.zeros(3, 1)}
    return store.save(d, spec, tensors=tensors, log={"x": np.arange(5.0), "wall_s": 1.5},
                      name="toy", seed=3, command="make toy", wall_s=1.5,
                      metrics={"m": 2.0}, info={"steps_done": 5})


def test_the_store_saves_any_spec_and_loads_it_only_by_its_hash(tmp_path):
    d = _save_toy(tmp_path / "toy")
    m = json.loads((d / "manifest.json").read_text())
    assert list(m) == ["name", "spec", "spec_hash", "seed", "steps_done", "git_commit", "command",
                       "wall_time_s", "machine", "created", "metrics", "files"]
    assert m["spec"] == {"a": 1, "b": 0.5} and m["spec_hash"] == store.spec_hash(ToySpec())
    assert m["files"] == ["extras.pt", "log.npz", "weights.pt", "manifest.json"]
    got = store.load(d, ToySpec())
    assert torch.equal(got.tensors["weights.pt"]["w"], torch.arange(6.0).reshape(2, 3))
    assert torch.equal(got.tensors["extras.pt"]["bank"], torch.zeros(3, 1))
    assert got.log["x"].tolist() == [0, 1, 2, 3, 4] and float(got.log["wall_s"]) == 1.5
    assert store.load(d, ToySpec(a=2)) is None                  # another spec: not this artifact
    assert store.load(tmp_path / "nothing", ToySpec()) is None
    assert not list(d.glob(".*.tmp"))                           # no temp file left behind


def test_a_new_save_removes_the_files_of_the_old_artifact_only(tmp_path):
    d = _save_toy(tmp_path / "toy")
    (d / "notes.txt").write_text("mine")
    _save_toy(d, ToySpec(a=2), extras=False)
    assert not (d / "extras.pt").exists() and (d / "notes.txt").read_text() == "mine"
    assert json.loads((d / "manifest.json").read_text())["files"] == \
        ["log.npz", "weights.pt", "manifest.json"]
    assert set(store.load(d, ToySpec(a=2)).tensors) == {"weights.pt"}


def test_an_interrupted_save_leaves_no_manifest(tmp_path, monkeypatch):
    d = _save_toy(tmp_path / "toy")
    real = torch.save

    def fail_on_extras(obj, f, *a, **k):
        if "extras" in str(f):
            raise OSError("disk full")
        return real(obj, f, *a, **k)
    monkeypatch.setattr(torch, "save", fail_on_extras)
    with pytest.raises(OSError, match="disk full"):
        _save_toy(d, ToySpec(a=2))
    assert not (d / "manifest.json").exists()                  # the old one is gone first
    assert store.load(d, ToySpec()) is None and store.load(d, ToySpec(a=2)) is None


# ----------------------------------------------------------------------------- damaged files


@pytest.fixture
def committed_copy(tmp_path):
    """A copy (outside git) of the committed convergent artifact: weights, extras, log, manifest."""
    d = tmp_path / "fmnist_convergent"
    shutil.copytree(ROOT / "artifacts" / "fmnist_convergent", d)
    return d


@pytest.mark.parametrize("fname", ["weights.pt", "extras.pt", "log.npz", "manifest.json"])
@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_a_truncated_artifact_file_gives_one_line_naming_it(committed_copy, fname, keep):
    f = committed_copy / fname
    f.write_bytes(f.read_bytes()[: int(f.stat().st_size * keep)])
    with pytest.raises(ArtifactError) as err:
        load_artifact(committed_copy, model_spec("fmnist_convergent", "cpu"))
    msg = str(err.value)
    assert "\n" not in msg and err.value.path == f
    assert f"fmnist_convergent/{fname} is truncated or corrupt" in msg
    if fname != "manifest.json":           # the manifest says how to rebuild it
        assert "rebuild it with `ebmbook train fmnist_convergent --size cpu`" in msg
    else:
        assert "rebuild it" in msg


def test_a_file_listed_in_the_manifest_but_missing_is_named(committed_copy):
    (committed_copy / "log.npz").unlink()
    with pytest.raises(ArtifactError, match=r"fmnist_convergent/log\.npz is missing"):
        load_artifact(committed_copy, model_spec("fmnist_convergent", "cpu"))


def test_weights_of_another_network_are_refused_by_name(committed_copy):
    nc = torch.load(ROOT / "artifacts" / "fmnist_nonconvergent" / "weights.pt", weights_only=True)
    torch.save({k: v[..., :1] for k, v in nc.items()}, committed_copy / "weights.pt")
    with pytest.raises(ArtifactError, match=r"weights\.pt does not fit the network"):
        load_artifact(committed_copy, model_spec("fmnist_convergent", "cpu"))


def test_a_damaged_committed_file_suggests_git_checkout(monkeypatch):
    # the real artifacts are only read: read_torch is made to fail as a truncated file would
    def broken(path, fix, **kw):
        raise ArtifactError(path, "is truncated or corrupt (test)", fix)
    monkeypatch.setattr(store, "read_torch", broken)
    with pytest.raises(ArtifactError) as err:
        load_artifact(ROOT / "artifacts" / "fmnist_nonconvergent",
                      model_spec("fmnist_nonconvergent", "cpu"))
    msg = str(err.value)
    assert "weights.pt is truncated or corrupt" in msg
    if store.restore_command(ROOT / "artifacts" / "fmnist_nonconvergent"):   # in a git checkout
        assert "git checkout -- " in msg and "artifacts/fmnist_nonconvergent`" in msg


def test_a_truncated_checkpoint_is_named(tmp_path):
    spec = model_spec("fmnist_convergent", "ci")
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a whole checkpoint")
    for call in (lambda: artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "out",
                                                  progress=False, checkpoint_dir=ck),
                 lambda: artifacts.artifact_from_checkpoint("fmnist_convergent", spec,
                                                            tmp_path / "cut", size="ci",
                                                            checkpoint_dir=ck)):
        with pytest.raises(ValueError, match=r"ck/checkpoint\.pt is truncated or corrupt") as err:
            call()
        assert "\n" not in str(err.value) and "delete it" in str(err.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cut").exists()


def test_a_loaded_artifact_carries_its_sampler():
    conv = load_artifact(ROOT / "artifacts" / "fmnist_convergent",
                         model_spec("fmnist_convergent", "cpu"))
    t = conv.spec.train
    assert conv.model.energy is conv.energy
    assert (conv.model.eps, conv.model.tau, conv.model.n_langevin) == (t.eps, t.tau, t.n_langevin)
    x0 = conv.model.init(5, torch.Generator().manual_seed(0))   # starts in the stored bank
    bank = conv.extras["bank"].reshape(len(conv.extras["bank"]), -1)
    assert all((bank == x.reshape(1, -1)).all(1).any() for x in x0)
    nc = load_artifact(ROOT / "artifacts" / "fmnist_nonconvergent",
                       model_spec("fmnist_nonconvergent", "cpu"))
    x0 = nc.model.init(200, torch.Generator().manual_seed(0))   # fresh uniform noise in [-1, 1]
    assert x0.shape == (200, 1, 16, 16) and x0.min() >= -1 and x0.max() <= 1
    assert abs(float(x0.mean())) < 0.01 and abs(float(x0.var()) - 1 / 3) < 0.01


def test_a_coop_artifact_keeps_both_nets_and_gives_the_latent_energy(tmp_path):
    spec = model_spec("coop_digits03", "ci")
    art = artifacts.train_artifact("coop_digits03", spec, tmp_path / "a", progress=False,
                                   checkpoint_dir=tmp_path / "ck")
    state = torch.load(tmp_path / "ck" / "checkpoint.pt", weights_only=False)["learner"]
    for net, key in ((art.net, "descriptor"), (art.generator, "generator")):
        for k, v in net.state_dict().items():
            assert torch.equal(v, state[key][k])
    assert sorted(art.manifest["files"]) == ["generator.pt", "log.npz", "manifest.json",
                                             "weights.pt"]
    z = torch.randn(3, spec.latent_dim)
    E = art.latent_energy(prior=True)
    expected = art.energy(art.generator(z)) + 0.5 * z.pow(2).sum(1)
    torch.testing.assert_close(E(z), expected)
    # the unit changes the scale only
    torch.testing.assert_close(art.latent_energy(prior=True).__class__(
        art.energy, art.generator, prior=True, unit=4.0)(z), expected / 4.0)
    # the model's sampler starts from the generator
    assert art.model.init(2, torch.Generator().manual_seed(0)).shape == (2,) + spec.shape
    again = load_artifact(tmp_path / "a", spec)
    fresh = data_energy_stats(again.energy, spec)
    assert fresh["data_energy_mean"] == pytest.approx(art.metrics["data_energy_mean"], rel=1e-6)


def test_an_image_model_has_no_latent_energy():
    spec = model_spec("fmnist_convergent", "cpu")
    art = load_artifact(ROOT / "artifacts" / "fmnist_convergent", spec)
    with pytest.raises(ValueError, match="Co-Op"):
        art.latent_energy()


def test_training_record_and_model_read_a_partial_run_and_then_its_finished_artifact(tmp_path,
                                                                              monkeypatch):
    # a page shows the record of a run that spans sessions: first from the committed
    # checkpoint (partial.json), then, once it finished, from the artifact - the same numbers
    from ebmbook.cli import _record_partial
    root = tmp_path / "artifacts"
    monkeypatch.setattr(artifacts, "artifacts_root", lambda: root)
    monkeypatch.setattr(artifacts, "project_root", lambda: tmp_path)
    monkeypatch.setattr(registry, "artifacts_root", lambda: root, raising=False)
    name = "fmnist_convergent"
    spec = model_spec(name, "ci")
    out = root / name
    with pytest.raises(FileNotFoundError, match="ebmbook train"):
        artifacts.training_record(name, "ci")
    assert artifacts.train_artifact(name, spec, out, progress=False, stop_after=12,
                                    checkpoint_dir=out / "partial") is None
    monkeypatch.chdir(tmp_path)
    _record_partial(name, spec, out, out / "partial", "ebmbook train fmnist_convergent --size ci")
    rec = artifacts.training_record(name, "ci")
    assert rec.status == f"partial, 12 of {spec.train.n_steps} updates"
    assert rec.steps_done == 12 and np.isfinite(rec.log.d_st[:12]).all()
    assert np.isnan(rec.log.d_st[12:]).all() and "--checkpoint-dir" in rec.command
    monkeypatch.setattr(artifacts, "cache_root", lambda: tmp_path / "cache")
    model12, status = artifacts.committed_model(name, "ci")
    assert status == rec.status and model12.manifest["steps_done"] == 12
    artifacts.train_artifact(name, spec, out, progress=False, checkpoint_dir=out / "partial")
    done = artifacts.training_record(name, "ci")
    assert done.status == "finished" and done.steps_done == spec.train.n_steps
    np.testing.assert_array_equal(done.log.d_st[:12], rec.log.d_st[:12])
    final, status = artifacts.committed_model(name, "ci")
    assert status == "finished" and final.manifest["steps_done"] == spec.train.n_steps
    assert any(not torch.equal(v, model12.net.state_dict()[k])
               for k, v in final.net.state_dict().items())


def test_training_record_of_an_artifact_without_a_log_names_the_rebuild(monkeypatch):
    from types import SimpleNamespace
    fake = SimpleNamespace(log=None, directory=Path("artifacts/x"),
                           manifest={"command": "ebmbook train fmnist_convergent --size cpu"})
    monkeypatch.setattr(artifacts, "load_artifact", lambda *a, **k: fake)
    with pytest.raises(FileNotFoundError, match="keeps no training log.*ebmbook train"):
        artifacts.training_record("fmnist_convergent")


MAP_PAGES = ("digit_maps", "image_map", "texture_maps", "face_map")


@pytest.mark.parametrize("experiment", MAP_PAGES)
def test_the_committed_maps_are_those_of_the_default_ci_config(experiment):
    """Each map page loads its finished maps from artifacts/maps (book_maps): the committed
    files carry a manifest for exactly the default ci config (a setting changed without
    rebuilding them fails here, not silently in the book), list every map file of that config,
    and name the command that rebuilds them."""
    from ebmbook.experiments import book_maps, get_experiment, read_map_manifest
    from ebmbook.experiments._common import map_manifest_path
    config = book_maps(get_experiment(experiment).Config.for_size("ci"))
    assert Path(config.map_checkpoint) == registry.committed_root() / "maps"
    manifest = read_map_manifest(config)
    assert manifest is not None, (f"no committed maps for {experiment}: run `ebmbook run "
                                  f"{experiment} --size ci --map-checkpoint artifacts/maps "
                                  "--threads 1` and commit artifacts/maps")
    prefix = map_manifest_path(config).stem
    on_disk = sorted(p.name for p in (registry.committed_root() / "maps").glob(f"{prefix}-*.pt"))
    assert manifest["files"] == on_disk and on_disk
    assert manifest["command"] == (f"ebmbook run {experiment} --size ci --map-checkpoint "
                                   "artifacts/maps --threads 1")
    assert "+dirty" not in manifest["git_commit"]
    # every ADELM checkpoint is finished and has its stages beside it
    for name in on_disk:
        if name.endswith(".stages.pt"):
            continue
        assert name.replace(".pt", ".stages.pt") in on_disk


def test_the_recorded_commit_is_dirty_for_changed_code_not_for_changed_artifacts(tmp_path):
    """A training that spans sessions keeps rewriting its committed checkpoint, so a change
    under artifacts/ does not make the code's commit '+dirty'; a change to code does."""
    import subprocess

    from ebmbook.store import git_commit
    repo = tmp_path / "repo"
    (repo / "artifacts" / "m").mkdir(parents=True)
    (repo / "pkg").mkdir()
    (repo / "artifacts" / "m" / "checkpoint.pt").write_bytes(b"1")
    (repo / "pkg" / "code.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    clean = git_commit(repo / "pkg")
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (repo / "artifacts" / "m" / "checkpoint.pt").write_bytes(b"2")
    assert git_commit(repo / "pkg") == clean
    (repo / "pkg" / "code.py").write_text("x = 2\n")
    assert git_commit(repo / "pkg") == clean + "+dirty"


def test_every_committed_map_manifest_names_its_files_and_status():
    """Each manifest in artifacts/maps lists map files that exist and belong to its key, says
    whether the maps are finished or how far a run spanning sessions got, and names the
    command that (re)builds or resumes them for one of the experiment's committed sizes."""
    from ebmbook.experiments import get_experiment
    from ebmbook.experiments._common import _map_key, committed_map_sizes
    folder = registry.committed_root() / "maps"
    manifests = sorted(folder.glob("*.json"))
    assert manifests
    for path in manifests:
        m = json.loads(path.read_text())
        prefix = f"{m['experiment']}-{m['config_key']}"
        assert path.stem == prefix
        assert all(f.startswith(prefix + "-") and (folder / f).exists() for f in m["files"])
        status = m.get("status", "finished")
        assert status == "finished" or status.startswith("partial"), status
        cls = get_experiment(m["experiment"]).Config
        sizes = [s for s in committed_map_sizes(cls.for_size("ci"))
                 if _map_key(cls.for_size(s))[1] == m["config_key"]]
        assert len(sizes) == 1, (path.name, "matches no committed size's default config")
        assert m["command"] == (f"ebmbook run {m['experiment']} --size {sizes[0]} "
                                "--map-checkpoint artifacts/maps --threads 1")


@pytest.mark.parametrize("name", ["fmnist_convergent", "coop_digits03"])
def test_a_trained_artifact_records_the_commit_its_training_started_at(name, tmp_path,
                                                                      monkeypatch):
    """The manifest names the code that trained: the commit when the training started, not the
    one (or the edited tree) found when it ended."""
    ck = tmp_path / "ck"

    def commit(*a, **k):      # another commit (and an edited tree) once training has begun
        trained = (ck / "checkpoint.pt").exists()
        return "b" * 40 + "+dirty" if trained else "a" * 40
    monkeypatch.setattr(store, "git_commit", commit)
    art = artifacts.train_artifact(name, model_spec(name, "ci").with_steps(2), tmp_path / "a",
                                   progress=False, checkpoint_dir=ck)
    assert (ck / "checkpoint.pt").exists()
    assert art.manifest["git_commit"] == "a" * 40


@pytest.mark.parametrize("name", ["fmnist_convergent", "coop_digits03"])
def test_a_training_resumed_across_sessions_records_its_first_sessions_commit(name, tmp_path,
                                                                             monkeypatch):
    """A long run spans sessions, each perhaps at another commit: the manifest names the code of
    its first session and lists the later ones; partial.json, written when a session stops,
    names the first session's commit too, not the tree found at the stop. A run started afresh
    (no resume) begins the record anew."""
    from ebmbook.cli import _record_partial
    now = {"commit": "a" * 40}
    monkeypatch.setattr(store, "git_commit", lambda *a, **k: now["commit"])
    spec = model_spec(name, "ci").with_steps(4)
    out = tmp_path / "out"
    ck = out / "partial"
    assert artifacts.train_artifact(name, spec, out, progress=False, checkpoint_dir=ck,
                                    stop_after=2) is None
    now["commit"] = "c" * 40 + "+dirty"            # the tree when the session stops
    _record_partial(name, spec, out, ck, f"ebmbook train {name} --size ci")
    assert json.loads((out / "partial.json").read_text())["git_commit"] == "a" * 40
    now["commit"] = "b" * 40                       # the next session's code
    art = artifacts.train_artifact(name, spec, out, progress=False, checkpoint_dir=ck)
    assert art.manifest["git_commit"] == "a" * 40
    assert art.manifest["resumed_at_commits"] == ["b" * 40]
    # without resuming, the run is new and so is its record
    art = artifacts.train_artifact(name, spec, tmp_path / "fresh", progress=False,
                                   checkpoint_dir=ck, resume=False)
    assert art.manifest["git_commit"] == "b" * 40 and "resumed_at_commits" not in art.manifest


def test_only_sessions_that_train_are_recorded(tmp_path, monkeypatch):
    """A session that trains nothing leaves the record alone: one that resumes a finished run,
    and one that starts the run afresh (``resume=False``) but dies before its first save, which
    leaves the old checkpoint, whose record is still that of the old run."""
    from ebmbook.learning.trainer import MLLearner
    now = {"commit": "a" * 40}
    monkeypatch.setattr(store, "git_commit", lambda *a, **k: now["commit"])
    spec = model_spec("fmnist_convergent", "ci").with_steps(4)
    ck = tmp_path / "ck"
    artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "o", progress=False,
                             checkpoint_dir=ck, stop_after=2)
    now["commit"] = "b" * 40
    real_step = MLLearner.step

    def killed(self, t, generator):
        raise RuntimeError("killed")
    monkeypatch.setattr(MLLearner, "step", killed)
    with pytest.raises(RuntimeError):
        artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "o", progress=False,
                                 checkpoint_dir=ck, resume=False)
    monkeypatch.setattr(MLLearner, "step", real_step)
    now["commit"] = "c" * 40
    art = artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "o", progress=False,
                                   checkpoint_dir=ck)
    assert art.manifest["git_commit"] == "a" * 40
    assert art.manifest["resumed_at_commits"] == ["c" * 40]
    now["commit"] = "d" * 40                       # the run is finished: nothing to train
    art = artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "o2", progress=False,
                                   checkpoint_dir=ck)
    assert art.manifest["resumed_at_commits"] == ["c" * 40]
    assert artifacts.load_checkpoint_state(ck)["sessions"] == ["a" * 40, "c" * 40]


def test_a_session_at_the_same_commit_adds_nothing_to_the_record(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "git_commit", lambda *a, **k: "a" * 40)
    spec = model_spec("fmnist_convergent", "ci").with_steps(4)
    ck = tmp_path / "ck"
    artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "o", progress=False,
                             checkpoint_dir=ck, stop_after=2)
    art = artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "o", progress=False,
                                   checkpoint_dir=ck)
    assert art.manifest["git_commit"] == "a" * 40 and "resumed_at_commits" not in art.manifest
    assert artifacts.load_checkpoint_state(ck)["sessions"] == ["a" * 40]
    # a checkpoint written before sessions were recorded: its first session is not guessed
    ck2 = tmp_path / "ck2"
    artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "o2", progress=False,
                             checkpoint_dir=ck2, stop_after=2)
    state = torch.load(ck2 / "checkpoint.pt", weights_only=False)
    del state["sessions"]
    torch.save(state, ck2 / "checkpoint.pt")
    monkeypatch.setattr(store, "git_commit", lambda *a, **k: "b" * 40)
    art = artifacts.train_artifact("fmnist_convergent", spec, tmp_path / "o2", progress=False,
                                   checkpoint_dir=ck2)
    assert art.manifest["git_commit"] == artifacts.UNKNOWN_FIRST_SESSION
    assert art.manifest["resumed_at_commits"] == ["b" * 40]
