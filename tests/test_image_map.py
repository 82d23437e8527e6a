"""The image-space map (Fig 1.1, Sec 5.2.3.1): proposals that float at the training temperature,
ADELM on a two-well image energy whose basins are known, the gamma = 0 descent, the scores,
and the user-folder path (train and map a folder of images)."""

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ebmbook.diagnostics.clustering import fit_judge
from ebmbook.experiments import image_map as im
from ebmbook.landscape.mapping import ChainProposals
from ebmbook.sampling.model import noise_model

SHAPE = (1, 4, 4)
C = 0.8 * torch.ones(SHAPE)          # the wells sit at +C and -C (6.4 apart in L2)


class TwoWells(nn.Module):
    """U(x) = -log(exp(-k |x - C|^2 / 2) + exp(-k |x + C|^2 / 2)): two Gaussian wells of sd
    1/sqrt(k) per pixel; the barrier between them is k |2C|^2 / 8 = 128 at k = 25."""

    def __init__(self, k: float = 25.0):
        super().__init__()
        self.k = k

    def forward(self, x):
        a = (x - C).flatten(1).pow(2).sum(1)
        b = (x + C).flatten(1).pow(2).sum(1)
        return -torch.logsumexp(torch.stack([-self.k * a / 2, -self.k * b / 2]), 0)


def _toy_artifact(n_per_well: int = 20, seed: int = 0, k: float = 25.0):
    g = torch.Generator().manual_seed(seed)
    X = torch.cat([C + 0.1 * torch.randn((n_per_well,) + SHAPE, generator=g),
                   -C + 0.1 * torch.randn((n_per_well,) + SHAPE, generator=g)])
    y = np.repeat([0, 1], n_per_well)
    labelled = SimpleNamespace(images=X, labels=y)
    spec = SimpleNamespace(load_data=lambda split="train": X,
                           load_labelled=lambda split="train": labelled, image_size=4,
                           dataset="two wells")
    energy = TwoWells(k)
    # the model carries its own sampler: step eps = 0.1, noise 1 (the training temperature)
    model = noise_model(energy, eps=0.1, state_shape=SHAPE)
    return SimpleNamespace(energy=energy, spec=spec, model=model), X, y


def _toy_config(**kw):
    return im.Config.for_size("ci", progress=False, **{**dict(
        mode_steps=30, delta=1.5, improvement_limit=30, max_steps=300,
        tune_alphas=(1.0, 3.0, 10.0), tune_iter=5, adelm_iter=12,
        barrier_alpha_factors=(1.0, 2.0, 4.0, 8.0), descent_steps=300), **kw})


def test_data_chains_start_at_the_drawn_images_and_diffuse_at_the_training_temperature():
    X = torch.linspace(-1, 1, 5 * 16).reshape(5, *SHAPE) * torch.arange(1, 6).reshape(5, 1, 1, 1)
    flat = lambda x: 0.0 * x.flatten(1).sum(1)        # noqa: E731 - U = 0: pure diffusion
    model = noise_model(flat, eps=0.01, state_shape=SHAPE)
    p = ChainProposals(model, X, n_steps=100)
    g = torch.Generator().manual_seed(0)
    out = p(400, g)
    idx = torch.as_tensor(p.drawn)
    assert out.shape == (400,) + SHAPE and len(p.drawn) == 400
    step = out - X[idx]
    # n Langevin steps of noise eps: displacement N(0, n eps^2) per pixel
    assert abs(float(step.std()) - 0.01 * 10) < 0.005
    assert abs(float(step.mean())) < 0.005
    # and the same generator state gives the same chains
    p2 = ChainProposals(model, X, n_steps=100)
    torch.testing.assert_close(p2(400, torch.Generator().manual_seed(0)), out)


