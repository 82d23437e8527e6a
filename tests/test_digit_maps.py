"""The digit-maps experiment end to end on ci-size Co-Op pairs (trained in seconds into
_build/artifacts): tuning, ADELM, barriers, judge, clusters and Fig 5.8's comparison fit
together, and every number it reports is consistent with the objects it came from."""

import numpy as np
import pytest
import torch

from ebmbook.experiments import digit_maps as dm


TINY = dm.MapSettings(adelm_iter=4, tune_iter=2, drift_modes=4, drift_steps=20, max_steps=100,
                      descent_steps=50, tune_alphas=(1.0, 100.0), barrier_alpha_factors=(1.0, 4.0),
                      drift_temperatures=(0.1, 1.0))


@pytest.fixture(scope="module")
def tiny_result():
    cfg = dm.Config.for_size("ci", model_size="ci", digits03=TINY, mnist=TINY,
                             cluster_images=120, barrier_pairs=2, progress=False,
                             tsne_seeds=(0,))
    return dm.run(cfg)


def test_the_maps_are_consistent_with_their_parts(tiny_result):
    r = tiny_result
    for m in (r.digits03, r.mnist):
        res = m.adelm
        assert res.labels.shape == (m.settings.adelm_iter,)
        assert res.counts.sum() == m.settings.adelm_iter
        assert m.dg.n == res.n_basins
        # T and alpha come from the grids' rules
        assert m.temperature in m.settings.drift_temperatures
        assert min(m.settings.tune_alphas) <= m.alpha <= max(m.settings.tune_alphas)
        assert len(m.basin_label) == res.n_basins
        # representatives are the lowest modes of their basins
        for j in range(res.n_basins):
            assert res.rep_energies[j] == pytest.approx(res.energies[res.labels == j].min())
    assert len(r.digits03.tsne) == 1 and r.digits03.tsne[0].shape == (4, 2)
    metrics = r.metrics()
    assert metrics["digits03_basins"] == r.digits03.n_basins
    assert 0 <= metrics["judge_accuracy"] <= 1
    assert metrics["cluster_k"] == r.clusters.scores["adelm"]["k"]
    for name in ("nmi_adelm", "purity_adelm", "nmi_kmeans_matched"):
        assert 0 <= metrics[name] <= 1


def test_the_latent_plane_needs_two_dimensions(tiny_result):
    grid, basin = dm.latent_plane(tiny_result.digits03, n_side=5)
    assert grid.shape == (25, 2) and basin.shape == (25,)
    assert set(basin) <= set(tiny_result.digits03.adelm.labels)
    with pytest.raises(ValueError, match="2-D latent"):
        dm.latent_plane(tiny_result.mnist)


def test_bad_map_settings_name_the_field():
    with pytest.raises(ValueError, match="tune_alphas"):
        dm.MapSettings(tune_alphas=(10.0, 1.0))
    with pytest.raises(ValueError, match="model_size"):
        dm.Config(model_size="huge")


