"""Figures for the image chapters: sample grids (Fig 3.2, 3.7, 3.9-3.11), energy spectra,
sampling paths with image strips (Fig 3.5/3.6), the Lyapunov curve (Fig 3.8), hybrid-optimiser
checkpoints (Fig 3.9) and r_st / d_st traces (Fig 3.11). Every function returns a Figure."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _grid_array(images, nrow: int | None = None, pad: int = 1,
                cells: int | None = None) -> np.ndarray:
    """``(n, 1, h, w)`` images in [-1, 1] -> one 2D array in [0, 1], tiled row-major; with
    ``cells``, padded with white to that many places (grids of fewer images keep their size)."""
    x = torch.as_tensor(images).detach().float().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    n, _, h, w = x.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(max(n, cells or 0) / nrow))
    out = np.ones((ncol * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    u = ((x[:, 0].clamp(-1, 1) + 1) / 2).numpy()
    for i in range(n):
        r, c = divmod(i, nrow)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = u[i]
    return out


def draw_images(ax, images, title: str = "", nrow: int | None = None) -> None:
    ax.imshow(_grid_array(images, nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def image_panels_figure(panels: Mapping[str, torch.Tensor], ncols: int | None = None,
                 nrow: int | None = None, panel_size: float = 2.6, suptitle: str = ""):
    """One image grid per entry of ``panels`` (title -> images), at most three per row (so that
    the figure fits the book's text column) unless ``ncols`` says otherwise."""
    k = len(panels)
    ncols = ncols or min(k, 3)
    nrows = int(math.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows + 0.3),
                             squeeze=False)
    for ax, (title, imgs) in zip(axes.flat, panels.items()):
        draw_images(ax, imgs, title, nrow)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def energy_spectra_figure(spectra: Mapping[str, np.ndarray], title: str = "", ax=None):
    """Histograms (density-normalised) of energies, e.g. data vs short-run vs long-run."""
    import seaborn as sns
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for label, e in spectra.items():
        e = np.asarray(e, dtype=float).ravel()
        sns.histplot(e, ax=ax, stat="density", bins=30, element="step", fill=True, alpha=0.3,
                     label=f"{label} (n={len(e)})")
    ax.set_xlabel("energy U(x)")
    ax.set_title(title, fontsize=10)
    # beside the axes, not over the histograms
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig if fig is not None else ax.figure


