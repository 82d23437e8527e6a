"""Figures of the learned-energy maps (Sec 5.2.2): the DG of a latent map with images of its
basins (Figs 5.6, 5.7), the latent plane coloured by basin, t-SNE of the modes, the tuning of T
and alpha, and the cluster scores of basins against baselines. Every function returns a Figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..landscape.tuning import drift_above
from .landscape import dg_figure


def _img(x: torch.Tensor) -> np.ndarray:
    return ((x.detach().float().cpu()[0].clamp(-1, 1) + 1) / 2).numpy()


def latent_dg_figure(m, members_shown: int = 3, seed: int = 0, title: str | None = None,
                     label_prefix: str = "", leaf_colors=None, readings: bool = True,
                     ylabel: str = "latent energy (data-energy sds)", class_names=None):
    """The DG of a latent map: each basin's representative g(Z_j) under its leaf and up to
    ``members_shown`` random members g(mode) above it; leaf labels give the judge's majority
    reading (``label_prefix`` + digit, scale...) and its share. ``leaf_colors`` (one colour or
    None per basin) marks leaves with a dot and colours their labels (Fig 5.10). With
    ``readings=False`` (a map with no judge) the leaf labels give the number of modes instead.
    ``class_names`` (one per label) names the readings; ``ylabel`` labels the energy axis.
    ``m`` is an :class:`ebmbook.landscape.mapping.EnergyMap` (a latent map's ``images`` is its
    generator, an image-space map's the identity) whose modes have been read
    (``basin_label``, ``basin_share``)."""
    res = m.adelm
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        rep_imgs = m.images(res.reps)
        members = []
        for j in range(res.n_basins):
            idx = np.flatnonzero(res.labels == j)
            pick = rng.choice(idx, size=min(members_shown, idx.size), replace=False)
            ims = [_img(x) for x in m.images(res.modes[torch.as_tensor(pick)])]
            # one vertical strip per leaf (white 1-px gaps), so members never overlap
            gap = np.ones((1,) + ims[0].shape[1:]) if ims else None
            members.append([np.concatenate(sum(([im, gap] for im in ims), [])[:-1])]
                           if ims else [])
    def name(d):
        return class_names[d] if class_names is not None else d
    labels = ([f"{label_prefix}{name(d)} ({s:.0%})" if d >= 0 else "-"
               for d, s in zip(m.basin_label, m.basin_share)] if readings
              else [f"{c} modes" for c in res.counts])
    n = res.n_basins
    width = min(12, max(6, 0.9 * n + 2))
    # images about 0.7 of a leaf's width: an OffsetImage's zoom sizes a pixel as one point
    # (1/72 inch), and the axes are about (width - 1.5) inches wide; at most 2.5x, so that a
    # few-basin map's member strips stay inside the figure (at 100 px per inch, the earlier
    # formula made 24 px faces 40 % wider than meant, overlapping each other and the title)
    zoom = float(np.clip(0.7 * (width - 1.5) * 72 / max(n, 1) / rep_imgs.shape[-1], 0.8, 2.5))
    fig, ax = plt.subplots(figsize=(width, 6.5 + 0.8 * members_shown))
    dg_figure(m.dg, ax=ax, images=[_img(x) for x in rep_imgs], members=members,
              leaf_labels=labels, ylabel=ylabel, image_zoom=zoom,
              leaf_colors=leaf_colors,
              title=title or f"{m.name}: ADELM DG, {n} basins (T = {m.temperature:.3g}, "
                             f"alpha = {m.alpha:.3g})")
    if leaf_colors is not None:
        for tick, c in zip(ax.get_xticklabels(), leaf_colors):
            if c is not None:
                tick.set_color(c)
                tick.set_fontweight("bold")
    lo, hi = ax.get_ylim()   # room above the graph for the members' strips
    ax.set_ylim(lo, hi + 0.2 * (hi - lo) * members_shown)
    fig.tight_layout()
    return fig


def unavailable_figure(message: str):
    """A small figure that only says why a figure is not drawn (e.g. a committed map shown at
    another size, or one still running): a figure cell that declares a caption and label must
    draw something, or the book's figure lists point at nothing."""
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=9)
    ax.set_axis_off()
    return fig


