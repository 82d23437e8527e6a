"""The ``ebmbook`` command: ``ebmbook run | train | book``.

    ebmbook run toy_densities --size ci       run one experiment, print its numbers
    ebmbook train fmnist_convergent --size cpu
                                              train an image model into artifacts/<name>/
    ebmbook book --size ci --jobs 2           execute every notebook and build the HTML book
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _cmd_run(args) -> int:
    from .experiments import get_experiment
    mod = get_experiment(args.experiment)
    cfg = mod.Config.for_size(args.size, seed=args.seed, device=args.device)
    t0 = time.perf_counter()
    result = mod.run(cfg)
    metrics = result.metrics() if hasattr(result, "metrics") else {}
    print(json.dumps({"experiment": args.experiment, "size": args.size,
                      "elapsed_s": round(time.perf_counter() - t0, 1), "metrics": metrics},
                     indent=2, default=float))
    return 0


def _cmd_train(args) -> int:
    import shlex

    import torch

    from .artifacts import artifacts_root, rebuild_command, train_artifact
    from .experiments.image_learning import MODELS, model_spec
    if args.threads:
        torch.set_num_threads(args.threads)
    names = sorted(MODELS) if args.model == "all" else [args.model]
    for name in names:
        spec = model_spec(name, args.size, args.steps)
        out = args.out or str(artifacts_root() / name)
        if args.out and len(names) > 1:
            out = f"{args.out}/{name}"
        command = rebuild_command(name, args.size, args.steps)
        if args.device != "cpu":
            command += f" --device {shlex.quote(args.device)}"
        t0 = time.perf_counter()
        ckpt = args.checkpoint_dir
        if ckpt and len(names) > 1:
            ckpt = f"{ckpt}/{name}"
        art = train_artifact(name, spec, out, device=args.device, resume=args.resume,
                             progress=not args.quiet, stop_after=args.stop_after, command=command,
                             checkpoint_dir=ckpt)
        if art is None:
            print(f"{name}: stopped after {args.stop_after} steps (checkpointed); run again to resume")
            continue
        print(json.dumps({"model": name, "size": args.size, "out": out,
                          "elapsed_s": round(time.perf_counter() - t0, 1),
                          "metrics": art.metrics}, indent=2, default=float))
    return 0


def _cmd_book(args) -> int:
    from .book import BookBuildError, build
    try:
        build(size=args.size, jobs=args.jobs, seed=args.seed, device=args.device,
              only=args.only, html=not args.no_html, execute=not args.html_only)
    except BookBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ebmbook", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--size", default="ci", choices=("ci", "paper"))
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--device", default="cpu")

    r = sub.add_parser("run", help="run one experiment and print its numbers")
    r.add_argument("experiment")
    common(r)
    r.set_defaults(func=_cmd_run)

    t = sub.add_parser("train", help="train an image model artifact (artifacts/<name>/)")
    t.add_argument("model", help="fmnist_convergent | fmnist_nonconvergent | all")
    t.add_argument("--size", default="cpu", choices=("ci", "cpu", "paper"),
                   help="ci: seconds; cpu: the committed artifacts; paper: thesis scale (GPU)")
    t.add_argument("--device", default="cpu")
    t.add_argument("--steps", type=int, default=None, help="override the number of steps")
    t.add_argument("--resume", dest="resume", action="store_true", default=True,
                   help="continue from the last checkpoint of the same spec (default)")
    t.add_argument("--no-resume", dest="resume", action="store_false")
    t.add_argument("--out", default=None, help="output folder (default artifacts/<name>)")
    t.add_argument("--checkpoint-dir", default=None,
                   help="checkpoint folder (default _build/checkpoints/<name>-<spec hash>)")
    t.add_argument("--stop-after", type=int, default=None, help="stop (checkpointed) after N steps")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    b = sub.add_parser("book", help="execute the notebooks and build the HTML book")
    common(b)
    b.add_argument("--jobs", type=int, default=2, help="notebooks executed in parallel")
    b.add_argument("--only", nargs="+", help="execute only these notebooks (by stem)")
    b.add_argument("--no-html", action="store_true", help="execute notebooks, skip HTML")
    b.add_argument("--html-only", action="store_true",
                   help="rebuild the HTML from the notebooks executed by an earlier run")
    b.set_defaults(func=_cmd_book)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
