"""Explorers: sliders over precomputed *frames*, for rerunning a notebook interactively.

An :class:`Explorer` holds one frame per setting of its parameters (computed by a package
function below, so no notebook holds an algorithm) and a function that draws one frame on an
axis. :meth:`Explorer.show` gives

* in a live Jupyter session, an ipywidgets control per parameter (a slider over its values, or
  a drop-down for names) above the drawn frame, redrawn when a control moves;
* in the static book (``EBMBOOK_STATIC=1``, set by ``ebmbook book`` for its kernels), every
  frame drawn once in a grid: one figure a reader can see without a kernel.

Why a grid of frames and not embedded widget state: Jupyter Book 1 renders embedded widget
state with ``@jupyter-widgets/html-manager`` and ``require.js`` fetched from public CDNs, which
the offline book must never request (its browser check fails on any request off the book's
host). A grid of PNG frames is served by the book itself, and it shows every setting at once.

The frames:

* :func:`ebmbook.diagnostics.lyapunov.gamma_frames` - long-run samples of a trained model at
  several temperature factors gamma (eq. 3.6; Sec 3.4.1), with their energies against the
  data's (computed in the diagnostics layer, drawn here by :func:`gamma_explorer`);
* :func:`ad_frames` - Attraction-Diffusion between a pair of minima over a grid of
  magnetisation alpha and temperature T (Sec 4.3): success rate and one path's energy;
* :func:`basin_frames` - the basins of a map: representative, members and barriers to the
  other basins (a DG explorer).
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .diagnostics.lyapunov import GammaFrame
from .results import STATIC_ENV



def static_mode() -> bool:
    """Whether explorers draw their static grid (the book build) instead of widgets."""
    return os.environ.get(STATIC_ENV, "") not in ("", "0")


@dataclass
class Explorer:
    """Frames keyed by parameter values and a drawing function.

    ``params``: name -> the values it takes (in order); ``frames``: a tuple of values (one per
    parameter, in the order of ``params``) -> frame; ``draw(frame, ax)`` draws one frame on
    one axis and ``label(key)`` titles it."""

    params: Mapping[str, Sequence[Any]]
    frames: Mapping[tuple, Any]
    draw: Callable[[Any, Any], None]
    label: Callable[[tuple], str] = None
    title: str = ""
    ncols: int = 3
    panel: tuple = (2.5, 2.3)          # inches per frame in the static grid

    def __post_init__(self):
        keys = list(itertools.product(*self.params.values()))
        missing = [k for k in keys if k not in self.frames]
        if not self.params or missing:
            raise ValueError(f"an explorer needs a frame for every combination of its "
                             f"parameters; missing {missing[:3]}")
        if self.label is None:
            names = list(self.params)
            self.label = lambda key: ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(names, key))

    @property
    def keys(self) -> list[tuple]:
        return list(itertools.product(*self.params.values()))

    def figure(self):
        """Every frame in a grid (the static book's view)."""
        import matplotlib.pyplot as plt
        keys = self.keys
        ncols = min(self.ncols, len(keys))
        nrows = math.ceil(len(keys) / ncols)
        fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                                 figsize=(self.panel[0] * ncols, self.panel[1] * nrows + 0.4))
        for ax, key in zip(axes.flat, keys):
            self.draw(self.frames[key], ax)
            ax.set_title(self.label(key), fontsize=9)
        for ax in list(axes.flat)[len(keys):]:
            ax.axis("off")
        if self.title:
            fig.suptitle(self.title, fontsize=10)
        fig.tight_layout()
        return fig

    def frame_figure(self, key: tuple):
        """One frame alone (what the widget shows)."""
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(self.panel[0] * 2, self.panel[1] * 2))
        self.draw(self.frames[key], ax)
        ax.set_title(self.label(key), fontsize=10)
        fig.tight_layout()
        return fig

    def widget(self):
        """An ipywidgets control per parameter above the current frame."""
        import ipywidgets as w
        import matplotlib.pyplot as plt
        from IPython.display import display
        controls = {}
        for name, values in self.params.items():
            opts = [(_fmt(v), v) for v in values]
            if all(isinstance(v, (int, float, np.number)) for v in values):
                controls[name] = w.SelectionSlider(options=opts, value=values[0],
                                                   description=name, continuous_update=False)
            else:
                controls[name] = w.Dropdown(options=opts, value=values[0], description=name)
        out = w.Output()

        def redraw(_=None):
            key = tuple(c.value for c in controls.values())
            with out:
                out.clear_output(wait=True)
                fig = self.frame_figure(key)
                display(fig)
                plt.close(fig)

        for c in controls.values():
            c.observe(redraw, names="value")
        redraw()
        box = w.VBox([*controls.values(), out])
        box.redraw, box.controls, box.output = redraw, controls, out
        return box

    def show(self, static: bool | None = None):
        """The widget in a live session, the grid figure in the static book."""
        return self.figure() if (static_mode() if static is None else static) else self.widget()


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def _grid(images: torch.Tensor, nrow: int, cells: int | None = None) -> np.ndarray:
    """The image grid of :mod:`ebmbook.plotting.images` (imported here, not at start-up, so
    that importing the explorers stays cheap)."""
    from .plotting.images import _grid_array
    return _grid_array(images, nrow, cells=cells)