def test_the_map_of_two_wells_finds_exactly_the_two_basins_and_labels_them_purely():
    art, X, y = _toy_artifact()
    c = _toy_config()
    spread = im.Spread(0.0, 1.0, -2.0, 2.0)
    judge = fit_judge(X, y, X, y)
    m = im.map_images(art, c, spread, judge, seed=0)
    assert m.n_basins == 2
    # every mode sits in the well of the image its chain started from
    side = (m.adelm.modes.flatten(1).mean(1) > 0).numpy()
    np.testing.assert_array_equal(side, y[m.starts] == 0)
    # across the wells, the barrier ladder (up to 8x the tuned alpha) crosses, and the AD
    # barrier is the saddle's energy: no path crosses the mid-plane below its minimum, 128 -
    # log 2, and a chain at T = 1 crosses close to it
    b = m.barriers[0, 1]
    assert 128 - np.log(2) - 1e-6 <= b <= 128 + 10
    assert m.owned_labels() == [0, 1] and m.owned_labels(share=1.0) == [0, 1]
    # a basin read as its label by fewer than half of its modes owns nothing
    mixed = dataclasses.replace(m, basin_share=np.array([0.4, 0.9]))
    assert mixed.owned_labels() == [int(m.basin_label[1])]
    s = im.score_map(m, seed=0)
    assert s.basins["purity"] == 1.0 and s.basins_vs_start["purity"] == 1.0
    assert s.basins["k"] == 2
    # the same seed gives the same map
    m2 = im.map_images(art, c, spread, judge, seed=0)
    np.testing.assert_array_equal(m2.adelm.labels, m.adelm.labels)
    np.testing.assert_array_equal(m2.starts, m.starts)


def test_a_pull_too_weak_to_reach_anything_leaves_every_mode_in_a_basin_of_its_own():
    art, X, y = _toy_artifact()
    # alpha so small and delta so tight that AD never succeeds: ADELM opens a basin per mode
    c = _toy_config(tune_alphas=(1e-3,), delta=1e-3, max_steps=50, adelm_iter=6)
    m = im.map_images(art, c, im.Spread(0.0, 1.0, -2.0, 2.0), None, seed=1)
    assert m.n_basins == 6 and m.reads is None and im.score_map(m, seed=0) is None
    assert m.owned_labels() == []
    assert np.all(m.basin_label == -1)


def test_gamma_zero_descent_reaches_the_wells_minima():
    art, X, y = _toy_artifact()
    m = im.map_images(art, _toy_config(), im.Spread(0.0, 1.0, -2.0, 2.0), None, seed=2)
    d = im.descend(m, im.Spread(0.0, 1.0, -2.0, 2.0), n_steps=2000)
    centres = torch.where((d.minima.flatten(1).mean(1) > 0).reshape(-1, 1, 1, 1), C, -C)
    torch.testing.assert_close(d.minima, centres, atol=1e-3, rtol=0)
    # the minimum of U is -log(1 + exp(-k |2C|^2 / 2)) ~ 0
    assert np.all(np.abs(d.energies_z) < 1e-3)
    assert np.all(d.energies_z <= m.adelm.energies.max())


def test_config_refuses_unknown_models_data_and_grids():
    with pytest.raises(ValueError, match="'model'"):
        im.Config(model="coop_digits03")
    with pytest.raises(ValueError, match="folder:<folder>"):
        im.Config(data="no_such_data")
    with pytest.raises(ValueError, match="tune_alphas"):
        im.Config(tune_alphas=(3.0, 1.0))
    with pytest.raises(ValueError, match="model_size"):
        im.Config(model_size="huge")
    with pytest.raises(ValueError, match="'judge'"):
        im.Config(judge="labels")


