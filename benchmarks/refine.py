"""Batched DNEB refinement against one band at a time (not a test).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/refine.py [--bands 6] [--images 16]
        [--wells-iter 2000] [--image-iter 100] [--image-size 28] [--repeats 3] [--device cpu]

Prints, each measured in the same run (the two ways alternate, the best of ``--repeats`` kept;
CPU seconds of this process on a CPU, wall seconds on a GPU):

1. **Gaussian wells** (4 isotropic wells in 6-D, fp64, the known-saddle energy of the tests):
   the 6 pairs' AD-like paths (a straight segment between two minima with a smooth detour)
   refined by :func:`ebmbook.landscape.saddles.refine_paths` (all bands in one batch, then the
   per-state saddle checks) against :func:`refine_path` called once per path, and the relaxation
   alone (:func:`nudged_elastic_bands` against :func:`nudged_elastic_band` in a loop). The
   bands run until they converge (``tol``) or ``--wells-iter``; each stops on its own in the
   batch. Both ways give the same numbers bit for bit on this energy (checked and printed).
2. **A DeepFRAME image energy** (random weights, ``1 x S x S`` images, fp32): ``--bands`` bands
   of ``--images`` images between random images, relaxed ``--image-iter`` steps (``tol=0``, so
   both ways do the same number of steps), batched against one at a time. The largest
   difference of the barriers is printed (convolution kernels may pick another algorithm for
   another batch size, so bits may differ there).

The ratio printed is ``sequential seconds / batched seconds`` (above 1: the batch is faster).
What to expect: on a CPU a band of 16 small states costs mostly per-call overhead (Python, torch
dispatch, autograd set-up), which the batch pays once for all bands, so the wells ratio is near
the number of bands; a convolutional energy on one CPU thread is already compute-bound at 16
images, so its ratio is small there and grows on a GPU, where 16 images leave the device idle.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from ebmbook.energies.potentials import DeepFRAME
from ebmbook.landscape.neb import linear_bands, nudged_elastic_band, nudged_elastic_bands
from ebmbook.landscape.saddles import refine_path, refine_paths, resample_path

CENTRES = [[0, 0, 0, 0, 0, 0], [2.4, 0.5, 0, 0.3, 0, 0], [0.4, 2.6, 0.5, 0, 0, 0.2],
           [2.2, 2.5, -0.6, 0, 0.4, 0]]
WEIGHTS = [1.0, 0.6, 0.8, 0.5]


class Wells(torch.nn.Module):
    """U(x) = -log sum_k w_k exp(-|x - c_k|^2 / (2 sigma^2)), fp64."""

    def __init__(self, sigma: float = 0.9):
        super().__init__()
        self.register_buffer("c", torch.tensor(CENTRES, dtype=torch.float64))
        self.register_buffer("logw", torch.log(torch.tensor(WEIGHTS, dtype=torch.float64)))
        self.sigma = sigma

    def forward(self, x):
        d2 = ((x.unsqueeze(1) - self.c) ** 2).sum(-1)
        return -torch.logsumexp(self.logw - d2 / (2 * self.sigma ** 2), dim=1)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _best(fns: dict, repeats: int, device: str) -> tuple[dict, dict]:
    """Best time of each function over ``repeats`` alternating rounds, and its last output: the
    process's CPU time on a CPU (robust to other jobs sharing the cores; with ``--threads 1`` it
    is the compute time), wall time on a GPU."""
    clock = time.perf_counter if device.startswith("cuda") else time.process_time
    times = {k: float("inf") for k in fns}
    outs = {}
    for _ in range(repeats):
        for k, fn in fns.items():
            _sync(device)
            t = clock()
            outs[k] = fn()
            _sync(device)
            times[k] = min(times[k], clock() - t)
    return times, outs


def _minimum(U, x0, steps=2000, rate=0.05):
    x = x0.clone()
    for _ in range(steps):
        xg = x.unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(U(xg).sum(), xg)
        x = x - rate * g.squeeze(0)
    return x.detach()


def bench_wells(args) -> None:
    U = Wells().to(args.device)
    c = U.c
    minima = [_minimum(U, c[k]) for k in range(len(c))]
    rng = np.random.default_rng(0)
    paths = []
    for a, b in itertools.combinations(range(len(c)), 2):
        t = torch.linspace(0, 1, 30, dtype=torch.float64, device=args.device).unsqueeze(1)
        bend = torch.as_tensor(rng.normal(size=c.shape[1]), device=args.device)
        paths.append(minima[a] + t * (minima[b] - minima[a]) + 0.2 * torch.sin(np.pi * t) * bend)
    n = args.images
    opts = dict(n_images=n, max_iter=args.wells_iter, tol=1e-6, grad_tol=1e-4)
    times, outs = _best({"sequential": lambda: [refine_path(U, p, **opts) for p in paths],
                         "batched": lambda: refine_paths(U, paths, **opts)},
                        args.repeats, args.device)
    same = all(torch.equal(r.band.path, q.band.path) and r.barrier == q.barrier
               for r, q in zip(outs["sequential"], outs["batched"]))
    its = [r.band.iterations for r in outs["batched"]]
    print(f"Gaussian wells, 4 wells in 6-D, {len(paths)} bands of {n} images, fp64, "
          f"{args.device}; band iterations {its}; {sum(r.verified for r in outs['batched'])} "
          f"verified saddles")
    print(f"  refine (relax + check)  sequential {times['sequential']:.3f} s   batched "
          f"{times['batched']:.3f} s   ratio {times['sequential'] / times['batched']:.2f}x   "
          f"identical results: {same}")
    bands = torch.stack([resample_path(p, n + 2) for p in paths])
    nopts = dict(climbing=True, max_iter=args.wells_iter, tol=1e-6)
    times, outs = _best({"sequential": lambda: [
        nudged_elastic_band(U, b[0], b[-1], n_images=n, init_path=b, **nopts) for b in bands],
        "batched": lambda: nudged_elastic_bands(U, bands, **nopts)}, args.repeats, args.device)
    same = all(torch.equal(r.path, q.path) for r, q in zip(outs["sequential"], outs["batched"]))
    print(f"  relax only              sequential {times['sequential']:.3f} s   batched "
          f"{times['batched']:.3f} s   ratio {times['sequential'] / times['batched']:.2f}x   "
          f"identical results: {same}")


def bench_image(args) -> None:
    torch.manual_seed(0)
    S = args.image_size
    net = DeepFRAME(1, S, width=args.width, n_down=args.n_down).to(args.device)
    g = torch.Generator().manual_seed(1)
    a = torch.randn((args.bands, 1, S, S), generator=g).to(args.device)
    b = torch.randn((args.bands, 1, S, S), generator=g).to(args.device)
    n = args.images
    bands = linear_bands(a, b, n)
    opts = dict(climbing=True, max_iter=args.image_iter, tol=0.0, step=1e-3, max_move=0.05)
    times, outs = _best({"sequential": lambda: [
        nudged_elastic_band(net, x[0], x[-1], n_images=n, init_path=x, **opts) for x in bands],
        "batched": lambda: nudged_elastic_bands(net, bands, **opts)}, args.repeats, args.device)
    diff = max(abs(r.barrier - q.barrier) for r, q in zip(outs["sequential"], outs["batched"]))
    scale = max(abs(r.barrier) for r in outs["batched"])
    print(f"DeepFRAME 1x{S}x{S} (width {args.width}, {args.n_down} stride-2 layers, random "
          f"weights), {args.bands} bands of {n} images, {args.image_iter} steps, fp32, "
          f"{args.device}")
    print(f"  relax                   sequential {times['sequential']:.3f} s   batched "
          f"{times['batched']:.3f} s   ratio {times['sequential'] / times['batched']:.2f}x   "
          f"max |barrier difference| {diff:.3g} (barriers up to {scale:.3g})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bands", type=int, default=6, help="image bands (the wells have 6 pairs)")
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--wells-iter", type=int, default=2000)
    p.add_argument("--image-iter", type=int, default=100)
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--n-down", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    bench_wells(args)
    bench_image(args)


if __name__ == "__main__":
    main()
