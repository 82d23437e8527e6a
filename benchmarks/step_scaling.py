"""Where a DeepFRAME Langevin step's time goes on this CPU: its cost against the batch, and the
memory layout of its convolutions, in one run.

    .venv/bin/python benchmarks/step_scaling.py [--threads 1] [--repeats 3] [--steps 20]

For the two networks of the book (28x28 width 32, the thesis-regime models; 16x16 width 16, the
earlier ones), with random weights (the arithmetic does not depend on them):

* **Cost against the batch.** Milliseconds per fp32 step of the package's gradient program
  (:class:`ebmbook.energies.potentials.FrameGradient`, what the sampler runs for these nets) at
  8, 16, 32, 64 and 100 chains, and the cost per chain relative to 8 chains. A cost per chain
  that stays flat means the step is bound by arithmetic: running two 8-chain runs as one
  16-chain program would save nothing. A cost per chain that falls means per-op overhead
  dominates, and batching runs together would pay.
* **Memory layout.** The same forward and input-gradient ops on channels-last tensors (the
  package's layout) and on plain NCHW ones, as the ratio NCHW / channels-last (above 1:
  channels-last is faster).

Timing is noisy on a shared machine: each setting keeps the best of ``--repeats`` and the two
layouts are interleaved. Only ratios measured in the same run mean anything. Stop 45's numbers
(an AMD EPYC Zen 3 without AVX-512) are in TRAINING_NOTES.md.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from ebmbook.energies.potentials import DeepFRAME, FrameGradient, RescaledPotential

NETS = {"28x28 w32": (28, 32), "16x16 w16": (16, 16)}
BATCHES = (8, 16, 32, 64, 100)


def _best(fn, steps: int, repeats: int) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` runs of ``steps`` calls (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            fn()
        best = min(best, (time.perf_counter() - t) / steps)
    return best


def step_cost(side: int, width: int, n: int, steps: int, repeats: int) -> float:
    """Seconds per fp32 gradient evaluation of the package's program at ``n`` chains."""
    torch.manual_seed(0)
    energy = RescaledPotential(DeepFRAME(1, side, width), eps=0.01)
    grad = FrameGradient(energy, n, precision="fp32")
    x = torch.rand(n, 1, side, side) * 2 - 1
    return _best(lambda: grad(x), steps, repeats)


def _layout_program(net: DeepFRAME, x: torch.Tensor, channels_last: bool):
    """Forward convolutions and leaky ReLUs, then the input gradient's backward ops, in one
    memory layout (the ops the gradient program runs, without its precomputed head)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    slope = float(net.features[1].negative_slope)
    ws = [(c.weight.detach().contiguous(memory_format=fmt), c.bias.detach(), c.stride, c.padding)
          for c in convs]
    a0 = x.contiguous(memory_format=fmt)
    aten = torch.ops.aten

    def run():
        a, inputs, pre = a0, [], []
        for w, b, s, p in ws:
            inputs.append(a)
            z = torch.nn.functional.conv2d(a, w, b, s, p)
            pre.append(z)
            a = torch.nn.functional.leaky_relu(z, slope)
        g = torch.ones_like(pre[-1])
        for i in range(len(ws) - 1, -1, -1):
            g = aten.leaky_relu_backward(g, pre[i], slope, False)
            w, _, s, p = ws[i]
            g = aten.convolution_backward(g, inputs[i], w, [w.shape[0]], s, p, (1, 1), False,
                                          (0, 0), 1, (True, False, False))[0]
        return g
    return run


def layout_ratio(side: int, width: int, n: int, steps: int, repeats: int) -> float:
    """NCHW seconds over channels-last seconds for the same ops (interleaved)."""
    torch.manual_seed(0)
    net = DeepFRAME(1, side, width)
    x = torch.rand(n, 1, side, side) * 2 - 1
    last, plain = _layout_program(net, x, True), _layout_program(net, x, False)
    t_last, t_plain = float("inf"), float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            t_last = min(t_last, _best(last, steps, 1))
            t_plain = min(t_plain, _best(plain, steps, 1))
    return t_plain / t_last


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); fp32")
    for name, (side, width) in NETS.items():
        costs = {n: step_cost(side, width, n, args.steps, args.repeats) for n in BATCHES}
        per8 = costs[8] / 8
        print(f"\n{name}: ms per step (cost per chain relative to 8 chains)")
        for n, t in costs.items():
            print(f"  {n:4d} chains  {t * 1e3:8.2f} ms   {t / n / per8:5.2f}")
        print(f"{name}: NCHW / channels-last, same ops")
        for n in (8, 100):
            r = layout_ratio(side, width, n, args.steps, args.repeats)
            print(f"  {n:4d} chains  {r:5.2f}")


if __name__ == "__main__":
    main()
