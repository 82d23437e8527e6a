"""Figures of Chapters 4-5: disconnectivity graphs, magnetised landscapes, Ising phase behaviour
and the SK maps. Every function returns a matplotlib Figure (or draws on a given Axes)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from ..energies.spin import ONSAGER_TC, onsager_magnetisation


def _layout(dg):
    order = dg.leaf_order()
    x = np.zeros(2 * dg.n - 1)
    x[order] = np.arange(dg.n)
    for k in range(len(dg.merges)):
        a, b = dg.children(dg.n + k)
        x[dg.n + k] = (x[a] + x[b]) / 2
    return x, order


def dg_figure(dg, ax=None, *, circles: bool = True, merge_colors=None, leaf_colors=None,
            images=None, members=None, leaf_labels=None, title: str | None = None,
            ylabel: str = "energy", max_circle: float = 300.0, image_zoom: float | None = None):
    """Draw a disconnectivity graph (Algorithm 2; Sec 5.1.1 conventions).

    Leaves sit at basin minimum energies and merges at barrier heights; merges at ``inf`` are
    drawn at the top. ``circles`` draws a circle at each leaf sized by the number of modes in the
    basin. ``merge_colors`` colours each merge's horizontal bar (Fig 5.4), ``leaf_colors`` marks
    leaves with dots (Fig 5.1). ``images`` (one 2D array per leaf) are drawn under the leaves and
    ``members`` (a list per leaf of 2D arrays) above them, magnified by ``image_zoom`` (default:
    shrinking with the number of leaves).
    """
    fig = None
    if ax is None:
        # wide enough to separate a few dozen leaves, never wider than a page can show (a DG
        # of hundreds of leaves is read by its shape, not leaf by leaf)
        fig, ax = plt.subplots(figsize=(min(12.0, max(5.0, 0.18 * dg.n + 3)), 4.5))
        max_circle = max_circle * min(1.0, 60.0 / max(dg.n, 1))
    x, order = _layout(dg)
    h = np.concatenate([dg.leaf_energy, dg.merges[:, 2]]) if dg.n > 1 else dg.leaf_energy
    finite = h[np.isfinite(h)]
    span = finite.max() - finite.min() if finite.size > 1 else 1.0
    top = finite.max() + 0.1 * span
    h = np.where(np.isfinite(h), h, top)
    parent = dg.parent()
    for v in range(2 * dg.n - 1):
        p = parent[v]
        if p >= 0:
            ax.plot([x[v], x[v]], [h[v], h[p]], color="0.2", lw=0.9)
    for k in range(len(dg.merges)):
        a, b = dg.children(dg.n + k)
        c = merge_colors[k] if merge_colors is not None else "0.2"
        lw = 2.0 if merge_colors is not None else 0.9
        ax.plot([x[a], x[b]], [h[dg.n + k]] * 2, color=c, lw=lw)
    if circles:
        counts = np.asarray(dg.counts, dtype=float)
        size = max_circle * counts / counts.max()
        ax.scatter(x[:dg.n], h[:dg.n], s=size, facecolors="none", edgecolors="tab:blue",
                   lw=1.0, zorder=3)
    if leaf_colors is not None:
        for i, c in enumerate(leaf_colors):
            if c is not None:
                ax.scatter([x[i]], [h[i]], s=18, color=c, zorder=4)
    if leaf_labels is not None:
        ax.set_xticks(x[:dg.n])
        ax.set_xticklabels(leaf_labels, fontsize=7, rotation=90)
    else:
        ax.set_xticks([])
    lo = finite.min() - 0.08 * span
    if images is not None:
        # each leaf's image hangs below the axes (its top on the x axis, sized in points, so
        # that it never reaches into the graph), and the leaf labels move below the images
        zoom = image_zoom or max(0.4, 6.0 / max(dg.n, 1))
        for i, im in enumerate(images):
            ab = AnnotationBbox(OffsetImage(im, zoom=zoom, cmap="gray"),
                                (x[i], 0.0), xycoords=("data", "axes fraction"),
                                frameon=False, box_alignment=(0.5, 1.0),
                                annotation_clip=False)
            ax.add_artist(ab)
        tallest = max(np.shape(im)[0] for im in images) if len(images) else 0
        ax.tick_params(axis="x", pad=zoom * tallest + 3, length=0)
    if members is not None:
        for i, ims in enumerate(members):
            for r, im in enumerate(ims):
                zoom = image_zoom or max(0.3, 4.0 / max(dg.n, 1))
                ab = AnnotationBbox(OffsetImage(im, zoom=zoom, cmap="gray"),
                                    (x[i], top + (0.12 + 0.12 * r) * span), frameon=False,
                                    box_alignment=(0.5, 0.0))   # grows upward from its anchor
                ax.add_artist(ab)
        top += (0.15 + 0.12 * max((len(m) for m in members), default=0)) * span
    ax.set_ylim(lo, top + 0.05 * span)
    ax.set_xlim(-1, dg.n)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return fig if fig is not None else ax.figure


def dg_steps_figure(dg, leaf_x=None, n_panels: int = 4):
    """Iterative construction of a DG (Fig 4.4): the graph after the first k merges."""
    ks = np.unique(np.linspace(0, len(dg.merges), n_panels).round().astype(int))
    fig, axes = plt.subplots(1, len(ks), figsize=(3.2 * len(ks), 3.2), sharey=True)
    x, _ = _layout(dg)
    hgt = np.concatenate([dg.leaf_energy, dg.merges[:, 2]])
    for ax, k in zip(np.atleast_1d(axes), ks):
        ax.scatter(x[:dg.n], dg.leaf_energy, color="k", s=12, zorder=3)
        for j in range(k):
            node = dg.n + j
            a, b = dg.children(node)
            for c in (a, b):
                ax.plot([x[c], x[c]], [hgt[c], hgt[node]], color="0.2", lw=1)
            ax.plot([x[a], x[b]], [hgt[node]] * 2, color="tab:red" if j == k - 1 else "0.2",
                    lw=1.5 if j == k - 1 else 1)
        ax.set_title(f"after {k} merge{'s' if k != 1 else ''}")
        ax.set_xticks([])
    np.atleast_1d(axes)[0].set_ylabel("energy")
    fig.tight_layout()
    return fig


def landscape_1d_dg_figure(x, u, exact, dg):
    """A 1D landscape with its minima, next to its DG (Fig 4.1)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.plot(x, u, color="k", lw=1)
    a1.scatter(x[exact.minima], exact.energies, color="tab:red", zorder=3, label="minima")
    for k, m in enumerate(exact.minima):
        a1.annotate(str(k), (x[m], exact.energies[k]), textcoords="offset points", xytext=(0, -12),
                    ha="center", fontsize=8)
    a1.set_xlabel("x")
    a1.set_ylabel("U(x)")
    a1.legend()
    dg_figure(dg, a2, circles=False, leaf_labels=[str(i) for i in range(dg.n)],
            title="disconnectivity graph")
    fig.tight_layout()
    return fig


