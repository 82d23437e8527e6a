"""Train a registered Co-Op recipe, or a variant of it, and watch what its generator proposes
and where its latent modes lie while it trains (issue 24: the four-scale generator's collapse and
the far-out latent modes, ``TRAINING_NOTES.md``).

    .venv/bin/python benchmarks/coop_watch.py coop_scales --set wide_share=0.2 --every 500
    .venv/bin/python benchmarks/coop_watch.py coop_scales_32 --set descriptor_lr_decay=1.0
    .venv/bin/python benchmarks/coop_watch.py coop_scales --spec generator_upsample=resize

Every ``--every`` steps it prints the judge's shares of 500 generator samples (scales for the
texture pairs, digits for MNIST, faces for LFW) and the mean |z| of 100 latent descents (the
maps' descent on (U(g(z)) + ||z||^2/2) / s, s the sd of U over test images) against sqrt(d).
``--set field=value`` changes a field of the recipe's ``CoopConfig`` (the value is read with
the field's type); ``--spec field=value`` likewise changes a field of the ``CoopModelSpec``
itself (the nets and the data, e.g. ``generator_upsample``). Checkpoints go where ``ebmbook train`` keeps them
(``_build/checkpoints/<name>-<hash>``), so a rerun resumes, and a finished variant is saved in
``_build/artifacts`` where ``load_or_train`` (and ``latent_radius.py --wide-share``) find it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from types import SimpleNamespace

import numpy as np
import torch

from ebmbook.artifacts import _checkpoint_dir, data_energy_stats, load_or_train
from ebmbook.energies.generator import LatentEnergy
from ebmbook.experiments import digit_maps as dm
from ebmbook.experiments import face_map as fm
from ebmbook.experiments import texture_maps as tm
from ebmbook.experiments._common import generator_shares
from ebmbook.landscape.mapping import MapSettings
from ebmbook.learning.coop import CoopConfig, train_coop
from ebmbook.models import CoopModelSpec
from ebmbook.registry import model_spec
from ebmbook.sampling.descent import local_modes


def parse_sets(pairs: list[str], cls=CoopConfig, flag: str = "--set") -> dict:
    """``["wide_share=0.2", ...]`` as field values of ``cls`` (a config dataclass), each read
    with its field's own type."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "train"}
    out = {}
    for item in pairs:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"{flag} {item}: {cls.__name__} has no field {key!r} "
                             f"(fields: {', '.join(fields)})")
        kind = type(fields[key].default)
        if value.lower() == "none":
            out[key] = None
        elif kind is bool:
            out[key] = value.lower() in ("1", "true", "yes")
        else:                            # a field that defaults to None holds a float
            out[key] = float(value) if kind is type(None) else kind(value)
    return out


def judge_for(spec):
    """The judge of a pair's data and the labels it reads."""
    probe = SimpleNamespace(spec=spec)
    if spec.dataset.endswith("patches"):
        return tm.fit_scale_judge(probe), list(range(1, 5)), "scales 1-4"
    if spec.dataset == "lfw_subset":
        return fm.fit_face_judge(probe), [1], "faces"
    return dm.fit_digit_judge(probe), list(range(10)), "digits 0-9"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("--size", default="cpu")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--spec", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--every", type=int, default=500)
    args = ap.parse_args(argv)
    spec = model_spec(args.name, args.size)
    spec = dataclasses.replace(spec, **parse_sets(args.spec, CoopModelSpec, "--spec"),
                               train=dataclasses.replace(spec.train, **parse_sets(args.set)))
    judge, labels, what = judge_for(spec)
    settings = MapSettings()
    z0 = torch.randn(100, spec.latent_dim, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()

    def watch(t: int, learner) -> None:
        if (t + 1) % args.every:
            return
        net_state = learner.generator.training
        learner.generator.eval()
        shares = generator_shares(SimpleNamespace(spec=spec, generator=learner.generator),
                                  judge, labels, n=500)
        sd = data_energy_stats(learner.energy, spec)["data_energy_sd"]
        E = LatentEnergy(learner.energy, learner.generator, prior=True, unit=sd)
        modes, _ = local_modes(E, z0.clone(), rate=settings.descent_rate,
                               n_steps=settings.descent_steps)
        learner.generator.train(net_state)
        print(f"step {t + 1}: {what} {np.round(shares, 3).tolist()}, mean |z| of modes "
              f"{modes.norm(dim=1).mean().item():.2f} (sqrt d = {spec.latent_dim ** 0.5:.2f}), "
              f"s = {sd:.3g}, {time.perf_counter() - start:.0f} s", flush=True)

    descriptor, generator = spec.build_nets()
    train_coop(descriptor, generator, spec.load_data("train"), spec.train,
               checkpoint_dir=_checkpoint_dir(args.name, spec, None), progress=False,
               callback=watch)
    art = load_or_train(args.name, spec, progress=False,
                        command=" ".join(["benchmarks/coop_watch.py",
                                          *(sys.argv[1:] if argv is None else argv)]))
    print(f"saved {art.directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