def test_the_scale_judge_reads_the_map_and_its_numbers_are_not_named_fmnist(monkeypatch):
    """``judge="scale"`` (the size ``scales``: the four-scale patches' descriptor) reads the
    modes with the patch-scale judge of texture_maps, not the pixel judge, and a map of the
    patches' descriptor puts its numbers under ``scales_image_`` names instead of ``fmnist_``."""
    from ebmbook.experiments import texture_maps as tm
    assert im.Config.for_size("scales").judge == "scale"
    assert im.Config.for_size("scales").model == "brick_convergent"
    art, X, y = _toy_artifact(k=4.0)
    monkeypatch.setattr(im, "load_model", lambda config: art)
    monkeypatch.setattr(im, "energy_spread", lambda a, n: im.Spread(5.0, 2.0, 1.0, 9.0))
    used = []
    judge = fit_judge(X, y + 1, X, y + 1)            # "scales" 1 and 2
    monkeypatch.setattr(im, "fit_image_judge",
                        lambda a, n: used.append("pixels") or fit_judge(X, y, X, y))
    monkeypatch.setattr(tm, "fit_scale_judge", lambda a: used.append("scale") or judge)
    mp = im.run(_toy_config()).metrics()
    # the four-scale descriptor's numbers are named after the patches
    sca = im.run(_toy_config(judge="scale", model="brick_convergent"))
    assert used == ["pixels", "scale"]
    np.testing.assert_array_equal(sca.map.reads, judge.predict(sca.map.adelm.modes))
    assert set(sca.map.basin_label) == {1, 2}
    ms = sca.metrics()
    assert not any("fmnist" in k for k in ms)
    assert {k.replace("fmnist", "scales_image", 1) for k in mp} == set(ms)
    assert ms["scales_image_map_basins"] == mp["fmnist_map_basins"] == 2
    assert ms["adelm_iterations_scales_image"] == 12
    # each well's representative is read as its basin's scale
    assert sca.map.representative_reads().tolist() == sca.map.basin_label.tolist()
    assert ms["scales_image_labels_read_in_representatives"] == 2


def _sample_image_folder(root, n_per_photo: int = 12, side: int = 64):
    """A folder of PNG patches cut from scikit-learn's two bundled photos, one sub-folder (one
    label) per photo."""
    from sklearn.datasets import load_sample_images
    rng = np.random.default_rng(0)
    for name, photo in zip(("china", "flower"), load_sample_images().images):
        d = root / name
        d.mkdir(parents=True)
        H, W = photo.shape[:2]
        for k in range(n_per_photo):
            t, l = rng.integers(0, H - side), rng.integers(0, W - side)
            Image.fromarray(photo[t:t + side, l:l + side]).save(d / f"{k:02d}.png")
    return root


def test_a_folder_of_images_trains_and_maps_from_the_command_line(tmp_path, monkeypatch,
                                                                 capsys):
    from ebmbook.cli import main
    folder = _sample_image_folder(tmp_path / "photos")
    monkeypatch.chdir(tmp_path)         # _build/artifacts lands in tmp_path
    out = tmp_path / "art"
    assert main(["train", "fmnist_convergent", "--size", "ci", "--data", f"folder:{folder}",
                 "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["dataset"] == f"folder:{folder}"
    assert f"--data folder:{folder}" in manifest["command"]
    # the map trains its own copy on first use (the ci recipe: seconds) and reads sub-folders
    c = im.Config.for_size("ci", model_size="ci", data=f"folder:{folder}", progress=False,
                           mode_steps=10, tune_alphas=(50.0, 100.0), tune_iter=3, adelm_iter=5,
                           max_steps=100, descent_steps=20, n_data=20, judge_images=50)
    r = im.run(c)
    assert r.map.artifact.spec.dataset == f"folder:{folder}"
    assert r.map.adelm.modes.shape[1:] == (1, 8, 8)
    assert 1 <= r.map.n_basins <= 5
    assert r.judge is not None and 0.0 <= r.judge.accuracy <= 1.0
    m = r.metrics()
    assert m["fmnist_model_image_size"] == 8
    # a bad folder names the fix
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "fmnist_convergent", "--size", "ci", "--data", f"folder:{empty}",
                 "--out", str(tmp_path / "art2"), "--quiet"]) == 2
    assert "image" in capsys.readouterr().err.lower()


