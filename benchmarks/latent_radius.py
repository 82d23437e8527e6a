"""Where the local modes of a Co-Op pair's latent energy lie, and what a judge reads there
(issue 24; the finding in ``TRAINING_NOTES.md``).

    .venv/bin/python benchmarks/latent_radius.py [coop_mnist_28 coop_mnist ...] [--wall 10]
    .venv/bin/python benchmarks/latent_radius.py coop_mnist --wide-share 0.2 --wide-sd 3

For each pair: 300 codes z ~ N(0, I) descend the mapped energy (U(g(z)) + ||z||^2/2) / s with
the maps' descent (``MapSettings``' rate and steps); printed are the mean |z| of the modes
against the typical radius sqrt(d), and the judge's readings of the samples and of the modes.
``--wall W`` adds a soft wall W (|z| - r)_+^2 at the 99.9 % radius r of N(0, I), to see whether
the modes stop at it (they do when the energy falls outward everywhere). ``--wide-share S
--wide-sd W [--wide-sd-low L]`` reads instead the pair trained with wide negatives
(``CoopConfig.wide_share``, each code's sd from [L, W] when L is given; ``--train-seed K``
trains it with another seed, to see how much the outcome moves from run to run):
the registered recipe with that change, trained into ``_build/artifacts`` on first use (about
as long as the committed run) and cached there.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
import torch
from scipy.stats import chi2

from coop_watch import judge_for          # the judge of a pair's data set (this folder)
from ebmbook.artifacts import load_or_train
from ebmbook.experiments import digit_maps as dm
from ebmbook.landscape.mapping import MapSettings
from ebmbook.registry import model_spec
from ebmbook.sampling.descent import local_modes


class Wall(torch.nn.Module):
    """``energy(z) + weight * relu(|z| - radius)^2``."""

    def __init__(self, energy, radius: float, weight: float):
        super().__init__()
        self.energy, self.radius, self.weight = energy, radius, weight

    def forward(self, z):
        return self.energy(z) + self.weight * torch.relu(z.norm(dim=1) - self.radius).pow(2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="*", default=["coop_mnist_28", "coop_mnist", "coop_faces"])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--wall", type=float, default=0.0)
    ap.add_argument("--wide-share", type=float, default=0.0)
    ap.add_argument("--wide-sd", type=float, default=3.0)
    ap.add_argument("--wide-sd-low", type=float, default=None)
    ap.add_argument("--train-seed", type=int, default=None)
    args = ap.parse_args(argv)
    s = MapSettings()
    for name in args.pairs:
        if args.wide_share > 0:
            spec = model_spec(name, "cpu")
            spec = dataclasses.replace(spec, train=dataclasses.replace(
                spec.train, wide_share=args.wide_share, wide_sd=args.wide_sd,
                wide_sd_low=args.wide_sd_low,
                **({} if args.train_seed is None else {"seed": args.train_seed})))
            given = sys.argv[1:] if argv is None else argv
            art = load_or_train(name, spec,
                                command=" ".join(["benchmarks/latent_radius.py", *given]))
        else:
            art = dm.load_pair(name, "cpu")
        # by data set, not name: coop_faces_wide is read by the face judge too
        judge = judge_for(art.spec)[0]
        E = art.latent_energy(prior=True, unit="data")
        d = E.latent_dim
        z0 = torch.randn(args.n, d, generator=torch.Generator().manual_seed(0))
        energies = [("modes", E)]
        if args.wall > 0:
            r = float(np.sqrt(chi2.ppf(0.999, d)))
            energies.append((f"modes, wall at |z| = {r:.2f}", Wall(E, r, args.wall)))
        with torch.no_grad():
            reads = np.asarray(judge.predict(art.generator(z0)))
        print(f"{name}: d = {d}, typical |z| = {d ** 0.5:.2f}, data-energy sd s = "
              f"{art.metrics.get('data_energy_sd', float('nan')):.3g}")
        print(f"  samples read as {np.bincount(reads, minlength=10).tolist()}")
        for label, en in energies:
            m, _ = local_modes(en, z0.clone(), rate=s.descent_rate, n_steps=s.descent_steps)
            with torch.no_grad():
                reads = np.asarray(judge.predict(art.generator(m)))
            print(f"  {label}: mean |z| {m.norm(dim=1).mean().item():.2f}, read as "
                  f"{np.bincount(reads, minlength=10).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