# ----------------------------------------------------------------------------- gamma


def draw_gamma_frame(f: GammaFrame, ax) -> None:
    nrow = max(1, int(math.ceil(math.sqrt(len(f.images)))))
    ax.imshow(_grid(f.images, nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    inside = float(np.mean((f.energy_z >= f.data_lo) & (f.energy_z <= f.data_hi)))
    ax.set_xlabel(f"energy {np.mean(f.energy_z):+.1f} data sds\n{inside:.0%} within the data's "
                  f"95 %\n{f.saturation:.0%} of pixels saturated", fontsize=8)


def gamma_explorer(frames: Mapping[tuple, GammaFrame]) -> Explorer:
    gammas = sorted(k[0] for k in frames)
    return Explorer({"gamma": gammas}, frames, draw_gamma_frame,
                    label=lambda k: f"gamma = {k[0]:g}", ncols=3, panel=(2.5, 3.1),
                    title="long-run samples at temperature factor gamma")


# ----------------------------------------------------------------------------- AD


@dataclass
class ADFrame:
    """AD trials from one minimum to another at one (T, alpha)."""

    temperature: float
    alpha: float
    success_rate: float
    path_energy: np.ndarray      # one trial's energy U along its path (a successful one if any)
    succeeded: bool              # whether that trial succeeded
    start_energy: float
    barrier: float = float("nan")   # median barrier of the successful trials


def ad_frames(energy, start: torch.Tensor, target: torch.Tensor, temperatures, alphas, *,
              n_trials: int, eps: float, delta: float, improvement_limit: int,
              max_steps: int, generator: torch.Generator | None = None
              ) -> dict[tuple, ADFrame]:
    """``n_trials`` AD trials from ``start`` to ``target`` (one state each, shape (1, ...)) at
    every (T, alpha) of the two grids: one batch per T, one alpha per trial."""
    from .landscape.ad import attraction_diffusion
    temperatures = [float(t) for t in temperatures]
    alphas = [float(a) for a in alphas]
    A = len(alphas)
    out = {}
    for T in temperatures:
        a = np.repeat(alphas, n_trials)
        s = start.expand(A * n_trials, *start.shape[1:]).clone()
        t = target.expand_as(s).clone()
        r = attraction_diffusion(energy, s, t, temperature=T, alpha=a, eps=eps,
                                 generator=generator, delta=delta,
                                 improvement_limit=improvement_limit, max_steps=max_steps,
                                 record=True)
        e0 = float(energy(start).detach().reshape(-1)[0])
        for i, al in enumerate(alphas):
            sl = slice(i * n_trials, (i + 1) * n_trials)
            ok = r.success[sl]
            j = i * n_trials + (int(np.flatnonzero(ok)[0]) if ok.any() else 0)
            path = r.path_energy[j, :int(r.steps[j]) + 1]
            out[(T, al)] = ADFrame(temperature=T, alpha=al, success_rate=float(ok.mean()),
                                   path_energy=np.asarray(path), succeeded=bool(r.success[j]),
                                   start_energy=e0,
                                   barrier=float(np.median(r.barrier[sl][ok])) if ok.any()
                                   else float("nan"))
    return out


def draw_ad_frame(f: ADFrame, ax) -> None:
    ax.plot(f.path_energy, lw=0.8, color="C2" if f.succeeded else "C3")
    ax.axhline(f.start_energy, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel(f"AD step; {f.success_rate:.0%} succeed", fontsize=8,
                  color="C2" if f.success_rate > 0 else "C3")
    ax.tick_params(labelsize=7)


def ad_explorer(frames: Mapping[tuple, ADFrame]) -> Explorer:
    Ts = sorted({k[0] for k in frames})
    alphas = sorted({k[1] for k in frames})
    return Explorer({"T": Ts, "alpha": alphas}, frames, draw_ad_frame, ncols=len(alphas),
                    panel=(7.5 / max(4, len(alphas)), 1.8), title="energy along one AD path (green: it reached the "
                    "target; red: it stalled) and the success rate of the trials")


# ----------------------------------------------------------------------------- DG


@dataclass
class BasinFrame:
    """One basin of a map: representative, members and barriers to the other basins."""

    basin: int
    representative: torch.Tensor     # (1, ...) image
    members: torch.Tensor            # (k, ...) images
    n_modes: int
    reading: str                     # the judge's majority reading, or ""
    merge_heights: np.ndarray        # DG merge height with each basin (nan for itself)


def basin_frames(m, n_members: int = 8, max_basins: int = 9, seed: int = 0,
                 class_names=None) -> dict[tuple, BasinFrame]:
    """The largest ``max_basins`` basins of a map (any map with ``adelm``, ``dg``, ``images``,
    ``basin_label``, ``basin_share``), each with up to ``n_members`` random members."""
    res = m.adelm
    order = np.argsort(-np.asarray(res.counts), kind="stable")[:max_basins]
    rng = np.random.default_rng(seed)
    C = m.dg.cophenetic()
    out = {}
    with torch.no_grad():
        for j in order:
            idx = np.flatnonzero(res.labels == j)
            pick = rng.choice(idx, size=min(n_members, idx.size), replace=False)
            lab = int(m.basin_label[j]) if m.basin_label is not None else -1
            reading = ""
            if lab >= 0:
                name = class_names[lab] if class_names is not None else str(lab)
                reading = f"{name} ({m.basin_share[j]:.0%})"
            h = C[j].astype(float).copy()
            h[j] = np.nan
            out[(f"basin {int(j)}",)] = BasinFrame(
                basin=int(j), representative=m.images(res.reps[int(j)][None]),
                members=m.images(res.modes[torch.as_tensor(pick)]), n_modes=int(res.counts[j]),
                reading=reading, merge_heights=h)
    return out


def draw_basin_frame(f: BasinFrame, ax) -> None:
    imgs = torch.cat([f.representative, f.members])
    strip = _grid(imgs, nrow=3, cells=9)
    ax.imshow(strip, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    h = f.merge_heights
    finite = np.isfinite(h)
    near = (f"joins basin {int(np.nanargmin(np.where(finite, h, np.nan)))} at "
            f"{np.nanmin(h[finite]):+.2f}" if finite.any() else "joins no other basin")
    ax.set_xlabel(f"{f.n_modes} modes{'; ' + f.reading if f.reading else ''}\n{near}",
                  fontsize=8)


def basin_explorer(frames: Mapping[tuple, BasinFrame]) -> Explorer:
    names = [k[0] for k in frames]
    return Explorer({"basin": names}, frames, draw_basin_frame, ncols=3, panel=(2.5, 2.9),
                    label=lambda k: k[0],
                    title="the basins of the map, largest first: the representative (top left) "
                          "and random members")


__all__ = ["Explorer", "static_mode", "gamma_explorer", "ADFrame", "ad_frames", "ad_explorer", "BasinFrame",
           "basin_frames", "basin_explorer", "draw_gamma_frame", "draw_ad_frame",
           "draw_basin_frame"]
