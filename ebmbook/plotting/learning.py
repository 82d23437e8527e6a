"""Figures of Chapters 2-3 at toy scale: Fig 2.4, 2.5, 3.1, 3.3 and 3.4."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns


def _imshow_density(ax, log_mass, extent, title, log=False):
    img = log_mass if log else np.exp(log_mass)
    if log:
        img = np.maximum(img, img.max() - 20)
    ax.imshow(img, origin="lower", extent=(-extent, extent, -extent, extent), cmap="viridis")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def toy_densities_figure(result, log: bool = False):
    """Fig 3.1: rows (density, model); columns true density, learned p_theta, short-run KDE."""
    keys = list(result.models)
    fig, axes = plt.subplots(len(keys), 3, figsize=(7.5, 2.5 * len(keys)), squeeze=False)
    for row, (d, m) in enumerate(keys):
        r = result.models[(d, m)]
        ext = result.grids[d].extent
        _imshow_density(axes[row, 0], result.log_true[d], ext, f"{d}: true q", log)
        _imshow_density(axes[row, 1], r.log_learned, ext,
                        f"{m}: $p_\\theta$ (KL {r.kl:.3g})", log)
        _imshow_density(axes[row, 2], r.log_kde, ext,
                        f"{m}: short-run KDE (KL {r.kl_kde:.3g})", log)
    fig.tight_layout()
    return fig


def training_trace_figure(log, title: str = "", burn_in: float = 0.0):
    """Fig 2.4: d_st over training (top, full width), r_st over training and their scatter after
    burn-in (bottom); sized for the book's text column."""
    n = len(log.d_st)
    t = np.arange(n)
    fig = plt.figure(figsize=(7.5, 5.4))
    gs = fig.add_gridspec(2, 2)
    a0, a1, a2 = fig.add_subplot(gs[0, :]), fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1])
    a0.plot(t, log.d_st, lw=0.6)
    a0.axhline(0, color="k", ls="--", lw=0.8)
    a0.set(xlabel="training step t", ylabel="$d_{s_t}$", title="energy difference")
    a1.plot(t, log.r_st, lw=0.6, color="C1")
    a1.set(xlabel="training step t", ylabel="$r_{s_t}$", title="Langevin gradient")
    s = slice(int(burn_in * n), n)
    a2.scatter(log.r_st[s], log.d_st[s], s=3, alpha=0.4)
    a2.set(xlabel="$r_{s_t}$", ylabel="$d_{s_t}$", title="after burn-in")
    a2.tick_params(axis="x", labelrotation=30)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_traces_figure(logs, burn_in: float = 0.0):
    """Fig 2.4 for several runs in one figure: one row per run (``logs``: title -> training
    log), d_st and r_st over training and their scatter after ``burn_in`` (a fraction)."""
    items = list(logs.items())
    fig, axes = plt.subplots(len(items), 3, figsize=(7.5, 2.3 * len(items) + 0.4),
                             squeeze=False)
    for (title, log), (a0, a1, a2) in zip(items, axes):
        d, r = np.asarray(log.d_st), np.asarray(log.r_st)
        t = np.arange(len(d))
        a0.plot(t, d, lw=0.5)
        a0.axhline(0, color="k", ls="--", lw=0.8)
        a0.set_ylabel(f"{title}\n$d_{{s_t}}$")
        a1.plot(t, r, lw=0.5, color="C1")
        a1.set_ylabel("$r_{s_t}$")
        s = slice(int(burn_in * len(d)), len(d))
        a2.scatter(r[s], d[s], s=2, alpha=0.4)
        a2.tick_params(axis="x", labelrotation=30)
    axes[0, 0].set_title("energy difference", fontsize=10)
    axes[0, 1].set_title("Langevin gradient", fontsize=10)
    axes[0, 2].set_title("after burn-in" if burn_in else "$d_{s_t}$ against $r_{s_t}$",
                         fontsize=10)
    axes[-1, 0].set_xlabel("training step")
    axes[-1, 1].set_xlabel("training step")
    axes[-1, 2].set_xlabel("$r_{s_t}$")
    fig.tight_layout()
    return fig