def gmm_landscape_figure(axis, u, exact, dg):
    """GMM loss over two means with its minima, and the DG of its exact barriers (Fig 4.5)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    cs = a1.contourf(axis, axis, np.minimum(u, np.quantile(u, 0.6)).T, levels=30, cmap="viridis")
    fig.colorbar(cs, ax=a1, label="loss")
    r, c = np.unravel_index(exact.minima, u.shape)
    a1.scatter(axis[r], axis[c], color="w", edgecolors="k", zorder=3)
    a1.set_xlabel(r"$\mu_1$")
    a1.set_ylabel(r"$\mu_2$")
    dg_figure(dg, a2, title="DG (basins shallower than 0.01 removed)", ylabel="loss")
    fig.tight_layout()
    return fig


def magnetised_toy_figure(x, u, targets=(5.1, 10.0), alphas=(0.015, 0.03, 0.05, 0.08)):
    """The 1D toy landscape magnetised toward each target, ``U + a |x - X*|`` (Fig 4.8)."""
    fig, axes = plt.subplots(1, len(targets), figsize=(5.5 * len(targets), 3.8), sharey=True)
    for ax, xs in zip(np.atleast_1d(axes), targets):
        ax.plot(x, u, color="k", lw=1.2, label="U")
        for a in alphas:
            ax.plot(x, u + a * np.abs(x - xs), lw=1, label=f"a = {a}")
        ax.axvline(xs, color="0.5", ls=":")
        ax.set_title(f"magnetised toward X* = {xs}")
        ax.set_xlabel("x")
        ax.set_ylim(-0.05, 0.6)
    np.atleast_1d(axes)[0].set_ylabel("energy")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def ad_paths_figure(paths: dict):
    """Distance to target along one AD trial per (start, target) pair."""
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for (a, b), (_, d) in paths.items():
        ax.plot(d, lw=1, label=f"{a} -> {b}")
    ax.set_xlabel("Langevin step")
    ax.set_ylabel("|X - X*|")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ising_figure(result):
    """Fig 4.9: the (T, H) magnetisation map, M(H) loops from sigma-, and the H = 0 remanence
    against Onsager's spontaneous magnetisation."""
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(15, 4))
    im = a1.pcolormesh(result.phase_H, result.phase_T, result.phase_M, cmap="coolwarm",
                       vmin=-1, vmax=1, shading="nearest")
    fig.colorbar(im, ax=a1, label="M per site")
    a1.plot([0, 0], [result.phase_T.min(), ONSAGER_TC], color="k", lw=2)
    a1.scatter([0], [ONSAGER_TC], color="k", zorder=3)
    a1.set_xlabel("H")
    a1.set_ylabel("T")
    a1.set_title("phase map (random starts)")
    for T, M in zip(result.loop_T, result.loop_M):
        a2.plot(result.loop_H, M, lw=1.2, label=f"T = {T}")
    a2.set_xlabel("H")
    a2.set_ylabel("M per site")
    a2.set_title(r"hysteresis from $\sigma^-$")
    a2.legend(fontsize=8)
    Tf = np.linspace(result.rem_T.min(), result.rem_T.max(), 200)
    a3.plot(Tf, onsager_magnetisation(Tf), color="k", lw=1, label="Onsager $m_0(T)$")
    a3.plot(result.rem_T, result.remanence, "o-", label="loop half-gap at H = 0")
    a3.axvline(ONSAGER_TC, color="k", ls=":", label=r"$T_c$")
    a3.axvline(result.close_T, color="tab:red", ls="--", label="loop closes")
    a3.set_xlabel("T")
    a3.set_ylabel("M per site at H = 0")
    a3.set_title("remanence against Onsager")
    a3.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sk_tuning_figure(result):
    """Fig 5.2: energy drift of unmagnetised chains per T, and basins found vs alpha."""
    cfg = result.config
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for T, E in zip(cfg.drift_temperatures, result.drift):
        a1.plot(E.mean(axis=0), label=f"T = {T}")
    a1.set_xlabel("Gibbs sweep")
    a1.set_ylabel("energy per spin")
    a1.set_title("unmagnetised chains from local modes")
    a1.legend(fontsize=8)
    a2.semilogx(cfg.tune_alphas, result.tune_counts, "o-")
    a2.axvline(cfg.alpha, color="k", ls=":", label=f"alpha = {cfg.alpha}")
    # labelled ticks at 1-3-10 steps inside the grid's range (every grid value collides)
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
    lo, hi = min(cfg.tune_alphas), max(cfg.tune_alphas)
    ticks = [m * 10.0 ** e for e in range(-3, 4) for m in (1, 3) if lo <= m * 10.0 ** e <= hi]
    a2.xaxis.set_major_locator(FixedLocator(ticks))
    a2.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    a2.xaxis.set_minor_locator(NullLocator())
    a2.xaxis.set_minor_formatter(NullFormatter())
    a2.set_xlabel("alpha")
    a2.set_ylabel(f"basins in {cfg.tune_iter} iterations")
    a2.legend()
    fig.tight_layout()
    return fig


