"""Results contract, self-describing metrics, atomic writes and the book builder's failure
reporting."""

import json
import os
from types import SimpleNamespace

import nbformat
import numpy as np
import torch
import pytest

from ebmbook.book import BookBuildError, build, reproduction_table
from ebmbook.experiments import EXPERIMENTS
from ebmbook.io import atomic_write
from ebmbook.results import Metric, Results


def test_results_json_follows_the_contract(tmp_path):
    r = Results("ch0_demo", "ci", 7)
    r.add("kl", 0.25, "a divergence")
    assert r.claim("|kl| is small", 0.25, "<=", 0.5, kind="thesis", ref="Fig 3.1",
                   source="ci run", thesis_value=0.2) is True
    assert r.claim("kl is tiny", 0.25, "<", 0.1, kind="thesis", ref="Fig 3.1",
                   source="ci run") is False
    assert r.claim("nan never passes", float("nan"), ">", 0.0, kind="check",
                   source="cpu artifact demo") is False
    path = r.write(tmp_path)
    d = json.loads(path.read_text())
    assert path.name == "ch0_demo.json"
    assert set(d) == {"notebook", "size", "seed", "elapsed_s", "results", "claims"}
    assert d["results"] == {"kl": 0.25} and d["seed"] == 7
    assert [c["pass"] for c in d["claims"]] == [True, False, False]
    assert d["claims"][2]["value"] is None  # NaN is written as null (strict JSON)
    assert set(d["claims"][0]) == {"claim", "value", "op", "threshold", "pass", "kind", "ref",
                                   "source", "thesis_value"}
    assert [c["kind"] for c in d["claims"]] == ["thesis", "thesis", "check"]
    assert d["claims"][0]["thesis_value"] == 0.2 and d["claims"][2]["ref"] is None
    with pytest.raises(ValueError, match="op must be"):
        r.claim("bad", 1, "==", 1, kind="check", source="ci run")
    with pytest.raises(TypeError, match="number"):
        r.add("text", "0.3")
    table = reproduction_table(tmp_path)
    assert table.startswith("**1 of 2 thesis statements reproduce** on this build.")
    assert "0 of 1 checks pass" in table and "0 of 0 extensions" in table
    assert ("| ch0_demo | thesis | Fig 3.1 | kl is tiny | 0.25 | < 0.1 |  | ci run "
            "| ✘ **no** |") in table
    assert "| ch0_demo | thesis | Fig 3.1 | \\|kl\\| is small | 0.25 | <= 0.5 | 0.2 |" in table
    assert "| nan never passes | n/a |" in table
    assert "| [ch0_demo](notebooks/ch0_demo.ipynb) | ci | 7 |" in reproduction_table(
        tmp_path, link_notebooks=True)
    shown = r.claims_table().data
    assert list(shown["holds"]) == ["✔ yes", "✘ NO", "✘ NO"]
    assert list(shown["kind"]) == ["thesis", "thesis", "check"]
    assert list(shown["value"]) == ["0.25", "0.25", "n/a"]
    assert shown["claim"][0] == "|kl| is small" and shown["test"][1] == "< 0.1"
    html = r.claims_table().to_html()
    assert "1 of 2 thesis claims hold" in html and "0 of 1 check claims hold" in html


