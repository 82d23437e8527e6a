"""Langevin throughput: the batched sampler vs a naive one-chain-at-a-time loop, in one run.

    .venv/bin/python benchmarks/langevin.py [--threads 1] [--steps 20]

Prints steps per second (one step = one update of every chain in the batch) for the DeepFRAME
net on 28x28 images (batch 100) and the toy MLP (batch 100), and the speed-up ratio of the
batched sampler over the naive reference. Timing on a shared machine is noisy; compare the
ratio, measured in the same run, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import time

import torch

from ebmbook.energies.potentials import DeepFRAME, MLPPotential, RescaledPotential
from ebmbook.sampling.langevin import langevin


def naive_langevin(energy, x, n_steps, eps, generator):
    """Reference: each chain stepped on its own, gradient by autograd per chain."""
    out = []
    for i in range(x.shape[0]):
        xi = x[i:i + 1].clone()
        for _ in range(n_steps):
            xi.requires_grad_(True)
            (g,) = torch.autograd.grad(energy(xi).sum(), xi)
            xi = (xi - eps ** 2 / 2 * g + eps * torch.randn(xi.shape, generator=generator)).detach()
        out.append(xi)
    return torch.cat(out)


def rate(fn, steps, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return steps / best


def bench(name, energy, shape, steps, naive_steps):
    x = torch.rand(shape) * 2 - 1
    g = torch.Generator().manual_seed(0)
    eps = 0.01
    batched = rate(lambda: langevin(energy, x, n_steps=steps, step_size=eps, generator=g), steps)
    naive = rate(lambda: naive_langevin(energy, x, naive_steps, eps, g), naive_steps, repeats=1)
    print(f"{name:<28s} batched {batched:9.1f} steps/s   naive {naive:8.2f} steps/s   "
          f"ratio {batched / naive:7.1f}x   ({shape[0]} chains)")
    return batched / naive


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {a.threads} thread(s)")
    frame = RescaledPotential(DeepFRAME(channels=1, image_size=28), eps=0.01)
    bench("DeepFRAME 28x28, batch 100", frame, (100, 1, 28, 28), a.steps, max(1, a.steps // 10))
    mlp = RescaledPotential(MLPPotential(), eps=0.125)
    bench("toy MLP 2D, batch 100", mlp, (100, 2), 10 * a.steps, a.steps)


if __name__ == "__main__":
    main()
