"""Saddles from paths: refine a path between two minima into a verified index-1 saddle.

Attraction-Diffusion gives an upper bound on the barrier between two minima: the highest
energy its chain met on the way (Sec 4.3). The thesis ends Sec 5.2.2.2 by proposing that AD
paths should start a DNEB relaxation, which it could then only start from the straight line.
This module does that for any path, and checks what it finds:

* :func:`resample_path` places ``n`` states evenly in arc length along a piecewise-linear path
  (an AD chain's recorded states, a line, a band);
* :func:`refine_paths` relaxes the bands through many paths as one batch with the package's
  DNEB and a climbing image (:func:`ebmbook.landscape.neb.nudged_elastic_bands`), then verifies
  each climbing image; :func:`refine_path` is its case of one path;
* :func:`check_saddle` verifies a state: its gradient norm is below ``grad_tol`` and its
  Hessian has exactly one negative eigenvalue among the lowest few. The eigenvalues come from
  Lanczos iterations (:func:`lowest_hessian_eigenvalues`) on Hessian-vector products by double
  backward, so no Hessian is ever formed: an image-space Hessian of 784 x 784 would be cheap,
  but a 64 x 64 x 3 one would not;
* :func:`hessian_vector_product` is that product;
* :func:`refine_barriers` does it for a whole map: for every pair of basins that the
  disconnectivity graph merges, the lowest successful AD path between them is refined, and a
  verified saddle that is no higher than the AD bound replaces it in the barrier matrix. All
  bands of a call relax as one batch on the energy's device, or in tasks on an executor.

The energy must be twice differentiable in the state (smooth activations, or piecewise-linear
networks where the second derivative is zero almost everywhere, whose Hessian is then that of
the parts that are smooth, e.g. a latent prior).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..sampling.langevin import frozen_parameters
from .neb import NEBResult, nudged_elastic_bands

Energy = Callable[[torch.Tensor], torch.Tensor]


def hessian_vector_product(energy: Energy, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``H(x) v`` for one state ``x`` (no batch dimension) and a direction ``v`` of its shape,
    by differentiating the product of ``grad U(x)`` and ``v`` once more (double backward)."""
    with torch.enable_grad():
        xg = x.detach().unsqueeze(0).requires_grad_(True)
        u = energy(xg).sum()
        (g,) = torch.autograd.grad(u, xg, create_graph=True)
        (hv,) = torch.autograd.grad((g * v.unsqueeze(0)).sum(), xg)
    return hv.squeeze(0).detach()