def test_each_map_resumes_from_its_own_checkpoint(tiny_result, tmp_path, monkeypatch):
    """With ``map_checkpoint``, the two maps save into two files of the folder; Ctrl-C in the
    second map's ADELM (iteration 2) keeps the first map whole and two iterations of the
    second, and the same run again redoes only the second map's last two iterations. Both maps
    are those of the run without checkpoints (the settings that are not maps differ, so that
    this runs quicker, and change nothing in them)."""
    import importlib
    adelm_module = importlib.import_module("ebmbook.landscape.adelm")
    from ebmbook.landscape import mapping
    from ebmbook.landscape.adelm import MapInterrupted
    cfg = dm.Config.for_size("ci", model_size="ci", digits03=TINY, mnist=TINY,
                             cluster_images=60, barrier_pairs=0, progress=False, tsne_seeds=(),
                             map_checkpoint=str(tmp_path / "maps"))
    real_adelm, real_pairwise = mapping.adelm, adelm_module.pairwise_ad
    calls, in_map = [], []

    def watched_adelm(*args, **kwargs):     # a map's ADELM (the alpha tuning runs ADELM too)
        in_map.append(1)
        try:
            return real_adelm(*args, **kwargs)
        finally:
            in_map.clear()

    def pairwise(*args, **kwargs):          # ADELM's AD batches, one per iteration after the 1st
        if in_map:
            calls.append(1)
            if len(calls) == TINY.adelm_iter - 1 + 2:   # the second map's iteration 2
                raise KeyboardInterrupt
        return real_pairwise(*args, **kwargs)

    monkeypatch.setattr(mapping, "adelm", watched_adelm)
    monkeypatch.setattr(adelm_module, "pairwise_ad", pairwise)
    with pytest.raises(MapInterrupted, match="2 of 4 iterations are saved in .*-mnist.pt"):
        dm.run(cfg)
    files = sorted(p.name for p in (tmp_path / "maps").iterdir())
    # each map's ADELM checkpoint, and the finished stages beside it: the digits 0-3 map's
    # tuning and barriers, the MNIST map's tuning (its barriers were not reached)
    ckpts = [f for f in files if not f.endswith(".stages.pt")]
    assert len(ckpts) == 2 and ckpts[0].endswith("-digits03.pt") and ckpts[1].endswith("-mnist.pt")
    assert sorted(set(files) - set(ckpts)) == [c.replace(".pt", ".stages.pt") for c in ckpts]
    assert all(f.startswith("digit_maps-") for f in files)
    stages = {c: set(torch.load(tmp_path / "maps" / c.replace(".pt", ".stages.pt"),
                                weights_only=False)) for c in ckpts}
    assert stages[ckpts[0]] == {"tune_T_and_radii", "tune_alpha", "barriers"}
    assert stages[ckpts[1]] == {"tune_T_and_radii", "tune_alpha"}
    calls.clear()
    again = dm.run(cfg)
    assert len(calls) == 2                  # only the MNIST map's iterations 2 and 3 ran
    for got, want in ((again.digits03, tiny_result.digits03), (again.mnist, tiny_result.mnist)):
        for name in ("labels", "energies", "barriers", "rep_energies"):
            np.testing.assert_array_equal(getattr(got.adelm, name), getattr(want.adelm, name))
        assert torch.equal(got.adelm.modes, want.adelm.modes)
        np.testing.assert_array_equal(got.barriers, want.barriers)
        assert (got.temperature, got.alpha) == (want.temperature, want.alpha)


def test_a_map_key_ignores_what_is_only_read_from_a_finished_map():
    """image_map's NOT_MAP_FIELDS (its scoring, descent and Fig 5.8 settings) do not enter its
    map files' key, every setting of the map itself does; its committed sizes are ci and
    thesis, each at its own default only."""
    from ebmbook.experiments import book_maps
    from ebmbook.experiments import image_map as im
    from ebmbook.experiments._common import _map_key
    from ebmbook.registry import cache_root, committed_root
    base = im.Config.for_size("ci")
    for field, value in (("fig58_pairs", 0), ("judge_images", 10), ("descent_steps", 5),
                         ("n_data", 7), ("members_shown", 1), ("fig58_iter", 3)):
        assert _map_key(im.Config.for_size("ci", **{field: value})) == _map_key(base), field
    for field, value in (("adelm_iter", 7), ("delta", 2.0), ("mode_steps", 10), ("seed", 1)):
        assert _map_key(im.Config.for_size("ci", **{field: value})) != _map_key(base), field
    for size in ("ci", "thesis"):
        assert book_maps(im.Config.for_size(size)).map_checkpoint == \
            str(committed_root() / "maps")
        assert book_maps(im.Config.for_size(size, adelm_iter=3)).map_checkpoint == \
            str(cache_root() / "maps")
    assert book_maps(im.Config.for_size("paper")).map_checkpoint == str(cache_root() / "maps")


def test_the_book_keeps_the_default_ci_maps_in_the_committed_folder_and_others_in_the_cache():
    from ebmbook.experiments import book_maps
    from ebmbook.registry import cache_root, committed_root
    assert book_maps(dm.Config.for_size("ci")).map_checkpoint == str(committed_root() / "maps")
    assert book_maps(dm.Config.for_size("ci", progress=False)).map_checkpoint == \
        str(committed_root() / "maps")
    for other in (dm.Config.for_size("ci", seed=1), dm.Config.for_size("ci", cluster_images=10),
                  dm.Config.for_size("paper")):
        assert book_maps(other).map_checkpoint == str(cache_root() / "maps")
    # another device makes other map files, so its maps never go to the committed folder
    assert book_maps(dm.Config.for_size("ci", device="cuda")).map_checkpoint == \
        str(cache_root() / "maps")


