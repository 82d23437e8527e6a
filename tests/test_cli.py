"""The ``ebmbook`` command: every user error is one ``error: ...`` line with exit status 2 (no
traceback, nothing written), genuine bugs still raise, and ``ebmbook train`` never replaces a
committed artifact by another spec unless told to (``--out`` elsewhere, or ``--force``).

The committed-artifact tests work on copies: the registry's roots are pointed at ``tmp_path``,
and a fixture checks that the real ``artifacts/`` folder is byte-for-byte unchanged."""

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch

from ebmbook import artifacts, registry
from ebmbook._config import require_int
from ebmbook.cli import main
from ebmbook.experiments import ExperimentConfig
from ebmbook.experiments._base import EXPERIMENTS
from ebmbook.models import spec_hash

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "artifacts"


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def real_artifacts_untouched():
    before = _digest(COMMITTED)
    yield
    after = _digest(COMMITTED)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, (f"a test wrote into the real artifacts/ folder: {changed} (or a run "
                         "outside the suite, e.g. a map in the background, wrote there meanwhile)")


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("argv,says", [
    (["run", "nosuch"], "unknown experiment 'nosuch': choose one of axes_diagnostics"),
    (["train", "nosuch"], "unknown image model 'nosuch': choose one of brick_convergent, coop_digits03"),
    (["train", "fmnist_convergent", "--steps", "0"], "--steps: must be an integer >= 1, got 0"),
    (["train", "fmnist_convergent", "--steps", "-5"], "--steps: must be an integer >= 1, got -5"),
    (["train", "fmnist_convergent", "--steps", "many"], "'many' is not an integer"),
    (["train", "fmnist_convergent", "--stop-after", "0"], "--stop-after: must be an integer >= 1"),
    (["book", "--jobs", "0"], "--jobs: must be an integer >= 1, got 0"),
    (["run", "toy_densities", "--size", "big"],
     "invalid choice: 'big' (choose from 'ci', 'cpu', 'thesis', 'thesis28', 'mnist28', 'wide', 'wide28', 'scales', 'mnist', 'digits03', 'faces24', 'paper')"),
    (["train", "fmnist_convergent", "--size", "huge"], "invalid choice: 'huge'"),
    (["run", "toy_densities", "--device", "tpu"],
     "'tpu' is not a device: use cpu, cuda, cuda:N or mps"),
    (["run", "toy_densities", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["train"], "required: model"),
    (["run", "toy_densities", "--executor", "dask"], "has no parallel mapping work"),
    (["run", "sk_spin_glass", "--executor", "bogus"], "executor 'bogus' is not understood"),
])
def test_a_bad_command_line_is_one_line_and_status_2(argv, says, capsys):
    assert main(argv) == 2
    line = _error_line(capsys)
    assert says in line


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
@pytest.mark.parametrize("command", [["run", "toy_densities"], ["train", "fmnist_convergent"],
                                     ["book"]])
def test_cuda_without_cuda_is_refused_before_anything_runs(device, command, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*command, "--device", device]) == 2
    line = _error_line(capsys)
    assert f"'{device}' needs CUDA, which is not available here" in line and "--device cpu" in line


# ----------------------------------------------------------------------------- errors in a run


@dataclasses.dataclass(frozen=True)
class _Config(ExperimentConfig):
    n: int = 1

    def __post_init__(self):
        super().__post_init__()
        require_int(self, "n")


@dataclasses.dataclass(frozen=True)
class _BadConfig(_Config):
    n: int = 0            # invalid: validation fails with the project's ValueError


@pytest.fixture
def fake_experiment(monkeypatch):
    """An experiment ``fake`` whose ``run`` the test sets."""
    mod = types.ModuleType("ebmbook_test_fake_experiment")
    mod.Config = _Config
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(EXPERIMENTS, "fake", mod.__name__)
    return mod


def test_a_config_value_error_is_one_line(fake_experiment, capsys):
    fake_experiment.Config = _BadConfig
    assert main(["run", "fake"]) == 2
    assert "config field 'n' = 0 is invalid: it must be an integer >= 1" in _error_line(capsys)