def oscillation_figure(stats, log, title: str = ""):
    """Fig 3.3 / 3.4: d_st, r_st, cross-correlation and autocorrelations."""
    fig, axes = plt.subplots(2, 2, figsize=(9, 6))
    axes[0, 0].plot(log.d_st, lw=0.5)
    axes[0, 0].axhline(0, color="k", ls="--", lw=0.8)
    axes[0, 0].set(title="energy difference $d_{s_t}$", xlabel="step")
    axes[0, 1].plot(log.r_st, lw=0.5, color="C1")
    axes[0, 1].set(title="gradient magnitude $r_{s_t}$", xlabel="step")
    axes[1, 0].bar(stats.lags, stats.xcorr, color="C2")
    axes[1, 0].axhline(0, color="k", lw=0.8)
    axes[1, 0].set(title="cross-correlation of $d_{s_t}$ and $r_{s_t}$", xlabel="lag")
    lags = np.arange(len(stats.acf_d))
    axes[1, 1].bar(lags - 0.18, stats.acf_d, 0.35, label="$d_{s_t}$ (uncentred)")
    axes[1, 1].bar(lags + 0.18, stats.acf_r, 0.35, label="$r_{s_t}$ (centred)")
    axes[1, 1].axhline(0, color="k", lw=0.8)
    axes[1, 1].set(title="autocorrelation", xlabel="lag")
    axes[1, 1].legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def gradient_strength_figure(result):
    """Fig 2.5: final r_st (and r_st * L) per initialisation, eps level and L; the two panels
    stacked, one legend above them (not over the bars)."""
    import pandas as pd
    rows = [{"init": i, "eps": lvl, "L": L, "r_st": r, "r_st * L": r * L}
            for (i, lvl, L), r in result.r_final.items()]
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(2, 1, figsize=(7.0, 6.2), sharex=True)
    hue = df["eps"] + " eps, L=" + df["L"].astype(str)
    for ax, col in zip(axes, ("r_st", "r_st * L")):
        sns.barplot(data=df, x="init", y=col, hue=hue, ax=ax)
        ax.set_yscale("log")
        ax.get_legend().remove()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def lyapunov_map_figure(studies):
    """Fig 3.8 investigated: the finite-size Lyapunov exponent lambda(gamma, delta0) of each
    model (one panel per :class:`ebmbook.experiments.order_to_chaos.ModelStudy`, stacked),
    sign-preserving log colour scale, the zero contour in black."""
    from matplotlib.colors import SymLogNorm
    studies = list(studies)
    vmax = max(float(np.nanmax(np.abs(s.lyap_map))) for s in studies) or 1.0
    norm = SymLogNorm(linthresh=10.0, vmin=-vmax, vmax=vmax, base=10)
    fig, axes = plt.subplots(len(studies), 1, figsize=(7.0, 3.0 * len(studies) + 0.3),
                             squeeze=False)
    for ax, s in zip(axes[:, 0], studies):
        G, D = np.meshgrid(s.gammas, s.delta0s)
        im = ax.pcolormesh(G, D, s.lyap_map, cmap="RdBu_r", norm=norm, shading="nearest")
        if np.nanmin(s.lyap_map) < 0 < np.nanmax(s.lyap_map):
            ax.contour(G, D, s.lyap_map, levels=[0.0], colors="k", linewidths=1.2)
        ax.set_yscale("log")
        d = np.asarray(s.delta0s, dtype=float)
        ax.set_ylim(d.min() / 1.8, d.max() * 1.8)
        ax.axvline(1.0, color="0.3", ls=":", lw=1)
        ax.set_ylabel("initial separation delta0")
        ax.set_title(f"{s.name} ({s.activation})", fontsize=10)
        fig.colorbar(im, ax=ax, label="exponent per unit time")
    axes[-1, 0].set_xlabel("gamma (noise scale; 1 = training temperature)")
    fig.tight_layout()
    return fig