def model_spectra_figure(result):
    """Fig 3.2 numbers as spectra: data / short-run / long-run energies for each model of an
    :mod:`ebmbook.experiments.image_learning` result."""
    n = len(result.models)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 2.9 * n))
    for ax, (name, m) in zip(np.atleast_1d(axes), result.models.items()):
        final = m.longrun_energy[-max(1, m.longrun_energy.shape[0] // 10):].ravel()
        energy_spectra_figure({"data": m.data_energy, "short-run": m.short_energy,
                               f"long-run, last 10%\nof {m.longrun_energy.shape[0] - 1} steps":
                                   final},
                              title=f"{name}: {m.name}" if m.name else name, ax=ax)
    fig.tight_layout()
    return fig


def sampling_path_figure(energy_path: np.ndarray, strip_steps: Sequence[int], strip,
                         data_mean: float | None = None, data_sd: float | None = None,
                         title: str = "", logx: bool = True):
    """Fig 3.5/3.6: energy along long Langevin paths (one line per chain, chain 0 bold) with the
    data's mean +- 2 sd band, and the image strip of chain 0 at ``strip_steps``."""
    e = np.asarray(energy_path)
    steps = np.arange(e.shape[0])
    fig = plt.figure(figsize=(8, 4.4))
    ax = fig.add_axes([0.1, 0.38, 0.85, 0.52])
    x = steps + 1 if logx else steps
    ax.plot(x, e[:, 1:], color="0.75", lw=0.5)
    ax.plot(x, e[:, 0], color="C0", lw=1.2, label="chain 0")
    if data_mean is not None and data_sd is not None:
        ax.axhspan(data_mean - 2 * data_sd, data_mean + 2 * data_sd, color="C2", alpha=0.2,
                   label="data mean ± 2 sd")
        ax.axhline(data_mean, color="C2", lw=1)
    for s in strip_steps:
        ax.axvline((s + 1) if logx else s, color="C3", lw=0.5, ls=":")
    if logx:
        ax.set_xscale("log")
        ax.set_xlabel("Langevin step + 1")
    else:
        ax.set_xlabel("Langevin step")
    ax.set_ylabel("U(x)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    k = len(strip_steps)
    for i, (s, img) in enumerate(zip(strip_steps, torch.as_tensor(strip))):
        a = fig.add_axes([0.1 + 0.85 * i / k, 0.02, 0.85 / k * 0.92, 0.22])
        draw_images(a, img[None], f"step {int(s)}", nrow=1)
    return fig


def lyapunov_figure(res, n_show: int = 4):
    """Fig 3.8: maximal Lyapunov exponent over gamma (top) and long-run samples per gamma."""
    G = len(res.gammas)
    fig = plt.figure(figsize=(max(6.0, 1.2 * G), 5.2))
    ax = fig.add_axes([0.1, 0.5, 0.85, 0.42])
    ch = res.exponent_chains
    ax.plot(res.gammas, ch, "o", color="0.7", ms=3)
    ax.plot(res.gammas, res.exponent, "o-", color="C0", label="mean over chains")
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(1, color="C3", lw=0.8, ls="--", label="training temperature γ = 1")
    g0 = res.zero_crossing()
    if np.isfinite(g0):
        ax.axvline(g0, color="C2", lw=1, label=f"zero crossing γ ≈ {g0:.2f}")
    ax.set_xlabel("noise scale γ")
    ax.set_ylabel("max. Lyapunov exponent\n(per unit time of eq. 3.8)")
    ax.set_yscale("symlog", linthresh=max(1.0, float(np.nanmedian(np.abs(res.exponent))) / 10))
    ax.legend(fontsize=8)
    for i in range(G):
        a = fig.add_axes([0.1 + 0.85 * i / G, 0.03, 0.85 / G * 0.94, 0.33])
        draw_images(a, res.samples[i, :n_show], f"γ={res.gammas[i]:.2g}", nrow=2)
    return fig


def hybrid_checkpoints_figure(steps: Sequence[int], long_run, gaps: Sequence[float],
                              switch_step: int, short_run=None, n_show: int = 4):
    """Fig 3.9: long-run samples at each checkpoint of the hybrid optimiser (and short-run
    samples beside them, if given), four checkpoints per row, with the long-run minus data
    energy gap in data sd below."""
    K = len(steps)
    ncol = min(K, 4)
    nrow = int(math.ceil(K / ncol))
    kinds = [("long-run", long_run)] if short_run is None else [("short-run", short_run),
                                                                 ("long-run", long_run)]
    fig = plt.figure(figsize=(7.5, 1.9 * nrow * len(kinds) + 2.4))
    gs = fig.add_gridspec(nrow * len(kinds) + 1, ncol,
                          height_ratios=[1.0] * (nrow * len(kinds)) + [1.1])
    for i in range(K):
        r, c = divmod(i, ncol)
        phase = "Adam" if steps[i] <= switch_step else "SGD"
        for k, (label, imgs) in enumerate(kinds):
            a = fig.add_subplot(gs[r * len(kinds) + k, c])
            title = f"step {steps[i]}, {phase}" + (f"\n{label}" if len(kinds) > 1 else "")
            draw_images(a, imgs[i][:n_show], title, nrow=2)
    ax = fig.add_subplot(gs[-1, :])
    ax.plot(steps, gaps, "o-")
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(switch_step, color="C3", ls="--", lw=0.8, label="Adam → SGD")
    ax.set_xlabel("training step")
    ax.set_ylabel("long-run − data\nenergy / data sd")
    ax.legend(loc="best")
    fig.suptitle("long-run samples at each checkpoint" if short_run is None else
                 "short-run and long-run samples at each checkpoint", fontsize=10)
    fig.tight_layout()
    return fig


def learning_traces_figure(logs: Mapping[str, object], title: str = "", window: int = 25):
    """Fig 3.11 right: which way each run pushes the energy, and how strong the sampler's
    gradient is. Top: the share of the last ``window`` steps with d_st > 0 (eq. 2.9), which
    sits near 1 or near 0 when a run is pinned to one end of the first axis (the raw d_st of
    such runs spans +-1e5 and was unreadable on a symlog axis). Bottom: r_st."""
    fig, axes = plt.subplots(2, 1, figsize=(7.0, 5.6), sharex=True)
    for label, log in logs.items():
        d = np.asarray(log.d_st, dtype=float)
        pos = (d > 0).astype(float)
        w = max(1, min(window, len(d)))
        share = np.convolve(pos, np.ones(w) / w, mode="valid")
        axes[0].plot(np.arange(w - 1, len(d)), share, label=label, lw=1.2)
        axes[1].plot(np.asarray(log.r_st), label=label, lw=0.9)
    axes[0].set_ylim(-0.05, 1.05)
    axes[0].axhline(0.5, color="0.6", lw=0.8, ls=":")
    axes[0].set_ylabel(f"share of d_st > 0\n(last {window} steps)")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("r_st (Sec 2.3.1)")
    axes[1].set_xlabel("training step")
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, 1.28), ncol=len(logs), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def reconstruction_figure(targets, recon, baseline=None, n_show: int = 8):
    """Table 3.1 right: unseen test images, their reconstructions M(Z*), and a baseline."""
    panels = {"test images": targets[:n_show], "M(Z*) reconstructions": recon[:n_show]}
    if baseline is not None:
        panels["baseline"] = baseline[:n_show]
    return image_panels_figure(panels, ncols=len(panels), nrow=min(4, n_show))
