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
:func:`nudged_elastic_bands` relaxes many bands at once: one energy call per iteration over the
images of every band still moving, each band with its own optimiser state, climbing image and
stopping point (:func:`nudged_elastic_band` is its case of one band; :func:`linear_bands` gives
the straight initial bands).

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
    return (u * v).sum(dim=-1, keepdim=True)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def improved_tangent(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Unit tangents (..., m, D) at the interior images of flat bands ``x`` (..., m + 2, D) with
    energies ``u`` (..., m + 2): the upwind tangent of Henkelman & Jónsson (2000). Leading
    dimensions are bands, each handled on its own."""
    tp = x[..., 2:, :] - x[..., 1:-1, :]
    tm = x[..., 1:-1, :] - x[..., :-2, :]
    up, ui, um = u[..., 2:], u[..., 1:-1], u[..., :-2]
    dvp, dvm = (up - ui).abs(), (um - ui).abs()
    dmax, dmin = torch.maximum(dvp, dvm)[..., None], torch.minimum(dvp, dvm)[..., None]
    mixed = torch.where((up > um)[..., None], tp * dmax + tm * dmin, tp * dmin + tm * dmax)
    t = torch.where(((up > ui) & (ui > um))[..., None], tp,
                    torch.where(((up < ui) & (ui < um))[..., None], tm, mixed))
    return _unit(t)


def neb_force(x: torch.Tensor, u: torch.Tensor, g: torch.Tensor, spring: float,
              doubly_nudged: bool = True, climb_index: int | torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The (D)NEB force on the interior images of a flat band, or of a batch of them.

    x: (..., m + 2, D) bands with endpoints; u: (..., m + 2) energies; g: (..., m, D) gradients
    of the interior images; climb_index: interior index (0..m-1) of the climbing image (an int,
    or one per band as an integer tensor of shape ``(...)``, where -1 means none in that band),
    or None.
    Returns the force (..., m, D) and the per-image convergence measure (..., m): the norm of
    the perpendicular true force (of the full gradient for the climbing image)."""
    climb = None
    if climb_index is not None:
        c = torch.as_tensor(climb_index, device=g.device)
        climb = torch.arange(g.shape[-2], device=g.device) == c.unsqueeze(-1)
    return _neb_force(x, u, g, spring, doubly_nudged, climb)


def _neb_force(x: torch.Tensor, u: torch.Tensor, g: torch.Tensor, spring: float,
               doubly_nudged: bool, climb: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`neb_force` with the climbing image given as a mask (..., m) (or None)."""
    t = improved_tangent(x, u)
    gt = _dot(g, t)
    f_perp = -g + gt * t
    tp = x[..., 2:, :] - x[..., 1:-1, :]
    tm = x[..., 1:-1, :] - x[..., :-2, :]
    force = f_perp + spring * (tp.norm(dim=-1, keepdim=True) - tm.norm(dim=-1, keepdim=True)) * t
    if doubly_nudged:
        fs = spring * (tp - tm)
        fs_perp = fs - _dot(fs, t) * t
        fhat = _unit(f_perp)
        force = force + fs_perp - _dot(fs_perp, fhat) * fhat
    measure = f_perp.norm(dim=-1)
    if climb is not None:
        # the climbing image: the true force with its tangent component inverted, no springs
        force = torch.where(climb.unsqueeze(-1), -g + 2 * gt * t, force)
        measure = torch.where(climb, g.norm(dim=-1), measure)
    return force, measure


def _check_options(n_images: int, spring: float, optimizer: str, max_iter: int, step: float,
                   dt_max: float | None, max_move: float | None, tol: float
                   ) -> tuple[int, float, float, float | None]:
    """Validate the band settings shared by :func:`nudged_elastic_band` and
    :func:`nudged_elastic_bands`; returns ``(max_iter, step, dt_max, max_move)``."""
    check_int("n_images", n_images, 1)
    max_iter = check_int("max_iter", max_iter, 0)
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
    return max_iter, step, dt_max, max_move


def linear_bands(a: torch.Tensor, b: torch.Tensor, n_images: int) -> torch.Tensor:
    """Straight bands ``(B, n_images + 2, ...)`` from ``a[k]`` to ``b[k]`` (each ``(B, ...)``),
    images equally spaced, endpoints exactly ``a[k]`` and ``b[k]``: the 1D linear initialisation
    of DNEB, for :func:`nudged_elastic_bands`."""
    n_images = check_int("n_images", n_images, 1)
    a = torch.as_tensor(a)
    b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(f"a and b must be batches (B, ...) of the same shape, got a "
                         f"{tuple(a.shape)} and b {tuple(b.shape)}")
    B, shape = a.shape[0], tuple(a.shape[1:])
    fa, fb = a.reshape(B, 1, -1), b.reshape(B, 1, -1)
    s = torch.linspace(0, 1, n_images + 2, dtype=a.dtype, device=a.device)[1:-1, None]
    inner = (1 - s) * fa + s * fb
    return torch.cat([fa, inner, fb], 1).reshape((B, n_images + 2) + shape)


def nudged_elastic_bands(energy: Energy, bands: torch.Tensor, *, spring: float = 1.0,
                         doubly_nudged: bool = True, climbing: bool = False,
                         optimizer: str = "fire", max_iter: int = 2000, step: float = 0.01,
                         dt_max: float | None = None, max_move: float | None = None,
                         tol: float = 1e-4, progress: bool = False) -> list[NEBResult]:
    """Relax B (doubly-)nudged elastic bands at once: ``bands`` is ``(B, n_images + 2, ...)``,
    each band's first and last states its fixed endpoints (e.g. from :func:`linear_bands`, or an
    AD path resampled by :func:`ebmbook.landscape.saddles.resample_path`).

    Every band is the system :func:`nudged_elastic_band` relaxes, with the same settings (see
    there), and keeps its own optimiser state (FIRE's velocity, time step, mixing and count of
    downhill steps), its own climbing image and its own iteration count. A band stops -- and is
    no longer evaluated or moved -- once its ``max_force <= tol`` or after ``max_iter`` steps; the
    others go on. Each iteration evaluates the interior images of all moving bands as one batch,
    one call of ``energy`` on ``(moving bands x n_images, ...)`` states (the first call also
    evaluates the endpoints: ``B x (n_images + 2)`` states).

    Returns one :class:`NEBResult` per band, in order. Every computation on a band is done on that
    band alone (per-band reductions), so a band's result is the one it gets relaxed by itself
    whenever ``energy`` evaluates each state independently of the rest of its batch, exactly so
    for elementwise energies (wells, Müller–Brown); a network whose kernels pick another
    algorithm for another batch size may differ in the last bits, and a band near a FIRE
    decision (the sign of its power) may then take another step.
    """
    bands = torch.as_tensor(bands)
    if not bands.is_floating_point():
        bands = bands.double()
    if bands.dim() < 3:
        raise ValueError(f"bands must have shape (B, n_images + 2, ...), got "
                         f"{tuple(bands.shape)}")
    B, n = int(bands.shape[0]), int(bands.shape[1])
    if n < 3:
        raise ValueError(f"a band needs at least one image between its endpoints "
                         f"(n_images + 2 >= 3 states), got {n}")
    max_iter, step, dt_max, max_move = _check_options(n - 2, spring, optimizer, max_iter, step,
                                                      dt_max, max_move, tol)
    shape = tuple(bands.shape[2:])
    D = math.prod(shape)
    if D == 0:
        raise ValueError("the bands' states must be non-empty")
    if not torch.isfinite(bands).all():
        raise ValueError("bands must be finite")
    if B == 0:
        return []
    dtype, device = bands.dtype, bands.device
    flat = bands.reshape(B, n, D)

    def evaluate(x: torch.Tensor, ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        k, j = x.shape[:2]
        u, g = energy_and_grad(energy, x.reshape((k * j,) + shape))
        u, g = u.reshape(k, j), g.reshape(k, j, D)
        if not bool(torch.isfinite(u).all() & torch.isfinite(g).all()):
            ok = (torch.isfinite(u).all(1) & torch.isfinite(g).reshape(k, -1).all(1)).cpu()
            bad = ", ".join(str(i) for i in ids[~ok.numpy()])
            raise ValueError(f"the energy or its gradient is not finite on band(s) {bad}; lower "
                             "step (or set max_move) or start from a better band")
        return u, g

    bar = None
    if progress:
        from .._progress import tqdm
        bar = tqdm(total=max_iter, desc="DNEB" if doubly_nudged else "NEB", leave=False)

    results: list[NEBResult | None] = [None] * B
    with frozen_parameters(energy):
        u_all, g_all = evaluate(flat, np.arange(B))
        # the state of the bands still moving, compacted whenever some stop; FIRE's scalars
        # (time step, mixing, count of downhill steps) are Python floats per band, so each
        # band's arithmetic is exactly that of a band relaxed alone
        ids = np.arange(B)
        e0, e1 = flat[:, :1], flat[:, -1:]
        u0, u1 = u_all[:, :1], u_all[:, -1:]
        inner, u, g = flat[:, 1:-1].clone(), u_all[:, 1:-1], g_all[:, 1:-1]
        v = torch.zeros_like(inner)
        dt, alpha, n_pos = [step] * B, [FIRE_ALPHA_START] * B, [0] * B
        slots = torch.arange(n - 2, device=device)
        it = 0
        fire = optimizer == "fire"
        while True:
            k = len(ids)
            x = torch.cat([e0, inner, e1], 1)
            ub = torch.cat([u0, u, u1], 1)
            climb = slots == torch.argmax(u, dim=1, keepdim=True) if climbing else None
            force, measure = _neb_force(x, ub, g, spring, doubly_nudged, climb)
            # one transfer per iteration: each band's max_force and (FIRE) power F . v
            per_band = measure.amax(1)
            if fire:
                per_band = torch.stack([per_band, (force * v).reshape(k, -1).sum(1)])
            per_band = per_band.reshape(-1, k).tolist()
            max_force, power = per_band[0], per_band[-1]
            stop = [mf <= tol or it >= max_iter for mf in max_force]
            if any(stop):
                for j in np.flatnonzero(stop):
                    c = int(torch.argmax(ub[j]))
                    results[ids[j]] = NEBResult(
                        path=x[j].reshape((n,) + shape).clone(), energy=ub[j].clone(),
                        barrier=float(ub[j, c]), saddle_index=c, iterations=it,
                        converged=max_force[j] <= tol, max_force=max_force[j],
                        climbing=bool(climbing))
                if all(stop):
                    break
                keep = [j for j, done in enumerate(stop) if not done]
                ids = ids[keep]
                dt, alpha, n_pos, max_force, power = ([z[j] for j in keep] for z in
                                                      (dt, alpha, n_pos, max_force, power))
                kt = torch.as_tensor(keep, device=device)
                e0, e1, u0, u1, inner, u, g, v, force = (
                    z[kt] for z in (e0, e1, u0, u1, inner, u, g, v, force))
                k = len(ids)
            if bar is not None:
                bar.set_postfix(max_force=f"{max(max_force):.3g}", bands=k, refresh=False)
            if fire:
                pos = [p > 0 for p in power]
                mix = [[1 - a for a in alpha], alpha[:]]      # this step mixes with the old alpha
                for j in range(k):
                    if pos[j]:
                        n_pos[j] += 1
                        if n_pos[j] > FIRE_N_MIN:
                            dt[j] = min(dt[j] * FIRE_F_INC, dt_max)
                            alpha[j] = alpha[j] * FIRE_F_ALPHA
                    else:
                        dt[j] *= FIRE_F_DEC
                        alpha[j] = FIRE_ALPHA_START
                        n_pos[j] = 0
                # in the bands' dtype, as a Python float meets a tensor
                keep_v, mix_f, dtt = torch.tensor(mix + [dt], dtype=dtype,
                                                  device=device).view(3, k, 1, 1).unbind(0)
                if any(pos):
                    fn = force.reshape(k, -1).norm(dim=1).clamp_min(torch.finfo(dtype).tiny)
                    vn = v.reshape(k, -1).norm(dim=1)
                    mixed = keep_v * v + mix_f * vn.view(k, 1, 1) * force / fn.view(k, 1, 1)
                    v = mixed if all(pos) else torch.where(
                        torch.tensor(pos, device=device).view(k, 1, 1), mixed, 0.0)
                else:
                    v = torch.zeros_like(v)
            else:  # quick-min: keep only the velocity along each image's force
                fhat = _unit(force)
                v = _dot(v, fhat).clamp_min(0) * fhat
                dtt = torch.tensor(dt, dtype=dtype, device=device).view(k, 1, 1)
            v = v + dtt * force
            dx = dtt * v
            if max_move is not None:
                nrm = dx.norm(dim=-1, keepdim=True)
                dx = dx * (max_move / nrm.clamp_min(max_move))
            inner = inner + dx
            u, g = evaluate(inner, ids)
            it += 1
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return results


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
    evaluates the endpoints). Returns a :class:`NEBResult`. This is :func:`nudged_elastic_bands`
    with one band; relax many bands with that, in one batch.
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
    n_images = check_int("n_images", n_images, 1)
    _check_options(n_images, spring, optimizer, max_iter, step, dt_max, max_move, tol)
    shape = tuple(a.shape)
    if init_path is None:
        band = linear_bands(a.unsqueeze(0), b.unsqueeze(0), n_images)
    else:
        init_path = torch.as_tensor(init_path, dtype=a.dtype, device=a.device)
        if tuple(init_path.shape) != (n_images + 2,) + shape:
            raise ValueError(f"init_path must have shape (n_images + 2, ...) = "
                             f"{(n_images + 2,) + shape}, got {tuple(init_path.shape)}")
        if not torch.isfinite(init_path).all():
            raise ValueError("init_path must be finite")
        band = torch.cat([a.unsqueeze(0), init_path[1:-1], b.unsqueeze(0)]).unsqueeze(0)
    (res,) = nudged_elastic_bands(energy, band, spring=spring, doubly_nudged=doubly_nudged,
                                  climbing=climbing, optimizer=optimizer, max_iter=max_iter,
                                  step=step, dt_max=dt_max, max_move=max_move, tol=tol,
                                  progress=progress)
    return res
