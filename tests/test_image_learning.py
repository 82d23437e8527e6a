"""Image experiments (Ch 3): the generator M(Z) and reconstruction against a linear oracle, the
image-learning experiment on ci-size models, the expansion-only pathology, config validation."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ebmbook import artifacts
from ebmbook.experiments import chaos_and_optimisers, image_learning, short_run_generation
from ebmbook.experiments.short_run_generation import reconstruct
from ebmbook.sampling.langevin import langevin
from ebmbook.sampling.model import noise_model


def scaled_norm(k):
    return lambda x: 0.5 * k * x.reshape(len(x), -1).pow(2).sum(1)


def quadratic_model(k, eps, L):
    return noise_model(scaled_norm(k), eps, (1, 4, 4), n_langevin=L)


def test_generator_map_is_noiseless_langevin_and_linear_for_a_quadratic():
    # U = k/2 ||x||^2: each noiseless step multiplies x by (1 - h k), h = eps^2 / 2
    eps, k, L = 0.5, 1.0, 20
    model = quadratic_model(k, eps, L)
    z = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    with_graph = model.generator_map(z.clone().requires_grad_(True), differentiable=True)
    assert with_graph.requires_grad
    no_graph = model.generator_map(z)
    factor = (1 - eps ** 2 / 2 * k) ** L
    assert torch.allclose(no_graph, factor * z, atol=1e-6)
    assert torch.allclose(with_graph.detach(), no_graph, atol=1e-6)
    ref = langevin(scaled_norm(k), z, n_steps=L, eps=eps, noise=0.0).x
    assert torch.equal(no_graph, ref)


def test_reconstruction_recovers_the_latent_of_a_linear_generator():
    eps, k, L = 0.5, 1.0, 5
    model = noise_model(scaled_norm(k), eps, (1, 3, 3), n_langevin=L)
    g = torch.Generator().manual_seed(1)
    z_true = torch.rand(4, 1, 3, 3, generator=g) * 2 - 1
    target = model.generator_map(z_true)
    z0 = torch.zeros_like(z_true)
    recon, z_star, curve = reconstruct(model, target, z0, iters=300, lr=0.05, progress=False)
    assert curve[-1] < 1e-3 * curve[0]
    assert torch.allclose(z_star, z_true, atol=0.05)
    assert torch.allclose(recon, target, atol=0.01)


def test_image_learning_runs_on_ci_models(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(artifacts, "project_root", lambda: tmp_path)
    cfg = image_learning.Config.for_size("ci", model_size="ci", longrun_steps=60, n_strip=4,
                                         n_data=100, mh_steps=10, mh_chains=2, longrun_chains=3,
                                         n_short=5)
    res = image_learning.run(cfg, progress=False)
    m = res.metrics()
    for key in ("data_energy_mean", "data_energy_sd", "longrun_energy_convergent",
                "longrun_energy_nonconvergent", "longrun_steps", "image_size",
                "train_steps_convergent"):
        assert math.isfinite(m[key]), key
    assert m["image_size"] == 8 and m["longrun_steps"] == 60 and m["train_steps_convergent"] == 30
    for run in res.models.values():
        assert run.longrun_energy.shape == (61, 3)
        assert run.strip.shape == (len(run.strip_steps), 1, 8, 8)
        assert run.strip_steps[0] == 0 and run.strip_steps[-1] == 60
        # the recorded path energy at the last step is the energy of the final states
        with torch.no_grad():
            final = run.artifact.energy(run.longrun).double().numpy()
        assert np.allclose(run.longrun_energy[-1], final, rtol=1e-4)
    assert res.models["nonconvergent"].longrun_start == "noise"
    assert res.models["convergent"].longrun_start == "data"
    assert 0 <= m["mh_accept_convergent"] <= 1


def test_expansion_only_learning_blows_up_the_gradient_strength():
    cfg = chaos_and_optimisers.Config.for_size("ci", small_image_size=8, small_width=8,
                                               small_n_per_class=50, expansion_steps=120)
    run = chaos_and_optimisers._train_small("expansion", cfg.small_spec("expansion"), "cpu",
                                            False, torch.Generator().manual_seed(0))
    d = run.log.d_st[: run.steps_done]
    assert np.mean(d < 0) > 0.9                                    # (almost) only expansion
    assert chaos_and_optimisers._ratio_end_start(run.log.r_st[: run.steps_done]) > 10


@pytest.mark.parametrize("mod,field,value", [
    (image_learning, "model_size", "huge"), (image_learning, "longrun_steps", 0),
    (short_run_generation, "recon_lr", -1.0), (short_run_generation, "n_interp_steps", 1),
    (chaos_and_optimisers, "gammas", ()), (chaos_and_optimisers, "lyap_renorm", 10**9),
])
def test_bad_experiment_config_names_the_field(mod, field, value):
    with pytest.raises(ValueError, match=field):
        mod.Config.for_size("ci", **{field: value})


@pytest.mark.parametrize("field", ["convergent", "nonconvergent"])
def test_image_learning_refuses_a_model_that_is_not_a_deepframe_recipe(field):
    with pytest.raises(ValueError, match=f"'{field}' = 'coop_digits03' is invalid"):
        image_learning.Config.for_size("ci", **{field: "coop_digits03"})


def test_image_learning_refuses_two_models_of_different_image_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(artifacts, "project_root", lambda: tmp_path)
    shapes = {"fmnist_nonconvergent28": (1, 8, 8), "fmnist_convergent": (1, 16, 16)}
    fake = {name: (SimpleNamespace(spec=SimpleNamespace(shape=shape)), "finished")
            for name, shape in shapes.items()}
    monkeypatch.setattr(image_learning, "book_model", lambda name, *a, **k: fake[name])
    cfg = image_learning.Config.for_size("ci", convergent="fmnist_convergent")
    with pytest.raises(ValueError, match="different shapes"):
        image_learning.run(cfg, progress=False)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown image model"):
        image_learning.model_spec("cifar_convergent")


def test_short_run_generation_reports_the_record_of_its_model_and_flags_a_divergence():
    from types import SimpleNamespace
    from ebmbook.learning.trainer import TrainLog
    cfg = short_run_generation.Config.for_size("ci", model="fmnist_nonconvergent28")

    def result(d_st, steps_done):
        art = SimpleNamespace(spec=SimpleNamespace(image_size=28, shape=(1, 28, 28),
                                                   train=SimpleNamespace(divergence_threshold=1e8)),
                              log=TrainLog(d_st=np.asarray(d_st, float)),
                              manifest={"steps_done": steps_done})
        return short_run_generation.Result(
            config=cfg, artifact=art, generated=None, generator_samples=None,
            interpolation=None, targets=None, recon=None, recon_curve=None, mean_image=None,
            pca_recon=None, recon_mse=0.01, recon_mse_init=0.5, recon_mse_baseline=0.1,
            recon_mse_pca=0.05, status=f"partial, {steps_done} of 20000 updates")

    ok = result([5e4, -3e4, 1e3, np.nan], 3).metrics("_28")   # NaN: not run yet
    assert ok["noise_init_updates_28"] == 3 and ok["noise_init_diverged_28"] == 0
    assert "partial, 3 of 20000" in ok["noise_init_updates_28"].description
    assert result([5e4, -2e8, 1e3], 3).metrics()["noise_init_diverged"] == 1
    assert result([5e4, np.inf, 1e3], 3).metrics()["noise_init_diverged"] == 1
    with pytest.raises(ValueError, match="model"):
        short_run_generation.Config(model="fmnist_convergent")