def test_notebooks_run_longest_first(tmp_path):
    from ebmbook.book import execution_order
    paths = []
    for name, s in (("a_short", 10), ("b_long", 900), ("c_unknown", None), ("d_mid", 300)):
        nb = nbformat.v4.new_notebook()
        if s is not None:
            nb.metadata["ebmbook"] = {"expected_s": s}
        p = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, p)
        paths.append(p)
    (tmp_path / "e_broken.ipynb").write_text("{not json")
    paths.append(tmp_path / "e_broken.ipynb")
    order = [p.stem for p in execution_order(paths)]
    assert order == ["b_long", "d_mid", "a_short", "c_unknown", "e_broken"]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    def failing(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def _notebook(path, source):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('size = "ci"\nseed = 0\ndevice = "cpu"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _project(tmp_path, source):
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "ebmbook").mkdir()
    (root / "book").mkdir()
    (root / "_config.yml").write_text("title: t\n")
    (root / "book" / "reproduction_report.md").write_text("# R\n<!-- REPRODUCTION-TABLE -->\n")
    _notebook(root / "notebooks" / "chx_demo.ipynb", source)
    return root


@pytest.mark.slow
def test_failing_notebook_stops_the_build_naming_notebook_and_cell(tmp_path, monkeypatch):
    monkeypatch.delenv("EBMBOOK_RESULTS_DIR", raising=False)
    root = _project(tmp_path, "raise ValueError('boom in the demo')")
    with pytest.raises(BookBuildError, match=r"chx_demo: cell \d+ .*ValueError: boom in the demo"):
        build(root=root, jobs=1, html=False)


@pytest.mark.slow
def test_notebook_that_writes_results_passes_and_fills_the_report(tmp_path, monkeypatch):
    monkeypatch.delenv("EBMBOOK_RESULTS_DIR", raising=False)
    # the caller's MPLBACKEND=Agg (as .ci/run exports) must not stop the figure from showing,
    # and the package's progress bars must not be stored in the page
    monkeypatch.setenv("MPLBACKEND", "Agg")
    src = ("from ebmbook.results import Results\n"
           "from ebmbook.experiments._common import progress_bar\n"
           "from ebmbook.landscape.adelm import adelm\n"
           "for _ in progress_bar(True, range(3), desc='bar'): pass\n"
           "import matplotlib.pyplot as plt\nplt.plot([0, 1]);\n"
           # an explorer draws its frames as a figure in the book, never a widget
           "from ebmbook.explore import Explorer\n"
           "ex = Explorer({'a': [1, 2]}, {(1,): 1, (2,): 2}, lambda f, ax: ax.plot([0, f]))\n"
           "ex.show();\n"
           "r = Results('chx_demo', size, seed)\nr.add('x', 1.5)\n"
           "r.claim('x is positive', 1.5, '>', 0, kind='check', source=f'{size} run')\n"
           "r.write()")
    root = _project(tmp_path, src)
    stage = build(root=root, jobs=1, html=False)
    executed = nbformat.read(str(stage / "notebooks" / "chx_demo.ipynb"), as_version=4)
    kinds = [k for c in executed.cells for o in c.get("outputs", []) for k in o.get("data", {})]
    assert kinds.count("image/png") == 2, kinds
    assert not any("widget" in k for k in kinds), kinds
    texts = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "it/s" not in texts
    d = json.loads((root / "_build" / "results" / "chx_demo.json").read_text())
    assert d["results"] == {"x": 1.5} and d["size"] == "ci"
    assert "x is positive" in (stage / "reproduction_report.md").read_text()
    assert "EBMBOOK_RESULTS_DIR" not in os.environ


@pytest.mark.slow
def test_notebook_without_results_fails_the_build(tmp_path, monkeypatch):
    monkeypatch.delenv("EBMBOOK_RESULTS_DIR", raising=False)
    root = _project(tmp_path, "x = 1")
    with pytest.raises(BookBuildError, match="did not write"):
        build(root=root, jobs=1, html=False)
    assert "EBMBOOK_RESULTS_DIR" not in os.environ


# ------------------------------------------------------------------- self-describing metrics


def test_add_metrics_keeps_descriptions_and_writes_plain_numbers(tmp_path):
    r = Results("ch0_metrics", "ci", 0)
    m = r.add_metrics({"kl": Metric(np.float32(0.25), "KL(q || p), demo"),
                       "steps": Metric(30, "updates"), "undefined": Metric(float("nan"), "0/0")})
    assert m["kl"] == 0.25 and m["steps"] == 30 and np.isnan(m["undefined"])
    assert type(m["kl"]) is float and type(m["steps"]) is int   # plain numbers; a count stays int
    assert r.descriptions == {"kl": "KL(q || p), demo", "steps": "updates", "undefined": "0/0"}
    assert r.table().loc["kl", "meaning"] == "KL(q || p), demo"
    d = json.loads(r.write(tmp_path).read_text())
    assert d["results"] == {"kl": 0.25, "steps": 30, "undefined": None}
    assert '"steps": 30,' in json.dumps(d["results"])
    # a description given to add() wins over the metric's own
    assert r.add("kl2", Metric(1.0, "own"), "given") == 1.0 and r.descriptions["kl2"] == "given"


def _toy_densities():
    from ebmbook.experiments import toy_densities as td
    values = {("gmm", "convergent"): (0.1, 0.2, 0.05, 3.0),
              ("gmm", "nonconvergent"): (2.0, 0.3, 0.4, 1.0),
              ("rings", "convergent"): (0.15, 0.25, 0.06, 4.0),
              ("rings", "nonconvergent"): (1.5, 0.5, 0.3, 2.0)}
    models = {k: SimpleNamespace(kl=kl, kl_kde=kde, tv=tv, wall_s=s)
              for k, (kl, kde, tv, s) in values.items()}
    expected = {}
    for (d, m), (kl, kde, tv, s) in values.items():
        expected.update({f"{d}_kl_{m}": kl, f"{d}_kl_kde_{m}": kde, f"{d}_tv_{m}": tv,
                         f"{d}_train_s_{m}": s})
    return td.Result(config=td.Config.for_size("ci"), grids={}, log_true={}, models=models), \
        expected


def _axes_diagnostics():
    from ebmbook.experiments import axes_diagnostics as ax
    cfg = ax.Config.for_size("ci", grid_langevin=(25, 100))

    def osc(acf1, corr, mean=0.0, sd=1.0):
        return SimpleNamespace(acf_d=np.array([1.0, acf1]), corr_d_r=corr, d_mean=mean, d_sd=sd)

    oscillation = {"adam": osc(-0.05, 0.6, 0.1, 2.0), "sgd_fast": osc(-0.5, 0.3),
                   "sgd_slow": osc(0.02, 0.1)}
    r_first = {(i, lvl, L): 1.0 for i in ax.FIG25_INITS for lvl in ("low", "tuned")
               for L in (25, 100)}
    r_final = {**{k: 1.0 for k in r_first},
               ("gaussian", "low", 25): 0.04, ("gaussian", "low", 100): 0.02,   # r*L: 1 and 2
               ("data", "low", 25): 0.1, ("data", "low", 100): 0.05,
               ("persistent", "low", 25): 0.02, ("persistent", "low", 100): 0.01,
               ("data", "tuned", 100): 1.2}
    expected = {"acf1_d_adam": -0.05, "acf1_d_sgd_fast": -0.5, "acf1_d_sgd": 0.02,
                "corr_d_r": 0.6, "corr_d_r_sgd_fast": 0.3, "corr_d_r_sgd": 0.1,
                "d_mean_adam": 0.1, "d_sd_adam": 2.0, "noise_low_rL_ratio": 2.0,
                "informative_low_r_collapse": 0.1, "tuned_r_spread": 1.2}
    return ax.Result(config=cfg, logs={}, oscillation=oscillation, r_final=r_final,
                     r_first=r_first, grid_logs={}), expected


def _image_learning():
    from ebmbook.experiments import image_learning as il

    def model_run(data, longrun_end, short, steps, mh_accept=float("nan")):
        energy = np.full((21, 2), 1e6)                 # only the last 10% (2 rows) count
        energy[-2:] = longrun_end
        art = SimpleNamespace(spec=SimpleNamespace(image_size=8),
                              manifest={"steps_done": steps})
        return il.ModelRun(name="", artifact=art, data_energy=np.asarray(data, dtype=float),
                           short_run=None, short_energy=np.asarray(short, dtype=float),
                           longrun_start="", longrun_energy=energy, longrun=None,
                           strip_steps=None, strip=None, mh_accept=mh_accept)

    conv = model_run([1.0, 2.0, 3.0], 2.5, [1.0, 3.0], 30, mh_accept=0.75)
    nonconv = model_run([10.0, 12.0, 14.0], 4.0, [11.0, 13.0], 40)
    expected = {"data_energy_mean": 2.0, "data_energy_sd": 1.0, "longrun_energy_convergent": 2.5,
                "longrun_z_convergent": 0.5, "shortrun_energy_convergent": 2.0,
                "data_energy_mean_nonconvergent": 12.0, "data_energy_sd_nonconvergent": 2.0,
                "longrun_energy_nonconvergent": 4.0, "longrun_z_nonconvergent": -4.0,
                "shortrun_energy_nonconvergent": 12.0, "longrun_steps": 123, "image_size": 8,
                "train_steps_convergent": 30, "train_steps_nonconvergent": 40,
                "mh_accept_convergent": 0.75}
    cfg = il.Config.for_size("ci", longrun_steps=123)
    result = il.Result(config=cfg, data=None, models={"convergent": conv,
                                                       "nonconvergent": nonconv})
    # without an MH-adjusted run (NaN acceptance) the number is left out, not reported as null
    skipped = il.Result(config=cfg, data=None, models={
        "convergent": model_run([1.0, 2.0, 3.0], 2.5, [1.0, 3.0], 30),
        "nonconvergent": nonconv})
    assert set(skipped.metrics()) == set(expected) - {"mh_accept_convergent"}
    return result, expected


def _short_run_generation():
    from ebmbook.experiments import short_run_generation as srg
    art = SimpleNamespace(spec=SimpleNamespace(image_size=8, shape=(1, 8, 8)))
    cfg = srg.Config.for_size("ci", n_recon=5, recon_iters=7, pca_components=3)
    result = srg.Result(config=cfg, artifact=art, generated=None, generator_samples=None,
                        interpolation=None, targets=None, recon=None, recon_curve=None,
                        mean_image=None, pca_recon=None, recon_mse=0.01, recon_mse_init=0.5,
                        recon_mse_baseline=0.1, recon_mse_pca=0.05)
    m = result.metrics()
    assert "on 5 test images (7 Adam iterations)" in m["recon_mse"].description
    assert "3 components" in m["recon_mse_pca"].description
    return result, {"recon_mse": 0.01, "recon_mse_baseline": 0.1, "recon_mse_pca": 0.05,
                    "recon_mse_init": 0.5, "image_size": 8, "latent_dim": 64}


def _chaos_and_optimisers():
    from ebmbook.diagnostics.lyapunov import LyapunovResult
    from ebmbook.experiments import chaos_and_optimisers as co
    from ebmbook.learning.fit import TrainLog
    lyap = LyapunovResult(gammas=np.array([0.0, 1.0, 2.0]), exponent=np.array([-1.0, -0.5, 0.5]),
                          exponent_chains=None, running=None, samples=None, eps=0.1, n_steps=10)
    growth = np.r_[np.ones(50), np.full(50, 30.0), np.nan]           # NaN steps are dropped
    shrink = np.r_[np.linspace(0.0, 10.0, 50), np.full(50, 2.0)]
    small = {"expansion": SimpleNamespace(log=TrainLog(r_st=growth)),
             "contraction": SimpleNamespace(log=TrainLog(r_st=shrink))}
    result = co.Result(config=co.Config.for_size("ci"), artifact=None, lyapunov=lyap,
                       hybrid_steps=np.array([0, 100, 200, 300]),
                       hybrid_longrun=[], hybrid_gap=np.array([-5.0, -2.0, -1.0, -0.5]),
                       hybrid_data_energy=None, hybrid_longrun_energy=None, switch_step=150,
                       small=small)
    return result, {"lyapunov_zero_gamma": 1.5, "lyapunov_gamma_0": -1.0,
                    "lyapunov_gamma_1": -0.5, "lyapunov_gamma_2": 0.5,
                    "hybrid_gap_step_0": -5.0, "hybrid_gap_step_100": -2.0,
                    "hybrid_gap_step_200": -1.0, "hybrid_gap_step_300": -0.5,
                    "hybrid_gap_at_switch": -2.0, "hybrid_gap_final": -0.5,
                    "expansion_r_st_growth": 30.0, "contraction_r_st_end_over_peak": 0.2}


def _mapping_principles():
    """A real run at a tiny size (about 3 s); the expected numbers are read off its result."""
    from ebmbook.experiments import mapping_principles as mp
    cfg = mp.Config.for_size("ci", grid_1d=200, grid_2d=31, ad_trials=4, ad_max_steps=2000,
                             ising_side=8, ising_chains=2, ising_sweeps=40, ising_n_T=4,
                             loop_side=8, loop_H_steps=5, loop_sweeps=5, phase_n_T=3,
                             phase_n_H=3, phase_sweeps=10, progress=False)
    result = mp.run(cfg)
    rate = {(r["start"], r["target"]): r["success_rate"] for r in result.ad_table}
    # the toy landscape's basins meet at x = 4.5: 5.1 and 10 share the right basin, 2 is left
    within = min(rate[(10.0, 5.1)], rate[(5.1, 10.0)])
    across = max(rate[(2.0, 5.1)], rate[(2.0, 10.0)], rate[(10.0, 2.0)])
    return result, {"dg1d_minima": result.dg1d.n, "gmm_minima": len(result.exact2d.minima),
                    "toy_ad_success_within": within, "toy_ad_success_across": across,
                    "toy_linear_barrier": result.toy_linear_barrier,
                    "ising_hysteresis_close_T": result.close_T, "onsager_Tc": mp.ONSAGER_TC}


def _sk_spin_glass():
    from ebmbook.experiments import sk_spin_glass as sk
    cfg = sk.Config.for_size("ci", tune_alphas=(0.5, 1.35, 3.0))
    numbers = {"adelm_basins": 9, "adelm_basins_consolidated": 7, "adelm_basins_in_gwl_lowest": 6,
               "adelm_basins_in_gwl_lowest_exact": 5, "adelm_low_modes_missing_from_gwl": 0,
               "gwl_modes": 500, "gwl_basins_visited": 1234, "dg_merge_consistency": 0.8,
               "dg_comparable_merges": 5, "mirror_coverage": 0.6, "mirror_rep_pairs": 2,
               "adelm_lowest_energy": -0.7, "gwl_lowest_energy": -0.7,
               "gwl_sweeps_to_adelm_lowest10": 321.0}
    fields = {f: None for f in sk.Result.__dataclass_fields__}
    result = sk.Result(**{**fields, "config": cfg, "tune_counts": np.array([12, 8, 3]),
                          "timings": {"adelm_it_per_s": 40.0}, "numbers": numbers})
    m = result.metrics()
    assert "at alpha=1.35" in m["tune_basins_at_alpha"].description
    assert m["adelm_basins"].integer and not m["mirror_coverage"].integer
    return result, {**numbers, "tune_basins_at_alpha": 8, "adelm_it_per_s": 40.0}


def _digit_maps():
    """Hand-made maps: three basins read as 1, 1, 7 (shares 0.9, 0.6, 0.4); the two 1s merge at
    -2, both join the 7 at -1; barriers and cluster scores typed in."""
    from ebmbook.diagnostics.clustering import Judge
    from ebmbook.experiments import digit_maps as dm
    from ebmbook.landscape.adelm import ADELMResult
    from ebmbook.landscape.dgraph import disconnectivity_graph
    M = np.array([[-3.0, -2.0, -1.0], [-2.0, -2.5, -1.0], [-1.0, -1.0, -1.5]])
    res = ADELMResult(modes=torch.zeros(4, 2), energies=np.array([-3.0, -2.5, -1.5, -2.0]),
                      labels=np.array([0, 1, 2, 0]), barriers=np.full(4, np.nan),
                      n_success=np.zeros(4), reps=torch.zeros(3, 2),
                      rep_energies=np.array([-3.0, -2.5, -1.5]), counts=np.array([2, 1, 1]))

    def latent_map(radius):
        return dm.LatentMap(name="m", artifact=None, energy=None, settings=dm.MapSettings(),
                            temperature=0.1, alpha=3.0, barrier_scale=1.0, drift=None,
                            tune_counts=None, tune_leakage=None, adelm=res, barriers=M,
                            dg=disconnectivity_graph(M, counts=res.counts),
                            reads=np.array([1, 1, 7, 2]),     # the four modes' readings
                            basin_label=np.array([1, 1, 7]),
                            basin_share=np.array([0.9, 0.6, 0.4]), radius_prior=radius,
                            radius_no_prior=radius + 1,
                            generator_shares=np.array([0.3, 0.2, 0.4, 0.1]))
    score = {"purity": 0.5, "nmi": 0.4, "ari": 0.2, "k": 3}
    scores = {"adelm": score, "kmeans_pixels": {**score, "nmi": 0.6, "purity": 0.7},
              "kmeans_codes": {**score, "nmi": 0.5}, "spectral_pixels": {**score, "nmi": 0.3},
              "spectral_codes": {**score, "nmi": 0.35}}
    bc = dm.BarrierComparison(pairs=np.array([[0, 1], [0, 2]]), ad=np.array([-2.0, np.inf]),
                              dneb=np.array([-2.2, -1.2]), linear=np.array([-1.0, -0.5]),
                              linear_profiles=None, dneb_results=[],
                              dneb_from_ad=np.array([-2.5, np.nan]),
                              dneb_from_ad_verified=np.array([True, False]),
                              dneb_from_ad_results=[SimpleNamespace(check=SimpleNamespace(
                                  grad_norm=1e-4, index=1)), None])
    result = dm.Result(config=dm.Config(), judge=Judge(None, 0.88, 10, 20),
                       digits03=latent_map(2.0), mnist=latent_map(7.0),
                       clusters=dm.Clusters(labels=None, basin=None, codes=None, scores=scores),
                       barriers=bc, timings={},
                       # digits 1 and 2 below 2% of the generator's samples
                       mnist_shares=np.array([0.3, 0.01, 0.019, 0.02, 0.15, 0.1, 0.1, 0.1, 0.101,
                                              0.1]))
    return result, {"mnist_generator_share_min": 0.01, "mnist_generator_digits_proposed": 8,
                    "median_barrier_ad": -2.0, "median_barrier_dneb": -1.7,
                    "median_barrier_1d": -0.75, "frac_ad_below_1d_latent": 1.0,
                    "median_barrier_dneb_from_ad": -2.5, "frac_dneb_from_ad_below_ad": 1.0,
                    "frac_dneb_from_ad_below_dneb_1d": 1.0, "refined_index1_share_latent": 0.5,
                    "refined_median_grad_norm_latent": 1e-4,
                    "refined_index1_only_share_latent": 1.0,
                    "barrier_pairs": 2, "judge_accuracy": 0.88, "digits03_basins": 3,
                    "adelm_iterations_digits03": 4, "adelm_iterations_mnist": 4,
                    "digits03_single_digit_basins": 1, "digits03_digits_owned": 1,
                    "digits03_temperature": 0.1, "digits03_alpha": 3.0,
                    # digits 0-3: the generator's least share 0.1; no mode reads 0 or 3
                    "digits03_generator_share_min": 0.1, "digits03_mode_share_min": 0.0,
                    # MNIST: modes read 1, 1, 7, 2: three digits in at least 2% of them
                    "mnist_mode_share_min": 0.0, "mnist_mode_digits": 3,
                    "mnist_mode_radius_prior": 7.0, "mnist_mode_radius_no_prior": 8.0,
                    "mnist_basins": 3, "digits_with_own_basin": 1, "mnist_temperature": 0.1,
                    "mnist_alpha": 3.0, "merge_same_digit": -2.0, "merge_different_digit": -1.0,
                    "nmi_adelm": 0.4, "ari_adelm": 0.2, "purity_adelm": 0.5, "cluster_k": 3,
                    "nmi_adelm_k10": float("nan"), "nmi_kmeans_k10": float("nan"),
                    "nmi_spectral_k10": float("nan"),
                    "nmi_kmeans_matched": 0.6, "nmi_spectral_matched": 0.35,
                    "purity_kmeans_matched": 0.7}


def _image_ad():
    """Hand-made boundaries of three minima (energies -3, -2, -2.5) at T = 0.01 and 0.1: A and
    C merge at the weakest alpha; the C-to-B walk at T = 0.1 ran out of ladder (not found); AD
    barriers of -2.6 are floored at the target's energy."""
    from ebmbook.diagnostics.clustering import Judge
    from ebmbook.experiments import image_ad as ia
    from ebmbook.landscape.tuning import Boundary
    alphas = {(0, 1): [100, 20], (0, 2): [50, 10], (1, 0): [200, 20], (1, 2): [100, 20],
              (2, 0): [50, 10], (2, 1): [100, 40]}
    B = {k: [Boundary(float(a), -2.6 if t == 0 else -1.0, np.array([4 * a, 2 * a, a, a / 2]),
                      np.array([1.0, 0.5, 0.25, 0.0 if (k, t) != ((2, 1), 1) else 0.25]))
             for t, a in enumerate(v)] for k, v in alphas.items()}
    lin = {(0, 1): -1.5, (1, 0): -1.5, (0, 2): -2.55, (2, 0): -2.55, (1, 2): -1.8, (2, 1): -1.8}
    X = torch.zeros(4, 1, 4, 4)
    mi = ia.Minima(names=["A", "B", "C", "D"], z=None, raw=X, images=X, long_descent=X,
                   energies=np.array([-3.0, -2.0, -2.5, -1.0]), raw_energies=None,
                   long_energies=None, reads=np.array([1, 4, 1, 2]),
                   raw_reads=np.array([1, 4, 1, 3]), long_reads=np.array([5, 4, 3, 3]),
                   n_latent_modes=6)
    result = ia.Result(config=ia.Config(), judge=Judge(None, 0.9, 10, 20), unit=2.0, minima=mi,
                       temperatures=np.array([0.01, 0.1]), boundaries=B, linear=lin, paths=[])
    return result, {"alpha_star_pairs": 5, "frac_ad_below_1d_image": 5 / 6,
                    "median_barrier_ad_image": -2.5, "median_barrier_1d_image": -1.8,
                    "median_rise_1d_image": 0.2, "max_asymmetry": 2.0,
                    "weakest_pair_is_same_digit": 1, "minima_reads_kept": 3,
                    "long_descent_reads_kept": 2, "unit": 2.0,
                    "alpha_star_AB_coldest": 100, "alpha_star_AC_coldest": 50,
                    "alpha_star_BA_coldest": 200, "alpha_star_BC_coldest": 100,
                    "alpha_star_CA_coldest": 50, "alpha_star_CB_coldest": 100,
                    "pull_star_AB_warmest": 2, "pull_star_AC_warmest": 1,
                    "pull_star_BA_warmest": 2, "pull_star_BC_warmest": 2,
                    "pull_star_CA_warmest": 1, "pull_star_CB_warmest": 4,
                    "pull_ratio_cold": 1.0, "pull_rise_warmest": 2.0,
                    "warm_alpha_over_d_delta": 20 / 16}


def _hand_map(n_basins: int, T: float, alpha: float, labels=None, n_iterations: int = 30):
    """A LatentMap-like object with what the texture and face metrics read."""
    return SimpleNamespace(n_basins=n_basins, temperature=T, alpha=alpha,
                           n_iterations=n_iterations, temperature_rule_met=lambda: 0.0,
                           reads=np.asarray(labels if labels is not None else [0]),
                           artifact=SimpleNamespace(spec=SimpleNamespace(dataset="lfw_subset")))


def _texture_maps():
    """Hand-made: brick is the most distinct texture; 3 and 2 texton basins, one matched pair;
    a per-scale summary typed in."""
    from ebmbook.diagnostics.clustering import Judge
    from ebmbook.experiments import texture_maps as tm
    d = tm.Distinctness(textures=("grass", "gravel", "brick"), scales=(1, 2, 3, 4),
                        silhouette=np.array([[0.1, 0.05, 0.03, 0.02], [0.15, 0.07, 0.03, 0.02],
                                             [0.6, 0.38, 0.17, 0.12]]))
    summ = tm.ScaleSummary(basins=np.array([1, 4, 0, 2]),
                           mode_energy=np.array([-5.0, -3.0, np.nan, -2.0]),
                           substructure=np.array([0.0, 1.5, np.nan, 0.5]))
    result = tm.Result(config=tm.Config(), photo=None, distinctness=d,
                       judge=Judge(None, 0.9, 10, 20), texton_weak=_hand_map(3, 0.03, 10.0),
                       texton_strong=_hand_map(2, 0.03, 30.0), matches=[(0, 1)],
                       scales=_hand_map(7, 0.01, 3.0, n_iterations=40), summary=summ,
                       timings={},
                       coverage=np.array([0.1, 0.6, 0.0, 0.3]))
    return result, {"texture_silhouette_scale2": 0.38, "texture_most_distinct": 1,
                    "scale_judge_accuracy": 0.9, "texton_basins_weak_alpha": 3,
                    "texton_basins_strong_alpha": 2, "texton_weak_alpha": 10.0,
                    "texton_strong_alpha": 30.0, "texton_temperature": 0.03,
                    "texton_basins_reappearing": 1, "scales_basins": 7,
                    "adelm_iterations_texton": 30, "adelm_iterations_scales": 40,
                    "scales_temperature": 0.01, "scales_alpha": 3.0,
                    "basins_scale1": 1, "basins_scale2": 4, "basins_scale3": 0,
                    "basins_scale4": 2, "mode_energy_scale1": -5.0, "mode_energy_scale2": -3.0,
                    "mode_energy_scale3": float("nan"), "mode_energy_scale4": -2.0,
                    "substructure_scale1": 0.0, "substructure_scale2": 1.5,
                    "substructure_scale3": float("nan"), "substructure_scale4": 0.5,
                    "lowest_energy_scale": 1, "generator_share_scale1": 0.1,
                    "generator_share_scale2": 0.6, "generator_share_scale3": 0.0,
                    "generator_share_scale4": 0.3}


def _face_map():
    """Hand-made: a 4-basin face map 0.5 sample sds tall and a 3-basin digit map 2 sds tall."""
    from ebmbook.diagnostics.clustering import Coherence, Judge
    from ebmbook.experiments import face_map as fm
    shape = fm.Shape(top_barrier=1.0, spread=2.0, coherence=Coherence(
        within=0.8, random=1.0, random_sd=0.01, ratio=0.8, n_pairs=10), variety=0.3)
    dshape = fm.Shape(top_barrier=4.0, spread=2.0, coherence=Coherence(
        within=0.6, random=1.0, random_sd=0.02, ratio=0.6, n_pairs=10), variety=0.9)
    result = fm.Result(config=fm.Config(), judge=Judge(None, 0.95, 10, 20),
                       faces=_hand_map(4, 0.1, 3.0, labels=[1, 1, 0, 1], n_iterations=25),
                       shape=shape,
                       digits=_hand_map(3, 0.03, 10.0), digits_shape=dshape, timings={})
    return result, {"faces_basins": 4, "faces_temperature": 0.1, "faces_alpha": 3.0,
                    "adelm_iterations_faces": 25, "faces_T_rule_met": 0.0,
                    "faces_max_barrier_over_spread": 0.5,
                    "faces_within_over_random_distance": 0.8, "faces_random_distance_sd": 0.01,
                    "faces_modes_read_as_faces": 0.75, "face_judge_accuracy": 0.95,
                    "digits_basins_same_settings": 3, "digits_max_barrier_over_spread": 2.0,
                    "digits_within_over_random_distance": 0.6, "faces_rep_variety": 0.3,
                    "digits_rep_variety": 0.9}


def _image_map():
    """Hand-made: a 6-basin image-space map, its scores, energies and descent typed in."""
    from ebmbook.diagnostics.clustering import Judge
    from ebmbook.experiments import image_map as im
    adelm = SimpleNamespace(n_basins=6, rep_energies=np.array([10.0, 12.0]),
                            energies=np.array([10.0, 14.0, 18.0]))
    m = SimpleNamespace(adelm=adelm, n_basins=6, alpha=120.0, n_iterations=300,
                        artifact=SimpleNamespace(spec=SimpleNamespace(image_size=16)),
                        reads=np.array([0, 1, 2]), owned_labels=lambda: [0, 2, 5],
                        same_label_merge_gap=lambda: (0.5, 1.5),
                        same_label_barrier_gap=lambda seed: (0.7, 1.1, 0.02),
                        represented_labels=lambda: [0, 2])
    sc = lambda p, n, a: {"purity": p, "nmi": n, "ari": a, "k": 6}  # noqa: E731
    scores = im.Scores(basins=sc(0.7, 0.6, 0.3), kmeans=sc(0.6, 0.5, 0.2),
                       spectral=sc(0.5, 0.4, 0.1), basins_vs_start=sc(0.65, 0.55, 0.25))
    spread = im.Spread(mean=10.0, sd=2.0, lo=6.0, hi=14.0)
    descent = im.Descent(energies_z=np.array([-3.0, -1.0]), saturation=0.6,
                         data_saturation=0.4, minima=None)
    result = im.Result(config=im.Config(), judge=Judge(None, 0.8, 10, 20), spread=spread,
                       map=m, scores=scores, descent=descent, timings={})
    return result, {"fmnist_map_basins": 6, "fmnist_map_alpha": 120.0, "fmnist_map_purity": 0.7,
                    "adelm_iterations_fmnist": 300,
                    "fmnist_map_nmi": 0.6, "fmnist_map_ari": 0.3,
                    "fmnist_kmeans_purity_matched": 0.6, "fmnist_kmeans_nmi_matched": 0.5,
                    "fmnist_spectral_purity_matched": 0.5, "fmnist_spectral_nmi_matched": 0.4,
                    "fmnist_map_purity_vs_start": 0.65, "fmnist_judge_accuracy": 0.8,
                    "fmnist_reps_energy_z": 0.5, "fmnist_modes_energy_z": 2.0,
                    "fmnist_data_energy_lo_z": -2.0, "fmnist_data_energy_hi_z": 2.0,
                    "fmnist_descent_energy_z": -2.0, "fmnist_descent_saturation": 0.6,
                    "fmnist_data_saturation": 0.4, "fmnist_model_image_size": 16,
                    "fmnist_merge_same_label": 0.5, "fmnist_merge_different_label": 1.5,
                    "fmnist_barrier_same_label": 0.7, "fmnist_barrier_different_label": 1.1,
                    "fmnist_barrier_label_p": 0.02, "fmnist_labels_with_own_basin": 3,
                    "fmnist_labels_read_in_representatives": 2}


def _order_to_chaos():
    """Hand-made: a LeakyReLU map that never turns positive and a smooth one that does at 1.5."""
    from ebmbook.experiments import order_to_chaos as oc
    from ebmbook.diagnostics.lyapunov import GammaFrame

    def frames(sat0, sat1):
        return {(g,): GammaFrame(gamma=g, images=None, energy_z=np.array([z, z]), saturation=s,
                                 data_lo=-2.0, data_hi=2.0)
                for g, s, z in ((0.0, sat0, -3.0), (1.0, sat1, 0.5))}
    g = np.array([0.0, 1.0, 2.0])
    leaky = oc.ModelStudy(name="leaky", activation="leaky_relu", gammas=g,
                          delta0s=np.array([0.01, 1.0]),
                          lyap_map=np.array([[5.0, 4.0, 3.0], [-2.0, -1.0, -0.5]]),
                          frames=frames(0.6, 0.4))
    smooth = oc.ModelStudy(name="smooth", activation="swish", gammas=g,
                           delta0s=np.array([0.01, 1.0]),
                           lyap_map=np.array([[-2.0, -1.0, 1.0], [-3.0, -2.0, -1.0]]),
                           frames=frames(0.5, 0.3),
                           refined={1: np.array([-2.0, -0.5, 0.5]), 4: np.array([-2.0, -1.0, 1.0])},
                           smooth_delta0=1e-3)
    result = oc.Result(config=oc.Config(), leaky=leaky, smooth=smooth)
    return result, {"lyapunov_zero_gamma_delta0_0.01": 0.0,
                    "lyapunov_zero_gamma_delta0_1": float("nan"),
                    "lyapunov_zero_gamma_smooth_delta0_0.01": 1.5,
                    "lyapunov_zero_gamma_smooth_delta0_1": float("nan"),
                    "saturation_gamma0": 0.6, "saturation_gamma1": 0.4,
                    "longrun_energy_z_gamma0": -3.0, "longrun_energy_z_gamma1": 0.5,
                    "saturation_gamma0_smooth": 0.5, "saturation_gamma1_smooth": 0.3,
                    "longrun_energy_z_gamma0_smooth": -3.0, "longrun_energy_z_gamma1_smooth": 0.5,
                    "lyapunov_zero_gamma_smooth": 1.5, "lyapunov_smooth_refinement_change": 0.5,
                    "lyapunov_smooth_gamma1": -1.0}


def _oscillation_sweep():
    """Hand-made: two runs, the second clearly negative."""
    from ebmbook.experiments import oscillation_sweep as osw
    runs = [osw.Run("base", 0.3, 0.9, None, [], []), osw.Run("Adam 1e-3", -0.2, 0.5, None, [], [])]
    result = osw.Result(config=osw.Config(), runs=runs, manifest={})
    return result, {"acf1_d_adam_best": -0.2, "acf1_d_sweep_0": 0.3, "acf1_d_sweep_1": -0.2}


def _sk_sensitivity():
    """Hand-made: two settings of the grid and the barrier comparison."""
    from ebmbook.experiments import sk_sensitivity as sks
    rows = [sks.Row(alpha=1.35, improvement_limit=100, consolidate_every=0, basins=90,
                    in_gwl_lowest=30, share=30 / 90, consolidated=60, below_gwl_cut=30,
                    seconds=1.0),
            sks.Row(alpha=1.8, improvement_limit=300, consolidate_every=0, basins=60,
                    in_gwl_lowest=30, share=0.5, consolidated=50, below_gwl_cut=40,
                    seconds=1.0)]
    result = sks.Result(config=sks.Config(), rows=rows, barrier_gap_median=0.01,
                        barrier_gap_frac_gwl_lower=0.8, barrier_pairs=10, manifest={})
    return result, {"sk_grid_0_basins": 90, "sk_grid_0_share_in_gwl": 30 / 90,
                    "sk_grid_1_basins": 60, "sk_grid_1_share_in_gwl": 0.5,
                    "sk_grid_best_share": 0.5, "sk_barrier_gap_median": 0.01,
                    "sk_barrier_frac_gwl_lower": 0.8}


def _thesis_regime():
    """Hand-made: data with 1 of 8 pixels saturated, a saturated descent, a grey long run, and
    Lyapunov rows with known zero crossings."""
    from test_thesis_regime import hand_made_result
    result = hand_made_result()
    return result, {"conv_model_image_size": 28, "conv_train_updates": 30,
                    "conv_longrun_steps": 20_000, "conv_descent_steps": 100_000,
                    "conv_longrun_z": 1.0, "conv_descent_z": -7.0,
                    "conv_descent_saturation_excess": 7 / 8,
                    "conv_longrun_saturation_excess": -1 / 8, "conv_data_saturation": 1 / 8,
                    "conv_longrun_z_other": 1.0, "conv_descent_z_other": -7.0,
                    "conv_descent_saturation_excess_other": 7 / 8,
                    "lyapunov_zero_gamma_shared": 1 + 1 / 3,
                    "lyapunov_zero_gamma_shared_delta0_0.1": 1 + 1 / 3,
                    "lyapunov_gamma1_shared_delta0_0.1": -0.5,
                    "lyapunov_zero_gamma_independent": 0.5,
                    "lyapunov_zero_gamma_independent_delta0_0.1": 0.5,
                    "lyapunov_gamma1_independent_delta0_0.1": 1.0,
                    "conv_saturation_gamma0": 0.5, "conv_saturation_gamma1": 0.25,
                    "conv_saturation_gamma2": 0.0}


# a Result per experiment, built cheaply (a tiny real run, or the dataclass filled with
# hand-made numbers), with the metrics it must report: name -> value
CHEAP_RESULTS = {"toy_densities": _toy_densities, "axes_diagnostics": _axes_diagnostics,
                 "image_learning": _image_learning, "short_run_generation": _short_run_generation,
                 "chaos_and_optimisers": _chaos_and_optimisers,
                 "mapping_principles": _mapping_principles, "sk_spin_glass": _sk_spin_glass,
                 "digit_maps": _digit_maps, "image_ad": _image_ad,
                 "texture_maps": _texture_maps, "face_map": _face_map,
                 "image_map": _image_map, "order_to_chaos": _order_to_chaos,
                 "oscillation_sweep": _oscillation_sweep, "sk_sensitivity": _sk_sensitivity,
                 "thesis_regime": _thesis_regime}


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_metric_carries_its_description(name):
    assert name in CHEAP_RESULTS, f"add a cheap Result for the experiment {name!r} here"
    result, expected = CHEAP_RESULTS[name]()
    m = result.metrics()
    assert set(m) == set(expected)                        # the names the notebooks report
    for key, value in m.items():
        assert isinstance(value, Metric), key
        assert value.description.strip(), f"{name}: {key} has no description"
        assert value == pytest.approx(expected[key], nan_ok=True), key
    r = Results("ch0_metrics", "ci", 0)
    numbers = r.add_metrics(m)
    assert numbers == pytest.approx(expected, nan_ok=True)
    assert r.descriptions == {k: v.description for k, v in m.items()}


def test_a_second_size_of_a_sweep_reports_under_suffixed_names():
    result, expected = _sk_sensitivity()
    m = result.metrics("_paper")
    assert set(m) == {k + "_paper" for k in expected} | {"adelm_basins_paper",
                                                         "adelm_basins_in_gwl_lowest_paper"}
    assert (m["adelm_basins_paper"], m["adelm_basins_in_gwl_lowest_paper"]) == (90, 30)
    result, expected = _oscillation_sweep()
    assert result.metrics("_16x16") == pytest.approx({k + "_16x16": v
                                                      for k, v in expected.items()})
    assert all(v.description.strip() for v in result.metrics("_16x16").values())


def test_ebmbook_run_prints_each_metric_beside_its_description(monkeypatch, capsys):
    import dataclasses
    import sys
    import types

    from ebmbook.cli import main
    from ebmbook.experiments import ExperimentConfig

    mod = types.ModuleType("ebmbook_test_described_experiment")
    mod.Config = dataclasses.dataclass(frozen=True)(type("Config", (ExperimentConfig,), {}))
    mod.run = lambda cfg: SimpleNamespace(metrics=lambda: {
        "kl": Metric(0.25, f"KL at seed {cfg.seed}"), "steps": Metric(30, "updates")})
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(EXPERIMENTS, "described", mod.__name__)
    assert main(["run", "described", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"] == {"kl": 0.25, "steps": 30}
    assert out["descriptions"] == {"kl": "KL at seed 3", "steps": "updates"}


def test_experiment_progress_bars_obey_the_flag_and_tqdm_disable(monkeypatch):
    """The book sets TQDM_DISABLE=1 so that no bar lands in a rendered page: an enabled bar must
    still honour it, and progress=False must silence a bar whatever the environment."""
    from ebmbook.experiments._common import progress_bar
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    on, off = progress_bar(True, total=2), progress_bar(False, total=2)
    assert not on.disable and off.disable
    on.close()
    # tqdm reads its environment when it is imported: check in a fresh interpreter
    import subprocess
    import sys
    code = ("from ebmbook.experiments._common import progress_bar; "
            "print(progress_bar(True, total=2).disable)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "TQDM_DISABLE": "1"}, check=True)
    assert out.stdout.strip() == "True"


def test_the_book_extension_drops_duplicate_inline_scripts():
    from sphinx.builders.html._assets import _JavaScript

    from ebmbook._sphinx import dedupe_scripts
    body = 'const THEBE_JS_URL = "x"'
    files = [_JavaScript("a.js"), _JavaScript(None, body=body), _JavaScript("b.js", async_="1"),
             _JavaScript("", body=body), _JavaScript("a.js"), _JavaScript("", body="other")]
    ctx = {"script_files": files}
    dedupe_scripts(None, "p", "page.html", ctx, None)
    assert [(f.filename or "", f.attributes.get("body")) for f in ctx["script_files"]] == [
        ("a.js", None), ("", body), ("b.js", None), ("", "other")]
    from ebmbook._sphinx import default_mode
    ctx = {"default_mode": ""}
    default_mode(None, "p", "page.html", ctx, None)
    assert ctx["default_mode"] == "auto"
    from ebmbook._sphinx import link_images
    body = ('<img alt="a" src="../_images/a.png" />'
            '<a href="x.html"><img src="../_images/b.png"/></a><img src="logo.png">')
    ctx = {"body": body}
    link_images(None, "p", "page.html", ctx, None)
    assert ctx["body"] == ('<a class="reference internal image-reference" '
                           'href="../_images/a.png" title="open full-size">'
                           '<img alt="a" src="../_images/a.png" /></a>'
                           '<a href="x.html"><img src="../_images/b.png"/></a>'
                           '<img src="logo.png">')
    from ebmbook._sphinx import no_numfig
    config = {"numfig": True}
    no_numfig(None, config)
    assert config["numfig"] is False


def test_chapter_pages_and_the_report_link_every_captioned_figure_by_label(tmp_path):
    from ebmbook.book import (FIGURES_MARKER, fill_figure_lists, figure_index,
                              reproduction_table)
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    figs = [("Fig 3.11 (right). Traces.", "fig-3-11-traces"), ("Explorer (static view): x", "fig-x"),
            ("Table 5.3 (as a figure). Basins.", "table-5-3")]
    _notebook(nbdir / "ch9_demo.ipynb", "x = 1")
    nb = nbformat.read(str(nbdir / "ch9_demo.ipynb"), as_version=4)
    for cap, name in figs:
        nb.cells.append(nbformat.v4.new_code_cell(
            "pass", metadata={"mystnb": {"figure": {"caption": cap, "name": name}}}))
    nbformat.write(nb, str(nbdir / "ch9_demo.ipynb"))
    index = figure_index([nbdir / "ch9_demo.ipynb"])
    assert index == {"ch9_demo": [("fig-3-11-traces", "Fig 3.11 (right)"),
                                  ("fig-x", "Explorer (static view)"),
                                  ("table-5-3", "Table 5.3 (as a figure)")]}
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: P\n    chapters:\n"
        "      - file: ch9\n        sections:\n          - file: notebooks/ch9_demo\n")
    (tmp_path / "ch9.md").write_text(f"# Nine\n\n{FIGURES_MARKER}\n")
    fill_figure_lists(tmp_path, index)
    page = (tmp_path / "ch9.md").read_text()
    assert FIGURES_MARKER not in page
    assert "{doc}`notebooks/ch9_demo`" in page
    assert "{ref}`Fig 3.11 (right) <fig-3-11-traces>`" in page
    assert "{ref}`Table 5.3 (as a figure) <table-5-3>`" in page
    res = tmp_path / "results"
    res.mkdir()
    (res / "ch9_demo.json").write_text(json.dumps({
        "notebook": "ch9_demo", "size": "ci", "seed": 0, "elapsed_s": 1.0, "results": {},
        "claims": [{"claim": "c", "value": 1.0, "op": ">", "threshold": 0, "pass": True,
                    "kind": "check", "ref": None, "source": "ci run"}]}))
    table = reproduction_table(res, link_notebooks=True, figures=index)
    assert "| figures |" in table and "{ref}`Explorer (static view) <fig-x>`" in table