def test_a_map_manifest_adds_up_the_time_of_a_run_resumed_across_sessions(tmp_path):
    from ebmbook.experiments import image_map as im
    from ebmbook.experiments._common import read_map_manifest, write_map_manifest
    cfg = im.Config.for_size("ci", map_checkpoint=str(tmp_path))
    write_map_manifest(cfg, command="c", commit="x", seconds=5.0,
                       status="partial, 2 of 300 ADELM iterations")
    write_map_manifest(cfg, command="c", commit="x", seconds=4.0,
                       status="partial, 7 of 300 ADELM iterations")
    assert read_map_manifest(cfg)["wall_time_s"] == 9.0
    write_map_manifest(cfg, command="c", commit="y", seconds=3.0)
    done = read_map_manifest(cfg)
    assert (done["status"], done["wall_time_s"], done["git_commit"]) == ("finished", 12.0, "y")
    write_map_manifest(cfg, command="c", commit="y", seconds=2.0)   # a rebuild from scratch
    assert read_map_manifest(cfg)["wall_time_s"] == 2.0


def test_reuse_map_files_copies_a_finished_run_and_its_manifest_keeps_the_record(tmp_path):
    """``ebmbook run --reuse-maps-of KEY``: the earlier run's map files under this config's
    names, a partial manifest carrying the earlier time and where it came from, which the
    finished manifest keeps (time added up); refused for an unfinished or missing run, for this
    run's own key, and where this run already has files."""
    import json

    from ebmbook.experiments import image_map as im
    from ebmbook.experiments._common import (_map_key, read_map_manifest, reuse_map_files,
                                             write_map_manifest)
    old = im.Config.for_size("ci", map_checkpoint=str(tmp_path))
    new = im.Config.for_size("ci", map_checkpoint=str(tmp_path), seed=1)
    (_, k_old), (_, k_new) = _map_key(old), _map_key(new)
    assert k_old != k_new
    with pytest.raises(ValueError, match="needs a map folder"):
        reuse_map_files(im.Config.for_size("ci", seed=1), k_old)
    with pytest.raises(ValueError, match="no readable manifest"):
        reuse_map_files(new, k_old)
    write_map_manifest(old, command="ebmbook run old", commit="abc", seconds=1.0)
    with pytest.raises(ValueError, match="lists no map files"):
        reuse_map_files(new, k_old)
    assert read_map_manifest(new) is None                  # nothing written for a refusal
    (tmp_path / f"image_map-{k_old}.json").unlink()
    for name in ("map.pt", "map.stages.pt"):
        (tmp_path / f"image_map-{k_old}-{name}").write_bytes(name.encode())
    write_map_manifest(old, command="ebmbook run old", commit="abc", seconds=7.0,
                       status="partial, 3 of 9 ADELM iterations")
    with pytest.raises(ValueError, match="resume that run with its own command"):
        reuse_map_files(new, k_old)
    write_map_manifest(old, command="ebmbook run old", commit="abc", seconds=5.0)
    with pytest.raises(ValueError, match="this run's own"):
        reuse_map_files(old, k_old)
    with pytest.raises(ValueError, match="12 hex digits"):
        reuse_map_files(new, "../x")

    copied = reuse_map_files(new, k_old)
    assert copied == [f"image_map-{k_new}-map.pt", f"image_map-{k_new}-map.stages.pt"]
    assert (tmp_path / copied[1]).read_bytes() == b"map.stages.pt"
    start = read_map_manifest(new)
    assert start["status"].startswith("partial") and start["wall_time_s"] == 12.0
    assert start["reused"]["config_key"] == k_old and start["reused"]["git_commit"] == "abc"
    assert start["reused"]["machine"] == read_map_manifest(old)["machine"]
    assert "reused" not in start["reused"]            # the earlier run started from scratch
    write_map_manifest(new, command="ebmbook run new", commit="def", seconds=2.5)
    done = read_map_manifest(new)
    assert (done["status"], done["wall_time_s"], done["git_commit"]) == ("finished", 14.5, "def")
    assert done["reused"] == start["reused"] and done["reused"]["wall_time_s"] == 12.0
    assert done["files"] == copied
    assert "dropped" not in done["reused"]
    # the earlier run's own manifest is untouched
    assert json.loads((tmp_path / f"image_map-{k_old}.json").read_text())["wall_time_s"] == 12.0
    with pytest.raises(ValueError, match="already has map files"):
        reuse_map_files(new, k_old)
    # a copy refused as another map's and made anew is named in the reused record, through an
    # interruption and the resumed run that finishes
    third = im.Config.for_size("ci", map_checkpoint=str(tmp_path), seed=2)
    copies = reuse_map_files(third, k_old)
    write_map_manifest(third, command="c", commit="g", seconds=1.0, dropped=[copies[0]],
                       status="partial, 1 of 9 ADELM iterations")
    write_map_manifest(third, command="c", commit="g", seconds=1.0)
    done = read_map_manifest(third)
    assert done["reused"]["dropped"] == [copies[0]] and done["wall_time_s"] == 14.0
    assert "discarded work" in done["reused"]["dropped_note"]
    # a run continued from a continued run keeps the whole chain, oldest innermost
    fourth = im.Config.for_size("ci", map_checkpoint=str(tmp_path), seed=3)
    reuse_map_files(fourth, _map_key(third)[1])
    chain = read_map_manifest(fourth)["reused"]
    assert chain["config_key"] == _map_key(third)[1] and chain["wall_time_s"] == 14.0
    assert chain["reused"]["config_key"] == k_old and chain["reused"]["wall_time_s"] == 12.0
    # a rebuild from scratch (no partial manifest before it) drops the record
    write_map_manifest(new, command="ebmbook run new", commit="def", seconds=1.0)
    assert "reused" not in read_map_manifest(new)
    # a manifest from before maps recorded a status is of a finished run
    legacy = json.loads((tmp_path / f"image_map-{k_old}.json").read_text())
    del legacy["status"]
    (tmp_path / f"image_map-{k_old}.json").write_text(json.dumps(legacy))
    for p in tmp_path.glob(f"image_map-{k_new}*"):
        p.unlink()
    assert reuse_map_files(new, k_old) == copied