def saturation_figure(studies):
    """The visual side of Fig 3.8: share of saturated pixels and energy of long-run samples
    against gamma, one line per model."""
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(7.0, 5.0), sharex=True)
    for s in studies:
        keys = sorted(s.frames)
        g = [k[0] for k in keys]
        a0.plot(g, [s.frames[k].saturation for k in keys], "o-", label=f"{s.name}")
        a1.plot(g, [float(np.mean(s.frames[k].energy_z)) for k in keys], "o-")
    f = next(iter(studies[0].frames.values()))
    a1.axhspan(f.data_lo, f.data_hi, color="tab:green", alpha=0.12, lw=0,
               label="data's central 95 %")
    a0.set_ylabel("share of pixels\nbeyond +-0.95")
    a1.set_ylabel("long-run energy\n(data sds)")
    a1.set_xlabel("gamma")
    a0.legend(loc="upper center", bbox_to_anchor=(0.5, 1.3), ncol=2, frameon=False)
    a1.legend(loc="upper left", frameon=False)
    for a in (a0, a1):
        a.axvline(1.0, color="0.3", ls=":", lw=1)
    fig.tight_layout()
    return fig


def oscillation_sweep_figure(result, max_lag: int = 15):
    """Fig 3.3 investigated: the lag-1 ACF of d_st (uncentred) for every run of the sweep, the
    'clearly negative' level dashed; below, the d_st trace and ACF of the most negative run."""
    from ..diagnostics.stats import autocorrelation
    runs = result.runs
    best = result.best()
    fig = plt.figure(figsize=(7.5, 6.6))
    gs = fig.add_gridspec(2, 2, height_ratios=[1.15, 1.0])
    a0 = fig.add_subplot(gs[0, :])
    y = np.arange(len(runs))
    vals = [r.acf1_d for r in runs]
    a0.barh(y, np.nan_to_num(vals), color=["C3" if v < -0.1 else "C0" for v in vals])
    pre = [r.acf1_d_pre for r in runs]
    if any(v is not None for v in pre):
        a0.barh(y, [v if v is not None else 0.0 for v in pre], color="none", edgecolor="0.35",
                hatch="///", label="diverged: over its last "
                f"{max(len(r.d_st_pre or []) for r in runs)} updates before")
    a0.axvline(0, color="k", lw=0.8)
    a0.axvline(-0.1, color="C3", ls="--", lw=1, label="clearly negative (< -0.1)")
    a0.set_yticks(y)
    a0.set_yticklabels([r.setting + (f" (diverged at {r.diverged_at})" if r.diverged_at
                                     else "") for r in runs], fontsize=9)
    a0.invert_yaxis()
    a0.set_xlabel("lag-1 ACF of d_st (uncentred)")
    a0.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=8)
    a1, a2 = fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1])
    if best.d_st:
        d = np.asarray(best.d_st)
        a1.plot(d, lw=0.4)
        a1.axhline(0, color="k", lw=0.8)
        a1.set_xlabel("step (last of the run)")
        a1.set_ylabel("$d_{s_t}$")
        acf = autocorrelation(d, max_lag, center=False)
        a2.bar(np.arange(len(acf)), acf, color="C2")
        a2.axhline(0, color="k", lw=0.8)
        a2.set_xlabel("lag")
        a2.set_ylabel("ACF of $d_{s_t}$")
    a1.set_title(f"lowest lag-1 ACF: {best.setting}", fontsize=9)
    fig.tight_layout()
    return fig


