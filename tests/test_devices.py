"""Device correctness: every sampler, the trainer and the image experiments run on each available
device with generators on that device (CUDA cases are skipped where there is no GPU).

The CPU cases also check the device plumbing: every random draw follows its generator's
device, and a training set given on the CPU is moved to the training device."""

import numpy as np
import pytest
import torch

from ebmbook import artifacts
from ebmbook.data.toy2d import toy_density
from ebmbook.diagnostics.lyapunov import maximal_lyapunov
from ebmbook.energies.potentials import MLPPotential
from ebmbook.experiments import chaos_and_optimisers, image_learning, short_run_generation
from ebmbook.landscape.ad import attraction_diffusion, local_modes
from ebmbook.learning.trainer import TrainConfig, train
from ebmbook.sampling.init import DataInit, NoiseInit, PersistentBank, StoredStates
from ebmbook.sampling.langevin import langevin
from ebmbook.sampling.model import EnergyModel
from ebmbook.experiments.toy_densities import short_run_samples

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))]


def quad(x):
    return 0.5 * x.reshape(len(x), -1).pow(2).sum(1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_langevin_and_mala_on_device(device, dtype):
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.zeros(64, 3, device=device, dtype=dtype)
    r = langevin(quad, x, n_steps=20, eps=0.5, mh=True, generator=g)
    assert r.x.device.type == device and r.x.dtype == dtype and 0 < r.accept_rate <= 1
    noise = torch.linspace(0, 1, 64, device=device, dtype=dtype)    # one gamma per chain
    r = langevin(quad, x, n_steps=5, eps=0.5, noise=noise, generator=g)
    assert torch.equal(r.x[0], torch.zeros(3, device=device, dtype=dtype))   # gamma = 0: stays


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("init", ["noise", "data", "bank", "stored"])
def test_energy_model_draws_and_samples_on_device(device, init):
    g = torch.Generator(device=device).manual_seed(0)
    data = torch.randn(50, 2)

    class Source:
        def sample(self, n, generator=None):
            return data.to(device)[torch.randint(50, (n,), generator=generator, device=device)]

    initializer = {"noise": NoiseInit("gaussian", (2,), 1.0, device),
                   "data": DataInit(Source()),
                   "bank": PersistentBank.from_noise(40, (2,), "uniform", g, 1.0, device),
                   "stored": StoredStates(data.to(device))}[init]
    model = EnergyModel(energy=quad, eps=0.3, tau=1.0, n_langevin=7, initializer=initializer,
                        state_shape=(2,))
    x = model.short_run(16, g).x
    assert x.shape == (16, 2) and x.device.type == device
    y = model.long_run(x, 5, gamma=0.5, generator=g, record_energy=True)
    assert y.energy.shape == (6, 16)
    assert model.energies(y.x).shape == (16,)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("init", ["uniform", "persistent", "data"])
def test_training_on_device_with_cpu_data_and_a_toy_density(device, init):
    cfg = TrainConfig(n_steps=6, batch_size=16, eps=0.1, n_langevin=3, init=init, bank_size=32,
                      optimizer="adam", adam_lr=1e-3, checkpoint_every=3)
    torch.manual_seed(0)
    res = train(MLPPotential(), torch.randn(100, 2), cfg, progress=False, device=device)
    assert next(res.net.parameters()).device.type == device
    assert np.isfinite(res.log.d_st).all()
    torch.manual_seed(0)
    res = train(MLPPotential(), toy_density("gmm"), cfg, progress=False, device=device)
    s = short_run_samples(res, 20, torch.Generator(device=device).manual_seed(1))
    assert s.shape == (20, 2) and s.device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_ad_local_modes_and_lyapunov_on_device(device):
    g = torch.Generator(device=device).manual_seed(0)
    s = torch.full((8, 2), 1.0, device=device)
    t = torch.zeros(8, 2, device=device)
    for sampler in ("langevin", "rwm"):
        r = attraction_diffusion(quad, s, t, temperature=1.0, alpha=50.0, eps=0.05, generator=g,
                                 delta=0.1, max_steps=500, sampler=sampler)
        assert r.success.all()
    m, u = local_modes(quad, s, rate=0.5, n_steps=100)
    assert m.device.type == device and float(u.abs().max()) < 1e-6
    res = maximal_lyapunov(quad, s[:2], [0.0, 1.0], eps=0.2, n_steps=20, renorm_every=5,
                           generator=g)
    assert np.isfinite(res.exponent).all()


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_image_experiments_run_on_device(device, tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(artifacts, "project_root", lambda: tmp_path)
    cfg = image_learning.Config.for_size("ci", model_size="ci", longrun_steps=20, n_strip=3,
                                         n_data=50, mh_steps=5, mh_chains=2, longrun_chains=3,
                                         n_short=4, device=device)
    res = image_learning.run(cfg, progress=False)
    assert all(np.isfinite(v) for v in res.metrics().values())
    cfg = short_run_generation.Config.for_size("ci", model_size="ci", n_generate=4, n_recon=3,
                                               recon_iters=2, n_interp_pairs=1,
                                               n_interp_steps=3, pca_components=2,
                                               device=device)
    assert np.isfinite(short_run_generation.run(cfg, progress=False).recon_mse)
    cfg = chaos_and_optimisers.Config.for_size(
        "ci", model_size="ci", gammas=(0.0, 1.0), lyap_chains=2, lyap_burn=4, lyap_align=4,
        lyap_steps=8, hybrid_chains=2, hybrid_steps=5, small_image_size=8, small_width=4,
        small_batch=8, small_n_per_class=10, prior_steps=3, prior_langevin=2, prior_longrun=3,
        expansion_steps=3, contraction_steps=3, contraction_langevin=2, device=device)
    res = chaos_and_optimisers.run(cfg, progress=False)
    assert np.isfinite(res.lyapunov.exponent).all()


PRECISION_CASES = [("cpu", "bf16"),
                   pytest.param("cuda", "bf16", marks=pytest.mark.skipif(
                       not torch.cuda.is_available(), reason="no CUDA device")),
                   pytest.param("cuda", "tf32", marks=pytest.mark.skipif(
                       not torch.cuda.is_available(), reason="no CUDA device"))]


@pytest.mark.parametrize("device,precision", PRECISION_CASES)
def test_reduced_precision_sampling_and_learning_on_device(device, precision):
    # states and the MH ratio stay fp32 on every device; the chain is close to the fp32 chain
    from ebmbook.energies.potentials import DeepFRAME, RescaledPotential
    torch.manual_seed(0)
    energy = RescaledPotential(DeepFRAME(1, 8, 8, 2), eps=0.01).to(device)
    x = torch.rand(32, 1, 8, 8, device=device) * 2 - 1
    runs = {p: langevin(energy, x, n_steps=10, eps=0.01, precision=p,
                        generator=torch.Generator(device=device).manual_seed(1)).x
            for p in ("fp32", precision)}
    assert runs[precision].dtype == torch.float32 and runs[precision].device.type == device
    assert float((runs[precision] - runs["fp32"]).abs().max()) < 0.05
    cfg = TrainConfig(n_steps=3, batch_size=16, eps=0.01, n_langevin=5, init="uniform",
                      optimizer="adam", precision=precision)
    res = train(DeepFRAME(1, 8, 8, 2), torch.rand(64, 1, 8, 8) * 2 - 1, cfg, progress=False,
                device=device)
    assert np.isfinite(res.log.d_st).all()
    assert all(p.dtype == torch.float32 for p in res.net.parameters())
