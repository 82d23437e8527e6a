"""The thesis ledger: one row per figure and table of chapters 1-5 (and Appendix A, which has
none of its own), with what this build made of it.

A row's status is computed from the ``thesis`` claims (:mod:`ebmbook.results`) whose ``ref`` is
that figure or table:

* *reproduced*: every such claim holds;
* *partly*: some hold;
* *not reproduced*: none holds;
* *not attempted*: no claim carries the ref; the row says why (:data:`FIGURES`).

``check`` and ``beyond`` claims never enter the ledger; they are counted on their own lines.
"""

from __future__ import annotations

import math
from typing import Any

# ref -> (what it shows, in our words; the notebook that draws it or None; why no claim is
# checked when none is)
_SCHEMATIC = "a schematic drawing: it states no measurable outcome"
FIGURES: dict[str, tuple[str, str | None, str]] = {
    "Fig 1.1": ("landscape map of a FashionMNIST energy", "ch1_fmnist_map", ""),
    "Fig 2.1": ("ways to start the MCMC chains", None, _SCHEMATIC),
    "Fig 2.2": ("short-run samples of other published EBMs", None,
                "shows other authors' trained models, which are not available offline"),
    "Fig 2.3": ("the two axes of ML learning", None, _SCHEMATIC),
    "Fig 2.4": ("expansion and contraction over training (d_st, r_st)", "ch2_axes_diagnostics", ""),
    "Fig 2.5": ("gradient strength r_st by initialisation, step size and L",
                "ch2_axes_diagnostics", ""),
    "Fig 3.1": ("convergent vs non-convergent learning of 2-D densities", "ch3_toy_densities", ""),
    "Fig 3.2": ("short-run vs steady-state samples of image models", "ch3_image_learning",
                "drawn on its page; its energies are checked under Figs 3.5 and 3.6"),
    "Fig 3.3": ("diagnostics of strong oscillation", "ch2_axes_diagnostics", ""),
    "Fig 3.4": ("diagnostics of weak oscillation", "ch2_axes_diagnostics", ""),
    "Fig 3.5": ("non-convergent landscape: energy along a long chain", "ch3_image_learning", ""),
    "Fig 3.6": ("convergent landscape: energy along a long chain", "ch3_image_learning", ""),
    "Fig 3.7": ("generation, interpolation and reconstruction from noise",
                "ch3_short_run_generation", "drawn on its page; its number is Table 3.1's"),
    "Table 3.1": ("reconstruction error against baselines", "ch3_short_run_generation", ""),
    "Fig 3.8": ("maximal Lyapunov exponent against the noise scale",
                "ch3_chaos_and_optimisers", ""),
    "Fig 3.9": ("oversaturation corrected by switching Adam to SGD",
                "ch3_chaos_and_optimisers", ""),
    "Fig 3.10": ("long-run samples of a model learned with a Gaussian prior",
                 "ch3_chaos_and_optimisers", "drawn on its page without a checked statement"),
    "Fig 3.11": ("failures of expansion-only and contraction-only learning",
                 "ch3_chaos_and_optimisers", ""),
    "Fig 4.1": ("building a disconnectivity graph of a 1-D landscape", None, _SCHEMATIC),
    "Fig 4.2": ("galaxies of image-potential minima", None, _SCHEMATIC),
    "Fig 4.3": ("ivy leaves at several scales", None, "a photograph: it states no outcome"),
    "Fig 4.4": ("iterative construction of a disconnectivity graph", None, _SCHEMATIC),
    "Fig 4.5": ("a 2-D mixture landscape and its disconnectivity graph",
                "ch4_mapping_principles", "drawn on its page without a checked statement"),
    "Fig 4.6": ("basins and barriers of a 1-D state space", None, _SCHEMATIC),
    "Fig 4.7": ("galaxies of minima and metastable regions", None, _SCHEMATIC),
    "Fig 4.8": ("magnetising a 1-D landscape toward a target", "ch4_mapping_principles", ""),
    "Fig 4.9": ("the magnetised Ising model", "ch4_mapping_principles",
                "drawn on its page; its hysteresis check is our extension"),
    "Fig 4.10": ("detecting metastable behaviour with AD", None, _SCHEMATIC),
    "Fig 4.11": ("metastable regions in (T, alpha)", "ch4_image_ad", ""),
    "Fig 4.12": ("metastable regions for three minima", "ch4_image_ad", ""),
    "Fig 4.13": ("AD barrier against the 1-D interpolation barrier", "ch4_image_ad", ""),
    "Fig 5.1": ("GWL map of an SK spin glass", "ch5_sk_spin_glass",
                "drawn on its page; GWL is the reference the ADELM claims are checked against"),
    "Fig 5.2": ("tuning T and alpha for AD", "ch5_sk_spin_glass",
                "drawn on its page; tuning is checked, not claimed"),
    "Fig 5.3": ("ADELM map of an SK spin glass", "ch5_sk_spin_glass", ""),
    "Fig 5.4": ("ADELM and GWL maps overlaid", "ch5_sk_spin_glass", ""),
    "Fig 5.5": ("AD path between the two global spin-glass modes", "ch5_sk_spin_glass",
                "drawn on its page without a checked statement"),
    "Fig 5.6": ("map of digits 0-3 in a 2-D latent space", "ch5_digit_maps", ""),
    "Fig 5.7": ("map of all MNIST digits in latent space", "ch5_digit_maps", ""),
    "Fig 5.8": ("barriers by AD, DNEB and the 1-D line", "ch5_digit_maps", ""),
    "Fig 5.9": ("a texture and its patches at four scales", "ch5_texture_maps",
                "drawn on its page: it shows data, no outcome"),
    "Table 5.1": ("texton modes at one magnetisation", "ch5_texture_maps",
                  "drawn on its page; its counts are checked under Fig 5.10"),
    "Fig 5.10": ("texton maps at two magnetisations", "ch5_texture_maps", ""),
    "Fig 5.11": ("texture patches at four scales mapped together", "ch5_texture_maps", ""),
    "Table 5.2": ("modes of the four-scale map", "ch5_texture_maps", ""),
    "Fig 5.12": ("map of faces in latent space", "ch5_face_map", ""),
    "Table 5.3": ("modes of the faces map", "ch5_face_map", ""),
    "Fig 5.13": ("basin structure of an Oxford Flowers model", None,
                 "Oxford Flowers 102 is not available offline"),
}