def test_load_committed_map_runs_only_a_finished_shown_map_and_says_why_otherwise(tmp_path,
                                                                                 capsys):
    from types import SimpleNamespace

    from ebmbook.experiments import image_map as im
    from ebmbook.experiments import load_committed_map
    from ebmbook.experiments._common import write_map_manifest
    cfg = im.Config.for_size("ci", map_checkpoint=str(tmp_path))
    calls = []

    def run(config):
        calls.append(config)
        return SimpleNamespace(metrics=lambda: {"basins": 3, "alpha": 30.0, "other": 1})

    none = load_committed_map(cfg, run, "the big map")
    assert none.result is None and none.manifest is None and not calls
    assert none.message == "the big map: no committed run in this checkout"
    write_map_manifest(cfg, command="ebmbook run x", commit="abc", seconds=5.0,
                       status="partial, 2 of 300 ADELM iterations")
    part = load_committed_map(cfg, run, "the big map")
    assert part.result is None and not calls
    assert part.message == ("the big map: partial, 2 of 300 ADELM iterations; "
                            "`ebmbook run x` resumes it")
    write_map_manifest(cfg, command="ebmbook run x", commit="abcdef123456", seconds=1.0)
    hidden = load_committed_map(cfg, run, "the big map", shown=False, not_shown="ci only")
    assert hidden.result is None and hidden.message == "the big map: ci only" and not calls
    done = load_committed_map(cfg, run, "the big map")
    assert calls == [cfg] and done.message is None and done.manifest["status"] == "finished"
    assert "the big map: committed by `ebmbook run x` at abcdef1234 (6 s)" in capsys.readouterr().out
    assert done.metrics("big", ("alpha", "basins")) == {"big_alpha": 30.0, "big_basins": 3}
    assert set(done.metrics("big")) == {"big_basins", "big_alpha", "big_other"}
    with pytest.raises(KeyError, match="nmi"):
        done.metrics("big", ("basins", "nmi"))
    with pytest.raises(ValueError, match="no committed run"):
        none.metrics("big")


def test_the_28x28_pair_is_read_by_a_judge_of_its_own_size(monkeypatch):
    """``digits03_model`` picks the digits 0-3 pair; a judge fitted at another image size is
    replaced by one fitted at the pair's size (a pixel judge cannot read other images), and a
    judge of the right size is used as given."""
    from ebmbook.diagnostics.clustering import fit_judge
    cfg = dm.Config.for_size("ci", model_size="ci", digits03_model="coop_digits03_28",
                             digits03=TINY, progress=False, tsne_seeds=(0,))
    art = dm.load_pair("coop_digits03_28", "ci")
    side = art.spec.image_size
    fitted = []
    real = dm.fit_digit_judge
    monkeypatch.setattr(dm, "fit_digit_judge", lambda a: fitted.append(a) or real(a))
    X = torch.randn(40, 1, 4, 4)
    small = fit_judge(X, np.arange(40) % 4, X, np.arange(40) % 4)
    m = dm.digits03_map(cfg, art, small)
    assert len(fitted) == 1 and fitted[0] is art
    assert m.reads is not None and len(m.reads) == len(m.adelm.energies)
    own = real(art)
    assert own.n_inputs == side * side
    m2 = dm.digits03_map(cfg, art, own)
    assert len(fitted) == 1                      # the right-sized judge was used as given
    np.testing.assert_array_equal(m2.adelm.labels, m.adelm.labels)
    with pytest.raises(ValueError, match="digits03_model"):
        dm.Config(digits03_model="coop_mnist")


