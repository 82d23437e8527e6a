"""fp32 against bf16 on the book's own verdicts, side by side in one run (issue 21).

    .venv/bin/python benchmarks/precision.py [--threads 1] [--only toy image recon] [--json out.json]

Each experiment that has a ``precision`` setting is run twice at ``ci`` size with the same seed,
once per precision, and the numbers its page judges are printed beside each other with the
verdict of each claim and the wall time:

* ``toy``:   Fig 3.1 on the 8-Gaussian mixture - KL(q || p_theta) of the convergent and
  non-convergent MLPs (claims: convergent <= 0.5; non-convergent / convergent >= 5), and the
  KL of the non-convergent short-run KDE (<= 1);
* ``image``: Figs 3.2, 3.5, 3.6 - the long-run energy z of the committed 16x16 models (claims:
  non-convergent z < -3, convergent |z| <= 2), sampled in each precision, measured in fp32;
* ``recon``: Sec 3.3 - the short-run reconstruction error through M(Z) against the mean-image
  baseline (claim: lower).

The thresholds are the pages' own (``notebooks/ch3_*.ipynb``). A verdict that differs between the
two precisions is flagged: that experiment keeps fp32 as its default.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ebmbook.experiments import get_experiment

CASES = {
    "toy": ("toy_densities", {"densities": ("gmm",)}, [
        ("gmm: convergent KL <= 0.5", lambda m: m["gmm_kl_convergent"] <= 0.5,
         ("gmm_kl_convergent",)),
        ("gmm: non-convergent / convergent KL >= 5",
         lambda m: m["gmm_kl_nonconvergent"] / m["gmm_kl_convergent"] >= 5,
         ("gmm_kl_nonconvergent",)),
        ("gmm: non-convergent short-run KDE KL <= 1", lambda m: m["gmm_kl_kde_nonconvergent"] <= 1,
         ("gmm_kl_kde_nonconvergent",)),
    ]),
    "image": ("image_learning", {}, [
        ("non-convergent long-run z < -3", lambda m: m["longrun_z_nonconvergent"] < -3,
         ("longrun_z_nonconvergent",)),
        ("convergent long-run |z| <= 2", lambda m: abs(m["longrun_z_convergent"]) <= 2,
         ("longrun_z_convergent",)),
    ]),
    "recon": ("short_run_generation", {}, [
        ("reconstruction beats the mean image", lambda m: m["recon_mse"] < m["recon_mse_baseline"],
         ("recon_mse", "recon_mse_baseline")),
    ]),
}


def run_case(key: str) -> dict:
    name, overrides, claims = CASES[key]
    mod = get_experiment(name)
    out = {}
    for precision in ("fp32", "bf16"):
        cfg = mod.Config.for_size("ci", precision=precision, **overrides)
        t0 = time.perf_counter()
        metrics = {k: float(v) for k, v in mod.run(cfg, progress=False).metrics().items()}
        out[precision] = {"seconds": time.perf_counter() - t0, "metrics": metrics,
                          "verdicts": {c: bool(f(metrics)) for c, f, _ in claims}}
    print(f"\n== {key}: experiment {name} (ci size, seed 0)")
    print(f"   wall time: fp32 {out['fp32']['seconds']:.0f} s, bf16 {out['bf16']['seconds']:.0f} s"
          f" (bf16 / fp32 = {out['bf16']['seconds'] / out['fp32']['seconds']:.2f})")
    for c, _, keys in claims:
        vals = "  ".join(f"{k}: fp32 {out['fp32']['metrics'][k]:.4g} / "
                         f"bf16 {out['bf16']['metrics'][k]:.4g}" for k in keys)
        v32, v16 = out["fp32"]["verdicts"][c], out["bf16"]["verdicts"][c]
        flag = "same verdict" if v32 == v16 else "VERDICT CHANGES"
        print(f"   {c:<45s} fp32 {'holds' if v32 else 'fails'}, bf16 "
              f"{'holds' if v16 else 'fails'}: {flag}   ({vals})")
    out["verdict_changes"] = sum(out["fp32"]["verdicts"][c] != out["bf16"]["verdicts"][c]
                                 for c, _, _ in claims)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", nargs="+", choices=sorted(CASES), default=sorted(CASES))
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from ebmbook.energies.precision import native_bf16
    print(f"torch {torch.__version__}, {a.threads} thread(s); bf16 "
          + ("native" if native_bf16("cpu") else "not native: it runs as fp32 (the two columns "
             "agree) unless EBMBOOK_BF16=always"))
    results = {key: run_case(key) for key in a.only}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    changed = [k for k, r in results.items() if r["verdict_changes"]]
    print("\nverdicts changed by bf16: " + (", ".join(changed) if changed else "none"))


if __name__ == "__main__":
    main()
