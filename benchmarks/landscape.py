"""Landscape-mapping throughput (not a test).

    .venv/bin/python benchmarks/landscape.py [--threads 1] [--trials 200] [--adelm-iter 200]
                                             [--ch5-iter 1000] [--executors inline,dask:1,dask:2]

Prints, each measured in the same run:
1. batched AD trials per second vs the same trials run one at a time, for continuous states
   (Langevin on the 1D toy landscape of Fig 4.8) and for SK spins (N = 100); and trials at 16
   alphas as one tensor (one alpha per chain) vs one tensor per alpha;
2. ADELM iterations per second on an N = 100 SK glass (T = 0.1, alpha = 1.35);
3. how many GWL sweeps it takes to first visit the lowest basins that ADELM found, next to the
   number of ADELM iterations used;
4. ADELM iterations per second on the Ch5 SK map (the ci-size config of
   ``ebmbook.experiments.sk_spin_glass``: N = 100, annealed proposals) with each executor of
   ``--executors`` (default: in-process, 1 and 2 local Dask workers; a process pool if Dask is
   not installed), next to the time of a coarse-grained job (the AD barrier matrix of 40
   representatives, ~20k trials in ~600 tasks), and whether every executor gives the same map
   and barriers under the same seed. ``--ch5-iter 0`` skips it, ``--ch5-only`` runs only it.
5. ``--image-ad`` (only that section): AD steps per second on the book's 28x28 convergent model
   (``fmnist_convergent28``, the Fig 1.1 thesis map's energy and settings: T = 1, alpha 170)
   with U in fp32 and in bf16 (``attraction_diffusion(precision=...)``), interleaved, at the
   batch of one ADELM iteration of that map (2 x 17 representatives) and at a chunk of 256.

   What to expect: an ADELM iteration is sequential (Y_n is placed against the map left by
   Y_1..Y_{n-1}), so only its own AD batch -- 2 x (number of basins) trials, 20-50 ms of work,
   at most a handful of 32-trial tasks -- can be shared out. That pays on a process pool (a
   round trip costs ~1 ms) when the workers have cores of their own, but not on Dask, whose round
   trip through the scheduler costs a few ms on an idle machine and ~20 ms on a loaded 2-core
   one. Coarse-grained jobs (barrier matrices, alpha sweeps, boundary searches) submit hundreds
   of tasks at once and scale with the workers' cores.
Timing on a shared machine is noisy; compare ratios measured in the same run.

    .venv/bin/python benchmarks/landscape.py --ch5-iter 1000 --executors inline,dask:1,dask:2

Why the SK ratio stays far below the continuous one (and below the 10x goal) on one core: the
batched SK trials already run as one compiled numba call whose flat loop goes over every trial
(``_kernels.ad_batch``), but the one-at-a-time path calls the same compiled kernel, so the only
thing batching saves is the fixed per-call cost (Python argument checks, array set-up, numba
dispatch: tens of microseconds), against a trial that itself costs about 1 microsecond per Gibbs
sweep of 100 spins times 100-300 sweeps. The expected ratio is therefore about
``(trial + overhead) / trial``, which the script measures and prints. Continuous AD reaches
100x because one torch step on a single trial costs nearly as much dispatch as on thousands.
Beating this on one core would need SIMD lanes across trials (or multi-spin coding), i.e. a
different sampler implementation with a different random stream -- not done here.
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
from ebmbook.landscape.barriers import ad_barrier_matrix
from ebmbook.landscape.gwl import gwl
from ebmbook.parallel import get_executor


def bench_continuous(n: int, seed: int) -> tuple[float, float]:
    U = ToyLandscape1D()
    kw = dict(temperature=0.01, alpha=40.0, eps=0.015, delta=0.05, improvement_limit=300,
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


def bench_mixed_alphas(n_alphas: int, n_trials: int, seed: int) -> tuple[float, float]:
    """Trials at several alphas (a metastable-boundary batch, Figs 4.11/4.12): one tensor of
    chains with one alpha per chain, against one tensor per alpha run in turn (how a task ran
    them before ``attraction_diffusion`` took per-trial alphas). Trials per second of each."""
    U = ToyLandscape1D()
    kw = dict(temperature=0.01, eps=0.015, delta=0.05, improvement_limit=300, max_steps=20000)
    alphas = 40.0 * 0.8 ** np.arange(n_alphas)
    n = n_alphas * n_trials
    s = torch.full((n, 1), 10.0, dtype=torch.float64)
    t = torch.full((n, 1), 5.1, dtype=torch.float64)
    t0 = time.perf_counter()
    attraction_diffusion(U, s, t, alpha=np.repeat(alphas, n_trials),
                         generator=torch.Generator().manual_seed(seed), **kw)
    mixed = n / (time.perf_counter() - t0)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for a in alphas:
        attraction_diffusion(U, s[:n_trials], t[:n_trials], alpha=float(a), generator=g, **kw)
    per_alpha = n / (time.perf_counter() - t0)
    return mixed, per_alpha


def bench_spins(model, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    be = SpinBackend(model, temperature=0.1, alpha=1.35, rng=rng, proposal="anneal",
                     anneal_t_end=0.1, anneal_sweeps=100)
    y, _ = be.local_modes(be.propose(2 * n))
    a, b = y[:n], y[n:]
    be.ad(a[:2], b[:2])  # compile
    kw = dict(temperature=0.1, alpha=1.35)
    t0 = time.perf_counter()
    res = attraction_diffusion_spins(model, a, b, rng=np.random.default_rng(seed + 1), **kw)
    t_batch = time.perf_counter() - t0
    g = np.random.default_rng(seed + 1)
    t0 = time.perf_counter()
    single = [attraction_diffusion_spins(model, a[i:i + 1], b[i:i + 1], rng=g, **kw)
              for i in range(n)]
    t_single = time.perf_counter() - t0
    # the same seed gives the same trials: the kernel draws trial after trial in order
    same = all(r.success[0] == res.success[i] and r.steps[0] == res.steps[i]
               and r.barrier[0] == res.barrier[i] for i, r in enumerate(single))
    # fixed cost of one call: trials that start at their target take zero sweeps
    t0 = time.perf_counter()
    for i in range(n):
        attraction_diffusion_spins(model, a[i:i + 1], a[i:i + 1], rng=g, **kw)
    overhead = (time.perf_counter() - t0) / n
    return {"batched": n / t_batch, "single": n / t_single, "identical": same,
            "overhead_us": overhead * 1e6, "trial_us": t_batch / n * 1e6,
            "sweeps": float(res.steps.mean()), "success": float(res.success.mean())}


def _dask_installed() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def bench_ch5_executors(specs: list[str], n_iter: int, seed: int) -> list[dict]:
    """ADELM on the Ch5 SK map (ci config) with each executor, timed after a warm-up (worker
    start, imports, numba cache) on another seed; same seed for every timed run."""
    from ebmbook.experiments.sk_spin_glass import Config
    cfg = Config.for_size("ci", seed=seed)
    model = SKModel.from_seed(cfg.n_spins, cfg.seed)

    def backend():
        return SpinBackend(model, temperature=cfg.temperature, alpha=cfg.alpha,
                           rng=np.random.default_rng(cfg.seed), delta=cfg.delta,
                           improvement_limit=cfg.improvement_limit, max_sweeps=cfg.max_sweeps,
                           proposal=cfg.proposal, anneal_t_start=cfg.anneal_t_start,
                           anneal_t_end=cfg.anneal_t_end, anneal_sweeps=cfg.anneal_sweeps)
    rows = []
    for spec in specs:
        t0 = time.perf_counter()
        with get_executor(spec) as ex:
            adelm(backend(), 30, seed=seed + 1, executor=ex)  # warm-up: many small tasks
            t_start = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = adelm(backend(), n_iter, consolidate_every=cfg.consolidate_every, executor=ex)
            dt = time.perf_counter() - t0
            # coarse-grained work for comparison: the AD barrier matrix of (up to) 40 reps
            k = min(40, res.n_basins)
            t0 = time.perf_counter()
            M = ad_barrier_matrix(backend(), res.reps[:k], res.rep_energies[:k],
                                  cfg.alpha * np.asarray(cfg.barrier_alpha_factors),
                                  n_repeats=cfg.barrier_repeats, executor=ex)
            dtm = time.perf_counter() - t0
        rows.append({"executor": spec, "it_per_s": n_iter / dt, "seconds": dt,
                     "startup_s": t_start, "res": res, "M": M, "barrier_s": dtm, "reps": k})
    ref, ref_M = rows[0]["res"], rows[0]["M"]
    for r in rows:
        res, M = r.pop("res"), r.pop("M")
        r["basins"] = res.n_basins
        r["same_map"] = bool(np.array_equal(res.labels, ref.labels)
                             and np.array_equal(res.reps, ref.reps)
                             and np.array_equal(res.barriers, ref.barriers, equal_nan=True)
                             and np.array_equal(M, ref_M))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--adelm-iter", type=int, default=200)
    ap.add_argument("--gwl-iter", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ch5-iter", type=int, default=1000,
                    help="ADELM iterations of the Ch5 map per executor (0: skip section 4)")
    ap.add_argument("--executors", default=None,
                    help="comma-separated executor specs for section 4 (default: "
                         "inline,dask:1,dask:2, or inline,process:1,process:2 without Dask)")
    ap.add_argument("--ch5-only", action="store_true", help="run section 4 only")
    ap.add_argument("--image-ad", action="store_true", help="run section 5 only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.image_ad:
        bench_image_ad()
        return
    if args.ch5_only:
        bench_section_4(args)
        return

    b, s = bench_continuous(args.trials, args.seed)
    print(f"AD continuous (1D toy, Langevin): batched {b:8.1f} trials/s | one at a time "
          f"{s:8.2f} trials/s | ratio {b / s:6.1f}x")
    mx, pa = bench_mixed_alphas(16, 8, args.seed)
    print(f"AD at 16 alphas x 8 trials (1D toy): one tensor {mx:8.1f} trials/s | one tensor per "
          f"alpha {pa:8.1f} trials/s | ratio {mx / pa:5.1f}x")
    model = SKModel.from_seed(100, args.seed)
    r = bench_spins(model, args.trials, args.seed)
    ceiling = (r["trial_us"] + r["overhead_us"]) / r["trial_us"]
    print(f"AD spins (SK N=100, Gibbs, numba; annealed low modes, {r['sweeps']:.0f} sweeps/trial, "
          f"{r['success']:.0%} succeed): batched {r['batched']:8.1f} trials/s | one at a time "
          f"{r['single']:8.1f} trials/s | ratio {r['batched'] / r['single']:6.2f}x | identical "
          f"results under the same seed: {r['identical']}")
    print(f"  per trial {r['trial_us']:.0f} us of compiled work vs {r['overhead_us']:.0f} us fixed "
          f"cost per call -> expected ratio about {ceiling:.2f}x on one core; the 10x goal is out "
          "of reach without SIMD across trials (see the module docstring)")

    rng = np.random.default_rng(args.seed)
    be = SpinBackend(model, temperature=0.1, alpha=1.35, rng=rng, proposal="anneal",
                     anneal_t_end=0.1, anneal_sweeps=100)
    adelm(be, 3)  # compile
    t0 = time.perf_counter()
    res = adelm(be, args.adelm_iter)
    dt = time.perf_counter() - t0
    print(f"ADELM (SK N=100, T=0.1, alpha=1.35, annealed proposals): {args.adelm_iter / dt:.1f} iterations/s over "
          f"{args.adelm_iter} iterations, {res.n_basins} basins")

    t0 = time.perf_counter()
    g = gwl(model, n_iter=args.gwl_iter, rng=rng)  # random start, not an ADELM mode
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

    if args.ch5_iter > 0:
        bench_section_4(args)


def bench_section_4(args) -> None:
    """Section 4: ADELM iterations/s on the Ch5 SK map per executor, and same-map check."""
    specs = (args.executors.split(",") if args.executors else
             ["inline", "dask:1", "dask:2"] if _dask_installed()
             else ["inline", "process:1", "process:2"])
    rows = bench_ch5_executors(specs, args.ch5_iter, args.seed)
    for r in rows:
        print(f"ADELM on the Ch5 SK map (ci config, seed {args.seed}, {args.ch5_iter} "
              f"iterations) with executor {r['executor']!r}: {r['it_per_s']:.1f} iterations/s "
              f"({r['seconds']:.1f} s after {r['startup_s']:.1f} s start-up and warm-up), "
              f"{r['basins']} basins; AD barrier matrix of {r['reps']} reps in "
              f"{r['barrier_s']:.1f} s; same map and barriers as {rows[0]['executor']!r}: "
              f"{r['same_map']}")


def bench_image_ad(steps: int = 50, repeats: int = 3) -> dict:
    """Section 5: AD steps per second on the 28x28 convergent model, fp32 against bf16."""
    from ebmbook import registry
    from ebmbook.artifacts import book_model
    art, _ = book_model("fmnist_convergent28", registry.COMMITTED_SIZE, progress=False)
    U, eps = art.model.energy, art.model.eps
    data = art.spec.load_data("test")[:512]
    out = {}
    for batch in (34, 256):
        starts, targets = data[:batch], data[batch:2 * batch].flip(0)
        best = {}
        for _ in range(repeats):
            for precision in ("fp32", "bf16"):
                t0 = time.perf_counter()
                # delta 0 and no stall rule: every trial runs all the steps
                attraction_diffusion(U, starts, targets, temperature=1.0, alpha=170.0, eps=eps,
                                     generator=torch.Generator().manual_seed(0), delta=0.0,
                                     improvement_limit=steps + 1, max_steps=steps,
                                     precision=precision)
                rate = steps * batch / (time.perf_counter() - t0)
                best[precision] = max(best.get(precision, 0.0), rate)
        out[batch] = best["bf16"] / best["fp32"]
        print(f"AD on fmnist_convergent28, batch {batch:4d}: fp32 {best['fp32']:8.0f} chain "
              f"steps/s | bf16 {best['bf16']:8.0f} chain steps/s | speed-up {out[batch]:5.2f}x",
              flush=True)
    return out


if __name__ == "__main__":
    main()