def test_diverged_training_and_missing_data_are_one_line(fake_experiment, capsys):
    from ebmbook.data.fetch import DataNotFoundError
    from ebmbook.learning.trainer import TrainingDivergedError

    def diverge(cfg):
        raise TrainingDivergedError(7, "d_st = nan", Path("_build/ck/checkpoint.pt"))
    fake_experiment.run = diverge
    assert main(["run", "fake"]) == 2
    line = _error_line(capsys)
    assert "training diverged at step 7" in line and "Lower the learning rate" in line

    def no_data(cfg):
        raise DataNotFoundError("data file /x/train-images-idx3-ubyte does not exist. Run "
                                "`python -m ebmbook.data.fetch`.")
    fake_experiment.run = no_data
    assert main(["run", "fake"]) == 2
    assert "python -m ebmbook.data.fetch" in _error_line(capsys)


def test_a_genuine_bug_still_raises_with_its_traceback(fake_experiment):
    import numpy as np

    def bug(cfg):
        return 1 / 0
    fake_experiment.run = bug
    with pytest.raises(ZeroDivisionError):
        main(["run", "fake"])

    def library_value_error(cfg):            # a ValueError raised inside numpy, not by ebmbook
        return np.zeros(3).reshape(2, 2)
    fake_experiment.run = library_value_error
    with pytest.raises(ValueError, match="reshape"):
        main(["run", "fake"])


