"""Patches at four scales, user images and folders (ebmbook.data.patches), the scale judge, the
group-coherence statistic and the per-scale summary of a map (Sec 5.2.2.3-5)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from ebmbook.data import patches as P
from ebmbook.data.images import load_images
from ebmbook.diagnostics.clustering import fit_judge, group_coherence, spectrum_features
from ebmbook.landscape.dgraph import disconnectivity_graph
from ebmbook.models import CoopModelSpec


def _png(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def test_cut_patches_are_exact_crops_at_seeded_positions():
    H, W = 40, 50
    u = np.arange(H * W, dtype=np.float32).reshape(H, W)   # each pixel names its position
    a = P.cut_patches(u, 7, 30, seed=3)
    assert a.shape == (30, 7, 7)
    for p in a:
        t, l = divmod(int(p[0, 0]), W)
        assert t + 7 <= H and l + 7 <= W
        np.testing.assert_array_equal(p, u[t:t + 7, l:l + 7])
    np.testing.assert_array_equal(a, P.cut_patches(u, 7, 30, seed=3))
    assert not np.array_equal(a, P.cut_patches(u, 7, 30, seed=4))
    with pytest.raises(ValueError, match="does not fit"):
        P.cut_patches(u, 41, 1, seed=0)


def test_multiscale_patches_sizes_counts_and_seed():
    u, lab = P.multiscale_patches("brick", 12, n_per_scale=20, seed=1)
    assert u.shape == (80, 12, 12) and u.dtype == np.float32
    assert np.bincount(lab).tolist() == [0, 20, 20, 20, 20]
    assert 0.0 <= u.min() and u.max() <= 1.0
    u2, _ = P.multiscale_patches("brick", 12, n_per_scale=20, seed=1)
    np.testing.assert_array_equal(u, u2)
    u3, _ = P.multiscale_patches("brick", 12, n_per_scale=20, seed=2)
    assert not np.array_equal(u, u3)
    # the smallest scale is closest to a single colour, the largest holds the most structure
    sd = [u[lab == k].reshape(20, -1).std(1).mean() for k in (1, 2, 3, 4)]
    assert sd[0] < sd[2]


def test_patch_sides_scale_with_the_photo_and_small_photos_are_refused():
    assert P.patch_sides((512, 600)) == P.PATCH_SIZES
    assert P.patch_sides((1024, 1024)) == tuple(2 * s for s in P.PATCH_SIZES)
    with pytest.raises(P.ImageFileError, match="at least 256 pixels"):
        P.patch_sides((100, 300))


def test_the_bundled_patch_data_set_splits_1000_per_scale_for_training():
    tr = load_images("brick_patches", size=16, classes=(2,))
    te = load_images("brick_patches", size=16, split="test")
    assert tr.images.shape == (1000, 1, 16, 16) and set(tr.labels.tolist()) == {2}
    assert np.bincount(te.labels.numpy()).tolist() == [0, 250, 250, 250, 250]
    assert -1.0 <= float(tr.images.min()) and float(tr.images.max()) <= 1.0


def test_a_users_photo_is_cut_like_a_bundled_one(tmp_path):
    rng = np.random.default_rng(0)
    path = _png(tmp_path / "photo.png", rng.integers(0, 256, size=(300, 320)))
    s = load_images(f"patches:{path}", size=8, split="all")
    assert s.images.shape == (4 * P.PATCHES_PER_SCALE, 1, 8, 8)
    assert CoopModelSpec(dataset=f"patches:{path}", image_size=8, width=8,
                         generator_width=8).load_data().shape[1:] == (1, 8, 8)


@pytest.mark.parametrize("make, match", [
    (lambda d: d / "missing.png", "does not exist"),
    (lambda d: d, "is a folder"),
    (lambda d: (d / "bad.png").write_bytes(b"not an image") and d / "bad.png", "cannot read"),
    (lambda d: _png(d / "tiny.png", np.zeros((60, 60))), "too small"),
])
def test_a_bad_photo_is_refused_with_the_fix(tmp_path, make, match):
    with pytest.raises(P.ImageFileError, match=match):
        load_images(f"patches:{make(tmp_path)}", size=8)


def test_a_folder_loads_with_subfolder_labels(tmp_path):
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("cats", "dogs")):
        (tmp_path / cls).mkdir()
        for i in range(5):
            _png(tmp_path / cls / f"{i}.png", np.full((30, 20), 40 + 100 * k) +
                 rng.integers(0, 10, size=(30, 20)))
    (tmp_path / "cats" / "notes.txt").write_text("ignored")
    s = load_images(f"folder:{tmp_path}", size=10, split="all")
    assert s.images.shape == (10, 1, 10, 10)
    assert s.labels.tolist() == [0] * 5 + [1] * 5
    # grey levels survive: the 'dogs' images are brighter
    assert float(s.images[s.labels == 1].mean()) > float(s.images[s.labels == 0].mean()) + 0.5


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(P.ImageFileError, match="holds no image files"):
        load_images(f"folder:{tmp_path}", size=8)
    with pytest.raises(P.ImageFileError, match="does not exist"):
        load_images(f"folder:{tmp_path / 'nope'}", size=8)
    _png(tmp_path / "a.png", np.zeros((20, 20)))
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(P.ImageFileError, match="b.jpg"):
        load_images(f"folder:{tmp_path}", size=8)


def test_an_unknown_data_set_lists_the_choices():
    with pytest.raises(ValueError, match="patches:<image file>"):
        CoopModelSpec(dataset="ivy")
    with pytest.raises(ValueError, match="folder:<folder>"):
        CoopModelSpec(dataset="folder:")


def test_group_coherence_against_known_groups():
    rng = np.random.default_rng(0)
    c = np.repeat(np.arange(4), 25)
    X = rng.normal(size=(100, 5)) + 5 * np.eye(5)[c]
    tight = group_coherence(X, c, n_shuffles=100)
    assert tight.ratio < 0.6 and tight.n_pairs == 4 * 25 * 24 // 2
    # the statistic itself: mean distance over same-group pairs
    D = np.linalg.norm(X[:, None] - X[None], axis=-1)
    same = (c[:, None] == c[None]) & ~np.eye(100, dtype=bool)
    assert tight.within == pytest.approx(D[same].mean())
    chance = group_coherence(X, rng.permutation(c), n_shuffles=100)
    assert abs(chance.ratio - 1) < 4 * chance.random_sd / chance.random
    with pytest.raises(ValueError, match="no group has two members"):
        group_coherence(X[:3], [0, 1, 2])


def test_the_spectrum_judge_reads_scale_where_a_pixel_judge_cannot():
    # gratings of two frequencies at random phases: the class is in the frequency, not in where
    # the stripes are, so a linear reader of pixels is near chance and one of spectra is not
    rng = np.random.default_rng(0)

    def gratings(n):
        y = rng.integers(0, 2, size=n)
        f = np.where(y == 0, 1.0, 4.0)
        ph = rng.uniform(0, 2 * np.pi, size=n)
        x = np.arange(16)
        im = np.sin(2 * np.pi * f[:, None] * x[None] / 16 + ph[:, None])
        return torch.tensor(np.repeat(im[:, None, None, :], 16, axis=2), dtype=torch.float32), y

    (a, ya), (b, yb) = gratings(300), gratings(300)
    assert fit_judge(a, ya, b, yb, features="spectrum").accuracy > 0.95
    assert fit_judge(a, ya, b, yb, features="pixels").accuracy < 0.75
    assert spectrum_features(a.reshape(300, -1).numpy()).shape == (300, 16 * 9)
    with pytest.raises(ValueError, match="'pixels' or 'spectrum'"):
        fit_judge(a, ya, b, yb, features="edges")


def test_scale_summary_on_a_hand_made_map():
    from ebmbook.experiments.texture_maps import scale_summary
    # basins 0, 1 read as scale 2 and basin 2 as scale 1; barriers by hand
    M = np.array([[0.0, 1.0, 3.0], [1.0, 0.5, 3.0], [3.0, 3.0, -2.0]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    energies = np.array([0.0, 0.4, 0.5, 0.9, -2.0, -1.0])
    m = SimpleNamespace(adelm=SimpleNamespace(labels=labels, energies=energies),
                        dg=disconnectivity_graph(M), basin_label=np.array([2, 2, 1]),
                        reads=np.array([2, 2, 2, 2, 1, 1]))
    s = scale_summary(m)
    assert s.basins.tolist() == [1, 2, 0, 0]
    assert s.mode_energy[0] == pytest.approx(-1.5)
    assert s.mode_energy[1] == pytest.approx(0.45)
    assert np.isnan(s.mode_energy[2])
    assert s.substructure[0] == 0.0
    # scale 2: merge at 1.0 above its lowest leaf 0.0, over the sd of its modes' energies
    assert s.substructure[1] == pytest.approx(1.0 / np.std(energies[:4]))
    assert np.isnan(s.substructure[3])


def test_the_scale_summary_of_an_image_map_reads_its_sds_barriers_in_u():
    """An image-space map keeps its barriers in data-energy sds but its mode energies in U:
    image_scale_summary takes the barriers back to U, so the summary is the hand-made map's
    whatever spread the barriers were read in (read in sds as they are, scale 2's merge would
    sit below its own floor)."""
    from ebmbook.experiments.image_map import Spread
    from ebmbook.experiments.texture_maps import image_scale_summary
    M = np.array([[0.0, 1.0, 3.0], [1.0, 0.5, 3.0], [3.0, 3.0, -2.0]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    energies = np.array([0.0, 0.4, 0.5, 0.9, -2.0, -1.0])
    for mean, sd in ((0.0, 1.0), (10.0, 4.0), (-3.0, 0.25)):
        spread = Spread(mean, sd, mean - 2 * sd, mean + 2 * sd)
        m = SimpleNamespace(adelm=SimpleNamespace(labels=labels, energies=energies),
                            barriers=spread.z(M), counts=np.bincount(labels),
                            basin_label=np.array([2, 2, 1]), reads=np.array([2, 2, 2, 2, 1, 1]))
        s = image_scale_summary(m, spread)
        assert s.basins.tolist() == [1, 2, 0, 0]
        assert s.mode_energy[1] == pytest.approx(0.45)
        assert s.substructure[1] == pytest.approx(1.0 / np.std(energies[:4]))
        from ebmbook.experiments.texture_maps import image_scale_metrics
        out = image_scale_metrics(SimpleNamespace(map=m, spread=spread, metrics=lambda: {}))
        assert out["image_basins_scale2"] == 2 and out["image_basins_scale3"] == 0
        assert out["image_mode_energy_scale1"] == pytest.approx((-1.5 - mean) / sd)
        assert np.isnan(out["image_mode_energy_scale4"])
        assert out["image_lowest_energy_scale"] == 1


def test_match_basins_pairs_basins_that_correspond_both_ways():
    # three wells on a line; map a keeps all three apart, map b merged the first two (its rep at
    # well 0). Both ways: a0 <-> b0 and a2 <-> b1; a1 descends into b0, whose rep goes to a0.
    from ebmbook.experiments.digit_maps import MapSettings
    from ebmbook.experiments.texture_maps import match_basins
    wells = torch.tensor([[-3.0, 0.0], [0.0, 0.0], [3.0, 0.0]])

    def energy(z):
        return -torch.logsumexp(-((z[:, None] - wells[None]) ** 2).sum(-1) * 2.0, dim=1)

    s = MapSettings(descent_rate=0.05, descent_steps=300)

    def latent_map(reps, mode_labels, modes):
        return SimpleNamespace(energy=energy, settings=s, adelm=SimpleNamespace(
            reps=reps, modes=modes, labels=np.asarray(mode_labels)))

    a = latent_map(wells, [0, 1, 2], wells)
    b = latent_map(wells[[0, 2]], [0, 0, 1], wells)
    assert match_basins(a, b) == [(0, 0), (2, 1)]
    assert match_basins(a, a) == [(0, 0), (1, 1), (2, 2)]


def test_scales_model_picks_the_pair_the_four_scale_map_is_made_of(monkeypatch):
    """``scales_model`` (hash-neutral at ``coop_scales``) is the pair ``run`` loads for the
    four-scale map and its scale judge; the ``thesis`` size maps the 32x32 pair at thesis
    length. Any other name is refused."""
    from ebmbook.experiments import texture_maps as tm
    loaded = []

    class Stop(Exception):
        pass

    def fake(name, texture, size, device="cpu", progress=False):
        loaded.append(name)
        if len(loaded) == 2:
            raise Stop
    monkeypatch.setattr(tm, "load_texture_pair", fake)
    monkeypatch.setattr(tm, "texton_distinctness", lambda *a, **k: None)
    for size, pair in (("ci", "coop_scales"), ("thesis", "coop_scales_32")):
        loaded.clear()
        with pytest.raises(Stop):
            tm.run(tm.Config.for_size(size, progress=False))
        assert loaded == ["coop_texton", pair]
    assert tm.Config.for_size("thesis").scales.adelm_iter >= 500 <= tm.Config.for_size("thesis").texton.adelm_iter
    from ebmbook.experiments._common import _map_key
    # the field at its default leaves the key of the committed ci maps as it was
    from ebmbook.registry import committed_root
    key = _map_key(tm.Config.for_size("ci"))[1]
    assert (committed_root() / "maps" / f"texture_maps-{key}.json").exists()
    assert _map_key(tm.Config.for_size("ci", scales_model="coop_scales"))[1] == key
    with pytest.raises(ValueError, match="scales_model"):
        tm.Config(scales_model="coop_texton")


def test_the_texton_maps_are_read_by_a_judge_of_the_texton_pairs_size(monkeypatch):
    """The thesis size maps a 32x32 four-scale pair beside the 16x16 texton pair: a judge
    fitted at 32x32 cannot read 16x16 modes, so ``texton_maps`` fits one at the texton pair's
    size; a judge of the right size is used as given."""
    from ebmbook.experiments import texture_maps as tm
    judge16, judge32 = SimpleNamespace(n_inputs=256), SimpleNamespace(n_inputs=1024)
    tex = SimpleNamespace(spec=SimpleNamespace(image_size=16))
    used = []

    class Weak:
        alpha = 2.0

        def remap(self, alpha, **kwargs):
            return "strong"

    def fake_map(name, art, settings, judge, **kwargs):
        used.append(judge)
        return Weak()
    monkeypatch.setattr(tm, "fit_scale_judge", lambda art: judge16)
    monkeypatch.setattr(tm, "map_pair", fake_map)
    monkeypatch.setattr(tm, "read", lambda m, judge: (used.append(judge), m)[1])
    monkeypatch.setattr(tm, "match_basins", lambda a, b: [])
    cfg = tm.Config(progress=False)
    assert tm.texton_maps(cfg, tex, judge32)[3] is judge16
    assert used == [judge16, judge16]
    used.clear()
    monkeypatch.setattr(tm, "fit_scale_judge", lambda art: pytest.fail("refitted a judge of "
                                                                       "the right size"))
    assert tm.texton_maps(cfg, tex, judge16)[3] is judge16 and used == [judge16, judge16]


def test_the_scale_judge_reads_scale_from_structure_not_from_faint_noise():
    """A flat patch holds no structure at any scale finer than the coarsest, so with faint
    pixel noise added it must still read as scale 1. Fitted on the clean patches alone (which
    hold almost no power at the highest frequencies) the judge reads such patches as a finer
    scale; fitted with noisy copies too (``noise``) it reads them as scale 1 and still reads
    clean patches well. The fit is seeded."""
    from ebmbook.experiments import texture_maps as tm
    from ebmbook.registry import model_spec
    art = SimpleNamespace(spec=model_spec("coop_scales", "cpu"))
    te = art.spec.load_labelled("train")
    flat = te.images.mean(dim=(2, 3), keepdim=True).expand_as(te.images)
    faint = flat + 0.01 * torch.randn(te.images.shape, generator=torch.Generator().manual_seed(1))
    clean, robust = tm.fit_scale_judge(art, noise=0.0), tm.fit_scale_judge(art)
    assert np.mean(clean.predict(faint) == 1) < 0.1
    assert np.mean(robust.predict(faint) == 1) > 0.9
    assert robust.accuracy > 0.8 and clean.accuracy > 0.85
    again = tm.fit_scale_judge(art)
    np.testing.assert_array_equal(again.predict(faint), robust.predict(faint))
    with pytest.raises(ValueError, match="noise"):
        tm.fit_scale_judge(art, noise=-0.1)


def test_descriptor_long_run_reads_where_the_chains_of_each_scale_end():
    """Oracle: an energy pulling every state to one flat patch c (U = k |x - c|^2 / 2, the
    Langevin noise then leaves a faint sd of 1/sqrt(k) = 0.01 around it) sends the chains of
    every scale to c, which the noise-robust judge reads as scale 1: scale 1 keeps its chains,
    the others lose theirs, the end states all read as scale 1 and lie far below the held-out
    patches' energies, and so does a bank of flat patches. A Co-Op pair and too many chains per
    scale are refused."""
    from ebmbook.experiments import texture_maps as tm
    from ebmbook.registry import model_spec
    from ebmbook.sampling.model import noise_model
    spec = model_spec("brick_convergent", "cpu")
    c = torch.full((1, *spec.shape), 0.2)
    k = 1e4

    def U(x):
        return 0.5 * k * ((x - c) ** 2).flatten(1).sum(1)
    model = noise_model(U, eps=0.01, state_shape=spec.shape)
    bank = c.expand(20, *spec.shape) + 0.01 * torch.randn(
        (20, *spec.shape), generator=torch.Generator().manual_seed(0))
    art = SimpleNamespace(name="pull", spec=spec, model=model, generator=None,
                          extras={"bank": bank})
    judge = tm.fit_scale_judge(art)
    lr = tm.descriptor_long_run(art, judge, n_per_scale=10, steps=100, seed=0)
    assert lr.steps == 100 and lr.ends.shape == lr.starts.shape == (40, *spec.shape)
    assert lr.scale.tolist() == [1] * 10 + [2] * 10 + [3] * 10 + [4] * 10
    assert float((lr.ends - c).abs().max()) < 0.06
    np.testing.assert_array_equal(lr.kept, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(lr.end_shares, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(lr.bank_shares, [1.0, 0.0, 0.0, 0.0])
    assert lr.energy_z < -1 and lr.pixel_range[0] > 0.1 and lr.pixel_range[1] < 0.3
    again = tm.descriptor_long_run(art, judge, n_per_scale=10, steps=100, seed=0)
    assert torch.equal(again.ends, lr.ends)                    # seeded
    no_bank = SimpleNamespace(**{**vars(art), "extras": {}})
    assert tm.descriptor_long_run(no_bank, judge, n_per_scale=2, steps=1).bank_shares is None
    with pytest.raises(ValueError, match="not a DeepFRAME descriptor"):
        tm.descriptor_long_run(SimpleNamespace(**{**vars(art), "generator": object()}), judge)
    with pytest.raises(ValueError, match="fewer than n_per_scale"):
        tm.descriptor_long_run(art, judge, n_per_scale=100_000, steps=1)