def sk_gwl_dg_figure(result):
    """Fig 5.1: GWL DG of the lowest modes; dots mark ADELM basins (blue: the mirror of the
    basin's mode was also found during the ADELM run, orange: it was not)."""
    colors = [None] * result.gwl_dg.n
    for k, g in enumerate(result.match):
        if g >= 0:
            mirrored = (result.adelm.modes == -result.adelm.reps[k]).all(axis=1).any()
            colors[g] = "tab:blue" if mirrored else "tab:orange"
    return dg_figure(result.gwl_dg, circles=False, leaf_colors=colors,
                   title=f"GWL DG of the {result.gwl_dg.n} lowest modes",
                   ylabel="energy per spin")


def sk_adelm_dg_figure(result):
    """Fig 5.3: ADELM DG; circle size ~ number of modes sorted into each basin."""
    return dg_figure(result.adelm_dg, title=f"ADELM DG ({result.adelm_dg.n} basins)",
                   ylabel="energy per spin")


def sk_overlay_figure(result):
    """Fig 5.4: ADELM DG with each comparable merge coloured blue (same order as GWL) or red."""
    flags = result.merge_flags
    colors = ["tab:blue" if f == 1 else "tab:red" if f == 0 else "0.75" for f in flags]
    return dg_figure(result.adelm_dg, merge_colors=colors, circles=False,
                   title="ADELM merges: blue consistent with GWL, red not, grey not comparable",
                   ylabel="energy per spin")


