"""The doubly-nudged elastic band (DNEB): a minimum-energy path between two minima of U and its
barrier (the thesis's DNEB barrier beside the 1D linear barrier and the AD barrier).

A band of ``n_images`` states between fixed endpoints ``a`` and ``b`` relaxes under the NEB force
(Henkelman & Jónsson 2000; Trygubenko & Wales 2004). For interior image ``i`` with tangent
``t_i`` (unit), true force ``-g_i = -grad U(x_i)`` and spring constant ``k``:

* **Improved tangent** (Henkelman & Jónsson 2000, eqs. 8-11): ``t_i`` is the upwind difference
  ``x_{i+1} - x_i`` or ``x_i - x_{i-1}`` towards the higher neighbour when ``U`` is monotone
  across the image, and an energy-weighted mixture of both at an extremum of the profile.
* **Perpendicular true force**: ``F_perp = -g_i + (g_i . t_i) t_i``.
* **Spring force along the tangent**: ``F_s|| = k (|x_{i+1} - x_i| - |x_i - x_{i-1}|) t_i``.
* **DNEB term** (Trygubenko & Wales 2004, eq. 6): with the full spring force
  ``F_s = k (x_{i+1} - 2 x_i + x_{i-1})``, its perpendicular part
  ``F_s_perp = F_s - (F_s . t_i) t_i`` is added after removing its component along the
  perpendicular true force: ``F_dneb = F_s_perp - (F_s_perp . f) f`` with ``f = F_perp / |F_perp|``.
  In two dimensions the perpendicular space is a line, so the term vanishes wherever
  ``F_perp != 0``; it acts in higher dimensions (latent spaces, images), where it keeps the band
  from kinking during the early relaxation. Near a curved path in more than two dimensions it
  does not vanish exactly, so the band may hover near the MEP rather than converge onto it;
  ``doubly_nudged=False`` gives the plain (improved-tangent) NEB.
* **Climbing image** (Henkelman, Uberuaga & Jónsson 2000): the highest interior image feels
  ``-g + 2 (g . t) t`` (the true force with its tangent component inverted) and no spring force,
  so it climbs to the saddle along the band and descends perpendicular to it.

All images are evaluated as one batch per iteration through
:func:`ebmbook.sampling.langevin.energy_and_grad`. The band moves by FIRE (Bitzek et al. 2006)
over the whole band as one system, or by quick-min (velocity projected on the force, per image).

The barrier is the highest energy among the images; :func:`path_energy_profile` evaluates U
densely along the piecewise-linear band (an upper bound of the minimax barrier, like
:func:`ebmbook.landscape.barriers.linear_barrier`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .._config import check_int, check_positive
from ..sampling.langevin import energy_and_grad, frozen_parameters

Energy = Callable[[torch.Tensor], torch.Tensor]

# FIRE parameters of Bitzek et al. (2006)
FIRE_N_MIN = 5
FIRE_F_INC = 1.1
FIRE_F_DEC = 0.5
FIRE_ALPHA_START = 0.1
FIRE_F_ALPHA = 0.99


@dataclass
class NEBResult:
    """Outcome of :func:`nudged_elastic_band`.

    path: (n_images + 2, ...) the band, endpoints included; energy: (n_images + 2,) U on it;
    barrier: the highest energy on the band, at ``path[saddle_index]`` (with ``climbing``, the
    climbing image: the saddle estimate); iterations: optimiser steps taken; converged: whether
    ``max_force <= tol``; max_force: the largest norm over interior images of the perpendicular
    true force (for the climbing image, of its full gradient).
    """

    path: torch.Tensor
    energy: torch.Tensor
    barrier: float
    saddle_index: int
    iterations: int
    converged: bool
    max_force: float
    climbing: bool

    @property
    def saddle(self) -> torch.Tensor:
        """The highest image, ``path[saddle_index]``."""
        return self.path[self.saddle_index]

    def arc_length(self, normalized: bool = True) -> np.ndarray:
        """Cumulative L2 arc length of the images along the band, (n_images + 2,), from 0 at
        ``a``; divided by the total length with ``normalized`` (then in [0, 1], like the ``t`` of
        the linear interpolation)."""
        d = (self.path[1:] - self.path[:-1]).reshape(len(self.path) - 1, -1).norm(dim=1)
        s = np.concatenate([[0.0], np.cumsum(d.detach().cpu().numpy().astype(np.float64))])
        return s / s[-1] if normalized and s[-1] > 0 else s

    def profile(self, normalized: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(s, U)``: the images' energies against their arc length (see :meth:`arc_length`),
        for plotting beside the 1D linear barrier's profile."""
        return self.arc_length(normalized), self.energy.detach().cpu().numpy()