def test_run_refuses_data_for_an_experiment_without_it(capsys):
    from ebmbook.cli import main
    assert main(["run", "toy_densities", "--data", "folder:x"]) == 2
    assert "image_map" in capsys.readouterr().err
    assert main(["run", "toy_densities", "--model-size", "ci"]) == 2
    assert "--model-size" in capsys.readouterr().err


def test_sixteen_bit_images_are_refused_with_the_fix(tmp_path):
    from ebmbook.data.patches import ImageFileError, read_grey
    p = tmp_path / "deep.png"
    Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)).save(p)
    with pytest.raises(ImageFileError, match="8-bit PNG or JPEG"):
        read_grey(p)


def test_fig58_in_image_space_refines_the_two_wells_merge_to_the_exact_saddle_in_data_sds():
    """Issue 26 on an image map: the map's matrix is in data sds, the saddle search runs in U.
    The two wells' saddle is the origin by symmetry, at U = k |C|^2 / 2 - log 2, with one
    negative Hessian eigenvalue (k - k^2 |C|^2, along C; k in every other direction); read in
    data sds through the spread. k = 4 keeps the wells soft enough for a float32 climbing image
    to meet the gradient tolerance (at k = 25 it lands on the saddle's energy to 1e-4 but the
    negative curvature of -6400 leaves a gradient of 0.15)."""
    k = 4.0
    art, X, y = _toy_artifact(k=k)
    c = _toy_config(fig58_pairs=1, fig58_iter=400)
    spread = im.Spread(5.0, 2.0, 1.0, 9.0)
    m = im.map_images(art, c, spread, None, seed=0)
    assert m.n_basins == 2
    b = im.image_barriers(m, spread, c, seed=0)
    exact = float(spread.z(k * float(C.pow(2).sum()) / 2 - np.log(2)))
    assert b.kinds == {(0, 1): "saddle"} and b.verified_share == 1.0
    assert b.zero_hessian == 0.0 and b.merges_with_path == 1 and b.merge_grad_norm <= 1e-2
    bc = b.comparison
    assert bc.ad[0] == m.barriers[0, 1]               # the map's AD bound, already in data sds
    assert bc.dneb_from_ad_verified[0]
    assert abs(bc.dneb_from_ad[0] - exact) < 1e-3 / spread.sd
    assert bc.dneb_from_ad[0] <= bc.ad[0] and bc.dneb_from_ad[0] <= bc.linear[0]
    # the 1D line's barrier is the top of its profile, in the same units
    assert abs(bc.linear[0] - bc.linear_profiles[0].max()) < 1e-9
    assert b.map_seconds > 0 and b.refine_seconds > 0
    # the page's numbers: under the map's prefix, so two maps on one page cannot collide
    descent = im.Descent(energies_z=np.zeros(1), saturation=0.5, data_saturation=0.5,
                         minima=None)
    mt = im.Result(config=c, judge=None, spread=spread, map=m, scores=None, descent=descent,
                   timings={}, barriers=b).metrics()
    assert mt["fmnist_refine_seconds"] == b.refine_seconds
    assert mt["fmnist_map_seconds"] == b.map_seconds
    assert mt["refined_index1_share_image"] == 1.0     # the name issue 26 gives it