def test_the_mnist_maps_readouts_are_kept_beside_it_and_reused_only_for_that_map(tmp_path,
                                                                                monkeypatch):
    """With a map folder, the MNIST map's read-outs (clusters, Fig 5.8, the generator's digit
    shares) are stored in its stages file; the same run again loads them without computing
    any (the compute functions raise), the same values; for a map with other representatives
    the stored read-out is not used."""
    import dataclasses
    cfg = dm.Config.for_size("ci", model_size="ci", digits03=TINY, mnist=TINY,
                             cluster_images=40, barrier_pairs=1, progress=False, tsne_seeds=(),
                             map_checkpoint=str(tmp_path / "maps"))
    first = dm.run(cfg)
    stages_file = next((tmp_path / "maps").glob("*-mnist.stages.pt"))
    assert {"clusters", "fig58", "generator_shares"} <= set(torch.load(stages_file,
                                                                       weights_only=False))

    def boom(*a, **k):
        raise AssertionError("a stored read-out was computed again")
    real_shares = dm.generator_shares

    def shares_of_digits03_only(art, *a, **k):
        # the digits 0-3 pair's shares are recomputed on every load (1000 small images, not
        # stored); the MNIST pair's are a stored read-out
        if art.spec.classes is None:
            boom()
        return real_shares(art, *a, **k)
    for name in ("basin_clusters", "compare_barriers"):
        monkeypatch.setattr(dm, name, boom)
    monkeypatch.setattr(dm, "generator_shares", shares_of_digits03_only)
    again = dm.run(cfg)
    np.testing.assert_array_equal(again.clusters.basin, first.clusters.basin)
    assert again.clusters.scores == first.clusters.scores
    np.testing.assert_array_equal(again.mnist_shares, first.mnist_shares)
    np.testing.assert_array_equal(again.barriers.ad, first.barriers.ad)
    other = dataclasses.replace(again.mnist)
    other.adelm = dataclasses.replace(other.adelm, reps=other.adelm.reps + 0.5)
    key = (dm.READOUTS, cfg.seed, cfg.cluster_images, cfg.infer_starts, cfg.infer_steps)
    assert dm.readout_stages(cfg, again.mnist).get("clusters", key, lambda: "new") != "new"
    # another read-out version is not served the stored value
    next_key = (dm.READOUTS + 1, *key[1:])
    assert dm.readout_stages(cfg, again.mnist).get("clusters", next_key, lambda: "v2") == "v2"
    key = next_key
    assert dm.readout_stages(cfg, other).get("clusters", key, lambda: "new") == "new"


def test_mnist_model_picks_the_pair_the_mnist_map_is_made_of(monkeypatch):
    """``mnist_model`` (hash-neutral at ``coop_mnist``) is the pair ``run`` loads for the MNIST
    map and its judge; the ``mnist28`` size maps the 28x28 pair."""
    loaded = []

    class Stop(Exception):
        pass

    def fake(name, size, device="cpu", progress=False):
        loaded.append(name)
        if len(loaded) == 2:
            raise Stop
    monkeypatch.setattr(dm, "load_pair", fake)
    for size, pair in (("ci", "coop_mnist"), ("mnist28", "coop_mnist_28")):
        loaded.clear()
        with pytest.raises(Stop):
            dm.run(dm.Config.for_size(size, progress=False))
        assert loaded == ["coop_digits03", pair]
    assert dm.Config.for_size("mnist28").mnist.adelm_iter >= 500
    with pytest.raises(ValueError, match="mnist_model"):
        dm.Config(mnist_model="coop_digits03")