def latent_plane_figure(m, grid, basin):
    """The latent plane N(0, I_2) coloured by the basin each point descends into (Fig 5.6
    top right): ``grid`` (n, 2) points and ``basin`` (n,) labels."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    g = np.asarray(grid)
    sc = ax.scatter(g[:, 0], g[:, 1], c=basin, cmap="tab20", s=14, vmin=0, vmax=19)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal")
    ax.set_title(f"{m.name}: latent plane coloured by basin")
    handles, _ = sc.legend_elements(num=None)
    present = np.unique(basin)
    ax.legend(handles[:len(present)], [f"basin {b}" for b in present], fontsize=8,
              loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def tsne_figure(m):
    """t-SNE of the ADELM modes coloured by basin, one panel per seed (Fig 5.6 bottom)."""
    k = len(m.tsne)
    fig, axes = plt.subplots(1, k, figsize=(4.2 * k, 3.8), squeeze=False)
    for i, (ax, emb) in enumerate(zip(axes[0], m.tsne)):
        ax.scatter(emb[:, 0], emb[:, 1], c=m.adelm.labels, cmap="tab20", s=16, vmin=0, vmax=19)
        ax.set_title(f"t-SNE of the modes, seed {i}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def latent_tuning_figure(m):
    """Fig 5.2 for a latent map: energy of unmagnetised chains above their lowest point (of the
    run, or so far: the settings' ``drift_reference``), per T
    (the rule's threshold dashed), and basins found and leakage vs alpha (the chosen alpha
    dotted), for an :class:`~ebmbook.landscape.mapping.EnergyMap` of
    :func:`~ebmbook.landscape.mapping.tune_and_map` (its ``settings``, ``drift``,
    ``barrier_scale``, ``tune_counts`` and ``tune_leakage``)."""
    s = m.settings
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7.5, 6.4))
    reference = s.drift_reference
    for T, E in zip(s.drift_temperatures, drift_above(m.drift, reference)):
        a1.plot(E.mean(axis=0), label=f"T = {T:g}")
    a1.axhline(s.drift_fraction * m.barrier_scale, color="k", ls="--", lw=1,
               label=f"rule: {s.drift_fraction:g} x typical barrier")
    a1.set_xlabel("Langevin step")
    a1.set_ylabel("energy above the chain's lowest" + (" so far" if reference == "running"
                                                        else ""))
    a1.set_title(f"T = {m.temperature:g} chosen")
    a1.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    a2.semilogx(s.tune_alphas, m.tune_counts, "o-", label="basins")
    a2.semilogx(s.tune_alphas, m.tune_leakage, "s--", label="representatives reached per mode")
    a2.axhline(s.leakage_limit, color="0.5", lw=1)
    a2.axvline(m.alpha, color="k", ls=":", label=f"chosen alpha = {m.alpha:.3g}")
    a2.set_xlabel("alpha")
    a2.set_ylabel(f"count ({s.tune_iter} iterations)")
    a2.set_title("basins and leakage vs alpha")
    a2.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def cluster_scores_figure(scores: dict):
    """NMI, ARI and purity of the basin partition beside the matched baselines."""
    methods = list(scores)
    keys = ("nmi", "ari", "purity")
    fig, ax = plt.subplots(figsize=(8, 3.4))
    w = 0.8 / len(methods)
    for i, meth in enumerate(methods):
        ax.bar(np.arange(3) + i * w, [scores[meth][k] for k in keys], w,
               label=meth.replace("_", " "))
    ax.set_xticks(np.arange(3) + 0.4 - w / 2)
    ax.set_xticklabels(["NMI", "ARI", "purity"])
    ax.set_ylim(0, 1)
    ax.set_title(f"partitions of MNIST images at K = {scores[methods[0]]['k']}")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def proposals_and_modes_figure(maps: dict, classes):
    """For each map (name -> a latent map with ``generator_shares`` and a judge's ``reads``):
    the share of its pair's samples g(z) read as each class (hollow bars) beside the share of
    its local modes read as that class (filled bars). A class proposed but never a mode has
    no minimum of its own in the latent energy, so no basin."""
    classes = list(classes)
    fig, axes = plt.subplots(1, len(maps), figsize=(3.4 * len(maps), 3.0), squeeze=False,
                             sharey=True)
    x = np.arange(len(classes))
    for ax, (name, m) in zip(axes[0], maps.items()):
        ax.bar(x - 0.2, m.generator_shares, 0.4, facecolor="none", edgecolor="C0",
               label="samples g(z)")
        ax.bar(x + 0.2, m.mode_shares(classes), 0.4, color="C1", label="local modes")
        ax.set_xticks(x)
        ax.set_xticklabels([str(c) for c in classes])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("judge's reading")
    axes[0, 0].set_ylabel("share")
    axes[0, -1].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def barrier_comparison_figure(m, bc, pair: int = 0, n_strip: int = 8, units=None,
                              ylabel: str = "latent energy"):
    """Fig 5.8: barriers of each pair by AD and DNEB against the 1D linear barrier (left); for
    one pair, U along the line, the DNEB band and one AD path, with the map's AD barrier
    (right); image strips g(z) along the line, the band and the AD path (bottom).

    ``units`` maps energies U to the units of ``bc`` (e.g. ``spread.z`` when ``bc`` is in
    data-energy sds); the profiles computed here pass through it. None: ``bc`` is in U."""
    to = units or (lambda u: u)
    from ..landscape.neb import path_energy_profile
    fig = plt.figure(figsize=(10, 7.4))
    gs = fig.add_gridspec(4, 2, height_ratios=[3, 1, 1, 1])
    a1, a2 = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    fa = bc.dneb_from_ad[np.isfinite(bc.dneb_from_ad)] if len(bc.dneb_from_ad) else []
    every = np.concatenate([bc.linear, bc.dneb, bc.ad[np.isfinite(bc.ad)], fa])
    lo, hi = np.nanmin(every), np.nanmax(every)
    a1.plot([lo, hi], [lo, hi], color="0.6", lw=1, label="equal to 1D")
    a1.scatter(bc.linear, bc.dneb, marker="s", label="DNEB from the line")
    ok = np.isfinite(bc.ad)
    a1.scatter(bc.linear[ok], bc.ad[ok], marker="o", label="AD")
    if len(bc.dneb_from_ad):
        ok = np.isfinite(bc.dneb_from_ad)
        a1.scatter(bc.linear[ok], bc.dneb_from_ad[ok], marker="^",
                   label="DNEB from AD (filled: verified saddle)",
                   facecolors=["C2" if v else "none" for v in bc.dneb_from_ad_verified[ok]],
                   edgecolors="C2")
    a1.set_xlabel("1D linear barrier")
    a1.set_ylabel("barrier by the method")
    a1.set_title(f"{len(bc.pairs)} pairs of representatives")
    a1.legend(fontsize=8)
    rows = []
    if len(bc.pairs):
        a, b = bc.pairs[pair]
        t = np.linspace(0, 1, bc.linear_profiles.shape[1])
        a2.plot(t, bc.linear_profiles[pair], label="1D line")
        s, u = path_energy_profile(m.energy, bc.dneb_results[pair].path)
        a2.plot(s, to(u), label="DNEB band from the line")
        if len(bc.dneb_from_ad_results) and bc.dneb_from_ad_results[pair] is not None:
            s, u = path_energy_profile(m.energy, bc.dneb_from_ad_results[pair].band.path)
            a2.plot(s, to(u), color="C2", label="DNEB band from AD")
        if np.isfinite(bc.ad[pair]):
            a2.axhline(bc.ad[pair], color="k", ls=":", label="AD barrier (map)")
        if pair == 0 and bc.ad_path is not None:
            with torch.no_grad():
                u_ad = m.energy(bc.ad_path).numpy()
            a2.plot(np.linspace(0, 1, len(u_ad)), to(u_ad), lw=0.8, alpha=0.8,
                    label="an AD path (by step)")
        a2.set_xlabel("position along the path (arc length)")
        a2.set_ylabel(ylabel)
        a2.set_title(f"representatives {a} and {b}")
        a2.legend(fontsize=8)
        reps = m.adelm.reps.detach()
        tt = torch.linspace(0, 1, n_strip).reshape((-1,) + (1,) * reps[a].dim())
        line = (1 - tt) * reps[a] + tt * reps[b]
        band = bc.dneb_results[pair].path
        idx = torch.linspace(0, len(band) - 1, n_strip).round().long()
        rows = [("1D line", line), ("DNEB", band[idx].to(line.dtype))]
        if pair == 0 and bc.ad_path is not None:
            k = torch.linspace(0, len(bc.ad_path) - 1, n_strip).round().long()
            rows.append(("AD", bc.ad_path[k].to(line.dtype)))
    for r, (name, z) in enumerate(rows):
        ax = fig.add_subplot(gs[1 + r, :])
        with torch.no_grad():
            ims = m.images(z)
        strip = np.concatenate([_img(x) for x in ims], axis=1)
        ax.imshow(strip, cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9, loc="left")
        ax.axis("off")
    fig.tight_layout()
    return fig


def cluster_curve_figure(curve: dict):
    """NMI against the digits over the number of clusters K: the DG cut into K groups (its
    lowest merges applied first) beside KMeans and SpectralClustering with K clusters on pixels
    and on latent codes."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(curve["k"], curve["adelm"], "o-", label="ADELM: DG cut into K groups")
    ax.plot(curve["k"], curve["kmeans_pixels"], "s--", label="KMeans, pixels")
    ax.plot(curve["k"], curve["kmeans_codes"], "^--", label="KMeans, latent codes")
    for feat, mk in (("pixels", "v:"), ("codes", "d:")):
        if f"spectral_{feat}" in curve:
            name = "latent codes" if feat == "codes" else feat
            ax.plot(curve["k"], curve[f"spectral_{feat}"], mk, label=f"spectral, {name}")
    ax.set_xlabel("number of clusters K")
    ax.set_ylabel("NMI with the digit labels")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


# -- image-space AD (Sec 4.3.3, Figs 4.11-4.13) -------------------------------------------------

def _strip(images, n: int | None = None) -> np.ndarray:
    """One row of images (white 1-px gaps), ``n`` of them evenly chosen if given."""
    ims = list(images)
    if n is not None and len(ims) > n:
        ims = [ims[int(k)] for k in np.linspace(0, len(ims) - 1, n).round()]
    tiles = [_img(x) for x in ims]
    gap = np.ones((tiles[0].shape[0], 1))
    return np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], axis=1)


