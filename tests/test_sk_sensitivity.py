"""ADELM vs GWL over a grid of settings (ebmbook.experiments.sk_sensitivity): a tiny grid run,
its table kept for its own config only, and the committed table."""

import pytest

from ebmbook.experiments import _tables
from ebmbook.experiments import sk_sensitivity as sks


def test_a_tiny_grid_maps_counts_and_is_saved_for_its_config(tmp_path, monkeypatch):
    monkeypatch.setattr(_tables, "committed_root", lambda: tmp_path / "committed")
    monkeypatch.setattr(_tables, "cache_root", lambda: tmp_path / "cache")
    c = sks.Config.for_size("ci", grid=((1.35, 100, 0), (5.0, 100, 0)), adelm_iter=15,
                            progress=False)
    r = sks.run(c)
    assert [(x.alpha, x.improvement_limit) for x in r.rows] == [(1.35, 100), (5.0, 100)]
    for x in r.rows:
        assert 1 <= x.basins <= 15 and 0 <= x.in_gwl_lowest <= x.basins
        assert x.share == pytest.approx(x.in_gwl_lowest / x.basins)
        assert 1 <= x.consolidated <= x.basins
        # a representative above GWL's highest listed energy can never be in the list
        assert x.in_gwl_lowest <= x.below_gwl_cut <= x.basins
    # a far stronger pull merges more: never more basins than the thesis's alpha
    assert r.rows[1].basins <= r.rows[0].basins
    assert r.barrier_pairs >= 0
    m = r.metrics("_paper")
    assert m["adelm_basins_paper"] == r.rows[0].basins
    assert m["adelm_basins_in_gwl_lowest_paper"] == r.rows[0].in_gwl_lowest
    from ebmbook.plotting.landscape import sk_sensitivity_figure
    fig = sk_sensitivity_figure(r)
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths == [x.basins for x in r.rows] + [x.below_gwl_cut for x in r.rows] + [
        x.in_gwl_lowest for x in r.rows]
    monkeypatch.setattr(sks, "adelm", lambda *a, **k: pytest.fail("recomputed"))
    again = sks.run(c)
    assert [x.basins for x in again.rows] == [x.basins for x in r.rows]


def test_config_refuses_a_bad_grid():
    with pytest.raises(ValueError, match="grid"):
        sks.Config(grid=((1.35, 0, 0),))
    with pytest.raises(ValueError, match="grid"):
        sks.Config(grid=())


def test_the_committed_table_matches_the_ci_config():
    d = _tables.load(sks.NAME, sks.Config())
    assert d is not None and sks.load(sks.Config()) is not None, ("artifacts/sk_sensitivity/table.json is missing or was made with "
                           "another config: rebuild it with `ebmbook run sk_sensitivity`")
    assert [tuple(r[k] for k in ("alpha", "improvement_limit", "consolidate_every"))
            for r in d["rows"]] == [tuple(g) for g in sks.GRID]


def test_a_table_with_older_columns_is_not_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(_tables, "committed_root", lambda: tmp_path / "committed")
    monkeypatch.setattr(_tables, "cache_root", lambda: tmp_path / "cache")
    c = sks.Config()
    row = dict(alpha=1.35, improvement_limit=100, consolidate_every=0, basins=3,
               in_gwl_lowest=1, share=1 / 3, consolidated=2, seconds=1.0)
    payload = dict(barrier_gap_median=0.0, barrier_gap_frac_gwl_lower=0.5, barrier_pairs=1)
    _tables.save(sks.NAME, c, {"rows": [row], **payload}, 1.0)
    assert _tables.load(sks.NAME, c) is not None and sks.load(c) is None
    _tables.save(sks.NAME, c, {"rows": [{**row, "below_gwl_cut": 2}],
                               **payload}, 1.0)
    assert sks.load(c).rows[0].below_gwl_cut == 2


def test_the_committed_paper_table_matches_the_paper_config():
    c = sks.Config.for_size("paper")
    r = sks.load(c)
    assert r is not None, ("artifacts/sk_sensitivity-paper/table.json is missing or was made "
                           "with another config: rebuild it with "
                           "`ebmbook run sk_sensitivity --size paper` (about an hour)")
    assert c.adelm_iter == 5000 and c.sk().gwl_iter == 500_000_000
    assert [(x.alpha, x.improvement_limit, x.consolidate_every) for x in r.rows] == list(sks.GRID)
    assert r.manifest["command"] == "ebmbook run sk_sensitivity --size paper"
    for x in r.rows:
        assert x.in_gwl_lowest <= x.below_gwl_cut <= x.basins