def sk_mirror_path_figure(result):
    """Fig 5.5: energy along an AD path and the greedy path between the two mirror global
    modes, against the barrier in the two DGs."""
    p = result.mirror_path
    fig, ax = plt.subplots(figsize=(7, 3.8))
    if "energy" in p:
        t = np.linspace(0, 1, len(p["energy"]))
        ax.plot(t, p["energy"], label=f"AD path (alpha = {p['alpha']:.2f}), max per sweep")
    if "greedy_path" in p:
        gp = p["greedy_path"]
        ax.plot(np.linspace(0, 1, len(gp)), gp, label="greedy interpolation")
    if "adelm_dg_barrier" in p:
        ax.axhline(p["adelm_dg_barrier"], color="tab:green", ls="--", label="ADELM DG barrier")
    if "gwl_dg_barrier" in p:
        ax.axhline(p["gwl_dg_barrier"], color="tab:red", ls=":", label="GWL DG barrier")
    ax.set_xlabel("fraction of path")
    ax.set_ylabel("energy per spin")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sk_sensitivity_figure(sens, thesis_share: float = 44 / 58):
    """ADELM basins and their share among GWL's lowest modes for each setting of the grid of
    :mod:`ebmbook.experiments.sk_sensitivity`: all basins, those whose representative is low
    enough to be in GWL's list (at or below its highest listed energy), and those it holds."""
    rows = sens.rows
    labels = [f"alpha {r.alpha:g}, M {r.improvement_limit}"
              + (f", cons. {r.consolidate_every}" if r.consolidate_every else "") for r in rows]
    y = np.arange(len(rows))
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(7.5, 0.5 * len(rows) + 1.6), sharey=True)
    a0.barh(y, [r.basins for r in rows], color="C0", label="basins")
    a0.barh(y, [r.below_gwl_cut for r in rows], color="C9", height=0.62,
            label="low enough for the list")
    a0.barh(y, [r.in_gwl_lowest for r in rows], color="C1", height=0.34,
            label="among GWL's lowest")
    a0.set_yticks(y)
    a0.set_yticklabels(labels, fontsize=9)
    a0.invert_yaxis()
    a0.set_xlabel("basins")
    a1.barh(y - 0.17, [r.share for r in rows], height=0.34, color="C2", label="of all basins")
    a1.barh(y + 0.17, [r.in_gwl_lowest / max(r.below_gwl_cut, 1) for r in rows],
            height=0.34, color="C8", label="of the low-enough ones")
    a1.axvline(thesis_share, color="k", ls="--", lw=1, label=f"thesis ({thesis_share:.2f})")
    a1.axvline(0.5, color="0.6", ls=":", lw=1)
    a1.set_xlim(0, 1)
    a1.set_xlabel("share among GWL's lowest")
    # one legend over both panels (two would collide above the gap between them)
    handles = a0.get_legend_handles_labels()[0] + a1.get_legend_handles_labels()[0]
    fig.legend(handles, [h.get_label() for h in handles], loc="upper center", ncol=3,
               frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / fig.get_figheight()))
    return fig
