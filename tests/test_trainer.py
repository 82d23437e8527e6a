"""Algorithm 1 trainer: an analytic learning oracle, bit-identical resume, divergence errors,
config validation."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from ebmbook.energies.potentials import DeepFRAME, MLPPotential
from ebmbook.experiments import toy_densities
from ebmbook.learning.trainer import TrainConfig, TrainingDivergedError, train


class Quadratic(nn.Module):
    """F(x) = a * ||x||^2 / 2 with one learnable precision a."""

    def __init__(self, a=0.2):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))

    def forward(self, x):
        return 0.5 * self.a * (x * x).sum(1)


class GaussianData:
    def __init__(self, sd):
        self.sd = sd

    def sample(self, n, generator=None):
        return self.sd * torch.randn(n, 2, generator=generator)


def test_ml_learning_recovers_the_precision_of_a_gaussian():
    # The ML fixed point of E_q[dU/da] = E_p[dU/da] is a = 1/sd^2. With long MH-exact chains
    # from a persistent bank, the learned precision must land there (from 0.2, far away).
    sd = 0.5
    cfg = TrainConfig(n_steps=400, batch_size=200, eps=0.5, n_langevin=10, init="persistent",
                      bank_size=400, optimizer="sgd", sgd_lr=0.2, sgd_lr_min=0.02,
                      sgd_decay=0.995, rescale=False, mh=True, seed=0)
    res = train(Quadratic(), GaussianData(sd), cfg, progress=False)
    assert res.net.a.item() == pytest.approx(1 / sd ** 2, rel=0.1)
    tail = res.log.d_st[-100:]
    assert abs(tail.mean()) < 3 * tail.std() / math.sqrt(len(tail)) + 0.05


def small_config(**kw):
    base = dict(n_steps=30, batch_size=16, eps=0.125, n_langevin=5, init="persistent",
                bank_size=64, optimizer="hybrid", adam_lr=1e-3, sgd_lr=0.1, sgd_lr_min=0.01,
                sgd_decay=0.99, switch_step=15, checkpoint_every=4, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def fresh_net():
    torch.manual_seed(0)
    return MLPPotential()


def assert_same_run(full, resumed):
    """Bit-identical weights, logs and persistent bank."""
    for a, b in zip(full.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)
    assert np.array_equal(full.log.d_st, resumed.log.d_st)
    assert torch.equal(full.bank.states, resumed.bank.states)


def test_resume_is_bit_identical(tmp_path):
    cfg = small_config()
    data = GaussianData(1.0)
    full = train(fresh_net(), data, cfg, progress=False)

    part = train(fresh_net(), data, cfg, checkpoint_dir=tmp_path, progress=False, stop_after=11)
    assert part.steps_done == 11
    resumed = train(fresh_net(), data, cfg, checkpoint_dir=tmp_path, progress=False)
    assert resumed.resumed_from == 11
    assert_same_run(full, resumed)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    train(fresh_net(), GaussianData(1.0), small_config(), checkpoint_dir=tmp_path,
          progress=False, stop_after=4)
    with pytest.raises(ValueError, match="different config"):
        train(fresh_net(), GaussianData(1.0), small_config(adam_lr=2e-3),
              checkpoint_dir=tmp_path, progress=False)


def test_nan_energy_raises_documented_error_after_a_checkpoint(tmp_path):
    class BrokenData(GaussianData):
        def sample(self, n, generator=None):
            x = super().sample(n, generator)
            x[0, 0] = float("nan")
            return x

    # NaN in the data is reported as a data problem, not as a learning-rate problem
    with pytest.raises(TrainingDivergedError, match=r"step 0.*training batch holds 1 NaN.*data") as e:
        train(fresh_net(), BrokenData(1.0), small_config(), checkpoint_dir=tmp_path,
              progress=False)
    assert e.value.step == 0
    assert (tmp_path / "checkpoint.pt").exists()


def test_nan_in_tensor_data_is_refused_naming_the_example():
    x = torch.randn(50, 2)
    x[17, 1] = float("inf")
    with pytest.raises(ValueError, match=r"1 NaN/inf values \(first in example 17\)"):
        train(fresh_net(), x, small_config(), progress=False)


def test_a_model_whose_energy_turns_nan_diverges_with_advice(tmp_path):
    class NaNAfter(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return self.a * (x * x).sum(1) * float("nan")

    with pytest.raises(TrainingDivergedError, match=r"step 0.*not finite.*learning rate"):
        train(NaNAfter(), GaussianData(1.0), small_config(init="uniform"),
              checkpoint_dir=tmp_path, progress=False)


def test_exploding_energy_raises_at_the_step_it_happens(tmp_path):
    cfg = small_config(divergence_threshold=1e-9)
    with pytest.raises(TrainingDivergedError, match="divergence_threshold"):
        train(fresh_net(), GaussianData(1.0), cfg, checkpoint_dir=tmp_path, progress=False)


@pytest.mark.parametrize("field, value", [
    ("eps", -0.1), ("n_langevin", -1), ("init", "zeros"), ("optimizer", "rmsprop"),
    ("sgd_decay", 1.5), ("batch_size", 0), ("tau", -1.0), ("bank_size", 10),
])
def test_bad_train_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"'{field}'"):
        TrainConfig(**{field: value})


def test_bad_experiment_config_names_the_field():
    with pytest.raises(ValueError, match="'size'"):
        toy_densities.Config.for_size("huge")
    with pytest.raises(ValueError, match="unknown config field"):
        toy_densities.Config.for_size("ci", conv_step=3)
    with pytest.raises(ValueError, match="'conv_eps'"):
        toy_densities.Config.for_size("ci", conv_eps=0.0)
    with pytest.raises(ValueError, match="'device'"):
        toy_densities.Config.for_size("ci", device="tpu")


def test_potential_shapes_and_errors():
    for side in (16, 28, 32):
        net = DeepFRAME(channels=1, image_size=side)
        assert net(torch.zeros(3, 1, side, side)).shape == (3,)
    with pytest.raises(ValueError, match=r"shape \(n, 1, 28, 28\)"):
        DeepFRAME(image_size=28)(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="too small"):
        DeepFRAME(image_size=4, n_down=4)
    assert MLPPotential()(torch.zeros(5, 2)).shape == (5,)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        MLPPotential()(torch.zeros(5, 3))


@pytest.mark.parametrize("init", ["uniform", "gaussian", "persistent", "data"])
def test_float64_models_train_with_every_initialisation(init):
    net = fresh_net().double()
    data = torch.randn(200, 2, dtype=torch.float64)
    res = train(net, data, small_config(init=init, n_steps=5), progress=False)
    assert np.isfinite(res.log.d_st).all()
    if res.bank is not None:
        assert res.bank.states.dtype == torch.float64


def test_numpy_integers_are_accepted_where_integers_are():
    cfg = small_config(n_steps=np.int64(6), n_langevin=np.int32(3))
    assert cfg == small_config(n_steps=6, n_langevin=3)
    res = train(fresh_net(), GaussianData(1.0), cfg, progress=False)
    assert res.steps_done == 6


# -------------------------------------------------------------- interrupt anywhere in a step

def _interrupt_points(monkeypatch, where, at_step, box):
    """Arrange a SIGINT at ``where`` during step ``at_step`` (counted by the callback)."""
    import os
    import signal

    from ebmbook.learning import fit as fit_mod
    from ebmbook.learning import optim
    from ebmbook.sampling import init as init_mod

    def kill():
        if box["step"] == at_step and not box["sent"]:
            box["sent"] = True
            os.kill(os.getpid(), signal.SIGINT)

    if where == "langevin":
        orig = MLPPotential.forward

        def fwd(self, x):
            kill()
            return orig(self, x)
        monkeypatch.setattr(MLPPotential, "forward", fwd)
    elif where == "bank_write":
        orig_w = init_mod.PersistentBank.write

        def write(self, idx, states):
            orig_w(self, idx, states)
            kill()
        monkeypatch.setattr(init_mod.PersistentBank, "write", write)
        monkeypatch.setattr(init_mod.PersistentBank, "update", write)
    elif where == "optimizer":
        orig_s = optim.OptimizerSchedule.step

        def ostep(self, step):
            orig_s(self, step)
            kill()
        monkeypatch.setattr(optim.OptimizerSchedule, "step", ostep)
    elif where == "save":
        orig_save = fit_mod.atomic_torch_save

        def save(obj, path):
            orig_save(obj, path)
            kill()
        monkeypatch.setattr(fit_mod, "atomic_torch_save", save)


@pytest.mark.parametrize("where", ["langevin", "bank_write", "optimizer", "callback", "save"])
def test_ctrl_c_anywhere_in_a_step_resumes_bit_identically(tmp_path, monkeypatch, where):
    cfg = small_config()           # checkpoint_every=4: step 7 ends with a periodic save
    data = GaussianData(1.0)
    full = train(fresh_net(), data, cfg, progress=False)

    box = {"step": 0, "sent": False}

    def start_counter(step, net):
        box["step"] = step + 1       # the step the next hook call belongs to
        if where == "callback" and step == 7 and not box["sent"]:
            import os
            import signal
            box["sent"] = True
            os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as m:
        # the periodic save of step 7 runs after its callback, when the counter reads 8
        _interrupt_points(m, where, 8 if where == "save" else 7, box)
        with pytest.raises(KeyboardInterrupt):
            train(fresh_net(), data, cfg, checkpoint_dir=tmp_path, progress=False,
                  callback=start_counter)
    assert box["sent"]
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["step"] == 8       # step 7 was finished, then saved, then interrupted
    resumed = train(fresh_net(), data, cfg, checkpoint_dir=tmp_path, progress=False)
    assert resumed.resumed_from == 8
    assert_same_run(full, resumed)


def test_an_interrupt_raised_inside_a_step_resumes_from_the_last_consistent_checkpoint(tmp_path):
    cfg = small_config()
    data = GaussianData(1.0)
    full = train(fresh_net(), data, cfg, progress=False)

    def boom(step, net):
        if step == 9:                # mid-run, after the optimiser has moved the weights
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(fresh_net(), data, cfg, checkpoint_dir=tmp_path, progress=False, callback=boom)
    resumed = train(fresh_net(), data, cfg, checkpoint_dir=tmp_path, progress=False)
    assert resumed.resumed_from == 8       # the periodic checkpoint before the interrupt
    assert_same_run(full, resumed)


def test_a_truncated_checkpoint_names_the_file(tmp_path):
    cfg = small_config()
    train(fresh_net(), GaussianData(1.0), cfg, checkpoint_dir=tmp_path, progress=False,
          stop_after=4)
    p = tmp_path / "checkpoint.pt"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"checkpoint.pt is truncated or corrupt.*delete it"):
        train(fresh_net(), GaussianData(1.0), cfg, checkpoint_dir=tmp_path, progress=False)


def test_the_checkpoint_records_the_sessions_that_ran_steps(tmp_path):
    """Each call that runs steps of a run is a session in its checkpoint's record, oldest first;
    a call that runs none (the run is finished) or repeats the last label adds nothing; a run
    started afresh begins a new record, and one killed before its first save leaves the old
    checkpoint with the old record, so resuming later credits the old run's sessions."""
    from ebmbook.learning.fit import UNLABELLED_SESSION
    cfg = small_config()                   # 30 steps, a checkpoint every 4
    data = GaussianData(1.0)

    def run(**kw):
        return train(fresh_net(), data, cfg, checkpoint_dir=tmp_path, progress=False, **kw)
    assert run(session="a", stop_after=6).sessions == ["a"]
    assert run(session="a", stop_after=10).sessions == ["a"]
    assert run(stop_after=12).sessions == ["a", UNLABELLED_SESSION]
    assert run(session="b").sessions == ["a", UNLABELLED_SESSION, "b"]
    assert run(session="c").sessions == ["a", UNLABELLED_SESSION, "b"]   # finished: no step
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["sessions"] == \
        ["a", UNLABELLED_SESSION, "b"]

    def killed(step, net):                 # dies inside its first step, before any save
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError):
        run(session="d", resume=False, callback=killed)
    assert run(session="e").sessions == ["a", UNLABELLED_SESSION, "b"]   # still finished
    fresh = run(session="f", resume=False, stop_after=5)
    assert fresh.sessions == ["f"]