def image_minima_figure(r):
    """The minima A-D of the image-space experiment: g(z*) of latent modes, the same after the
    short settling descent (the minima used) and after the long descent; each titled with the
    judge's reading and its energy."""
    mi = r.minima
    rows = [("g(z*)", mi.raw, mi.raw_reads, mi.raw_energies),
            (f"settled ({r.config.settle_steps} steps): the minima", mi.images, mi.reads,
             mi.energies),
            (f"long descent ({r.config.full_descent_steps} steps)", mi.long_descent,
             mi.long_reads, mi.long_energies)]
    fig, axes = plt.subplots(len(rows), len(mi.names), figsize=(1.6 * len(mi.names) + 1, 5.6))
    for i, (label, X, reads, e) in enumerate(rows):
        for j, name in enumerate(mi.names):
            ax = axes[i, j]
            ax.imshow(_img(X[j]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}: reads {reads[j]}, U = {e[j]:.2f}", fontsize=9)
            if j == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.tight_layout()
    return fig


def metastable_boundary_figure(r):
    """Fig 4.12 (middle): the metastable boundary alpha*(T) of each pair of minima, both roles,
    with the metastable region (AD fails) shaded below each curve; the dashed line is
    alpha = d / delta, where thermal spread alone keeps a chain about delta from its target."""
    T = r.temperatures
    a = r.alpha_star()
    n = r.minima.names
    d = int(np.prod(r.minima.images.shape[1:]))
    pairs = [(i, j) for i, j in r.boundaries if i < j]
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.4 * len(pairs), 3.6), sharey=True)
    for ax, (i, j) in zip(np.atleast_1d(axes), pairs):
        for (s, t), mk in (((i, j), "o-"), ((j, i), "s--")):
            ax.plot(T, a[(s, t)], mk, label=f"{n[s]} to {n[t]}")
        low = np.fmin(a[(i, j)], a[(j, i)])
        ax.fill_between(T, np.full_like(T, np.nanmin(low) / 3), low, color="0.85",
                        label="both fail (metastable)")
        ax.axhline(d / r.config.delta, color="0.4", ls=":", lw=1, label="d / delta")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("temperature T")
        ax.set_title(f"{n[i]} and {n[j]}")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("alpha* (weakest pull that succeeds)")
    fig.tight_layout()
    return fig