def test_only_the_pairs_own_digits_count_as_owning_a_basin(tiny_result):
    """A ten-digit judge may read a digits 0-3 mode as a 7: that basin is owned by no digit of
    the pair; the MNIST pair (no class filter) counts every digit."""
    import dataclasses
    d03, mn = tiny_result.digits03, tiny_result.mnist
    assert d03.artifact.spec.classes == (0, 1, 2, 3) and mn.artifact.spec.classes is None
    labels, shares = np.array([1, 7, 2, 2, 3]), np.array([0.9, 1.0, 0.6, 0.7, 0.4])
    assert dataclasses.replace(d03, basin_label=labels, basin_share=shares) \
        .digits_with_own_basin() == 2                       # 1 and 2; 7 is not a digit of 0-3
    assert dataclasses.replace(d03, basin_label=labels, basin_share=shares).owned_digits() \
        == [1, 2]
    assert dataclasses.replace(mn, basin_label=labels, basin_share=shares).owned_digits() \
        == [1, 2, 7]
    assert dataclasses.replace(mn, basin_label=labels, basin_share=shares) \
        .digits_with_own_basin() == 3                       # 1, 7 and 2


def test_mode_shares_count_the_modes_the_judge_reads_as_each_digit(tiny_result):
    """Which digits the latent energy's modes are, beside which the generator proposes: a digit
    proposed but never a mode can own no basin."""
    import dataclasses
    d03 = tiny_result.digits03
    reads = np.array([1, 1, 2, 7, 1, 0, 0, 1])
    np.testing.assert_allclose(dataclasses.replace(d03, reads=reads).mode_shares(range(4)),
                               [0.25, 0.5, 0.125, 0.0])
    with pytest.raises(ValueError, match="judge"):
        dataclasses.replace(d03, reads=None).mode_shares(range(4))
    unread = dataclasses.replace(tiny_result, digits03=dataclasses.replace(d03, reads=None))
    assert np.isnan(unread.metrics()["digits03_mode_share_min"])
    ms = tiny_result.metrics()
    assert ms["digits03_mode_share_min"] == pytest.approx(
        min(np.mean(np.asarray(d03.reads) == c) for c in range(4)))
    assert ms["digits03_generator_share_min"] == pytest.approx(
        float(np.min(tiny_result.digits03_shares)))
    assert len(tiny_result.digits03_shares) == 4 and 0 <= tiny_result.digits03_shares.sum() <= 1
    assert ms["mnist_mode_digits"] == int(np.sum(tiny_result.mnist.mode_shares(range(10)) >= 0.02))
    # the page's figure: one panel per map, hollow bars the samples, filled bars the modes
    import matplotlib
    matplotlib.use("Agg")
    from ebmbook.plotting.maps import proposals_and_modes_figure
    fig = proposals_and_modes_figure({"a": d03, "b": d03}, range(4))
    assert len(fig.axes) == 2
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [*d03.generator_shares, *d03.mode_shares(range(4))])


def test_generator_shares_read_the_pairs_samples_in_the_order_of_the_classes():
    """What a pair can propose: the judge's reading of n samples g(z), per class asked for,
    seeded (the same draws for the same seed)."""
    from types import SimpleNamespace
    from ebmbook.experiments._common import generator_shares
    art = SimpleNamespace(spec=SimpleNamespace(latent_dim=2), generator=lambda z: z)
    sign = SimpleNamespace(predict=lambda x: (x[:, 0] > 0).numpy().astype(int))
    s = generator_shares(art, sign, (1, 0, 7), n=4000, seed=3)
    assert s[2] == 0 and s[0] + s[1] == 1 and abs(s[0] - 0.5) < 0.03
    np.testing.assert_array_equal(s, generator_shares(art, sign, (1, 0, 7), n=4000, seed=3))
    assert not np.array_equal(s, generator_shares(art, sign, (1, 0, 7), n=4000, seed=4))
    three = SimpleNamespace(predict=lambda x: np.full(len(x), 3))
    np.testing.assert_array_equal(generator_shares(art, three, range(4), n=10), [0, 0, 0, 1])


def test_a_figure_cell_whose_map_is_not_shown_still_draws_a_figure_that_says_why():
    """Figure cells with a caption and label must draw something (the book's figure lists
    link to them): ``unavailable_figure`` draws one holding only the message."""
    import matplotlib
    matplotlib.use("Agg")
    from ebmbook.plotting import maps as pm
    fig = pm.unavailable_figure("the 28x28 map is shown at ci size")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["the 28x28 map is shown at ci size"]
    assert not fig.axes[0].axison