def lowest_hessian_eigenvalues(energy: Energy, x: torch.Tensor, k: int = 2, *,
                               tol: float = 1e-6, max_iter: int | None = None,
                               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest eigenvalues of the Hessian of U at ``x`` (ascending) and their
    eigenvectors ``(k, *x.shape)``, by Lanczos iterations (``scipy.sparse.linalg.eigsh``) on
    :func:`hessian_vector_product`; the Hessian is never formed.

    Where the Hessian is zero (a piecewise-linear network, e.g. LeakyReLU, whose second
    derivative vanishes almost everywhere; ARPACK cannot start on a zero operator) the
    eigenvalues are ``k`` zeros and the eigenvectors an orthonormal set drawn from ``seed``."""
    from scipy.sparse.linalg import LinearOperator, eigsh
    shape, n = tuple(x.shape), x.numel()
    if not 1 <= k < n:
        raise ValueError(f"k = {k} eigenvalues need 1 <= k < the state's size {n}")
    dtype = x.dtype

    def matvec(v: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(v).reshape(shape), dtype=dtype, device=x.device)
        return hessian_vector_product(energy, x, t).reshape(-1).double().cpu().numpy()

    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).normal(size=n)
    with frozen_parameters(energy):
        if not np.any(matvec(v0)):     # H v0 = 0 exactly: a zero Hessian (v0 is generic)
            q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, k)))
            return np.zeros(k), q.T.reshape((k,) + shape)
        vals, vecs = eigsh(op, k=k, which="SA", tol=tol, v0=v0,
                           maxiter=max_iter or max(1000, 20 * n))
    order = np.argsort(vals)
    return vals[order], vecs[:, order].T.reshape((k,) + shape)


@dataclass
class SaddleCheck:
    """Whether a state is a verified index-1 saddle: ``grad_norm <= grad_tol`` and exactly one
    negative eigenvalue among ``eigenvalues`` (the lowest few of the Hessian, ascending)."""

    grad_norm: float
    eigenvalues: np.ndarray
    index: int                  # negative eigenvalues among those computed
    grad_tol: float
    ok: bool


def check_saddle(energy: Energy, x: torch.Tensor, *, grad_tol: float = 1e-3, k: int = 2,
                 eig_tol: float = 1e-6, zero: float = 0.0, seed: int = 0) -> SaddleCheck:
    """Verify that ``x`` (one state) is an index-1 saddle of U: the gradient norm is at most
    ``grad_tol`` and, of the ``k`` lowest Hessian eigenvalues, exactly one is below ``-zero``
    while the next is above it. ``k >= 2`` so that an index-2 point is told from an index-1 one.
    """
    if k < 2:
        raise ValueError("k must be >= 2: one eigenvalue cannot tell index 1 from index 2")
    with torch.enable_grad(), frozen_parameters(energy):
        xg = x.detach().unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(energy(xg).sum(), xg)
    grad_norm = float(g.double().norm())
    vals, _ = lowest_hessian_eigenvalues(energy, x, k, tol=eig_tol, seed=seed)
    index = int((vals < -zero).sum())
    ok = grad_norm <= grad_tol and index == 1 and bool(vals[1] > zero)
    return SaddleCheck(grad_norm=grad_norm, eigenvalues=vals, index=index, grad_tol=grad_tol,
                       ok=ok)


def resample_path(path: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` states placed evenly in arc length along the piecewise-linear ``path``
    ``(m, ...)``, its first and last states included."""
    if path.dim() < 2 or path.shape[0] < 2:
        raise ValueError(f"a path needs at least two states (m, ...), got {tuple(path.shape)}")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    flat = path.reshape(path.shape[0], -1)
    seg = (flat[1:] - flat[:-1]).norm(dim=1)
    s = torch.cat([seg.new_zeros(1), seg.cumsum(0)])
    if float(s[-1]) == 0.0:
        return path[:1].expand((n,) + tuple(path.shape[1:])).clone()
    targets = torch.linspace(0, float(s[-1]), n, dtype=s.dtype, device=s.device)
    i = torch.searchsorted(s, targets, right=True).clamp(1, len(s) - 1) - 1
    w = ((targets - s[i]) / seg[i].clamp_min(torch.finfo(s.dtype).tiny)).clamp(0, 1)
    out = flat[i] + w.unsqueeze(1) * (flat[i + 1] - flat[i])
    out[0], out[-1] = flat[0], flat[-1]
    return out.reshape((n,) + tuple(path.shape[1:]))


@dataclass
class RefinedPath:
    """A path relaxed to its saddle: the barrier (the climbing image's energy), the saddle
    state, its :class:`SaddleCheck`, and the relaxed band."""

    barrier: float
    saddle: torch.Tensor
    check: SaddleCheck
    band: NEBResult

    @property
    def verified(self) -> bool:
        """The climbing image passed :func:`check_saddle` (whether or not the rest of the band
        met its force tolerance: DNEB's perpendicular spring term can keep a curved band
        hovering near the path while its climbing image sits on the saddle)."""
        return self.check.ok


def polish_saddle(energy: Energy, x: torch.Tensor, *, n_steps: int = 50, rate: float = 0.1,
                  max_move: float = 0.05, grad_tol: float = 1e-3) -> torch.Tensor:
    """Minimum-mode following from ``x`` toward an index-1 saddle: each step moves along
    ``-g + 2 (g·v) v``, where ``v`` is the Hessian's lowest eigenvector (Lanczos on
    Hessian-vector products), so it climbs along the softest direction and descends along all
    others (the dimer method's force, with the exact lowest mode). Steps are ``rate`` times the
    force, capped at ``max_move``; it stops once the gradient norm is at most ``grad_tol``."""
    x = x.detach().clone()
    for _ in range(n_steps):
        with torch.enable_grad(), frozen_parameters(energy):
            xg = x.unsqueeze(0).requires_grad_(True)
            (g,) = torch.autograd.grad(energy(xg).sum(), xg)
        g = g.squeeze(0).detach()
        if float(g.double().norm()) <= grad_tol:
            break
        _, vecs = lowest_hessian_eigenvalues(energy, x, k=1)
        v = torch.as_tensor(vecs[0], dtype=x.dtype, device=x.device)
        v = v / v.norm()
        force = -g + 2 * (g * v).sum() * v
        move = rate * force
        norm = float(move.norm())
        if norm > max_move:
            move = move * (max_move / norm)
        x = x + move
    return x


def refine_paths(energy: Energy, paths: Sequence[torch.Tensor | None], *, n_images: int = 16,
                 spring: float = 1.0, climbing: bool = True, max_iter: int = 2000,
                 step: float = 0.01, max_move: float | None = None, tol: float = 1e-4,
                 grad_tol: float = 1e-3, k: int = 2, polish_steps: int = 0,
                 polish_rate: float = 0.1, progress: bool = False) -> list[RefinedPath | None]:
    """:func:`refine_path` for many paths at once: each path (``(m_i, ...)``, from one minimum to
    another; the lengths ``m_i`` may differ, the state shape, dtype and device may not) is
    resampled to ``n_images + 2`` states evenly in arc length (:func:`resample_path`), all bands
    relax as one batch (:func:`~ebmbook.landscape.neb.nudged_elastic_bands`: one energy call per
    iteration over the images of every band still moving, each band stopping on its own), then
    each climbing image is verified (:func:`check_saddle`) and, with ``polish_steps`` > 0,
    polished where it fails (:func:`polish_saddle`), one state at a time.

    Returns one :class:`RefinedPath` per path, in order; ``None`` for a path given as ``None``.
    A band's result is the one :func:`refine_path` gives for its path alone (exactly so for an
    energy that evaluates each state independently of its batch; see
    :func:`~ebmbook.landscape.neb.nudged_elastic_bands`)."""
    live = [i for i, p in enumerate(paths) if p is not None]
    out: list[RefinedPath | None] = [None] * len(paths)
    if not live:
        return out
    bands = [resample_path(paths[i].detach(), n_images + 2) for i in live]
    first = bands[0]
    for i, band in zip(live, bands):
        if band.shape != first.shape or band.dtype != first.dtype or band.device != first.device:
            raise ValueError(f"every path must have states of one shape, dtype and device: path "
                             f"{i} has {tuple(band.shape[1:])} {band.dtype} on {band.device}, "
                             f"path {live[0]} {tuple(first.shape[1:])} {first.dtype} on "
                             f"{first.device}")
    nebs = nudged_elastic_bands(energy, torch.stack(bands), spring=spring, climbing=climbing,
                                max_iter=max_iter, step=step, max_move=max_move, tol=tol,
                                progress=progress)
    for i, neb in zip(live, nebs):
        out[i] = _verify(energy, neb, grad_tol=grad_tol, k=k, polish_steps=polish_steps,
                         polish_rate=polish_rate)
    return out


def _verify(energy: Energy, neb: NEBResult, *, grad_tol: float, k: int, polish_steps: int,
            polish_rate: float) -> RefinedPath:
    """Check a relaxed band's climbing image; polish it where it fails and ``polish_steps``."""
    saddle, barrier = neb.saddle, neb.barrier
    check = check_saddle(energy, saddle, grad_tol=grad_tol, k=k)
    if polish_steps and not check.ok:
        polished = polish_saddle(energy, saddle, n_steps=polish_steps, rate=polish_rate,
                                 grad_tol=grad_tol)
        again = check_saddle(energy, polished, grad_tol=grad_tol, k=k)
        if again.ok:
            with torch.no_grad(), frozen_parameters(energy):
                barrier = float(energy(polished.unsqueeze(0)).reshape(-1)[0])
            saddle, check = polished, again
    return RefinedPath(barrier=barrier, saddle=saddle, check=check, band=neb)


def refine_path(energy: Energy, path: torch.Tensor, *, n_images: int = 16,
                spring: float = 1.0, climbing: bool = True, max_iter: int = 2000,
                step: float = 0.01, max_move: float | None = None, tol: float = 1e-4,
                grad_tol: float = 1e-3, k: int = 2, polish_steps: int = 0,
                polish_rate: float = 0.1, progress: bool = False) -> RefinedPath:
    """Relax the band through ``path`` (``(m, ...)``, from one minimum to another) with DNEB and,
    by default, a climbing image, then verify the climbing image with :func:`check_saddle`.

    The band starts from ``n_images + 2`` states resampled evenly in arc length along ``path``
    (:func:`resample_path`); its endpoints stay fixed. ``tol`` is DNEB's force tolerance,
    ``grad_tol`` the gradient norm a verified saddle may have, ``max_move`` an optional cap on an
    image's move per step. With ``polish_steps`` > 0 a climbing image that fails the check is
    polished by :func:`polish_saddle`; the polished state replaces it only if it passes. This is
    :func:`refine_paths` with one path; refine many with that, as one batch."""
    (r,) = refine_paths(energy, [path], n_images=n_images, spring=spring, climbing=climbing,
                        max_iter=max_iter, step=step, max_move=max_move, tol=tol,
                        grad_tol=grad_tol, k=k, polish_steps=polish_steps,
                        polish_rate=polish_rate, progress=progress)
    return r


def merge_pairs(barriers: np.ndarray, dg) -> list[tuple[int, int]]:
    """For each merge of the disconnectivity graph ``dg`` of ``barriers``, the pair of basins
    ``(a, b)``, ``a < b``, whose barrier sets it: the lowest barrier between a leaf under one
    child and a leaf under the other."""
    leaves: dict[int, list[int]] = {i: [i] for i in range(dg.n)}
    pairs = []
    for k, (ca, cb, _) in enumerate(dg.merges):
        la, lb = leaves[int(ca)], leaves[int(cb)]
        sub = barriers[np.ix_(la, lb)]
        i, j = np.unravel_index(int(np.argmin(sub)), sub.shape)
        a, b = sorted((la[i], lb[j]))
        pairs.append((a, b))
        leaves[dg.n + k] = la + lb
    return pairs


def _refine_task(energy: Energy, paths: list[torch.Tensor], batch: bool,
                 options: dict) -> list[RefinedPath]:
    """One task of :func:`refine_barriers`: its paths refined as one batch (``batch``) or one
    after another. Top-level, so that a process pool or Dask can pickle it."""
    if batch:
        return refine_paths(energy, paths, **options)
    return [refine_paths(energy, [p], **options)[0] for p in paths]


def refine_barriers(emap, *, pairs: list[tuple[int, int]] | None = None, seed: Any = 0,
                    n_trials: int = 4, every: int = 5, n_images: int = 16,
                    climbing: bool = True, max_iter: int = 2000, step: float = 0.01,
                    tol: float = 1e-4, grad_tol: float = 1e-3, slack: float = 1e-6,
                    polish_steps: int = 50, executor: Any = None, batch: bool = True,
                    chunk_size: int | None = None, progress: bool = False):
    """The map ``emap`` (an :class:`~ebmbook.landscape.mapping.EnergyMap`) with its AD barriers
    refined to verified saddles where possible (issue 26; the proposal that ends Sec 5.2.2.2).

    For every pair of basins the DG merges (:func:`merge_pairs`; or the given ``pairs``), the
    first successful AD path between their representatives (:meth:`EnergyMap.ad_path`, states
    every ``every`` steps, pair ``k`` seeded ``(seed, k)``) starts a DNEB band with a climbing
    image. The AD paths are found first, in-process; then their bands relax together
    (:func:`refine_paths`: one batch, one energy call per iteration; a climbing image that fails
    its check is polished by up to ``polish_steps`` steps of :func:`polish_saddle`). Where it
    passes :func:`check_saddle` and its energy is at most the AD barrier (+ ``slack``), that
    energy replaces the barrier and the pair's kind is ``"saddle"``; otherwise (no AD path, a
    failed check, or a saddle above the bound) the AD upper bound stays (``"ad_bound"``). The DG
    is rebuilt from the refined matrix. Returns a new EnergyMap with ``saddles`` and
    ``barrier_kind``; ``timings["refine"]`` holds the seconds spent.

    executor:   where the relaxations run, as for :func:`~ebmbook.landscape.mapping.map_energy`
                (None: in-process; ``"process:N"``; ``"dask:..."``; an Executor). The bands are
                cut into tasks of ``chunk_size`` bands (None: all in one task, one batch), each
                task a call of a top-level function on the energy (which must then be
                picklable) and its paths; results are gathered in order. The relaxation draws
                nothing at random, so the executor does not change the result; the cut does
                not either for an energy that evaluates each state independently of its batch.
    batch:      False relaxes the bands of a task one after another (the sequential reference).

    Barriers are in the units of ``emap.barriers``, which must be those of ``emap.energy`` (a
    map whose matrix is rescaled, e.g. to data sds, is refined in its energy's own units by
    passing a map with an unscaled matrix).
    """
    import dataclasses

    from .._config import check_int
    from .._timing import Stopwatch
    from ..parallel import map_tasks, validate_executor_spec
    from .dgraph import disconnectivity_graph
    validate_executor_spec(executor)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, 1)
    clock = Stopwatch()
    B = np.array(emap.barriers, dtype=float, copy=True)
    todo = merge_pairs(B, emap.dg) if pairs is None else [tuple(sorted(p)) for p in pairs]
    it = todo
    if progress:
        from .._progress import tqdm
        it = tqdm(todo, desc="AD paths", leave=False)
    paths = []
    for k, (a, b) in enumerate(it):
        path = emap.ad_path(a, b, seed=(seed, k), n_trials=n_trials, every=every)
        paths.append(None if path is None or len(path) < 2 else path.detach())
    live = [i for i, p in enumerate(paths) if p is not None]
    size = chunk_size or max(len(live), 1)
    chunks = [live[lo:lo + size] for lo in range(0, len(live), size)]
    options = dict(n_images=n_images, climbing=climbing, max_iter=max_iter, step=step, tol=tol,
                   grad_tol=grad_tol, polish_steps=polish_steps)
    done = map_tasks(executor, _refine_task,
                     [(emap.energy, [paths[i] for i in c], bool(batch), options) for c in chunks],
                     desc="refine" if progress else None)
    refined = dict(zip(live, (r for part in done for r in part)))
    saddles, kinds, records = {}, {}, {}
    for k, (a, b) in enumerate(todo):
        kinds[(a, b)] = "ad_bound"
        r = records[(a, b)] = refined.get(k)
        if r is not None and r.verified and r.barrier <= B[a, b] + slack:
            B[a, b] = B[b, a] = r.barrier
            saddles[(a, b)] = r.saddle
            kinds[(a, b)] = "saddle"
    dg = disconnectivity_graph(B, counts=emap.adelm.counts)
    timings = {**emap.timings, "refine": clock.stop()}
    return dataclasses.replace(emap, barriers=B, dg=dg, saddles=saddles, barrier_kind=kinds,
                               refinements=records, timings=timings)