def boundary_summary_figure(r):
    """Fig 4.12 (bottom): alpha* T for the six ordered pairs (the pull in energy per unit of
    distance), and the lowest barrier met on each walk against T, with each pair's 1D barrier
    (dotted, the same colour)."""
    T = r.temperatures
    n = r.minima.names
    pull, bar = r.pull_star(), r.ad_barrier()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, (i, j) in enumerate(r.boundaries):
        c = f"C{k}"
        a1.plot(T, pull[(i, j)], "o-", color=c, label=f"{n[i]} to {n[j]}")
        a2.plot(T, bar[(i, j)], "o-", color=c, label=f"{n[i]} to {n[j]}")
        if i < j:
            a2.axhline(r.linear[(i, j)], color=c, ls=":", lw=1)
    a1.set_xscale("log")
    a1.set_xlabel("temperature T")
    a1.set_ylabel("alpha* x T (energy per unit distance)")
    a1.set_title("metastable boundaries")
    a2.set_xscale("log")
    a2.set_xlabel("temperature T")
    a2.set_ylabel("lowest AD barrier (data-energy sds)")
    a2.set_title("barriers (dotted: 1D line of the pair)")
    a2.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def image_ad_path_figure(r, n_strip: int = 9):
    """Fig 4.13: for each recorded path, the energy along the 1D line and along the AD path
    (each against its fraction of the way), the AD chain's distance to its target against its
    step, and image strips of both paths."""
    paths = [p for p in r.paths]
    fig = plt.figure(figsize=(10, 6.0 * len(paths)))
    gs = fig.add_gridspec(4 * len(paths), 2, height_ratios=[3, 1.25, 1.25, 0.2] * len(paths))
    for q, p in enumerate(paths):
        a1, a2 = fig.add_subplot(gs[4 * q, 0]), fig.add_subplot(gs[4 * q, 1])
        t = np.linspace(0, 1, len(p.linear_energy))
        a1.plot(t, p.linear_energy, color="C3", label=f"1D line (max {p.linear_barrier:.2f})")
        if p.trial >= 0:
            k, L = p.trial, int(p.ad.steps[p.trial]) + 1
            e = p.ad.path_energy[k, :L]
            a1.plot(np.linspace(0, 1, L), e, color="C0", lw=0.8,
                    label=f"AD path (barrier {p.ad_barrier:.2f})")
            a2.plot(np.arange(L), p.ad.path_distance[k, :L], color="C0")
            a2.axhline(r.config.delta, color="0.5", ls=":", lw=1, label="delta")
            a2.legend(fontsize=8)
        a1.set_xlabel("fraction of the way (line: distance; AD: steps)")
        a1.set_ylabel("U (data-energy sds)")
        a1.set_title(f"{p.start} to {p.target}, T = {p.temperature:.3g}, alpha = {p.alpha:.3g}",
                     fontsize=10)
        a1.legend(fontsize=8)
        a2.set_xlabel("AD step")
        a2.set_ylabel("distance to the target")
        a2.set_title("the AD chain closing in")
        rows = [("1D line", p.linear_images)]
        if p.states is not None:
            rows.append(("AD path", p.states))
        for s, (name, X) in enumerate(rows):
            ax = fig.add_subplot(gs[4 * q + 1 + s, :])
            ax.imshow(_strip(X, n_strip), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{p.start} to {p.target}: {name}", fontsize=9, loc="left")
            ax.axis("off")
    fig.tight_layout()
    return fig


# -- texture and face maps (Sec 5.2.2.3-5, Figs 5.9-5.12, Tables 5.1-5.3) -----------------------

def patch_scales_figure(photo: np.ndarray, sides, patches, labels, n_show: int = 8, seed: int = 0):
    """Fig 5.9: the photo with one square of each scale's patch size drawn on it, and a row of
    ``n_show`` random patches of each scale (as the nets see them, resized to one size)."""
    from matplotlib.patches import Rectangle
    k = len(sides)
    fig = plt.figure(figsize=(10, 5.2))
    gs = fig.add_gridspec(k, 2, width_ratios=[1.0, 1.25], wspace=0.08)
    ax = fig.add_subplot(gs[:, 0])
    ax.imshow(photo, cmap="gray", vmin=0, vmax=1)
    colors = plt.get_cmap("tab10").colors
    x0 = 0.06 * photo.shape[1]
    for j, side in enumerate(sides):
        ax.add_patch(Rectangle((x0, 0.06 * photo.shape[0]), side, side, fill=False, lw=2,
                               edgecolor=colors[j]))
        x0 += side + 0.03 * photo.shape[1]
    ax.set_title("the photo and the four patch sizes")
    ax.axis("off")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    for j in range(k):
        a = fig.add_subplot(gs[j, 1])
        idx = rng.choice(np.flatnonzero(labels == j + 1), size=n_show, replace=False)
        tiles = [np.asarray(patches[i]) for i in idx]
        gap = np.ones((tiles[0].shape[0], 1))
        a.imshow(np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], axis=1), cmap="gray",
                 vmin=0, vmax=1)
        a.set_xticks([])
        a.set_yticks([])
        for sp in a.spines.values():
            sp.set_edgecolor(colors[j])
            sp.set_linewidth(2)
        a.set_ylabel(f"scale {j + 1}\n{sides[j]} px", rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.02, right=0.98, top=0.93, bottom=0.03)
    return fig


