"""Landscape-mapping throughput (not a test).

    .venv/bin/python benchmarks/landscape.py [--threads 1] [--trials 200] [--adelm-iter 200]

Prints, each measured in the same run:
1. batched AD trials per second vs the same trials run one at a time, for continuous states
   (Langevin on the 1D toy landscape of Fig 4.8) and for SK spins (N = 100);
2. ADELM iterations per second on an N = 100 SK glass (T = 0.1, alpha = 1.35);
3. how many GWL sweeps it takes to first visit the lowest basins that ADELM found, next to the
   number of ADELM iterations used.
Timing on a shared machine is noisy; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ebmbook.energies.landscapes import ToyLandscape1D
from ebmbook.energies.spin import SKModel
from ebmbook.landscape.ad import attraction_diffusion, attraction_diffusion_spins
from ebmbook.landscape.adelm import SpinBackend, adelm
from ebmbook.landscape.gwl import gwl


def bench_continuous(n: int, seed: int) -> tuple[float, float]:
    U = ToyLandscape1D()
    kw = dict(temperature=0.01, alpha=40.0, step_size=0.015, delta=0.05, improvement_limit=300,
              max_steps=20000)
    s = torch.full((n, 1), 10.0, dtype=torch.float64)
    t = torch.full((n, 1), 5.1, dtype=torch.float64)
    t0 = time.perf_counter()
    attraction_diffusion(U, s, t, generator=torch.Generator().manual_seed(seed), **kw)
    batched = n / (time.perf_counter() - t0)
    m = max(4, n // 20)  # one-at-a-time is slow: time a subset
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for i in range(m):
        attraction_diffusion(U, s[i:i + 1], t[i:i + 1], generator=g, **kw)
    single = m / (time.perf_counter() - t0)
    return batched, single


def bench_spins(model, n: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    be = SpinBackend(model, temperature=0.1, alpha=1.35, rng=rng)
    y, _ = be.local_modes(be.propose(2 * n))
    a, b = y[:n], y[n:]
    be.ad(a[:2], b[:2])  # compile
    t0 = time.perf_counter()
    attraction_diffusion_spins(model, a, b, temperature=0.1, alpha=1.35, rng=rng)
    batched = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(n):
        attraction_diffusion_spins(model, a[i:i + 1], b[i:i + 1], temperature=0.1, alpha=1.35,
                                   rng=rng)
    single = n / (time.perf_counter() - t0)
    return batched, single


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--adelm-iter", type=int, default=200)
    ap.add_argument("--gwl-iter", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    b, s = bench_continuous(args.trials, args.seed)
    print(f"AD continuous (1D toy, Langevin): batched {b:8.1f} trials/s | one at a time "
          f"{s:8.2f} trials/s | ratio {b / s:6.1f}x")
    model = SKModel.from_seed(100, args.seed)
    b, s = bench_spins(model, args.trials, args.seed)
    print(f"AD spins (SK N=100, Gibbs, numba): batched {b:8.1f} trials/s | one at a time "
          f"{s:8.1f} trials/s | ratio {b / s:6.2f}x  (the numba kernel has little per-call "
          "overhead, so batching mostly saves Python dispatch)")

    rng = np.random.default_rng(args.seed)
    be = SpinBackend(model, temperature=0.1, alpha=1.35, rng=rng)
    adelm(be, 3)  # compile
    t0 = time.perf_counter()
    res = adelm(be, args.adelm_iter, consolidate_every=100)
    dt = time.perf_counter() - t0
    print(f"ADELM (SK N=100, T=0.1, alpha=1.35): {args.adelm_iter / dt:.1f} iterations/s over "
          f"{args.adelm_iter} iterations, {res.n_basins} basins")

    t0 = time.perf_counter()
    g = gwl(model, n_iter=args.gwl_iter, rng=rng, start=res.reps[:1])
    gdt = time.perf_counter() - t0
    lookup = {row.tobytes(): k for k, row in enumerate(g.min_states)}
    order = np.argsort(res.rep_energies)
    for k in (1, 5, 10):
        idx = [lookup.get(res.reps[i].tobytes(), -1) for i in order[:k]]
        if min(idx) < 0:
            print(f"GWL: {args.gwl_iter / 100:.0f} sweeps did not visit all of ADELM's {k} "
                  f"lowest basins (found {sum(i >= 0 for i in idx)})")
        else:
            sweeps = max(g.first_seen[i] for i in idx) / model.n
            print(f"GWL: {sweeps:.0f} sweeps to visit ADELM's {k} lowest basins "
                  f"(ADELM used {args.adelm_iter} iterations)")
    print(f"GWL speed: {args.gwl_iter / model.n / gdt:.0f} sweeps/s, {g.n_basins} basins visited")


if __name__ == "__main__":
    main()
