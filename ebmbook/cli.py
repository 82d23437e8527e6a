"""The ``ebmbook`` command: ``ebmbook run | book``.

    ebmbook run toy_densities --size ci       run one experiment, print its numbers
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


def _cmd_book(args) -> int:
    from .book import BookBuildError, build
    try:
        build(size=args.size, jobs=args.jobs, seed=args.seed, device=args.device,
              only=args.only, html=not args.no_html)
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

    b = sub.add_parser("book", help="execute the notebooks and build the HTML book")
    common(b)
    b.add_argument("--jobs", type=int, default=2, help="notebooks executed in parallel")
    b.add_argument("--only", nargs="+", help="execute only these notebooks (by stem)")
    b.add_argument("--no-html", action="store_true", help="execute notebooks, skip HTML")
    b.set_defaults(func=_cmd_book)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