def distinctness_figure(d):
    """How distinctly each texture's patches group, by scale (silhouette of KMeans)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, t in enumerate(d.textures):
        ax.plot(d.scales, d.silhouette[i], marker="o", label=str(t))
    ax.set_xticks(d.scales)
    ax.set_xlabel("patch scale")
    ax.set_ylabel("silhouette of KMeans")
    ax.set_title("distinct groups among the patches")
    ax.legend(frameon=False, loc="upper right")
    fig.tight_layout()
    return fig


def basin_table_figure(m, n_members: int = 6, seed: int = 0, max_basins: int = 12,
                       label_prefix: str = "", title: str | None = None):
    """Tables 5.1-5.3: one row per basin (the largest ``max_basins``), its representative
    g(Z_j) on the left and ``n_members`` random members g(mode) on the right."""
    res = m.adelm
    order = np.argsort(-np.asarray(res.counts))[:max_basins]
    rng = np.random.default_rng(seed)
    rows = len(order)
    fig, axes = plt.subplots(rows, 2, figsize=(1.2 + 0.75 * (n_members + 1), 0.8 * rows + 0.6),
                             gridspec_kw={"width_ratios": [1, n_members]}, squeeze=False)
    with torch.no_grad():
        for r, j in enumerate(order):
            idx = np.flatnonzero(res.labels == j)
            pick = rng.choice(idx, size=min(n_members, idx.size), replace=False)
            a0, a1 = axes[r]
            a0.imshow(_img(m.images(res.reps[int(j)][None])[0]), cmap="gray", vmin=0, vmax=1)
            a1.imshow(_strip(m.images(res.modes[torch.as_tensor(pick)])), cmap="gray", vmin=0,
                      vmax=1)
            lab = m.basin_label[j]
            name = f"basin {j}" + (f": {label_prefix}{lab}" if lab >= 0 and label_prefix else "")
            a0.set_ylabel(f"{name}\n{res.counts[j]} modes", rotation=0, ha="right",
                          va="center", fontsize=9)
            for a in (a0, a1):
                a.set_xticks([])
                a.set_yticks([])
    axes[0, 0].set_title("representative", fontsize=9)
    axes[0, 1].set_title("random members", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def alpha_tuning_figure(alphas, counts, leakage, alpha, limit: float = 1.0, n_iter=None):
    """Basins found and leakage (representatives AD reaches from a new mode) against alpha, the
    chosen alpha dotted: the alpha rule of a map without a T search (Fig 5.2 bottom)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.semilogx(alphas, counts, "o-", label="basins")
    ax.semilogx(alphas, leakage, "s--", label="representatives reached per mode")
    ax.axhline(limit, color="0.5", lw=1)
    ax.axvline(alpha, color="k", ls=":", label=f"chosen alpha = {alpha:.3g}")
    ax.set_xlabel("alpha")
    ax.set_ylabel("count" + (f" ({n_iter} iterations)" if n_iter else ""))
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def energy_spread_figure(data_z, marks: dict):
    """The data's energy spread (histogram of held-out images' energies, in data sds) with the
    energies of other states marked below it, one row of ticks per entry of ``marks``
    (name -> energies in the same units)."""
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(7.0, 3.6), sharex=True,
                                 gridspec_kw={"height_ratios": [3, 1.3]})
    a0.hist(np.asarray(data_z), bins=40, color="0.75", density=True)
    lo, hi = np.quantile(data_z, [0.025, 0.975])
    for a in (a0, a1):
        a.axvspan(lo, hi, color="tab:green", alpha=0.08, lw=0)
    a0.set_ylabel("density")
    a0.set_title("held-out images' energy (shaded: central 95 %)", fontsize=10)
    for k, (name, z) in enumerate(marks.items()):
        z = np.asarray(z)
        a1.plot(z, np.full(z.shape, -k), "|", ms=12, mew=1.5, color=f"C{k}")
    a1.set_yticks(-np.arange(len(marks)))
    a1.set_yticklabels(list(marks))
    a1.set_ylim(-len(marks) + 0.5, 0.5)
    a1.set_xlabel("energy U (data-energy sds above the data mean)")
    fig.tight_layout()
    return fig
