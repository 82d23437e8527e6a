"""Co-Op learning (Appendix A, Algorithm 4): a linear-Gaussian oracle, bit-identical resume,
divergence, config validation, the latent energy (5.2) and an image-sized smoke run."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from ebmbook.energies.generator import (GeneratorPosterior, ImageGenerator, LatentEnergy,
                                        MLPGenerator)
from ebmbook.energies.potentials import DeepFRAME, MLPPotential
from ebmbook.learning.coop import CoopConfig, GeneratorInit, train_coop
from ebmbook.learning.fit import TrainingDivergedError
from ebmbook.sampling.langevin import energy_and_grad


class GaussianF(nn.Module):
    """F(x) = a * ||x - m||^2 / 2: a learnable precision a and mean m."""

    def __init__(self, dim=2, a=1.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))
        self.m = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return 0.5 * self.a * ((x - self.m) ** 2).sum(1)


class LinearG(nn.Linear):
    """g(z) = A z + c."""

    def __init__(self, dim=2):
        super().__init__(dim, dim)
        self.latent_dim = dim


class GaussianData:
    def __init__(self, mu, sd):
        self.mu, self.sd = torch.tensor(mu), sd

    def sample(self, n, generator=None):
        return self.mu + self.sd * torch.randn(n, len(self.mu), generator=generator)


@pytest.mark.parametrize("eps_data", [0.0, 0.3])
def test_coop_learns_a_gaussian_and_its_generator_matches(eps_data):
    # Data N(mu, s^2 I) in 2-D. The descriptor U = F (rescale=False) is a Gaussian with learnable
    # precision a and mean m; the generator is linear, g(z) = A z + c. Revisions are MH-exact
    # (5 steps that mix in ~3) and the latent inference is MH-exact too, so the descriptor's ML
    # fixed point is a = 1/s^2, m = mu, and the generator's update is stochastic EM for the
    # factor-analysis model Y ~ N(c, A A^T + sigma^2 I) fitted to the revised images, whose fixed
    # point (probabilistic PCA) is c = mu, A A^T = (s^2 - sigma^2) I: the generator's *output*
    # g(z) has variance s^2 - sigma^2 = 0.21 (sigma = 0.2), the rest is its observation noise.
    # With data noise eps_data (eq. 3.1) the positives are N(mu, (s^2 + eps_data^2) I), so s^2
    # is replaced by s^2 + eps_data^2 throughout (a = 1 / 0.34 instead of 4 at eps_data = 0.3).
    mu, sigma = [1.0, -0.5], 0.2
    sd = (0.5 ** 2 + eps_data ** 2) ** 0.5          # the sd of the positives
    cfg = CoopConfig(n_steps=200, batch_size=200, eps=0.4, n_langevin=4, rescale=False, mh=True,
                     descriptor_lr=0.1, generator_lr=0.03, generator_sigma=sigma,
                     infer_steps=6, infer_eps=0.4, infer_mh=True, seed=0, eps_data=eps_data)
    torch.manual_seed(0)
    descriptor, generator = GaussianF(), LinearG()
    n_avg, avg = 80, {}

    def average(t, learner):        # Polyak average of the last n_avg steps of both nets
        if t >= cfg.n_steps - n_avg:
            for name, net in (("d", learner.descriptor), ("g", learner.generator)):
                for k, v in net.state_dict().items():
                    avg[name, k] = avg.get((name, k), 0) + v / n_avg

    train_coop(descriptor, generator, GaussianData(mu, 0.5), cfg, progress=False,
               callback=average)
    descriptor.load_state_dict({k: avg["d", k] for k in descriptor.state_dict()})
    generator.load_state_dict({k: avg["g", k] for k in generator.state_dict()})
    # Tolerances: Adam's steady jitter (rate 0.1 on a ~ 4, 0.03 on A ~ 0.46) averaged over 80
    # steps, plus the Monte Carlo error of batches of 200 (sd of a variance estimate ~ 10% per
    # batch, ~ 2% over the average) and the residual lag of 200 steps; seeds 0-2 gave a within
    # 1.6% of 4, means within 0.03 and output variances 0.215-0.232 against 0.21.
    assert descriptor.a.item() == pytest.approx(1 / sd ** 2, rel=0.1)
    assert descriptor.m.detach().numpy() == pytest.approx(mu, abs=0.1 * sd)
    with torch.no_grad():
        y = generator(torch.randn(20000, 2, generator=torch.Generator().manual_seed(1)))
    assert y.mean(0).numpy() == pytest.approx(mu, abs=0.1 * sd)
    assert y.var(0).numpy() == pytest.approx([sd ** 2 - sigma ** 2] * 2, rel=0.15)


def small_config(**kw):
    base = dict(n_steps=12, batch_size=8, eps=0.1, n_langevin=3, descriptor_lr=1e-3,
                generator_lr=1e-3, generator_sigma=0.3, infer_steps=2, infer_eps=0.1,
                checkpoint_every=4, seed=5)
    base.update(kw)
    return CoopConfig(**base)


def fresh_nets():
    torch.manual_seed(0)
    return MLPPotential(dim=2, widths=(16, 16)), MLPGenerator(latent_dim=2, out_dim=2, widths=(16,))


def test_resume_is_bit_identical(tmp_path):
    cfg, data = small_config(), GaussianData([0.0, 0.0], 1.0)
    full = train_coop(*fresh_nets(), data, cfg, progress=False)

    part = train_coop(*fresh_nets(), data, cfg, checkpoint_dir=tmp_path, progress=False,
                      stop_after=5)
    assert part.steps_done == 5
    resumed = train_coop(*fresh_nets(), data, cfg, checkpoint_dir=tmp_path, progress=False)
    assert resumed.resumed_from == 5 and resumed.steps_done == 12
    for net in ("descriptor", "generator"):
        a, b = getattr(full, net).state_dict(), getattr(resumed, net).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    for name in full.log.names():
        assert np.array_equal(getattr(full.log, name), getattr(resumed.log, name)), name
    assert np.isfinite(full.log.g_loss).all() and (full.log.z_r > 0).all()


def test_a_descriptor_that_turns_nan_diverges_after_a_checkpoint(tmp_path):
    class NaNF(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return self.a * (x * x).sum(1) * float("nan")

    _, g = fresh_nets()
    before = copy.deepcopy(g.state_dict())
    with pytest.raises(TrainingDivergedError, match=r"step 0.*not finite") as e:
        train_coop(NaNF(), g, GaussianData([0.0, 0.0], 1.0), small_config(),
                   checkpoint_dir=tmp_path, progress=False)
    assert e.value.step == 0
    assert (tmp_path / "checkpoint.pt").exists()
    # checked before any state changed: the generator was not updated
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())


def test_an_exploding_descriptor_raises_naming_the_threshold(tmp_path):
    with pytest.raises(TrainingDivergedError, match="divergence_threshold"):
        train_coop(*fresh_nets(), GaussianData([0.0, 0.0], 1.0),
                   small_config(divergence_threshold=1e-12), checkpoint_dir=tmp_path,
                   progress=False)


@pytest.mark.parametrize("field, value", [
    ("eps", 0.0), ("n_langevin", -1), ("batch_size", 0), ("tau", -1.0), ("descriptor_lr", -1e-4),
    ("generator_lr", 0.0), ("generator_sigma", 0.0), ("infer_steps", -2), ("infer_eps", -0.1),
    ("prior_sigma", 0.0), ("eps_data", -0.1), ("precision", "fp16"), ("n_steps", 0), ("divergence_threshold", float("nan")),
])
def test_bad_coop_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"'{field}'"):
        CoopConfig(**{field: value})


def test_a_generator_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        train_coop(MLPPotential(dim=2), MLPGenerator(latent_dim=2, out_dim=3),
                   GaussianData([0.0, 0.0], 1.0), small_config(), progress=False)


def test_latent_energy_is_u_of_g_plus_the_prior():
    torch.manual_seed(0)
    u, g = MLPPotential(dim=3, widths=(8,)), MLPGenerator(latent_dim=2, out_dim=3, widths=(8,))
    z = torch.randn(7, 2, dtype=torch.float64)
    u, g = u.double(), g.double()
    with_prior, without = LatentEnergy(u, g), LatentEnergy(u, g, prior=False)
    expected = u(g(z)) + 0.5 * (z * z).sum(1)
    assert torch.allclose(with_prior(z), expected)
    assert torch.allclose(without(z), u(g(z)))
    val, grad = energy_and_grad(with_prior, z)
    zz = z.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad((u(g(zz)) + 0.5 * (zz * zz).sum(1)).sum(), zz)
    assert torch.allclose(val, expected) and torch.allclose(grad, ref)
    # the generator posterior of (A.1): ||x - g(z)||^2 / (2 sigma^2) + ||z||^2 / 2
    x = torch.randn(7, 3, dtype=torch.float64)
    post = GeneratorPosterior(g, x, sigma=0.3)
    assert torch.allclose(post(z), ((x - g(z)) ** 2).sum(1) / 0.18 + 0.5 * (z * z).sum(1))


def test_resize_upsampling_paints_no_checkerboard_where_transposed_convolutions_do():
    # oracle: a spatially constant feature map (fc weights zero, a constant bias) stays constant
    # away from the border under nearest-neighbour resizing and a 3x3 convolution, whereas a 4x4
    # stride-2 transposed convolution covers even and odd output pixels with different kernel
    # taps and paints a period-2 pattern
    def interior_spread(upsample):
        torch.manual_seed(0)
        g = ImageGenerator(latent_dim=3, image_size=16, width=4, upsample=upsample)
        with torch.no_grad():
            g.fc.weight.zero_()
            g.fc.bias.fill_(0.5)
            x = g(torch.randn(2, 3))[:, 0, 3:-3, 3:-3]
        return (x - x.mean()).abs().max().item()

    assert interior_spread("resize") < 1e-6
    assert interior_spread("transposed") > 1e-3
    g = ImageGenerator(latent_dim=8, image_size=28, width=4, upsample="resize")
    assert g(torch.randn(2, 8)).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="upsample"):
        ImageGenerator(upsample="bilinear")


def test_a_coop_spec_keeps_its_hash_at_the_default_upsampling_and_builds_the_chosen_one():
    import dataclasses

    from ebmbook.models import CoopModelSpec, spec_hash
    spec = CoopModelSpec(train=CoopConfig(n_steps=3))
    resized = dataclasses.replace(spec, generator_upsample="resize")
    same = dataclasses.replace(spec, generator_upsample="transposed")
    assert spec_hash(same) == spec_hash(spec) != spec_hash(resized)
    assert resized.build_nets()[1].upsample == "resize"
    assert any(isinstance(m, nn.Upsample) for m in resized.build_nets()[1].modules())
    with pytest.raises(ValueError, match="generator_upsample"):
        dataclasses.replace(spec, generator_upsample="pixelshuffle")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_image_coop_runs_on_16x16_images(precision, monkeypatch):
    monkeypatch.setenv("EBMBOOK_BF16", "always")   # bf16 itself, emulated where not native
    torch.manual_seed(0)
    gen = ImageGenerator(latent_dim=2, channels=1, image_size=16, width=8)
    desc = DeepFRAME(1, 16, width=8, n_down=2)
    y = gen(torch.randn(5, 2))
    assert y.shape == (5, 1, 16, 16) and y.abs().max() <= 1
    assert ImageGenerator(latent_dim=8, image_size=28, width=4)(torch.randn(2, 8)).shape \
        == (2, 1, 28, 28)
    images = 2 * torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(0)) - 1
    before = {n: p.detach().clone() for n, p in
              (*desc.named_parameters(prefix="d"), *gen.named_parameters(prefix="g"))}
    cfg = CoopConfig(n_steps=3, batch_size=6, infer_steps=2, seed=1, precision=precision)
    res = train_coop(desc, gen, images, cfg, progress=False)
    assert res.model.precision == precision       # the revisions ran in the chosen arithmetic
    for name in res.log.names():
        assert np.isfinite(getattr(res.log, name)).all(), name
    after = dict((*desc.named_parameters(prefix="d"), *gen.named_parameters(prefix="g")))
    unchanged = {n for n in before if torch.equal(before[n], after[n])}
    # both nets were updated; only the descriptor's output bias has no gradient (it cancels in
    # d_st = mean U(X+) - mean U(Y~))
    assert unchanged == {"d.head.bias"}
    # the trained pair carries its own sampler: the generator initialises the descriptor's chains
    assert isinstance(res.model.initializer, GeneratorInit)
    out = res.model.short_run(4, generator=torch.Generator().manual_seed(2))
    assert out.x.shape == (4, 1, 16, 16)
    assert res.latent_energy()(torch.zeros(3, 2)).shape == (3,)


def test_unknown_latent_dim_is_refused():
    with pytest.raises(ValueError, match="latent_dim"):
        GeneratorInit(nn.Sequential(nn.Linear(2, 2)))


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))]


@pytest.mark.parametrize("device", DEVICES)
def test_coop_runs_on_device_with_data_given_on_the_cpu(device):
    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    res = train_coop(*fresh_nets(), data, small_config(n_steps=3), progress=False, device=device)
    assert all(p.device.type == device for p in res.descriptor.parameters())
    assert all(p.device.type == device for p in res.generator.parameters())
    assert np.isfinite(res.log.d_st).all()
    out = res.model.short_run(5, generator=torch.Generator(device=device).manual_seed(0))
    assert out.x.device.type == device and out.x.shape == (5, 2)


def test_a_decaying_descriptor_rate_follows_its_schedule_and_resumes_bit_for_bit(tmp_path):
    """``descriptor_lr_decay``: the descriptor's Adam rate at step t is lr * decay ** t (a
    function of t, so a resumed run continues the schedule), the generator's stays put, and a
    factor of 1 is the constant rate of every committed pair (the same hash)."""
    cfg, data = small_config(descriptor_lr_decay=0.8), GaussianData([0.0, 0.0], 1.0)
    seen = []
    full = train_coop(*fresh_nets(), data, cfg, progress=False,
                      callback=lambda t, lr: seen.append((t, lr.d_opt.param_groups[0]["lr"],
                                                          lr.g_opt.param_groups[0]["lr"])))
    assert [s[0] for s in seen] == list(range(12))
    for t, d_lr, g_lr in seen:
        assert d_lr == pytest.approx(1e-3 * 0.8 ** t, rel=1e-12) and g_lr == 1e-3
    train_coop(*fresh_nets(), data, cfg, checkpoint_dir=tmp_path, progress=False, stop_after=5)
    resumed = train_coop(*fresh_nets(), data, cfg, checkpoint_dir=tmp_path, progress=False)
    assert resumed.resumed_from == 5
    a, b = full.descriptor.state_dict(), resumed.descriptor.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the decay changes the run; a factor of 1 is the old config exactly
    const = train_coop(*fresh_nets(), data, small_config(), progress=False)
    first = lambda r: next(iter(r.descriptor.parameters())).detach()   # noqa: E731
    assert not torch.equal(first(const), first(full))
    assert small_config(descriptor_lr_decay=1.0) == small_config()
    from ebmbook._config import config_hash
    assert config_hash(small_config(descriptor_lr_decay=1.0)) == config_hash(small_config())
    with pytest.raises(ValueError, match="descriptor_lr_decay"):
        small_config(descriptor_lr_decay=1.5)


def test_wide_negatives_enter_the_descriptor_loss_only():
    """``wide_share``: each step adds round(share * batch) codes from N(0, wide_sd^2 I) whose
    images join the descriptor's negatives. Oracle, with no revision and no inference (so every
    draw is known): the logged mean negative energy is F's mean over g(z) and g(z_w) together,
    recomputed from the same random stream; and the generator, which never regresses on the
    wide codes, is updated exactly as without them."""
    def nets():
        g = LinearG()
        with torch.no_grad():
            g.weight.copy_(torch.eye(2))
            g.bias.zero_()
        return GaussianF(a=2.0), g
    data = GaussianData([0.5, -0.5], 1.0)
    kw = dict(n_steps=1, batch_size=8, eps=0.1, n_langevin=0, rescale=False, infer_steps=0,
              descriptor_lr=1e-2, generator_lr=1e-2, seed=3)
    wide = train_coop(*nets(), data, CoopConfig(wide_share=0.25, wide_sd=3.0, **kw),
                      progress=False)
    plain = train_coop(*nets(), data, CoopConfig(**kw), progress=False)

    F, g = nets()
    gen = torch.Generator().manual_seed(3)
    data.sample(8, generator=gen)
    z = torch.randn(8, 2, generator=gen)
    z_w = 3.0 * torch.randn(2, 2, generator=gen)               # round(0.25 * 8) = 2 wide codes
    with torch.no_grad():
        expected = F(torch.cat([g(z), g(z_w)])).mean().item()
        narrow = F(g(z)).mean().item()
        far = F(g(z_w)).mean().item()
    assert wide.log.u_neg[0] == pytest.approx(expected, rel=1e-5)
    assert plain.log.u_neg[0] == pytest.approx(narrow, rel=1e-5)
    assert far > 2 * narrow          # the wide images are far out (9x in expectation)
    a, b = wide.generator.state_dict(), plain.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the loss the descriptor descends is d_st = mean U(X+) - that mean
    assert wide.log.d_st[0] == pytest.approx(wide.log.u_pos[0] - expected, rel=1e-5)

    # wide_sd_low: each wide code's sd uniform on [low, wide_sd], drawn after the codes
    shell = train_coop(*nets(), data, CoopConfig(wide_share=0.25, wide_sd=3.0,
                                                 wide_sd_low=1.5, **kw), progress=False)
    gen = torch.Generator().manual_seed(3)
    data.sample(8, generator=gen)
    torch.randn(8, 2, generator=gen)
    e = torch.randn(2, 2, generator=gen)
    sd = 1.5 + 1.5 * torch.rand(2, 1, generator=gen)
    assert ((sd >= 1.5) & (sd <= 3.0)).all() and sd[0] != sd[1]
    with torch.no_grad():
        expected = F(torch.cat([g(z), g(sd * e)])).mean().item()
    assert shell.log.u_neg[0] == pytest.approx(expected, rel=1e-5)
    a = shell.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_wide_negatives_count_and_config():
    from ebmbook._config import config_hash
    from ebmbook.learning.coop import wide_count
    assert wide_count(CoopConfig()) == 0
    assert wide_count(CoopConfig(wide_share=0.2, batch_size=50)) == 10
    assert wide_count(CoopConfig(wide_share=0.001, batch_size=50)) == 1
    # off by default, and then the hash every committed pair was stored under
    assert config_hash(CoopConfig(wide_sd=3.0)) == config_hash(CoopConfig())
    assert config_hash(CoopConfig(wide_share=0.2)) != config_hash(CoopConfig())
    assert config_hash(CoopConfig(wide_sd_low=None)) == config_hash(CoopConfig())
    assert config_hash(CoopConfig(wide_share=0.2, wide_sd_low=1.0)) != config_hash(
        CoopConfig(wide_share=0.2))
    for field, value in [("wide_share", -0.1), ("wide_sd", 0.0), ("wide_sd_low", 0.0),
                         ("wide_sd_low", 3.5)]:
        with pytest.raises(ValueError, match=f"'{field}'"):
            CoopConfig(**{field: value})