def path_energy_profile(energy: Energy, path: torch.Tensor, n_points: int = 128,
                        normalized: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """U along the piecewise-linear band ``path`` (m, ...) at ``n_points`` points equally spaced
    in arc length together with the m images themselves (sorted by arc length, duplicates
    dropped), evaluated as one batch. Returns ``(s, U)`` (numpy); ``U.max()`` is an upper bound of
    the minimax barrier between ``path[0]`` and ``path[-1]`` and at least the images' maximum."""
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    m = path.shape[0]
    flat = path.reshape(m, -1)
    seg = (flat[1:] - flat[:-1]).norm(dim=1)
    cum = torch.cat([seg.new_zeros(1), torch.cumsum(seg, 0)])
    total = cum[-1]
    s = torch.linspace(0, 1, n_points, dtype=flat.dtype, device=flat.device) * total
    s = torch.unique(torch.cat([s, cum]))                                  # sorted
    j = torch.clamp(torch.searchsorted(cum, s, right=True) - 1, 0, m - 2)
    w = ((s - cum[j]) / seg[j].clamp_min(torch.finfo(flat.dtype).tiny)).clamp(0, 1)
    pts = flat[j] + w[:, None] * (flat[j + 1] - flat[j])
    with torch.no_grad(), frozen_parameters(energy):
        u = energy(pts.reshape((len(s),) + path.shape[1:]))
    s_np = s.cpu().numpy()
    if normalized and float(total) > 0:
        s_np = s_np / float(total)
    return s_np, u.detach().cpu().numpy()


def _dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u * v).sum(dim=1, keepdim=True)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def improved_tangent(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Unit tangents (m, D) at the interior images of a flat band ``x`` (m + 2, D) with energies
    ``u`` (m + 2,): the upwind tangent of Henkelman & Jónsson (2000)."""
    tp = x[2:] - x[1:-1]
    tm = x[1:-1] - x[:-2]
    up, ui, um = u[2:], u[1:-1], u[:-2]
    dvp, dvm = (up - ui).abs(), (um - ui).abs()
    dmax, dmin = torch.maximum(dvp, dvm), torch.minimum(dvp, dvm)
    mixed = torch.where((up > um)[:, None], tp * dmax[:, None] + tm * dmin[:, None],
                        tp * dmin[:, None] + tm * dmax[:, None])
    t = torch.where(((up > ui) & (ui > um))[:, None], tp,
                    torch.where(((up < ui) & (ui < um))[:, None], tm, mixed))
    return _unit(t)


def neb_force(x: torch.Tensor, u: torch.Tensor, g: torch.Tensor, spring: float,
              doubly_nudged: bool = True, climb_index: int | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The (D)NEB force on the interior images of a flat band.

    x: (m + 2, D) band with endpoints; u: (m + 2,) energies; g: (m, D) gradients of the interior
    images; climb_index: interior index (0..m-1) of the climbing image, or None.
    Returns the force (m, D) and the per-image convergence measure (m,): the norm of the
    perpendicular true force (of the full gradient for the climbing image)."""
    t = improved_tangent(x, u)
    gt = _dot(g, t)
    f_perp = -g + gt * t
    tp = x[2:] - x[1:-1]
    tm = x[1:-1] - x[:-2]
    force = f_perp + spring * (tp.norm(dim=1, keepdim=True) - tm.norm(dim=1, keepdim=True)) * t
    if doubly_nudged:
        fs = spring * (tp - tm)
        fs_perp = fs - _dot(fs, t) * t
        fhat = _unit(f_perp)
        force = force + fs_perp - _dot(fs_perp, fhat) * fhat
    measure = f_perp.norm(dim=1)
    if climb_index is not None:
        c = climb_index
        force[c] = -g[c] + 2 * gt[c] * t[c]
        measure[c] = g[c].norm()
    return force, measure


def nudged_elastic_band(energy: Energy, a: torch.Tensor, b: torch.Tensor, *,
                        n_images: int = 16, spring: float = 1.0, doubly_nudged: bool = True,
                        climbing: bool = False, optimizer: str = "fire", max_iter: int = 2000,
                        step: float = 0.01, dt_max: float | None = None,
                        max_move: float | None = None, tol: float = 1e-4,
                        init_path: torch.Tensor | None = None,
                        progress: bool = False) -> NEBResult:
    """Relax a doubly-nudged elastic band (Trygubenko & Wales 2004) between the fixed states
    ``a`` and ``b`` (each one state of shape ``(...)``, no batch dimension) on ``energy``.

    n_images: movable images between the endpoints (the band has ``n_images + 2`` states).
    spring: spring constant k (force per unit length). doubly_nudged: add the DNEB
    perpendicular-spring term (False: the improved-tangent NEB). climbing: the highest interior
    image climbs to the saddle (Henkelman, Uberuaga & Jónsson 2000).
    optimizer: ``"fire"`` (Bitzek et al. 2006 with N_min = 5, f_inc = 1.1, f_dec = 0.5,
    alpha_start = 0.1, f_alpha = 0.99, the whole band as one system) or ``"quickmin"`` (per image,
    velocity projected on the force). step: the (initial) time step dt; dt_max: FIRE's largest dt
    (default ``10 * step``); max_move: optional cap on any image's displacement per step.
    tol: convergence threshold on ``max_force`` (see :class:`NEBResult`), in units of U per unit
    length. init_path: (n_images + 2, ...) initial band (its endpoints are replaced by ``a`` and
    ``b``); default the straight line. progress: a tqdm bar.

    One call of ``energy`` evaluates all images per iteration (plus one first call that also
    evaluates the endpoints). Returns a :class:`NEBResult`.
    """
    a = torch.as_tensor(a)
    b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
    if not a.is_floating_point():
        a, b = a.double(), b.double()
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got a {tuple(a.shape)} and b "
                         f"{tuple(b.shape)}")
    if a.numel() == 0:
        raise ValueError("a must be a non-empty state")
    for name, v in (("a", a), ("b", b)):
        if not torch.isfinite(v).all():
            raise ValueError(f"{name} must be finite")
    n_images, max_iter = check_int("n_images", n_images, 1), check_int("max_iter", max_iter, 0)
    if isinstance(spring, bool) or not isinstance(spring, numbers.Real) or not spring >= 0 \
            or not math.isfinite(spring):
        raise ValueError(f"spring must be a finite number >= 0, got {spring!r}")
    step = check_positive("step", step)
    dt_max = 10 * step if dt_max is None else check_positive("dt_max", dt_max)
    if max_move is not None:
        max_move = check_positive("max_move", max_move)
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    if optimizer not in ("fire", "quickmin"):
        raise ValueError(f"optimizer must be 'fire' or 'quickmin', got {optimizer!r}")

    shape = tuple(a.shape)
    D = a.numel()
    fa, fb = a.reshape(1, D), b.reshape(1, D)
    if init_path is None:
        s = torch.linspace(0, 1, n_images + 2, dtype=a.dtype, device=a.device)[1:-1, None]
        inner = (1 - s) * fa + s * fb
    else:
        init_path = torch.as_tensor(init_path, dtype=a.dtype, device=a.device)
        if tuple(init_path.shape) != (n_images + 2,) + shape:
            raise ValueError(f"init_path must have shape (n_images + 2, ...) = "
                             f"{(n_images + 2,) + shape}, got {tuple(init_path.shape)}")
        if not torch.isfinite(init_path).all():
            raise ValueError("init_path must be finite")
        inner = init_path.reshape(n_images + 2, D)[1:-1].clone()

    def evaluate(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u, g = energy_and_grad(energy, flat.reshape((flat.shape[0],) + shape))
        if not (torch.isfinite(u).all() and torch.isfinite(g).all()):
            raise ValueError("the energy or its gradient is not finite on the band; lower step "
                             "(or set max_move) or start from a better init_path")
        return u, g.reshape(flat.shape[0], D)

    bar = None
    if progress:
        from .._progress import tqdm
        bar = tqdm(total=max_iter, desc="DNEB" if doubly_nudged else "NEB", leave=False)

    with frozen_parameters(energy):
        u_all, g_all = evaluate(torch.cat([fa, fb, inner]))
        u_ends, u, g = u_all[:2], u_all[2:], g_all[2:]
        v = torch.zeros_like(inner)
        dt, alpha, n_pos = step, FIRE_ALPHA_START, 0
        it = 0
        while True:
            x = torch.cat([fa, inner, fb])
            ub = torch.cat([u_ends[:1], u, u_ends[1:]])
            climb = int(torch.argmax(u)) if climbing else None
            force, measure = neb_force(x, ub, g, spring, doubly_nudged, climb)
            max_force = float(measure.max())
            if bar is not None:
                bar.set_postfix(max_force=f"{max_force:.3g}", refresh=False)
            if max_force <= tol or it >= max_iter:
                break
            if optimizer == "fire":
                power = float((force * v).sum())
                if power > 0:
                    fn = force.norm().clamp_min(torch.finfo(force.dtype).tiny)
                    v = (1 - alpha) * v + alpha * v.norm() * force / fn
                    n_pos += 1
                    if n_pos > FIRE_N_MIN:
                        dt = min(dt * FIRE_F_INC, dt_max)
                        alpha *= FIRE_F_ALPHA
                else:
                    v = torch.zeros_like(v)
                    dt *= FIRE_F_DEC
                    alpha = FIRE_ALPHA_START
                    n_pos = 0
            else:  # quick-min: keep only the velocity along each image's force
                fhat = _unit(force)
                v = _dot(v, fhat).clamp_min(0) * fhat
            v = v + dt * force
            dx = dt * v
            if max_move is not None:
                nrm = dx.norm(dim=1, keepdim=True)
                dx = dx * (max_move / nrm.clamp_min(max_move))
            inner = inner + dx
            u, g = evaluate(inner)
            it += 1
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()

    path = torch.cat([fa, inner, fb]).reshape((n_images + 2,) + shape)
    ub = torch.cat([u_ends[:1], u, u_ends[1:]])
    k = int(torch.argmax(ub))
    return NEBResult(path=path, energy=ub, barrier=float(ub[k]), saddle_index=k, iterations=it,
                     converged=max_force <= tol, max_force=max_force, climbing=bool(climbing))