STATUSES = ("reproduced", "partly", "not reproduced", "not attempted")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return "n/a" if not math.isfinite(v) else f"{v:.4g}"


def status(claims: list[dict]) -> str:
    """The status of one ref from its thesis claims."""
    if not claims:
        return "not attempted"
    passed = sum(bool(c["pass"]) for c in claims)
    return ("reproduced" if passed == len(claims) else "partly" if passed else
            "not reproduced")


def thesis_claims(runs: list[dict]) -> dict[str, list[dict]]:
    """ref -> the thesis claims that carry it (each with its notebook), in page order."""
    out: dict[str, list[dict]] = {}
    for r in runs:
        for c in r.get("claims", []):
            if c.get("kind") == "thesis":
                out.setdefault(c["ref"], []).append({**c, "notebook": r["notebook"]})
    return out


def counts(runs: list[dict]) -> dict[str, tuple[int, int]]:
    """kind -> (claims that hold, claims) over all runs; a claim without a kind counts as an
    unlabelled ``check``, never as a thesis statement."""
    out = {k: [0, 0] for k in ("thesis", "check", "beyond")}
    for r in runs:
        for c in r.get("claims", []):
            k = c.get("kind") if c.get("kind") in out else "check"
            out[k][0] += bool(c["pass"])
            out[k][1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def headline(runs: list[dict]) -> str:
    """The report's computed headline, one line per kind of claim."""
    c = counts(runs)
    (tp, tn), (cp, cn), (bp, bn) = c["thesis"], c["check"], c["beyond"]
    return (f"**{tp} of {tn} thesis statements reproduce** on this build.\n\n"
            f"{cp} of {cn} checks pass (sanity and procedural checks, not reproductions).\n\n"
            f"{bp} of {bn} extensions beyond the thesis hold.")


def ledger_rows(runs: list[dict]) -> list[dict]:
    """One row per figure and table of :data:`FIGURES`, then one per other thesis ref (a
    section) that a claim carries."""
    by_ref = thesis_claims(runs)
    refs = list(FIGURES) + sorted(r for r in by_ref if r not in FIGURES)
    rows = []
    for ref in refs:
        what, page, reason = FIGURES.get(ref, ("a statement of the text", None, ""))
        claims = by_ref.get(ref, [])
        st = status(claims)
        # the key number: the first claim that states the thesis's own number, else the first
        key = next((c for c in claims if c.get("thesis_value") is not None),
                   claims[0] if claims else None)
        if key is not None:
            page = key["notebook"]
        rows.append({"ref": ref, "what": what, "status": st,
                     "reason": "" if claims else (reason or "no claim carries this ref"),
                     "value": _fmt(key["value"]) if key else "",
                     "thesis": _fmt(key.get("thesis_value")) if key else "",
                     "source": key["source"] if key else "",
                     "page": page,
                     "held": f"{sum(bool(c['pass']) for c in claims)} / {len(claims)}"
                     if claims else ""})
    return rows


def ledger_table(runs: list[dict], link_notebooks: bool = False) -> str:
    """The ledger as a markdown table."""
    lines = ["| thesis | what it shows | status | key number here | thesis's number | source "
             "| claims held | page |", "|---|---|---|---|---|---|---|---|"]
    for r in ledger_rows(runs):
        st = r["status"] + (f": {r['reason']}" if r["reason"] else "")
        page = r["page"] or ""
        if page and link_notebooks:
            page = f"[{page}](notebooks/{page}.ipynb)"
        cells = [r["ref"], r["what"], st, r["value"], r["thesis"], r["source"], r["held"], page]
        lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines)
