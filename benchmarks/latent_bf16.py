"""The alpha rule of a latent map in fp32 against bf16 AD, on the same seeds (issue 24).

    .venv/bin/python benchmarks/latent_bf16.py [--size mnist28] [--threads 1]

A map made with ``ad_precision = "bf16"`` keeps its alpha sweep (basins and leakage at each
alpha of the grid) as the ``tune_alpha`` stage of its stages file. This script reruns that sweep
in fp32 from the same T and seeds and prints both, with the wall time of the fp32 sweep: a map
keeps bf16 only if the counts, the leakage and so the chosen alpha agree (the check recorded in
``TRAINING_NOTES.md`` for Fig 1.1's image map, made here for a Co-Op latent energy).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from ebmbook.experiments import book_maps
from ebmbook.experiments import digit_maps as dm
from ebmbook.experiments._common import map_checkpoint
from ebmbook.landscape.mapping import GaussianProposals, tune_alpha
from ebmbook.learning.fit import read_checkpoint
from ebmbook.parallel import child, seed_sequence


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="mnist28")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = book_maps(dm.Config.for_size(args.size))
    s = cfg.mnist
    if s.ad_precision == "fp32":
        raise SystemExit(f"the {args.size} MNIST map runs AD in fp32: nothing to compare")
    stages = map_checkpoint(cfg, "mnist").with_suffix(".stages.pt")
    if not stages.exists():
        raise SystemExit(f"no stages file {stages}: run `ebmbook run digit_maps --size "
                         f"{args.size} --map-checkpoint {cfg.map_checkpoint}` first")
    stored = read_checkpoint(stages)
    tT, _ = stored["tune_T_and_radii"]["value"]
    bf16 = stored["tune_alpha"]["value"]
    art = dm.load_pair(cfg.mnist_model, cfg.model_size, cfg.device)
    E = art.latent_energy(prior=True, unit="data")
    # map_latent seeds the MNIST map with child(root, 1) and tune_and_map its alpha sweep
    # with child(that, 3)
    seed = child(seed_sequence(child(seed_sequence(cfg.seed), 1)), 3)
    fp32 = dataclasses.replace(s, ad_precision="fp32")
    t0 = time.perf_counter()
    ref = tune_alpha(E, GaussianProposals(E.latent_dim), temperature=tT.temperature,
                     seed=seed, progress=True, **fp32.alpha_options())
    sec = time.perf_counter() - t0
    print(f"T = {tT.temperature:g}; alphas {s.tune_alphas}")
    print(f"basins   bf16 {np.asarray(bf16.counts).tolist()}  fp32 {np.asarray(ref.counts).tolist()}")
    print(f"leakage  bf16 {np.round(np.asarray(bf16.leakage, float), 3).tolist()}  "
          f"fp32 {np.round(np.asarray(ref.leakage, float), 3).tolist()}")
    print(f"alpha    bf16 {bf16.alpha:g}  fp32 {ref.alpha:g}  (fp32 sweep {sec:.0f} s)")
    return 0 if ref.alpha == bf16.alpha else 1


if __name__ == "__main__":
    raise SystemExit(main())