def descent_curves_figure(runs):
    """Issue 23's yardstick over time: for each model (a
    :class:`ebmbook.experiments.thesis_regime.ModelRuns`), the chains' mean energy as a data
    z-score (top) and their saturated-pixel share minus the starting images' (bottom) along the
    gamma = 1 long run (dashed) and the gamma = 0 descent (solid)."""
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(7.0, 5.2), sharex=True)
    for i, r in enumerate(runs):
        c = f"C{i}"
        sat0 = r.start_saturation
        lab = f"{r.name} ({r.image_size}x{r.image_size})"
        a0.plot(r.curve_steps, r.descent_curve_z, "-", color=c, label=f"{lab}, gamma = 0")
        a0.plot(r.curve_steps, r.longrun_curve_z, "--", color=c, label=f"{lab}, gamma = 1")
        a1.plot(r.curve_steps, r.descent_curve_saturation - sat0, "-", color=c)
        a1.plot(r.curve_steps, r.longrun_curve_saturation - sat0, "--", color=c)
    d = runs[0].data_energy
    lo, hi = (np.quantile(d, [0.025, 0.975]) - d.mean()) / d.std()
    a0.axhspan(lo, hi, color="tab:green", alpha=0.12, lw=0,
               label=f"{runs[0].name}: data's central 95 %")
    a0.axhline(-3, color="0.3", ls=":", lw=1)
    a1.axhline(0.2, color="0.3", ls=":", lw=1)
    a1.axhline(0.0, color="0.6", lw=0.8)
    a0.set_ylabel("mean energy\n(data z-score)")
    a1.set_ylabel("saturated share\nminus the start's")
    a1.set_xlabel("sampler steps from test images")
    a0.set_xscale("log")
    a0.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def lyapunov_conventions_figure(chaos, name: str = ""):
    """Fig 3.8 with both noise conventions: the finite-size exponent against gamma, one line per
    initial separation delta0, for shared noise (left, the SDE's exponent) and independent noise
    (right); a sign-preserving log axis (:class:`ebmbook.experiments.thesis_regime.Chaos`)."""
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6), sharey=True)
    for ax, noise in zip(axes, ("shared", "independent")):
        for i, d0 in enumerate(chaos.delta0s):
            ax.plot(chaos.gammas, chaos.maps[noise][i], "o-", ms=3, label=f"delta0 = {d0:g}")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.axvline(1.0, color="0.3", ls=":", lw=1)
        ax.set_yscale("symlog", linthresh=10.0)
        ax.set_xlabel("gamma (1 = training temperature)")
        ax.set_title(f"{noise} noise", fontsize=10)
    axes[0].set_ylabel("exponent per unit time")
    axes[1].legend(fontsize=8)
    if name:
        fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    return fig


def regime_oscillation_figure(reg):
    """Fig 3.3 in the thesis's regime (an
    :class:`ebmbook.experiments.axes_diagnostics.RegimeOscillation`): d_st over the record with
    the burn-in shaded and each half's mean (left), and its ACF after burn-in, centred and
    uncentred (right)."""
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9.0, 3.4), gridspec_kw={"width_ratios": [2, 1]})
    t = np.arange(len(reg.d_st))
    a0.plot(t, reg.d_st, lw=0.4, color="C0")
    a0.axvspan(0, reg.burn_in, color="0.85", lw=0, label="burn-in")
    n = len(reg.d_st) - reg.burn_in
    for i, (m, s) in enumerate(reg.halves):
        lo = reg.burn_in + i * (n // 2)
        hi = reg.burn_in + (n // 2 if i == 0 else n)
        a0.hlines(m, lo, hi, color="C3", lw=1.5, label="mean of each half" if i == 0 else None)
    a0.set_xlabel("update")
    a0.set_ylabel("d_st")
    a0.set_title(f"{reg.name} ({reg.status})", fontsize=9)
    a0.legend(fontsize=7)
    lags = np.arange(len(reg.acf))
    a1.bar(lags - 0.18, reg.acf, width=0.36, label="centred")
    a1.bar(lags + 0.18, reg.acf_uncentred, width=0.36, label="uncentred")
    a1.axhline(0.0, color="k", lw=0.8)
    a1.set_xlabel("lag (updates)")
    a1.set_ylabel("ACF of d_st after burn-in")
    a1.legend(fontsize=7)
    fig.tight_layout()
    return fig