# ----------------------------------------------------------------------------- overwrite protection


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The registry's committed root, cache root and checkpoints all under ``tmp_path``, with a
    copy of the committed ``fmnist_convergent`` artifact in the committed root."""
    committed, cache = tmp_path / "artifacts", tmp_path / "_build" / "artifacts"
    shutil.copytree(COMMITTED / "fmnist_convergent", committed / "fmnist_convergent")
    monkeypatch.setattr(registry, "committed_root", lambda: committed)
    monkeypatch.setattr(registry, "cache_root", lambda: cache)
    monkeypatch.setattr(artifacts, "project_root", lambda: tmp_path)
    monkeypatch.chdir(tmp_path)
    return types.SimpleNamespace(root=tmp_path, committed=committed / "fmnist_convergent",
                                 cache=cache)


def test_train_ci_goes_to_the_cache_and_leaves_the_committed_artifact(project, capsys):
    before = _digest(project.committed)
    assert main(["train", "fmnist_convergent", "--size", "ci", "--quiet"]) == 0
    spec = registry.model_spec("fmnist_convergent", "ci")
    out = project.cache / f"fmnist_convergent-{spec_hash(spec)}"
    assert artifacts.load_artifact(out, spec) is not None
    assert _digest(project.committed) == before
    assert json.loads(capsys.readouterr().out)["out"] == str(out)


def test_training_another_spec_into_a_committed_folder_is_refused(project, capsys):
    before = _digest(project.committed)
    cpu = registry.model_spec("fmnist_convergent", "cpu")
    ci, short = registry.model_spec("fmnist_convergent", "ci"), cpu.with_steps(10)
    for extra, new in ((["--size", "ci"], f"size ci (8x8, 30 steps, spec {spec_hash(ci)})"),
                       (["--steps", "10"],
                        f"size cpu --steps 10 (16x16, 10 steps, spec {spec_hash(short)})")):
        assert main(["train", "fmnist_convergent", *extra, "--quiet",
                     "--out", str(project.committed)]) == 2
        line = _error_line(capsys)
        assert ("artifacts/fmnist_convergent holds fmnist_convergent at size cpu (16x16, "
                f"6000 steps, spec {spec_hash(cpu)}); refusing to replace it by "
                f"fmnist_convergent at {new}") in line
        assert line.endswith("pass --out DIR to train elsewhere, or --force to replace it")
    assert _digest(project.committed) == before
    assert not (project.root / "_build" / "checkpoints").exists()      # nothing started


def test_force_says_what_it_replaces(project, capsys):
    before = _digest(project.committed)
    assert main(["train", "fmnist_convergent", "--size", "ci", "--quiet", "--force",
                 "--stop-after", "2", "--out", str(project.committed)]) == 0
    err = capsys.readouterr().err
    assert ("warning: --force: artifacts/fmnist_convergent holds fmnist_convergent at size cpu"
            in err)
    assert "will be replaced by fmnist_convergent at size ci (8x8, 30 steps" in err
    assert _digest(project.committed) == before           # stopped early: nothing replaced yet


def test_the_committed_spec_may_resume_into_its_own_folder(project, capsys):
    before = _digest(project.committed)
    assert main(["train", "fmnist_convergent", "--quiet", "--stop-after", "1"]) == 0
    out = capsys.readouterr()
    assert "stopped after 1 steps" in out.out and out.out.rstrip().endswith(
        "then save to artifacts/fmnist_convergent")
    assert out.err == ""                                   # --quiet: no bar, no notes
    assert _digest(project.committed) == before


def test_a_corrupt_manifest_in_the_target_is_named_and_not_replaced(project, capsys):
    manifest = project.committed / "manifest.json"
    manifest.write_text(manifest.read_text()[:300])
    before = _digest(project.committed)
    assert main(["train", "fmnist_convergent", "--quiet", "--stop-after", "1"]) == 2
    line = _error_line(capsys)
    assert "artifacts/fmnist_convergent/manifest.json is truncated or corrupt" in line
    assert "--force" in line and "--out DIR" in line
    assert _digest(project.committed) == before


@pytest.mark.parametrize("fname", ["weights.pt", "extras.pt", "log.npz", "manifest.json"])
def test_a_truncated_committed_file_is_one_line_from_ebmbook_run(project, fake_experiment, fname,
                                                                 capsys):
    f = project.committed / fname
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    fake_experiment.run = lambda cfg: artifacts.load_or_train(
        "fmnist_convergent", registry.model_spec("fmnist_convergent", "cpu"), progress=False)
    assert main(["run", "fake"]) == 2
    line = _error_line(capsys)
    assert f"artifacts/fmnist_convergent/{fname} is truncated or corrupt" in line


def test_a_truncated_checkpoint_is_one_line_from_ebmbook_train(project, capsys):
    spec = registry.model_spec("fmnist_convergent", "ci")
    ck = project.root / "_build" / "checkpoints" / f"fmnist_convergent-{spec_hash(spec)}"
    ck.mkdir(parents=True)
    (ck / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short")
    assert main(["train", "fmnist_convergent", "--size", "ci", "--quiet"]) == 2
    line = _error_line(capsys)
    assert "checkpoint.pt is truncated or corrupt" in line and "delete it" in line
    assert not (project.cache / f"fmnist_convergent-{spec_hash(spec)}").exists()


def test_a_run_stopped_with_its_checkpoint_in_the_artifact_folder_records_how_to_resume(
        project, capsys):
    # a long training spans sessions: its checkpoint and partial.json are committed together
    out = project.root / "artifacts" / "long"
    ckpt = out / "partial"
    argv = ["train", "fmnist_convergent", "--size", "ci", "--quiet", "--out", str(out),
            "--checkpoint-dir", str(ckpt)]
    assert main([*argv, "--stop-after", "10"]) == 0
    partial = json.loads((out / "partial.json").read_text())
    spec = registry.model_spec("fmnist_convergent", "ci")
    assert partial["status"] == "partial, 10 of 30 updates"
    assert partial["spec_hash"] == spec_hash(spec)
    assert partial["checkpoint"] == "artifacts/long/partial/checkpoint.pt"
    assert partial["resume_command"] == ("ebmbook train fmnist_convergent --size ci "
                                         "--checkpoint-dir artifacts/long/partial")
    assert "partial, 10 of 30 updates" in capsys.readouterr().err
    # the recorded command resumes; the finished artifact equals an uninterrupted run and
    # replaces the record and its checkpoint
    resume = partial["resume_command"].split()[1:] + ["--quiet", "--out", str(out)]
    assert main(resume) == 0
    assert not (out / "partial.json").exists() and not ckpt.exists()
    whole = project.root / "whole"
    assert main(["train", "fmnist_convergent", "--size", "ci", "--quiet", "--out", str(whole),
                 "--checkpoint-dir", str(project.root / "ck2")]) == 0
    a, b = artifacts.load_artifact(out, spec), artifacts.load_artifact(whole, spec)
    for k, v in a.net.state_dict().items():
        assert torch.equal(v, b.net.state_dict()[k])


def test_an_interrupted_run_records_its_partial_state(project, capsys, monkeypatch):
    out = project.root / "artifacts" / "cut"
    real = artifacts.train_artifact

    def interrupted(*a, **kw):
        real(*a, **{**kw, "stop_after": 4})
        raise KeyboardInterrupt

    monkeypatch.setattr(artifacts, "train_artifact", interrupted)
    assert main(["train", "fmnist_convergent", "--size", "ci", "--quiet", "--out", str(out),
                 "--checkpoint-dir", str(out / "partial")]) == 130
    err = capsys.readouterr().err
    assert "partial, 4 of 30 updates" in err and "error: interrupted" in err
    assert json.loads((out / "partial.json").read_text())["steps_done"] == 4


def test_precision_is_refused_where_an_experiment_has_no_such_setting(capsys):
    assert main(["run", "sk_spin_glass", "--precision", "bf16"]) == 2
    assert _error_line(capsys) == ("error: --precision: experiment 'sk_spin_glass' has no "
                                   "'precision' setting; it applies to image_learning, "
                                   "short_run_generation, toy_densities")


def test_run_sets_the_thread_count_and_passes_the_precision(monkeypatch):
    seen = {}
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.setdefault("threads", n))
    from ebmbook.experiments import toy_densities

    def run(cfg):
        seen["cfg"] = cfg
        return types.SimpleNamespace(metrics=dict)

    monkeypatch.setattr(toy_densities, "run", run)
    assert main(["run", "toy_densities", "--precision", "bf16", "--threads", "1"]) == 0
    assert seen["threads"] == 1 and seen["cfg"].precision == "bf16"


def test_a_command_says_when_its_bf16_computes_in_fp32(monkeypatch, capsys):
    from ebmbook.energies import precision as P
    from ebmbook.experiments import toy_densities
    monkeypatch.setattr(toy_densities, "run", lambda cfg: types.SimpleNamespace(metrics=dict))
    monkeypatch.delenv("EBMBOOK_BF16", raising=False)
    for flags, noted in (({"avx2"}, True), ({"avx2", "amx_bf16"}, False)):
        monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset(flags))
        assert main(["run", "toy_densities", "--precision", "bf16", "--threads", "1"]) == 0
        assert ("no native bfloat16" in capsys.readouterr().err) == noted
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset({"avx2"}))
    assert main(["run", "toy_densities", "--precision", "fp32", "--threads", "1"]) == 0
    assert "bfloat16" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- maps that resume

TINY_SK = dict(n_spins=24, adelm_iter=30, tune_iter=6, tune_alphas=(0.5, 1.35, 5.0),
               drift_modes=3, drift_sweeps=20, gwl_iter=20_000, n_lowest=30, e_min=-0.9,
               progress=False)


def _metrics(out: str) -> dict:
    m = json.loads(out)["metrics"]
    m.pop("adelm_it_per_s")          # a speed, not a result
    return m


def test_an_interrupted_map_resumes_with_the_command_its_error_line_gives(tmp_path, monkeypatch,
                                                                         capsys):
    """``ebmbook run sk_spin_glass --map-checkpoint DIR`` (at a tiny size) stopped by Ctrl-C at
    a random ADELM iteration k: one error line naming the k saved iterations, their file and
    the command that resumes; that command runs only the remaining iterations and prints every
    number of an uninterrupted run without the flag, from exactly the same map."""
    import importlib

    import numpy as np

    from ebmbook.experiments import sk_spin_glass as sk
    adelm_module = importlib.import_module("ebmbook.landscape.adelm")
    monkeypatch.setitem(sk.Config.SIZES, "ci", TINY_SK)
    n_iter = TINY_SK["adelm_iter"]
    stop_at = int(np.random.default_rng(26).integers(2, n_iter))   # an iteration with AD
    state = {"in_map": False, "calls": 0, "stop_at": None}
    maps = []
    real_adelm, real_pairwise = sk.adelm, adelm_module.pairwise_ad

    def watched_adelm(*args, **kwargs):       # the page's map (tuning runs ADELM too)
        state["in_map"], state["calls"] = True, 0
        try:
            maps.append(real_adelm(*args, **kwargs))
        finally:
            state["in_map"] = False
        return maps[-1]

    def pairwise(*args, **kwargs):            # one call per iteration after the first
        if state["in_map"]:
            state["calls"] += 1
            if state["calls"] == state["stop_at"]:
                raise KeyboardInterrupt
        return real_pairwise(*args, **kwargs)

    monkeypatch.setattr(sk, "adelm", watched_adelm)
    monkeypatch.setattr(adelm_module, "pairwise_ad", pairwise)
    assert main(["run", "sk_spin_glass", "--threads", "1"]) == 0
    plain = _metrics(capsys.readouterr().out)
    assert state["calls"] == n_iter - 1

    folder = tmp_path / "maps"
    argv = ["run", "sk_spin_glass", "--map-checkpoint", str(folder), "--threads", "1"]
    state["stop_at"] = stop_at
    assert main(argv) == 2
    line = _error_line(capsys)
    saved = sorted(folder.glob("*.pt"))
    assert len(saved) == 1 and saved[0].name.startswith("sk_spin_glass-")
    assert saved[0].name.endswith("-adelm.pt")
    assert line == (f"error: ADELM interrupted; {stop_at} of {n_iter} iterations are saved in "
                    f"{saved[0]}: resume with `ebmbook run sk_spin_glass --map-checkpoint "
                    f"{folder} --threads 1`")
    # the saved part has its manifest too: how far it got and the command that resumes it
    partial = json.loads(next(folder.glob("sk_spin_glass-*.json")).read_text())
    assert partial["status"] == f"partial, {stop_at} of {n_iter} ADELM iterations"
    assert partial["command"] == f"ebmbook run sk_spin_glass --map-checkpoint {folder} --threads 1"
    assert partial["wall_time_s"] >= 0

    state["stop_at"] = None
    assert main(argv) == 0
    assert state["calls"] == n_iter - stop_at      # iterations 0 .. stop_at-1 were not redone
    assert _metrics(capsys.readouterr().out) == plain
    # the finished run leaves the manifest of its maps: the command that rebuilds them
    manifest = json.loads(next(folder.glob("sk_spin_glass-*.json")).read_text())
    assert manifest["command"] == f"ebmbook run sk_spin_glass --map-checkpoint {folder} --threads 1"
    assert manifest["files"] == [saved[0].name] and manifest["experiment"] == "sk_spin_glass"
    # finished, and the wall time counts the interrupted part as well
    assert manifest["status"] == "finished"
    assert manifest["wall_time_s"] >= partial["wall_time_s"]
    whole, resumed = maps[0], maps[-1]
    for name in ("labels", "energies", "barriers", "n_success", "rep_energies", "counts",
                 "modes", "reps"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name), err_msg=name)


def test_map_checkpoint_is_refused_where_an_experiment_makes_no_map(tmp_path, capsys):
    assert main(["run", "toy_densities", "--map-checkpoint", str(tmp_path)]) == 2
    assert _error_line(capsys).startswith(
        "error: --map-checkpoint: experiment 'toy_densities' has no 'map_checkpoint' setting; "
        "it applies to digit_maps, face_map")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    assert main(["run", "sk_spin_glass", "--map-checkpoint", str(a_file)]) == 2
    assert "it must be a folder, not an existing file" in _error_line(capsys)
    # reusing an earlier run's maps needs their folder, and a finished run there
    assert main(["run", "sk_spin_glass", "--reuse-maps-of", "0123456789ab"]) == 2
    assert _error_line(capsys) == ("error: --reuse-maps-of KEY needs --map-checkpoint DIR, the "
                                   "folder that holds the earlier run's map files")
    assert main(["run", "sk_spin_glass", "--map-checkpoint", str(tmp_path / "maps"),
                 "--reuse-maps-of", "0123456789ab"]) == 2
    assert _error_line(capsys).startswith("error: --reuse-maps-of: no readable manifest ")
    from types import SimpleNamespace

    from ebmbook.cli import _command
    for flag in (["--reuse-maps-of", "0123456789ab"], ["--reuse-maps-of=0123456789ab"]):
        args = SimpleNamespace(argv=["run", "digit_maps", *flag, "--map-checkpoint", "d"])
        assert _command(args) == "ebmbook run digit_maps --map-checkpoint d"


@pytest.mark.parametrize("stop,status,says", [
    (KeyboardInterrupt, 130, "error: interrupted"),
    (cf.CancelledError, 2, "error: the tasks on --executor dask:tcp://127.0.0.1:9 were cancelled "
                           "(a lost Dask scheduler or worker?)")])
def test_a_stop_outside_a_map_says_the_saved_maps_resume(fake_experiment, tmp_path, capsys,
                                                         stop, status, says):
    """Ctrl-C, or a Dask scheduler lost, after a map was saved (e.g. while its barriers are
    computed): one error line saying that the same command resumes from the maps saved."""
    from ebmbook._config import runtime_field

    @dataclasses.dataclass(frozen=True)
    class MapConfig(_Config):
        executor: str | None = None
        map_checkpoint: str = runtime_field("")

    def run(cfg):
        (Path(cfg.map_checkpoint) / "fake-0123-map.pt").write_bytes(b"")
        raise stop()

    fake_experiment.Config, fake_experiment.run = MapConfig, run
    argv = ["run", "fake", "--map-checkpoint", str(tmp_path),
            "--executor", "dask:tcp://127.0.0.1:9"]
    assert main(argv) == status
    assert _error_line(capsys) == (f"{says}; the ADELM maps saved in {tmp_path} resume when the "
                                   f"same command runs again: `ebmbook {' '.join(argv)}`")


def test_a_run_started_with_sigint_ignored_can_still_be_interrupted():
    """A background job of a non-interactive shell starts with SIGINT ignored; ebmbook run
    restores Ctrl-C, so an interrupted map still saves its iterations and manifest."""
    import signal

    from ebmbook.cli import _interruptible
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _interruptible()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, old)


def test_a_reused_adelm_file_of_another_map_is_dropped_and_the_run_goes_on(tmp_path, capsys):
    """``--reuse-maps-of`` after a widened grid that moved T or alpha: the copied ADELM file is
    refused as another map's, so it is deleted and the run repeated from its kept stages; a
    refusal of a file that was not copied, or another checkpoint error, still stops the run."""
    from types import SimpleNamespace

    from ebmbook.cli import _run_dropping_stale_copies
    from ebmbook.learning.fit import CheckpointError, ForeignCheckpointError
    for name in ("x-k-a.pt", "x-k-a.stages.pt", "x-k-b.pt"):
        (tmp_path / name).write_bytes(b"0")
    cfg = SimpleNamespace(map_checkpoint=str(tmp_path))
    calls = []

    def run(c):
        calls.append(c)
        if (tmp_path / "x-k-a.pt").exists():
            raise ForeignCheckpointError(tmp_path / "x-k-a.pt", "ADELM checkpoint ... belongs "
                                         "to another map (another seed, ...)")
        return "result"
    mod = SimpleNamespace(run=run)
    dropped = []
    assert _run_dropping_stale_copies(mod, cfg, ["x-k-a.pt", "x-k-a.stages.pt"],
                                      dropped) == "result"
    assert len(calls) == 2 and not (tmp_path / "x-k-a.pt").exists()
    assert dropped == ["x-k-a.pt"]
    assert (tmp_path / "x-k-a.stages.pt").exists()           # the stages are kept
    assert "x-k-a.pt: the earlier run's ADELM" in capsys.readouterr().err

    def refuse_b(c):
        raise ForeignCheckpointError(tmp_path / "x-k-b.pt", "ADELM checkpoint ... belongs to "
                                     "another map")
    with pytest.raises(CheckpointError):                      # not a copy: the user's file
        _run_dropping_stale_copies(SimpleNamespace(run=refuse_b), cfg, ["x-k-a.stages.pt"])
    assert (tmp_path / "x-k-b.pt").exists()

    def damaged(c):
        raise CheckpointError(f"{tmp_path / 'x-k-b.pt'} is damaged")
    with pytest.raises(CheckpointError, match="damaged"):
        _run_dropping_stale_copies(SimpleNamespace(run=damaged), cfg, ["x-k-b.pt"])
    assert (tmp_path / "x-k-b.pt").exists()