def test_staged_readouts_are_computed_once_and_loaded_with_the_map(tmp_path, monkeypatch):
    """``stage_readouts``: the descent and Fig 5.8 of a finished map are kept in its stages file
    and load on the next run (a page reads the thesis map's without minutes of work); another
    descent length is computed anew, and without the flag nothing is kept."""
    art, X, y = _toy_artifact(k=4.0)
    spread = im.Spread(5.0, 2.0, 1.0, 9.0)
    monkeypatch.setattr(im, "load_model", lambda config: art)
    monkeypatch.setattr(im, "energy_spread", lambda a, n: spread)
    monkeypatch.setattr(im, "fit_image_judge", lambda a, n: fit_judge(X, y, X, y))
    calls = {"descend": 0, "barriers": 0}
    descend, barriers = im.descend, im.image_barriers

    def counted(name, f):
        def g(*a, **kw):
            calls[name] += 1
            return f(*a, **kw)
        return g
    monkeypatch.setattr(im, "descend", counted("descend", descend))
    monkeypatch.setattr(im, "image_barriers", counted("barriers", barriers))
    c = _toy_config(fig58_pairs=1, fig58_iter=100, stage_readouts=True,
                    map_checkpoint=str(tmp_path))
    r1 = im.run(c)
    assert calls == {"descend": 1, "barriers": 1}
    r2 = im.run(c)
    assert calls == {"descend": 1, "barriers": 1}          # both loaded with the map
    np.testing.assert_array_equal(r2.descent.energies_z, r1.descent.energies_z)
    torch.testing.assert_close(r2.descent.minima, r1.descent.minima, rtol=0, atol=0)
    np.testing.assert_array_equal(r2.barriers.comparison.dneb, r1.barriers.comparison.dneb)
    assert r2.metrics()["fmnist_descent_energy_z"] == r1.metrics()["fmnist_descent_energy_z"]
    # another descent length is another stage; the map and Fig 5.8 still load
    im.run(dataclasses.replace(c, descent_steps=150))
    assert calls == {"descend": 2, "barriers": 1}
    # without the flag every run computes them
    off = dataclasses.replace(c, stage_readouts=False)
    im.run(off)
    im.run(off)
    assert calls == {"descend": 4, "barriers": 3}
    # the flag never changes the map's own files
    assert im.map_checkpoint(off, "map") == im.map_checkpoint(c, "map")


def test_other_readout_settings_never_rewrite_a_committed_maps_stages(tmp_path, monkeypatch):
    """A committed map (``artifacts/maps``) keeps the read-outs of its size's default config;
    a run of the same map with another descent length loads the map but stages its read-out in
    the build cache, leaving the committed stages file byte for byte as it was."""
    import hashlib
    from ebmbook import registry
    art, X, y = _toy_artifact(k=4.0)
    monkeypatch.setattr(im, "load_model", lambda config: art)
    monkeypatch.setattr(im, "energy_spread", lambda a, n: im.Spread(5.0, 2.0, 1.0, 9.0))
    monkeypatch.setattr(im, "fit_image_judge", lambda a, n: fit_judge(X, y, X, y))
    monkeypatch.setattr(registry, "committed_root", lambda: tmp_path / "committed")
    monkeypatch.setattr(registry, "cache_root", lambda: tmp_path / "cache")
    committed = tmp_path / "committed" / "maps"
    c = _toy_config(stage_readouts=True, map_checkpoint=str(committed))
    # the toy config plays the default config of every committed size
    monkeypatch.setattr(im.Config, "for_size", classmethod(lambda cls, size, **kw: c))
    stages = im.map_checkpoint(c, "map").with_suffix(".stages.pt")
    assert im.readout_checkpoint(c, "map") == im.map_checkpoint(c, "map")
    r1 = im.run(c)
    before = hashlib.sha256(stages.read_bytes()).hexdigest()
    other = dataclasses.replace(c, descent_steps=150)
    moved = im.readout_checkpoint(other, "map")
    assert moved.parent == tmp_path / "cache" / "maps" and "readouts" in moved.name
    r2 = im.run(other)
    assert hashlib.sha256(stages.read_bytes()).hexdigest() == before
    assert moved.with_suffix(".stages.pt").exists()
    assert r2.map.n_basins == r1.map.n_basins                 # the same map, loaded
    assert not np.array_equal(r2.descent.energies_z, r1.descent.energies_z)
    # and the default config still loads its committed read-out
    np.testing.assert_array_equal(im.run(c).descent.energies_z, r1.descent.energies_z)
    # outside artifacts/maps a map folder keeps every read-out in the map's own file
    mine = dataclasses.replace(other, map_checkpoint=str(tmp_path / "mine"))
    assert im.readout_checkpoint(mine, "map") == im.map_checkpoint(mine, "map")
