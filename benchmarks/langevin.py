"""Langevin throughput: ebmbook's sampler against the authors' style of loop, in one run.

    .venv/bin/python benchmarks/langevin.py [--threads 1] [--steps 10] [--repeats 5] [--device cpu]
                                          [--only stacked]

Targets (issue 21), each the ratio of the authors' fp32 NCHW loop to ebmbook's sampler in the
precision the book uses for that network, measured side by side in this run:

* DeepFRAME 28x28, width 32, batch 100, bf16:  >= 3x
* DeepFRAME 16x16, width 16, batch 100, bf16:  >= 2x (the committed image models' size)
* toy MLP, batch 10 000, bf16:                 >= 1.5x
* toy MLP, batch 100, fp32 (hand-written gradient; bf16 does not pay at this size): reported
* training throughput (updates per second) of the book's main convergent recipe
  (``fmnist_convergent28``, 28x28, width 32: the model of the learning and map pages), bf16
  against fp32 (the code path before the precision setting existed): >= 2x; the same for the
  earlier 16x16 recipe ``fmnist_convergent``: reported
* toy MLPs at batch 100, K networks stacked into one program (``StackedMLP``, what
  ``train_stacked`` runs for the toy chapters) against K separate chains: reported
* the toy chapter's training (``toy_densities``, ci): updates per second of its four-model stack
  with each group's chains through ``langevin()`` against all groups' chains as one program
  (``langevin_together``), and the estimated training time of the ci schedule: reported

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
from ebmbook.energies.precision import effective_precision, native_bf16
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


def bench(name, energy, shape, steps, repeats, eps, reference=None, precision="fp32",
          target=None, device="cpu"):
    """Time ebmbook's sampler on ``energy`` (in ``precision``) against the authors' fp32 loop on
    ``reference`` (the same function built the authors' way; default: ``energy`` itself).
    Returns the speed-up and prints it beside ``target``."""
    reference = energy if reference is None else reference
    x = (torch.rand(shape) * 2 - 1).to(device)
    g = torch.Generator(device=device)
    for p in energy.parameters():
        p.requires_grad_(True)
    # the same chains and noise: identical results up to float rounding in fp32; in bf16 the
    # relative difference of the states after 3 steps shows the rounding
    a = authors_loop(reference, x, 3, eps, g.manual_seed(0))
    b = langevin(energy, x, n_steps=3, eps=eps, generator=g.manual_seed(0), precision=precision).x
    err = float((a - b).abs().max())
    assert all(p.requires_grad for p in energy.parameters()), "sampling left parameters frozen"
    t = best_ms({
        "authors": lambda: authors_loop(reference, x, steps, eps, g.manual_seed(0)),
        "ebmbook": lambda: langevin(energy, x, n_steps=steps, eps=eps, generator=g.manual_seed(0),
                                    precision=precision),
        "fwd+bwd": lambda: forward_backward(energy, x, steps),
    }, steps, repeats)
    ratio = t["authors"] / t["ebmbook"]
    verdict = "" if target is None else (f"  target >= {target}x: "
                                         + ("met" if ratio >= target else "NOT MET"))
    ran = effective_precision(precision, x.device)       # bf16 only where native
    label = precision if ran == precision else f"{precision}->{ran}"
    print(f"{name:<36s} authors {t['authors']:8.3f} ms/step   ebmbook [{label}] "
          f"{t['ebmbook']:8.3f} ms/step   speed-up {ratio:5.2f}x   step = "
          f"{t['ebmbook'] / t['fwd+bwd']:4.2f} x fp32 fwd+bwd   (max |diff| {err:.1e}){verdict}",
          flush=True)
    return ratio


def training_throughput(repeats: int, updates: int, device: str = "cpu",
                        recipe: str = "fmnist_convergent28", target: float | None = 2.0) -> float:
    """Updates per second of a committed recipe (default ``fmnist_convergent28`` at ``cpu``
    size; stand-in data of its image shape), fp32 against bf16, interleaved; returns the bf16 /
    fp32 ratio of throughputs and prints it beside ``target`` (None: reported only)."""
    import dataclasses

    from ebmbook.learning.trainer import train
    from ebmbook.registry import model_spec
    spec = model_spec(recipe, "cpu")
    data = torch.rand(2000, *spec.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    best = {}
    for _ in range(repeats):
        for precision in ("fp32", "bf16"):
            cfg = dataclasses.replace(spec.train, n_steps=updates, precision=precision,
                                      bank_size=500)
            t0 = time.perf_counter()
            train(spec.build_net(), data.to(device), cfg, progress=False, device=device)
            rate = updates / (time.perf_counter() - t0)
            best[precision] = max(best.get(precision, 0.0), rate)
    ratio = best["bf16"] / best["fp32"]
    print(f"{'training, ' + recipe + ' recipe':<36s} fp32 {best['fp32']:6.2f} updates/s   "
          f"bf16 {best['bf16']:6.2f} updates/s   speed-up {ratio:5.2f}x"
          + ("" if target is None else f"  target >= {target}x: "
             + ("met" if ratio >= target else "NOT MET")), flush=True)
    return ratio


def stacked_mlp(steps: int, repeats: int, device: str = "cpu") -> dict:
    """Per-network ms per Langevin step of K toy MLPs at batch 100: K separate chains against
    one stacked chain of the K networks (``StackedMLP``); returns ``{K: speed-up}``."""
    from ebmbook.energies.potentials import StackedMLP
    out = {}
    for k in (2, 3, 4):
        nets = [MLPPotential().to(device) for _ in range(k)]
        single = [RescaledPotential(n, eps=0.125) for n in nets]
        stack = RescaledPotential(StackedMLP.from_nets(nets), eps=0.125)
        x = torch.randn(k * 100, 2, device=device)
        blocks = x.chunk(k)
        fns = {"separate": lambda: [langevin(e, b, n_steps=steps, eps=0.125)
                                    for e, b in zip(single, blocks)],
               "stacked": lambda: langevin(stack, x, n_steps=steps, eps=0.125, groups=k)}
        t = best_ms(fns, steps * k, repeats)
        out[k] = t["separate"] / t["stacked"]
        print(f"{'toy MLP 2D, batch 100, ' + str(k) + ' stacked':<36s} separate "
              f"{t['separate']:8.3f} ms/step   stacked {t['stacked']:8.3f} ms/step   "
              f"speed-up {out[k]:5.2f}x", flush=True)
    return out


def toy_training(updates: int, repeats: int, device: str = "cpu") -> float:
    """Updates per second of the toy chapter's stack (``toy_densities`` at ``ci`` size: two
    convergent and two non-convergent MLPs, batch 100, L = 100) while both groups are active and
    after the non-convergent group has finished: each group's chains through ``langevin()`` (the
    code path of the page before its chains were merged) against the groups' chains as one
    program (``ebmbook.sampling.langevin.langevin_together``, ``train_stacked``'s default).
    Returns the speed-up over the ci schedule (2000 updates with both groups, 6000 with the
    convergent group alone)."""
    from ebmbook.data.toy2d import toy_density
    from ebmbook.experiments.toy_densities import MODELS, Config
    from ebmbook.learning.stacked import StackedMLLearner
    cfg = Config.for_size("ci", device=device)
    configs = [cfg.train_config(m) for m in MODELS for _ in cfg.densities]
    datas = [toy_density(d) for _ in MODELS for d in cfg.densities]
    phases = {"both groups": 0, "convergent alone": cfg.nonconv_steps}
    best = {}
    for _ in range(repeats):
        for phase, t0 in phases.items():
            for merged in (False, True):
                learner = StackedMLLearner([MLPPotential() for _ in configs], datas, configs,
                                           torch.Generator(device=device).manual_seed(0), device)
                learner.chains_together = merged
                gen = learner.groups[0].generator
                start = time.perf_counter()
                for t in range(t0, t0 + updates):
                    learner.step(t, gen)
                rate = updates / (time.perf_counter() - start)
                best[(phase, merged)] = max(best.get((phase, merged), 0.0), rate)
    n_both, n_conv = cfg.nonconv_steps, cfg.conv_steps - cfg.nonconv_steps
    for phase in phases:
        print(f"{'toy chapter training, ' + phase:<36s} langevin() per group "
              f"{best[(phase, False)]:6.2f} updates/s   merged {best[(phase, True)]:6.2f} "
              f"updates/s   speed-up {best[(phase, True)] / best[(phase, False)]:5.2f}x",
              flush=True)
    before = n_both / best[("both groups", False)] + n_conv / best[("convergent alone", False)]
    after = n_both / best[("both groups", True)] + n_conv / best[("convergent alone", True)]
    print(f"{'toy chapter ci schedule (est.)':<36s} langevin() per group {before:6.1f} s   "
          f"merged {after:6.1f} s   ratio {after / before:5.2f}", flush=True)
    return before / after


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--updates", type=int, default=20, help="updates per training measurement")
    p.add_argument("--only", choices=("all", "stacked", "train"), default="all",
                   help="'stacked': only the stacked toy-MLP measurements (no targets); "
                        "'train': only the training throughput of each --recipe")
    p.add_argument("--recipe", nargs="+", default=["fmnist_convergent28", "fmnist_convergent"],
                   help="with --only train: registered models whose recipes to time")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = a.device
    bf16 = "native" if native_bf16(dev) else "not native: runs as fp32 unless EBMBOOK_BF16=always"
    print(f"torch {torch.__version__}, {a.threads} thread(s), best of {a.repeats}, {dev}; "
          f"bf16 {bf16}")
    if a.only == "stacked":
        stacked_mlp(20 * a.steps, a.repeats, dev)
        toy_training(a.updates, max(1, a.repeats // 2), dev)
        return
    if a.only == "train":
        for name in a.recipe:
            training_throughput(max(1, a.repeats // 2), a.updates, dev, recipe=name,
                                target=2.0 if name == "fmnist_convergent28" else None)
        return
    ratios = {}
    for side, width, n_down, target in ((28, 32, 3, 3.0), (16, 16, 2, 2.0)):
        frame = RescaledPotential(DeepFRAME(1, side, width, n_down), eps=0.01).to(dev)
        for precision in ("fp32", "bf16"):
            ratios[(side, precision)] = bench(
                f"DeepFRAME {side}x{side} w{width}, batch 100", frame, (100, 1, side, side),
                a.steps, a.repeats, 0.01, reference=AuthorsNet(frame), precision=precision,
                target=target if precision == "bf16" else None, device=dev)
    mlp = RescaledPotential(MLPPotential(), eps=0.125).to(dev)
    for precision in ("fp32", "bf16"):
        ratios[("mlp", precision)] = bench(
            "toy MLP 2D, batch 10000", mlp, (10000, 2), 5 * a.steps, a.repeats, 0.125,
            precision=precision, target=1.5 if precision == "bf16" else None, device=dev)
    ratios[("mlp100", "fp32")] = bench("toy MLP 2D, batch 100", mlp, (100, 2), 20 * a.steps,
                                       a.repeats, 0.125, device=dev)
    stacked_mlp(20 * a.steps, a.repeats, dev)
    toy_training(a.updates, max(1, a.repeats // 2), dev)
    ratios["train"] = training_throughput(max(1, a.repeats // 2), a.updates, dev,
                                          recipe="fmnist_convergent28")
    training_throughput(max(1, a.repeats // 2), a.updates, dev, recipe="fmnist_convergent",
                        target=None)
    met = [ratios[(28, "bf16")] >= 3, ratios[(16, "bf16")] >= 2, ratios[("mlp", "bf16")] >= 1.5,
           ratios["train"] >= 2]
    print(f"targets met: {sum(met)} of {len(met)}")


if __name__ == "__main__":
    main()
