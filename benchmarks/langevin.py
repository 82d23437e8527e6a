"""Langevin throughput: ebmbook's sampler against the authors' style of loop, in one run.

    .venv/bin/python benchmarks/langevin.py [--threads 1] [--steps 20] [--repeats 5]

The reference is the loop the authors' public scripts use: one batch whose states require grad,
the network's parameters requiring grad as in training, and each step
``grad = autograd.grad(f(x).sum(), [x])`` followed by the update; for the ConvNet it runs on the
same architecture and weights built the standard way (NCHW ``nn.Sequential``). ebmbook's
:func:`ebmbook.sampling.langevin.langevin` runs the same chains with the same noise. For each net
the script prints milliseconds per step of both, their ratio (the speed-up, to be >= 2), and
what one step costs as a fraction of one eager forward + backward pass of the network (the
cost of one learning step's loss gradient at the same batch).

Timing on a shared machine is noisy: the two loops are interleaved and the best of
``--repeats`` is kept, and only the ratio measured in the same run is meaningful.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from ebmbook.energies.potentials import DeepFRAME, MLPPotential, RescaledPotential
from ebmbook.sampling.langevin import langevin


class AuthorsNet(torch.nn.Module):
    """The same network and weights as a DeepFRAME, built the standard way the authors' scripts
    build theirs: an ``nn.Sequential`` of convolutions in PyTorch's default (NCHW) layout."""

    def __init__(self, frame: RescaledPotential):
        super().__init__()
        net = copy.deepcopy(frame.net).to(memory_format=torch.contiguous_format)
        self.f = torch.nn.Sequential(*net.features, torch.nn.Flatten(), net.head)
        self.scale = frame.scale

    def forward(self, x):
        return self.f(x).squeeze(1) * self.scale


def authors_loop(energy, x, n_steps, eps, generator):
    """The reference: eager autograd of f(x).sum() on a batch, parameters requiring grad."""
    x = x.clone().requires_grad_(True)
    for _ in range(n_steps):
        g = torch.autograd.grad(energy(x).sum(), [x])[0]
        x.data = x.data - eps ** 2 / 2 * g + eps * torch.randn(x.shape, generator=generator)
    return x.detach()


def forward_backward(energy, x, n_steps):
    """n_steps eager forward + backward passes of the network (gradients into the weights)."""
    for _ in range(n_steps):
        energy.zero_grad(set_to_none=True)
        energy(x).sum().backward()


def best_ms(fns: dict, steps: int, repeats: int) -> dict:
    """Best time per step (ms) of each function, runs interleaved so noise hits all alike."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], (time.perf_counter() - t0) / steps * 1e3)
    return best


def bench(name, energy, shape, steps, repeats, eps, reference=None):
    """Time ebmbook's sampler on ``energy`` against the authors' loop on ``reference`` (the
    same function built the authors' way; default: ``energy`` itself)."""
    reference = energy if reference is None else reference
    x = torch.rand(shape) * 2 - 1
    g = torch.Generator()
    for p in energy.parameters():
        p.requires_grad_(True)
    # the same chains and noise: identical results up to float rounding
    a = authors_loop(reference, x, 3, eps, g.manual_seed(0))
    b = langevin(energy, x, n_steps=3, eps=eps, generator=g.manual_seed(0)).x
    err = float((a - b).abs().max())
    assert all(p.requires_grad for p in energy.parameters()), "sampling left parameters frozen"
    t = best_ms({
        "authors": lambda: authors_loop(reference, x, steps, eps, g.manual_seed(0)),
        "ebmbook": lambda: langevin(energy, x, n_steps=steps, eps=eps, generator=g.manual_seed(0)),
        "fwd+bwd": lambda: forward_backward(energy, x, steps),
    }, steps, repeats)
    ratio = t["authors"] / t["ebmbook"]
    print(f"{name:<30s} authors {t['authors']:8.2f} ms/step   ebmbook {t['ebmbook']:8.2f} ms/step"
          f"   speed-up {ratio:5.2f}x   step = {t['ebmbook'] / t['fwd+bwd']:4.2f} x fwd+bwd"
          f"   (max |diff| {err:.1e})")
    return ratio


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {a.threads} thread(s), best of {a.repeats}")
    frame = RescaledPotential(DeepFRAME(channels=1, image_size=28, width=32, n_down=3), eps=0.01)
    r1 = bench("DeepFRAME 28x28 w32, batch 100", frame, (100, 1, 28, 28), a.steps, a.repeats, 0.01,
               reference=AuthorsNet(frame))
    mlp = RescaledPotential(MLPPotential(), eps=0.125)
    r2 = bench("toy MLP 2D, batch 10000", mlp, (10000, 2), 5 * a.steps, a.repeats, 0.125)
    print(f"speed-up over the authors' loop: DeepFRAME {r1:.2f}x, MLP {r2:.2f}x "
          f"(target >= 2x on both)")


if __name__ == "__main__":
    main()
